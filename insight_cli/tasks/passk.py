"""Unbiased pass@k (Chen et al., 2021): the chance that at least one of k samples drawn without replacement from
n generated completions, c of them correct, is correct.

    pass@k = 1 − C(n−c, k) / C(n, k) = 1 − Π_{i=n−c+1..n} (1 − k/i)

The product form never forms a binomial coefficient, so it is exact for any n. Vectorised: ``n`` and ``c`` are
arrays (one entry per problem), evaluated through cumulative sums of log(1 − k/i), with no Python loop over
problems. pass@1 reduces to c/n.
"""

from __future__ import annotations

import numpy as np


def pass_at_k(n: np.ndarray | int, c: np.ndarray | int, k: int) -> np.ndarray:
    """Per-problem unbiased pass@k for ``n`` samples with ``c`` correct (broadcast arrays), as float64."""
    n_arr, c_arr = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64))
    k = int(k)
    if k < 1:
        raise ValueError(f"k = {k} must be ≥ 1")
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError("every c must be in 0..n (correct completions out of n)")
    if np.any(n_arr < k):
        raise ValueError(f"pass@{k} needs at least k = {k} samples per problem; some problems have fewer")
    top = int(n_arr.max(initial=k))
    i = np.arange(1, top + 1, dtype=np.float64)
    terms = np.where(i > k, np.log1p(-k / np.maximum(i, k + 1)), 0.0)  # log(1 − k/i), used only for i > k
    cumulative = np.concatenate([[0.0], np.cumsum(terms)])
    log_fail = cumulative[n_arr] - cumulative[n_arr - c_arr]  # Σ_{i=n−c+1..n} log(1 − k/i)
    return np.where(n_arr - c_arr < k, 1.0, -np.expm1(log_fail))


def mean_pass_at_k(n: np.ndarray | int, c: np.ndarray | int, k: int) -> float:
    """pass@k averaged over problems (the benchmark score)."""
    return float(np.mean(pass_at_k(n, c, k)))
