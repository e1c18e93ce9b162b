"""WMI ablation "MI only" — drop the difficulty weight (InSight ablations, §6 / Table 4).

    A(i) = I(R₁:K; φᵢ)   (w ≡ 1),   choose the top-M of A over the M̂ candidates

I is the closed-form mutual information of :func:`insight_cli.selectors.wmi.mutual_information` (InSight Eq. 13):
pure information gain, which favours uncertain prompts whatever their success rate.

Defaults: as ``wmi`` — λ = 1.0, K = 8 (trainer.num_generations), pool factor 16, prior uniform. No μ, η.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import BetaSelector
from insight_cli.selectors.wmi import mutual_information, read_k


class WMIMIOnlySelector(BetaSelector):
    name = "wmi_mi_only"
    larger_is_better = True

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.k = read_k(self.cfg)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """A = I(R₁:K; φ)."""
        return mutual_information(self.alpha[ids], self.beta[ids], self.k)
