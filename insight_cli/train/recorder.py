"""The run's recorder: a TrainerCallback that writes metrics/eval/selection.jsonl into the run directory (DESIGN §4),
hands each record to the experiment trackers (train/tracking.py), evaluates, decides when to save, and honours a
stop (train/stopping.py). Multi-process runs: every rank trains and evaluates, rank 0 writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from accelerate import PartialState
from omegaconf import DictConfig
from transformers import TrainerCallback

from insight_cli.runs import RunDir
from insight_cli.train.selection import PromptSelection
from insight_cli.train.stopping import stop_requested_anywhere


class RunRecorder(TrainerCallback):
    """Records every step of one run. ``evaluate(model, step)`` yields one eval.jsonl record per benchmark;
    ``wall_offset``: training seconds of the attempts before this one (resumed from the checkpoint)."""

    def __init__(
        self,
        run_dir: RunDir,
        selection: PromptSelection,
        evaluate: Callable[[Any, int], Iterable[dict]],
        cfg: DictConfig,
        bar,
        wall_offset: float,
        tracking,
    ):
        t = cfg.trainer
        self.run_dir, self.selection, self.evaluate_fn = run_dir, selection, evaluate
        self.bar, self.wall_offset, self.tracking = bar, wall_offset, tracking
        self.every, self.save_every, self.last = int(t.eval.every), int(t.save_every), int(t.steps)
        self.main = PartialState().is_main_process  # rank 0 writes
        self.started = time.perf_counter()
        self.step_started = self.started
        self.pending: dict[str, Any] | None = None
        self.last_pass: float | None = None
        self.stopped = False  # the ranks agreed to stop early (request_stop on any of them)
        # read once, before rank 0 writes to it: the steps evaluated so far
        self.evaluated_steps = {int(r.get("step", -1)) for r in run_dir.read("eval.jsonl")}

    def elapsed(self) -> float:
        """The run's training seconds so far, across resumes (saved in every checkpoint)."""
        return self.wall_offset + time.perf_counter() - self.started

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        # step 0, or a resumed step whose evaluation a stop skipped (the checkpoint was saved without it)
        step = state.global_step
        if (step == 0 or step % self.every == 0 or step == self.last) and step not in self.evaluated_steps:
            self.evaluate(model, step, rollouts=self.selection.rollouts)

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_started = time.perf_counter()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        step_s = time.perf_counter() - self.step_started
        stats = self.selection.pop_step_stats()
        if self.main:
            self.write("selection.jsonl", self.selection_record(step))
        self.pending = {"step": step, "wall_s": round(self.elapsed(), 3), "step_s": round(step_s, 4), **stats}
        # a stop asked for during the step saves this step's checkpoint at once; the evaluation due here is
        # skipped and done first thing on resume (on_train_begin), so a stop never waits for one
        stop = self.stopped = stop_requested_anywhere()
        if (step % self.every == 0 or step == self.last) and not (stop and step < self.last):
            self.evaluate(model, step, rollouts=stats["rollouts"])
        control.should_save = step % self.save_every == 0 or step == self.last or stop
        control.should_training_stop = control.should_training_stop or stop
        self.bar.advance(
            reward=f"{stats['accuracy_mean']:.3f}",
            **({"pass@1": f"{self.last_pass:.3f}"} if self.last_pass is not None else {}),
        )

    def selection_record(self, step: int) -> dict:
        """selection.jsonl's line for ``step``: the chosen prompts, their scores and, for Beta selectors, the believed
        success of each when chosen, beside its outcome."""
        selection = self.selection
        beliefs = selection.last_beliefs
        return {
            "step": step,
            "prompt_ids": selection.last_choice,
            "scores": np.round(selection.last_scores, 6),
            "pool_size": selection.last_pool_size,
            **({"beliefs": np.round(beliefs, 6)} if beliefs is not None else {}),
            "successes": selection.last_successes,
            "trials": selection.num_generations,
        }

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.pending is None or logs is None or "train_runtime" in logs:
            return
        extra = {k: v for k, v in logs.items() if isinstance(v, int | float) and not k.startswith("rewards/")}
        record = {**self.pending, "reward_mean": extra.pop("reward", None), **extra}
        if self.main:
            self.write("metrics.jsonl", record)
            self.run_dir.set_status("running", record["step"])
        self.pending = None

    def evaluate(self, model, step: int, rollouts: int):
        for record in self.evaluate_fn(model, step):
            if self.main:
                record = {"step": step, "rollouts": rollouts, **record}
                self.write("eval.jsonl", record)
            self.last_pass = record["pass@1"]

    def write(self, name: str, record: dict) -> None:
        """Append ``record`` to the run directory's ``name`` and hand it to the trackers (rank 0 only)."""
        self.run_dir.append(name, record)
        self.tracking.log(name, record)
