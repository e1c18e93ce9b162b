"""The report's metrics (DESIGN.md §5): pass@k, steps and rollouts to a target, speed-ups, bootstrap CIs over seeds.

- pass@k is the unbiased estimator 1 − C(n−c, k)/C(n, k), computed as the product 1 − Π_{i=n−c+1..n} (1 − k/i)
  (no large binomials; shared with the evaluator in ``insight_cli.tasks.passk``). pass@1 = c/n.
- steps_to_target: the first *evaluated* step whose pass@1 ≥ target (optionally on a trailing moving average over
  evaluation points); rollouts_to_target: the cumulative generated completions at that evaluation. NaN if never.
- The default target of a model/task is the final pass@1 of its Random runs, averaged over their seeds.
- Over seeds: the mean and a 95% percentile bootstrap CI (2,000 resamples of the seeds, a fixed RNG seed, values
  sorted first), so the same runs always give the same table. ``bootstrap_ratio`` (the ratio of the mean times of
  the seeds that reached) stays for comparison; the efficiency table shows the per-seed mean only as a labelled
  secondary column, beside the number of seeds that reached.

Speed-ups are measured on seed-mean curves (the papers' figures plot them): an arm's seeds are aligned on the
evaluated steps all of them have, averaged, and steps/rollouts to target read off that mean curve; speed-up =
Random's time / the arm's time. Averaging the times of only the seeds that reach the target would drop the slow
seeds (survivor bias), so a seed never reaching the target is not left out but censored.

Censoring. A mean curve that ends below the target has a time to target that is only known to exceed its last
evaluation L: the interval (L, ∞). A speed-up is the quotient of two such intervals, so an arm that never reaches
gives (0, Random's time / L) — reported as "< bound" — and a Random baseline that never reaches gives
(L_Random / the arm's time, ∞) — "> bound"; both censored leaves (0, ∞), no value. The bootstrap resamples the arm's
seeds and Random's seeds independently (the default target, Random's mean final pass@1, is recomputed from each
Random resample, since the target and Random's own time both come from those seeds) and gives each resample such an
interval. The CI's lower percentile ranks every resample by its interval's lower end and the upper percentile by its
upper end: a never-reaching arm is slower than any reaching one in the lower tail, and in the upper tail counts at
the most its data allow. The CI thus covers whatever the censored curves would have done after their run ended,
whichever way; the share of resamples in which either curve was censored is reported with it.
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
    """Trailing moving average over ``window`` evaluation points (the first points average what exists).

    Along the last axis, so a matrix of curves (one per row, e.g. bootstrap resamples) is smoothed in one call.
    """
    values = np.asarray(values, dtype=np.float64)
    length = values.shape[-1] if values.ndim else 0
    if window <= 1 or length == 0:
        return values
    csum = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values, axis=-1)], axis=-1)
    end = np.arange(1, length + 1)
    start = np.maximum(end - window, 0)
    return (csum[..., end] - csum[..., start]) / (end - start)


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


# --------------------------------------------------------------------------- seed-mean curves
class SeedCurves(NamedTuple):
    """An arm's runs aligned on the evaluated steps that every one of them has, one row per seed.

    Rows are sorted by their values, so the same set of runs gives the same matrix (and bootstrap) in any order.
    """

    steps: np.ndarray  # (T,) ascending
    pass1: np.ndarray  # (n, T)
    rollouts: np.ndarray  # (n, T) cumulative generated completions
    finals: np.ndarray  # (n,) pass@1 at each run's own last evaluation (Random's make the default target)

    @property
    def n(self) -> int:
        return len(self.finals)


class MeanCurve(NamedTuple):
    """The seed-mean pass@1 curve of an arm and its seed-mean cumulative rollouts, at the steps all seeds have."""

    steps: np.ndarray
    pass1: np.ndarray
    rollouts: np.ndarray
    n: int


class Reach(NamedTuple):
    """A time to target or a speed-up on seed-mean curves: the value, its 95% bootstrap CI, and a censoring bound.

    ``bound`` is "" for an exact value, ">" when the true value is above ``value`` and "<" when below (a curve
    ended before reaching the target, see the module docstring); NaN ``value`` when nothing bounds it.
    """

    value: float
    lo: float
    hi: float
    bound: str


class CurveEfficiency(NamedTuple):
    """An arm's efficiency on seed-mean curves: times to target, speed-ups vs Random, share of censored resamples."""

    steps: Reach
    rollouts: Reach
    speedup_steps: Reach
    speedup_rollouts: Reach
    censored: float  # share of resamples in which the arm's or Random's mean curve never reached the target


