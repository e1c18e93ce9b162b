"""Warm start of the tiny CPU model: supervised fine-tuning on generated Countdown problems with solver answers.

RL needs signal: a freshly initialised model never writes a correct equation, so every GRPO group would have zero
reward variance. A short SFT on ``prompt → <answer>solver expression</answer><eos>`` teaches the answer format
and a partial skill, so that sampling at temperature 1 solves a fraction of held-out problems that varies from
problem to problem. The result is cached under ``<paths.cache_dir>/tiny-models/<recipe hash>/``; a changed recipe
(architecture, SFT settings or ``RECIPE_VERSION``) has a new hash.

The warm-start corpus depends on ``model.warmstart`` alone (its seed and size), never on the task: a run's training
pool and held-out sets skip every corpus problem instead (:func:`exclusions`, applied by the run when it loads the
task). So one warm-started model serves every pool size and task mix, and a sweep over ``task.train_size`` compares
runs from the same starting weights. A file lock makes concurrent jobs
fill a cache folder once.

The build is deterministic on one machine, not across machines: CPUs of the same kind pick different float kernels,
and 1,500 SFT steps amplify the difference (held-out pass@1 0.292 against 0.318 from the same recipe). So the default
recipe's weights ship with the package in ``shipped/<recipe hash>/`` with a ``SHA256SUMS`` file; for that recipe the
cache holds a verified copy of them (a cached folder that differs is replaced) and nothing is trained. Any other
recipe is built locally. ``warmstart.json`` says which: ``"origin": "shipped"`` or ``"built"``.

    insight train                       # the default recipe: copies the shipped weights (no warm start)
    insight train model.warmstart.steps=500   # another recipe: builds it on first use (minutes on 2 cores)
    python scripts/ship_warmstart.py    # after changing the default recipe: ship its weights
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

# Bump when the warm-start code changes what it produces, so cached models are rebuilt.
RECIPE_VERSION = 2  # 2: the corpus no longer avoids the pool; the pool avoids the corpus
PROMPT_STYLE = "compact"
# The shipped weights: one folder per shipped recipe key (only the default recipe's), each with its checksums.
SHIPPED_DIR = Path(__file__).resolve().with_name("shipped")
CHECKSUMS = "SHA256SUMS"  # `sha256sum` format: "<hex>  <file name>" per line, so `sha256sum -c SHA256SUMS` works too
STATS = "warmstart.json"  # statistics of the build, not weights: a cached copy may differ here and still be used


class ShippedModelError(FileNotFoundError):
    """The shipped warm-start weights are missing or damaged (a FileNotFoundError: the CLI prints it on one line and
    exits with code 2)."""


def recipe(model_cfg: Any) -> dict:
    """Everything that determines the warm-started weights, as plain JSON."""
    from omegaconf import OmegaConf

    return {
        "version": RECIPE_VERSION,
        "tiny": OmegaConf.to_container(model_cfg.tiny, resolve=True),
        "warmstart": OmegaConf.to_container(model_cfg.warmstart, resolve=True),
        "prompt_style": PROMPT_STYLE,
    }


@functools.lru_cache(maxsize=4)
def _corpus(num_problems: int, seed: int) -> tuple[dict, ...]:
    from insight_cli.tasks import countdown

    return tuple(countdown.generate_problems(num_problems, seed=seed))


def corpus(model_cfg: Any) -> list[dict]:
    """The generated problems the warm start trains on (deterministic in ``model.warmstart``; half with 4 numbers)."""
    return list(_corpus(int(model_cfg.warmstart.num_problems), int(model_cfg.warmstart.seed)))


def exclusions(model_cfg: Any, task: Any) -> dict[str, set]:
    """The keyword arguments of ``task``'s loaders that keep this model's warm-start corpus out of the training pool
    and the held-out sets: ``{"exclude": keys}`` for the tiny model and a task that defines ``exclusion_keys``
    (tasks/__init__.py); {} for a hub model, or a task whose problems cannot coincide with the corpus."""
    if model_cfg.hf_id or not hasattr(task, "exclusion_keys"):
        return {}
    return {"exclude": task.exclusion_keys(corpus(model_cfg))}


def recipe_key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_tiny_model(model_cfg: Any, cache_dir: Path, progress: bool = True) -> Path:
    """Return the folder of the warm-started tiny model for this recipe: the shipped weights when they exist for its
    key (copied into the cache after verifying their checksums), otherwise built once and cached."""
    from filelock import FileLock

    spec = recipe(model_cfg)
    key = recipe_key(spec)
    folder = cache_dir / "tiny-models" / key
    shipped = SHIPPED_DIR / key if (SHIPPED_DIR / key).is_dir() else None
    if _usable(folder, shipped):
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot write the model cache {cache_dir} ({exc.strerror}): "
            "choose a writable one with paths.cache_dir=DIR"
        ) from None
    with FileLock(str(folder) + ".lock"):
        if _usable(folder, shipped):  # another process filled it while we waited
            return folder
        building = folder.with_name(folder.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        if shipped is not None:
            copy_shipped(shipped, building, spec)
        else:
            stats = build_warm_started_model(model_cfg, building, progress=progress)
            stats = {"origin": "built", **stats}
            (building / STATS).write_text(json.dumps(stats, indent=2))
            # recipe.json is written last: its presence marks a complete folder.
            (building / "recipe.json").write_text(json.dumps(spec, indent=2, sort_keys=True))
        _replace(building, folder)
    return folder


def _usable(folder: Path, shipped: Path | None) -> bool:
    """A complete cache folder; for a shipped recipe also equal to the shipped files (build statistics aside)."""
    if not (folder / "recipe.json").exists():
        return False
    if shipped is None:
        return True
    expected = read_checksums(shipped)
    return all(
        (folder / name).is_file() and sha256_file(folder / name) == digest
        for name, digest in expected.items()
        if name != STATS
    )


def _replace(building: Path, folder: Path) -> None:
    """Rename the finished ``building`` folder to ``folder``, moving a stale one aside first (call under the lock)."""
    stale = folder.with_name(folder.name + ".stale")
    shutil.rmtree(stale, ignore_errors=True)
    if folder.exists():
        folder.rename(stale)
    building.rename(folder)
    shutil.rmtree(stale, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- shipped weights
def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_checksums(folder: Path) -> dict[str, str]:
    """Write ``SHA256SUMS`` for every other file of ``folder``; return {file name: sha256}."""
    sums = {p.name: sha256_file(p) for p in sorted(Path(folder).iterdir()) if p.is_file() and p.name != CHECKSUMS}
    (Path(folder) / CHECKSUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
    return sums


def _damaged(what: str) -> ShippedModelError:
    return ShippedModelError(
        f"the shipped warm-start weights are damaged: {what}; reinstall the package (git checkout "
        f"insight_cli/train/shipped, or pip install --force-reinstall insight), or set paths.cache_dir=DIR to a "
        f"cache that already holds this recipe's tiny-models/ folder"
    )


def read_checksums(shipped: Path) -> dict[str, str]:
    """{file name: sha256} from the shipped folder's ``SHA256SUMS``."""
    path = Path(shipped) / CHECKSUMS
    if not path.is_file():
        raise _damaged(f"{path} is missing")
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name or "/" in name:
            raise _damaged(f"{path} has a malformed line {line[:80]!r}")
        sums[name] = digest
    if "recipe.json" not in sums:
        raise _damaged(f"{path} does not list recipe.json")
    return sums


