"""Report metrics on hand-made numbers: pass@k, steps/rollouts to target (with smoothing), bootstrap CIs, and
efficiency on seed-mean curves with censoring (survivor bias, bounds, a loop reference of the bootstrap)."""

from __future__ import annotations

import math
from math import comb

import numpy as np
import pandas as pd
import pytest

from insight_cli.report.metrics import (
    BOOT_SEED,
    N_BOOT,
    TOL,
    baseline_targets,
    bootstrap_mean,
    bootstrap_ratio,
    first_reach,
    mean_curve,
    mean_curve_efficiency,
    mean_curve_to_target,
    pass_at_k,
    reach_times,
    rollouts_to_target,
    run_curves,
    seed_curves,
    smooth,
    steps_to_target,
)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 2, 1), (5, 2, 2), (16, 0, 4), (16, 16, 8), (16, 3, 8), (200, 7, 100)])
def test_pass_at_k_is_the_unbiased_estimator(n, c, k):
    assert float(pass_at_k(n, c, k)) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_1_is_the_success_rate():
    np.testing.assert_allclose(pass_at_k(np.full(4, 8), np.array([0, 1, 4, 8]), 1), [0, 0.125, 0.5, 1.0])


STEPS = np.arange(0, 101, 10)


def test_steps_to_target_is_the_first_evaluated_step_at_or_above_it():
    values = STEPS / 100.0
    assert steps_to_target(STEPS, values, 0.5) == 50
    assert steps_to_target(STEPS, values, 0.45) == 50  # between evaluations: the next evaluated step
    assert steps_to_target(STEPS, values, 0.0) == 0
    assert math.isnan(steps_to_target(STEPS, values, 1.01))
    assert math.isnan(steps_to_target(STEPS, values, math.nan))
    assert rollouts_to_target(STEPS * 512, values, 0.5) == 50 * 512


def test_a_dip_after_reaching_the_target_does_not_move_the_step():
    values = np.array([0.1, 0.6, 0.2, 0.3, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8])
    assert steps_to_target(STEPS, values, 0.5) == 10


def test_smoothing_is_a_trailing_moving_average_that_ignores_a_lone_spike():
    values = np.array([0.0, 0.6, 0.2, 0.5, 0.55, 0.6])
    np.testing.assert_allclose(smooth(values, 3), [0.0, 0.3, 0.8 / 3, 1.3 / 3, 1.25 / 3, 1.65 / 3])
    assert first_reach(values, 0.5) == 1
    assert first_reach(values, 0.5, smooth_window=3) == 5
    np.testing.assert_array_equal(smooth(values, 1), values)


def test_bootstrap_of_identical_values_has_zero_width():
    assert tuple(bootstrap_mean([0.25, 0.25, 0.25])) == (0.25, 0.25, 0.25, 3)


def test_bootstrap_bounds_of_two_seeds_are_the_two_values():
    # Resamples of {a, b} have mean a, (a+b)/2 or b with chances 1/4, 1/2, 1/4: both tails hold an atom > 2.5%.
    est = bootstrap_mean([90.0, 100.0])
    assert (est.mean, est.lo, est.hi, est.n) == (95.0, 90.0, 100.0, 2)


def test_bootstrap_is_deterministic_and_ignores_order_and_nan():
    a = bootstrap_mean([0.3, 0.1, 0.5, 0.2, math.nan])
    b = bootstrap_mean([0.5, 0.2, 0.1, 0.3])
    assert a == b
    assert a.n == 4 and a.lo < a.mean < a.hi
    assert 0.1 <= a.lo and a.hi <= 0.5


def test_bootstrap_of_one_seed_has_no_interval_and_of_none_no_mean():
    one = bootstrap_mean([0.4])
    assert one.mean == 0.4 and math.isnan(one.lo) and math.isnan(one.hi) and one.n == 1
    assert math.isnan(bootstrap_mean([math.nan]).mean)


