"""MoPPS — Model Predictive Prompt Selection (Qu et al., arXiv 2507.04632).

    r̂ᵢ ~ Beta(αᵢ, βᵢ)  (one Thompson draw per candidate),   choose the M candidates with the smallest (r̂ᵢ − γ*)²

Beliefs: α ← λα + (1−λ)α₀ + S, β ← λβ + (1−λ)β₀ + (K − S) on the selected prompts only (MoPPS Eq. 6, the
"streaming Bayesian inference" with discount λ; Beta(1, 1) prior, or the offline warm start α = 3·successes + 1,
β = 3·failures + 1 with ``prior: warmstart``). The draw is MoPPS's posterior sampling (§4.2, "topk" strategy).

Defaults: γ* = 0.5; λ = 0.5 on Countdown (1.0 on math); candidate pool M̂/M = 8 on Countdown (16 on math) —
MoPPS's ``ts_ratio``, set with ``pool=8``. ``last_scores`` holds (r̂ − γ*)² of the chosen prompts.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import BetaSelector, check_range


class MoPPSSelector(BetaSelector):
    name = "mopps"
    larger_is_better = False

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.gamma = check_range(self.cfg, "gamma", 0.0, 1.0)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """(r̂ − γ*)² with r̂ a fresh posterior draw per candidate (smaller is better)."""
        return (self.thompson_draw(ids) - self.gamma) ** 2
