"""Selector protocol, Beta beliefs and candidate-pool sampling shared by every selector.

Protocol (DESIGN.md §2): ``select(candidates, m) -> indices`` then ``update(prompt_ids, successes, trials)``
after the rollouts are scored. State is flat NumPy arrays over the whole dataset and the selector's own
``np.random.Generator``; ``state_dict``/``load_state_dict`` round-trip both so a resumed run is bit-identical.
Per-step work touches only the candidate pool (scoring) and the selected prompts (update), never the whole dataset.

Beta belief update (InSight Eq. 8, MoPPS Eq. 6), applied to selected prompts only:
    α ← λα + (1−λ)α₀ + S,   β ← λβ + (1−λ)β₀ + (K − S)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

StateDict = dict[str, np.ndarray | int | float]


class SelectorConfigError(ValueError):
    """A selector setting is out of range; the message is one line naming the key and the fix."""


# ---------------------------------------------------------------- RNG state as a flat array
def rng_state_array(rng: np.random.Generator) -> np.ndarray:
    """Encode a PCG64 generator's full state as 6 uint64 words (128-bit state and increment split in halves)."""
    st = rng.bit_generator.state
    if st["bit_generator"] != "PCG64":
        raise TypeError(f"only PCG64 generators are checkpointed, got {st['bit_generator']}")
    mask = (1 << 64) - 1
    s, inc = st["state"]["state"], st["state"]["inc"]
    return np.array([s >> 64, s & mask, inc >> 64, inc & mask, st["has_uint32"], st["uinteger"]], dtype=np.uint64)


def rng_from_array(words: np.ndarray) -> np.random.Generator:
    """Inverse of :func:`rng_state_array`."""
    w = [int(x) for x in np.asarray(words, dtype=np.uint64)]
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (w[0] << 64) | w[1], "inc": (w[2] << 64) | w[3]},
        "has_uint32": w[4],
        "uinteger": w[5],
    }
    return rng


# ---------------------------------------------------------------- config checks
def check_range(cfg: Mapping[str, Any], key: str, low: float, high: float, *, low_open: bool = False) -> float:
    """Return ``cfg[key]`` as float, or raise a one-line error if it is outside [low, high] (or (low, high])."""
    if key not in cfg:
        raise SelectorConfigError(
            f"selector '{cfg.get('name')}' needs selector.{key}; add it to its conf/selector file"
        )
    try:
        value = float(cfg[key])
    except (TypeError, ValueError):
        raise SelectorConfigError(f"selector.{key}={cfg[key]!r} is not a number") from None
    bad = value <= low if low_open else value < low
    if bad or value > high or not np.isfinite(value):
        left = "(" if low_open else "["
        raise SelectorConfigError(
            f"selector.{key}={value} is out of range for selector '{cfg.get('name')}': expected a value in "
            f"{left}{low}, {high}]; fix it with selector.{key}=<value>"
        )
    return value


def check_int(cfg: Mapping[str, Any], key: str, low: int, what: str) -> int:
    """Return ``cfg[key]`` as an int ≥ ``low``, or raise a one-line error that says what the key is."""
    if key not in cfg:
        raise SelectorConfigError(f"selector '{cfg.get('name')}' needs selector.{key} ({what})")
    value = cfg[key]
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < low:
        raise SelectorConfigError(f"selector.{key}={value!r} must be an integer ≥ {low} ({what})")
    return int(value)


# ---------------------------------------------------------------- ranking
def top_m_positions(scores: np.ndarray, m: int, *, largest: bool) -> np.ndarray:
    """Positions of the m largest (or smallest) scores, best first.

    Ties keep position order; candidates arrive as a uniform random draw, so ties break at random.
    O(n + m log m): a partial partition, then a stable sort of the m winners only.
    """
    n = len(scores)
    m = min(m, n)
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    key = -scores if largest else scores
    key = np.where(np.isnan(key), np.inf, key)  # a NaN score never wins
    if m < n:
        part = np.argpartition(key, m - 1)[:m]
        # argpartition puts ties at the boundary in arbitrary order: keep the earliest positions among equal keys.
        kth = key[part].max()
        below = part[key[part] < kth]
        ties = np.flatnonzero(key == kth)[: m - len(below)]
        part = np.concatenate([below, ties])
    else:
        part = np.arange(n)
    part.sort()
    return part[np.argsort(key[part], kind="stable")]


