"""The select → roll out → update loop's bookkeeping, independent of TRL so it can be tested on its own.

``PromptSelection.choose()`` draws the candidate pool and asks the selector for M prompts; ``observe()`` folds in the
binary accuracies of their K rollouts each. The trainer calls ``choose`` where generation happens (never in a
prefetching sampler), so choice k sees every outcome up to k − 1; ``history`` records that ordering for tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from insight_cli.selectors.base import BetaSelector, PoolSampler, Selector, filters_groups, refreshes
from insight_cli.selectors.dynamic_sampling import GroupAccumulator


class Handoff:
    """One value handed from a function that TRL calls (the task reward, ``_calculate_rewards``) to the code that
    called TRL and waits for it, because TRL's return values do not carry it: the callee ``put``s, the caller ``take``s
    it once. ``what`` names the value in the error raised when there is nothing to take."""

    def __init__(self, what: str):
        self.what = what
        self._value = None

    def put(self, value) -> None:
        self._value = value  # the latest wins: TRL's own evaluation loop may score batches that nobody takes

    def take(self):
        if self._value is None:
            raise RuntimeError(f"no {self.what} to take: nothing was scored since the last take")
        value, self._value = self._value, None
        return value


@dataclass
class StepStats:
    """What one generation batch did, for metrics.jsonl."""

    selector_s: float = 0.0
    generated_groups: int = 0
    generated_completions: int = 0
    zero_std_groups: int = 0
    accuracy_sum: float = 0.0
    believed_success: list[float] = field(default_factory=list)
    generation_batches: int = 0


class PromptSelection:
    """Holds the selector, the pool sampler and the run-level counters that are checkpointed with them."""

    def __init__(self, selector: Selector, pool: PoolSampler, prompts_per_step: int, num_generations: int):
        self.selector = selector
        self.pool = pool
        self.prompts_per_step = int(prompts_per_step)
        self.num_generations = int(num_generations)
        self.seen = np.zeros(selector.num_prompts, dtype=bool)
        self.rollouts = 0
        self.choices = 0
        self.observations = 0
        # (choice index, observations seen before it) — proves the loop order in tests.
        self.history: list[tuple[int, int]] = []
        self.step = StepStats()
        self.last_choice: np.ndarray = np.zeros(0, dtype=np.int64)
        self.last_scores: np.ndarray = np.zeros(0)
        self.last_pool_size = 0
        # the last choice's believed success rates (posterior means; None for selectors without Beta beliefs) and,
        # once observed, its successes out of num_generations rollouts each (for selection.jsonl)
        self.last_beliefs: np.ndarray | None = None
        self.last_successes: np.ndarray = np.zeros(0)
        # CROPI's stage refresh (DESIGN §2 ``refresh`` hook): a callable selector -> (ids, projected gradients,
        # validation means), set by the run for selectors that have ``refresh`` (train/influence.py)
        self.influence = None

    def choose(self, m: int | None = None) -> np.ndarray:
        """Draw the candidate pool and return the selector's M prompt ids (int64)."""
        m = self.prompts_per_step if m is None else m
        start = time.perf_counter()
        self._refresh_if_due()
        candidates = self.pool.draw(m)
        chosen = self.selector.select(candidates, m)
        self.step.selector_s += time.perf_counter() - start
        self.last_beliefs = None
        if isinstance(self.selector, BetaSelector):
            self.last_beliefs = self.selector.posterior_mean(chosen)
            self.step.believed_success.extend(self.last_beliefs.tolist())
        self.history.append((self.choices, self.observations))
        self.choices += 1
        self.last_choice, self.last_scores, self.last_pool_size = chosen, self.selector.last_scores, len(candidates)
        return chosen

    def group_filter(self, target_groups: int) -> GroupAccumulator | None:
        """For a selector that filters groups after the rollouts (DESIGN §2 ``filter_groups``), a fresh
        :class:`GroupAccumulator` deciding which of one step's generated groups are kept; None for any other."""
        if not filters_groups(self.selector):
            return None
        return GroupAccumulator(target_groups, self.selector.max_gen_batches, keep=self.selector.filter_groups)

    def _refresh_if_due(self) -> None:
        """Start a new stage of a selector with a ``refresh`` hook before choice ``self.choices`` (= the training step)
        when it is due; the first one also charges the offline rollouts to ``rollouts``. Timed as selector seconds."""
        if self.influence is None or not refreshes(self.selector) or not self.selector.refresh_due(self.choices):
            return
        if self.selector.stage == 0:
            self.rollouts += int(self.influence.offline_rollouts)
        self.selector.refresh(*self.influence(self.selector))

    def group_outcomes(self, accuracies: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-group successes and trials from a flat array of binary accuracies (K consecutive rows a group)."""
        acc = (np.asarray(accuracies, dtype=np.float64) >= 1.0).reshape(groups, -1)
        return acc.sum(axis=1), np.full(groups, acc.shape[1], dtype=np.float64)

    def observe(self, prompt_ids: np.ndarray, accuracies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold the K binary outcomes of each chosen prompt into the selector; returns (successes, trials)."""
        ids = np.asarray(prompt_ids, dtype=np.int64)
        successes, trials = self.group_outcomes(accuracies, len(ids))
        return self.observe_counts(ids, successes, trials)

    def observe_counts(
        self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fold in per-prompt counts already grouped by the caller (verl's rows come in any order): ``successes[i]``
        correct rollouts out of ``trials[i]`` for ``prompt_ids[i]``; returns (successes, trials)."""
        ids = np.asarray(prompt_ids, dtype=np.int64)
        start = time.perf_counter()
        self.selector.update(ids, successes, trials)
        self.step.selector_s += time.perf_counter() - start
        self.observations += 1
        self.last_successes = successes
        self.seen[ids] = True
        self.rollouts += int(trials.sum())
        self.step.generated_groups += len(ids)
        self.step.generated_completions += int(trials.sum())
        self.step.zero_std_groups += int(((successes == 0) | (successes == trials)).sum())
        self.step.accuracy_sum += float(successes.sum())
        self.step.generation_batches += 1
        return successes, trials

    def pop_step_stats(self) -> dict[str, float | int]:
        """Metrics of the generation batches since the last call, then reset them."""
        s, self.step = self.step, StepStats()
        groups = max(s.generated_groups, 1)
        return {
            "rollouts": self.rollouts,
            "selector_s": s.selector_s,
            "accuracy_mean": s.accuracy_sum / max(s.generated_completions, 1),
            "frac_zero_std_groups": s.zero_std_groups / groups,
            "frac_mixed_groups": 1.0 - s.zero_std_groups / groups,
            "chosen_belief_mean": float(np.mean(s.believed_success)) if s.believed_success else None,
            "distinct_prompts_seen": int(self.seen.sum()),
            "generated_groups": s.generated_groups,
            "generation_batches": s.generation_batches,
        }

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"selector.{k}": np.asarray(v) for k, v in self.selector.state_dict().items()}
        state.update({f"pool.{k}": np.asarray(v) for k, v in self.pool.state_dict().items()})
        state.update({"seen": self.seen, "rollouts": np.asarray(self.rollouts), "choices": np.asarray(self.choices)})
        return state

    def load_state_dict(self, state) -> None:
        self.selector.load_state_dict({k[9:]: state[k] for k in state if k.startswith("selector.")})
        self.pool.load_state_dict({k[5:]: state[k] for k in state if k.startswith("pool.")})
        self.seen = np.array(state["seen"], dtype=bool)
        self.rollouts = int(state["rollouts"])
        self.choices = int(state["choices"])
        self.observations = self.choices
