"""WMI's closed-form mutual information against two independent forms, and WMI's choices on hand-made pools."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betaln, comb, digamma

from insight_cli.selectors import build_selector
from insight_cli.selectors.wmi import difficulty_weight, mutual_information

KS = (1, 4, 8, 16)


def beta_entropy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differential entropy of Beta(a, b) in nats."""
    return betaln(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)


def mi_eq13(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """InSight Eq. 13: h(Beta(α, β)) − Σ_s P(S = s)·h(Beta(α + s, β + K − s)), S ~ BetaBinomial(K, α, β)."""
    s = np.arange(k + 1)[:, None]
    p_s = comb(k, s) * np.exp(betaln(a + s, b + k - s) - betaln(a, b))
    return beta_entropy(a, b) - (p_s * beta_entropy(a + s, b + k - s)).sum(axis=0)


def mi_monte_carlo(a: float, b: float, k: int, draws: int, rng: np.random.Generator) -> tuple[float, float]:
    """E[ln p(S|φ) − ln p(S)] over φ ~ Beta(α, β), S ~ Binomial(K, φ); returns (estimate, standard error)."""
    phi = rng.beta(a, b, size=draws)
    s = rng.binomial(k, phi)
    # The binomial coefficient appears in both terms and cancels.
    log_lik = s * np.log(phi) + (k - s) * np.log1p(-phi)
    log_marginal = betaln(a + s, b + k - s) - betaln(a, b)
    sample = log_lik - log_marginal
    return float(sample.mean()), float(sample.std(ddof=1) / np.sqrt(draws))


# ---------------------------------------------------------------- the closed form is the mutual information
@pytest.mark.parametrize("k", KS)
def test_closed_form_equals_eq13_on_random_beliefs(k):
    rng = np.random.default_rng(k)
    a = rng.uniform(0.2, 60.0, size=400)
    b = rng.uniform(0.2, 60.0, size=400)
    np.testing.assert_allclose(mutual_information(a, b, k), mi_eq13(a, b, k), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("k", KS)
def test_closed_form_matches_monte_carlo(k):
    rng = np.random.default_rng(100 + k)
    for a, b in [(1.0, 1.0), (0.6, 2.5), (3.0, 7.0), (25.0, 4.0), (rng.uniform(0.5, 30), rng.uniform(0.5, 30))]:
        estimate, stderr = mi_monte_carlo(a, b, k, draws=200_000, rng=rng)
        exact = float(mutual_information(np.array([a]), np.array([b]), k)[0])
        # 5 standard errors: a wrong formula misses by far more, a right one fails ~1 run in 10⁶.
        assert abs(estimate - exact) < 5 * stderr + 1e-9, (a, b, k, estimate, exact, stderr)


def test_k1_uniform_prior_is_ln2_minus_half_not_one_over_2_n_plus_1():
    # For one rollout from Beta(1, 1): H(R) = ln 2, E[h(φ)] = 1/2, so I = ln 2 − 1/2 ≈ 0.193 (DESIGN's 1/(2(n+1)) =
    # 1/6 is only an approximation).
    value = float(mutual_information(np.array([1.0]), np.array([1.0]), 1)[0])
    assert value == pytest.approx(np.log(2) - 0.5, rel=1e-12)
    assert abs(value - 1 / 6) > 0.02


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("mean", [0.2, 0.5, 0.7])
def test_large_n_limit_is_half_log_one_plus_k_over_n(k, mean):
    n = np.array([2e3, 2e4, 2e5])
    value = mutual_information(mean * n, (1 - mean) * n, k)
    limit = 0.5 * np.log1p(k / n)
    np.testing.assert_allclose(value, limit, rtol=2e-3)


def mi_exact(a: float, b: float, k: int) -> float:
    """The closed form's definition evaluated with 50-digit arithmetic (mpmath), as the ground truth."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        a, b = mp.mpf(a), mp.mpf(b)
        n = a + b
        outcome = mp.mpf(0)
        for s in range(k + 1):
            q = mp.beta(a + s, b + k - s) / mp.beta(a, b)
            outcome -= mp.binomial(k, s) * q * mp.log(q)
        cond = k * (mp.digamma(n + 1) - a / n * mp.digamma(a + 1) - b / n * mp.digamma(b + 1))
        return float(outcome - cond)


@pytest.mark.parametrize(
    ("a", "b", "k", "rtol"),
    [(1e6, 2.0, 16, 1e-6), (1e6, 2.0, 64, 1e-6), (5.0, 3.0, 64, 1e-9), (0.05, 0.05, 64, 1e-9), (1e9, 1.0, 64, 1e-3)],
)
def test_extreme_beliefs_against_high_precision(a, b, k, rtol):
    # (α=10⁹, β=1, K=64) has ln q_0 ≈ −1121 < −700: the log-space fallback takes over. At n = 10⁹ the answer
    # (≈ 3·10⁻⁸) is a difference of O(1) terms, so double precision leaves ~10⁻⁴ relative error.
    value = float(mutual_information(np.array([a]), np.array([b]), k)[0])
    assert np.isfinite(value) and value >= 0
    assert value == pytest.approx(mi_exact(a, b, k), rel=rtol)


def test_blocks_and_shapes_are_elementwise():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 40, size=40_000)  # > one block of 16384
    b = rng.uniform(0.5, 40, size=40_000)
    whole = mutual_information(a, b, 8)
    np.testing.assert_allclose(whole[[5, 20_000, 39_999]], mi_eq13(a[[5, 20_000, 39_999]], b[[5, 20_000, 39_999]], 8))
    assert mutual_information(a[:6].reshape(2, 3), b[:6].reshape(2, 3), 8).shape == (2, 3)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0.1, 500.0),
    b=st.floats(0.1, 500.0),
    k=st.integers(1, 20),
)
def test_information_grows_with_more_rollouts_and_is_nonnegative(a, b, k):
    one = mutual_information(np.array([a]), np.array([b]), k)[0]
    more = mutual_information(np.array([a]), np.array([b]), k + 1)[0]
    assert one >= 0
    assert more >= one - 1e-12


def test_difficulty_weight_shape():
    p = np.array([0.0, 0.3, 0.5, 1.0])
    w = difficulty_weight(p, 0.3, 3.0)
    assert w[0] == 0 and w[3] == 0
    assert w[1] == pytest.approx(0.21)
    assert difficulty_weight(np.array([0.5]), 0.3, 0.0)[0] == pytest.approx(0.25)


# ---------------------------------------------------------------- WMI's choices
def wmi_with(alpha, beta, name="wmi", **cfg):
    sel = build_selector(len(alpha), {"name": name, "mu": 0.3, "eta": 3.0, "lam": 1.0, "K": 8, **cfg}, seed=0)
    sel.alpha = np.asarray(alpha, dtype=np.float64)
    sel.beta = np.asarray(beta, dtype=np.float64)
    return sel


def test_wmi_prefers_an_unexplored_03_prompt_over_a_well_explored_one():
    # Both believed at φ̄ = 0.3: the 10-pseudo-count one carries more information per rollout than the 1000 one.
    sel = wmi_with([300.0, 3.0], [700.0, 7.0])
    assert sel.select(np.array([0, 1]), 1).tolist() == [1]
    assert sel.select(np.array([1, 0]), 1).tolist() == [1]


def test_wmi_prefers_the_weight_peak_at_equal_evidence():
    # Equal evidence n = 20: φ̄ = 0.3 (the weight's centre) beats 0.05 and 0.95.
    sel = wmi_with([1.0, 6.0, 19.0], [19.0, 14.0, 1.0])
    chosen = sel.select(np.array([0, 1, 2]), 1)
    assert chosen.tolist() == [1]
    np.testing.assert_allclose(sel.last_scores, sel.scores(np.array([1])))


def test_wmi_learns_from_updates_and_picks_the_mid_difficulty_prompt():
    sel = wmi_with(np.ones(3), np.ones(3))
    ids = np.array([0, 1, 2])
    for _ in range(5):  # prompt 0 always solved, 1 solved 3/8, 2 never
        sel.update(ids, np.array([8, 3, 0]), np.full(3, 8))
    assert sel.select(ids, 1).tolist() == [1]


def test_ablations_score_their_half_of_the_product():
    alpha, beta = np.array([3.0, 30.0, 9.0]), np.array([7.0, 70.0, 1.0])
    full = wmi_with(alpha, beta).scores(np.arange(3))
    info = wmi_with(alpha, beta, name="wmi_mi_only").scores(np.arange(3))
    weight = wmi_with(alpha, beta, name="wmi_weight_only").scores(np.arange(3))
    np.testing.assert_allclose(full, info * weight)
    np.testing.assert_allclose(info, mutual_information(alpha, beta, 8))
    # MI-only likes the least explored (0), weight-only cannot tell 0 and 1 apart (same φ̄ = 0.3).
    assert weight[0] == pytest.approx(weight[1])
    assert info[0] > info[1]


def test_wmi_sampled_uses_a_thompson_draw_in_the_weight():
    alpha, beta = np.array([3.0, 2.0]), np.array([7.0, 2.0])
    sampled = wmi_with(alpha, beta, name="wmi_sampled")
    rng = np.random.default_rng(0)  # the selector's seed: its first draw is this generator's first draw
    draws = rng.beta(alpha, beta)
    expected = difficulty_weight(draws, 0.3, 3.0) * mutual_information(alpha, beta, 8)
    np.testing.assert_allclose(sampled.scores(np.arange(2)), expected)
    # Concentrated beliefs: the draw is the mean, so wmi_sampled ≈ wmi.
    tight = wmi_with(np.array([3e6, 6e6]), np.array([7e6, 4e6]), name="wmi_sampled")
    mean = wmi_with(np.array([3e6, 6e6]), np.array([7e6, 4e6]))
    np.testing.assert_allclose(tight.scores(np.arange(2)), mean.scores(np.arange(2)), rtol=1e-2)


def test_fast_digamma_paths_match_scipy():
    from scipy.special import digamma as scipy_digamma

    from insight_cli.selectors.wmi import _digamma

    integers = np.arange(1.0, 5000.0)
    assert np.array_equal(_digamma(integers), scipy_digamma(integers))  # table lookup: bit for bit
    rng = np.random.default_rng(0)
    for x in (rng.uniform(1, 12, 1000), rng.uniform(10, 1e9, 1000), np.arange(1.0, 70_000.0)):
        np.testing.assert_allclose(_digamma(x), scipy_digamma(x), rtol=4e-16, atol=0)
