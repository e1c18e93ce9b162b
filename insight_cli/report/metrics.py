"""The report's metrics (DESIGN.md §5): pass@k, steps and rollouts to a target, speed-ups, bootstrap CIs over seeds.

- pass@k is the unbiased estimator 1 − C(n−c, k)/C(n, k), computed as the product 1 − Π_{i=n−c+1..n} (1 − k/i)
  (no large binomials; shared with the evaluator in ``insight_cli.tasks.passk``). pass@1 = c/n.
- steps_to_target: the first *evaluated* step whose pass@1 ≥ target (optionally on a trailing moving average over
  evaluation points); rollouts_to_target: the cumulative generated completions at that evaluation. NaN if never.
- The default target of a model/task is the final pass@1 of its Random runs, averaged over their seeds.
- Over seeds: the mean and a 95% percentile bootstrap CI (2,000 resamples of the seeds, a fixed RNG seed, values
  sorted first), so the same runs always give the same table. A speed-up resamples the Random seeds and the arm's
  seeds independently and takes the ratio of the two means. Seeds that never reach the target are left out of the
  mean and counted in a ``reached`` column instead.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd

N_BOOT = 2000
CI_LEVEL = 0.95
BOOT_SEED = 0
SMOOTH_WINDOW = 3  # evaluation points averaged by --smooth
# pass@1 ≥ target − TOL counts as reaching it: the default target is a mean of finals, exact up to rounding.
TOL = 1e-9


class Estimate(NamedTuple):
    """A mean over seeds with its 95% bootstrap CI (NaN bounds when fewer than two seeds)."""

    mean: float
    lo: float
    hi: float
    n: int


# --------------------------------------------------------------------------- per run
def pass_at_k(n, c, k: int) -> np.ndarray:
    """Unbiased pass@k for n samples with c correct (arrays broadcast): 1 − C(n−c, k)/C(n, k).

    The product form lives in ``insight_cli.tasks.passk`` (the evaluator uses it too); imported here on first use.
    """
    from insight_cli.tasks.passk import pass_at_k as product_form

    return product_form(n, c, k)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` evaluation points (the first points average what exists)."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    csum = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    return (csum[end] - csum[start]) / (end - start)


def first_reach(values: np.ndarray, target: float, smooth_window: int = 0) -> int:
    """Index of the first evaluation whose (smoothed) pass@1 ≥ target, or −1."""
    if not math.isfinite(target):
        return -1
    hits = np.flatnonzero(smooth(values, smooth_window) >= target - TOL)
    return int(hits[0]) if len(hits) else -1


def steps_to_target(steps: np.ndarray, values: np.ndarray, target: float, smooth_window: int = 0) -> float:
    """The first evaluated step where pass@1 ≥ target (NaN if never). ``steps`` ascending, one per value."""
    index = first_reach(values, target, smooth_window)
    return float(np.asarray(steps)[index]) if index >= 0 else math.nan


def rollouts_to_target(rollouts: np.ndarray, values: np.ndarray, target: float, smooth_window: int = 0) -> float:
    """Cumulative generated completions at the first evaluation where pass@1 ≥ target (NaN if never)."""
    index = first_reach(values, target, smooth_window)
    return float(np.asarray(rollouts)[index]) if index >= 0 else math.nan


# --------------------------------------------------------------------------- over seeds
def _finite_sorted(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return np.sort(array[np.isfinite(array)])


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return float(lo), float(hi)


@functools.lru_cache(maxsize=64)
def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The bootstrap's index matrix (n_boot × n): fixed for given sizes and seed, so it is drawn once and reused."""
    indices = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    indices.flags.writeable = False
    return indices


def bootstrap_mean(values, *, n_boot: int = N_BOOT, level: float = CI_LEVEL, seed: int = BOOT_SEED) -> Estimate:
    """Mean of the finite values and its percentile-bootstrap CI; deterministic for the same set of values."""
    v = _finite_sorted(values)
    if len(v) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    if len(v) == 1:
        return Estimate(float(v[0]), math.nan, math.nan, 1)
    means = v[_resamples(len(v), n_boot, seed)].mean(axis=1)
    return Estimate(float(v.mean()), *_bounds(means, level), len(v))


