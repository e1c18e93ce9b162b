"""Checks that reject a GPU-path run before anything is launched or submitted, each as a one-line ConfigError.

Two kinds, called at two moments:

* :func:`check_config` — contradictions inside the config (tensor parallel wider than the run's GPUs, or not
  dividing them; a sharding strategy without several GPUs, or several GPUs without one; a process count that
  contradicts the GPUs or does not split a step's completions). Pure, cheap, safe for ``--dry-run``:
  ``config.validate`` calls it.
* :func:`check_environment` — the config against the place the run will execute: vLLM or DeepSpeed requested but
  not installed in the interpreter the job will run (``launcher.python``, else this one), GPUs requested from an
  in-process or local launch on a machine without them, more GPUs than ``launcher.gpus_per_node`` grants. Called
  by the launcher right before it runs or submits (not on ``--dry-run``, which may be planned anywhere). The chosen
  experiment trackers are checked here too (train/tracking.py): package installed, W&B server reachable when online.

    insight train --model qwen3-4b                    # on a laptop: "model qwen3-4b needs 4 GPUs but ..."
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from insight_cli import envinfo
from insight_cli.errors import ConfigError
from insight_cli.launch.resources import gpu_request_problem, gpus_wording

# Packages a config can require beyond the base install, by the feature that needs them.
VLLM_HINT = "install it on the GPU nodes (pip install vllm) or set model.vllm.enabled=false"
DEEPSPEED_HINT = "install it (pip install deepspeed) or set model.distributed=fsdp"


STRATEGIES = ("none", "zero3", "fsdp")  # model.distributed; zero3 and fsdp name conf/accelerate/<strategy>.yaml


def training_processes(cfg: Mapping[str, Any]) -> int:
    """Training processes of one run: one per GPU (``model.gpus``); on CPU ``launcher.processes`` (default 1).

    More than one means the job starts them with a distributed launch (insight_cli/launch/processes.py)."""
    gpus = int(cfg["model"].get("gpus") or 0)
    requested = cfg["launcher"].get("processes")
    if gpus > 0:
        return gpus
    return max(1, int(requested)) if requested is not None else 1


def process_problems(cfg: Mapping[str, Any]) -> list[str]:
    """How one run is split over processes: the strategy, the process count and the batch must agree."""
    model, launcher, trainer = cfg["model"], cfg["launcher"], cfg["trainer"]
    name, gpus = model.get("name"), int(model.get("gpus") or 0)
    strategy, requested = str(model.get("distributed") or "none"), launcher.get("processes")
    problems = []
    if strategy not in STRATEGIES:
        return [f"model.distributed={model.get('distributed')!r} is unknown: use none, zero3 or fsdp"]
    if requested is not None and int(requested) < 1:
        problems.append(f"launcher.processes={requested} must be ≥ 1: set it to the CPU ranks wanted, or null")
    elif requested is not None and gpus > 0 and int(requested) != gpus:
        problems.append(
            f"launcher.processes={requested} but model {name} trains one process per GPU (model.gpus={gpus}): "
            f"leave launcher.processes=null, or set model.gpus={requested}"
        )
    if gpus > 1 and strategy == "none":
        problems.append(
            f"model {name} has model.gpus={gpus} but model.distributed=none: multi-GPU runs shard the model; "
            "set model.distributed=zero3 or model.distributed=fsdp, or model.gpus=1"
        )
    if strategy != "none" and gpus <= 1:
        problems.append(
            f"model.distributed={strategy} shards over several GPUs but model {name} has model.gpus={gpus}: "
            f"set model.distributed=none, or model.gpus≥2"
        )
    processes, micro = training_processes(cfg), int(trainer.get("micro_batches") or 1)
    completions = int(trainer.get("prompts_per_step") or 0) * int(trainer.get("num_generations") or 0)
    if processes > 1 and completions % (processes * micro):
        problems.append(
            f"M×K = {completions} completions do not split over {processes} processes × {micro} micro-batches: "
            f"choose M×K divisible by {processes * micro}, or change trainer.micro_batches or the process count"
        )
    return problems


def config_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Contradictions inside the config itself, one line each."""
    model = cfg["model"]
    gpus, vllm = int(model.get("gpus") or 0), model.get("vllm") or {}
    problems = []
    tp = int(vllm.get("tensor_parallel_size") or 1)
    if vllm.get("enabled") and tp > max(gpus, 1):
        problems.append(
            f"model.vllm.tensor_parallel_size={tp} is larger than model.gpus={gpus}: "
            f"set model.vllm.tensor_parallel_size≤{max(gpus, 1)} or model.gpus≥{tp}"
        )
    elif vllm.get("enabled") and gpus > 1 and gpus % tp:
        problems.append(
            f"model.vllm.tensor_parallel_size={tp} does not divide model.gpus={gpus}: every vLLM engine spans "
            f"{tp} of the run's processes; choose a divisor of {gpus}"
        )
    from insight_cli.train.tracking import config_problems as tracker_config_problems

    return problems + process_problems(cfg) + tracker_config_problems(cfg)


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def environment_problems(cfg: DictConfig) -> list[str]:
    """The config against where the run will execute, one line each (imports torch only for local launches)."""
    model, launcher = cfg["model"], cfg["launcher"]
    name, gpus = model.get("name"), int(model.get("gpus") or 0)
    where = launcher.get("name") or "inprocess"
    python = launcher.get("python") if where == "slurm" else None
    interpreter = f"launcher.python ({python})" if python else "this Python"
    problems = [p for p in [gpu_request_problem(cfg)] if p]
    if where != "slurm" and gpus > 0 and (have := cuda_devices()) < gpus:
        problems.append(
            f"model {name} needs {gpus_wording(gpus)} but this machine has {have}: "
            "use launcher=slurm, or --model tiny-cpu"
        )
    vllm = model.get("vllm") or {}
    if vllm.get("enabled") and not envinfo.has_module("vllm", python):
        problems.append(f"model.vllm.enabled=true but vLLM is not installed in {interpreter}: {VLLM_HINT}")
    if str(model.get("distributed")) == "zero3" and gpus > 1 and not envinfo.has_module("deepspeed", python):
        problems.append(f"model.distributed=zero3 but DeepSpeed is not installed in {interpreter}: {DEEPSPEED_HINT}")
    from insight_cli.train.tracking import environment_problems as tracker_problems  # packages, W&B server

    return problems + tracker_problems(cfg, python)


def check_config(cfg: Mapping[str, Any]) -> None:
    """Raise the first config contradiction as a one-line ConfigError (a DictConfig or its plain containers)."""
    for problem in config_problems(cfg):
        raise ConfigError(problem)


def check_environment(cfg: DictConfig) -> None:
    """Raise the first config-versus-machine problem as a one-line ConfigError (call right before launching)."""
    for problem in environment_problems(cfg):
        raise ConfigError(problem)
