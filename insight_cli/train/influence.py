"""CROPI's trainer side: offline rollouts once, then per-prompt off-policy policy gradients, projected on the fly.

The selector (``insight_cli/selectors/cropi.py``) ranks and fuses; this module gives it, at the start of every stage,
the projected gradient of each training prompt and the mean projected gradient of each validation set:

    L(x) = −(1/G) Σᵢ (1/|oᵢ|) Σₜ [π_θ/π_β](oᵢ,ₜ) · Aᵢ,   Aᵢ = (rᵢ − mean r)/(std r + 1e-4)     (no clip, no KL)

with the G rollouts oᵢ of x drawn once from the initial policy π_β (8 per training prompt, 32 per validation prompt,
T = 0.5) and their shaped training reward r (what GRPO optimises; Countdown's 0.1 format score included). The
ratio is per token against π_β's log-probabilities, recorded with the rollouts (so the ratio is 1 at stage 0). A
prompt whose rewards are all equal has A = 0: it is skipped, never scored.

Memory: one ``torch.autograd.grad`` per prompt group (the trainer's ``.grad`` buffers are untouched); of each
gradient only the projection's kept coordinates are gathered, parameter by parameter (the flattened gradient is never
built), and ``selector.batch_prompts`` gathered rows are projected together. A validation set's mean gradient is the
running sum of its prompts' gathered gradients (the projection is linear). So a refresh holds at most
``batch_prompts × sparse_dim`` floats beside the model, never a per-prompt gradient matrix.

Offline rollouts are generated once per (model, task, pool, validation sets, rollout settings) and cached under
``<paths.cache_dir>/cropi/<key>.npz`` like the warm-start prior; every run seed shares them (they are collected once,
as in the paper, with a fixed sampling seed). Validation sets: on Countdown, held-out generated problems disjoint
from the pool, the evaluation sets and the warm-start corpus — 3-number and 4-number problems as two sets, so the
fusion has two rankings to fuse; on other tasks, the task's held-out benchmarks (the first ``valid_size`` of each).
Their completions count in ``rollouts`` and the refresh time in ``selector_s`` (train/selection.py).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from insight_cli.selectors.cropi import SparseProjection

CACHE_VERSION = 1  # bump when what the cache holds changes
ROLLOUT_SEED = 0  # offline rollouts are collected once, the same for every run seed
ADVANTAGE_EPS = 1e-4  # A = (r − mean)/(std + 1e-4), as the reference


# ---------------------------------------------------------------------------------------------- rollouts
@dataclass
class Rollouts:
    """G offline rollouts of each of P prompts, padded: prompt tokens (P, Lp) with lengths, completion tokens
    (P, G, Lc) with lengths (EOS included, as TRL's completion mask), rewards (P, G) and π_β's per-token log-probs."""

    prompt_ids: np.ndarray
    prompt_len: np.ndarray
    completion_ids: np.ndarray
    completion_len: np.ndarray
    rewards: np.ndarray
    behaviour_logp: np.ndarray

    @property
    def num_completions(self) -> int:
        return int(self.rewards.size)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, data, prefix: str) -> Rollouts:
        return cls(**{k: np.asarray(data[f"{prefix}.{k}"]) for k in cls.__dataclass_fields__})


def advantages(rewards: np.ndarray) -> np.ndarray:
    """Group-normalised advantages (r − mean)/(std + 1e-4) per row (population std, as torch.std_mean unbiased=False
    would give; a constant row gives 0)."""
    r = np.asarray(rewards, dtype=np.float64)
    return (r - r.mean(axis=-1, keepdims=True)) / (r.std(axis=-1, keepdims=True) + ADVANTAGE_EPS)


def informative(rewards: np.ndarray) -> np.ndarray:
    """Rows whose rewards are not all equal (the others have A = 0, a zero gradient, and no score)."""
    r = np.asarray(rewards)
    return (r != r[..., :1]).any(axis=-1)


def _completion_lengths(ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Tokens up to and including the first EOS (all generated tokens when there is none)."""
    is_eos = ids == eos_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(ids[:, 0], ids.shape[1] - 1))
    return first + 1


