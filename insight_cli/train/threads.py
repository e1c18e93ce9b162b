"""How many CPU threads a run's torch may use: the cores Slurm granted, else the ones other processes leave idle."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def idle_cores(window_s: float = 0.5) -> float:
    """Cores left idle by every other process over ``window_s`` seconds (from /proc/stat; NaN where unreadable)."""

    def totals() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all jiffies, idle + iowait

    try:
        total0, idle0 = totals()
        time.sleep(window_s)
        total1, idle1 = totals()
    except (OSError, ValueError, IndexError):
        return float("nan")
    cores = os.cpu_count() or 1
    return cores * (idle1 - idle0) / max(1, total1 - total0)


def limit_cpu_threads() -> None:
    """On CPU, use the cores this run may have: the ones Slurm granted (shared by the job's ranks), else, unless
    OMP_NUM_THREADS says, the cores of this machine that other processes leave idle when the run starts.

    Oversubscribed torch threads spin instead of working: two 2-thread processes on 2 cores took 8x the CPU time
    per step, and the README's main job beside one CPU-bound process spent 40+ CPU-minutes in a 5-minute warm start.
    One thread per idle core (at least one) keeps a busy machine at about the quiet speed of those cores."""
    import torch

    if torch.cuda.is_available():
        return
    granted = os.environ.get("SLURM_CPUS_PER_TASK")
    if granted:
        torch.set_num_threads(max(1, int(granted) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
        return
    if os.environ.get("OMP_NUM_THREADS") or int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        return  # chosen by the user, or by the launcher of several ranks
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = idle_cores()
    if not math.isnan(idle):
        torch.set_num_threads(max(1, min(available, torch.get_num_threads(), int(idle + 0.5))))
