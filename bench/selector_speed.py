"""Per-step cost and state memory of every selector, next to a per-prompt dict-and-loop reference of the same rule.

    python bench/selector_speed.py                 # 10⁴, 10⁶, 10⁷ prompts (~2-3 minutes, ≤ ~1 GB)
    python bench/selector_speed.py --sizes 10000   # a quick look

One step = draw the candidate pool (PoolSampler, M̂ = 16·M) + select M = 256 + update with K = 8 simulated
rollouts each; the simulated outcomes are not timed. "ours" is the library (flat NumPy state, work ∝ pool size);
"ref" is the straightforward implementation the papers' code uses (MoPPS/DPS style: a dict entry per prompt
created on first touch, Python loops over candidates, and for DPS a loop over every known prompt at every
step), measured in the same run. Ours runs WARM steps before timing TIMED steps; the reference runs REF_WARM
then REF_TIMED (fewer, so the bench stays short) — for DPS its per-step cost grows with the steps, so the
reference is timed in a lighter state than ours and the ratio is conservative.

Memory: "state MB" sums the nbytes of the selector's state arrays; "step peak MB" is tracemalloc's peak during one
step (temporaries); the reference's MB is tracemalloc's count of its dict after its warm-up (it only holds
touched prompts). Goals (issue 4): ≤ 2 ms per step at 10⁷ prompts (DPS ≤ 10 ms), state ≤ 200 MB (DPS ≤ 600 MB)
at 10⁷, and full-pool WMI scoring of 10⁶ prompts ≤ 100 ms. Prints a table and ends with the worst ratio.
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

# This file shares its name with the stdlib module `selectors` (imported by subprocess, hence by SciPy): run as a
# script, its folder would come first on sys.path and shadow it, so drop that folder before importing anything.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import gc
import math
import random
import statistics
import time
import tracemalloc

import numpy as np
from omegaconf import OmegaConf
from scipy.special import digamma

from insight_cli.config import compose
from insight_cli.selectors import SELECTORS, PoolSampler, build_selector

M, FACTOR, K = 256, 16, 8
WARM, TIMED = 100, 50
REF_WARM, REF_TIMED = 10, 5
GOAL_MS = {"dps": 10.0}
GOAL_MB = {"dps": 600.0}
DEFAULT_GOAL_MS, DEFAULT_GOAL_MB = 2.0, 200.0


# ---------------------------------------------------------------- simulated rollouts (not timed)
def true_rate(ids: np.ndarray) -> np.ndarray:
    """A fixed success rate per prompt from a hash of its id (no O(N) array needed at 10⁷)."""
    return ((np.asarray(ids, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(1000)).astype(np.float64) / 1000


def rollouts(rng: np.random.Generator, ids) -> np.ndarray:
    return rng.binomial(K, true_rate(np.asarray(ids)))


# ---------------------------------------------------------------- the per-prompt dict-and-loop references
def mi_scalar(a: float, b: float, k: int) -> float:
    """I(R₁:K; φ) for one prompt, term by term (the closed form of InSight Eq. 13)."""
    n = a + b
    log_b_ab = math.lgamma(a) + math.lgamma(b) - math.lgamma(n)
    outcome = 0.0
    for s in range(k + 1):
        log_q = math.lgamma(a + s) + math.lgamma(b + k - s) - math.lgamma(n + k) - log_b_ab
        outcome -= math.comb(k, s) * math.exp(log_q) * log_q
    cond = k * (digamma(n + 1) - a / n * digamma(a + 1) - b / n * digamma(b + 1))
    return outcome - float(cond)


def weight_scalar(p: float, mu: float, eta: float) -> float:
    return p * (1 - p) * math.exp(-eta * (p - mu) ** 2)


class DictBetaReference:
    """A Beta belief per prompt in a dict, scored in a Python loop over the candidates (MoPPS-code style)."""

    def __init__(self, name: str, cfg: dict):
        self.name, self.cfg = name, cfg
        self.lam = float(cfg.get("lam", 1.0))
        self.table: dict[int, list[float]] = {}
        self.py_rng = random.Random(0)

    def belief(self, i: int) -> list[float]:
        if i not in self.table:
            self.table[i] = [1.0, 1.0]
        return self.table[i]

    def score(self, a: float, b: float) -> float:
        c, name = self.cfg, self.name
        if name == "mopps":
            return (self.py_rng.betavariate(a, b) - c["gamma"]) ** 2
        if name == "expected_difficulty":
            return (a / (a + b) - 0.5) ** 2
        if name == "inverse_evidence":
            return a + b
        if name == "wmi":
            return weight_scalar(a / (a + b), c["mu"], c["eta"]) * mi_scalar(a, b, c["K"])
        if name == "wmi_mi_only":
            return mi_scalar(a, b, c["K"])
        if name == "wmi_weight_only":
            return weight_scalar(a / (a + b), c["mu"], c["eta"])
        if name == "wmi_sampled":
            return weight_scalar(self.py_rng.betavariate(a, b), c["mu"], c["eta"]) * mi_scalar(a, b, c["K"])
        raise KeyError(name)

    def select(self, candidates: np.ndarray, m: int) -> list[int]:
        if self.name in ("random", "dynamic_sampling"):
            return self.py_rng.sample(candidates.tolist(), m)
        scored = []
        for i in candidates.tolist():
            a, b = self.belief(i)
            scored.append((self.score(a, b), i))
        larger = SELECTORS[self.name].larger_is_better
        scored.sort(key=lambda x: x[0], reverse=larger)
        return [i for _, i in scored[:m]]

    def update(self, ids: list[int], successes: np.ndarray, trials: np.ndarray) -> None:
        if self.name == "dynamic_sampling":  # the filter, per group
            self.keep = [0 < s < k for s, k in zip(successes.tolist(), trials.tolist(), strict=True)]
        if self.name in ("random", "dynamic_sampling"):
            return
        for i, s, k in zip(ids, successes.tolist(), trials.tolist(), strict=True):
            ab = self.belief(i)
            ab[0] = self.lam * ab[0] + (1 - self.lam) + s
            ab[1] = self.lam * ab[1] + (1 - self.lam) + (k - s)


class DictDPSReference:
    """DPS as its reference code does it: per-prompt 3×3 arrays in dicts, every known prompt moved every step."""

    def __init__(self, cfg: dict):
        self.lam = float(cfg["lam"])
        self.prior_alpha = np.ones((3, 3))
        self.alphas: dict[int, np.ndarray] = {}
        self.pis: dict[int, np.ndarray] = {}
        self.pis_before: dict[int, np.ndarray] = {}

    def touch(self, i: int) -> None:
        if i not in self.alphas:
            self.alphas[i] = self.prior_alpha.copy()
            self.pis[i] = np.full(3, 1 / 3)
            self.pis_before[i] = np.full(3, 1 / 3)

    def select(self, candidates: np.ndarray, m: int) -> list[int]:
        scored = []
        for i in candidates.tolist():
            self.touch(i)
            scored.append((-self.pis[i][1], i))
        scored.sort(key=lambda x: x[0])
        return [i for _, i in scored[:m]]

    def _step(self, i: int, post: np.ndarray, learn: bool) -> None:
        alpha = self.alphas[i]
        expected = alpha / alpha.sum(axis=0, keepdims=True)
        new = alpha * self.lam + self.prior_alpha * (1 - self.lam)
        if learn:
            joint = np.outer(post, self.pis_before[i]) * expected
            new = new + joint / joint.sum()
        prior = (new / new.sum(axis=0, keepdims=True)) @ post
        self.alphas[i], self.pis_before[i], self.pis[i] = new, post, prior / prior.sum()

    def update(self, ids: list[int], successes: np.ndarray, trials: np.ndarray) -> None:
        selected = set(ids)
        for i, s, k in zip(ids, successes.tolist(), trials.tolist(), strict=True):
            self.touch(i)
            self._step(i, np.eye(3)[0 if s == 0 else (2 if s == k else 1)], learn=True)
        for i in list(self.alphas):
            if i not in selected:
                self._step(i, self.pis[i], learn=False)


# ---------------------------------------------------------------- measuring
def selector_cfg(name: str) -> dict:
    return OmegaConf.to_container(compose([f"selector={name}"]).selector)


def state_nbytes(selector) -> int:
    """Bytes of the selector's flat state arrays (without copying them, unlike state_dict)."""
    return sum(v.nbytes for v in vars(selector).values() if isinstance(v, np.ndarray))


