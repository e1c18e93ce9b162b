"""DPS — Dynamics-Predictive Sampling (Mao et al., arXiv 2603.10887): a 3-state hidden Markov model per prompt.

    choose the M candidates with the largest μ_prior,t(partial)

Each prompt's solving progress is a Markov chain over three states, observed whenever the prompt is rolled out:
unsolved (S = 0), partial (0 < S < K), solved (S = K). Its transition matrix Φ (column j = the distribution of the
next state given state j) has a Dirichlet(α₀ = 1) prior on every column, so E[Φ](i, j) = α_Φ(i, j) / Σ_k α_Φ(k, j).
The state belief starts uniform. At every training step t (one ``update`` call):

- selected prompt, observed state o (μ_post,t = e_o):
      ξ(i, j) ∝ μ_post,t(i) · E[Φ](i, j) · μ_post,t−1(j)          (joint posterior of the last transition, Σξ = 1)
      α_Φ ← λ·α_Φ + (1−λ)·α₀ + ξ,      μ_prior,t+1 = E[Φ] μ_post,t   (E[Φ] of the updated α_Φ)
- every other prompt (no observation, μ_post,t = μ_prior,t):
      α_Φ ← λ·α_Φ + (1−λ)·α₀,          μ_prior,t+1 = E[Φ] μ_prior,t

The second rule touches every prompt every step (what makes the reference implementation cost seconds per step at
10⁷ prompts). Here it is applied lazily: a prompt's state is stored only as of its last observation (α_Φ − α₀,
the observed state, the step), and when it is next a candidate or selected the g skipped steps are replayed in
closed form, vectorised over the candidates only:

- α_Φ after g skipped steps is α₀ + λ^g·(α_Φ − α₀) exactly;
- λ < 1: the g propagations μ ← E[Φ_s] μ run as one loop over s, each pass over the candidates whose gap is ≥ s;
  once λ^s·max(α_Φ − α₀) < 2⁻⁶⁰·α₀, E[Φ_s] equals the uniform matrix to double precision and μ is uniform, so the
  loop stops there: at most ≈ 61 passes at λ = 0.5, ≈ 120 at λ = 0.7, whatever the gap;
- λ = 1: E[Φ] is constant, and E[Φ]^g comes from batched repeated squaring (≤ 31 passes).

A never-observed prompt sits at the fixed point (α_Φ = α₀, uniform μ) and costs nothing. ``tests/test_dps.py``
checks the lazy result against the eager step-by-step rule. α_Φ − α₀ is stored in float32 by default
(``state_dtype``): 360 MB for 10⁷ prompts instead of 720 MB; float64 makes the state exact to the last bit.

Defaults: λ = 0.5 with pool factor M̂/M = 8 (Countdown); λ = 0.7 with factor 32 on math (``pool=32``).
``last_scores`` holds μ_prior(partial) of the chosen prompts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from insight_cli.selectors.base import (
    Selector,
    SelectorConfigError,
    StateDict,
    as_ids,
    check_outcomes,
    check_range,
)

UNSOLVED, PARTIAL, SOLVED = 0, 1, 2
NUM_STATES = 3
ALPHA0 = 1.0  # Dirichlet prior of every transition-matrix column (DPS default)
# Once λ^s·max(α_Φ − α₀) falls below this (relative to α₀), E[Φ] is the uniform matrix to double precision.
_CONVERGED = 2.0**-60
_DTYPES = {"float32": np.float32, "float64": np.float64}


def outcome_state(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """The observed HMM state of each group: 0 unsolved (S = 0), 1 partial (0 < S < K), 2 solved (S = K)."""
    s = np.asarray(successes, dtype=np.float64)
    k = np.asarray(trials, dtype=np.float64)
    return np.where(s <= 0, UNSOLVED, np.where(s >= k, SOLVED, PARTIAL)).astype(np.int8)


def expected_transition(alpha: np.ndarray) -> np.ndarray:
    """E[Φ] of Dirichlet columns: α(i, j) / Σ_k α(k, j), batched over the leading axis."""
    return alpha / alpha.sum(axis=-2, keepdims=True)


def propagate(
    counts: np.ndarray, state: np.ndarray, gap: np.ndarray, lam: float, alpha0: float = ALPHA0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replay ``gap`` unobserved steps after each prompt's last observation, in closed form.

    ``counts`` (n, 3, 3) is α_Φ − α₀ right after the observation of state ``state`` (n,), ``gap`` (n,) the number of
    steps since. Returns α_Φ now (n, 3, 3), μ_post of the previous step (n, 3) — the μ_post,t−1 of the next ξ — and
    μ_prior now (n, 3), exactly as ``gap`` eager steps of the unselected rule would leave them.
    """
    d = np.asarray(counts, dtype=np.float64)
    state = np.asarray(state, dtype=np.int64)
    gap = np.asarray(gap, dtype=np.int64)
    n = len(state)
    rows = np.arange(n)
    alpha_last = d + alpha0
    # μ_prior right after the observation: column o of E[Φ]; μ_post of that step: e_o.
    prior = alpha_last[rows, :, state] / alpha_last[rows, :, state].sum(axis=1, keepdims=True)
    before = np.zeros((n, NUM_STATES))
    before[rows, state] = 1.0
    if lam < 1.0:
        alpha_now = alpha0 + d * (lam ** gap.astype(np.float64))[:, None, None]
        _propagate_decaying(d, gap, lam, alpha0, prior, before)
    else:
        alpha_now = alpha_last
        _propagate_constant(expected_transition(alpha_last), gap, prior, before)
    return alpha_now, before, prior


