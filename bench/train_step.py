"""Seconds per GRPO step of the CPU miniature, the selector's share of it, and their ratio (goal ≤ 1%).

    python bench/train_step.py                     # WMI and Random, 12 steps each, default miniature shape
    python bench/train_step.py --steps 20 --selectors wmi,mopps,dps

Runs real training through run_training (the default tiny-cpu model, warm start taken from paths.cache_dir) in a
temporary results folder and reads each run's metrics.jsonl. The first two steps are dropped as warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.train.run import run_training

WARMUP_STEPS = 2


def measure(selector: str, steps: int, results_dir: str, extra: list[str]) -> dict[str, float]:
    cfg = compose(
        [
            f"selector={selector}",
            f"trainer.steps={steps}",
            "trainer.eval.every=100000",
            "trainer.eval.num_problems=8",
            "trainer.eval.n_samples=1",
            f"trainer.save_every={steps}",
            f"paths.results_dir={results_dir}",
            *extra,
        ]
    )
    run_dir = prepare_run_dir(cfg, overrides=[], command=["bench/train_step.py"])
    run_training(cfg, run_dir)
    records = run_dir.read("metrics.jsonl")[WARMUP_STEPS:]
    step_s = statistics.mean(r["step_s"] for r in records)
    selector_s = statistics.mean(r["selector_s"] for r in records)
    completions = cfg.trainer.prompts_per_step * cfg.trainer.num_generations
    return {"step_s": step_s, "selector_s": selector_s, "ratio": selector_s / step_s, "completions": completions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--selectors", default="wmi,random")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. M=32 K=8")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.selectors.split(","):
            rows[name] = measure(name, args.steps, tmp, args.overrides)
    print(f"{'selector':<22}{'step s':>10}{'selector s':>14}{'selector/step':>16}{'M×K':>8}")
    for name, row in rows.items():
        print(
            f"{name:<22}{row['step_s']:>10.3f}{row['selector_s']:>14.6f}{row['ratio']:>15.4%}{row['completions']:>8}"
        )
    worst = max(rows, key=lambda n: rows[n]["ratio"])
    print(f"worst selector/step ratio: {rows[worst]['ratio']:.4%} ({worst}; goal ≤ 1%)")


if __name__ == "__main__":
    main()