NO_REACH = Reach(math.nan, math.nan, math.nan, "")


def seed_curves(curves: pd.DataFrame, runs) -> SeedCurves:
    """The runs' curves (``run_curves`` rows) as matrices over the evaluated steps all of them have.

    A mean over seeds is only a mean where every seed was evaluated: a step some seed lacks (not evaluated there,
    or not yet reached by an unfinished run) would change which seeds the mean is over along the curve.
    """
    run = curves["run"].to_numpy()
    mine = np.isin(run, np.asarray(list(runs)))
    if not mine.any():
        return SeedCurves(np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0))
    run_ids, row = np.unique(run[mine], return_inverse=True)
    steps, col = np.unique(curves["step"].to_numpy(dtype=np.float64)[mine], return_inverse=True)
    pass1 = np.full((len(run_ids), len(steps)), np.nan)
    spent = np.full_like(pass1, np.nan)
    pass1[row, col] = curves["pass@1"].to_numpy(dtype=np.float64)[mine]
    spent[row, col] = curves["rollouts"].to_numpy(dtype=np.float64)[mine]
    evaluated = ~np.isnan(pass1)
    last = len(steps) - 1 - np.argmax(evaluated[:, ::-1], axis=1)  # each run's last evaluated step
    finals = pass1[np.arange(len(run_ids)), last]
    common = evaluated.all(axis=0)
    values, spent = pass1[:, common], spent[:, common]
    order = np.lexsort(np.column_stack([finals, values, spent]).T[::-1])  # rows in lexicographic order
    return SeedCurves(steps[common], values[order], spent[order], finals[order])


def mean_curve(curves: pd.DataFrame, runs) -> MeanCurve:
    """The seed-mean pass@1 curve of ``runs`` and their mean cumulative rollouts, at the steps all of them have."""
    seeds = seed_curves(curves, runs)
    if seeds.n == 0:
        return MeanCurve(seeds.steps, np.zeros(0), np.zeros(0), 0)
    return MeanCurve(seeds.steps, seeds.pass1.mean(axis=0), seeds.rollouts.mean(axis=0), seeds.n)


def mean_curve_to_target(curve: MeanCurve, target: float, smooth_window: int = 0) -> tuple[float, float]:
    """(steps, rollouts) at the first evaluation where the seed-mean curve ≥ target; (NaN, NaN) = censored.

    Censored means the mean curve never reaches the target within the steps every seed has.
    """
    return (
        steps_to_target(curve.steps, curve.pass1, target, smooth_window),
        rollouts_to_target(curve.rollouts, curve.pass1, target, smooth_window),
    )


