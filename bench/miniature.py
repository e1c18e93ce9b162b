"""Can the CPU miniature tell two selectors apart? Runs each with several seeds and says whether it can.

    python bench/miniature.py                                  # random vs wmi, 4 seeds, the default miniature
    python bench/miniature.py --selectors random,wmi,mopps --seeds 4 selector.prior=warmstart
    python bench/miniature.py --results-dir results/miniature  # keep (and resume) the runs

Each run is a real `insight train` run (in this process, one after the other; finished runs in --results-dir are
reused, so an interrupted bench resumes). Per selector it prints the mean ± 95% bootstrap CI over seeds of:
steps-to-target (target = Random's mean final pass@1), the area under the pass@1 curve (mean pass@1 over the
evaluations), the share of mixed-outcome groups, the final pass@1 and its seed-to-seed standard deviation, and the
largest drop of any run below its own running maximum after the first 20% of training. The last line says whether
the first two selectors' difference in area under the curve is resolved (its CI excludes zero) or not.
"""

from __future__ import annotations

import argparse
import math
import tempfile

import numpy as np

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.report.metrics import bootstrap_mean, steps_to_target
from insight_cli.train.run import run_training


def run_arm(selector: str, seed: int, results_dir: str, overrides: list[str]) -> dict:
    """Train (or reuse) one run and return its curves."""
    cfg = compose(
        [f"selector={selector}", f"seed={seed}", f"paths.results_dir={results_dir}", "sweep=miniature", *overrides]
    )
    run_dir = prepare_run_dir(cfg, overrides=overrides, command=["bench/miniature.py"])
    if run_dir.read_status().get("state") != "done":
        run_training(cfg, run_dir)
    evals = run_dir.read("eval.jsonl")
    metrics = run_dir.read("metrics.jsonl")
    steps = np.array([e["step"] for e in evals], dtype=float)
    values = np.array([e["pass@1"] for e in evals], dtype=float)
    return {
        "steps": steps,
        "pass": values,
        "mixed": float(np.mean([m["frac_mixed_groups"] for m in metrics])),
        "total_steps": int(cfg.trainer.steps),
    }


def largest_drop(run: dict) -> float:
    """Largest fall of pass@1 below its own running maximum, after the first 20% of training."""
    late = run["steps"] >= 0.2 * run["total_steps"]
    running_max = np.maximum.accumulate(run["pass"])
    return float(np.max((running_max - run["pass"])[late], initial=0.0))


def fmt(estimate, digits: int = 3) -> str:
    if math.isnan(estimate.mean):
        return "—"
    if math.isnan(estimate.lo):
        return f"{estimate.mean:.{digits}f}"
    return f"{estimate.mean:.{digits}f} [{estimate.lo:.{digits}f}, {estimate.hi:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--selectors", default="random,wmi")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--results-dir", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.steps=60")
    args = parser.parse_args()
    names = args.selectors.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results_dir or tmp
        runs = {name: [run_arm(name, seed, results, args.overrides) for seed in range(args.seeds)] for name in names}
    baseline = "random" if "random" in runs else names[0]
    target = float(np.mean([r["pass"][-1] for r in runs[baseline]]))
    print(f"target pass@1 = {target:.3f} ({baseline}'s mean final pass@1 over {args.seeds} seeds)")
    header = f"{'selector':<20}{'steps→target':>24}{'AUC pass@1':>24}{'mixed share':>24}{'final pass@1':>24}"
    print(header + f"{'seed SD':>10}{'max drop':>10}")
    auc = {}
    for name in names:
        reach = [steps_to_target(r["steps"], r["pass"], target) for r in runs[name]]
        auc[name] = np.array([r["pass"].mean() for r in runs[name]])
        finals = np.array([r["pass"][-1] for r in runs[name]])
        row = [
            bootstrap_mean(reach),
            bootstrap_mean(auc[name]),
            bootstrap_mean([r["mixed"] for r in runs[name]]),
            bootstrap_mean(finals),
        ]
        drop = max(largest_drop(r) for r in runs[name])
        print(f"{name:<20}" + "".join(f"{fmt(e):>24}" for e in row) + f"{finals.std(ddof=1):>10.4f}{drop:>10.3f}")
    first, second = names[0], names[1] if len(names) > 1 else names[0]
    rng = np.random.default_rng(0)
    diffs = [
        rng.choice(auc[second], len(auc[second])).mean() - rng.choice(auc[first], len(auc[first])).mean()
        for _ in range(4000)
    ]
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    resolved = lo > 0 or hi < 0
    print(
        f"AUC difference {second} − {first}: {auc[second].mean() - auc[first].mean():+.4f} "
        f"[95% CI {lo:+.4f}, {hi:+.4f}] → {'RESOLVED' if resolved else 'NOT resolved'} with {args.seeds} seeds"
    )


if __name__ == "__main__":
    main()
