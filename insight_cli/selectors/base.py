"""Selector protocol, Beta beliefs and candidate-pool sampling shared by every selector.

Protocol (DESIGN.md §2): ``select(candidates, m) -> indices`` then ``update(prompt_ids, successes, trials)``
after the rollouts are scored. State is flat NumPy arrays over the whole dataset and the selector's own
``np.random.Generator``; ``state_dict``/``load_state_dict`` round-trip both so a resumed run is bit-identical.

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
    value = float(cfg[key])
    bad = value <= low if low_open else value < low
    if bad or value > high or np.isnan(value):
        left = "(" if low_open else "["
        raise SelectorConfigError(
            f"selector.{key}={value} is out of range for selector '{cfg.get('name')}': expected a value in "
            f"{left}{low}, {high}]; fix it with selector.{key}=<value>"
        )
    return value


def top_m(scores: np.ndarray, candidates: np.ndarray, m: int, *, largest: bool) -> np.ndarray:
    """The m candidates with the largest (or smallest) scores, best first.

    Ties keep candidate order, and candidates arrive as a uniform random draw, so ties break at random.
    """
    m = min(m, len(candidates))
    key = -scores if largest else scores
    part = np.argpartition(key, m - 1)[:m] if m < len(candidates) else np.arange(len(candidates))
    order = part[np.argsort(key[part], kind="stable")]
    return candidates[order]


# ---------------------------------------------------------------- the protocol
class Selector:
    """Base class: holds the selector RNG, the last scores (for selection.jsonl) and the config."""

    name: str = "base"

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        self.num_prompts = int(num_prompts)
        self.cfg = dict(cfg)
        self.rng = np.random.default_rng(seed)
        # Scores of the most recent selection, aligned with its returned indices (written to selection.jsonl).
        self.last_scores: np.ndarray = np.zeros(0)

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        raise NotImplementedError

    def update(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        """Default: nothing to learn (Random)."""

    def state_dict(self) -> StateDict:
        return {"rng": rng_state_array(self.rng)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_array(state["rng"])


class BetaSelector(Selector):
    """A selector with a Beta(α, β) belief per prompt over its success rate, discounted by λ on update."""

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.lam = check_range(self.cfg, "lam", 0.0, 1.0, low_open=True) if "lam" in self.cfg else 1.0
        self.alpha0 = float(self.cfg.get("alpha0", 1.0))
        self.beta0 = float(self.cfg.get("beta0", 1.0))
        prior = self.cfg.get("prior", "uniform")
        if prior not in ("uniform", "warmstart"):
            raise SelectorConfigError(f"selector.prior={prior!r} is unknown: use selector.prior=uniform or warmstart")
        self.alpha = np.full(self.num_prompts, self.alpha0, dtype=np.float64)
        self.beta = np.full(self.num_prompts, self.beta0, dtype=np.float64)

    def init_from_counts(self, successes: np.ndarray, trials: np.ndarray, weight: float = 3.0) -> None:
        """MoPPS offline initialisation: α = w·successes + 1, β = w·failures + 1 (w = 3)."""
        successes = np.asarray(successes, dtype=np.float64)
        failures = np.asarray(trials, dtype=np.float64) - successes
        self.alpha = weight * successes + self.alpha0
        self.beta = weight * failures + self.beta0

    def update(self, prompt_ids: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        ids = np.asarray(prompt_ids, dtype=np.int64)
        s = np.asarray(successes, dtype=np.float64)
        k = np.asarray(trials, dtype=np.float64)
        lam = self.lam
        # np.add.at would accumulate duplicates; a prompt appears at most once per generation batch, so plain
        # fancy-index assignment is the exact rule.
        self.alpha[ids] = lam * self.alpha[ids] + (1 - lam) * self.alpha0 + s
        self.beta[ids] = lam * self.beta[ids] + (1 - lam) * self.beta0 + (k - s)

    def posterior_mean(self, ids: np.ndarray) -> np.ndarray:
        a, b = self.alpha[ids], self.beta[ids]
        return a / (a + b)

    def state_dict(self) -> StateDict:
        return {**super().state_dict(), "alpha": self.alpha.copy(), "beta": self.beta.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = np.array(state["alpha"], dtype=np.float64)
        self.beta = np.array(state["beta"], dtype=np.float64)


class PoolSampler:
    """Draws the candidate pool: min(factor·m, N) dataset indices uniformly without replacement (DESIGN §2)."""

    def __init__(self, num_prompts: int, factor: float, seed: int):
        if factor < 1:
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