def _propagate_decaying(
    d: np.ndarray, gap: np.ndarray, lam: float, alpha0: float, prior: np.ndarray, before: np.ndarray
) -> None:
    """λ < 1: μ ← E[α₀ + λ^s·d] μ for s = 1..gap, in place; stops once E[Φ] is uniform to double precision."""
    dmax = d.max(axis=(1, 2))
    with np.errstate(divide="ignore"):
        needed = np.ceil(np.log(_CONVERGED * alpha0 / dmax) / np.log(lam))
    needed = np.where(dmax > 0, np.maximum(needed, 0), 0).astype(np.int64)
    steps = np.minimum(gap, needed)
    order = np.argsort(-steps, kind="stable")
    steps_sorted = steps[order]
    d_sorted = d[order]
    col_sorted = d_sorted.sum(axis=1)  # Σ_i d(i, j): column sums
    mu = prior[order]
    prev = before[order]
    # Active prompts at pass s are a prefix of the sorted order: those with steps ≥ s.
    passes = np.arange(1, int(steps_sorted[0]) + 1 if len(steps_sorted) else 1)
    active = np.searchsorted(-steps_sorted, -passes, side="right")
    for s, k in enumerate(active, start=1):
        x = lam**s
        w = mu[:k] / (NUM_STATES * alpha0 + x * col_sorted[:k])  # μ(j) / Σ_i α_s(i, j)
        prev[:k] = mu[:k]
        # E[Φ_s] μ = Σ_j α_s(i, j)·w(j) with α_s = α₀ + x·d
        mu[:k] = alpha0 * w.sum(axis=1, keepdims=True) + x * np.einsum("kij,kj->ki", d_sorted[:k], w)
    # Prompts whose gap outlived convergence: μ is uniform to double precision, before and after.
    stale = steps_sorted < gap[order]
    prev[stale] = mu[stale]
    prior[order] = mu
    before[order] = prev


