"""WMI ablation "sampled difficulty" — the weight sees a Thompson draw instead of the mean (InSight Table 4).

    A(i) = w(r̂ᵢ) · I(R₁:K; φᵢ),   r̂ᵢ ~ Beta(αᵢ, βᵢ),   w(p) = p(1−p)·exp(−η(p−μ)²)

Everything else is ``wmi`` (InSight Eq. 10–17): the mutual information uses the full Beta belief; only φ̄ in the
weight is replaced by one posterior sample per candidate per step, drawn from the selector RNG (checkpointed).

Defaults: as ``wmi`` — μ = 0.3, η = 3.0, λ = 1.0, K = 8, pool factor 16, prior uniform.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.wmi import WMISelector


class WMISampledSelector(WMISelector):
    name = "wmi_sampled"

    def difficulty(self, ids: np.ndarray) -> np.ndarray:
        """r̂ ~ Beta(α, β), one draw per candidate."""
        return self.thompson_draw(ids)
