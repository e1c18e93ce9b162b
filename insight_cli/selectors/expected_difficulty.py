"""Expected-Difficulty — rank by the posterior mean success rate, no sampling (InSight §6.1 baseline).

    choose the M candidates with the smallest (φ̄ᵢ − 0.5)²,   φ̄ = α/(α+β)

The deterministic counterpart of MoPPS (its posterior mean instead of a Thompson draw, target fixed at 0.5, where
a binary reward has the most variance). Beliefs: α ← λα + (1−λ)α₀ + S, β ← λβ + (1−λ)β₀ + (K − S) on selected prompts.

Defaults: λ = 1.0, prior uniform Beta(1, 1), pool factor 16 (as WMI). Ties (e.g. unseen prompts) break at random
through the random candidate order. ``last_scores`` holds (φ̄ − 0.5)².
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import BetaSelector

# The success rate the baseline aims at: maximal Bernoulli variance, the GRPO advantage's sweet spot.
TARGET = 0.5


class ExpectedDifficultySelector(BetaSelector):
    name = "expected_difficulty"
    larger_is_better = False

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """(φ̄ − 0.5)² (smaller is better)."""
        return (self.posterior_mean(ids) - TARGET) ** 2
