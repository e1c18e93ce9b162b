"""Benchmark: `insight report` (and `insight status`) over a tree holding every damaged-file case at once (goal ≤ 5 s).

    python bench/damaged_files.py              # 3 repeats of each command
    python bench/damaged_files.py --repeats 5 --keep /tmp/damaged   # keep the tree to look at it

The tree is tests/damage.py's: the two healthy reference runs (results/reference-v1/mini_main, Random and WMI seed 0)
and one copy of a third reference run per damage case (binary and UTF-16 files, a JSON line of 100,000 ``[``, a
deeply nested YAML list, a YAML alias bomb, status.json holding a list or nothing, no config.yaml, pass@1 of -300
and inf, …); the ledger case damages the sweep's ledger. Each command runs as a subprocess, so the time includes
interpreter start-up and imports; `report` runs with --no-cache (every file parsed). Prints one row per command
(median wall seconds, median CPU seconds of the process, exit code, warning lines), the report over a healthy
tree of the same size for comparison, and a final line with the report's median wall time against the 5 s goal;
no assertion on time. CPU seconds are shown because other processes
on a shared machine lengthen wall time, not CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the damage table lives with its test

from damage import CASES, SWEEP, Damage, build_tree  # noqa: E402

GOAL_S = 5.0


def insight_command() -> list[str]:
    exe = shutil.which("insight")
    return [exe] if exe else [sys.executable, "-m", "insight_cli.cli.app"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (user + sys) and the outcome of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="damaged-"))
    try:
        results, healthy = root / "results", root / "healthy"
        build_tree(results, CASES)
        build_tree(healthy, [Damage(f"copy-{i}", "config.yaml", lambda path: None, "") for i in range(len(CASES))])
        env = {**os.environ, "INSIGHT_CACHE_DIR": str(root / "cache"), "COLUMNS": "200"}
        commands = {
            "report": ["report", "--results-dir", str(results), "--no-cache", "--out", str(root / "out")],
            "status": ["status", SWEEP, "--results-dir", str(results)],
            "report, healthy": ["report", "--results-dir", str(healthy), "--no-cache", "--out", str(root / "out2")],
        }
        print(f"{len(CASES)} damaged runs + 2 healthy runs; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        print(f"{'command':<16} {'wall s (median)':>16} {'cpu s (median)':>15} {'exit':>5} {'warnings':>9}")
        medians, cpus = {}, {}
        for name, argv in commands.items():
            runs = [timed([*insight_command(), *argv], env) for _ in range(args.repeats)]
            done = runs[-1][2]
            warnings = sum(line.startswith("warning: ") for line in done.stderr.splitlines())
            medians[name] = statistics.median(r[0] for r in runs)
            cpus[name] = statistics.median(r[1] for r in runs)
            print(f"{name:<16} {medians[name]:>16.2f} {cpus[name]:>15.2f} {done.returncode:>5} {warnings:>9}")
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
        print(
            f"report over every damaged case: {medians['report']:.2f} s wall, {cpus['report']:.2f} s CPU (medians of "
            f"{args.repeats}) = {medians['report'] / GOAL_S:.2f} × the {GOAL_S:.0f} s goal in wall time; "
            f"{cpus['report'] / cpus['report, healthy']:.2f} × the CPU time of the same-size healthy tree"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
