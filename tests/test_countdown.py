"""Countdown task: exact verifier (valid, wrong, malformed, hostile answers), generator, solver and loaders."""

from __future__ import annotations

import itertools
import json
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest

from insight_cli.tasks import TASKS, countdown, get_task

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLIC = DATA / "countdown" / "countdown_3to4_first10002.jsonl"
NUMS, TARGET = [3, 5, 7], 22


def timed_verify(completion: str, nums=NUMS, target=TARGET) -> tuple[float, float]:
    """verify() with a generous per-call time bound (the spec is < 10 ms; shared CI cores get 5×)."""
    start = time.perf_counter()
    result = countdown.verify(completion, nums, target)
    assert time.perf_counter() - start < 0.05, f"verify took too long on {completion[:60]!r}"
    return result


@pytest.fixture
def offline_hub(monkeypatch):
    """Make hub look-ups fail at once (as with HF_HUB_OFFLINE=1) instead of retrying the network for ~25 s."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def cfg(**overrides) -> SimpleNamespace:
    """A task config with the fields of conf/task/countdown.yaml (small sizes)."""
    base = dict(
        name="countdown",
        source="generated",
        hub_id="insight-test/does-not-exist",
        local_path="countdown/countdown_3to4_first10002.jsonl",
        train_size=40,
        four_number_share=0.5,
        train_seed=1,
        eval_size=20,
        eval_seed=2,
        prompt_style="compact",
        format_score=0.1,
        public_eval_rows=[2000, 2512],
        eval_cd4=False,
        cd4_seed=3,
    )
    base.update(overrides)
    return SimpleNamespace(**base)


# --- verifier ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    ["(3*5)+7", "3*5+7", "7+5*3", " ( 3 * 5 ) + 7 ", "(5*3)+(7)", "((3*5))+7", "7+(5*3)\n"],
)
def test_correct_answers_score_one(answer):
    assert timed_verify(f"think... <answer>{answer}</answer>") == (1.0, 1.0)


def test_fractional_intermediates_are_exact():
    # 6 / (1 − 3/4) = 24, only reachable through a fraction
    assert countdown.verify("<answer>6/(1-3/4)</answer>", [1, 3, 4, 6], 24) == (1.0, 1.0)
    assert countdown.verify("<answer>6/(1-3/4)</answer>", [1, 3, 4, 6], 23) == (0.1, 0.0)


@pytest.mark.parametrize(
    "answer",
    [
        "3+5+7",  # wrong value
        "3*5+7+3",  # number reused
        "3*5",  # number missing
        "3*5+7+0",  # extra literal
        "15+7",  # literal not among the given numbers
        "-3+5*5",  # unary minus is not allowed
        "+3*5+7",  # unary plus neither
        "3*5+7.0",  # float literal
        "(3*5)+7 = 22",  # equation instead of an expression
        "",  # empty answer
        "   ",
        "(3*5+7",  # unbalanced
        "3 5 7",  # not an expression
        "7/(5-5)+3",  # division by zero (and wrong numbers)
        "7/(3-3)*5",  # division by zero with numbers... still wrong
    ],
)
def test_wrong_or_malformed_answers_get_format_score(answer):
    assert timed_verify(f"<answer>{answer}</answer>") == (0.1, 0.0)


def test_division_by_zero_with_the_right_numbers():
    assert countdown.verify("<answer>5/(3-3)</answer>", [3, 3, 5], 10) == (0.1, 0.0)


def test_no_answer_scores_zero():
    missing = ["", "(3*5)+7", "<answer>(3*5)+7", "(3*5)+7</answer>", "</answer><answer>", "<ANSWER>22</ANSWER>"]
    for completion in missing:
        assert timed_verify(completion) == (0.0, 0.0)


def test_last_answer_counts():
    assert timed_verify("<answer>3+5+7</answer> no wait <answer>(3*5)+7</answer>") == (1.0, 1.0)
    assert timed_verify("<answer>(3*5)+7</answer> hmm <answer>3+5+7</answer>") == (0.1, 0.0)
    assert timed_verify("<answer>(3*5)+7</answer> trailing <answer>unclosed") == (1.0, 1.0)


def test_format_score_is_configurable():
    assert countdown.verify("<answer>1</answer>", NUMS, TARGET, format_score=0.0) == (0.0, 0.0)
    assert countdown.verify("<answer>1</answer>", NUMS, TARGET, format_score=0.25) == (0.25, 0.0)


HOSTILE = [
    "3**5+7",
    "3//5+7",
    "3%5+7",
    "__import__('os').system('touch /tmp/insight_pwned')",
    "open('/tmp/insight_pwned','w')",
    "x+5+7",
    "abs(3)*5+7",
    "(3).real*5+7",
    "9**9**9",
    "1" * 100_000,
    "3*5+7" + "0" * 5000,
    "(" * 10_000 + "3*5+7" + ")" * 10_000,
    "(" * 99 + "3*5+7" + ")" * 99,
    "(" * 250 + "3" + ")" * 250,
    "+".join(["3"] * 5000),
    "-" * 10_000 + "3",
    "３*５+７",  # full-width digits
    "٣*٥+٧",  # Arabic-Indic digits
    "3×5+7",
    "3*5+7\x00",
    "lambda: 0",
    "[3,5,7]",
    "3;5;7",
    "3*5+7 # comment",
    "\\(3*5+7\\)",
    "'3*5+7'",
    "0x3*5+7",
    "3_0",
    "1e3",
    "\udcff",
]


@pytest.mark.parametrize("answer", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_never_raise_and_are_fast(answer, tmp_path):
    reward, accuracy = timed_verify(f"<answer>{answer}</answer>")
    assert (reward, accuracy) == (0.1, 0.0)
    assert not Path("/tmp/insight_pwned").exists()


def test_hostile_completions_outside_tags():
    for completion in ["<answer>" * 200_000, "</answer>" * 200_000, "<answer>" * 50_000 + "x</answer>" * 50_000]:
        reward, _ = timed_verify(completion)
        assert reward in (0.0, 0.1)
    assert countdown.verify(None, NUMS, TARGET) == (0.0, 0.0)  # type: ignore[arg-type]
    assert countdown.verify(b"<answer>3*5+7</answer>", NUMS, TARGET) == (0.0, 0.0)  # type: ignore[arg-type]


# --- generator and solver ----------------------------------------------------------------------------------------


def brute_force_targets(nums: list[int]) -> set[int]:
    """Integers in 10..100 reachable with every number once, by plain recursion over Fractions (the reference)."""

    def values(items: tuple[Fraction, ...]) -> set[Fraction]:
        if len(items) == 1:
            return {items[0]}
        out: set[Fraction] = set()
        for i, j in itertools.combinations(range(len(items)), 2):
            a, b = items[i], items[j]
            rest = tuple(items[x] for x in range(len(items)) if x not in (i, j))
            results = [a + b, a - b, b - a, a * b] + ([a / b] if b else []) + ([b / a] if a else [])
            for r in results:
                out |= values(rest + (r,))
        return out

    return {int(v) for v in values(tuple(Fraction(x) for x in nums)) if v.denominator == 1 and 10 <= v <= 100}


def test_vectorised_enumeration_matches_brute_force():
    import numpy as np

    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        draws = rng.integers(1, 100, size=(12 if k == 4 else 30, k))
        draws[0] = [7] * k  # duplicates
        hit = countdown.reachable_targets(draws)
        for row, nums in enumerate(draws.tolist()):
            assert {int(t) + 10 for t in np.flatnonzero(hit[row])} == brute_force_targets(nums)


def test_generated_problems_are_well_formed_and_solvable():
    problems = countdown.generate_problems(300, seed=5, four_number_share=0.5)
    assert len(problems) == 300
    assert sum(len(p["nums"]) == 4 for p in problems) == 150
    assert len({countdown.problem_key(p["nums"], p["target"]) for p in problems}) == 300
    for p in problems:
        assert len(p["nums"]) in (3, 4)
        assert all(1 <= x <= 99 for x in p["nums"]) and 10 <= p["target"] <= 100
        expr = countdown.solve(p["nums"], p["target"])
        assert expr is not None, p
        assert countdown.verify(countdown.answer_text(expr), p["nums"], p["target"]) == (1.0, 1.0)


def test_generator_is_deterministic_and_seeded():
    first = countdown.generate_problems(200, seed=3)
    assert first == countdown.generate_problems(200, seed=3)
    assert first != countdown.generate_problems(200, seed=4)
    assert countdown.generate_problems(50, seed=3) == first[:50]  # prefix-stable


@pytest.mark.parametrize("share, fours", [(0.0, 0), (1.0, 40), (0.25, 10)])
def test_four_number_share_is_exact(share, fours):
    problems = countdown.generate_problems(40, seed=0, four_number_share=share)
    assert sum(len(p["nums"]) == 4 for p in problems) == fours


def test_exclude_is_honoured():
    train = countdown.generate_problems(300, seed=1)
    keys = {countdown.problem_key(p["nums"], p["target"]) for p in train}
    held_out = countdown.generate_problems(300, seed=1, exclude=keys)
    assert not keys & {countdown.problem_key(p["nums"], p["target"]) for p in held_out}
    assert len(held_out) == 300


def test_generator_rejects_bad_share():
    with pytest.raises(ValueError, match="four_number_share"):
        countdown.generate_problems(5, seed=0, four_number_share=1.5)


def test_solver_prefers_natural_forms_and_reports_unsolvable():
    assert countdown.solve([3, 5, 7], 22) == "(3*5)+7"
    assert countdown.solve([1, 1, 1], 100) is None
    expr = countdown.solve([1, 3, 4, 6], 24)  # needs a fraction: 6/(1-3/4)
    assert expr is not None
    assert countdown.verify(countdown.answer_text(expr), [1, 3, 4, 6], 24) == (1.0, 1.0)


def test_problem_key_is_order_free():
    assert countdown.problem_key([5, 3, 7], "22") == ((3, 5, 7), 22)


def test_prompts():
    problem = {"nums": [44, 19, 35], "target": 98}
    assert countdown.build_prompt(problem, "compact") == "Numbers: 44 19 35\nTarget: 98\n"
    long = countdown.build_prompt(problem, "tinyzero")
    assert "[44, 19, 35]" in long and "equals 98" in long and "<answer> (1 + 2) / 3 </answer>" in long
    assert long.endswith("Assistant: Let me solve this step by step.\n<think>")
    assert countdown.answer_text("(3*5)+7") == "<answer>(3*5)+7</answer>"
    with pytest.raises(ValueError, match="task.prompt_style"):
        countdown.build_prompt(problem, "chatty")


# --- common interface and loaders --------------------------------------------------------------------------------


def test_task_registry():
    assert TASKS["countdown"] is countdown and get_task("countdown") is countdown
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")


def test_generated_train_and_eval():
    task = cfg()
    train = countdown.load_train(task, None)
    assert [p["id"] for p in train] == list(range(40))
    assert train[0]["prompt"] == countdown.build_prompt(train[0], "compact")
    sets = countdown.load_eval(task, None)
    assert list(sets) == ["countdown"] and len(sets["countdown"]) == 20
    train_keys = {countdown.problem_key(p["nums"], p["target"]) for p in train}
    assert not train_keys & {countdown.problem_key(p["nums"], p["target"]) for p in sets["countdown"]}
    reward, accuracy = countdown.score(
        countdown.answer_text(countdown.solve(train[0]["nums"], train[0]["target"])), train[0], task
    )
    assert (reward, accuracy) == (1.0, 1.0)


def test_cd4_synthetic_eval():
    sets = countdown.load_eval(cfg(eval_cd4=True), None)
    assert set(sets) == {"countdown", "cd4_synthetic"}
    assert all(len(p["nums"]) == 4 for p in sets["cd4_synthetic"]) and len(sets["cd4_synthetic"]) == 20
    assert countdown.describe(cfg(eval_cd4=True), None) == {
        "train (generated)": 40,
        "countdown": 20,
        "cd4_synthetic": 20,
    }


def write_rows(path: Path, n: int) -> list[dict]:
    """A tiny public-format JSONL file of n solvable rows."""
    rows = [{"row": i, **p} for i, p in enumerate(countdown.generate_problems(n, seed=9))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_public_loader_tiny_jsonl(tmp_path, offline_hub):
    rows = write_rows(tmp_path / "cd.jsonl", 30)
    task = cfg(source="public", local_path="cd.jsonl", train_size=10, public_eval_rows=[20, 30])
    train = countdown.load_train(task, str(tmp_path))
    assert [(p["nums"], p["target"]) for p in train] == [(r["nums"], r["target"]) for r in rows[:10]]
    sets = countdown.load_eval(task, str(tmp_path))
    assert [p["target"] for p in sets["cd34"]] == [r["target"] for r in rows[20:30]]
    assert [p["id"] for p in sets["cd34"]] == list(range(10))


def test_public_loader_tiny_parquet(tmp_path, offline_hub):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = countdown.generate_problems(12, seed=4)
    table = pa.table({"target": [r["target"] for r in rows], "nums": [r["nums"] for r in rows]})
    pq.write_table(table, tmp_path / "cd.parquet")
    task = cfg(source="public", local_path=str(tmp_path / "cd.parquet"), train_size=5, public_eval_rows=[6, 12])
    train = countdown.load_train(task, "/nonexistent")  # absolute local_path ignores data_dir
    assert [p["nums"] for p in train] == [r["nums"] for r in rows[:5]]


def test_public_loader_rejects_overlap(tmp_path, offline_hub):
    write_rows(tmp_path / "cd.jsonl", 30)
    with pytest.raises(ValueError, match="task.train_size"):
        countdown.load_train(
            cfg(source="public", local_path="cd.jsonl", train_size=25, public_eval_rows=[20, 30]), str(tmp_path)
        )


def test_missing_hub_and_file_names_the_override(tmp_path, offline_hub):
    with pytest.raises(FileNotFoundError) as info:
        countdown.load_train(cfg(source="public"), str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "task.local_path=" in message and "paths.data_dir=" in message


@pytest.mark.skipif(not PUBLIC.is_file(), reason="../shared/data/countdown not present")
def test_public_loader_shared_data(offline_hub):
    task = cfg(source="public", train_size=2000, prompt_style="tinyzero")
    train = countdown.load_train(task, str(DATA))
    sets = countdown.load_eval(task, str(DATA))
    assert len(train) == 2000 and len(sets["cd34"]) == 512
    assert train[0]["nums"] == [44, 19, 35] and train[0]["target"] == 98
    for problem in train[:100] + sets["cd34"][:100]:
        expr = countdown.solve(problem["nums"], problem["target"])
        assert countdown.score(countdown.answer_text(expr), problem, task) == (1.0, 1.0)
