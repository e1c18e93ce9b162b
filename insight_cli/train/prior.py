"""The belief prior ``selector.prior=warmstart`` (DESIGN §6): per-prompt success counts of K rollouts of the starting
policy on the training pool, cached under ``paths.cache_dir``, seeding the Beta beliefs (MoPPS's offline start)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig


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
