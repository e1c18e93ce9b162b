"""Per-prompt success of the warm-started miniature on its training pool: the spread selection works with.

    python bench/pool_histogram.py                       # default miniature, K = 8 samples per prompt, T = 1
    python bench/pool_histogram.py task.four_number_share=0.7

Prints the histogram of successes out of K per pool prompt (always solved, never solved, in between), split by
3- and 4-number problems, and held-out pass@1 at the training and evaluation temperatures.
"""

from __future__ import annotations

import sys

import numpy as np

from insight_cli.config import compose
from insight_cli.train.evaluate import success_counts
from insight_cli.train.model import load_model
from insight_cli.train.run import load_problems


def main(overrides: list[str]) -> None:
    cfg = compose(overrides)
    task, problems, benchmarks = load_problems(cfg)
    model, tokenizer, _ = load_model(cfg.model, cfg.paths.cache_dir)
    k, length = int(cfg.trainer.num_generations), int(cfg.trainer.max_completion_length)
    counts = success_counts(
        model,
        tokenizer,
        problems,
        task.score,
        cfg.task,
        n_samples=k,
        temperature=1.0,
        max_new_tokens=length,
        batch_size=512,
        seed=99,
    )
    sizes = np.array([len(p.get("nums", ())) for p in problems])
    print(f"per-prompt successes out of K={k} on the {len(problems)}-prompt training pool (T=1.0)")
    print(f"{'successes':>10}{'all':>8}{'3 numbers':>12}{'4 numbers':>12}")
    for s in range(k + 1):
        print(
            f"{s:>10}{(counts == s).sum():>8}{((counts == s) & (sizes == 3)).sum():>12}"
            f"{((counts == s) & (sizes == 4)).sum():>12}"
        )
    never, always = (counts == 0).mean(), (counts == k).mean()
    print(
        f"never solved {never:.1%}, always solved {always:.1%}, mixed {1 - never - always:.1%}; "
        f"mean success {counts.mean() / k:.3f}"
    )
    for temperature in (1.0, float(cfg.trainer.eval.temperature)):
        for name, items in benchmarks.items():
            held = success_counts(
                model,
                tokenizer,
                items,
                task.score,
                cfg.task,
                n_samples=8,
                temperature=temperature,
                max_new_tokens=length,
                batch_size=512,
                seed=7,
            )
            print(f"held-out {name} pass@1 at T={temperature}: {held.mean() / 8:.3f} ({len(items)} problems × 8)")
    print(f"mixed-outcome share of the pool: {1 - never - always:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