def _propagate_constant(e: np.ndarray, gap: np.ndarray, prior: np.ndarray, before: np.ndarray) -> None:
    """λ = 1: before = E^g e_o and prior = E^(g+1) e_o by batched repeated squaring (≤ 31 passes), in place."""
    moved = np.flatnonzero(gap > 0)
    if len(moved) == 0:
        return
    v = before[moved]  # e_o
    power = e[moved]
    h = gap[moved].copy()
    idx = np.arange(len(moved))
    while len(idx):
        sel = idx[(h[idx] & 1).astype(bool)]
        v[sel] = np.einsum("kij,kj->ki", power[sel], v[sel])
        h[idx] >>= 1
        idx = idx[h[idx] > 0]
        if len(idx):
            squared = power[idx] @ power[idx]
            # Renormalise the columns: squaring doubles any rounding drift off the stochastic matrices, which would
            # grow as 2^passes; projected back each pass, the error stays at a few ulps.
            power[idx] = squared / squared.sum(axis=1, keepdims=True)
    before[moved] = v
    prior[moved] = np.einsum("kij,kj->ki", e[moved], v)


class DPSSelector(Selector):
    name = "dps"
    larger_is_better = True

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.lam = check_range(self.cfg, "lam", 0.0, 1.0, low_open=True)
        dtype = str(self.cfg.get("state_dtype", "float32"))
        if dtype not in _DTYPES:
            raise SelectorConfigError(f"selector.state_dtype={dtype!r} is unknown: use float32 or float64")
        self.dtype = _DTYPES[dtype]
        self.alpha0 = ALPHA0
        # α_Φ − α₀ as of each prompt's last observation; np.zeros maps untouched pages lazily.
        self.counts = np.zeros((self.num_prompts, NUM_STATES, NUM_STATES), dtype=self.dtype)
        self.last_state = np.full(self.num_prompts, -1, dtype=np.int8)  # −1: never observed
        self.last_step = np.zeros(self.num_prompts, dtype=np.int32)  # the step of the last observation
        self.step = 0  # update() calls so far

    # ---------------------------------------------------------------- beliefs now
    def beliefs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(α_Φ (n,3,3), μ_post of the previous step (n,3), μ_prior (n,3)) of ``ids`` at the current step."""
        ids = as_ids(ids)
        n = len(ids)
        alpha = np.full((n, NUM_STATES, NUM_STATES), self.alpha0)
        before = np.full((n, NUM_STATES), 1.0 / NUM_STATES)
        prior = before.copy()
        state = self.last_state[ids]
        seen = np.flatnonzero(state >= 0)
        if len(seen):
            sub = ids[seen]
            gap = self.step - self.last_step[sub].astype(np.int64)
            alpha[seen], before[seen], prior[seen] = propagate(self.counts[sub], state[seen], gap, self.lam)
        return alpha, before, prior

    def state_prior(self, ids: np.ndarray) -> np.ndarray:
        """μ_prior over (unsolved, partial, solved) for the next rollout of each prompt in ``ids``."""
        return self.beliefs(ids)[2]

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """μ_prior(partial): the predicted chance that the K rollouts have mixed outcomes."""
        return self.state_prior(ids)[:, PARTIAL]

    # ---------------------------------------------------------------- learning
    def update(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        ids, successes, trials = check_outcomes(prompt_ids, successes, trials, self.num_prompts)
        obs = outcome_state(successes, trials).astype(np.int64)
        alpha, before, _ = self.beliefs(ids)
        rows = np.arange(len(ids))
        e_row = alpha[rows, obs, :] / alpha.sum(axis=1)  # E[Φ](o, j) under the pre-update α_Φ
        xi = e_row * before
        xi /= xi.sum(axis=1, keepdims=True)
        counts = self.lam * (alpha - self.alpha0)  # λα_Φ + (1−λ)α₀ − α₀
        counts[rows, obs, :] += xi
        self.step += 1
        self.counts[ids] = counts
        self.last_state[ids] = obs
        self.last_step[ids] = self.step

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> StateDict:
        return {
            **super().state_dict(),
            "counts": self.counts.copy(),
            "last_state": self.last_state.copy(),
            "last_step": self.last_step.copy(),
            "step": self.step,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        n = self.num_prompts
        self.counts = self._load_array(state, "counts", self.dtype, (n, NUM_STATES, NUM_STATES))
        self.last_state = self._load_array(state, "last_state", np.int8, (n,))
        self.last_step = self._load_array(state, "last_step", np.int32, (n,))
        self.step = int(state["step"])
