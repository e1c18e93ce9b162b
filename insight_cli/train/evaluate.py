"""Held-out evaluation: pass@1 as avg@n (n samples per problem at temperature T), per benchmark.

Evaluation draws its randomness from its own seed inside ``torch.random.fork_rng``: the global RNG state is saved
and restored around it, so evaluating every step or every 10 steps leaves the training trajectory unchanged.
The same routine measures per-prompt success on the training pool for the ``prior: warmstart`` beliefs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


def transformers_cache(name: str) -> str | None:
    """``model.generation_cache`` as transformers' ``cache_implementation`` (None: its default, the dynamic cache)."""
    return None if name == "dynamic" else name


def generate_batches(
    model,
    tokenizer,
    texts: list[str],
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    cache: str = "dynamic",
    phase: str = "an evaluation",
) -> Iterator[tuple[int, Any]]:
    """One sampled completion per text (pure sampling: no top-k/top-p), ``batch_size`` texts at a time, without
    touching the global RNG: yields (index of the batch's first text, its completions' token ids).

    ``cache``: transformers' KV cache, ``dynamic`` or ``static`` (``model.generation_cache``; same samples).
    A stop request (train/stopping.py) raises StopRequested between two batches; ``phase`` names the work for it."""
    import torch

    from insight_cli.train.stopping import raise_if_stopped

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for start in range(0, len(texts), batch_size):
                raise_if_stopped(phase)
                enc = tokenizer(
                    texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
                ).to(device)
                out = model.generate(
                    **enc,
                    do_sample=True,
                    temperature=temperature,
                    top_k=0,
                    top_p=1.0,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    cache_implementation=transformers_cache(cache),
                    disable_compile=True,
                )
                yield start, out[:, enc["input_ids"].shape[1] :]
    finally:
        if was_training:
            model.train()


def sample_completions(
    model,
    tokenizer,
    prompts: list[str],
    n_samples: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    cache: str = "dynamic",
    phase: str = "an evaluation",
) -> list[list[str]]:
    """n sampled completions per prompt, as text (:func:`generate_batches` over every prompt repeated n times)."""
    flat = [p for p in prompts for _ in range(n_samples)]
    texts: list[str] = []
    for _, completions in generate_batches(
        model, tokenizer, flat, temperature, max_new_tokens, batch_size, seed, cache=cache, phase=phase
    ):
        texts.extend(tokenizer.batch_decode(completions, skip_special_tokens=True))
    return [texts[i * n_samples : (i + 1) * n_samples] for i in range(len(prompts))]


def success_counts(
    model,
    tokenizer,
    problems: list[dict],
    score: Callable,
    task_cfg: Any,
    *,
    n_samples: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    cache: str = "dynamic",
    phase: str = "an evaluation",
) -> np.ndarray:
    """Correct completions (binary accuracy) out of n_samples for every problem."""
    prompts = [p["prompt"] for p in problems]
    samples = sample_completions(
        model, tokenizer, prompts, n_samples, temperature, max_new_tokens, batch_size, seed, cache=cache, phase=phase
    )
    return np.array(
        [sum(score(c, p, task_cfg)[1] >= 1.0 for c in comps) for p, comps in zip(problems, samples, strict=True)]
    )


def evaluate_benchmarks(
    model,
    tokenizer,
    benchmarks: dict[str, list[dict]],
    score: Callable,
    task_cfg: Any,
    eval_cfg: Any,
    max_new_tokens: int,
    seed: int,
    cache: str = "dynamic",
) -> list[dict]:
    """One record per benchmark: pass@1 (avg@n), n_samples, n_problems."""
    records = []
    for offset, (name, problems) in enumerate(sorted(benchmarks.items())):
        counts = success_counts(
            model,
            tokenizer,
            problems,
            score,
            task_cfg,
            n_samples=int(eval_cfg.n_samples),
            temperature=float(eval_cfg.temperature),
            max_new_tokens=max_new_tokens,
            batch_size=int(eval_cfg.batch_size),
            seed=seed + offset,
            cache=cache,
        )
        records.append(
            {
                "benchmark": name,
                "pass@1": float(np.mean(counts / int(eval_cfg.n_samples))),
                "n_samples": int(eval_cfg.n_samples),
                "n_problems": len(problems),
            }
        )
    return records
