"""DPS: the HMM rule on a scripted outcome sequence, and the lazy (closed-form) state against the eager rule."""

from __future__ import annotations

import numpy as np
import pytest

from insight_cli.selectors import build_selector
from insight_cli.selectors.dps import PARTIAL, SOLVED, UNSOLVED, outcome_state, propagate


def dps(num_prompts: int, lam: float, dtype: str = "float64"):
    return build_selector(num_prompts, {"name": "dps", "lam": lam, "state_dtype": dtype}, seed=0)


def col_normalise(alpha: np.ndarray) -> np.ndarray:
    return alpha / alpha.sum(axis=-2, keepdims=True)


class EagerDPS:
    """The rule exactly as DESIGN §6 states it: every prompt's α_Φ and μ move at every step (float64)."""

    def __init__(self, num_prompts: int, lam: float):
        self.lam = lam
        self.alpha = np.ones((num_prompts, 3, 3))
        self.post = np.full((num_prompts, 3), 1 / 3)  # μ_post,t−1
        self.prior = np.full((num_prompts, 3), 1 / 3)  # μ_prior,t

    def step(self, ids: np.ndarray, states: np.ndarray) -> None:
        e_old = col_normalise(self.alpha)
        xi = np.zeros_like(self.alpha)
        post = self.prior.copy()  # unselected: no observation, μ_post,t = μ_prior,t
        post[ids] = np.eye(3)[states]
        for i, o in zip(ids, states, strict=True):
            joint = np.outer(post[i], self.post[i]) * e_old[i]  # ξ(i, j) ∝ μ_post,t(i)·E[Φ](i, j)·μ_post,t−1(j)
            xi[i] = joint / joint.sum()
            assert xi[i][o].sum() == pytest.approx(1.0)  # all the mass on the observed row
        self.alpha = self.lam * self.alpha + (1 - self.lam) * 1.0 + xi
        self.prior = np.einsum("nij,nj->ni", col_normalise(self.alpha), post)
        self.post = post


# ---------------------------------------------------------------- the rule, by hand
def test_outcome_states():
    assert outcome_state(np.array([0, 3, 8, 1]), np.array([8, 8, 8, 1])).tolist() == [
        UNSOLVED,
        PARTIAL,
        SOLVED,
        SOLVED,
    ]


def test_scripted_sequence_by_hand():
    sel = dps(2, lam=0.5)
    ids = np.array([0])
    # Unseen: uniform belief.
    np.testing.assert_allclose(sel.state_prior(np.array([0, 1])), np.full((2, 3), 1 / 3))
    # Step 1, partial (S=2 of 4): ξ(partial, j) = 1/3 each (E[Φ] = 1/3, μ_post,0 uniform); α_Φ = 1 + ξ;
    # μ_prior = column "partial" of E[Φ] = (1, 4/3, 1) / (10/3).
    sel.update(ids, np.array([2]), np.array([4]))
    alpha, before, prior = sel.beliefs(ids)
    expected_alpha = np.ones((3, 3))
    expected_alpha[PARTIAL] += 1 / 3
    np.testing.assert_allclose(alpha[0], expected_alpha)
    np.testing.assert_allclose(prior[0], [0.3, 0.4, 0.3])
    np.testing.assert_allclose(before[0], [0, 1, 0])
    # Step 2, partial again: ξ = e_partial e_partialᵀ; α_Φ = 0.5·α_Φ + 0.5 + ξ → row partial 7/6 (+1 on the diagonal).
    sel.update(ids, np.array([1]), np.array([4]))
    alpha, _, prior = sel.beliefs(ids)
    expected_alpha = np.ones((3, 3))
    expected_alpha[PARTIAL] = 7 / 6
    expected_alpha[PARTIAL, PARTIAL] += 1
    np.testing.assert_allclose(alpha[0], expected_alpha)
    np.testing.assert_allclose(prior[0], np.array([6, 13, 6]) / 25)
    # Step 3, prompt 0 not selected (prompt 1 is): α_Φ decays toward 1, μ propagates once more.
    sel.update(np.array([1]), np.array([0]), np.array([4]))
    decayed = 0.5 * expected_alpha + 0.5
    alpha, before, prior = sel.beliefs(ids)
    np.testing.assert_allclose(alpha[0], decayed)
    np.testing.assert_allclose(before[0], np.array([6, 13, 6]) / 25)
    np.testing.assert_allclose(prior[0], col_normalise(decayed) @ (np.array([6, 13, 6]) / 25))
    # Step 4, prompt 0 solved: ξ(solved, j) ∝ E[Φ](solved, j)·μ_post,3(j), where μ_post,3 = μ_prior,3 (no
    # observation at step 3) = the prior predicted after step 2.
    sel.update(ids, np.array([4]), np.array([4]))
    e = col_normalise(decayed)
    xi_row = e[SOLVED] * np.array([6, 13, 6]) / 25
    xi_row /= xi_row.sum()
    expected = 0.5 * decayed + 0.5
    expected[SOLVED] += xi_row
    alpha, _, prior_after = sel.beliefs(ids)
    np.testing.assert_allclose(alpha[0], expected)
    np.testing.assert_allclose(prior_after[0], col_normalise(expected)[:, SOLVED])
    # Prompt 1 (observed unsolved once): prior favours unsolved.
    assert sel.state_prior(np.array([1]))[0].argmax() == UNSOLVED