def generate_rollouts(
    model,
    tokenizer,
    problems: list[dict],
    score,
    task_cfg,
    *,
    n: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    cache: str,
) -> Rollouts:
    """n sampled completions per problem from ``model`` (pure sampling), their shaped rewards and π_β's log-probs,
    without touching the global RNG."""
    from insight_cli.train.evaluate import generate_batches

    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    prompts = [tokenizer(p["prompt"], add_special_tokens=False)["input_ids"] for p in problems]
    lp = max(len(p) for p in prompts)
    prompt_ids = np.full((len(prompts), lp), pad, dtype=np.int64)
    for i, p in enumerate(prompts):
        prompt_ids[i, : len(p)] = p
    completion_ids = np.full((len(prompts), n, max_new_tokens), pad, dtype=np.int64)
    completion_len = np.zeros((len(prompts), n), dtype=np.int64)
    rewards = np.zeros((len(prompts), n), dtype=np.float32)
    flat = [(i, j) for i in range(len(prompts)) for j in range(n)]
    texts = [problems[i]["prompt"] for i, _ in flat]
    batches = generate_batches(
        model, tokenizer, texts, temperature, max_new_tokens, batch_size, seed, cache=cache, phase="CROPI's rollouts"
    )
    for start, new in batches:
        lengths = _completion_lengths(new, eos).cpu().numpy()
        new = new.cpu().numpy()
        for row, (i, j) in enumerate(flat[start : start + batch_size]):
            length = int(lengths[row])
            completion_ids[i, j, :length] = new[row, :length]
            completion_len[i, j] = length
            text = tokenizer.decode(new[row, :length].tolist(), skip_special_tokens=True)
            rewards[i, j] = float(score(text, problems[i], task_cfg)[0])
    rollouts = Rollouts(
        prompt_ids,
        np.array([len(p) for p in prompts]),
        completion_ids,
        completion_len,
        rewards,
        np.zeros(completion_ids.shape, dtype=np.float32),
    )
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(len(prompts)):
            rollouts.behaviour_logp[i] = token_logps(model, rollouts, i).float().cpu().numpy()
    if was_training:
        model.train()
    return rollouts


# ---------------------------------------------------------------------------------------------- the loss
def group_batch(rollouts: Rollouts, i: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(input_ids, attention_mask, completion_mask, prompt length) of prompt i's G rollouts (prompt unpadded)."""
    lp = int(rollouts.prompt_len[i])
    prompt = torch.as_tensor(rollouts.prompt_ids[i, :lp], device=device)
    completions = torch.as_tensor(rollouts.completion_ids[i], device=device)
    g, lc = completions.shape
    mask = (
        torch.arange(lc, device=device)[None, :] < torch.as_tensor(rollouts.completion_len[i], device=device)[:, None]
    )
    input_ids = torch.cat([prompt.expand(g, lp), completions], dim=1)
    attention = torch.cat([torch.ones(g, lp, dtype=torch.long, device=device), mask.long()], dim=1)
    return input_ids, attention, mask, lp


def token_logps(model, rollouts: Rollouts, i: int) -> torch.Tensor:
    """log π_θ of every completion token of prompt i's rollouts, (G, Lc) (0 past each completion's end)."""
    device = next(model.parameters()).device
    input_ids, attention, mask, lp = group_batch(rollouts, i, device)
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, lp - 1 : -1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, lp:, None]).squeeze(-1)
    return logps * mask


def prompt_loss(model, rollouts: Rollouts, i: int) -> torch.Tensor:
    """CROPI's off-policy loss of prompt i: −mean_i (1/|o_i|) Σ_t [π_θ/π_β](o_i,t)·A_i (no clip, no KL)."""
    device = next(model.parameters()).device
    logps = token_logps(model, rollouts, i)
    _, _, mask, _ = group_batch(rollouts, i, device)
    behaviour = torch.as_tensor(rollouts.behaviour_logp[i], device=device)
    ratio = torch.exp(logps - behaviour) * mask
    adv = torch.as_tensor(advantages(rollouts.rewards[i]), dtype=ratio.dtype, device=device)
    lengths = torch.as_tensor(rollouts.completion_len[i], dtype=ratio.dtype, device=device)
    return -((ratio.sum(1) / lengths) * adv).mean()


