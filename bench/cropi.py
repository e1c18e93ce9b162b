"""What a CROPI refresh costs: time and peak memory against pool size and model size on the CPU miniature, and the
sparse random projection alone on a synthetic gradient of 10⁸ (and 10⁹, if memory allows) coordinates.

    python bench/cropi.py                       # the full grid: ~30 minutes on one busy core
    python bench/cropi.py --pools 64 256 --widths 64 256 --width-pool 64 --valid-prompts 8   # ~12 minutes

Refresh = the trainer's work at a stage start (insight_cli/train/influence.py): one off-policy gradient per pool
prompt (8 rollouts of 40 tokens each, the miniature's sizes), gathered at the projection's kept coordinates and
projected in batches of 64, plus the mean projected gradient of two validation sets of 32 prompts × 32 rollouts.
Models are freshly initialised tiny Qwen3s of the miniature's shape (4 layers) at several widths, with random
tokens: the cost does not depend on the weights or the text. Offline generation is not included (it happens once).

Projection alone: the coordinate subset (the reference keeps 15M of 1.5B coordinates), the gather, and the Gaussian
stage to k. The Gaussian stage at the paper's k = 32,768 generates 15M × 32,768 normals per call (~4.9·10¹¹): it is
timed on a few blocks and extrapolated linearly in the blocks (marked "extrapolated"); the miniature's k = 1,024 is
timed on blocks like the rest. Peak memory is the resident set sampled every 5 ms, above its level before the
measurement (each refresh row runs in a fresh process, so one row's freed memory does not hide the next one's).
Prints one table per part and a final line with the refresh cost per pool prompt and the 1.5B-scale extrapolation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from insight_cli.selectors.cropi import PROJECTION_BLOCK_ROWS, SparseProjection, coordinate_subset
from insight_cli.train.influence import Rollouts, mean_projected_gradient, projected_gradients, trainable

PAGE = os.sysconf("SC_PAGE_SIZE")
G_TRAIN, G_VALID, VALID_PROMPTS, PROMPT_TOKENS, COMPLETION_TOKENS = 8, 32, 32, 20, 40
SPARSE_DIM, PROJ_DIM, BATCH = 16_384, 1_024, 64  # the miniature's conf/selector/cropi.yaml
PAPER_SPARSE, PAPER_K = 15_000_000, 32_768


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class PeakMemory:
    """Peak resident set above the level at entry, sampled every 5 ms by a thread."""

    def __enter__(self):
        self.base = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def tiny_model(width: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    heads = max(1, width // 32)
    config = Qwen3Config(
        vocab_size=98,
        hidden_size=width,
        intermediate_size=3 * width,
        num_hidden_layers=4,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=32,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    return Qwen3ForCausalLM(config).eval()


def random_rollouts(prompts: int, g: int, seed: int) -> Rollouts:
    rng = np.random.default_rng(seed)
    rewards = rng.integers(0, 2, (prompts, g)).astype(np.float32)
    rewards[:, 0], rewards[:, 1] = 0.0, 1.0  # every group informative: the worst case
    return Rollouts(
        prompt_ids=rng.integers(3, 98, (prompts, PROMPT_TOKENS)),
        prompt_len=np.full(prompts, PROMPT_TOKENS),
        completion_ids=rng.integers(3, 98, (prompts, g, COMPLETION_TOKENS)),
        completion_len=rng.integers(COMPLETION_TOKENS // 2, COMPLETION_TOKENS + 1, (prompts, g)),
        rewards=rewards,
        behaviour_logp=np.zeros((prompts, g, COMPLETION_TOKENS), dtype=np.float32),
    )


def refresh_row(pool: int, width: int, valid_prompts: int) -> dict:
    torch.set_num_threads(1)
    model = tiny_model(width)
    params = sum(p.numel() for p in trainable(model))
    train = random_rollouts(pool, G_TRAIN, seed=pool)
    valid = [random_rollouts(valid_prompts, G_VALID, seed=1000 + k) for k in range(2)]
    start = time.perf_counter()
    projection = SparseProjection(params, SPARSE_DIM, PROJ_DIM, seed=0)
    built = time.perf_counter() - start
    with PeakMemory() as memory:
        start = time.perf_counter()
        projected_gradients(model, train, projection, BATCH)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        for v in valid:
            mean_projected_gradient(model, v, projection)
        valid_s = time.perf_counter() - start
    return {
        "pool": pool,
        "width": width,
        "params": params,
        "projection_s": built,
        "train_s": train_s,
        "valid_s": valid_s,
        "ms_per_prompt": 1000 * train_s / pool,
        "peak_mib": memory.mib,
    }


def projection_rows(dim: int) -> list[dict]:
    """Projection alone on a synthetic gradient of ``dim`` coordinates."""
    rows = []
    with PeakMemory() as memory:
        gradient = np.random.default_rng(0).standard_normal(dim, dtype=np.float32)
    made = memory.mib
    sparse = min(PAPER_SPARSE, dim)
    start = time.perf_counter()
    coords = coordinate_subset(dim, sparse, seed=0)
    subset_s = time.perf_counter() - start
    start = time.perf_counter()
    kept = gradient[coords]
    gather_s = time.perf_counter() - start
    del gradient
    for k in (PROJ_DIM, PAPER_K):
        for batch in (1, BATCH):
            rows_kept = np.tile(kept[None, : PROJECTION_BLOCK_ROWS * 4], (batch, 1))
            blocks = 4  # timed blocks, then extrapolated to every block of `sparse` rows
            with PeakMemory() as memory:
                start = time.perf_counter()
                for b in range(blocks):
                    block = np.random.default_rng([0, 1, b]).standard_normal((PROJECTION_BLOCK_ROWS, k), np.float32)
                    _ = rows_kept[:, b * PROJECTION_BLOCK_ROWS : (b + 1) * PROJECTION_BLOCK_ROWS] @ block
                per_block = (time.perf_counter() - start) / blocks
            total_blocks = -(-sparse // PROJECTION_BLOCK_ROWS)
            rows.append(
                {
                    "dim": dim,
                    "kept": sparse,
                    "k": k,
                    "batch": batch,
                    "subset_s": subset_s,
                    "gather_s": gather_s,
                    "gradient_mib": made,
                    "project_s": per_block * total_blocks,
                    "how": f"extrapolated from {blocks} of {total_blocks} blocks",
                    "peak_mib": memory.mib,
                }
            )
    return rows


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--projection-dims", type=int, nargs="*", default=[10**8, 10**9])
    parser.add_argument("--valid-prompts", type=int, default=VALID_PROMPTS, help="per validation set (2 sets)")
    parser.add_argument("--width-pool", type=int, default=256, help="pool size of the rows that vary the width")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(
        f"Refresh (train prompts × {G_TRAIN} rollouts + 2 validation sets × {args.valid_prompts} prompts × {G_VALID}; "
        f"kept {SPARSE_DIM:,} coordinates → k = {PROJ_DIM:,}; batches of {BATCH})"
    )
    header = f"{'pool':>6} {'width':>6} {'params':>10} {'P built s':>10} {'train s':>9} {'valid s':>9} " + (
        f"{'ms/prompt':>10} {'peak MiB':>9}"
    )
    print(header)
    rows = []
    configs = [(p, 128) for p in args.pools]
    configs += [(args.width_pool, w) for w in args.widths if (args.width_pool, w) not in configs]
    for pool, width in configs:
        with multiprocessing.get_context("spawn").Pool(1) as worker:  # a fresh process: its own memory peak
            r = worker.apply(refresh_row, (pool, width, args.valid_prompts))
        rows.append(r)
        print(
            f"{r['pool']:>6} {r['width']:>6} {r['params']:>10,} {r['projection_s']:>10.2f} {r['train_s']:>9.2f} "
            f"{r['valid_s']:>9.2f} {r['ms_per_prompt']:>10.1f} {r['peak_mib']:>9.1f}",
            flush=True,
        )

    print(f"\nProjection alone (kept min(15M, d) coordinates, blocks of {PROJECTION_BLOCK_ROWS} rows)")
    print(
        f"{'d':>14} {'kept':>12} {'k':>7} {'batch':>6} {'subset s':>9} {'gather s':>9} {'grad MiB':>9} "
        f"{'project s':>11} {'peak MiB':>9}  how"
    )
    projected = []
    for dim in args.projection_dims:
        need = dim * 4 * 1.3 + 2**30
        if mem_available() < need:
            print(
                f"{dim:>14,} skipped: needs ~{need / 2**30:.1f} GiB free, {mem_available() / 2**30:.1f} GiB available"
            )
            continue
        for r in projection_rows(dim):
            projected.append(r)
            print(
                f"{r['dim']:>14,} {r['kept']:>12,} {r['k']:>7,} {r['batch']:>6} {r['subset_s']:>9.2f} "
                f"{r['gather_s']:>9.3f} {r['gradient_mib']:>9.0f} {r['project_s']:>11.1f} {r['peak_mib']:>9.1f}  "
                f"{r['how']}",
                flush=True,
            )

    if not rows:
        return
    small = next((r for r in rows if r["pool"] == min(args.pools) and r["width"] == 128), rows[0])
    large = next((r for r in rows if r["pool"] == max(args.pools) and r["width"] == 128), rows[-1])
    ratio = large["train_s"] / max(small["train_s"], 1e-9)
    paper = next((r for r in projected if r["k"] == PAPER_K and r["batch"] == BATCH), None)
    tail = (
        f"; 1.5B-scale projection (15M kept → k = 32,768) ≈ {paper['project_s'] / 60:.0f} CPU-min per batch of "
        f"{BATCH} prompts (extrapolated)"
        if paper
        else ""
    )
    print(
        f"\nrefresh train-gradient time {large['pool']} vs {small['pool']} prompts: {ratio:.1f}x "
        f"(linear would be {large['pool'] / small['pool']:.0f}x); {large['ms_per_prompt']:.1f} ms per prompt at "
        f"{large['params']:,} parameters{tail}"
    )


if __name__ == "__main__":
    main()
