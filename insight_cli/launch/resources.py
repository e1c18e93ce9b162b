"""What one run asks the scheduler for: GPUs, CPUs, memory, time — from the launcher config, else the model preset.

Every ``launcher.*`` resource left ``null`` comes from the model: GPUs from ``model.gpus`` (conf/model/*.yaml),
CPUs, memory and the seconds-per-step figure of the GPU-hour estimate from :data:`PRESETS` below, keyed by
``model.name``. Set any of them on the command line to override (``launcher.mem_gb=128``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from insight_cli.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    """Per-model defaults: CPU cores and host memory per run, and measured-or-estimated seconds per GRPO step."""

    cpus_per_task: int
    mem_gb: int
    seconds_per_step: float


# Host resources per model size (GPU counts live in conf/model/*.yaml as model.gpus). Seconds per step are for the
# paper's step (M = 256 prompts × K = 8 rollouts, vLLM colocated) on H100-class GPUs (estimates: no GPU was lent to
# measure them); the miniature's is measured: 657–728 s per 160-step run with its 9 evaluations on one core (the
# reproduction campaign, two runs sharing 2 cores). They only feed the estimate of --dry-run.
PRESETS: dict[str, Preset] = {
    "tiny-cpu": Preset(cpus_per_task=1, mem_gb=4, seconds_per_step=4.3),
    "qwen3-0.6b": Preset(cpus_per_task=8, mem_gb=64, seconds_per_step=45.0),
    "qwen3-1.7b": Preset(cpus_per_task=8, mem_gb=96, seconds_per_step=75.0),
    "qwen3-4b": Preset(cpus_per_task=32, mem_gb=256, seconds_per_step=120.0),
    "qwen3-8b": Preset(cpus_per_task=64, mem_gb=480, seconds_per_step=180.0),
    "qwen2.5-7b": Preset(cpus_per_task=64, mem_gb=480, seconds_per_step=170.0),
}
# a model without a preset: 8 cores and 64 GB per GPU (at least one), one minute per step
FALLBACK_PER_GPU = Preset(cpus_per_task=8, mem_gb=64, seconds_per_step=60.0)


@dataclass(frozen=True)
class Resources:
    """The resolved request of one run."""

    gpus: int
    cpus_per_task: int | None
    mem_gb: int | None
    timeout_min: int | None
    seconds_per_step: float


def _get(section: Any, key: str) -> Any:
    return section.get(key) if hasattr(section, "get") else None


def gpus_wording(n: int) -> str:
    return f"{n} GPU" if n == 1 else f"{n} GPUs"


def gpu_request_problem(cfg: Mapping[str, Any]) -> str | None:
    """The one check that the launcher's GPU request (``launcher.gpus_per_node``) covers the model's ``model.gpus``:
    None, or the line that names the fix."""
    model, granted = cfg["model"], _get(cfg["launcher"], "gpus_per_node")
    need = int(model.get("gpus") or 0)
    if granted is None or int(granted) >= need:
        return None
    return (
        f"model {model.get('name')} needs {gpus_wording(need)} but launcher.gpus_per_node={granted}: "
        f"set launcher.gpus_per_node={need} (or more) or choose a smaller model"
    )


def resources(cfg: Mapping[str, Any]) -> Resources:
    """Resources of one run (``cfg`` resolved, DictConfig or plain dict); a request below the model's need is an
    error that names the fix."""
    problem = gpu_request_problem(cfg)
    if problem:
        raise ConfigError(problem)
    model, launcher = cfg["model"], cfg["launcher"]
    need = int(model.get("gpus") or 0)
    preset = PRESETS.get(str(model.get("name")))
    if preset is None:
        n = max(need, 1)
        preset = Preset(
            FALLBACK_PER_GPU.cpus_per_task * n, FALLBACK_PER_GPU.mem_gb * n, FALLBACK_PER_GPU.seconds_per_step
        )
    gpus = _get(launcher, "gpus_per_node")
    gpus = need if gpus is None else int(gpus)
    cpus = _get(launcher, "cpus_per_task")
    mem = _get(launcher, "mem_gb")
    seconds = _get(launcher, "seconds_per_step")
    timeout = _get(launcher, "timeout_min")
    is_cluster = launcher.get("name") == "slurm"
    return Resources(
        gpus=gpus,
        cpus_per_task=int(cpus) if cpus is not None else (preset.cpus_per_task if is_cluster else None),
        mem_gb=int(mem) if mem is not None else (preset.mem_gb if is_cluster else None),
        timeout_min=int(timeout) if timeout is not None else None,
        seconds_per_step=float(seconds) if seconds is not None else preset.seconds_per_step,
    )


def gpu_hours(configs: list[Mapping[str, Any]]) -> tuple[float, float]:
    """(GPU-hours, wall-hours) of running these configs: steps × seconds per step × GPUs, summed."""
    gpu_h = wall_h = 0.0
    for cfg in configs:
        res = resources(cfg)
        hours = int(cfg["trainer"]["steps"]) * res.seconds_per_step / 3600.0
        wall_h += hours
        gpu_h += hours * res.gpus
    return gpu_h, wall_h
