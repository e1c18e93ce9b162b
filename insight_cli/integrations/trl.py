"""``InsightGRPOTrainer``: TRL's ``GRPOTrainer`` with an online prompt selector, for your own TRL script.

    from insight_cli.integrations.trl import InsightGRPOTrainer

    trainer = InsightGRPOTrainer(
        model="Qwen/Qwen2.5-0.5B-Instruct",
        reward_funcs=[correctness, format_bonus],   # your reward functions, as for GRPOTrainer
        args=GRPOConfig(output_dir="out", num_generations=8, per_device_train_batch_size=64, save_steps=50),
        train_dataset=dataset,                       # your dataset ("prompt" + the columns your rewards read)
        selector="wmi",                              # or {"name": "mopps", "lam": 1.0}, or a Selector object
        accuracy_reward="correctness",               # which reward is the accuracy (None: the weighted total)
        accuracy_threshold=1.0,                      # a completion is solved when that reward is ≥ 1.0
    )
    trainer.train()                                  # later: trainer.train(resume_from_checkpoint=True)

It is ``insight train``'s own trainer (:class:`insight_cli.train.grpo.SelectorGRPOTrainer` and its
:class:`insight_cli.train.selection.PromptSelection`): each generation batch's M = generation_batch_size / K prompts
are chosen at the moment of generation, from a candidate pool of ``pool_factor × M`` prompts, after the previous
batch's outcomes were folded in (TRL's data loader runs one batch ahead, so a sampler would lag a step). The data
loader only paces the loop: the number of steps is TRL's (``max_steps``, or epochs × len(dataset) / M prompts).

Outcomes: every completion's reward (``accuracy_reward``'s column, or the weighted sum GRPO trains on) is binarised
as ``reward ≥ accuracy_threshold`` (a reward function's None counts as unsolved); the selector folds in the K binary
outcomes of each chosen prompt. Checkpoints: ``selection.npz`` (selector arrays and RNG, pool RNG, counters) is
written into every TRL ``checkpoint-N`` folder; ``train(resume_from_checkpoint=...)`` restores it, so a resumed run
makes the same choices as an uninterrupted one. docs/trl.md has the full example; examples/trl_grpo_selector.py runs.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from trl import GRPOConfig

from insight_cli.integrations.spec import SelectorSpec, build_prompt_selection
from insight_cli.train.checkpoints import SELECTION_FILE, load_selection
from insight_cli.train.grpo import SelectorGRPOTrainer


class InsightGRPOTrainer(SelectorGRPOTrainer):
    """A ``trl.GRPOTrainer`` whose prompts are chosen by an insight selector (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        reward_funcs: Any,
        args: GRPOConfig | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        *,
        selector: SelectorSpec = "wmi",
        pool_factor: float | None = None,
        accuracy_threshold: float = 1.0,
        accuracy_reward: int | str | None = None,
        selection_seed: int | None = None,
        **kwargs: Any,
    ):
        """``selector``: a name of ``insight_cli.selectors.SELECTORS`` (paper defaults), a mapping ``{"name": …,
        option: value}`` overriding them, or a ready ``Selector`` over ``len(train_dataset)`` prompts.
        ``pool_factor``: candidates drawn per chosen prompt, M̂/M (None: 16, InSight's). ``accuracy_reward``: index
        or name of the reward function that is the accuracy (None: the weighted total reward).
        ``selection_seed``: seeds the selector and the pool (None: ``args.seed``). Other arguments: GRPOTrainer's."""
        if train_dataset is None or not hasattr(train_dataset, "__len__") or not hasattr(train_dataset, "__getitem__"):
            raise ValueError(
                "InsightGRPOTrainer needs a map-style train_dataset (a datasets.Dataset or a list of rows) so the "
                "selector can pick rows by index: convert an IterableDataset with Dataset.from_generator"
            )
        if args is None:  # TRL's own default, built here because the batch shape is needed before super().__init__
            model_name = model if isinstance(model, str) else model.config._name_or_path
            args = GRPOConfig(f"{str(model_name).split('/')[-1]}-GRPO")
        k = int(args.num_generations)
        selection = build_prompt_selection(
            selector,
            num_prompts=len(train_dataset),
            prompts_per_step=int(args.generation_batch_size) // k,
            rollouts_per_prompt=k,
            pool_factor=pool_factor,
            seed=int(args.seed if selection_seed is None else selection_seed),
        )
        super().__init__(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            selection=selection,
            rows=train_dataset,
            **kwargs,
        )
        self.rows = self.train_dataset  # the rows TRL would have batched (after any preparation of its own)
        self.accuracy_threshold = float(accuracy_threshold)
        self.accuracy_column = self._reward_column(accuracy_reward)

    def _reward_column(self, accuracy_reward: int | str | None) -> int | None:
        """The index of the accuracy reward among ``reward_funcs`` (None: the weighted total)."""
        if accuracy_reward is None:
            return None
        names = list(self.reward_func_names)
        if isinstance(accuracy_reward, str):
            if accuracy_reward not in names:
                raise ValueError(f"accuracy_reward={accuracy_reward!r} is no reward function: choose one of {names}")
            return names.index(accuracy_reward)
        if not 0 <= int(accuracy_reward) < len(names):
            raise ValueError(f"accuracy_reward={accuracy_reward} is out of range: give an index in [0, {len(names)})")
        return int(accuracy_reward)

    # ---------------------------------------------------------------- outcomes: thresholded rewards
    def _completion_accuracies(self, rewards_per_func: torch.Tensor) -> np.ndarray:
        """1.0 where the accuracy reward (already gathered over ranks by TRL) is ≥ the threshold, else 0.0."""
        if self.accuracy_column is None:
            weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
            reward = (rewards_per_func * weights).nansum(dim=1)
        else:
            reward = rewards_per_func[:, self.accuracy_column]
        solved = torch.nan_to_num(reward, nan=-torch.inf) >= self.accuracy_threshold
        return solved.to(torch.float64).cpu().numpy()

    # ---------------------------------------------------------------- resume: the selection state from the checkpoint
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        """As ``Trainer.train``; a resumed run first restores the selection state saved in that checkpoint."""
        if resume_from_checkpoint is True:
            from transformers.trainer_utils import get_last_checkpoint

            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"no checkpoint-N folder in {self.args.output_dir} to resume from")
        if resume_from_checkpoint:
            self.load_selection(Path(resume_from_checkpoint))
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def load_selection(self, checkpoint: Path) -> bool:
        """Restore the selection state of ``checkpoint``; a missing or damaged file is a warning (the selector then
        starts afresh) rather than a crash. Returns whether it was restored."""
        path = Path(checkpoint) / SELECTION_FILE
        try:
            state = load_selection(checkpoint)
        except FileNotFoundError:
            warnings.warn(f"{path} is missing: the prompt selector starts afresh", stacklevel=2)
            return False
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            warnings.warn(f"{path} is unreadable ({exc}): the prompt selector starts afresh", stacklevel=2)
            return False
        self.selection.load_state_dict(state)
        return True

    # ---------------------------------------------------------------- what the selector did, in TRL's logs
    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self.model.training and "loss" in logs and self.selection.step.generation_batches:
            stats = self.selection.pop_step_stats()
            logs = {**logs, **{f"selection/{key}": value for key, value in stats.items() if value is not None}}
        super().log(logs, *args, **kwargs)


__all__ = ["InsightGRPOTrainer", "SelectorSpec"]