def bootstrap_ratio(
    numerator, denominator, *, n_boot: int = N_BOOT, level: float = CI_LEVEL, seed: int = BOOT_SEED
) -> Estimate:
    """mean(numerator) / mean(denominator), the two seed sets resampled independently; ``n`` = denominator seeds."""
    a, b = _finite_sorted(numerator), _finite_sorted(denominator)
    if len(a) == 0 or len(b) == 0:
        return Estimate(math.nan, math.nan, math.nan, len(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        point = float(np.float64(a.mean()) / np.float64(b.mean()))
        if len(a) < 2 and len(b) < 2:
            return Estimate(point, math.nan, math.nan, len(b))
        mean_a = a[_resamples(len(a), n_boot, seed)].mean(axis=1)
        mean_b = b[_resamples(len(b), n_boot, seed + 1)].mean(axis=1)
        return Estimate(point, *_bounds(mean_a / mean_b, level), len(b))


# --------------------------------------------------------------------------- frames
def run_curves(evals: pd.DataFrame, benchmark: str | None = None) -> pd.DataFrame:
    """Per run × step: pass@1 averaged over the run's benchmarks, at the steps where all of them were evaluated.

    Columns: run, step, rollouts, pass@1 (sorted by run, step). ``benchmark`` keeps a single one instead.
    """
    frame = evals if benchmark is None else evals[evals["benchmark"] == benchmark]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in ("run", "step", "rollouts", "pass@1")})
    grouped = frame.groupby(["run", "step"], sort=True, observed=True)
    curves = grouped.agg(
        **{"pass@1": ("pass@1", "mean"), "rollouts": ("rollouts", "max")},
        n=("pass@1", "size"),
    ).reset_index()
    expected = frame.groupby("run", observed=True)["benchmark"].nunique()
    complete = curves["n"].to_numpy() == expected.reindex(curves["run"]).to_numpy()
    return curves.loc[complete, ["run", "step", "rollouts", "pass@1"]].reset_index(drop=True)


def final_values(curves: pd.DataFrame) -> pd.Series:
    """pass@1 at each run's last complete evaluation, indexed by run."""
    return curves.groupby("run", sort=True)["pass@1"].last()


def baseline_targets(runs: pd.DataFrame, curves: pd.DataFrame, target: float | None = None) -> pd.DataFrame:
    """Per model/task: the target (given, or Random's final pass@1 averaged over its seeds) and its source."""
    finals = final_values(curves)
    rows = []
    for (model, task), block in runs.groupby(["model", "task"], sort=False, dropna=False):
        random_finals = finals.reindex(block.loc[block["selector"] == "random", "run"]).dropna()
        if target is not None:
            value, source = float(target), "given"
        elif len(random_finals):
            value, source = float(random_finals.mean()), f"random final ({len(random_finals)} seeds)"
        else:
            value, source = math.nan, "none"
        rows.append({"model": model, "task": task, "target": value, "source": source, "n_random": len(random_finals)})
    return pd.DataFrame(rows, columns=["model", "task", "target", "source", "n_random"])


def reach_times(
    runs: pd.DataFrame, curves: pd.DataFrame, targets: pd.DataFrame, smooth_window: int = 0
) -> pd.DataFrame:
    """Per run: its target, steps_to_target and rollouts_to_target (NaN if not reached or no target)."""
    target_of = {(t.model, t.task): t.target for t in targets.itertuples()}
    run_target = {r.run: target_of.get((r.model, r.task), math.nan) for r in runs.itertuples()}
    run = curves["run"].to_numpy()
    steps, rollouts, values = (curves[c].to_numpy(dtype=np.float64) for c in ("step", "rollouts", "pass@1"))
    bounds = np.flatnonzero(np.diff(run)) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(run)]])
    rows = []
    for start, end in zip(starts, ends, strict=True):
        if end <= start:
            continue
        rid = run[start]
        target = run_target.get(rid, math.nan)
        index = first_reach(values[start:end], target, smooth_window)
        reached = index >= 0
        rows.append(
            {
                "run": rid,
                "target": target,
                "steps_to_target": steps[start + index] if reached else math.nan,
                "rollouts_to_target": rollouts[start + index] if reached else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["run", "target", "steps_to_target", "rollouts_to_target"])
