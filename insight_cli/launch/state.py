"""What state each run of a sweep is in: the one place that reads status.json, the ledger and the scheduler together.

:func:`run_state` sorts a run into done / running / failed / new (what ``insight sweep`` and ``insight train``
decide on); :func:`display_state` words it for ``insight status`` with the scheduler's view folded in (pending,
requeued, failed (CANCELLED), ...). A run is *done* when its status.json says so; *running* while its latest job is
queued or running (squeue, or a live local process); *failed* when its job is over without finishing (an error, a
cancel, a preemption that was not requeued); *new* otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from insight_cli.launch.scheduler import NO_RECORD, UNKNOWN, is_active, job_states
from insight_cli.runs import Ledger, RunDir, RunRecord, read_jsonl, sweep_names
from insight_cli.safe_read import DamagedFile, is_fraction, load_yaml, warn

STATES = ("done", "running", "failed", "new")


# ---------------------------------------------------------------------------------------------- deciding
def classify(run_ids: Sequence[str], sweep_dir: Path) -> list[tuple[str, dict | None]]:
    """(done / running / failed / new, its latest job) for each run, from status.json, the ledger and the scheduler
    (one scheduler query for all of them)."""
    records = Ledger(sweep_dir).runs()
    latest = [records[rid].job if rid in records else None for rid in run_ids]
    states = job_states([job for job in latest if job]) if any(latest) else {}
    out = []
    for rid, job in zip(run_ids, latest, strict=True):
        job_state = states.get(str(job["job_id"])) if job and job.get("job_id") else None
        out.append((run_state(RunDir(sweep_dir / rid).read_status(), job, job_state), job))
    return out


def run_state(status: dict, job: dict | None, job_state: str | None) -> str:
    """One run's class: done, running, failed or new."""
    if status.get("state") == "done":
        return "done"
    if job is not None:
        if is_active(job_state):
            return "running"
        if job_state in (None, UNKNOWN):  # nobody can tell: trust the run's own status, never resubmit blindly
            return "failed" if status.get("state") == "failed" else "running"
        return "failed"
    if status.get("state") in ("failed", "preempted"):
        return "failed"
    return "running" if status.get("state") == "running" else "new"


# ---------------------------------------------------------------------------------------------- insight status
@dataclass
class StatusRow:
    run_id: str
    values: dict[str, Any]
    state: str
    step: int | None
    steps: int | None
    pass1: float | None
    job_id: str | None
    attempts: int


def status_rows(sweep_dir: Path) -> list[StatusRow]:
    """One row per run of the sweep (ledger order, then run folders the ledger does not know), reconciled with
    the scheduler: a run whose job is gone without finishing shows as failed, with Slurm's final state."""
    records = Ledger(sweep_dir).runs()
    for path in sorted(p for p in sweep_dir.iterdir() if _is_run_dir(p)) if sweep_dir.is_dir() else []:
        records.setdefault(path.name, RunRecord(path.name))
    jobs = [r.job for r in records.values() if r.job]
    states = job_states(jobs) if jobs else {}
    rows = []
    for rid, record in records.items():
        run_dir = RunDir(sweep_dir / rid)
        status = run_dir.read_status()
        job = record.job
        job_state = states.get(str(job["job_id"])) if job else None
        evals = list(read_jsonl(run_dir.file("eval.jsonl")))
        meta = run_dir.read_meta()
        pass1 = evals[-1].get("pass@1") if evals else None
        if pass1 is not None and not is_fraction(pass1):
            warn(run_dir.file("eval.jsonl"), f"ends with pass@1 {pass1!r}, outside [0, 1]; not shown")
            pass1 = None
        rows.append(
            StatusRow(
                run_id=rid,
                values=record.values,
                state=display_state(status, job, job_state, damaged="status.json" in run_dir.damaged),
                step=status.get("step"),
                steps=_steps(run_dir),
                pass1=pass1,
                job_id=job.get("job_id") if job else None,
                attempts=len(meta.get("attempts", [])),
            )
        )
    return rows


def _is_run_dir(path: Path) -> bool:
    """A run folder: one with a config.yaml, or one that lost it but holds other run files (then a warning)."""
    if (path / "config.yaml").exists():
        return True
    if any((path / name).exists() for name in ("status.json", "meta.json", "eval.jsonl", "metrics.jsonl")):
        warn(path / "config.yaml", "is missing; its step count is unknown")
        return True
    return False


def _steps(run_dir: RunDir) -> int | None:
    """trainer.steps from the run's config.yaml (None when missing or damaged, which is warned about)."""
    try:
        steps = load_yaml(run_dir.file("config.yaml"))["trainer"]["steps"]
    except FileNotFoundError:
        return None
    except DamagedFile as exc:
        warn(run_dir.file("config.yaml"), f"{exc.problem}; its step count is unknown")
        return None
    except (KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def display_state(status: dict, job: dict | None, job_state: str | None, damaged: bool = False) -> str:
    """A run's state in words, the scheduler's view folded in (pending, requeued, failed (CANCELLED), …); ``damaged``:
    status.json could not be read (warned about), so a run no scheduler knows is 'unknown', not 'new'."""
    own = status.get("state")
    if own == "done":
        return "done"
    if job is not None and is_active(job_state):
        queued = job_state.upper() in ("PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING")
        if queued:
            return "requeued" if own == "preempted" else "pending"
        return "running"
    if job is not None and job_state not in (None, UNKNOWN):
        if own == "failed":
            return "failed"
        if own == "preempted":
            return "preempted"
        if job_state == NO_RECORD:
            return "failed (Slurm has no record of its job)"
        return f"failed ({job_state})" if job_state != "COMPLETED" else "failed (job ended early)"
    if own:
        return own
    if damaged:
        return "unknown"
    return "submitted" if job is not None else "new"


def print_sweeps_overview(results_dir: Path, out: Any = sys.stdout) -> None:
    names = sweep_names(results_dir)
    if not names:
        print(f"no sweeps under {results_dir}", file=out)
    for name in names:
        rows = status_rows(results_dir / name)
        counts: dict[str, int] = {}
        for row in rows:
            key = row.state.split(" ")[0]
            counts[key] = counts.get(key, 0) + 1
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        print(f"{name}: {len(rows)} runs ({parts})", file=out)
