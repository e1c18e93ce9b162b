"""``grpo_args(cfg, output_dir)``: the run's config as TRL's GRPOConfig, one optimizer step per generation batch."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


def per_device_batch(cfg: DictConfig, use_cuda: bool) -> tuple[int, int]:
    """(completions per device per micro-batch, micro-batches): the M×K completions of a step split over the
    processes and ``trainer.micro_batches``; a one-line error when they do not split evenly."""
    import torch

    t = cfg.trainer
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
    return completions // (processes * micro), micro


def grpo_args(cfg: DictConfig, output_dir: Path):
    """TRL GRPOConfig from ``cfg.trainer`` (+ model and seed): one optimizer step per generation batch."""
    import torch
    from trl import GRPOConfig

    from insight_cli.train.evaluate import transformers_cache

    t = cfg.trainer
    use_cuda = torch.cuda.is_available()
    per_device, micro = per_device_batch(cfg, use_cuda)
    bf16 = str(cfg.model.dtype) == "bfloat16" and use_cuda
    fields = GRPOConfig.__dataclass_fields__
    checkpointing = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=int(t.steps),
        per_device_train_batch_size=per_device,
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
