"""Unbiased pass@k: exact against the binomial definition, vectorised, numerically stable for large n."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from insight_cli.tasks.passk import mean_pass_at_k, pass_at_k


def reference(n: int, c: int, k: int) -> float:
    """1 − C(n−c, k)/C(n, k) with exact integers."""
    return 1.0 - comb(n - c, k) / comb(n, k)


def test_matches_the_binomial_definition():
    rng = np.random.default_rng(0)
    n = rng.integers(1, 64, size=300)
    c = rng.integers(0, n + 1)
    for k in (1, 2, 4, 8):
        mask = n >= k
        got = pass_at_k(n[mask], c[mask], k)
        want = [reference(int(a), int(b), k) for a, b in zip(n[mask], c[mask], strict=True)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_pass_at_one_is_the_success_rate():
    n, c = np.full(5, 16), np.array([0, 1, 4, 15, 16])
    np.testing.assert_allclose(pass_at_k(n, c, 1), c / 16, atol=1e-15)
    assert mean_pass_at_k(n, c, 1) == pytest.approx(c.sum() / 80)


def test_edges():
    assert pass_at_k(16, 0, 4) == 0.0
    assert pass_at_k(16, 16, 4) == 1.0
    assert pass_at_k(8, 5, 4) == 1.0  # fewer than k wrong samples: some draw of k always holds a correct one
    assert pass_at_k(4, 1, 4) == 1.0


def test_large_n_is_stable():
    # C(100000, 50) overflows a float; the product form does not
    value = float(pass_at_k(100_000, 10, 50))
    assert 0.0 < value < 1.0
    assert value == pytest.approx(1 - np.prod(1 - 50 / np.arange(100_000 - 10 + 1, 100_001)), rel=1e-12)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="at least k"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="0..n"):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="k = 0"):
        pass_at_k(4, 1, 0)
