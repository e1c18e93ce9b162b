"""What the miniature's answers get wrong on held-out Countdown problems, split by 3- and 4-number problems.

    python bench/answer_errors.py                                   # the shipped warm-started model, default task
    python bench/answer_errors.py --model-path RUN/checkpoints/checkpoint-160 task.four_number_share=0.5

Each sampled answer (T = trainer.eval.temperature) is one of: correct; wrong value (exactly the given numbers, another
result); wrong numbers (a number missing, repeated or not given); no answer (no <answer> tag, or not an expression).
RL that generalises moves the generic classes (wrong numbers) on held-out problems, not only on the pool.
"""

from __future__ import annotations

import argparse
from collections import Counter

from insight_cli.config import compose
from insight_cli.tasks import countdown
from insight_cli.train.evaluate import sample_completions
from insight_cli.train.model import load_model, load_pretrained
from insight_cli.train.run import load_problems

CLASSES = ("correct", "wrong value", "wrong numbers", "no answer")


def classify(completion: str, problem: dict) -> str:
    expr = countdown.extract_answer(completion)
    if expr is None:
        return "no answer"
    verdict = countdown.judge_expression(expr, problem["nums"], problem["target"])
    return "no answer" if verdict == "not an expression" else verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None, help="a checkpoint folder (default: the configured model)")
    parser.add_argument("--problems", type=int, default=300, help="held-out problems sampled")
    parser.add_argument("--samples", type=int, default=4, help="answers per problem")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. task.four_number_share=0.5")
    args = parser.parse_args()
    cfg = compose(args.overrides)
    _, _, benchmarks = load_problems(cfg)
    problems = next(iter(benchmarks.values()))[: args.problems]
    if args.model_path:
        model, tokenizer = load_pretrained(args.model_path, str(cfg.model.dtype))
    else:
        model, tokenizer, _ = load_model(cfg.model, cfg.paths.cache_dir)
    samples = sample_completions(
        model,
        tokenizer,
        [p["prompt"] for p in problems],
        args.samples,
        float(cfg.trainer.eval.temperature),
        int(cfg.trainer.max_completion_length),
        int(cfg.trainer.eval.batch_size),
        seed=0,
        cache=str(cfg.model.generation_cache),
    )
    by_size: dict[int, Counter] = {}
    for problem, answers in zip(problems, samples, strict=True):
        by_size.setdefault(len(problem["nums"]), Counter()).update(classify(a, problem) for a in answers)
    print(f"{'numbers':>8}{'answers':>9}" + "".join(f"{c:>15}" for c in CLASSES))
    for size, counts in sorted(by_size.items()):
        total = sum(counts.values())
        print(f"{size:>8}{total:>9}" + "".join(f"{counts[c] / total:>15.3f}" for c in CLASSES))
    correct = sum(c["correct"] for c in by_size.values()) / sum(sum(c.values()) for c in by_size.values())
    print(f"pass@1 over all answers: {correct:.3f}")


if __name__ == "__main__":
    main()
