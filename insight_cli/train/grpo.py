"""GRPO with an online prompt selector: a ``GRPOTrainer`` subclass that chooses every generation batch.

The paper's loop is select → roll out → update → select. The Trainer and accelerate prefetch dataloader batches,
so a sampler-based selector would pick batch k+1 before batch k is scored. Here the dataloader only paces the
loop: ``_generate_and_score_completions`` replaces its rows with the selector's choice at the moment of
generation and, once TRL has scored them, folds the binary accuracies of the K rollouts into the selector. The task
reward hands those accuracies to ``_calculate_rewards``, and it to the generation step, through a :class:`Handoff`
each (TRL's return values carry only the rewards).

Multi-process runs: the selector lives on rank 0; its choice is broadcast so every rank trains on the same global
batch (M prompts × K rollouts, split into contiguous per-rank slices exactly as TRL's RepeatSampler would).
Selectors with a ``filter_groups`` hook (DAPO Dynamic Sampling) get extra generation batches until M groups with
mixed outcomes are kept; every generated completion is counted in ``rollouts``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from trl import GRPOTrainer

from insight_cli.selectors.dynamic_sampling import GroupAccumulator
from insight_cli.train.checkpoints import checkpoint_folder, save_selection
from insight_cli.train.selection import Handoff, PromptSelection


class TaskReward:
    """TRL reward function for one task: returns the shaped reward of every completion and puts their binary
    accuracies into ``accuracies``, from which the trainer takes them (TRL keeps only the returned rewards)."""

    def __init__(self, score, problems: list[dict], task_cfg: Any, name: str):
        self.score, self.problems, self.task_cfg = score, problems, task_cfg
        self.__name__ = f"{name}_reward"  # TRL names reward columns after __name__
        self.accuracies = Handoff("task reward accuracies")

    def __call__(self, prompts, completions, id, **kwargs) -> list[float]:  # noqa: A002 - TRL passes columns by name
        rewards, accuracies = [], []
        for completion, prompt_id in zip(completions, id, strict=True):
            text = completion if isinstance(completion, str) else completion[-1]["content"]
            reward, accuracy = self.score(text, self.problems[int(prompt_id)], self.task_cfg)
            rewards.append(float(reward))
            accuracies.append(float(accuracy))
        self.accuracies.put(accuracies)
        return rewards


class SelectorGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose generation batches are chosen by ``selection`` (a :class:`PromptSelection`).

    ``insight train`` passes a :class:`TaskReward` (the task's shaped reward, which hands over each completion's binary
    accuracy); :class:`insight_cli.integrations.trl.InsightGRPOTrainer` passes the user's reward functions and
    overrides :meth:`_completion_accuracies` to binarise their rewards instead. Everything else is shared."""

    def __init__(
        self,
        *args,
        selection: PromptSelection,
        rows: Any,
        task_reward: TaskReward | None = None,
        elapsed: Callable[[], float] | None = None,
        **kwargs,
    ):
        """``rows``: the training pool as TRL rows (a list or a ``datasets.Dataset``), indexed by prompt id.
        ``task_reward``: the single reward function whose ``accuracies`` are fed to the selector (else give
        ``reward_funcs`` and override :meth:`_completion_accuracies`). ``elapsed``: the run's training seconds so far
        (kept across resumes in the checkpoint; None: not recorded)."""
        if task_reward is not None:
            kwargs["reward_funcs"] = [task_reward]
        super().__init__(*args, **kwargs)
        self.selection = selection
        self.task_reward = task_reward
        self.rows = rows
        self.elapsed = elapsed
        # the gathered binary accuracies of the batch being generated: put by _calculate_rewards (called inside TRL's
        # _generate_and_score_completions), taken by _generate_and_observe once that returns
        self._scored_accuracies = Handoff("gathered completion accuracies")

    # ---------------------------------------------------------------- choosing the batch
    def _broadcast_choice(self, m: int) -> np.ndarray:
        """Rank 0 chooses; every rank receives the same ids."""
        chosen = self.selection.choose(m) if self.accelerator.is_main_process else None
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            box = [chosen.tolist() if chosen is not None else None]
            broadcast_object_list(box, from_process=0)
            chosen = np.asarray(box[0], dtype=np.int64)
        return chosen

    def _rows_for(self, prompt_ids: np.ndarray, local_size: int) -> list[dict]:
        """This rank's slice of the global batch: each chosen prompt repeated K times, in choice order."""
        k = self.num_generations
        rank = self.accelerator.process_index
        flat = np.repeat(prompt_ids, k)[rank * local_size : (rank + 1) * local_size]
        return [self.rows[int(i)] for i in flat]

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        local_size = len(inputs)
        groups = local_size * self.accelerator.num_processes // self.num_generations
        group_filter = self.selection.group_filter(groups)
        if group_filter is not None:
            return self._generate_with_group_filter(local_size, group_filter)
        scored, _, _ = self._generate_and_observe(local_size, groups)
        return scored

    def _generate_and_observe(self, local_size: int, groups: int) -> tuple[dict[str, Any], np.ndarray, tuple]:
        """One generation batch: choose ``groups`` prompts, generate and score their rollouts (TRL), fold the outcomes
        into the selector. Returns TRL's scored batch, the chosen prompt ids and their (successes, trials)."""
        prompt_ids = self._broadcast_choice(groups)
        scored = super()._generate_and_score_completions(self._rows_for(prompt_ids, local_size))
        accuracies = self._scored_accuracies.take()
        if self.accelerator.is_main_process:  # the selector lives on rank 0; the other ranks only count
            outcomes = self.selection.observe(prompt_ids, accuracies)
        else:
            outcomes = self.selection.group_outcomes(accuracies, len(prompt_ids))
        return scored, prompt_ids, outcomes

    def _generate_with_group_filter(self, local_size: int, group_filter: GroupAccumulator) -> dict[str, Any]:
        """DAPO dynamic sampling: generate batches until ``group_filter`` has kept enough mixed-outcome groups (or hit
        its cap).

        Which groups to keep, when to stop and how to fill is the selector's :class:`GroupAccumulator`; this method
        only generates the batches and gathers the rows it names."""
        if self.accelerator.num_processes > 1:
            raise NotImplementedError("dynamic_sampling runs on one process; use a single-GPU preset")
        batches: list[dict[str, Any]] = []
        while not group_filter.done:
            scored, prompt_ids, outcomes = self._generate_and_observe(local_size, group_filter.target)
            batches.append(scored)
            group_filter.add(prompt_ids, *outcomes)
        merged = _concat_batches(batches, self.processing_class.pad_token_id)
        return _take_groups(merged, group_filter.final_indices(), self.num_generations)

    # ---------------------------------------------------------------- checkpoints carry the selection state
    def _save_checkpoint(self, model, trial):
        """Write the selection state last, atomically: a folder counts as complete (resumable) only once it is there
        (``checkpoints.latest_checkpoint``), so a save that fails half-way (found in the campaign: TRL's model card
        raised after the selection state was written) leaves the previous checkpoint as the newest complete one. The
        Trainer's rotation inside ``super()._save_checkpoint`` keeps the newest two, so that one survives."""
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            wall = {"wall_s": np.asarray(self.elapsed())} if self.elapsed is not None else {}
            folder = checkpoint_folder(self.args.output_dir, self.state.global_step)
            save_selection(folder, {**wall, **self.selection.state_dict()})

    # ---------------------------------------------------------------- feeding outcomes back
    def _completion_accuracies(self, rewards_per_func: torch.Tensor) -> np.ndarray:
        """The binary accuracy of every completion of the global batch (all ranks, in row order): here the task
        reward's own. Called on every rank (it gathers)."""
        from accelerate.utils import gather

        accuracies = self.task_reward.accuracies.take()
        local = torch.tensor(accuracies, dtype=torch.float32, device=self.accelerator.device)
        return gather(local).cpu().numpy()

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.model.training:  # for _generate_and_observe, which waits for them outside TRL's method
            self._scored_accuracies.put(self._completion_accuracies(rewards))
        return rewards


