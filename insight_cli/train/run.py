"""``run_training(cfg, run_dir)``: one GRPO run with an online prompt selector, top to bottom.

    insight train                                  # the CPU miniature (tiny model, WMI, Countdown)
    insight train --selector random trainer=smoke  # a 3-step check of the whole path

Flow: load the task (training pool + held-out benchmarks) → load the policy (a hub checkpoint, or the cached,
warm-started tiny model) → build the selector and the candidate-pool sampler → train with
:class:`SelectorGRPOTrainer`, recording every step in the run directory (DESIGN §4) → evaluate pass@1 every
``trainer.eval.every`` steps. Checkpoints hold the model, optimizer, scheduler, RNG states and the selection
state; a run started on a directory that has one resumes from it, after dropping any records written past it.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from insight_cli.runs import RunDir
from insight_cli.train.checkpoints import checkpoint_step, latest_checkpoint, load_selection
from insight_cli.train.stopping import clear_stop, stop_requested

# eval.jsonl's name for the evaluation on the first trainer.eval.pool_problems prompts of the training pool
POOL_BENCHMARK = "train_pool"


def idle_cores(window_s: float = 0.5) -> float:
    """Cores left idle by every other process over ``window_s`` seconds (from /proc/stat; NaN where unreadable)."""

    def totals() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all jiffies, idle + iowait

    try:
        total0, idle0 = totals()
        time.sleep(window_s)
        total1, idle1 = totals()
    except (OSError, ValueError, IndexError):
        return float("nan")
    cores = os.cpu_count() or 1
    return cores * (idle1 - idle0) / max(1, total1 - total0)


def limit_cpu_threads() -> None:
    """On CPU, use the cores this run may have: the ones Slurm granted (shared by the job's ranks), else, unless
    OMP_NUM_THREADS says, the cores of this machine that other processes leave idle when the run starts.

    Oversubscribed torch threads spin instead of working: two 2-thread processes on 2 cores took 8x the CPU time
    per step, and the README's main job beside one CPU-bound process spent 40+ CPU-minutes in a 5-minute warm start.
    One thread per idle core (at least one) keeps a busy machine at about the quiet speed of those cores."""
    import torch

    if torch.cuda.is_available():
        return
    granted = os.environ.get("SLURM_CPUS_PER_TASK")
    if granted:
        torch.set_num_threads(max(1, int(granted) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
        return
    if os.environ.get("OMP_NUM_THREADS") or int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        return  # chosen by the user, or by the launcher of several ranks
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    idle = idle_cores()
    if not math.isnan(idle):
        torch.set_num_threads(max(1, min(available, torch.get_num_threads(), int(idle + 0.5))))


def stop_requested_anywhere() -> bool:
    """Whether any rank was asked to stop (one rank alone: whether this one was). Called by every rank at the end of
    every step: ranks must leave the loop at the same step, or those that go on wait forever in the next step's
    collectives (the broadcast of the chosen prompts, the gather of outcomes, ZeRO-3's parameter gathers)."""
    import torch
    import torch.distributed as dist

    asked = stop_requested()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return asked
    from accelerate import PartialState

    flag = torch.tensor([int(asked)], device=PartialState().device)  # a CUDA tensor for NCCL, a CPU one for gloo
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


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


def render_chat(tokenizer, prompt: str, thinking: bool) -> str:
    """The text TRL generates from for a conversational prompt (generation prompt added, Qwen3 thinking switch)."""
    return tokenizer.apply_chat_template(
        as_chat(prompt), tokenize=False, add_generation_prompt=True, enable_thinking=thinking
    )


def grpo_args(cfg: DictConfig, output_dir: Path):
    """TRL GRPOConfig from ``cfg.trainer`` (+ model and seed): one optimizer step per generation batch."""
    import torch
    from trl import GRPOConfig

    from insight_cli.train.evaluate import transformers_cache

    t = cfg.trainer
    use_cuda = torch.cuda.is_available()
    # One process per GPU (or CPU rank) under `accelerate launch` / torchrun, which set WORLD_SIZE.
    world = int(os.environ.get("WORLD_SIZE", "1"))
    processes = max(1, torch.cuda.device_count()) if use_cuda and int(cfg.model.gpus) > 1 else 1
    processes = world if world > 1 else processes
    completions = int(t.prompts_per_step) * int(t.num_generations)
    micro = int(t.micro_batches)
    if completions % (processes * micro):
        raise ValueError(
            f"M×K = {completions} completions do not split over {processes} processes × {micro} "
            "micro-batches: change trainer.micro_batches or M/K"
        )
    bf16 = str(cfg.model.dtype) == "bfloat16" and use_cuda
    fields = GRPOConfig.__dataclass_fields__
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=int(t.steps),
        per_device_train_batch_size=completions // (processes * micro),
        gradient_accumulation_steps=micro,
        steps_per_generation=micro,
        num_generations=int(t.num_generations),
        max_completion_length=int(t.max_completion_length),
        temperature=float(t.temperature),
        top_k=0,
        top_p=1.0,
        cache_implementation=transformers_cache(str(cfg.model.generation_cache)),
        learning_rate=float(t.learning_rate),
        lr_scheduler_type=str(t.lr_scheduler),
        warmup_steps=int(round(float(t.warmup_ratio) * int(t.steps))),
        beta=float(t.beta),
        epsilon=float(t.epsilon),
        loss_type=str(t.loss_type),
        max_grad_norm=float(t.max_grad_norm),
        # transformers ≥ 5.18 renamed gradient_checkpointing (the vLLM CPU environment pins transformers < 5.18)
        **{checkpointing: bool(cfg.model.gradient_checkpointing)},
        bf16=bf16,
        use_cpu=not use_cuda,
        seed=int(cfg.seed),
        logging_steps=1,
        save_strategy="no",  # the recorder callback decides when to save (every save_every, last step, stop)
        save_total_limit=2,
        report_to="none",
        disable_tqdm=True,
        shuffle_dataset=False,
        dataloader_num_workers=0,
        chat_template_kwargs={"enable_thinking": bool(cfg.task.get("enable_thinking", False))},
        use_vllm=bool(cfg.model.vllm.enabled),
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=float(cfg.model.vllm.gpu_memory_utilization),
        vllm_tensor_parallel_size=int(cfg.model.vllm.tensor_parallel_size),
        vllm_enable_sleep_mode=bool(cfg.model.vllm.enable_sleep_mode),
    )


# ---------------------------------------------------------------------------------------------- belief prior
def warmstart_counts(cfg: DictConfig, model, tokenizer, task, problems: list[dict], model_source: str):
    """Per-prompt (successes, trials) of K rollouts of the starting policy on the training pool (``prior:
    warmstart``), cached under paths.cache_dir: the same model and pool give the same counts."""
    import hashlib
    import json

    from insight_cli.train.evaluate import success_counts

    k, temperature = int(cfg.trainer.num_generations), float(cfg.trainer.temperature)
    spec = {
        "model": model_source,
        "pool": [p["prompt"] for p in problems],
        "k": k,
        "t": temperature,
        "seed": int(cfg.seed),
        "max_new_tokens": int(cfg.trainer.max_completion_length),
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cfg.paths.cache_dir) / "priors" / f"{key}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["successes"], saved["trials"]
    print(f"belief prior: {k} rollouts of each of {len(problems)} pool prompts (cached)", file=sys.stderr, flush=True)
    successes = success_counts(
        model,
        tokenizer,
        problems,
        task.score,
        cfg.task,
        n_samples=k,
        temperature=temperature,
        max_new_tokens=int(cfg.trainer.max_completion_length),
        batch_size=int(cfg.trainer.eval.batch_size),
        seed=int(cfg.seed) + 31,
        cache=str(cfg.model.generation_cache),
        phase="the belief prior's rollouts",
    )
    trials = np.full(len(problems), k)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, successes=successes, trials=trials)
    return successes, trials


