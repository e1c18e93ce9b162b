"""``run_training(cfg, run_dir)``: one GRPO run with an online prompt selector, top to bottom.

    insight train                                  # the CPU miniature (tiny model, WMI, Countdown)
    insight train --selector random trainer=smoke  # a 3-step check of the whole path

Flow: load the task (training pool + held-out benchmarks) → load the policy (a hub checkpoint, or the cached,
warm-started tiny model) → build the selector and the candidate-pool sampler → train with
:class:`SelectorGRPOTrainer`, recording every step in the run directory (DESIGN §4) → evaluate pass@1 every
``trainer.eval.every`` steps. Checkpoints hold the model, optimizer, scheduler, RNG states and the selection
state; a run started on a directory that has one resumes from it, after dropping any records written past it.

What the flow uses lives beside it: threads.py (CPU threads), prior.py (the belief prior), grpo_config.py (the
config as TRL's GRPOConfig), grpo.py (the trainer), recorder.py (the run directory's records), checkpoints.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from insight_cli.runs import RunDir
from insight_cli.selectors import PoolSampler, build_selector
from insight_cli.selectors.base import Selector, refreshes
from insight_cli.train.checkpoints import checkpoint_step, latest_checkpoint, load_selection
from insight_cli.train.evaluate import evaluate_benchmarks
from insight_cli.train.grpo_config import grpo_args
from insight_cli.train.model import load_model
from insight_cli.train.prior import apply_prior, warmstart_counts
from insight_cli.train.progress import progress_bar
from insight_cli.train.selection import PromptSelection
from insight_cli.train.stopping import clear_stop
from insight_cli.train.threads import limit_cpu_threads
from insight_cli.train.tracking import open_tracking

# eval.jsonl's name for the evaluation on the first trainer.eval.pool_problems prompts of the training pool
POOL_BENCHMARK = "train_pool"


# ---------------------------------------------------------------------------------------------- data
def load_problems(cfg: DictConfig) -> tuple[Any, list[dict], dict[str, list[dict]]]:
    """The task module, its training pool and its full held-out benchmarks.

    For the locally warm-started tiny model, the pool and the held-out sets skip every problem of the warm-start
    corpus (a task that defines ``exclusion_keys``), so RL and evaluation never see a problem the model was taught."""
    from insight_cli.tasks import get_task
    from insight_cli.train.warmstart import exclusions

    task = get_task(cfg.task.name)
    kwargs = exclusions(cfg.model, task)
    data_dir = cfg.paths.data_dir
    return task, task.load_train(cfg.task, data_dir, **kwargs), task.load_eval(cfg.task, data_dir, **kwargs)


def trim_benchmarks(benchmarks: dict[str, list[dict]], limit: int | None) -> dict[str, list[dict]]:
    """The first ``trainer.eval.num_problems`` problems of each benchmark (all of them when None)."""
    return benchmarks if limit is None else {name: items[: int(limit)] for name, items in benchmarks.items()}


def as_chat(prompt: str) -> list[dict]:
    """A plain prompt as one user turn, so TRL applies the model's chat template."""
    return [{"role": "user", "content": prompt}]


# ---------------------------------------------------------------------------------------------- the run's steps
def evaluation_sets(cfg: DictConfig, benchmarks: dict[str, list[dict]], problems: list[dict]) -> dict[str, list]:
    """What every evaluation scores: the trimmed held-out benchmarks and, if ``trainer.eval.pool_problems``, the first
    prompts of the training pool as :data:`POOL_BENCHMARK` (seen prompts: memorisation vs generalisation)."""
    benchmarks = trim_benchmarks(benchmarks, cfg.trainer.eval.num_problems)
    if int(cfg.trainer.eval.pool_problems):
        benchmarks = {**benchmarks, POOL_BENCHMARK: problems[: int(cfg.trainer.eval.pool_problems)]}
    return benchmarks


def pacing_rows(cfg: DictConfig, problems: list[dict]) -> tuple[list[dict], Any]:
    """The pool as TRL rows (indexed by prompt id) and the dataset that only paces the loop: one row per completion
    slot of the run; the prompts themselves come from the selector."""
    import datasets

    chat = bool(cfg.task.get("chat_template", False))
    rows = [{"prompt": as_chat(p["prompt"]) if chat else p["prompt"], "id": int(p["id"])} for p in problems]
    slots = int(cfg.trainer.steps) * int(cfg.trainer.prompts_per_step)
    return rows, datasets.Dataset.from_list([rows[i % len(rows)] for i in range(slots)])


def evaluator(cfg: DictConfig, tokenizer, task, benchmarks: dict[str, list[dict]]):
    """``evaluate(model, step)``: pass@1 on every benchmark, sampled with a seed of its own for each step."""
    eval_seed = int(np.random.SeedSequence([int(cfg.seed), 7]).generate_state(1)[0])

    def evaluate(model, step: int):
        return evaluate_benchmarks(
            model,
            tokenizer,
            benchmarks,
            task.score,
            cfg.task,
            cfg.trainer.eval,
            int(cfg.trainer.max_completion_length),
            seed=eval_seed + step,
            cache=str(cfg.model.generation_cache),
        )

    return evaluate