def step(selector, pool: PoolSampler, rng: np.random.Generator) -> float:
    """One timed select+update step (pool draw included, simulated rollouts excluded); returns seconds."""
    start = time.perf_counter()
    ids = selector.select(pool.draw(M), M)
    mid = time.perf_counter()
    succ = rollouts(rng, ids)
    trials = np.full(len(ids), K)
    resume = time.perf_counter()
    selector.update(ids, succ, trials)
    return (mid - start) + (time.perf_counter() - resume)


def measure_ours(name: str, cfg: dict, n: int) -> dict:
    selector = build_selector(n, cfg, seed=0)
    pool, rng = PoolSampler(n, FACTOR, seed=0), np.random.default_rng(0)
    for _ in range(WARM):
        step(selector, pool, rng)
    times = [step(selector, pool, rng) for _ in range(TIMED)]
    tracemalloc.start()
    step(selector, pool, rng)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {"ms": 1e3 * statistics.median(times), "state_mb": state_nbytes(selector) / 1e6, "peak_mb": peak / 1e6}
    del selector
    gc.collect()
    return result


def measure_reference(name: str, cfg: dict, n: int) -> dict:
    pool, rng = PoolSampler(n, FACTOR, seed=0), np.random.default_rng(0)
    tracemalloc.start()
    ref = DictDPSReference(cfg) if name == "dps" else DictBetaReference(name, cfg)
    for _ in range(REF_WARM):
        ids = ref.select(pool.draw(M), M)
        ref.update(ids, rollouts(rng, ids), np.full(M, K))
    state, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times = []
    for _ in range(REF_TIMED):
        start = time.perf_counter()
        ids = ref.select(pool.draw(M), M)
        mid = time.perf_counter()
        succ = rollouts(rng, ids)
        resume = time.perf_counter()
        ref.update(ids, succ, np.full(M, K))
        times.append((mid - start) + (time.perf_counter() - resume))
    del ref
    gc.collect()
    return {"ms": 1e3 * statistics.median(times), "mb": state / 1e6}


