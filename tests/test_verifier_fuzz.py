"""Fuzz every verifier with generated hostile completions (hypothesis, derandomised, bounded).

No exception may escape, no completion may take over 1 s (math: over the pool's outer bound), and nothing may be
executed as code: some fragments are Python payloads that would create a canary file if anything eval'd them.
The default run feeds a few hundred completions per verifier; the @slow run feeds 10,000 each
(``pytest -m slow tests/test_verifier_fuzz.py``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from insight_cli.tasks import countdown, mcq
from insight_cli.tasks import math as mtask

CANARY = Path(tempfile.gettempdir()) / f"insight_fuzz_canary_{os.getpid()}"
PAYLOADS = [
    f"__import__('os').system('touch {CANARY}')",
    f"open('{CANARY}', 'w').write('x')",
    f"exec(\"open('{CANARY}','w')\")",
    f"(lambda: __import__('pathlib').Path('{CANARY}').touch())()",
    f"eval(compile(\"open('{CANARY}','w')\", 'x', 'exec'))",
    f"[c for c in ().__class__.__base__.__subclasses__()][0]('{CANARY}')",
]
COMMON = [
    "(", ")", "{", "}", "[", "]", " ", "\n", "\t", "\x00", "\u202e", "\U0001f600", "٣", "３", "×", "÷", "−",
    "1e308", "9" * 60, "-", "+", "*", "/", "**", "//", "%", "=", ".", ",", "'", '"', "\\", "$", "&", "_", "0x1f",
]  # fmt: skip
CD_FRAGMENTS = COMMON + ["<answer>", "</answer>", "<answer", "answer>", "3", "5", "7", "22", "9**9**9", "lambda"]
MATH_FRAGMENTS = COMMON + [
    "\\boxed{", "\\boxed ", "\\fbox{", "^{", "_{", "\\frac{", "\\sqrt{", "\\sqrt[", "!", "x", "=", "\\infty",
    "\\begin{pmatrix}", "\\end{pmatrix}", "\\\\", "\\left(", "\\right)", "\\text{", "\\%", "\\pi", "\\{", "\\}",
    "10^{10^{10}}", "9^{9^{9^{9}}}", "\\binom{", "\\int", "\\sum_{", "\\lim", "\\cdot", "\\dfrac{", "0.", "5",
]  # fmt: skip
MC_FRAGMENTS = COMMON + [
    "\\boxed{", "Answer:", "answer is", "**Answer:**", "Answer：", "A", "B", "J", "K", "a", "(C)", "\\text{",
    "option ",
]  # fmt: skip


def completions(fragments: list[str]) -> st.SearchStrategy[str]:
    """Concatenations of hostile fragments, payloads, random text, huge numbers and long repeats."""
    piece = st.one_of(
        st.sampled_from(fragments),
        st.sampled_from(PAYLOADS),
        st.text(max_size=12),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.tuples(st.sampled_from(fragments), st.integers(1, 4000)).map(lambda t: t[0] * t[1]),
    )
    return st.lists(piece, max_size=24).map("".join)


def wrapped(inner: st.SearchStrategy[str], opening: str, closing: str) -> st.SearchStrategy[str]:
    """Half of the examples put the hostile text inside the tag the verifier reads."""
    return st.one_of(inner, inner.map(lambda s: f"{opening}{s}{closing}"))


def fuzz_settings(examples: int, deadline_ms: int | None) -> settings:
    """Bounded, reproducible hypothesis settings (no example database written)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=deadline_ms,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


@pytest.fixture(autouse=True)
def no_canary():
    """Nothing a verifier read may have been executed: the canary file must never appear."""
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "a verifier executed a completion as code"


def check_countdown(text: str) -> None:
    """One Countdown verification: in range, fast, never raises."""
    start = time.perf_counter()
    reward, accuracy = countdown.verify(text, [3, 5, 7], 22)
    assert time.perf_counter() - start < 1.0
    assert (reward, accuracy) in {(0.0, 0.0), (0.1, 0.0), (1.0, 1.0)}


def check_mcq(text: str) -> None:
    """One multiple-choice verification: in range, fast, never raises."""
    item = {"question": "Q", "options": ["a", "b", "c", "d"], "answer": "B"}
    start = time.perf_counter()
    reward, accuracy = mcq.score(text, item)
    assert time.perf_counter() - start < 1.0
    assert reward == accuracy and reward in (0.0, 1.0)


CD = wrapped(completions(CD_FRAGMENTS), "<answer>", "</answer>")
MC = st.one_of(completions(MC_FRAGMENTS), wrapped(completions(MC_FRAGMENTS), "\\boxed{", "}"))
MATH = wrapped(completions(MATH_FRAGMENTS), "\\boxed{", "}")


@given(CD)
@fuzz_settings(400, 1000)
def test_countdown_fuzz(text):
    check_countdown(text)


@pytest.mark.slow
@given(CD)
@fuzz_settings(10_000, 1000)
def test_countdown_fuzz_10k(text):
    check_countdown(text)


@given(MC)
# the slow run's find: runs of spaces after "Answer" made the answer pattern backtrack cubically (1.1 s at 583)
@example("Answer:" + " " * 2_000)
@example("The answer is" + " \t" * 1_000 + "(")
@example("**Answer:**" + " " * 1_000 + "*" * 1_000 + " " * 1_000)
@fuzz_settings(400, 1000)
def test_mcq_fuzz(text):
    check_mcq(text)


@pytest.mark.slow
@given(MC)
@fuzz_settings(10_000, 1000)
def test_mcq_fuzz_10k(text):
    check_mcq(text)


BATCH = 50
ITEM_BOUND_S, BATCH_BOUND_S = 3.0, 40.0


@pytest.fixture(scope="module")
def scorer():
    """A pooled math scorer with short bounds: math-verify timeouts 1 s, outer bound 3 s per completion."""
    instance = mtask.MathScorer(workers=2, timeout_s=1, item_timeout_s=ITEM_BOUND_S)
    yield instance
    instance.close()


def check_math(scorer: mtask.MathScorer, batch: list[str]) -> None:
    """One pooled batch: scores in {0, 1}, the batch back within its outer bound (plus process-restart slack)."""
    scorer.cache.clear()
    start = time.monotonic()
    scores, failures = scorer.score(batch, ["5"] * len(batch), batch_timeout_s=BATCH_BOUND_S)
    assert time.monotonic() - start < BATCH_BOUND_S + 5.0
    assert len(scores) == len(batch) and set(scores) <= {0.0, 1.0} and 0 <= failures <= len(batch)


@given(st.lists(MATH, min_size=BATCH, max_size=BATCH))
@fuzz_settings(6, None)
def test_math_fuzz(scorer, batch):
    check_math(scorer, batch)


@pytest.mark.slow
@given(st.lists(MATH, min_size=BATCH, max_size=BATCH))
@fuzz_settings(10_000 // BATCH, None)
def test_math_fuzz_10k(scorer, batch):
    check_math(scorer, batch)
