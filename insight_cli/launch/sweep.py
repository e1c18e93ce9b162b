"""``insight sweep`` and ``insight status`` as library functions: plan, classify, submit what is missing, report.

    insight sweep -f sweeps/mini_main.yaml launcher=slurm     # submits the runs not done or running
    insight sweep -f sweeps/mini_main.yaml launcher=slurm     # again: "4 done, 0 to submit"
    insight status mini_main

A run is *done* when its status.json says so; *running* while its latest job is queued or running (squeue, or a
live local process); *failed* when its job is over without finishing (an error, a cancel, a preemption that was
not requeued) — ``--rerun-failed`` resubmits those, and they resume from their last checkpoint; *new* otherwise.
Classifying, writing the ledger and submitting happen under the sweep's file lock, so two sweeps started at
once submit each run once.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insight_cli.aliases import short_name
from insight_cli.config import ConfigError
from insight_cli.launch.plan import (
    Axis,
    Composer,
    Run,
    SweepSpec,
    build_runs,
    check_axes,
    check_name,
    load_spec,
    merge_specs,
    parse_token,
    parse_tokens,
    sweep_name,
)
from insight_cli.launch.scheduler import UNKNOWN, is_active, job_states
from insight_cli.runs import Ledger, RunDir, RunRecord, read_jsonl
from insight_cli.safe_read import DamagedFile, is_fraction, load_yaml, warn

STATES = ("done", "running", "failed", "new")


@dataclass
class SweepResult:
    """The plan of one sweep, each run's state, and what was (or would be) submitted."""

    name: str
    sweep_dir: Path
    axes: list[Axis]
    runs: list[Run]
    states: list[str]
    to_submit: list[int]
    submitted: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: self.states.count(s) for s in STATES}

    def summary(self) -> str:
        c = self.counts()
        return (
            f"sweep {self.name}: {len(self.runs)} runs: {c['done']} done, {len(self.to_submit)} to submit "
            f"({c['running']} running, {c['failed']} failed, {c['new']} new)"
        )


# ---------------------------------------------------------------------------------------------- planning
def make_spec(
    tokens: Sequence[str],
    spec_file: str | None = None,
    selectors: str | None = None,
    models: str | None = None,
    seeds: int | None = None,
    name: str | None = None,
) -> SweepSpec:
    """Merge a spec file with the command line (the command line wins key by key)."""
    cli = parse_tokens(tokens)
    for group, value in (("selector", selectors), ("model", models)):
        if value is not None:
            key, values = parse_token(f"{group}={value}")
            if len(values) == 1:
                cli.overrides.append(f"{key}={values[0]}")
            else:
                cli.axes.append(Axis(key, values))
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds {seeds}: give the number of seeds, 1 or more (seeds 0..N-1)")
        if seeds == 1:
            cli.overrides.append("seed=0")
        else:
            cli.axes.append(Axis("seed", tuple(str(s) for s in range(seeds))))
    cli.name = name
    spec = merge_specs(load_spec(spec_file), cli) if spec_file else cli
    check_axes(spec)
    return spec


def plan(spec: SweepSpec) -> tuple[str, list[Run]]:
    """The sweep's name and its composed runs (every run validated)."""
    composer = Composer()
    name = spec.name
    if not name:
        base = composer.compose(spec.overrides)
        name = base["sweep"] if base.get("sweep") not in (None, "adhoc") else sweep_name(spec)
    name = check_name(str(name))
    named = SweepSpec(
        name=name,
        overrides=[o for o in spec.overrides if not o.startswith("sweep=")] + [f"sweep={name}"],
        axes=spec.axes,
    )
    return name, build_runs(named, composer)


# ---------------------------------------------------------------------------------------------- classifying
def classify(runs: Sequence[Run], sweep_dir: Path) -> list[str]:
    """done / running / failed / new for each run, from status.json, the ledger and the scheduler."""
    records = Ledger(sweep_dir).runs()
    jobs = [records[r.run_id].job for r in runs if r.run_id in records and records[r.run_id].job]
    states = job_states(jobs) if jobs else {}
    out = []
    for run in runs:
        status = RunDir(sweep_dir / run.run_id).read_status()
        record = records.get(run.run_id)
        job = record.job if record else None
        out.append(run_state(status, job, states.get(str(job["job_id"])) if job else None))
    return out


def single_run_state(sweep_dir: Path, rid: str) -> tuple[str, dict | None]:
    """(done / running / failed / new, its latest job) of one run, as :func:`classify` sees it."""
    record = Ledger(sweep_dir).runs().get(rid)
    job = record.job if record else None
    job_state = job_states([job]).get(str(job["job_id"])) if job and job.get("job_id") else None
    return run_state(RunDir(sweep_dir / rid).read_status(), job, job_state), job


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


