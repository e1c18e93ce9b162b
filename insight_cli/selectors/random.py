"""Random: M prompts uniformly from the candidate pool.

    choice = a uniform M-subset of the M̂ candidates   (pool.factor = 1 makes this plain uniform sampling)

The baseline of every table in the InSight paper (§6) and in MoPPS (arXiv 2507.04632). No state but its RNG;
no config keys. Defaults: none.
"""

from __future__ import annotations

import numpy as np

from insight_cli.selectors.base import Selector, as_ids


class RandomSelector(Selector):
    name = "random"

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        candidates = as_ids(candidates)
        m = min(m, len(candidates))
        chosen = self.rng.choice(candidates, size=m, replace=False)
        self.last_scores = np.zeros(m)
        return np.asarray(chosen, dtype=np.int64)