def verify_shipped(shipped: Path, spec: dict | None = None) -> dict[str, str]:
    """Check every file of a shipped folder against its checksum (and its recipe against ``spec``); raise
    :class:`ShippedModelError` naming the first bad file. Return the checksums."""
    sums = read_checksums(shipped)
    for name, digest in sums.items():
        path = Path(shipped) / name
        if not path.is_file():
            raise _damaged(f"{path} is missing")
        if sha256_file(path) != digest:
            raise _damaged(f"{path} does not match its checksum in {CHECKSUMS}")
    if spec is not None and json.loads((Path(shipped) / "recipe.json").read_text()) != spec:
        raise _damaged(f"{Path(shipped) / 'recipe.json'} is not the recipe of its key {Path(shipped).name}")
    return sums


def copy_shipped(shipped: Path, building: Path, spec: dict) -> None:
    """Verify the shipped folder, then copy it (checksums included) into ``building``, recipe.json last."""
    sums = verify_shipped(shipped, spec)
    names = [n for n in sums if n != "recipe.json"] + [CHECKSUMS, "recipe.json"]
    try:
        building.mkdir(parents=True)
        for name in names:
            shutil.copyfile(Path(shipped) / name, building / name)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


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


def build_warm_started_model(model_cfg: Any, folder: Path, progress: bool = True) -> dict:
    """Initialise the tiny model, fine-tune it on generated problems, save it to ``folder``; return statistics."""
    import torch

    from insight_cli.train.progress import progress_bar
    from insight_cli.train.stopping import raise_if_stopped
    from insight_cli.train.tiny import build_tiny_model, build_tokenizer

    ws = model_cfg.warmstart
    tokenizer = build_tokenizer()
    model = build_tiny_model(model_cfg.tiny, tokenizer, seed=int(ws.seed))
    problems = corpus(model_cfg)
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
            raise_if_stopped("the warm start")
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
