"""Ask the scheduler about jobs: is Slurm reachable, and what state is each submitted job in.

Slurm jobs are looked up with ``squeue`` (queued or running) and then ``sacct`` (finished); local and in-process
jobs by their process id on this host. A job nobody can answer for is ``UNKNOWN``, never guessed; a job that both
answered and neither knows is ``NO_RECORD`` (it will never run: a pending array task cancelled before it started
leaves no accounting record, nor does a queue lost with its slurmctld state), so its run can be resubmitted.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

# Slurm states in which a job may still run (or run again): such a run is not resubmitted.
ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "RESV_DEL_HOLD",
}
UNKNOWN = "UNKNOWN"
NO_RECORD = "NO_RECORD"
QUERY_TIMEOUT_S = 20
PING_TIMEOUT_S = 5  # a reachable slurmctld answers in milliseconds; a misconfigured client retries for a minute


def _run(args: list[str], timeout: float = QUERY_TIMEOUT_S) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None


def slurm_problem() -> str | None:
    """None when sbatch is installed and slurmctld answers; else why not, in a few words."""
    if shutil.which("sbatch") is None or shutil.which("scontrol") is None:
        return "sbatch/scontrol not found on PATH"
    out = _run(["scontrol", "ping"], timeout=PING_TIMEOUT_S)
    if out is None or out.returncode != 0 or " is UP" not in out.stdout:
        text = " ".join(((out.stdout + out.stderr) if out else "scontrol ping timed out").split())
        return f"slurmctld does not answer ({text[:120]})"
    return None


def _base_ids(job_ids: Iterable[str]) -> list[str]:
    return sorted({str(j).split("_")[0] for j in job_ids})


def expand_array_id(job: str) -> list[str]:
    """``12_[0-2,5%4]`` (an array that never started, as sacct prints it) → 12_0, 12_1, 12_2, 12_5; others as-is."""
    match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
    if not match:
        return [job]
    tasks = []
    for part in match.group(2).split("%")[0].split(","):
        low, _, high = part.partition("-")
        tasks += [f"{match.group(1)}_{i}" for i in range(int(low), int(high or low) + 1)]
    return tasks


def slurm_states(job_ids: Iterable[str]) -> dict[str, str]:
    """State of each Slurm job id (``123`` or array task ``123_4``): squeue first, then sacct; else UNKNOWN."""
    wanted = {str(j) for j in job_ids if j}
    if not wanted or shutil.which("squeue") is None:
        return dict.fromkeys(wanted, UNKNOWN)
    states: dict[str, str] = {}
    ids = ",".join(_base_ids(wanted))
    queue = _run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ids])
    # squeue exits 1 with "Invalid job id" when it knows none of the ids: an answer, not a failure to ask
    queue_answered = queue is not None and (queue.returncode == 0 or "Invalid job id" in queue.stderr)
    if queue is not None and queue.returncode == 0:
        for line in queue.stdout.splitlines():
            job, _, state = line.strip().partition("|")
            states[job] = state.strip()
    missing = wanted - set(states)
    acct_answered = False
    if missing and shutil.which("sacct"):
        acct = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(_base_ids(missing))])
        acct_answered = acct is not None and acct.returncode == 0
        if acct_answered:
            for line in acct.stdout.splitlines():
                job, _, state = line.strip().partition("|")
                for task in expand_array_id(job):
                    states.setdefault(task, state.split()[0] if state else UNKNOWN)  # "CANCELLED by 0" → CANCELLED
    unanswered = NO_RECORD if queue_answered and acct_answered else UNKNOWN
    return {j: states.get(j, unanswered) for j in wanted}


def pid_state(pid: int | None, host: str | None) -> str:
    """RUNNING while a local job's process lives on this host, else COMPLETED; UNKNOWN for another host."""
    if not pid:
        return UNKNOWN
    if host and host != socket.gethostname():
        return UNKNOWN
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "COMPLETED"
    except PermissionError:
        return "RUNNING"
    cmdline = Path(f"/proc/{int(pid)}/cmdline")
    if cmdline.exists():
        text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        if "python" not in text and "insight" not in text:
            return "COMPLETED"  # the pid was reused by an unrelated program
    return "RUNNING"


def job_states(jobs: Iterable[Mapping]) -> dict[str, str]:
    """State of each submission record (job_id, launcher, host, pid) from the ledger, keyed by job id."""
    jobs = list(jobs)
    slurm = [str(j["job_id"]) for j in jobs if j.get("launcher") == "slurm" and j.get("job_id")]
    states = slurm_states(slurm) if slurm else {}
    for job in jobs:
        if job.get("launcher") != "slurm" and job.get("job_id"):
            states[str(job["job_id"])] = pid_state(job.get("pid") or job.get("job_id"), job.get("host"))
    return states


def is_active(state: str | None) -> bool:
    return (state or "").upper() in ACTIVE
