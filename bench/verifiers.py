"""Completions verified per second, for each verifier (Countdown, math, multiple choice).

    python bench/verifiers.py                 # default: 4 GPU-step batches of 2,048 completions each
    python bench/verifiers.py --batches 2 --workers 2

Math is scored the way the trainer scores it: ``MathScorer`` (process pool of ``--workers`` math-verify workers
with outer bounds), one batch of 2,048 completions per GPU step (256 prompts × K = 8), after one untimed warm-up
batch. Its completions are a realistic RL mix built from MATH-train gold answers (correct in the gold's form,
correct in another form, near misses and other answers of the gold's kind, truncated without a box), plus a worst
case where every completion needs a full math-verify parse. The goal (issue 7): ≥ 2,000 completions/s for math on
2 cores, so scoring never dominates a GPU step. Wall-clock timings depend on what else runs on the machine, so the
table also gives a CPU-time estimate for 2 free cores (parent work + worker work / 2, measured in-process with
``time.process_time``). The last line is the wall-clock ratio to the goal; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from insight_cli.tasks import countdown, mcq
from insight_cli.tasks import math as mtask

GOAL_PER_S = 2000.0
BATCH = 2048
K = 8
FILLER = (
    "We start by writing down what is given. Substituting and simplifying, the expression becomes a polynomial "
    "whose roots we can read off; checking each case against the constraints leaves one candidate. "
)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "math" / "train_math.json"


def gold_answers() -> list[str]:
    """MATH-train gold answers (shared copy when present, else a built-in varied list)."""
    if SHARED.is_file():
        rows = json.loads(SHARED.read_text())
        return [str(r["answer"]) for r in rows if r.get("answer")]
    base = ["\\frac{3}{4}", "12", "\\sqrt{2}", "(1, 2)", "x^2+1", "\\pi", "-7", "0.25", "2\\sqrt{3}", "\\{1, 2\\}"]
    return [f"{b}+{i}" if i % 3 else b for i, b in enumerate(base * 200)]


def variant(gold: str, rng: random.Random) -> str:
    """The same answer written differently (needs math-verify, not string equality)."""
    value = mtask.exact_number(gold)
    if value is not None and value.denominator != 1:
        return f"{float(value):.6f}"
    return rng.choice([f"x = {gold}", f"{gold} \\text{{ units}}", f"\\left({gold}\\right)"])


def math_completion(gold: str, numeric: list[str], symbolic: list[str], rng: random.Random) -> str:
    """One completion of the RL mix: wrong answers are of the gold's kind (a number for a numeric question)."""
    text = FILLER * rng.randint(4, 12)
    roll = rng.random()
    if roll < 0.15:
        return text  # truncated: no boxed answer
    value = mtask.exact_number(gold)
    if roll < 0.55:
        answer = gold
    elif roll < 0.65:
        answer = variant(gold, rng)
    elif roll < 0.80 and value is not None:
        answer = str(value + rng.choice([-2, -1, 1, 2]))  # near miss
    else:
        answer = rng.choice(numeric if mtask.numeric_value(gold) is not None else symbolic)
    return f"{text}So the final answer is $\\boxed{{{answer}}}$."