def build_selection(cfg: DictConfig, num_prompts: int) -> tuple[Selector, PromptSelection]:
    """The selector, the candidate-pool sampler and their bookkeeping (seeded apart from each other and from torch)."""
    seeds = np.random.SeedSequence(int(cfg.seed)).generate_state(2)
    selector = build_selector(num_prompts, cfg.selector, seed=int(seeds[0]))
    pool = PoolSampler(num_prompts, float(cfg.pool.factor), seed=int(seeds[1]))
    t = cfg.trainer
    return selector, PromptSelection(selector, pool, int(t.prompts_per_step), int(t.num_generations))


def resume_selection(selection: PromptSelection, checkpoint: Path | None, run_dir: RunDir) -> float:
    """Restore the selection state of ``checkpoint`` and drop the records written past it; returns the training
    seconds of the attempts before (0.0 for a fresh run, ``checkpoint`` None)."""
    if checkpoint is None:
        return 0.0
    state = load_selection(checkpoint)
    selection.load_state_dict(state)
    run_dir.truncate_after(checkpoint_step(checkpoint))
    return float(state.get("wall_s", 0.0))


def quiet_libraries() -> None:
    """Silence what would interleave with the run's own progress bar or repeat every step."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars would interleave with the run's own progress bar
    # TRL 1.16 still calls transformers' renamed is_gradient_checkpointing once per step: noise, not a user issue.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


# ---------------------------------------------------------------------------------------------- the run
def run_training(cfg: DictConfig, run_dir: RunDir) -> dict:
    """Train one run into ``run_dir`` (resuming from its newest checkpoint); returns {'state', 'step'}."""
    run_dir.create()
    step = int(run_dir.read_status().get("step", 0))
    run_dir.set_status("running", step)
    try:
        result = _train(cfg, run_dir)
    except BaseException as exc:
        state = "preempted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run_dir.set_status(state, int(run_dir.read_status().get("step", 0)), error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        clear_stop()  # cleared on the way out, so a stop requested while the run starts up is not lost
    run_dir.set_status(result["state"], result["step"])
    return result


def _train(cfg: DictConfig, run_dir: RunDir) -> dict:
    from accelerate import PartialState
    from transformers import PrinterCallback

    from insight_cli.train.grpo import SelectorGRPOTrainer, TaskReward
    from insight_cli.train.recorder import RunRecorder

    quiet_libraries()
    limit_cpu_threads()
    # --- data and model
    task, problems, benchmarks = load_problems(cfg)
    with PartialState().main_process_first():  # rank 0 builds (or downloads) the model once; the others then load it
        model, tokenizer, model_info = load_model(cfg.model, cfg.paths.cache_dir)
    source = model_info.get("path", model_info["source"])
    benchmarks = evaluation_sets(cfg, benchmarks, problems)
    selector, selection = build_selection(cfg, len(problems))

    # --- resume, or start from the configured belief prior
    checkpoint = latest_checkpoint(run_dir.checkpoints)
    if checkpoint is None and cfg.selector.get("prior", "uniform") == "warmstart":
        apply_prior(selector, cfg, warmstart_counts(cfg, model, tokenizer, task, problems, source))
    if refreshes(selector):  # CROPI: projected policy gradients at the start of every stage
        from insight_cli.train.influence import InfluenceRefresher

        selection.influence = InfluenceRefresher(cfg, model, tokenizer, task, problems, source, checkpoint is None)
    wall_offset = resume_selection(selection, checkpoint, run_dir)
    start_step = checkpoint_step(checkpoint) if checkpoint else 0

    # --- trainer: the dataset only paces the loop (one row per completion slot); prompts come from the selector
    rows, pacing = pacing_rows(cfg, problems)
    reward = TaskReward(task.score, problems, cfg.task, name=str(cfg.task.name))
    evaluate = evaluator(cfg, tokenizer, task, benchmarks)
    args = grpo_args(cfg, run_dir.checkpoints)
    main = PartialState().is_main_process  # rank 0 draws the one progress bar and reports to the trackers
    steps = int(cfg.trainer.steps)
    with (
        open_tracking(cfg, run_dir, resume_step=start_step, main=main) as tracking,
        progress_bar(f"GRPO {cfg.selector.name}", total=steps, enabled=main, completed=start_step) as bar,
    ):
        recorder = RunRecorder(run_dir, selection, evaluate, cfg, bar, wall_offset, tracking)
        trainer = SelectorGRPOTrainer(
            model=model,
            args=args,
            train_dataset=pacing,
            processing_class=tokenizer,
            selection=selection,
            task_reward=reward,
            rows=rows,
            callbacks=[recorder],
            elapsed=recorder.elapsed,
        )
        trainer.remove_callback(PrinterCallback)  # the progress bar and metrics.jsonl replace printed log dicts
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        step = int(trainer.state.global_step)
        stopped = recorder.stopped and step < steps  # agreed by every rank, so all return the same
        tracking.finish("preempted" if stopped else "done")
    return {"state": "preempted" if stopped else "done", "step": step}
