"""WMI — InSight's Weighted Mutual Information selector.

    A(i) = w(φ̄ᵢ) · I(R₁:K; φᵢ),   w(φ̄) = φ̄(1−φ̄)·exp(−η(φ̄−μ)²),   choose the top-M of A over the M̂ candidates

with a Beta(αᵢ, βᵢ) belief per prompt, φ̄ = α/(α+β), updated by α ← λα + (1−λ)α₀ + S, β ← λβ + (1−λ)β₀ + K − S
(InSight Eq. 8, 10–17). The mutual information between K future binary rollouts and the success rate, in nats:

    I = −Σ_{s=0..K} C(K,s)·q_s·ln q_s − K·[ψ(n+1) − m·ψ(α+1) − (1−m)·ψ(β+1)],   n = α+β, m = α/n,
    q_s = B(α+s, β+K−s)/B(α, β)   (the probability of one particular sequence with s successes)

which equals Eq. 13 (entropy of the Beta minus the expected posterior entropy). K = 1 gives 1/(2(n+1)).

Defaults (InSight App. D.2): μ = 0.3, η = 3.0, λ = 1.0, pool factor M̂/M = 16, K = 8.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from insight_cli.selectors.base import BetaSelector, check_range, top_m


def mutual_information(alpha: np.ndarray, beta: np.ndarray, k: int) -> np.ndarray:
    """I(R₁:K; φ) in nats for φ ~ Beta(alpha, beta), vectorised over prompts; loops only over s = 0..K."""
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    n = a + b
    m = a / n
    # ln q_0 = Σ_{j<K} ln(β+j) − ln(n+j); ln q_s = ln q_{s−1} + ln(α+s−1) − ln(β+K−s). Log space keeps
    # well-explored prompts (n ~ 10⁶) from underflowing.
    log_q = np.zeros_like(a)
    for j in range(k):
        log_q += np.log(b + j) - np.log(n + j)
    log_binom = gammaln(k + 1) - gammaln(np.arange(k + 1) + 1) - gammaln(k - np.arange(k + 1) + 1)
    outcome_entropy = np.zeros_like(a)
    for s in range(k + 1):
        if s > 0:
            log_q += np.log(a + s - 1) - np.log(b + k - s)
        outcome_entropy -= np.exp(log_binom[s] + log_q) * log_q
    expected_conditional = k * (digamma(n + 1) - m * digamma(a + 1) - (1 - m) * digamma(b + 1))
    # Clip tiny negative values from cancellation when n is huge (I → 0⁺).
    return np.maximum(outcome_entropy - expected_conditional, 0.0)


def difficulty_weight(p: np.ndarray, mu: float, eta: float) -> np.ndarray:
    """w(p; μ, η) = p(1−p)·exp(−η(p−μ)²): zero at p ∈ {0, 1}, peaked near μ (InSight Eq. 15)."""
    return p * (1.0 - p) * np.exp(-eta * (p - mu) ** 2)


class WMISelector(BetaSelector):
    name = "wmi"

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.mu = check_range(self.cfg, "mu", 0.0, 1.0)
        self.eta = check_range(self.cfg, "eta", 0.0, np.inf)
        self.k = int(self.cfg["K"])
        if self.k < 1:
            raise ValueError(f"selector.K={self.k} must be ≥ 1 (it is trainer.num_generations)")

    def difficulty(self, ids: np.ndarray) -> np.ndarray:
        """The success rate fed to the weight: the posterior mean (wmi_sampled overrides with a draw)."""
        return self.posterior_mean(ids)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        info = mutual_information(self.alpha[ids], self.beta[ids], self.k)
        return difficulty_weight(self.difficulty(ids), self.mu, self.eta) * info

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        candidates = np.asarray(candidates, dtype=np.int64)
        scores = self.scores(candidates)
        chosen = top_m(scores, candidates, m, largest=True)
        # Map chosen ids back to their scores without a second scoring pass.
        order = np.argsort(candidates, kind="stable")
        self.last_scores = scores[order[np.searchsorted(candidates[order], chosen)]]
        return chosen
