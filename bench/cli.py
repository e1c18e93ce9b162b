"""How fast the command line answers: a cold `insight --help`, and `insight sweep --dry-run` of a 1,000-run plan.

    python bench/cli.py               # 5 repetitions each (goals: --help ≤ 0.5 s, 1,000-run dry run ≤ 3 s)
    python bench/cli.py --repeat 9

Every measurement is a fresh process (`python -m insight_cli.cli.app …`), timed from spawn to exit, so it includes
the interpreter start and every import — what a user waits for. The dry run composes and validates all 1,000 runs
(10 μ × 10 η × 10 seeds), classifies them against an empty results folder, and prints the plan, one config and
the launch; it writes nothing. The table shows the median and the fastest repetition; the last line is the worst
median/goal ratio (≤ 1 meets every goal).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

GOALS = {"insight --help (cold)": 0.5, "insight sweep --dry-run (1,000 runs)": 3.0}


def time_command(args: list[str], repeat: int, env: dict[str, str]) -> list[float]:
    """Wall seconds of ``repeat`` fresh processes running ``python -m insight_cli.cli.app ARGS``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "insight_cli.cli.app", *args], capture_output=True, text=True, env=env
        )
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            raise SystemExit(f"insight {' '.join(args)[:80]} failed: {out.stderr.strip()[-300:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    values = ",".join(f"{i / 20:g}" for i in range(1, 11))
    etas = ",".join(str(i) for i in range(10))
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "INSIGHT_RESULTS_DIR": os.path.join(tmp, "results")}
        rows = {
            "insight --help (cold)": time_command(["--help"], args.repeat, env),
            "insight sweep --dry-run (1,000 runs)": time_command(
                [
                    "sweep",
                    f"mu={values}",
                    f"eta={etas}",
                    "--seeds",
                    "10",
                    "--name",
                    "bench",
                    "launcher=slurm",
                    "--dry-run",
                ],
                args.repeat,
                env,
            ),
        }
        assert not os.path.exists(os.path.join(tmp, "results")), "the dry run wrote something"
    print(f"{'command':<40}{'median s':>10}{'best s':>10}{'goal s':>9}{'median/goal':>13}")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{name:<40}{median:>10.3f}{min(times):>10.3f}{GOALS[name]:>9.1f}{median / GOALS[name]:>13.2f}")
    worst = max(rows, key=lambda n: statistics.median(rows[n]) / GOALS[n])
    ratio = statistics.median(rows[worst]) / GOALS[worst]
    print(f"worst median/goal ratio: {ratio:.2f} ({worst}; ≤ 1 meets the goal)")


if __name__ == "__main__":
    main()