def apply_prior(selector, cfg: DictConfig, counts) -> None:
    """Seed Beta beliefs from the warm start's rollouts (α = 3·successes + 1, β = 3·failures + 1)."""
    if not hasattr(selector, "init_from_counts"):
        raise ValueError(f"selector.prior=warmstart needs a Beta-belief selector; '{cfg.selector.name}' has none")
    selector.init_from_counts(*counts)


# ---------------------------------------------------------------------------------------------- recording
def make_recorder(run_dir: RunDir, selection, evaluate, cfg: DictConfig, bar, wall_offset: float, tracking):
    """A TrainerCallback that writes metrics/eval/selection.jsonl, hands each record to ``tracking`` (the experiment
    trackers, train/tracking.py), evaluates, saves and honours request_stop."""
    from accelerate import PartialState
    from transformers import TrainerCallback

    t = cfg.trainer
    every, save_every, last = int(t.eval.every), int(t.save_every), int(t.steps)
    main = PartialState().is_main_process  # multi-process runs: every rank trains and evaluates, rank 0 writes

    class RunRecorder(TrainerCallback):
        def __init__(self):
            self.started = time.perf_counter()
            self.step_started = self.started
            self.pending: dict[str, Any] | None = None
            self.last_pass: float | None = None
            self.stopped = False  # the ranks agreed to stop early (request_stop on any of them)
            # read once, before rank 0 writes to it: the steps evaluated so far
            self.evaluated_steps = {int(r.get("step", -1)) for r in run_dir.read("eval.jsonl")}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            # step 0, or a resumed step whose evaluation a stop skipped (the checkpoint was saved without it)
            step = state.global_step
            if (step == 0 or step % every == 0 or step == last) and step not in self.evaluated_steps:
                self.evaluate(model, step, rollouts=selection.rollouts)

        def on_step_begin(self, args, state, control, **kwargs):
            self.step_started = time.perf_counter()

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            step_s = time.perf_counter() - self.step_started
            stats = selection.pop_step_stats()
            if main:
                record = {
                    "step": step,
                    "prompt_ids": selection.last_choice,
                    "scores": np.round(selection.last_scores, 6),
                    "pool_size": selection.last_pool_size,
                    # believed success of each chosen prompt when chosen (Beta selectors), and its outcome
                    **({"beliefs": np.round(selection.last_beliefs, 6)} if selection.last_beliefs is not None else {}),
                    "successes": selection.last_successes,
                    "trials": selection.num_generations,
                }
                run_dir.append("selection.jsonl", record)
                tracking.log("selection.jsonl", record)
            self.pending = {
                "step": step,
                "wall_s": round(wall_offset + time.perf_counter() - self.started, 3),
                "step_s": round(step_s, 4),
                **stats,
            }
            # a stop asked for during the step saves this step's checkpoint at once; the evaluation due here is
            # skipped and done first thing on resume (on_train_begin), so a stop never waits for one
            stop = self.stopped = stop_requested_anywhere()
            if (step % every == 0 or step == last) and not (stop and step < last):
                self.evaluate(model, step, rollouts=stats["rollouts"])
            control.should_save = step % save_every == 0 or step == last or stop
            control.should_training_stop = control.should_training_stop or stop
            bar.advance(
                reward=f"{stats['accuracy_mean']:.3f}",
                **({"pass@1": f"{self.last_pass:.3f}"} if self.last_pass is not None else {}),
            )

        def on_log(self, args, state, control, logs=None, **kwargs):
            if self.pending is None or logs is None or "train_runtime" in logs:
                return
            extra = {k: v for k, v in logs.items() if isinstance(v, int | float) and not k.startswith("rewards/")}
            record = {**self.pending, "reward_mean": extra.pop("reward", None), **extra}
            if main:
                run_dir.append("metrics.jsonl", record)
                tracking.log("metrics.jsonl", record)
                run_dir.set_status("running", record["step"])
            self.pending = None

        def evaluate(self, model, step: int, rollouts: int):
            for record in evaluate(model, step):
                if main:
                    record = {"step": step, "rollouts": rollouts, **record}
                    run_dir.append("eval.jsonl", record)
                    tracking.log("eval.jsonl", record)
                self.last_pass = record["pass@1"]

    return RunRecorder()


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
    import datasets
    from accelerate import PartialState
    from transformers import PrinterCallback
    from transformers.utils import logging as hf_logging

    from insight_cli.selectors import PoolSampler, build_selector
    from insight_cli.selectors.base import refreshes
    from insight_cli.train.evaluate import evaluate_benchmarks
    from insight_cli.train.grpo import SelectorGRPOTrainer, TaskReward
    from insight_cli.train.model import load_model
    from insight_cli.train.progress import progress_bar
    from insight_cli.train.selection import PromptSelection
    from insight_cli.train.tracking import open_tracking

    hf_logging.disable_progress_bar()  # weight-loading bars would interleave with the run's own progress bar
    # TRL 1.16 still calls transformers' renamed is_gradient_checkpointing once per step: noise, not a user issue.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    limit_cpu_threads()
    # --- data and model
    task, problems, benchmarks = load_problems(cfg)
    with PartialState().main_process_first():  # rank 0 builds (or downloads) the model once; the others then load it
        model, tokenizer, model_info = load_model(cfg.model, cfg.paths.cache_dir)
    benchmarks = trim_benchmarks(benchmarks, cfg.trainer.eval.num_problems)
    if int(cfg.trainer.eval.pool_problems):  # the same evaluation on seen prompts: memorisation vs generalisation
        benchmarks = {**benchmarks, POOL_BENCHMARK: problems[: int(cfg.trainer.eval.pool_problems)]}
    # --- selector, pool sampler and their bookkeeping (seeded apart from each other and from torch)
    seeds = np.random.SeedSequence(int(cfg.seed)).generate_state(2)
    selector = build_selector(len(problems), cfg.selector, seed=int(seeds[0]))
    pool = PoolSampler(len(problems), float(cfg.pool.factor), seed=int(seeds[1]))
    selection = PromptSelection(selector, pool, int(cfg.trainer.prompts_per_step), int(cfg.trainer.num_generations))

    # --- resume, or start from the configured belief prior
    checkpoint = latest_checkpoint(run_dir.checkpoints)
    wall_offset = 0.0
    if checkpoint is None and cfg.selector.get("prior", "uniform") == "warmstart":
        source = model_info.get("path", model_info["source"])
        apply_prior(selector, cfg, warmstart_counts(cfg, model, tokenizer, task, problems, source))
    if refreshes(selector):  # CROPI: projected policy gradients at the start of every stage
        from insight_cli.train.influence import InfluenceRefresher

        source = model_info.get("path", model_info["source"])
        selection.influence = InfluenceRefresher(cfg, model, tokenizer, task, problems, source, checkpoint is None)
    if checkpoint is not None:
        state = load_selection(checkpoint)
        selection.load_state_dict(state)
        wall_offset = float(state.get("wall_s", 0.0))
        run_dir.truncate_after(checkpoint_step(checkpoint))

    # --- trainer: the dataset only paces the loop (one row per completion slot); prompts come from the selector
    chat = bool(cfg.task.get("chat_template", False))
    rows = [{"prompt": as_chat(p["prompt"]) if chat else p["prompt"], "id": int(p["id"])} for p in problems]
    slots = int(cfg.trainer.steps) * int(cfg.trainer.prompts_per_step)
    pacing = datasets.Dataset.from_list([rows[i % len(rows)] for i in range(slots)])
    reward = TaskReward(task.score, problems, cfg.task, name=str(cfg.task.name))
    eval_seed = int(np.random.SeedSequence([int(cfg.seed), 7]).generate_state(1)[0])

    def evaluate(model_, step):
        return evaluate_benchmarks(
            model_,
            tokenizer,
            benchmarks,
            task.score,
            cfg.task,
            cfg.trainer.eval,
            int(cfg.trainer.max_completion_length),
            seed=eval_seed + step,
            cache=str(cfg.model.generation_cache),
        )

    args = grpo_args(cfg, run_dir.checkpoints)
    start_step = checkpoint_step(checkpoint) if checkpoint else 0
    # one bar per run, drawn by rank 0 (the others would interleave theirs with it)
    bar_enabled = PartialState().is_main_process
    with (
        open_tracking(cfg, run_dir, resume_step=start_step, main=bar_enabled) as tracking,  # rank 0 reports
        progress_bar(
            f"GRPO {cfg.selector.name}", total=int(cfg.trainer.steps), enabled=bar_enabled, completed=start_step
        ) as bar,
    ):
        recorder = make_recorder(run_dir, selection, evaluate, cfg, bar, wall_offset, tracking)
        trainer = SelectorGRPOTrainer(
            model=model,
            args=args,
            train_dataset=pacing,
            processing_class=tokenizer,
            selection=selection,
            task_reward=reward,
            rows=rows,
            callbacks=[recorder],
            elapsed=lambda: wall_offset + time.perf_counter() - recorder.started,
        )
        trainer.remove_callback(PrinterCallback)  # the progress bar and metrics.jsonl replace printed log dicts
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        step = int(trainer.state.global_step)
        stopped = recorder.stopped and step < int(cfg.trainer.steps)  # agreed by every rank, so all return the same
        tracking.finish("preempted" if stopped else "done")
    return {"state": "preempted" if stopped else "done", "step": step}
