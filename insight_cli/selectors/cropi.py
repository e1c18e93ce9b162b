"""CROPI — Curriculum RL with Off-Policy Influence guidance (Zhu et al., arXiv 2510.26491, "Data-Efficient RLVR via
Off-Policy Influence Guidance", §3 POPI and Alg. 1; reference code thu-coai/CROPI).

Score of training prompt x against validation set V (POPI, off-policy influence):

    ĝ(x) = P·∇θ L(x),   L(x) = −(1/G) Σᵢ (1/|oᵢ|) Σₜ [π_θ/π_β](oᵢ,ₜ) · Aᵢ,   Aᵢ = (rᵢ − mean r)/(std r + 1e-4)
    s_V(x) = cos(ĝ(x), mean_{v ∈ V} ĝ(v))

over G rollouts oᵢ drawn once from the initial policy π_β (no clipping, no KL). A prompt whose rollouts all have
the same reward has A = 0 and a zero gradient: it gets no score (NaN) and is never selected.

Selection (``refresh``): per validation set keep the top n = ⌊ρ|D|⌋ prompts; fuse the sets by Σ_V 1/rank_V(x)
(a prompt absent from a set's top n adds nothing); keep the top n of the fused scores — the stage's subset.
Curriculum: select → train N steps drawing the M prompts of each step uniformly from the subset → recompute every
gradient at the new checkpoint (same offline rollouts) → select again from the whole pool.

P is the sparse random projection :class:`SparseProjection`: a fixed random subset of coordinates of the flattened
gradient (the reference keeps 15M of 1.5B), then a Gaussian projection to k dimensions (TRAK-style; reference
k = 32,768), generated in seeded blocks so the full matrix is never held when it would not fit. The same seed gives
the same P for every prompt and every stage. The gradients themselves are computed by the trainer
(``insight_cli/train/influence.py``), which hands ``refresh`` the projected gradients: this module stays NumPy-only.

Defaults: ρ = 0.1, 8 rollouts per training prompt and 32 per validation prompt at T = 0.5, up to 100 validation
prompts per set (the paper's); on the CPU miniature (conf/selector/cropi.yaml) 32 validation prompts per set, 16,384
kept coordinates of the ~0.9M-parameter model and k = 1,024, stages of N = 20 steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from insight_cli.selectors.base import (
    Selector,
    StateDict,
    as_ids,
    check_int,
    check_range,
    rng_from_array,
    rng_state_array,
    top_m_positions,
)

# Rows (kept coordinates) of the Gaussian matrix generated per seeded block. Part of the projection's definition:
# changing it changes P, so it is a constant, not a setting.
PROJECTION_BLOCK_ROWS = 4096
# The Gaussian matrix is kept in memory when it is at most this large (float32), else regenerated block by block.
PROJECTION_CACHE_BYTES = 256 * 2**20


# ---------------------------------------------------------------------------------------------- the projection
def coordinate_subset(total_dim: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct coordinates of ``range(total_dim)``, uniformly at random, sorted; O(count) memory.

    Dense requests (count > total/4) permute the whole range; sparse ones draw with replacement until enough are
    distinct, then keep a uniform subset of those (a uniform subset of a uniform subset is uniform)."""
    total_dim, count = int(total_dim), int(count)
    if count >= total_dim:
        return np.arange(total_dim, dtype=np.int64)
    rng = np.random.default_rng([int(seed), 0])
    if 4 * count > total_dim:
        return np.sort(rng.choice(total_dim, size=count, replace=False)).astype(np.int64)
    picked = np.zeros(0, dtype=np.int64)
    while len(picked) < count:
        extra = rng.integers(0, total_dim, size=count - len(picked) + count // 16 + 16, dtype=np.int64)
        picked = np.sort(np.concatenate([picked, extra]))
        picked = picked[np.concatenate([[True], picked[1:] != picked[:-1]])]  # distinct (np.unique took 58 s at 16M)
    return np.sort(rng.choice(picked, size=count, replace=False))


def jl_epsilon(dim: int, events: int, delta: float) -> float:
    """Smallest ε with ``events`` · 2·exp(−k(ε²/2 − ε³/3)/2) ≤ δ (Dasgupta–Gupta's two-sided tail, union bound).

    For a fixed x and P with i.i.d. N(0, 1/k) entries, P(|‖Px‖² − ‖x‖²| > ε‖x‖²) ≤ 2·exp(−k(ε²/2 − ε³/3)/2)."""
    target = np.log(2.0 * events / delta) * 2.0 / dim
    low, high = 0.0, 1.0
    for _ in range(60):  # bisection: ε²/2 − ε³/3 is increasing on [0, 1]
        mid = (low + high) / 2
        low, high = (mid, high) if mid**2 / 2 - mid**3 / 3 < target else (low, mid)
    return high


def jl_cosine_bound(dim: int, num_vectors: int, delta: float) -> float:
    """With probability ≥ 1 − δ, every pairwise cosine of ``num_vectors`` fixed vectors moves by at most this under
    the Gaussian stage of :class:`SparseProjection` (k = ``dim``); inf when the bound says nothing (ε ≥ 1/2).

    Proof sketch: ask the JL event for the n vectors and for u ± v of every pair of unit vectors (n + 2·C(n, 2)
    events, :func:`jl_epsilon`). Polarisation ⟨u, v⟩ = (‖u+v‖² − ‖u−v‖²)/4 then moves by ≤ ε, each norm² by ≤ ε, so
    cos = ⟨Pu, Pv⟩/(‖Pu‖‖Pv‖) lies in [(c − ε)/(1 + ε), (c + ε)/(1 − ε)]: |Δcos| ≤ (1 + |c|)ε/(1 − ε) ≤ 2ε/(1 − ε).
    Inner products of unit vectors move by ≤ ε under the same event."""
    n = int(num_vectors)
    eps = jl_epsilon(dim, n + n * (n - 1), delta)
    return 2 * eps / (1 - eps) if eps < 0.5 else float("inf")


class SparseProjection:
    """x ∈ R^d ↦ Gᵀ x[S] / √k ∈ R^k: S a fixed random set of ``sparse_dim`` coordinates, G a (|S|, k) standard
    Gaussian matrix generated in blocks of :data:`PROJECTION_BLOCK_ROWS` rows, block b from the seed (seed, 1, b).

    Johnson–Lindenstrauss (Dasgupta–Gupta): for vectors restricted to S, the Gaussian stage preserves every pairwise
    inner product of unit vectors within ε and every cosine within 2ε/(1 − ε) with probability ≥ 1 − δ, where ε
    solves 2(n + n(n−1))·exp(−k(ε²/2 − ε³/3)/2) = δ for n vectors (:func:`jl_cosine_bound`); typical errors are
    ~1/√k. The coordinate subset is not a JL map: it estimates the full inner product by d/|S| times the sum over
    S (unbiased over the draw of S, variance from the gradient's spread) — CROPI's choice to make 1.5B gradients fit.

    The matrix is cached when it takes at most :data:`PROJECTION_CACHE_BYTES` (the miniature's 16,384 × 1,024 takes
    64 MiB), else regenerated for each call; project many vectors per call to amortise that.
    """

    def __init__(self, total_dim: int, sparse_dim: int, proj_dim: int, seed: int):
        if total_dim < 1 or sparse_dim < 1 or proj_dim < 1:
            raise ValueError(f"projection sizes must be ≥ 1: total {total_dim}, sparse {sparse_dim}, proj {proj_dim}")
        self.total_dim, self.proj_dim, self.seed = int(total_dim), int(proj_dim), int(seed)
        self.coords = coordinate_subset(self.total_dim, sparse_dim, self.seed)
        self.sparse_dim = len(self.coords)
        self._matrix: np.ndarray | None = None
        if self.sparse_dim * self.proj_dim * 4 <= PROJECTION_CACHE_BYTES:
            self._matrix = np.concatenate([block for _, block in self._blocks()], axis=0)

    def _blocks(self):
        """(row offset, float32 block) of the Gaussian matrix, generated block by block from the seed."""
        for b, start in enumerate(range(0, self.sparse_dim, PROJECTION_BLOCK_ROWS)):
            rows = min(PROJECTION_BLOCK_ROWS, self.sparse_dim - start)
            rng = np.random.default_rng([self.seed, 1, b])
            yield start, rng.standard_normal((rows, self.proj_dim), dtype=np.float32)

    def gather(self, flat: np.ndarray) -> np.ndarray:
        """The kept coordinates of full vectors (…, total_dim) → (…, sparse_dim)."""
        flat = np.asarray(flat)
        if flat.shape[-1] != self.total_dim:
            raise ValueError(f"expected vectors of {self.total_dim} coordinates, got shape {flat.shape}")
        return flat[..., self.coords]

    def project_gathered(self, kept: np.ndarray) -> np.ndarray:
        """(n, sparse_dim) kept coordinates → (n, proj_dim) float32 (a 1-D input gives a 1-D output)."""
        kept = np.asarray(kept, dtype=np.float32)
        single = kept.ndim == 1
        kept = np.atleast_2d(kept)
        if kept.shape[1] != self.sparse_dim:
            raise ValueError(f"expected {self.sparse_dim} kept coordinates per row, got shape {kept.shape}")
        if self._matrix is not None:
            out = kept @ self._matrix
        else:
            out = np.zeros((kept.shape[0], self.proj_dim), dtype=np.float32)
            for start, block in self._blocks():
                out += kept[:, start : start + len(block)] @ block
        out /= np.float32(np.sqrt(self.proj_dim))
        return out[0] if single else out

    def __call__(self, flat: np.ndarray) -> np.ndarray:
        """Project full vectors (…, total_dim)."""
        return self.project_gathered(self.gather(flat))


# ---------------------------------------------------------------------------------------------- scoring and fusion
def cosine_scores(train: np.ndarray, valid_means: np.ndarray) -> np.ndarray:
    """(n, S) cosines between n projected training gradients and S mean validation gradients; NaN for a zero row."""
    train = np.asarray(train, dtype=np.float64)
    valid = np.atleast_2d(np.asarray(valid_means, dtype=np.float64))
    t_norm = np.linalg.norm(train, axis=1, keepdims=True)
    v_norm = np.linalg.norm(valid, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (train @ valid.T) / (t_norm * v_norm.T)
    cos[~np.isfinite(cos)] = np.nan
    return cos


def fused_scores(scores: np.ndarray, count: int) -> np.ndarray:
    """Σ over validation sets of 1/rank within each set's top ``count`` (NaN scores never rank; 0 = in no top)."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[:, None] if scores.ndim == 1 else scores
    fused = np.zeros(scores.shape[0], dtype=np.float64)
    for column in scores.T:
        scored = np.flatnonzero(~np.isnan(column))
        best = scored[top_m_positions(column[scored], count, largest=True)]
        fused[best] += 1.0 / np.arange(1, len(best) + 1)
    return fused


def fused_subset(scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``count`` rows by fused rank score (only rows in some set's top ``count``), best first, and the fused
    score of every row."""
    fused = fused_scores(scores, count)
    ranked = np.flatnonzero(fused > 0)
    return ranked[top_m_positions(fused[ranked], count, largest=True)], fused


# ---------------------------------------------------------------------------------------------- the selector
class CROPISelector(Selector):
    """Between refreshes, M prompts per step uniformly from the stage's subset: the candidates in it, in their
    uniformly drawn order; if fewer than M candidates are in it, the rest of the subset is drawn with the selector's
    RNG (CROPI trains on its subset; with the miniature's pool.factor the candidates are the whole pool, so this does
    not happen there). Before the first refresh, or if the subset has fewer than M prompts, the step is filled with
    the other candidates, best fused score first, then in candidate order (the trainer needs M distinct prompts)."""

    name = "cropi"

    def __init__(self, num_prompts: int, cfg: Mapping[str, Any], seed: int):
        super().__init__(num_prompts, cfg, seed)
        self.rho = check_range(self.cfg, "rho", 0.0, 1.0, low_open=True)
        self.stage_steps = check_int(self.cfg, "stage_steps", 1, "training steps per curriculum stage, N")
        self.sparse_dim = check_int(self.cfg, "sparse_dim", 1, "gradient coordinates kept by the projection")
        self.proj_dim = check_int(self.cfg, "proj_dim", 1, "dimension of the Gaussian projection, k")
        self.projection_seed = int(np.random.SeedSequence([int(seed), 18]).generate_state(1)[0] >> 1)
        self.stage = 0  # refreshes done so far
        self.subset = np.zeros(self.num_prompts, dtype=bool)
        self.fused = np.zeros(self.num_prompts, dtype=np.float64)
        self.last_refresh_scores = np.zeros((0, 0))  # (num_prompts, sets) cosines of the latest refresh (not state)

    @property
    def subset_size(self) -> int:
        """n = ⌊ρ|D|⌋ (at least 1)."""
        return max(1, int(np.floor(self.rho * self.num_prompts + 1e-9)))

    # ---------------------------------------------------------------- the refresh hook (DESIGN §2)
    def refresh_due(self, step: int) -> bool:
        """Whether a stage starts before training step ``step`` (0-based): steps 0, N, 2N, … not yet refreshed."""
        return int(step) // self.stage_steps >= self.stage

    def projection(self, total_dim: int) -> SparseProjection:
        """The run's projection for a model of ``total_dim`` parameters (same for every prompt and stage)."""
        return SparseProjection(total_dim, self.sparse_dim, self.proj_dim, self.projection_seed)

    def refresh(self, train_ids: np.ndarray, train_projected: np.ndarray, valid_means: Mapping[str, np.ndarray]):
        """Start a stage from projected gradients: ``train_projected[i]`` of prompt ``train_ids[i]`` (prompts with
        all-equal rewards left out, or given as zero rows) and one mean projected gradient per validation set."""
        ids = as_ids(train_ids)
        if len(valid_means) == 0:
            raise ValueError("cropi refresh needs at least one validation set's mean gradient")
        valid = np.stack([np.asarray(v, dtype=np.float64) for v in valid_means.values()])
        scores = np.full((self.num_prompts, len(valid)), np.nan)
        if len(ids):
            scores[ids] = cosine_scores(train_projected, valid)
        chosen, self.fused = fused_subset(scores, self.subset_size)
        self.subset = np.zeros(self.num_prompts, dtype=bool)
        self.subset[chosen] = True
        self.stage += 1
        self.last_refresh_scores = scores  # per set, for audits and tests (not state)
        return chosen

    # ---------------------------------------------------------------- choosing a step's prompts
    def scores(self, ids: np.ndarray) -> np.ndarray:
        """The fused rank score Σ 1/rank of the latest refresh (0: in no validation set's top ⌊ρ|D|⌋)."""
        return self.fused[as_ids(ids)]

    def select(self, candidates: np.ndarray, m: int) -> np.ndarray:
        candidates = as_ids(candidates)
        inside = candidates[self.subset[candidates]]
        if len(inside) < m:  # the rest of the subset, uniformly
            outside = np.setdiff1d(np.flatnonzero(self.subset), inside)
            take = self.rng.permutation(outside)[: m - len(inside)] if len(outside) else outside
            inside = np.concatenate([inside, take.astype(np.int64)])
        if len(inside) < m:  # fill: best fused score first, then candidate (uniform) order
            rest = candidates[~np.isin(candidates, inside)]
            rest = rest[top_m_positions(self.fused[rest], m - len(inside), largest=True)]
            inside = np.concatenate([inside, rest])
        chosen = inside[:m]
        self.last_scores = self.fused[chosen]
        return chosen

    # ---------------------------------------------------------------- checkpointing
    def state_dict(self) -> StateDict:
        return {
            "rng": rng_state_array(self.rng),
            "stage": self.stage,
            "projection_seed": self.projection_seed,
            "subset": self.subset.copy(),
            "fused": self.fused.copy(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng = rng_from_array(state["rng"])
        self.stage = int(state["stage"])
        self.projection_seed = int(state["projection_seed"])
        self.subset = self._load_array(state, "subset", bool, (self.num_prompts,))
        self.fused = self._load_array(state, "fused", np.float64, (self.num_prompts,))
