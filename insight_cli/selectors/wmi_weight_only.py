"""WMI ablation "weight only" — drop the mutual information (InSight ablations, §6 / Table 4).

    A(i) = w(φ̄ᵢ) = φ̄ᵢ(1−φ̄ᵢ)·exp(−η(φ̄ᵢ−μ)²),   choose the top-M of A over the M̂ candidates

A deterministic difficulty preference peaked near μ (InSight Eq. 15) with no exploration bonus for unseen prompts.

Defaults: as ``wmi`` — μ = 0.3, η = 3.0, λ = 1.0, pool factor 16, prior uniform. No K.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import BetaSelector
from insight_cli.selectors.wmi import difficulty_weight, read_weight_params


class WMIWeightOnlySelector(BetaSelector):
    name = "wmi_weight_only"
    larger_is_better = True

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.mu, self.eta = read_weight_params(self.cfg)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """A = w(φ̄; μ, η)."""
        return difficulty_weight(self.posterior_mean(ids), self.mu, self.eta)
