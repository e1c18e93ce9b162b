"""Per-step overhead of the verl sampler (InsightSampler, WMI) at 10⁶ prompts: what it adds to one verl step.

    .venv-verl/bin/python bench/verl_sampler.py               # real verl DataProto batches (bash scripts/verl-env.sh)
    python bench/verl_sampler.py --sizes 100000               # anywhere: a stand-in batch with the same two fields

One step = the data loader drawing the step's M indices from the sampler (the candidate pool of 16·M prompts, WMI's
scores, the top M, yielding them) + ``update(batch)`` on the step's M·K rollouts with rows in random order: reading the
stable ids (verl's ``index`` column, or the dicts of ``extra_info`` with ``--id-path extra_info``), mapping them to
dataset rows, summing ``token_level_scores`` over L tokens, binarising, grouping the K rollouts of each prompt and the
selector's update. Building the batch (verl's work) is not timed. "selector" is the part ``insight train`` pays too
(pool draw, select, update); the rest is the integration's own. Goal (issue 20): ≤ 5 ms per step at 10⁶ prompts,
grouping included. Both the wall time and this process's CPU time are reported (medians over 20 steps): the code is
single-threaded, so on an idle machine wall ≈ CPU, while on a shared one the wall time also counts the waits for a
core (the 1-minute load average is printed). Prints a table and ends with the worst ratio to the goal (CPU time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch

from insight_cli.integrations.verl import InsightSampler

GOAL_MS = 5.0
SHAPES = [(256, 8), (512, 16), (1024, 8)]  # (M prompts per step, K rollouts per prompt)
RESPONSE_TOKENS = 512
WARM, TIMED = 5, 20


class Pool:
    """A map-style dataset with verl's layout: a ``datasets.Dataset`` in ``dataframe`` (RLHFDataset's attribute)."""

    def __init__(self, ids: np.ndarray, id_key: str):
        import datasets
        import pyarrow as pa

        table = pa.table({"extra_info": pa.StructArray.from_arrays([pa.array(ids)], names=[id_key])})
        self.dataframe = datasets.Dataset(table)  # built straight from Arrow: seconds at 10⁶ rows

    def __len__(self) -> int:
        return len(self.dataframe)


def make_batch(ids: np.ndarray, k: int, rng: np.random.Generator, extra_info: bool):
    """The scored batch verl hands to update(): K rows per prompt in random order, the reward on the last token."""
    rows = len(ids) * k
    order = rng.permutation(rows)
    row_ids = np.repeat(ids, k)[order]
    scores = torch.zeros(rows, RESPONSE_TOKENS)
    scores[:, -1] = torch.from_numpy((rng.random(rows) < 0.4).astype(np.float32))
    columns = {"index": row_ids.astype(object)}
    if extra_info:
        columns = {"extra_info": np.array([{"pid": int(i)} for i in row_ids], dtype=object)}
    try:
        from verl import DataProto

        return DataProto.from_single_dict({"token_level_scores": scores, **columns})
    except ImportError:
        return SimpleNamespace(batch={"token_level_scores": scores}, non_tensor_batch=columns)


def bench_shape(ids: np.ndarray, m: int, k: int, id_path: str) -> dict[str, float]:
    """Median per-step milliseconds; ``id_path`` "extra_info" keeps the ids under another key, so they are read from
    the extra_info dicts instead of verl's ``index`` column."""
    id_key = "pid" if id_path == "extra_info" else "index"
    pool = Pool(ids, id_key)
    config = {
        "train_batch_size": m,
        "dataloader_num_workers": 0,
        "sampler": {"selector": "wmi", "rollouts_per_prompt": k, "seed": 0, "id_key": id_key},
    }
    sampler = InsightSampler(pool, config)
    stream = iter(sampler)
    rng = np.random.default_rng(1)
    times: dict[str, list[float]] = {"choose": [], "update": [], "selector": [], "total": [], "cpu": []}
    for step in range(WARM + TIMED):
        sampler.selection.step.selector_s = 0.0
        cpu, start = time.process_time(), time.perf_counter()
        rows = np.fromiter((next(stream) for _ in range(m)), dtype=np.int64, count=m)
        chosen_at, cpu_chosen = time.perf_counter(), time.process_time()
        batch = make_batch(ids[rows], k, rng, extra_info=id_path == "extra_info")  # verl's work: not timed
        cpu_update, update_start = time.process_time(), time.perf_counter()
        sampler.update(batch)
        end, cpu_end = time.perf_counter(), time.process_time()
        if step >= WARM:
            times["choose"].append(1e3 * (chosen_at - start))
            times["update"].append(1e3 * (end - update_start))
            times["total"].append(1e3 * (chosen_at - start + end - update_start))
            times["cpu"].append(1e3 * (cpu_chosen - cpu + cpu_end - cpu_update))
            times["selector"].append(1e3 * sampler.selection.step.selector_s)
    return {key: statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000], help="training-set sizes")
    parser.add_argument("--id-path", choices=["index", "extra_info", "both"], default="both")
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        import verl  # noqa: F401

        kind = "verl DataProto"
    except ImportError:
        kind = "stand-in batch (verl not installed)"
    paths = ["index", "extra_info"] if args.id_path == "both" else [args.id_path]
    print(f"InsightSampler per-step overhead, WMI, pool 16·M, L = {RESPONSE_TOKENS} tokens, {kind}, 1 thread")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above that, wall times include waits)")
    print(
        f"{'prompts':>9} {'M':>5} {'K':>3} {'ids from':>10} {'choose ms':>10} {'update ms':>10} "
        f"{'selector ms':>12} {'wall ms':>8} {'cpu ms':>7} {'goal ms':>8} {'ratio':>6}"
    )
    worst = 0.0
    for size in args.sizes:
        # the ids a shuffled numbering, not the row positions, so the id → row map is exercised
        ids = np.random.default_rng(0).permutation(size).astype(np.int64) + 10_000
        for m, k in SHAPES:
            for path in paths:
                r = bench_shape(ids, m, k, path)
                ratio = r["cpu"] / GOAL_MS
                worst = max(worst, ratio)
                print(
                    f"{size:>9} {m:>5} {k:>3} {path:>10} {r['choose']:>10.2f} {r['update']:>10.2f} "
                    f"{r['selector']:>12.2f} {r['total']:>8.2f} {r['cpu']:>7.2f} {GOAL_MS:>8.1f} {ratio:>6.2f}"
                )
    print(f"worst per-step overhead (CPU ms) / goal = {worst:.2f} (≤ 1 meets the goal of {GOAL_MS:g} ms per step)")


if __name__ == "__main__":
    main()