def test_dps_picks_the_prompt_predicted_partial():
    sel = dps(4, lam=0.5)
    sel.update(np.array([0, 1, 2]), np.array([3, 0, 8]), np.array([8, 8, 8]))  # partial, unsolved, solved
    # Partial (μ(partial) = 0.4) > unseen (1/3) > unsolved = solved (0.3).
    assert sel.select(np.array([3, 2, 1, 0]), 2).tolist() == [0, 3]
    np.testing.assert_allclose(sel.last_scores, [0.4, 1 / 3])


# ---------------------------------------------------------------- lazy == eager
def scripted_run(lam: float, dtype: str, steps: int = 120, num_prompts: int = 40, seed: int = 0):
    """Random selections and outcomes; returns the lazy selector and the eager reference after every step."""
    rng = np.random.default_rng(seed)
    lazy, eager = dps(num_prompts, lam, dtype), EagerDPS(num_prompts, lam)
    true_rate = rng.uniform(size=num_prompts)
    for t in range(steps):
        # Bursts and long gaps: some prompts are picked often, some once, some after > 60 idle steps.
        size = int(rng.integers(1, 8))
        pool = np.arange(num_prompts // 2) if t < steps // 2 else np.arange(num_prompts)
        ids = rng.choice(pool, size=size, replace=False)
        succ = rng.binomial(8, true_rate[ids])
        lazy.update(ids, succ, np.full(size, 8))
        eager.step(ids, outcome_state(succ, np.full(size, 8)).astype(np.int64))
        yield t, lazy, eager


@pytest.mark.parametrize("lam", [0.5, 0.7, 0.9, 1.0])
def test_lazy_equals_eager_step_by_step(lam):
    everyone = np.arange(40)
    for _, lazy, eager in scripted_run(lam, "float64"):
        alpha, before, prior = lazy.beliefs(everyone)
        np.testing.assert_allclose(prior, eager.prior, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(before, eager.post, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(alpha, eager.alpha, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_lazy_float32_state_stays_within_single_precision_of_eager(lam):
    everyone = np.arange(40)
    for _, lazy, eager in scripted_run(lam, "float32", seed=1):
        np.testing.assert_allclose(lazy.state_prior(everyone), eager.prior, rtol=2e-6, atol=1e-7)


def test_lazy_equals_eager_on_choices():
    rng = np.random.default_rng(5)
    n, m = 60, 6
    lazy, eager = dps(n, 0.7), EagerDPS(n, 0.7)
    rate = rng.uniform(size=n)
    for _ in range(80):
        pool = rng.choice(n, size=24, replace=False)
        chosen = lazy.select(pool, m)
        expected = pool[np.argsort(-eager.prior[pool, PARTIAL], kind="stable")[:m]]
        assert set(chosen.tolist()) == set(expected.tolist())
        succ = rng.binomial(8, rate[chosen])
        lazy.update(chosen, succ, np.full(m, 8))
        eager.step(chosen, outcome_state(succ, np.full(m, 8)).astype(np.int64))


def test_long_gap_converges_to_uniform_with_decay_and_to_the_chain_limit_without():
    # λ < 1: after a long gap the counts decay to the prior and the belief to uniform.
    counts = np.zeros((1, 3, 3))
    counts[0, PARTIAL, PARTIAL] = 1.5
    _, _, prior = propagate(counts, np.array([PARTIAL]), np.array([10_000]), lam=0.5)
    np.testing.assert_allclose(prior[0], np.full(3, 1 / 3), atol=1e-15)
    # λ = 1: E[Φ]^g e_o for a huge g is the stationary distribution of E[Φ] (a power, not a walk of 10⁹ steps).
    counts = np.random.default_rng(0).uniform(0, 5, size=(1, 3, 3))
    _, before, prior = propagate(counts, np.array([SOLVED]), np.array([10**9]), lam=1.0)
    e = col_normalise(counts[0] + 1)
    values, vectors = np.linalg.eig(e)
    stationary = np.real(vectors[:, np.argmax(np.real(values))])
    np.testing.assert_allclose(prior[0], stationary / stationary.sum(), rtol=1e-10)
    np.testing.assert_allclose(before[0], prior[0], rtol=1e-10)
    # And for a moderate gap it is exactly the matrix power.
    _, before, prior = propagate(counts, np.array([SOLVED]), np.array([13]), lam=1.0)
    # (μ_prior right after the observation is E e_o; 13 idle steps later it is E^14 e_o.)
    np.testing.assert_allclose(prior[0], np.linalg.matrix_power(e, 14)[:, SOLVED], rtol=1e-12)
    np.testing.assert_allclose(before[0], np.linalg.matrix_power(e, 13)[:, SOLVED], rtol=1e-12)


def test_per_step_work_touches_only_the_selected_prompts():
    sel = dps(1000, 0.5)
    before = sel.state_dict()
    sel.update(np.array([3, 7]), np.array([1, 8]), np.array([8, 8]))
    after = sel.state_dict()
    changed = np.flatnonzero((after["counts"] != before["counts"]).any(axis=(1, 2)))
    assert changed.tolist() == [3, 7]
    assert np.flatnonzero(after["last_step"] != before["last_step"]).tolist() == [3, 7]
    assert after["step"] == 1


def test_state_memory_is_flat_arrays():
    sel = dps(1000, 0.5, dtype="float32")
    arrays = [v for v in sel.state_dict().values() if isinstance(v, np.ndarray)]
    # 9 float32 counts + int8 state + int32 step per prompt (+ the 6-word RNG state).
    assert sum(a.nbytes for a in arrays) == 1000 * (36 + 1 + 4) + 48