# ---------------------------------------------------------------------------------------------- gathered gradients
class CoordinateGather:
    """The projection's kept coordinates of a model's flattened gradient, read parameter by parameter."""

    def __init__(self, params: list[torch.nn.Parameter], coords: np.ndarray):
        self.params = params
        sizes = np.array([p.numel() for p in params], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        bounds = np.searchsorted(coords, offsets)
        self.pieces = [
            (k, torch.as_tensor(coords[bounds[k] : bounds[k + 1]] - offsets[k], device=p.device))
            for k, p in enumerate(params)
            if bounds[k + 1] > bounds[k]
        ]
        self.size = len(coords)

    def __call__(self, loss: torch.Tensor) -> np.ndarray:
        """∇loss at the kept coordinates (float32), without touching any parameter's ``.grad``."""
        grads = torch.autograd.grad(loss, self.params, allow_unused=True)
        out = []
        for k, index in self.pieces:
            grad = grads[k]
            out.append(torch.zeros(len(index)) if grad is None else grad.reshape(-1)[index].float().cpu())
        return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def trainable(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def projected_gradients(model, rollouts: Rollouts, projection: SparseProjection, batch_prompts: int):
    """(ids of the prompts with informative rewards, their projected gradients (n, k)), ``batch_prompts`` at a time."""
    gather = CoordinateGather(trainable(model), projection.coords)
    ids = np.flatnonzero(informative(rollouts.rewards))
    out = np.zeros((len(ids), projection.proj_dim), dtype=np.float32)
    for start in range(0, len(ids), batch_prompts):
        chunk = ids[start : start + batch_prompts]
        kept = np.stack([gather(prompt_loss(model, rollouts, int(i))) for i in chunk])
        out[start : start + len(chunk)] = projection.project_gathered(kept)
    return ids, out


def mean_projected_gradient(model, rollouts: Rollouts, projection: SparseProjection) -> np.ndarray:
    """Mean projected gradient over the informative prompts of one validation set (zeros if there is none)."""
    gather = CoordinateGather(trainable(model), projection.coords)
    ids = np.flatnonzero(informative(rollouts.rewards))
    total = np.zeros(projection.sparse_dim, dtype=np.float64)
    for i in ids:
        total += gather(prompt_loss(model, rollouts, int(i)))
    return projection.project_gathered((total / max(len(ids), 1)).astype(np.float32))


# ---------------------------------------------------------------------------------------------- validation sets
def validation_problems(cfg, task, problems: list[dict]) -> dict[str, list[dict]]:
    """The validation sets: the task's own where it defines ``validation_sets`` (Countdown: generated 3- and 4-number
    problems disjoint from the pool, the (whole) evaluation sets and the warm-start corpus); elsewhere, the first
    ``selector.valid_size`` problems of each held-out benchmark."""
    from insight_cli.train.warmstart import exclusions

    size = int(cfg.selector.valid_size)
    avoid = exclusions(cfg.model, task)
    benchmarks = task.load_eval(cfg.task, cfg.paths.data_dir, **avoid)
    if not hasattr(task, "validation_sets"):
        return {name: items[:size] for name, items in sorted(benchmarks.items())}
    seen = [problems, *benchmarks.values()]
    taken = set().union(*(task.exclusion_keys(items) for items in seen)) | avoid.get("exclude", set())
    return task.validation_sets(cfg.task, size, int(cfg.selector.valid_seed), taken)


# ---------------------------------------------------------------------------------------------- the refresher
class InfluenceRefresher:
    """What ``PromptSelection`` calls at the start of each CROPI stage: ``refresher()`` → (train ids, their projected
    gradients, {validation set: mean projected gradient}) at the live policy ``model``.

    ``initial_is_live``: the live model is still the initial policy (a fresh run), so missing offline rollouts are
    generated from it; on a resumed run they are generated from a freshly loaded initial model instead."""

    def __init__(self, cfg, model, tokenizer, task, problems, model_source: str, initial_is_live: bool):
        from accelerate import PartialState

        if PartialState().num_processes > 1:
            raise NotImplementedError("cropi computes its gradients on one process: use a single-GPU or CPU preset")
        self.cfg, self.model, self.tokenizer, self.task = cfg, model, tokenizer, task
        self.problems = problems
        self.valid = validation_problems(cfg, task, problems)
        self.model_source, self.initial_is_live = model_source, initial_is_live
        self.selector_cfg = cfg.selector
        self._rollouts: tuple[Rollouts, dict[str, Rollouts]] | None = None
        self._projection: SparseProjection | None = None

    @property
    def offline_rollouts(self) -> int:
        """Completions the offline collection generates (charged once to ``rollouts``)."""
        s = self.selector_cfg
        valid = sum(len(v) for v in self.valid.values())
        return int(s.train_rollouts) * len(self.problems) + int(s.valid_rollouts) * valid

    def cache_path(self) -> Path:
        s, t = self.selector_cfg, self.cfg.trainer
        spec = {
            "version": CACHE_VERSION,
            "model": self.model_source,
            "task": str(self.cfg.task.name),
            "pool": [p["prompt"] for p in self.problems],
            "valid": {name: [p["prompt"] for p in items] for name, items in self.valid.items()},
            "rollouts": [int(s.train_rollouts), int(s.valid_rollouts)],
            "temperature": float(s.temperature),
            "max_new_tokens": int(t.max_completion_length),
            "seed": ROLLOUT_SEED,
        }
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        return Path(self.cfg.paths.cache_dir) / "cropi" / f"{key}.npz"

    def rollouts(self) -> tuple[Rollouts, dict[str, Rollouts]]:
        """The offline rollouts: from memory, the cache, or generated once from the initial policy (then cached)."""
        if self._rollouts is None:
            path = self.cache_path()
            self._rollouts = self._load(path)
            if self._rollouts is None:
                from filelock import FileLock

                path.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(path) + ".lock"):
                    self._rollouts = self._load(path) or self._generate(path)
        return self._rollouts

    def _load(self, path: Path):
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                return Rollouts.from_arrays(data, "train"), {n: Rollouts.from_arrays(data, n) for n in self.valid}
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(
                f"damaged CROPI rollout cache {path} ({type(exc).__name__}); generating it again", stacklevel=2
            )
            return None

    def _generate(self, path: Path) -> tuple[Rollouts, dict[str, Rollouts]]:
        model = self.model
        if not self.initial_is_live:
            from insight_cli.train.model import load_model

            model, _, _ = load_model(self.cfg.model, self.cfg.paths.cache_dir, progress=False)
            model.to(next(self.model.parameters()).device)
        s, t = self.selector_cfg, self.cfg.trainer
        common = dict(
            temperature=float(s.temperature),
            max_new_tokens=int(t.max_completion_length),
            batch_size=int(t.eval.batch_size),
            cache=str(self.cfg.model.generation_cache),
        )

        def draw(problems, n, offset):
            return generate_rollouts(
                model,
                self.tokenizer,
                problems,
                self.task.score,
                self.cfg.task,
                n=n,
                seed=ROLLOUT_SEED + offset,
                **common,
            )

        train = draw(self.problems, int(s.train_rollouts), 0)
        valid = {name: draw(items, int(s.valid_rollouts), 1 + k) for k, (name, items) in enumerate(self.valid.items())}
        partial = path.with_name(path.stem + ".partial.npz")
        arrays = train.arrays("train")
        for name, rollouts in valid.items():
            arrays.update(rollouts.arrays(name))
        np.savez(partial, **arrays)
        partial.replace(path)
        return train, valid

    def projection(self, selector) -> SparseProjection:
        """The selector's projection for this model (built once: the same P for every prompt and stage)."""
        if self._projection is None or self._projection.seed != selector.projection_seed:
            self._projection = selector.projection(count_parameters(self.model))
        return self._projection

    def __call__(self, selector) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Projected gradients of the pool's informative prompts and the validation sets' means, at the live policy."""
        train, valid = self.rollouts()
        projection = self.projection(selector)
        batch = int(self.selector_cfg.batch_prompts)
        was_training = self.model.training
        self.model.eval()  # no dropout in the gradients; the trainer's mode is restored below
        try:
            ids, projected = projected_gradients(self.model, train, projection, batch)
            means = {name: mean_projected_gradient(self.model, r, projection) for name, r in valid.items()}
        finally:
            self.model.train(was_training)
        return ids, projected, means


def count_parameters(model) -> int:
    """Trainable parameters: the length of the flattened gradient the projection reads."""
    return sum(p.numel() for p in trainable(model))