def math_batches(n_batches: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """``n_batches`` batches of 2,048 (completion, gold) pairs: 256 distinct problems × K per batch."""
    rng, golds = random.Random(seed), gold_answers()
    numeric = [g for g in golds if mtask.numeric_value(g) is not None]
    symbolic = [g for g in golds if mtask.numeric_value(g) is None]
    batches = []
    for b in range(n_batches):
        problem_golds = golds[b * (BATCH // K) : (b + 1) * (BATCH // K)]
        pairs = [(math_completion(g, numeric, symbolic, rng), g) for g in problem_golds for _ in range(K)]
        batches.append(([c for c, _ in pairs], [g for _, g in pairs]))
    return batches


def worst_case_batch(seed: int = 1) -> tuple[list[str], list[str]]:
    """2,048 distinct symbolic answers against symbolic golds: every one needs a full math-verify parse."""
    rng = random.Random(seed)
    symbolic = [g for g in gold_answers() if mtask.numeric_value(g) is None]
    golds = [rng.choice(symbolic) for _ in range(BATCH)]
    comps = [f"{FILLER}\\boxed{{{rng.choice(symbolic)}+{i}x}}" for i in range(BATCH)]
    return comps, golds


def time_math(
    batches: list[tuple[list[str], list[str]]], workers: int, warmup: tuple[list[str], list[str]] | None = None
) -> tuple[float, int, int]:
    """(seconds, completions, timeouts) scoring the batches with a fresh pooled scorer.

    Start-up is not timed, nor the optional ``warmup`` batch (other problems): a training run's workers are warm
    after the first step (math-verify's LaTeX parser caches its automaton per process).
    """
    scorer = mtask.MathScorer(workers=workers, timeout_s=3, item_timeout_s=10.0)
    try:
        if warmup is not None:
            scorer.score(*warmup)
        start, timeouts = time.perf_counter(), 0
        for completions, golds in batches:
            timeouts += scorer.score(completions, golds)[1]
        return time.perf_counter() - start, sum(len(c) for c, _ in batches), timeouts
    finally:
        scorer.close()


def time_math_inprocess(completions: list[str], golds: list[str]) -> float:
    """Seconds for plain in-process math-verify on every completion (the naive baseline, one core, no bounds)."""
    start = time.perf_counter()
    for completion, gold in zip(completions, golds, strict=True):
        region, boxed = mtask.answer_region(completion)
        if boxed is not None:
            mtask.verify_answer(gold, region, 3)
    return time.perf_counter() - start


def cpu_estimate(batches: list[tuple[list[str], list[str]]], workers: int) -> float:
    """Seconds the batches would take on ``workers`` free cores: parent CPU + (math-verify CPU / workers).

    Runs the scorer's logic in this process (fast path, de-duplication, then math-verify on what is left) and
    charges CPU time, which other processes on a shared machine do not inflate the way they inflate wall-clock.
    """
    parent = verify = 0.0
    for completions, golds in batches:
        start = time.process_time()
        todo = set()
        for completion, gold in zip(completions, golds, strict=True):
            region, boxed = mtask.answer_region(completion)
            if boxed is not None and mtask.quick_verdict(gold, boxed) is None:
                todo.add((gold, region))
        middle = time.process_time()
        for gold, region in todo:
            mtask.verify_answer(gold, region, 3)
        parent += middle - start
        verify += time.process_time() - middle
    return parent + verify / workers


def countdown_completions(n: int) -> list[tuple[str, dict]]:
    """A mix of correct, wrong, malformed and missing answers on generated problems."""
    problems = countdown.generate_problems(n // 4, seed=7)
    out = []
    for p in problems:
        expr = countdown.solve(p["nums"], p["target"]) or "1"
        out += [
            (f"<think>{FILLER}</think>" + countdown.answer_text(expr), p),
            (countdown.answer_text("+".join(map(str, p["nums"]))), p),
            (countdown.answer_text(f"{expr}**2"), p),
            (FILLER, p),
        ]
    return out


def mcq_completions(n: int) -> list[tuple[str, dict]]:
    """A mix of boxed, 'Answer:' and answer-less completions."""
    item = {"question": "Q", "options": ["a", "b", "c", "d"], "answer": "B"}
    forms = [f"{FILLER}\\boxed{{B}}", f"{FILLER}**Answer:** C", f"{FILLER}The answer is (B).", FILLER * 3]
    return [(forms[i % len(forms)], item) for i in range(n)]


def rate(label: str, scenario: str, n: int, seconds: float) -> tuple[str, str, int, float, float]:
    """One table row."""
    return label, scenario, n, seconds, n / seconds if seconds > 0 else float("inf")


def main() -> None:
    """Run every measurement and print the table and the final ratio line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=4, help="math batches of 2,048 completions (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="math-verify worker processes (default 2)")
    args = parser.parse_args()

    rows = []
    start = time.perf_counter()
    generated = countdown.generate_problems(20_000, seed=1)
    rows.append(rate("countdown gen", "solvable problems generated", len(generated), time.perf_counter() - start))
    cd = countdown_completions(20_000)
    start = time.perf_counter()
    for completion, p in cd:
        countdown.verify(completion, p["nums"], p["target"])
    rows.append(rate("countdown", "mixed answers, 1 process", len(cd), time.perf_counter() - start))

    mc = mcq_completions(20_000)
    start = time.perf_counter()
    for completion, item in mc:
        mcq.score(completion, item)
    rows.append(rate("multiple choice", "mixed phrasings, 1 process", len(mc), time.perf_counter() - start))

    *batches, warmup = math_batches(args.batches + 1)
    seconds, n, timeouts = time_math(batches, args.workers, warmup)
    realistic = rate("math", f"RL mix, pool of {args.workers} ({timeouts} timeouts)", n, seconds)
    rows.append(realistic)
    cpu_batches = [warmup] + batches  # the first pass warms this process like the pool's warm-up batch
    cpu_estimate(cpu_batches[:1], args.workers)
    rows.append(
        rate("math", f"RL mix, CPU-time estimate, {args.workers} free cores", n, cpu_estimate(batches, args.workers))
    )
    worst = worst_case_batch()
    seconds, n, timeouts = time_math([worst], args.workers)
    rows.append(rate("math", f"symbolic, all parsed, pool of {args.workers}", n, seconds))
    sample = 128
    rows.append(
        rate(
            "math",
            "symbolic, in-process math-verify, 1 core",
            sample,
            time_math_inprocess(worst[0][:sample], worst[1][:sample]),
        )
    )

    print(f"{'verifier':<16} {'scenario':<42} {'completions':>11} {'seconds':>8} {'per second':>11}")
    for label, scenario, count, secs, per_s in rows:
        print(f"{label:<16} {scenario:<42} {count:>11} {secs:>8.2f} {per_s:>11.0f}")
    print(f"ratio math RL-mix completions/s / goal {GOAL_PER_S:.0f}/s = {realistic[4] / GOAL_PER_S:.2f}")


if __name__ == "__main__":
    main()