def top_m(scores: np.ndarray, candidates: np.ndarray, m: int, *, largest: bool) -> np.ndarray:
    """The m candidates with the largest (or smallest) scores, best first (see :func:`top_m_positions`)."""
    return np.asarray(candidates)[top_m_positions(scores, m, largest=largest)]


def as_ids(ids: np.ndarray) -> np.ndarray:
    """Dataset indices as a 1-D int64 array."""
    return np.asarray(ids, dtype=np.int64).reshape(-1)


def check_outcomes(
    prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray, num_prompts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, successes, trials)`` as arrays, or a ValueError naming what is wrong: one count pair per id, each id
    a dataset index in [0, num_prompts), and 0 ≤ successes ≤ trials (finite). A bad count would otherwise drive a
    belief below zero (β ← β + trials − successes) or wrap a negative id onto another prompt."""
    ids = as_ids(prompt_ids)
    s = np.asarray(successes, dtype=np.float64).reshape(-1)
    k = np.asarray(trials, dtype=np.float64).reshape(-1)
    if not len(ids) == len(s) == len(k):
        raise ValueError(f"update needs one (successes, trials) per prompt id: got {len(ids)} ids, {len(s)}, {len(k)}")
    if len(ids) and (ids.min() < 0 or ids.max() >= num_prompts):
        outside = ids[(ids < 0) | (ids >= num_prompts)][:3]
        raise ValueError(f"update got prompt ids outside [0, {num_prompts}): {outside.tolist()}")
    bad = ~np.isfinite(s) | ~np.isfinite(k) | (s < 0) | (s > k)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"update needs 0 ≤ successes ≤ trials for every prompt: prompt {ids[i]} has successes={s[i]:g}, "
            f"trials={k[i]:g} (count correct rollouts out of the rollouts generated)"
        )
    return ids, s, k


# ---------------------------------------------------------------- the protocol
class Selector:
    """Base class: holds the selector RNG, the last scores (for selection.jsonl) and the config.

    Subclasses that rank candidates implement :meth:`scores` and set ``larger_is_better``; ``select`` then takes
    the top m. ``last_scores`` holds the ranking score of each returned id, aligned with the returned array.
    """

    name: str = "base"
    larger_is_better: bool = True

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        self.num_prompts = int(num_prompts)
        if self.num_prompts < 1:
            raise SelectorConfigError(f"a selector needs at least one prompt, got num_prompts={num_prompts}")
        self.cfg = dict(cfg)
        self.rng = np.random.default_rng(seed)
        # Scores of the most recent selection, aligned with its returned indices (written to selection.jsonl).
        self.last_scores: np.ndarray = np.zeros(0)

    def scores(self, ids: np.ndarray) -> np.ndarray:
        """The ranking score of each candidate (only ranking selectors implement it)."""
        raise NotImplementedError

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        candidates = as_ids(candidates)
        scores = self.scores(candidates)
        pos = top_m_positions(scores, m, largest=self.larger_is_better)
        self.last_scores = scores[pos]
        return candidates[pos]

    def update(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        """Default: nothing to learn (Random)."""

    def state_dict(self) -> StateDict:
        return {"rng": rng_state_array(self.rng)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_array(state["rng"])

    def _load_array(self, state: Mapping[str, Any], key: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A state array copied to ``dtype``; a one-line error if it was saved for another dataset size."""
        arr = np.array(state[key], dtype=dtype)
        if arr.shape != shape:
            raise ValueError(
                f"selector state '{key}' has shape {arr.shape}, expected {shape}: "
                f"the checkpoint was saved for a different dataset (num_prompts={self.num_prompts})"
            )
        return arr


# ---------------------------------------------------------------- the optional hooks (DESIGN §2)
# One method name per capability; a trainer (ours, TRL's, verl's sampler) calls a hook only if the selector has it,
# and finds out through these two functions only.
def filters_groups(selector: Selector) -> bool:
    """Whether ``selector`` acts after the rollouts: ``filter_groups(prompt_ids, successes, trials) -> keep mask``,
    with ``max_gen_batches`` generation batches per step at most (DAPO Dynamic Sampling)."""
    return callable(getattr(selector, "filter_groups", None))


