"""Report metrics on hand-made numbers: pass@k, steps/rollouts to target (with smoothing), bootstrap CIs."""

from __future__ import annotations

import math
from math import comb

import numpy as np
import pandas as pd
import pytest

from insight_cli.report.metrics import (
    baseline_targets,
    bootstrap_mean,
    bootstrap_ratio,
    first_reach,
    pass_at_k,
    reach_times,
    rollouts_to_target,
    run_curves,
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
