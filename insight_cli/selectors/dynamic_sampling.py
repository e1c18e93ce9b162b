"""Dynamic Sampling — DAPO's over-sample-and-filter (Yu et al., arXiv 2503.14476, §3.2 "Dynamic Sampling").

    keep group i  ⇔  0 < Sᵢ < Kᵢ   (its binary accuracies have non-zero variance, so its GRPO advantage is non-zero)

``select`` is uniform, as DAPO draws its batches uniformly: M prompts from the candidate pool. After the rollouts,
the trainer keeps generating batches, each filtered by :meth:`DynamicSamplingSelector.filter_groups` (the DESIGN §2
hook), until M groups are kept, at most ``max_gen_batches`` batches (verl-recipe ``filter_groups``); if the cap is
hit, the kept groups are filled up by repeating the last kept one (no group kept: the last batch is trained on as
generated). Every generated completion counts in ``rollouts``, so the price of the extra batches is visible.
:class:`GroupAccumulator` holds that decision logic without a model, for the trainer and the tests.

Defaults: max_gen_batches = 10. No beliefs: ``update`` learns nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from insight_cli.selectors.base import as_ids, check_int
from insight_cli.selectors.random import RandomSelector


def mixed_outcomes(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Keep-mask of the groups with 0 < S < K: the accuracy of their K rollouts has non-zero variance."""
    s = np.asarray(successes, dtype=np.float64)
    k = np.asarray(trials, dtype=np.float64)
    return (s > 0) & (s < k)


class DynamicSamplingSelector(RandomSelector):
    name = "dynamic_sampling"

    def __init__(self, num_prompts: int, cfg, seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.max_gen_batches = check_int(self.cfg, "max_gen_batches", 1, "the cap on generation batches per step")

    def filter_groups(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """The DESIGN §2 after-rollout hook: a bool keep-mask aligned with ``prompt_ids``."""
        if len(as_ids(prompt_ids)) != len(np.asarray(successes)):
            raise ValueError("filter_groups: prompt_ids and successes must have the same length")
        return mixed_outcomes(successes, trials)


class GroupAccumulator:
    """Which generated groups one training step keeps, across up to ``max_gen_batches`` generation batches.

    Call :meth:`add` once per generated batch until :attr:`done`; then :meth:`final_indices` gives exactly
    ``target_groups`` positions into the concatenation of every generated group, in generation order. ``keep``: the
    keep-mask of a batch's groups, ``keep(prompt_ids, successes, trials)`` — a selector's ``filter_groups`` hook
    (the trainer builds one per step as ``GroupAccumulator(M, selector.max_gen_batches, selector.filter_groups)``).
    """

    def __init__(
        self,
        target_groups: int,
        max_gen_batches: int = 10,
        keep: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = lambda ids, s, k: mixed_outcomes(s, k),
    ):
        if target_groups < 1 or max_gen_batches < 1:
            raise ValueError(f"need target_groups ≥ 1 and max_gen_batches ≥ 1, got {target_groups}, {max_gen_batches}")
        self.target = int(target_groups)
        self.cap = int(max_gen_batches)
        self.keep = keep
        self.batches = 0  # generation batches so far
        self.rollouts = 0  # completions generated so far (Σ trials), kept or not
        self.generated_groups = 0
        self._kept: list[np.ndarray] = []  # kept positions, per batch
        self._last_batch = np.zeros(0, dtype=np.int64)  # positions of the latest batch
        self._prompt_ids: list[np.ndarray] = []

    def add(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """Fold in one generated batch; returns its keep-mask."""
        if self.done:
            raise RuntimeError("GroupAccumulator is done: start a new one for the next step")
        ids = as_ids(prompt_ids)
        keep = np.asarray(self.keep(ids, successes, trials), dtype=bool)
        if keep.shape != ids.shape:
            raise ValueError("add: prompt_ids, successes and trials must have the same length")
        positions = self.generated_groups + np.arange(len(ids), dtype=np.int64)
        self._kept.append(positions[keep])
        self._last_batch = positions
        self._prompt_ids.append(ids)
        self.batches += 1
        self.rollouts += int(np.asarray(trials, dtype=np.int64).sum())
        self.generated_groups += len(ids)
        return keep

    @property
    def kept(self) -> int:
        """Groups kept so far (may exceed the target in the last batch)."""
        return sum(len(k) for k in self._kept)

    @property
    def done(self) -> bool:
        """Enough groups kept, or the cap on generation batches reached."""
        return self.kept >= self.target or self.batches >= self.cap

    @property
    def kept_indices(self) -> np.ndarray:
        """Positions (into all generated groups, in order) of every kept group."""
        return np.concatenate(self._kept) if self._kept else np.zeros(0, dtype=np.int64)

    def final_indices(self) -> np.ndarray:
        """Exactly ``target`` positions: the first kept groups, filled by repeating the last kept one.

        With no group kept within the cap, the last batch as generated (trimmed or repeated to ``target``).
        """
        kept = self.kept_indices
        base = kept if len(kept) else self._last_batch
        if len(base) == 0:
            raise RuntimeError("final_indices: no batch was added")
        fill = np.full(max(self.target - len(base), 0), base[-1], dtype=np.int64)
        return np.concatenate([base[: self.target], fill])

    def final_prompt_ids(self) -> np.ndarray:
        """The prompt ids of :meth:`final_indices`."""
        return np.concatenate(self._prompt_ids)[self.final_indices()]
