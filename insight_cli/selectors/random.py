"""Random: M prompts uniformly from the candidate pool.

    choice = uniform M-subset of the M̂ candidates   (with pool.factor = 1 this is plain uniform sampling)

The baseline of every table in the InSight paper (§6) and in MoPPS (arXiv 2507.04632). No state but its RNG.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import Selector


class RandomSelector(Selector):
    name = "random"

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        m = min(m, len(candidates))
        chosen = self.rng.choice(candidates, size=m, replace=False)
        self.last_scores = np.zeros(m)
        return np.asarray(chosen, dtype=np.int64)
