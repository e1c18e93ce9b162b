"""Inverse-Evidence — prefer the prompts the belief has seen least (InSight §6.1 baseline).

    choose the M candidates with the smallest αᵢ + βᵢ   (the Beta's pseudo-count: prior plus discounted rollouts)

A pure exploration baseline: it ignores difficulty and spreads rollouts evenly. Beliefs: α ← λα + (1−λ)α₀ + S,
β ← λβ + (1−λ)β₀ + (K − S) on selected prompts, so with λ < 1 old evidence fades and prompts come back.

Defaults: λ = 1.0, prior uniform Beta(1, 1), pool factor 16 (as WMI). ``last_scores`` holds α + β.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import BetaSelector


class InverseEvidenceSelector(BetaSelector):
    name = "inverse_evidence"
    larger_is_better = False

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """α + β (smaller is better)."""
        return self.alpha[ids] + self.beta[ids]