@functools.lru_cache(maxsize=64)
def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """The rows of ``_resamples`` as counts (n_boot × n: how often each seed is drawn); resample means = C @ X / n.

    Counts instead of gathered rows keep the bootstrap of whole curves at n_boot × T memory, not n_boot × n × T,
    and integer counts keep sums of integer rollouts exact.
    """
    indices = _resamples(n, n_boot, seed)
    offsets = (indices + n * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(offsets, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
    counts.flags.writeable = False
    return counts


def _reach_intervals(
    seeds: SeedCurves, counts: np.ndarray, targets: np.ndarray, smooth_window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per resampled mean curve (a row of ``counts``): the interval of steps and of rollouts to its target.

    Reached: [t, t]. Censored: (L, ∞) with L the last evaluation's steps or rollouts — the curve was still below the
    target there. Returns steps_lo, steps_hi, rollouts_lo, rollouts_hi, censored.
    """
    pass1 = smooth(counts @ seeds.pass1 / seeds.n, smooth_window)
    spent = counts @ seeds.rollouts / seeds.n
    hits = pass1 >= (targets - TOL)[:, None]
    censored = ~hits.any(axis=1)
    index = np.where(censored, len(seeds.steps) - 1, hits.argmax(axis=1))
    steps = seeds.steps[index]
    rollouts = np.take_along_axis(spent, index[:, None], axis=1)[:, 0]
    return steps, np.where(censored, np.inf, steps), rollouts, np.where(censored, np.inf, rollouts), censored


def _quotient(num_lo, num_hi, den_lo, den_hi) -> tuple[np.ndarray, np.ndarray]:
    """The interval of a/b for a ∈ [num_lo, num_hi], b ∈ [den_lo, den_hi] (all ≥ 0; x/∞ = 0, x/0 = ∞ for x > 0).

    0/0 needs a time of 0 (the target met at step 0): two exact zeros are equal times, ratio 1; a zero against a
    censored time (which is > 0 even when its curve ended at step 0) is ∞ or 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = num_lo / den_hi, num_hi / den_lo
    lo = np.where(np.isnan(lo), np.where(num_hi == 0, 1.0, np.inf), lo)
    hi = np.where(np.isnan(hi), np.where(den_hi == 0, 1.0, 0.0), hi)
    return lo, hi


def _quantile(samples: np.ndarray, q: float) -> float:
    """Linear-interpolated percentile (numpy's default) that is ∞ when it touches an infinite sample."""
    ordered = np.sort(samples)
    position = q / 100.0 * (len(ordered) - 1)
    below, above = ordered[math.floor(position)], ordered[math.ceil(position)]
    if math.isinf(above):
        return math.inf
    return float(below + (above - below) * (position - math.floor(position)))


def _point(lower: float, upper: float) -> tuple[float, str]:
    """An interval as a reported value: exact, "> lower" (unbounded above), "< upper" (from 0), or NaN."""
    if lower == upper:
        return float(lower), ""
    if math.isinf(upper) and lower > 0:
        return float(lower), ">"
    if lower == 0 and math.isfinite(upper):
        return float(upper), "<"
    return math.nan, ""


def _reach(point: tuple, lowers: np.ndarray, uppers: np.ndarray, level: float, varies: bool) -> Reach:
    """A Reach from the point's interval and the resamples' intervals (lower tail by lower ends, upper by upper)."""
    value, bound = _point(*point)
    if not varies:
        return Reach(value, math.nan, math.nan, bound)
    return Reach(value, _quantile(lowers, 50.0 * (1.0 - level)), _quantile(uppers, 50.0 * (1.0 + level)), bound)


def mean_curve_efficiency(
    arm: SeedCurves,
    base: SeedCurves | None,
    target: float | None = None,
    *,
    is_base: bool = False,
    smooth_window: int = 0,
    n_boot: int = N_BOOT,
    level: float = CI_LEVEL,
    seed: int = BOOT_SEED,
) -> CurveEfficiency:
    """Steps/rollouts to target of the arm's seed-mean curve and its speed-ups vs Random's, with bootstrap CIs.

    ``target`` None: Random's mean final pass@1, recomputed on each resample of Random's seeds. ``base`` = Random's
    seeds (None or empty: no speed-up). ``is_base``: the arm *is* the baseline, so one resample drives both curves.
    Censored curves give bounds and one-sided-unbounded CIs (module docstring); deterministic for given runs.
    """
    have_base = base is not None and base.n > 0 and len(base.steps) > 0
    if arm.n == 0 or len(arm.steps) == 0 or (target is None and not have_base):
        return CurveEfficiency(NO_REACH, NO_REACH, NO_REACH, NO_REACH, math.nan)
    c_arm = _resample_counts(arm.n, n_boot, seed + 1)
    if have_base:
        c_base = _resample_counts(base.n, n_boot, seed)
        if is_base:
            c_arm = c_base
        point_target = np.array([base.finals.mean() if target is None else target])
        targets = c_base @ base.finals / base.n if target is None else np.full(n_boot, float(target))
    else:
        point_target, targets = np.array([float(target)]), np.full(n_boot, float(target))
    mine = _reach_intervals(arm, c_arm, targets, smooth_window)
    mine_point = _reach_intervals(arm, np.ones((1, arm.n)), point_target, smooth_window)
    varies_arm = arm.n >= 2 or (target is None and base.n >= 2)
    steps = _reach((mine_point[0][0], mine_point[1][0]), mine[0], mine[1], level, varies_arm)
    rollouts = _reach((mine_point[2][0], mine_point[3][0]), mine[2], mine[3], level, varies_arm)
    if not have_base:
        return CurveEfficiency(steps, rollouts, NO_REACH, NO_REACH, float(mine[4].mean()))
    theirs = _reach_intervals(base, c_base, targets, smooth_window)
    theirs_point = _reach_intervals(base, np.ones((1, base.n)), point_target, smooth_window)
    varies = arm.n >= 2 or base.n >= 2
    speedups = []
    for lo_i, hi_i in ((0, 1), (2, 3)):  # steps, rollouts: Random's time / the arm's time
        point = _quotient(theirs_point[lo_i], theirs_point[hi_i], mine_point[lo_i], mine_point[hi_i])
        lowers, uppers = _quotient(theirs[lo_i], theirs[hi_i], mine[lo_i], mine[hi_i])
        speedups.append(_reach((point[0][0], point[1][0]), lowers, uppers, level, varies))
    censored = float((mine[4] | theirs[4]).mean())
    return CurveEfficiency(steps, rollouts, *speedups, censored)
