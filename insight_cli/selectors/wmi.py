"""WMI — InSight's Weighted Mutual Information selector.

    A(i) = w(φ̄ᵢ) · I(R₁:K; φᵢ),   w(φ̄) = φ̄(1−φ̄)·exp(−η(φ̄−μ)²),   choose the top-M of A over the M̂ candidates

with a Beta(αᵢ, βᵢ) belief per prompt, φ̄ = α/(α+β), updated by α ← λα + (1−λ)α₀ + S, β ← λβ + (1−λ)β₀ + K − S
(InSight Eq. 8, 10–17). The mutual information between K future binary rollouts and the success rate, in nats:

    I = −Σ_{s=0..K} C(K,s)·q_s·ln q_s − K·[ψ(n+1) − m·ψ(α+1) − (1−m)·ψ(β+1)],   n = α+β, m = α/n,
    q_s = B(α+s, β+K−s)/B(α, β)   (the probability of one particular sequence with s successes)

which equals Eq. 13 (entropy of the Beta minus the expected posterior entropy). It is the information K rollouts
carry about φ: ln 2 − ½ for Beta(1, 1) and K = 1, and ½·ln(1 + K/n) for large n.

Defaults (InSight App. D.2): μ = 0.3, η = 3.0, λ = 1.0, pool factor M̂/M = 16, K = 8, prior uniform.
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb, digamma

from insight_cli.selectors.base import BetaSelector, check_int, check_range

# Elements per block: the ~8 temporaries of a block stay in the L2 cache, which makes full-pool scoring of
# 10⁶ prompts ~4x faster than whole-array NumPy expressions.
_BLOCK = 1 << 14
# ln q_0 below this would underflow exp().
_LOG_UNDERFLOW = -700.0
# ψ at the integers 0..2¹⁶−1 (ψ(0) unused). ψ is half of the scoring time, so it gets two fast paths below.
_PSI_INT = digamma(np.arange(1 << 16, dtype=np.float64))


# B₂ₖ/(2k) for k = 1..7: ψ(x) = ln x − 1/(2x) − Σₖ B₂ₖ/(2k·x²ᵏ) + O(x⁻¹⁶), below 10⁻¹⁶ relative for x ≥ 10.
_PSI_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_PSI_SERIES_FROM = 10.0


def _digamma_series(x: np.ndarray) -> np.ndarray:
    """ψ(x) for x ≥ 10 by the asymptotic series (≈ 2x cheaper than scipy's digamma, same accuracy)."""
    r2 = 1.0 / x
    out = np.log(x)
    out -= 0.5 * r2
    r2 *= r2
    poly = np.full_like(x, _PSI_SERIES[-1])
    for c in reversed(_PSI_SERIES[:-1]):
        poly *= r2
        poly += c
    poly *= r2
    out -= poly
    return out


def _digamma(x: np.ndarray) -> np.ndarray:
    """ψ(x) for x ≥ 1: a table lookup when every element is a small integer (WMI's default λ = 1 with an integer
    prior keeps α, β integral), the asymptotic series where x ≥ 10, scipy's digamma for the rest."""
    if len(x) == 0:
        return np.zeros(0)
    whole = x.astype(np.int64)
    if whole.min() >= 1 and whole.max() < len(_PSI_INT) and np.array_equal(whole, x):
        return _PSI_INT[whole]
    small = x < _PSI_SERIES_FROM
    count = int(np.count_nonzero(small))
    if count > len(x) // 2:
        return digamma(x)
    out = _digamma_series(np.maximum(x, _PSI_SERIES_FROM))
    if count:
        out[small] = digamma(x[small])
    return out


def mutual_information(alpha: np.ndarray, beta: np.ndarray, k: int) -> np.ndarray:
    """I(R₁:K; φ) in nats for φ ~ Beta(alpha, beta), elementwise; loops only over s = 0..K, never over prompts."""
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    shape = a.shape
    a, b = a.reshape(-1), b.reshape(-1)
    out = np.empty(a.shape, dtype=np.float64)
    binom = comb(k, np.arange(k + 1))
    for lo in range(0, len(a), _BLOCK):
        hi = lo + _BLOCK
        out[lo:hi] = _mi_block(a[lo:hi], b[lo:hi], int(k), binom)
    return out.reshape(shape)


def _mi_block(a: np.ndarray, b: np.ndarray, k: int, binom: np.ndarray) -> np.ndarray:
    n = a + b
    t = np.empty_like(a)
    u = np.empty_like(a)
    # ln q_0 = Σ_{j<K} ln((β+j)/(n+j)): products of ≤ 16 ratios in linear space (each ratio ≤ 1, no overflow, no
    # underflow before the log), then one log per 16 factors.
    log_q = np.zeros_like(a)
    prod = np.ones_like(a)
    for j in range(k):
        np.add(b, j, out=t)
        np.add(n, j, out=u)
        prod *= np.divide(t, u, out=t)
        if j % 16 == 15 or j == k - 1:
            log_q += np.log(prod)
            prod.fill(1.0)
    # ln q_0 < −700 would underflow exp() (huge n, tiny β, large K): those rows take the exact log-space path.
    # (ln q_s is convex in s, so q_s cannot underflow in the middle and grow back for any practical K.)
    low = np.flatnonzero(log_q < _LOG_UNDERFLOW)
    # q_s = q_{s−1}·(α+s−1)/(β+K−s): one ratio, one log and two products per s (no exp in the loop).
    q = np.exp(log_q)
    entropy_sum = q * log_q
    entropy_sum *= binom[0]
    for s in range(1, k + 1):
        np.add(a, s - 1, out=t)
        np.add(b, k - s, out=u)
        np.divide(t, u, out=t)
        q *= t
        log_q += np.log(t, out=t)
        np.multiply(q, log_q, out=u)
        u *= binom[s]
        entropy_sum += u
    outcome_entropy = -entropy_sum
    if len(low):
        outcome_entropy[low] = _outcome_entropy_logspace(a[low], b[low], k, binom)
    m = a / n
    cond = _digamma(n + 1)
    cond -= m * _digamma(a + 1)
    cond -= (1.0 - m) * _digamma(b + 1)
    cond *= k
    # Clip tiny negative values from cancellation when n is huge (I → 0⁺).
    return np.maximum(outcome_entropy - cond, 0.0)


def _outcome_entropy_logspace(a: np.ndarray, b: np.ndarray, k: int, binom: np.ndarray) -> np.ndarray:
    """−Σ C(K,s)·q_s·ln q_s with q_s = exp(ln q_s) at every s: slower, immune to underflow."""
    n = a + b
    log_q = np.zeros_like(a)
    for j in range(k):
        log_q += np.log(b + j) - np.log(n + j)
    total = -binom[0] * np.exp(log_q) * log_q
    for s in range(1, k + 1):
        log_q += np.log(a + s - 1) - np.log(b + k - s)
        total -= binom[s] * np.exp(log_q) * log_q
    return total


def difficulty_weight(p: np.ndarray, mu: float, eta: float) -> np.ndarray:
    """w(p; μ, η) = p(1−p)·exp(−η(p−μ)²): zero at p ∈ {0, 1}, peaked near μ (InSight Eq. 15)."""
    return p * (1.0 - p) * np.exp(-eta * (p - mu) ** 2)


def read_weight_params(cfg) -> tuple[float, float]:
    """μ ∈ [0, 1] and η ≥ 0 from the selector config (one-line errors otherwise)."""
    return check_range(cfg, "mu", 0.0, 1.0), check_range(cfg, "eta", 0.0, np.inf)


def read_k(cfg) -> int:
    """K, the rollouts per prompt the information is computed for (``${trainer.num_generations}`` in the yaml)."""
    return check_int(cfg, "K", 1, "K = rollouts per prompt, trainer.num_generations")


class WMISelector(BetaSelector):
    name = "wmi"
    larger_is_better = True

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.mu, self.eta = read_weight_params(self.cfg)
        self.k = read_k(self.cfg)

    def difficulty(self, ids: np.ndarray) -> np.ndarray:
        """The success rate fed to the weight: the posterior mean φ̄ (wmi_sampled overrides with a draw)."""
        return self.posterior_mean(ids)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """A = w(φ̄)·I(R₁:K; φ) for each prompt in ``ids`` (in cache-sized blocks when scoring a whole dataset)."""
        ids = np.asarray(ids)
        if len(ids) <= _BLOCK:
            return self._score_block(ids)
        return np.concatenate([self._score_block(ids[lo : lo + _BLOCK]) for lo in range(0, len(ids), _BLOCK)])

    def _score_block(self, ids: np.ndarray) -> np.ndarray:
        info = mutual_information(self.alpha[ids], self.beta[ids], self.k)
        return difficulty_weight(self.difficulty(ids), self.mu, self.eta) * info
