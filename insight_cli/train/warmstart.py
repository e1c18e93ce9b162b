"""Warm start of the tiny CPU model: supervised fine-tuning on generated Countdown problems with solver answers.

RL needs signal: a freshly initialised model never writes a correct equation, so every GRPO group would have zero
reward variance. A short SFT on ``prompt → <answer>solver expression</answer><eos>`` teaches the answer format
and a partial skill, so that sampling at temperature 1 solves a fraction of held-out problems that varies from
problem to problem. The result is deterministic given the recipe and cached under
``<paths.cache_dir>/tiny-models/<recipe hash>/``; a changed recipe (architecture, SFT settings, avoided problems or
``RECIPE_VERSION``) builds a new one. A file lock makes concurrent jobs build it once.

    insight train                       # builds the warm start on first use (a few minutes on 2 cores)
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

# Bump when the warm-start code changes what it produces, so cached models are rebuilt.
RECIPE_VERSION = 1
PROMPT_STYLE = "compact"


def recipe(model_cfg: Any, avoid_problems: set) -> dict:
    """Everything that determines the warm-started weights, as plain JSON."""
    from omegaconf import OmegaConf

    avoided = hashlib.sha256(json.dumps(sorted(map(str, avoid_problems))).encode()).hexdigest()[:16]
    return {
        "version": RECIPE_VERSION,
        "tiny": OmegaConf.to_container(model_cfg.tiny, resolve=True),
        "warmstart": OmegaConf.to_container(model_cfg.warmstart, resolve=True),
        "prompt_style": PROMPT_STYLE,
        "avoided_problems": avoided,
    }


def recipe_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_tiny_model(model_cfg: Any, cache_dir: Path, avoid_problems: set, progress: bool = True) -> Path:
    """Return the folder of the warm-started tiny model for this recipe, building it once if absent."""
    from filelock import FileLock

    spec = recipe(model_cfg, avoid_problems)
    folder = cache_dir / "tiny-models" / recipe_key(spec)
    if (folder / "recipe.json").exists():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot write the model cache {cache_dir} ({exc.strerror}): "
            "choose a writable one with paths.cache_dir=DIR"
        ) from None
    with FileLock(str(folder) + ".lock"):
        if (folder / "recipe.json").exists():  # another process built it while we waited
            return folder
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        stats = build_warm_started_model(model_cfg, building, avoid_problems, progress=progress)
        (building / "warmstart.json").write_text(json.dumps(stats, indent=2))
        # recipe.json is written last: its presence marks a complete folder.
        (building / "recipe.json").write_text(json.dumps(spec, indent=2, sort_keys=True))
        building.rename(folder)
    return folder


def sft_batches(problems: list[dict], tokenizer, batch_size: int, steps: int, seed: int):
    """Yield (input_ids, attention_mask, labels) for ``steps`` shuffled batches; loss only on the answer."""
    import numpy as np
    import torch

    from insight_cli.tasks import countdown

    texts = []
    for problem in problems:
        prompt = countdown.build_prompt(problem, PROMPT_STYLE)
        answer = countdown.answer_text(countdown.solve(problem["nums"], problem["target"]))
        texts.append((tokenizer(prompt)["input_ids"], tokenizer(answer)["input_ids"] + [tokenizer.eos_token_id]))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    cursor = 0
    for _ in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(len(texts)), 0
        rows = [texts[i] for i in order[cursor : cursor + batch_size]]
        cursor += batch_size
        width = max(len(p) + len(a) for p, a in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (p, a) in enumerate(rows):
            seq = p + a
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
            labels[r, len(p) : len(seq)] = torch.tensor(a)
        yield ids, mask, labels


def build_warm_started_model(model_cfg: Any, folder: Path, avoid_problems: set, progress: bool = True) -> dict:
    """Initialise the tiny model, fine-tune it on generated problems, save it to ``folder``; return statistics."""
    import torch

    from insight_cli.tasks import countdown
    from insight_cli.train.model import build_tiny_model, build_tokenizer
    from insight_cli.train.progress import progress_bar

    ws = model_cfg.warmstart
    tokenizer = build_tokenizer()
    model = build_tiny_model(model_cfg.tiny, tokenizer, seed=int(ws.seed))
    problems = countdown.generate_problems(int(ws.num_problems), seed=int(ws.seed), exclude=set(avoid_problems))
    steps, warmup = int(ws.steps), max(1, int(0.05 * int(ws.steps)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ws.lr), weight_decay=0.01)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    start, loss_value = time.perf_counter(), float("nan")
    with progress_bar("warm start (SFT of the tiny model)", total=steps, enabled=progress) as bar:
        for ids, mask, labels in sft_batches(problems, tokenizer, int(ws.batch_size), steps, int(ws.seed)):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = loss.item()
            bar.advance(loss=f"{loss_value:.3f}")
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "steps": steps,
        "final_loss": loss_value,
        "seconds": round(time.perf_counter() - start, 1),
        "num_problems": len(problems),
    }
