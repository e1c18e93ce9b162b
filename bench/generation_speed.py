"""Sampling speed of the CPU miniature's generation with transformers' dynamic and static KV caches.

    python bench/generation_speed.py                  # 64 held-out prompts × 8 samples, 40 new tokens, 1 thread
    python bench/generation_speed.py --prompts 600 --threads 2

The dynamic cache grows by concatenation at every token (each step copies the whole cache); the static cache is
preallocated and written in place. Both draw the same samples from the same seed (checked here). Prints seconds per
1,000 sampled completions for each and the final ratio dynamic / static.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (the model and task to load)")
    args = parser.parse_args()

    import torch

    from insight_cli.config import compose
    from insight_cli.train.evaluate import sample_completions
    from insight_cli.train.model import load_model
    from insight_cli.train.run import load_problems

    torch.set_num_threads(args.threads)
    cfg = compose(args.overrides)
    _, _, benchmarks = load_problems(cfg)
    model, tokenizer, _ = load_model(cfg.model, cfg.paths.cache_dir, progress=False)
    prompts = [p["prompt"] for p in next(iter(benchmarks.values()))[: args.prompts]]
    length, batch = int(cfg.trainer.max_completion_length), int(cfg.trainer.eval.batch_size)
    seconds, samples = {}, {}
    for cache in ("dynamic", "static") * args.repeats:
        start = time.perf_counter()
        samples[cache] = sample_completions(
            model, tokenizer, prompts, args.samples, 1.0, length, batch, 0, cache=cache
        )
        seconds[cache] = min(seconds.get(cache, float("inf")), time.perf_counter() - start)
    completions = len(prompts) * args.samples
    print(f"{completions} completions of ≤ {length} tokens, batch {batch}, {torch.get_num_threads()} thread(s)")
    print(f"{'KV cache':<10}{'s / 1000 completions':>22}")
    for cache, value in seconds.items():
        print(f"{cache:<10}{1000 * value / completions:>22.2f}")
    print(f"same samples: {samples['dynamic'] == samples['static']}")
    print(f"dynamic / static = {seconds['dynamic'] / seconds['static']:.2f}")


if __name__ == "__main__":
    main()