def full_pool_wmi_ms(integral: bool, n: int = 10**6) -> tuple[float, float]:
    """Best-of-3 (wall ms, CPU ms) of scoring all n prompts with WMI and taking the top M.

    integral: beliefs as WMI's default leaves them (λ = 1, Beta(1, 1): 1 + counts of K = 8 rollouts per visit);
    otherwise non-integer beliefs, as λ < 1 or another prior would give.
    """
    selector = build_selector(n, selector_cfg("wmi"), seed=0)
    rng = np.random.default_rng(0)
    if integral:
        visits = rng.integers(0, 20, n)
        successes = rng.binomial(K * visits, rng.uniform(size=n))
        selector.alpha = 1.0 + successes
        selector.beta = 1.0 + K * visits - successes
    else:
        selector.alpha = rng.uniform(1, 200, n)
        selector.beta = rng.uniform(1, 200, n)
    everyone = np.arange(n)
    wall, cpu = math.inf, math.inf
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        selector.select(everyone, M)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return 1e3 * wall, 1e3 * cpu


def pool_draw_ms(n: int = 10**7) -> float:
    pool = PoolSampler(n, FACTOR, seed=0)
    pool.draw(M)
    start = time.perf_counter()
    for _ in range(200):
        pool.draw(M)
    return 1e3 * (time.perf_counter() - start) / 200


def label(n: int) -> str:
    return f"1e{round(math.log10(n))}" if n >= 10 and 10 ** round(math.log10(n)) == n else str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**6, 10**7])
    parser.add_argument("--selectors", nargs="+", default=list(SELECTORS))
    args = parser.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at start (wall times stretch when it exceeds them)"
    )
    print(f"M = {M}, M̂ = {FACTOR}·M = {FACTOR * M}, K = {K}; ours: median of {TIMED} steps after {WARM}; "
          f"ref: median of {REF_TIMED} steps after {REF_WARM}")  # fmt: skip
    header = (
        f"{'selector':<20}{'N':>5}{'ours ms':>10}{'ref ms':>10}{'speed-up':>10}"
        f"{'state MB':>10}{'step peak MB':>14}{'ref MB':>9}{'goal':>14}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.selectors:
        cfg = selector_cfg(name)
        for n in args.sizes:
            ours = measure_ours(name, cfg, n)
            ref = measure_reference(name, cfg, n)
            goal = ""
            if n == 10**7:
                ok = ours["ms"] <= GOAL_MS.get(name, DEFAULT_GOAL_MS) and ours["state_mb"] <= GOAL_MB.get(
                    name, DEFAULT_GOAL_MB
                )
                goal = ("PASS" if ok else "FAIL") + f" ≤{GOAL_MS.get(name, DEFAULT_GOAL_MS):g}ms"
            ratio = ref["ms"] / ours["ms"]
            rows.append((name, n, ours, ref, ratio, goal))
            print(
                f"{name:<20}{label(n):>5}{ours['ms']:>10.3f}{ref['ms']:>10.1f}{ratio:>9.0f}x"
                f"{ours['state_mb']:>10.1f}{ours['peak_mb']:>14.2f}{ref['mb']:>9.1f}{goal:>14}",
                flush=True,
            )
    print()
    for integral, what in ((True, "integer counts (λ = 1, default)"), (False, "non-integer beliefs (λ < 1)")):
        wall, cpu = full_pool_wmi_ms(integral)
        print(f"full-pool WMI scoring + top-{M} of 10⁶ prompts, {what}: {wall:.1f} ms wall, {cpu:.1f} ms CPU "
              f"(goal ≤ 100 ms: {'PASS' if wall <= 100 else 'FAIL'})")  # fmt: skip
    print(f"PoolSampler.draw of {FACTOR * M} from 10⁷ prompts: {pool_draw_ms():.3f} ms")
    at_max = [r for r in rows if r[1] == max(args.sizes)]
    if at_max:
        slowest = max(at_max, key=lambda r: r[2]["ms"] / GOAL_MS.get(r[0], DEFAULT_GOAL_MS))
        biggest = max(at_max, key=lambda r: r[2]["state_mb"] / GOAL_MB.get(r[0], DEFAULT_GOAL_MB))
        print(f"closest to the time goal at {label(max(args.sizes))}: {slowest[0]} {slowest[2]['ms']:.3f} ms; "
              f"closest to the memory goal: {biggest[0]} {biggest[2]['state_mb']:.0f} MB")  # fmt: skip
    worst = min(rows, key=lambda r: r[4])
    print(
        f"worst ratio (ref ÷ ours, per-step time): {worst[4]:.0f}x — {worst[0]} at N = {label(worst[1])} "
        f"({worst[3]['ms']:.1f} ms vs {worst[2]['ms']:.3f} ms)"
    )


if __name__ == "__main__":
    main()