def test_bootstrap_ratio_point_and_bounds():
    est = bootstrap_ratio([90.0, 100.0], [40.0, 50.0, 60.0])
    assert est.mean == pytest.approx(1.9)
    assert 1.5 < est.lo < est.mean < est.hi < 2.5  # strictly inside [min, max] of the resampled ratios
    assert bootstrap_ratio([100.0, 90.0], [60.0, 40.0, 50.0]) == est
    assert tuple(bootstrap_ratio([2.0, 2.0], [1.0, 1.0]))[:3] == (2.0, 2.0, 2.0)
    assert math.isnan(bootstrap_ratio([], [1.0]).mean)


def evals_frame(rows: list[tuple[int, int, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["run", "step", "benchmark", "pass@1"])
    frame["rollouts"] = frame["step"] * 512.0
    frame["wall_s"] = np.nan
    return frame


def test_curves_average_benchmarks_only_where_all_were_evaluated():
    frame = evals_frame([(0, 0, "a", 0.2), (0, 0, "b", 0.4), (0, 10, "a", 0.6), (0, 10, "b", 0.8), (0, 20, "a", 0.9)])
    curves = run_curves(frame)
    assert curves["step"].tolist() == [0, 10]
    np.testing.assert_allclose(curves["pass@1"], [0.3, 0.7])
    assert run_curves(frame, benchmark="a")["step"].tolist() == [0, 10, 20]


def test_targets_and_reach_times_per_run():
    runs = pd.DataFrame({"run": [0, 1, 2], "model": "m", "task": "t", "selector": ["random", "random", "wmi"]})
    rows = [(r, s, "a", s / d) for r, d in ((0, 200), (1, 100), (2, 50)) for s in range(0, 101, 10)]
    curves = run_curves(evals_frame(rows))
    targets = baseline_targets(runs, curves)
    assert targets["target"].tolist() == [0.75]  # mean of Random's finals 0.5 and 1.0
    reach = reach_times(runs, curves, targets).set_index("run")
    assert math.isnan(reach.at[0, "steps_to_target"])
    assert reach.at[1, "steps_to_target"] == 80
    assert reach.at[2, "steps_to_target"] == 40
    assert reach.at[2, "rollouts_to_target"] == 40 * 512
    given = reach_times(runs, curves, baseline_targets(runs, curves, target=0.25)).set_index("run")
    assert given["steps_to_target"].tolist() == [50, 30, 20]


def test_smoothing_a_matrix_smooths_each_row():
    rows = np.array([[0.0, 0.6, 0.2, 0.5], [1.0, 1.0, 4.0, 1.0]])
    np.testing.assert_allclose(smooth(rows, 3), [smooth(rows[0], 3), smooth(rows[1], 3)])


# --------------------------------------------------------------------------- seed-mean curves
def curves_frame(seeds: dict[int, tuple[np.ndarray, np.ndarray, float]]) -> pd.DataFrame:
    """run → (steps, pass@1, rollouts per step) as ``run_curves`` rows."""
    rows = [
        (run, step, step * per_step, value)
        for run, (steps, values, per_step) in seeds.items()
        for step, value in zip(steps, values, strict=True)
    ]
    return pd.DataFrame(rows, columns=["run", "step", "rollouts", "pass@1"])


def test_mean_curve_uses_the_steps_every_seed_has_and_their_mean_rollouts():
    curves = curves_frame(
        {
            0: (STEPS, STEPS / 100.0, 1000.0),
            1: (STEPS[:6], STEPS[:6] / 50.0, 1400.0),  # unfinished: evaluated up to step 50
            2: (np.array([0, 5, 10, 20]), np.array([0.0, 0.9, 0.1, 0.2]), 1000.0),  # step 5: only this seed
        }
    )
    curve = mean_curve(curves, [0, 1])
    np.testing.assert_array_equal(curve.steps, [0, 10, 20, 30, 40, 50])
    np.testing.assert_allclose(curve.pass1, 1.5 * curve.steps / 100.0)
    np.testing.assert_allclose(curve.rollouts, 1200.0 * curve.steps)
    assert curve.n == 2
    assert mean_curve_to_target(curve, 0.45) == (30.0, 36000.0)
    assert all(math.isnan(v) for v in mean_curve_to_target(curve, 0.8))  # censored: 0.75 at step 50, the last
    np.testing.assert_array_equal(mean_curve(curves, [0, 1, 2]).steps, [0, 10, 20])
    assert seed_curves(curves, [0, 1]).finals.tolist() == [1.0, 1.0]  # each seed's own last evaluation
    assert mean_curve(curves, [7]).n == 0


def survivor_example() -> tuple[pd.DataFrame, list[int], list[int]]:
    """Random: 4 seeds climb to 0.3, 2 lucky ones jump to 0.9 by step 20 → target (4·0.3 + 2·0.9)/6 = 0.5.

    Per seed only the lucky two reach it (step 20, mean 20); the arm's 3 seeds reach it at 40, so the mean over the
    reaching seeds calls the arm 2× *slower* (20/40). Random's mean curve 0.003·t·4/6 + 0.9·2/6 (t ≥ 20) is first
    ≥ 0.5 at step 100 (0.48 at 90): on mean curves the arm is 100/40 = 2.5× faster. The arm spends 1,024 rollouts a
    step, Random 512: 51,200 / 40,960 = 1.25× in rollouts.
    """
    seeds = {run: (STEPS, 0.003 * STEPS, 512.0) for run in range(4)}
    seeds |= {run: (STEPS, np.minimum(0.045 * STEPS, 0.9), 512.0) for run in (4, 5)}
    seeds |= {run: (STEPS, np.minimum(STEPS / 80.0, 0.8), 1024.0) for run in (6, 7, 8)}
    return curves_frame(seeds), [0, 1, 2, 3, 4, 5], [6, 7, 8]


def test_survivor_bias_flips_the_speedup_and_the_mean_curve_gives_the_hand_computed_one():
    curves, random_ids, arm_ids = survivor_example()
    runs = pd.DataFrame({"run": random_ids + arm_ids, "model": "m", "task": "t"})
    runs["selector"] = ["random"] * 6 + ["wmi"] * 3
    targets = baseline_targets(runs, curves)
    assert targets["target"].iat[0] == pytest.approx(0.5)
    reach = reach_times(runs, curves, targets).set_index("run")["steps_to_target"]
    per_seed = bootstrap_ratio(reach.reindex(random_ids).to_numpy(), reach.reindex(arm_ids).to_numpy())
    assert per_seed.mean == pytest.approx(0.5)  # the survivor-biased figure: 20 / 40

    random_curve = mean_curve(curves, random_ids)
    assert mean_curve_to_target(random_curve, targets["target"].iat[0]) == (100.0, 51200.0)
    assert mean_curve_to_target(mean_curve(curves, arm_ids), 0.5) == (40.0, 40960.0)
    eff = mean_curve_efficiency(seed_curves(curves, arm_ids), seed_curves(curves, random_ids))
    assert (eff.steps.value, eff.steps.bound) == (40.0, "")
    assert (eff.rollouts.value, eff.rollouts.bound) == (40960.0, "")
    assert (eff.speedup_steps.value, eff.speedup_steps.bound) == (2.5, "")
    assert eff.speedup_rollouts.value == pytest.approx(1.25)
    assert eff.speedup_steps.lo < 2.5 < eff.speedup_steps.hi
    # the only censored resamples: all six Random seeds drawn lucky (target 0.9, the arm tops out at 0.8)
    assert eff.censored == pytest.approx((2 / 6) ** 6, abs=0.003)


def test_an_arm_whose_mean_curve_never_reaches_gets_bounds_not_a_value():
    curves, random_ids, _ = survivor_example()
    slow = curves_frame({9: (STEPS, 0.002 * STEPS, 512.0), 10: (STEPS, 0.0025 * STEPS, 512.0)})  # ≤ 0.25 < 0.3
    curves = pd.concat([curves, slow], ignore_index=True)
    eff = mean_curve_efficiency(seed_curves(curves, [9, 10]), seed_curves(curves, random_ids))
    # its time is beyond its last evaluation (step 100): steps > 100, speed-up < Random's 100 / 100
    assert (eff.steps.value, eff.steps.bound, eff.steps.lo, eff.steps.hi) == (100.0, ">", 100.0, math.inf)
    assert (eff.rollouts.value, eff.rollouts.bound) == (51200.0, ">")
    assert (eff.speedup_steps.value, eff.speedup_steps.bound) == (1.0, "<")
    assert (eff.speedup_steps.lo, eff.speedup_steps.hi) == (0.0, 1.0)  # slower than any reaching resample
    assert eff.censored == 1.0
    # a given target that Random's mean curve misses too: both censored, no value, an unbounded CI
    both = mean_curve_efficiency(seed_curves(curves, [9, 10]), seed_curves(curves, random_ids), target=0.95)
    assert math.isnan(both.speedup_steps.value) and both.speedup_steps.bound == ""
    assert (both.speedup_steps.lo, both.speedup_steps.hi) == (0.0, math.inf)
    # Random misses, the arm reaches: a lower bound, Random's last step / the arm's time
    curves = pd.concat([curves, curves_frame({14: (STEPS, np.minimum(STEPS / 50.0, 1.0), 512.0)})], ignore_index=True)
    fast = mean_curve_efficiency(seed_curves(curves, [14]), seed_curves(curves, random_ids), target=0.95)
    assert (fast.steps.value, fast.steps.bound) == (50.0, "")  # one seed and a given target: no CI
    assert math.isnan(fast.steps.lo) and math.isnan(fast.steps.hi)
    assert (fast.speedup_steps.value, fast.speedup_steps.bound) == (2.0, ">")  # Random's time > 100
    assert (fast.speedup_steps.lo, fast.speedup_steps.hi) == (2.0, math.inf)
    # both at the target from step 0: equal times
    zero = mean_curve_efficiency(seed_curves(curves, [9, 10]), seed_curves(curves, random_ids), target=0.0)
    assert (zero.steps.value, zero.speedup_steps.value, zero.speedup_steps.bound) == (0.0, 1.0, "")


def test_a_partly_censored_arm_has_a_lower_ci_bound_of_zero():
    curves, random_ids, _ = survivor_example()
    mixed = curves_frame(
        {11: (STEPS, np.minimum(STEPS / 40.0, 1.0), 512.0), 12: (STEPS, np.minimum(STEPS / 40.0, 1.0), 512.0)}
    )
    mixed = pd.concat([mixed, curves_frame({13: (STEPS, np.zeros(len(STEPS)), 512.0)})], ignore_index=True)
    curves = pd.concat([curves, mixed], ignore_index=True)
    eff = mean_curve_efficiency(seed_curves(curves, [11, 12, 13]), seed_curves(curves, random_ids))
    assert (eff.steps.value, eff.speedup_steps.value) == (30.0, pytest.approx(100 / 30))  # mean 2t/120 ≥ 0.5
    assert 0.025 < eff.censored < 1.0  # e.g. resamples of the flat seed alone (1 in 27)
    assert eff.speedup_steps.lo == 0.0 and eff.steps.hi == math.inf
    assert math.isfinite(eff.speedup_steps.hi)  # a censored arm resample is at most Random's time / its last step


def test_mean_curve_bootstrap_is_deterministic_whatever_the_run_order():
    curves, random_ids, arm_ids = survivor_example()
    first = mean_curve_efficiency(seed_curves(curves, arm_ids), seed_curves(curves, random_ids))
    assert mean_curve_efficiency(seed_curves(curves, arm_ids), seed_curves(curves, random_ids)) == first
    renumbered = curves.assign(run=curves["run"].map(lambda r: 100 - r))  # same runs, reversed order
    again = mean_curve_efficiency(
        seed_curves(renumbered, [100 - r for r in arm_ids]), seed_curves(renumbered, [100 - r for r in random_ids])
    )
    assert again == first
    assert mean_curve_efficiency(seed_curves(curves, arm_ids), seed_curves(curves, random_ids), seed=1) != first


def reference_efficiency(arm: np.ndarray, base: np.ndarray, steps: np.ndarray, target: float | None):
    """The documented rule, one resample at a time: (speed-up in steps, lo, hi, censored share).

    ``arm``/``base``: seeds × steps, rows already in the order ``seed_curves`` puts them (by final value here).
    """

    def reach(curve, goal):  # interval of the step where ``curve`` first reaches ``goal``
        hits = [i for i, v in enumerate(curve) if v >= goal - TOL]
        return (steps[hits[0]], steps[hits[0]]) if hits else (steps[-1], math.inf)

    def ratio(a, b):
        return 1.0 if a == b == 0 else (math.inf if b == 0 else a / b)

    def quantile(samples, q):
        ordered = sorted(samples)
        pos = q / 100 * (len(ordered) - 1)
        below, above = ordered[math.floor(pos)], ordered[math.ceil(pos)]
        return math.inf if above == math.inf else below + (above - below) * (pos - math.floor(pos))

    def interval(a_rows, b_rows):
        goal = base[b_rows, -1].mean() if target is None else target
        r_lo, r_hi = reach(base[b_rows].mean(axis=0), goal)
        a_lo, a_hi = reach(arm[a_rows].mean(axis=0), goal)
        return ratio(r_lo, a_hi), ratio(r_hi, a_lo), a_hi == math.inf or r_hi == math.inf

    base_draws = np.random.default_rng(BOOT_SEED).integers(0, len(base), size=(N_BOOT, len(base)))
    arm_draws = np.random.default_rng(BOOT_SEED + 1).integers(0, len(arm), size=(N_BOOT, len(arm)))
    lows, highs, censored = zip(*(interval(a, b) for a, b in zip(arm_draws, base_draws, strict=True)), strict=True)
    point = interval(np.arange(len(arm)), np.arange(len(base)))
    return point, quantile(lows, 2.5), quantile(highs, 97.5), float(np.mean(censored))


@pytest.mark.parametrize(
    ("target", "bound"),
    [(None, ""), (0.5, ""), (0.55, ">")],  # censored resamples: arm (lo = 0), Random (hi = ∞), Random's mean curve
)
def test_mean_curve_bootstrap_matches_a_loop_over_resamples(target, bound):
    rng = np.random.default_rng(3)
    steps = np.arange(0, 201, 20)
    rates = {"base": np.sort(rng.uniform(0.6, 1.2, 5)), "arm": np.sort(rng.uniform(0.5, 1.8, 4))}
    matrices = {
        name: np.clip(0.6 * (1 - np.exp(-np.outer(r, steps) / 80)) + rng.normal(0, 0.02, (len(r), len(steps))), 0, 1)
        for name, r in rates.items()
    }
    matrices = {name: m[np.argsort(m[:, -1])] for name, m in matrices.items()}  # seed_curves' order: by final
    frame = curves_frame(
        {
            offset + i: (steps, row, 512.0)
            for offset, name in ((0, "base"), (10, "arm"))
            for i, row in enumerate(matrices[name])
        }
    )
    eff = mean_curve_efficiency(seed_curves(frame, range(10, 14)), seed_curves(frame, range(5)), target)
    point, lo, hi, censored = reference_efficiency(matrices["arm"], matrices["base"], steps, target)
    low, high, _ = point
    assert eff.speedup_steps.bound == bound
    assert eff.speedup_steps.value == pytest.approx(high if bound == "<" else low)
    assert (eff.speedup_steps.lo, eff.speedup_steps.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert eff.censored == pytest.approx(censored)
    assert 0.0 < censored < 1.0  # the example exercises censoring