# ---------------------------------------------------------------------------------------------- submitting
def run_sweep(
    spec: SweepSpec, command: Sequence[str], dry_run: bool = False, rerun_failed: bool = False
) -> SweepResult:
    """Plan, classify and (unless dry_run) submit the missing runs; returns at once (jobs run on their own)."""
    from insight_cli.launch.executor import check_folders, check_launcher, sbatch_test

    name, runs = plan(spec)
    first = runs[0].config
    sweep_dir = Path(first["paths"]["results_dir"]) / name
    for config in _distinct_launches(runs):
        check_launcher(config, need_scheduler=not dry_run)
    wanted = "failed" if rerun_failed else "new"
    states = classify(runs, sweep_dir)
    result = SweepResult(name, sweep_dir, spec.axes, runs, states, [i for i, s in enumerate(states) if s == wanted])
    if dry_run or not result.to_submit:
        return result
    for config in {json.dumps(r.config["paths"], sort_keys=True): r.config for r in runs}.values():
        check_folders(config)
    if first["launcher"]["name"] == "slurm":
        for config, indices in launch_groups(runs, result.to_submit):
            sbatch_test(config, sweep_dir / ".submitit", len(indices))
    ledger = Ledger(sweep_dir)
    with ledger.locked():
        # another sweep may have submitted while we were composing: decide again under the lock
        result.states = classify(runs, sweep_dir)
        result.to_submit = [i for i, s in enumerate(result.states) if s == wanted]
        known = ledger.runs()
        ledger.append(
            *[
                {"event": "planned", "run_id": r.run_id, "values": r.values, "overrides": r.overrides}
                for r in runs
                if r.run_id not in known
            ]
        )
        result.submitted, inprocess = _submit(runs, result.to_submit, sweep_dir, command, ledger)
    for job in inprocess:  # launcher=inprocess: run one after the other, after the lock is released
        job()
    return result


def _launch_key(config: dict) -> str:
    """Runs with the same launcher and resources can share one job array."""
    return json.dumps(
        [config["launcher"], config["model"].get("gpus"), config["model"].get("name")], sort_keys=True, default=str
    )


def _distinct_launches(runs: Sequence[Run]) -> list[dict]:
    seen: dict[str, dict] = {}
    for run in runs:
        seen.setdefault(_launch_key(run.config), run.config)
    return list(seen.values())


def launch_groups(runs: Sequence[Run], indices: Sequence[int]) -> list[tuple[dict, list[int]]]:
    groups: dict[str, tuple[dict, list[int]]] = {}
    for i in indices:
        groups.setdefault(_launch_key(runs[i].config), (runs[i].config, []))[1].append(i)
    return list(groups.values())


def _submit(
    runs: Sequence[Run], indices: Sequence[int], sweep_dir: Path, command: Sequence[str], ledger: Ledger
) -> tuple[list[dict], list]:
    """Prepare the run directories and submit them, one job array per launch group; in-process runs are returned
    as callables for the caller to run once the lock is released."""
    from omegaconf import OmegaConf

    from insight_cli.launch.executor import make_job, prepare_run_dir, submit

    records, inprocess = [], []
    for config, group in launch_groups(runs, indices):
        run_dirs = [prepare_run_dir(OmegaConf.create(runs[i].config), runs[i].overrides, command) for i in group]
        if config["launcher"]["name"] == "inprocess":
            submitted = [
                {"job_id": str(os.getpid()), "launcher": "inprocess", "host": socket.gethostname(), "pid": os.getpid()}
                for _ in group
            ]
            inprocess += [make_job(runs[i].config, d) for i, d in zip(group, run_dirs, strict=True)]
        else:
            submitted = submit(config, run_dirs, sweep_dir / ".submitit", [runs[i].config for i in group])
        ledger.append(
            *[{"event": "submitted", "run_id": runs[i].run_id, **rec} for i, rec in zip(group, submitted, strict=True)]
        )
        records += [{**rec, "run_id": runs[i].run_id} for i, rec in zip(group, submitted, strict=True)]
    return records, inprocess


# ---------------------------------------------------------------------------------------------- reporting
def plan_lines(result: SweepResult) -> list[str]:
    """The plan as plain text lines: index, run id, axis values, state (fast for thousands of runs)."""
    keys = [a.key for a in result.axes]
    labels = [short_name(k) for k in keys]
    widths = [
        max([len(lbl)] + [len(str(r.values.get(k, ""))) for r in result.runs])
        for k, lbl in zip(keys, labels, strict=True)
    ]
    head = "  ".join(f"{lbl:<{w}}" for lbl, w in zip(labels, widths, strict=True))
    lines = [f"{'#':>5}  {'run_id':<12}  {head}  state".rstrip()]
    submit = set(result.to_submit)
    for i, (run, state) in enumerate(zip(result.runs, result.states, strict=True)):
        cells = "  ".join(f"{str(run.values.get(k, '')):<{w}}" for k, w in zip(keys, widths, strict=True))
        lines.append(f"{i:>5}  {run.run_id:<12}  {cells}  {state}{' → submit' if i in submit else ''}")
    return lines


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
        return f"failed ({job_state})" if job_state != "COMPLETED" else "failed (job ended early)"
    if own:
        return own
    if damaged:
        return "unknown"
    return "submitted" if job is not None else "new"


def print_sweeps_overview(results_dir: Path, out: Any = sys.stdout) -> None:
    from insight_cli.runs import sweep_names

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