# ---------------------------------------------------------------- batch surgery for dynamic sampling
def _is_row_tensor(value: Any, rows: int) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] == rows


def _pad_to(tensor: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    missing = width - tensor.shape[1]
    if missing <= 0:
        return tensor
    pad = torch.full((tensor.shape[0], missing, *tensor.shape[2:]), value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([pad, tensor] if left else [tensor, pad], dim=1)


def _concat_batches(batches: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Row-concatenate scored batches, re-padding prompts on the left and completions on the right (scalars such as
    num_items_in_batch are taken from the first batch; :func:`_take_groups` recounts them for the rows it keeps)."""
    if len(batches) == 1:
        return batches[0]
    merged: dict[str, Any] = {}
    for key, first in batches[0].items():
        values = [b[key] for b in batches]
        if not isinstance(first, torch.Tensor) or first.dim() == 0:
            merged[key] = first
            continue
        if first.dim() >= 2:
            width = max(v.shape[1] for v in values)
            left = key.startswith("prompt")
            fill = pad_id if key.endswith("_ids") else 0
            values = [_pad_to(v, width, fill, left) for v in values]
        merged[key] = torch.cat(values, dim=0)
    return merged


def _take_groups(batch: dict[str, Any], positions: np.ndarray, k: int) -> dict[str, Any]:
    """The rows of the groups at ``positions`` (K consecutive rows per group), in that order."""
    rows = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() >= 1)
    index = torch.from_numpy((np.asarray(positions)[:, None] * k + np.arange(k)[None, :]).ravel())
    out = {key: (value[index] if _is_row_tensor(value, rows) else value) for key, value in batch.items()}
    if "completion_mask" in out and "num_items_in_batch" in out:
        out["num_items_in_batch"] = out["completion_mask"].sum()
    return out
