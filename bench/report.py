"""Benchmark: `insight report --table all` end to end on 1,000 synthetic runs × 100 evaluation points (goal ≤ 3 s).

    python bench/report.py                        # 1,000 runs, 100 evaluations each, 10 training steps per evaluation
    python bench/report.py --runs 200 --keep /tmp/bench-results   # smaller, and keep the generated runs

The runs are written straight to files (for speed) in exactly the format ``insight_cli.runs.RunDir`` writes:
config.yaml from a composed config (OmegaConf YAML), status.json, eval.jsonl and metrics.jsonl as ``json.dumps``
lines — one metrics line per training step (the trainer's default ``trainer.eval.every`` is 10, so 1,000 lines per
run), every field ``PromptSelection.pop_step_stats`` logs plus the trainer's own. Arms: 2 models × (random,
dynamic_sampling, mopps, dps, expected_difficulty, and WMI at μ ∈ {0.1, 0.3, 0.5, 0.7, 0.9}), seeds fill the rest;
one run in 17 is still running. The report is timed as a subprocess (`insight report ...`), so the time includes
interpreter start-up and imports: "cold" with --no-cache (every metrics.jsonl parsed), "warm" with the metrics
cache filled by a previous report (the usual case while a sweep is analysed). Prints a table, the CPU seconds of
each report (the load other processes put on the machine shows in wall time, not here) and a final ratio line on the
cold median; no assertion on time. Then prints the efficiency table of the finished synthetic runs (untimed): steps
and rollouts to target on seed-mean curves, speed-ups with their bootstrap CIs, the censored share, `reached`, and
the per-seed means over reaching seeds only. With the running runs in, an arm's mean curve ends where its running
seed is (half the run), so its times there are bounds (``>x``, ``<x``); the line above the table counts them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from insight_cli.config import compose
from insight_cli.report.collect import collect
from insight_cli.report.tables import efficiency_table, to_markdown
from insight_cli.runs import run_id

GOAL_S = 3.0
MODELS = ("qwen3-0.6b", "qwen3-4b")
ARMS = [("random", None), ("dynamic_sampling", None), ("mopps", None), ("dps", None), ("expected_difficulty", None)]
ARMS += [("wmi", mu) for mu in (0.1, 0.3, 0.5, 0.7, 0.9)]
BENCHMARKS = ("cd34", "cd4")
SPEED = {"random": 1.0, "dynamic_sampling": 1.25, "mopps": 1.4, "dps": 1.5, "expected_difficulty": 1.3, "wmi": 1.8}


def arm_config(model: str, selector: str, mu: float | None) -> dict:
    """A resolved config as plain containers, from the composed defaults with model/selector fields set."""
    base = OmegaConf.to_container(compose([f"model={model}", "selector=wmi" if mu is not None else "selector=random"]))
    base["selector"]["name"] = selector
    if mu is not None:
        base["selector"]["mu"] = mu
    base["sweep"] = "bench"
    return base


def write_run(root: Path, cfg: dict, yaml_text: str, seed: int, args, rng: np.random.Generator, running: bool) -> None:
    cfg = {**cfg, "seed": seed}
    path = root / "bench" / run_id(cfg)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(yaml_text.replace("\nseed: 0\n", f"\nseed: {seed}\n"))
    n_evals = args.evals if not running else args.evals // 2
    last_step = n_evals * args.steps_per_eval
    speed = SPEED[cfg["selector"]["name"]] * (1.0 - abs((cfg["selector"].get("mu") or 0.3) - 0.3))
    per_step = 512 * (1.6 if cfg["selector"]["name"] == "dynamic_sampling" else 1.0)
    metrics, wall = [], 0.0
    for step in range(1, last_step + 1):
        step_s = 20.0 + rng.random()
        selector_s = 0.001 + 0.004 * rng.random()
        wall += step_s
        record = {
            "step": step,
            "rollouts": int(step * per_step),
            "wall_s": wall,
            "step_s": step_s,
            "selector_s": selector_s,
            "reward_mean": rng.random(),
            "accuracy_mean": rng.random(),
            "frac_zero_std_groups": rng.random(),
            "frac_mixed_groups": rng.random(),
            "chosen_belief_mean": rng.random(),
            "distinct_prompts_seen": step * 64,
            "generated_groups": 64,
            "generation_batches": 1,
            "loss": rng.normal(),
            "learning_rate": 3e-4,
        }
        metrics.append(json.dumps(record) + "\n")
    (path / "metrics.jsonl").write_text("".join(metrics))
    evals = []
    for point in range(1, n_evals + 1):
        step = point * args.steps_per_eval
        for bench_index, bench in enumerate(BENCHMARKS):
            level = 0.6 * (1.0 - math.exp(-speed * step / (args.evals * args.steps_per_eval / 3))) - 0.1 * bench_index
            record = {
                "step": step,
                "rollouts": int(step * per_step),
                "benchmark": bench,
                "pass@1": float(min(max(level + rng.normal(0, 0.01), 0.0), 1.0)),
                "n_samples": 8,
                "n_problems": 512,
            }
            evals.append(json.dumps(record) + "\n")
    (path / "eval.jsonl").write_text("".join(evals))
    status = {
        "state": "running" if running else "done",
        "step": last_step,
        "updated_at": "2025-01-01T00:00:00+00:00",
        "error": None,
    }
    (path / "status.json").write_text(json.dumps(status, indent=2))


def generate(root: Path, args) -> int:
    rng = np.random.default_rng(0)
    arms = [(model, selector, mu) for model in MODELS for selector, mu in ARMS]
    configs = []
    for model, selector, mu in arms:
        cfg = arm_config(model, selector, mu)
        configs.append((cfg, OmegaConf.to_yaml(OmegaConf.create(cfg))))
    for index in range(args.runs):
        cfg, text = configs[index % len(configs)]
        write_run(root, cfg, text, seed=index // len(configs), args=args, rng=rng, running=index % 17 == 16)
    return args.runs


def insight_command() -> list[str]:
    exe = shutil.which("insight")
    return [exe] if exe else [sys.executable, "-m", "insight_cli.cli.app"]


def time_report(root: Path, extra: list[str]) -> tuple[float, float, str]:
    """Wall seconds and CPU seconds (user + sys of the report and its worker processes) of one report."""
    command = [*insight_command(), "report", "--results-dir", str(root), "--out", str(root / "report"), *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "INSIGHT_CACHE_DIR": str(root / ".cache")}  # the report's metrics cache, removed with root
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"report failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stderr


def efficiency_example(root: Path) -> str:
    """The efficiency table (Markdown) of the finished runs, after a line on what the running ones do to it.

    An arm's seed-mean curve stops at the last step all its seeds have, and one run in 17 is still running at half
    the run: with them, an arm's curve ends there and times beyond it are bounds (``>x``). The example shows the
    finished runs, where every curve is complete; ``insight report`` itself keeps the running ones.
    """
    os.environ["INSIGHT_CACHE_DIR"] = str(root / ".cache")
    coll = collect(root)
    everything, _ = efficiency_table(coll)
    bounded = int((everything.data["steps_to_target_bound"] != "").sum())
    done = coll.runs[coll.runs["finished"]]
    finished = dataclasses.replace(coll, runs=done, evals=coll.evals[coll.evals["run"].isin(done["run"])])
    table, _ = efficiency_table(finished)
    running = len(coll.runs) - len(done)
    return (
        f"With its {running} running runs in, {bounded} of {len(everything.data)} arms' steps→target are bounds "
        "(>x: the mean curve ends below the target, where a running seed is or at the end). "
        f"The {len(done)} finished runs:\n\n" + to_markdown(table)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--evals", type=int, default=100, help="evaluation points per run")
    parser.add_argument("--steps-per-eval", type=int, default=10, help="metrics.jsonl lines per evaluation point")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plots", action="store_true", help="also time --plot all (not part of the goal)")
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="insight-bench-report-"))
    try:
        start = time.perf_counter()
        generate(root, args)
        gen_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        rows, log = [], ""
        rows.append(
            (
                "generate runs",
                f"{args.runs} runs × {args.evals} evals × {len(BENCHMARKS)} benchmarks, "
                f"{args.evals * args.steps_per_eval} metric lines/run, {size_mb:.0f} MB",
                gen_s,
                math.nan,
            )
        )
        cold, warm = [], []
        for label, flags, times in (("cold", ["--no-cache"], cold), ("warm", [], warm)):
            if label == "warm":
                time_report(root, ["--table", "all"])  # fills the metrics cache
            for i in range(args.repeat):
                load = os.getloadavg()[0]
                elapsed, cpu, log = time_report(root, ["--table", "all", *flags])
                times.append(elapsed)
                what = "every metrics.jsonl parsed" if label == "cold" else "unchanged metrics.jsonl summaries cached"
                rows.append((f"report --table all, {label} #{i + 1}", f"{what} (load avg {load:.1f})", elapsed, cpu))
        if args.plots:
            elapsed, cpu, _ = time_report(root, ["--table", "all", "--plot", "all"])
            rows.append(("report --table all --plot all", "matplotlib too, warm (not in the goal)", elapsed, cpu))
        print(f"{'phase':<30} {'what':<74} {'wall s':>7} {'cpu s':>7}")
        for phase, what, wall, cpu in rows:
            print(f"{phase:<30} {what:<74} {wall:>7.2f} {cpu:>7.2f}")
        print(f"cores: {len(os.sched_getaffinity(0))}; report says: {log.splitlines()[0] if log else ''}")
        median, warm_median = statistics.median(cold), statistics.median(warm)
        print(
            f"insight report --table all, {args.runs} runs × {args.evals} evaluation points: "
            f"cold median {median:.2f} s (warm {warm_median:.2f} s) vs goal {GOAL_S:.1f} s "
            f"→ ratio {median / GOAL_S:.2f} "
            f"({'meets' if median <= GOAL_S else 'misses'} the goal cold)"
        )
        print()
        print(efficiency_example(root), end="")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
