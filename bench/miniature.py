"""Can the CPU miniature tell two selectors apart? Runs each with several seeds and says whether it can.

    python bench/miniature.py                                  # random vs wmi, 4 seeds, the default miniature
    python bench/miniature.py --selectors random,wmi,mopps --seeds 4 selector.prior=warmstart
    python bench/miniature.py --results-dir results/miniature  # keep (and resume) the runs
    python bench/miniature.py --jobs 2                         # two runs at a time, one core each
    python bench/miniature.py --results-dir /work/campaign-results --sweep mini_main   # read the campaign's runs
    python bench/miniature.py --selectors wmi,wmi:selector.mu=0.9   # two arms of one selector (overrides after ':')
    python bench/miniature.py --results-dir DIR --sweep mini_main --selectors random,mopps --reuse-only
    python bench/miniature.py --results-dir DIR --sweep mini_main,mini_ablation --selectors wmi,wmi_sampled

Each run is a real `insight train` run (in this process one after the other, or --jobs worker processes that share the
cores out; finished runs in --results-dir are reused, so an interrupted bench resumes; --reuse-only trains nothing
and stops, before reading anything, at the first arm and seed with no finished run: an arm whose overrides differ
from the campaign's by one key has another run id; a bare arm name that labels a selector variant of
sweeps/<--sweep>.yaml, such as mini_main's `mopps`, takes that variant's overrides). Per selector it prints the mean
± 95% bootstrap CI over seeds of: steps-to-target (target = Random's mean final pass@1; over the seeds that reach it,
and how many do), the area under the pass@1 curve (mean pass@1 over the evaluations), the share of mixed-outcome
groups, the final pass@1 and its seed-to-seed standard deviation, and the largest drop of any run below its own running
maximum after the first 20% of training; then the sampling error of one evaluation (the spread of every run's step-0
evaluation of the same starting model). The last line says whether the first two selectors' difference in area under
the curve is resolved (its CI excludes zero) or not.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.launch.plan import load_spec
from insight_cli.report.metrics import bootstrap_mean, steps_to_target
from insight_cli.runs import RunDir
from insight_cli.train.run import POOL_BENCHMARK, run_training

REPO = Path(__file__).resolve().parents[1]

# the stability criteria of the miniature (docs/miniature.md): seeds agree, and no run falls back late
MAX_SEED_SD = 0.015
MAX_LATE_DROP = 0.02


@functools.cache
def sweep_variants(sweep: str) -> dict[str, tuple[str, ...]]:
    """The labelled selector variants of ``sweeps/<sweep>.yaml`` (``mopps: [selector=mopps, lam=0.5, pool=8]``), of
    each sweep of a comma list (the first that labels a name wins); none for a sweep without a file (``miniature``,
    the bench's own folder)."""
    variants: dict[str, tuple[str, ...]] = {}
    for name in sweep.split(","):
        path = REPO / "sweeps" / f"{name}.yaml"
        if not path.is_file():
            continue
        for axis in load_spec(path).axes:
            if axis.key == "selector" and axis.bundles is not None:
                for label, bundle in zip(axis.values, axis.bundles, strict=True):
                    variants.setdefault(label, bundle)
    return variants


def arm_overrides(arm: str, sweep: str = "miniature") -> list[str]:
    """An arm is a selector name, optionally followed by ':'-separated overrides of its own: ``wmi:selector.mu=0.9``
    is WMI with μ = 0.9 (so two arms of one selector can be compared). A bare name that labels a selector variant of
    ``sweeps/<sweep>.yaml`` takes that variant's overrides, so ``mopps`` with ``--sweep mini_main`` is the campaign's
    MoPPS arm (with MoPPS's own settings) and not a run the campaign never made."""
    selector, *own = arm.split(":")
    variant = sweep_variants(sweep).get(arm)
    if variant is not None:
        return list(variant)
    return [f"selector={selector}", *own]


def locate(arm: str, seed: int, results_dir: str, overrides: list[str], sweep: str):
    """The config, run folder and overrides of one arm and seed (the folder's name is the config's hash, the same in
    every sweep). ``sweep`` may be a comma list: the first sweep folder with a finished run of it, else the first."""
    folders = sweep.split(",")
    run_overrides = [*arm_overrides(arm, sweep), f"seed={seed}", *overrides]
    cfg = compose([*run_overrides, f"paths.results_dir={results_dir}", f"sweep={folders[0]}"])
    for folder in folders:
        run_dir = RunDir.for_config(cfg, results_dir, folder)
        if run_dir.read_status().get("state") == "done":
            return cfg, run_dir, run_overrides
    return cfg, RunDir.for_config(cfg, results_dir, folders[0]), run_overrides


def first_missing(names: list[str], seeds: int, results_dir: str, overrides: list[str], sweep: str) -> str | None:
    """A one-line error naming the first arm and seed without a finished run, or None when every one has one."""
    for name in names:
        for seed in range(seeds):
            _, run_dir, _ = locate(name, seed, results_dir, overrides, sweep)
            if run_dir.read_status().get("state") != "done":
                return (
                    f"error: no finished run of arm '{name}' ({' '.join(arm_overrides(name, sweep))}) seed {seed} "
                    f"at {run_dir.path} (--reuse-only trains "
                    "nothing): give the arm the sweep's own overrides after ':' (sweeps/<sweep>.yaml), or drop "
                    "--reuse-only to train it"
                )
    return None


def run_arm(arm: str, seed: int, results_dir: str, overrides: list[str], sweep: str = "miniature") -> dict:
    """Train (or reuse) one run and return its curves. The run id is the config's hash, so a run of the same arm
    and seed made by `insight sweep -f sweeps/mini_main.yaml` (``sweep`` = mini_main) is found and reused."""
    cfg, run_dir, run_overrides = locate(arm, seed, results_dir, overrides, sweep)
    started = time.time()
    # a finished run (the campaign's, say) is only read: its config.yaml and meta.json stay as its command wrote them
    trained = run_dir.read_status().get("state") != "done"
    if trained:
        run_dir = prepare_run_dir(cfg, overrides=run_overrides, command=["bench/miniature.py"])
        run_training(cfg, run_dir)
    finished = time.time()
    records = run_dir.read("eval.jsonl")
    metrics = run_dir.read("metrics.jsonl")
    # the held-out curve; the optional train_pool evaluation (trainer.eval.pool_problems) is kept apart
    evals = [e for e in records if e.get("benchmark") != POOL_BENCHMARK]
    pool = [e for e in records if e.get("benchmark") == POOL_BENCHMARK]
    return {
        "steps": np.array([e["step"] for e in evals], dtype=float),
        "pass": np.array([e["pass@1"] for e in evals], dtype=float),
        "pool_pass": np.array([e["pass@1"] for e in pool], dtype=float),
        "reward": np.array([m["accuracy_mean"] for m in metrics], dtype=float),
        "mixed": float(np.mean([m["frac_mixed_groups"] for m in metrics])),
        "total_steps": int(cfg.trainer.steps),
        "train_s": float(metrics[-1]["wall_s"]) if metrics else 0.0,
        "started": started,
        "finished": finished,
        "trained": trained,
    }


def use_threads(threads: int) -> None:
    """Worker initialiser: each of the --jobs processes gets its share of the cores (oversubscribed torch threads
    spin instead of working)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def run_all(
    names: list[str], seeds: int, results: str, overrides: list[str], jobs: int, sweep: str = "miniature"
) -> dict[str, list[dict]]:
    """Every (selector, seed) run, in this process (jobs = 1) or in ``jobs`` worker processes."""
    arms = [(name, seed) for name in names for seed in range(seeds)]
    if jobs <= 1:
        curves = [run_arm(name, seed, results, overrides, sweep) for name, seed in arms]
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no forked torch state
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=use_threads, initargs=(threads,)) as pool:
            futures = [pool.submit(run_arm, name, seed, results, overrides, sweep) for name, seed in arms]
            curves = [future.result() for future in futures]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for (name, _), curve in zip(arms, curves, strict=True):
        runs[name].append(curve)
    return runs


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
    parser.add_argument(
        "--selectors", default="random,wmi", help="arms, comma-separated: a selector, or selector:override[:override]"
    )
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--results-dir", default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at a time, sharing the cores out")
    parser.add_argument(
        "--sweep",
        default="miniature",
        help="the sweep folder under --results-dir (mini_main: reuse the campaign); a comma list reads a finished "
        "run from whichever holds it (mini_main,mini_ablation) and trains into the first",
    )
    parser.add_argument(
        "--reuse-only", action="store_true", help="only read finished runs; exit 2 naming the first one missing"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.steps=60")
    args = parser.parse_args()
    names = args.selectors.split(",")
    if args.reuse_only:
        if args.results_dir is None:
            parser.error("--reuse-only needs --results-dir: the folder whose finished runs are read")
        missing = first_missing(names, args.seeds, args.results_dir, args.overrides, args.sweep)
        if missing:
            print(missing, file=sys.stderr)
            raise SystemExit(2)
    for name in names:
        # say which settings a bare name stands for, where the sweep gives it more than its selector
        if list(sweep_variants(args.sweep).get(name, [f"selector={name}"])) != [f"selector={name}"]:
            files = ", ".join(f"sweeps/{sweep}.yaml" for sweep in args.sweep.split(","))
            print(f"arm {name} = {' '.join(arm_overrides(name, args.sweep))} ({files})")
    with tempfile.TemporaryDirectory() as tmp:
        results = args.results_dir or tmp
        runs = run_all(names, args.seeds, results, args.overrides, args.jobs, args.sweep)
    baseline = "random" if "random" in runs else names[0]
    target = float(np.mean([r["pass"][-1] for r in runs[baseline]]))
    print(f"target pass@1 = {target:.3f} ({baseline}'s mean final pass@1 over {args.seeds} seeds)")
    header = f"{'arm':<24}{'steps→target':>24}{'AUC pass@1':>24}{'mixed share':>24}{'final pass@1':>24}"
    print(header + f"{'seed SD':>10}{'max drop':>10}{'reached':>9}")
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
        # steps→target averages the seeds that reached the target; "reached" says how many did
        reached = f"{sum(not math.isnan(x) for x in reach)}/{len(reach)}"
        tail = f"{finals.std(ddof=1):>10.4f}{drop:>10.3f}{reached:>9}"
        print(f"{name:<24}" + "".join(f"{fmt(e):>24}" for e in row) + tail)
    # every run starts from the same warm-started model, so its step-0 evaluations differ only by sampling; the
    # evaluation seed follows the run's seed, so one selector's runs are the distinct samples (the others repeat them)
    starts = np.array([r["pass"][0] for r in runs[names[0]] if r["steps"][0] == 0])
    if len(starts) > 1:
        print(
            f"sampling error of one pass@1 evaluation: {starts.std(ddof=1):.4f} "
            f"(SD of {len(starts)} step-0 evaluations of the same model)"
        )
    for name in names:
        gains = [r["pass"][-1] - r["pass"][0] for r in runs[name]]
        line = f"{name}: held-out gain over the run {fmt(bootstrap_mean(gains))}"
        pool_gains = [r["pool_pass"][-1] - r["pool_pass"][0] for r in runs[name] if len(r["pool_pass"]) > 1]
        if pool_gains:
            line += f", on the training pool {fmt(bootstrap_mean(pool_gains))}"
        early = [r["reward"][: max(1, len(r["reward"]) // 10)].mean() for r in runs[name]]
        late = [r["reward"][-max(1, len(r["reward"]) // 10) :].mean() for r in runs[name]]
        line += f", training accuracy first→last 10% of steps {np.mean(early):.3f}→{np.mean(late):.3f}"
        train_min = np.mean([r["train_s"] for r in runs[name]]) / 60
        if all(r["trained"] for r in runs[name]):
            wall = max(r["finished"] for r in runs[name]) - min(r["started"] for r in runs[name])
            line += f"; arm wall {wall / 60:.1f} min"
        else:
            line += "; arm wall: runs reused"
        print(line + f" (training {train_min:.1f} min per run)")
    for name in names:
        finals = np.array([r["pass"][-1] for r in runs[name]])
        sd = finals.std(ddof=1) if len(finals) > 1 else 0.0
        drop = max(largest_drop(r) for r in runs[name])
        verdict = "met" if sd <= MAX_SEED_SD and drop <= MAX_LATE_DROP else "NOT met"
        print(
            f"{name}: stability {verdict} (seed SD of final pass@1 {sd:.4f} ≤ {MAX_SEED_SD}; "
            f"largest late drop {drop:.3f} ≤ {MAX_LATE_DROP})"
        )
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