def refreshes(selector: Selector) -> bool:
    """Whether ``selector`` needs the policy: ``refresh(train_ids, projected_gradients, validation_means)`` at the
    start of every stage, which ``refresh_due(step)`` tells, ``stage`` counting those done (CROPI)."""
    return callable(getattr(selector, "refresh", None))


PRIORS = ("uniform", "warmstart")


class BetaSelector(Selector):
    """A selector with a Beta(α, β) belief per prompt over its success rate, discounted by λ on update."""

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.lam = check_range(self.cfg, "lam", 0.0, 1.0, low_open=True) if "lam" in self.cfg else 1.0
        self.alpha0 = float(self.cfg.get("alpha0", 1.0))
        self.beta0 = float(self.cfg.get("beta0", 1.0))
        self.prior = self.cfg.get("prior", "uniform")
        if self.prior not in PRIORS:
            raise SelectorConfigError(
                f"selector.prior={self.prior!r} is unknown: use selector.prior=uniform or selector.prior=warmstart"
            )
        self.alpha = np.full(self.num_prompts, self.alpha0, dtype=np.float64)
        self.beta = np.full(self.num_prompts, self.beta0, dtype=np.float64)

    def init_from_counts(self, successes: np.ndarray, trials: np.ndarray, weight: float = 3.0) -> None:
        """MoPPS offline initialisation (``prior: warmstart``): α = w·successes + 1, β = w·failures + 1 (w = 3)."""
        successes = np.asarray(successes, dtype=np.float64)
        failures = np.asarray(trials, dtype=np.float64) - successes
        if successes.shape != (self.num_prompts,) or np.any(failures < 0) or np.any(successes < 0):
            raise ValueError(f"init_from_counts needs {self.num_prompts} counts with 0 ≤ successes ≤ trials")
        self.alpha = weight * successes + self.alpha0
        self.beta = weight * failures + self.beta0

    def update(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        ids, s, k = check_outcomes(prompt_ids, successes, trials, self.num_prompts)
        lam = self.lam
        # A prompt appears at most once per generation batch, so fancy-index assignment is the exact rule
        # (np.add.at would be needed only for duplicates).
        self.alpha[ids] = lam * self.alpha[ids] + (1 - lam) * self.alpha0 + s
        self.beta[ids] = lam * self.beta[ids] + (1 - lam) * self.beta0 + (k - s)

    def posterior_mean(self, ids: np.ndarray) -> np.ndarray:
        """φ̄ = α/(α+β) of each prompt in ``ids``."""
        a, b = self.alpha[ids], self.beta[ids]
        return a / (a + b)

    def thompson_draw(self, ids: np.ndarray) -> np.ndarray:
        """One posterior sample r̂ ~ Beta(α, β) per prompt in ``ids`` (uses, and advances, the selector RNG)."""
        return self.rng.beta(self.alpha[ids], self.beta[ids])

    def state_dict(self) -> StateDict:
        return {**super().state_dict(), "alpha": self.alpha.copy(), "beta": self.beta.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = self._load_array(state, "alpha", np.float64, (self.num_prompts,))
        self.beta = self._load_array(state, "beta", np.float64, (self.num_prompts,))


class PoolSampler:
    """Draws the candidate pool: min(factor·m, N) dataset indices uniformly without replacement (DESIGN §2).

    ``Generator.choice(N, size, replace=False)`` uses Floyd's hash-set method when size ≪ N, so a draw costs
    O(size), not O(N) (≈ 0.05 ms for 4096 of 10⁷ prompts).
    """

    def __init__(self, num_prompts: int, factor: float, seed: int):
        if not factor >= 1:  # also rejects NaN
            raise SelectorConfigError(f"pool.factor={factor} must be ≥ 1 (1 means plain uniform sampling)")
        self.num_prompts = int(num_prompts)
        self.factor = float(factor)
        self.rng = np.random.default_rng(seed)

    def draw(self, m: int) -> np.ndarray:
        size = min(int(round(self.factor * m)), self.num_prompts)
        return self.rng.choice(self.num_prompts, size=size, replace=False, shuffle=True).astype(np.int64)

    def state_dict(self) -> StateDict:
        return {"rng": rng_state_array(self.rng)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_array(state["rng"])
