"""Math task: math-verify reward through the process pool (equivalences, wrong and hostile answers, crashes,
hangs), answer extraction, and the dataset loaders on the shared files and on tiny files written here."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from insight_cli.tasks import math as mtask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_MATH = DATA / "math"


def crashing_verify(gold: str, region: str, timeout_s: int) -> float:
    """A real worker function that crashes the process or hangs on request (picklable: module level)."""
    if region == "$crash$":
        os._exit(3)
    if region == "$hang$":
        time.sleep(120)
    return 1.0 if region == f"${gold}$" else 0.0


@pytest.fixture(scope="module")
def scorer():
    """One pooled scorer for the module (small timeouts so hostile cases finish fast)."""
    instance = mtask.MathScorer(workers=2, timeout_s=1, item_timeout_s=4.0)
    yield instance
    instance.close()


@pytest.fixture
def offline_hub(monkeypatch):
    """Hub look-ups fail at once (as with HF_HUB_OFFLINE=1) instead of retrying the network."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


EQUIVALENT = [
    ("\\frac{1}{2}", "so the answer is \\boxed{0.5}."),
    ("0.5", "\\boxed{\\dfrac{1}{2}}"),
    ("\\frac{1}{2}", "\\boxed{\\frac12}"),
    ("\\frac{3}{4}", "\\boxed{3/4}"),
    ("5", "\\boxed{x=5}"),
    ("x=5", "\\boxed{5}"),
    ("50\\%", "\\boxed{50}"),
    ("50", "\\boxed{50\\%}"),
    ("3", "First \\boxed{2}, but correcting: \\boxed{3}"),  # several boxed: the last one counts
    ("\\sqrt{2}/2", "\\boxed{\\frac{\\sqrt 2}{2}}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "\\boxed{(3,\\frac{\\pi}{2})}"),
    ("10\\sqrt{2}", "\\boxed{10 \\sqrt 2}"),
    ("2, -3", "\\boxed{-3, 2}"),
    ("4\\text{ inches}", "\\boxed{4}"),
    ("\\text{(B)}", "\\boxed{B}"),
    ("5", "\\boxed{5.0}"),
    ("204", "The final answer is $\\boxed{204}$"),
    ("\\frac{1}{3}", "\\boxed{0.3333333}"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}"),
]
WRONG = [
    ("\\frac{1}{2}", "\\boxed{0.6}"),
    ("3", "First \\boxed{3}, then \\boxed{2}"),  # the last boxed counts
    ("5", "\\boxed{6}"),
    ("\\frac{1}{3}", "\\boxed{0.333}"),
    ("\\sqrt{2}", "\\boxed{2}"),
    ("2, -3", "\\boxed{2, 3}"),
    ("7", "The answer is 7."),  # no \boxed: the reward requires one
    ("7", ""),
    ("7", "\\boxed{7"),  # unbalanced
]


def test_equivalent_answers_score_one(scorer):
    scores, failures = scorer.score([c for _, c in EQUIVALENT], [g for g, _ in EQUIVALENT])
    assert failures == 0
    assert [pair for pair, s in zip(EQUIVALENT, scores, strict=True) if s != 1.0] == []


def test_wrong_answers_score_zero(scorer):
    scores, failures = scorer.score([c for _, c in WRONG], [g for g, _ in WRONG])
    assert failures == 0
    assert [pair for pair, s in zip(WRONG, scores, strict=True) if s != 0.0] == []


def test_no_boxed_answer_uses_math_verify_extraction_when_allowed():
    lenient = mtask.MathScorer(workers=1, timeout_s=1, item_timeout_s=4.0, require_boxed=False)
    try:
        assert lenient.score(["The answer is 7.", "so it is $x = 2$"], ["7", "2"])[0] == [1.0, 1.0]
    finally:
        lenient.close()


def test_hostile_answers_score_zero_within_the_outer_bound(scorer):
    hostile = [
        "\\boxed{9^{9^{9^{9}}}}",
        "\\boxed{(10^{8})!}",
        "\\boxed{" + "{" * 3000 + "}",
        "\\boxed{x" + "^x" * 60 + "}",
    ]
    start = time.monotonic()
    scores, _ = scorer.score(hostile, ["5"] * len(hostile), batch_timeout_s=20)
    assert scores == [0.0] * len(hostile)
    assert time.monotonic() - start < 20


# math-verify's own signal.alarm timeout (verify_timeout_s = 1 s here) fires while parsing a 60-level power tower
# and while comparing (10^7)! with the gold answer; the outer per-item bound (4 s) is never reached.
SLOW_FOR_MATH_VERIFY = {"parse": "x" + "^x" * 60, "compare": "(10^{7})!"}


@pytest.mark.parametrize("stage", SLOW_FOR_MATH_VERIFY)
def test_math_verify_own_timeout_raises_in_the_worker_function(stage):
    region, _ = mtask.answer_region(f"\\boxed{{{SLOW_FOR_MATH_VERIFY[stage]}}}")
    with pytest.raises(TimeoutError, match=stage if stage == "parse" else "comparison"):
        mtask.verify_answer("5", region, 1)  # raised only from math-verify's own TimeoutException


def test_math_verify_own_timeouts_are_counted_in_reward_timeouts():
    task = {"reward_workers": 1, "verify_timeout_s": 1, "item_timeout_s": 8.0, "batch_timeout_s": 60.0}
    completions = [f"\\boxed{{{answer}}}" for answer in SLOW_FOR_MATH_VERIFY.values()] + ["\\boxed{5}"]
    rewards, _, counters = mtask.score_batch(completions, [{"answer": "5"}] * 3, task)
    assert rewards == [0.0, 0.0, 1.0] and counters == {"reward_timeouts": 2}
    mtask._shutdown()


def test_duplicates_and_cache(scorer):
    completions = ["\\boxed{\\frac{2}{4}}"] * 50
    scores, _ = scorer.score(completions, ["\\frac12"] * 50)
    assert scores == [1.0] * 50
    assert scorer.cache[("\\frac12", "$\\frac{2}{4}$")] == 1.0


def test_pool_survives_a_worker_crash():
    pool = mtask.VerifierPool(workers=2, timeout_s=1, item_timeout_s=5.0, fn=crashing_verify)
    try:
        items = [("1", "$1$"), ("2", "$3$"), ("x", "$crash$"), ("4", "$4$")] + [(str(i), f"${i}$") for i in range(20)]
        results, failures = pool.run(items)
        assert failures == 1 and pool.restarts == 1
        assert results[2] is None
        assert results[:2] == [1.0, 0.0] and results[3:] == [1.0] * 21
        again, failures = pool.run([("9", "$9$")] * 5)  # the replacement worker serves the next batch
        assert again == [1.0] * 5 and failures == 0
    finally:
        pool.close()


def test_pool_kills_a_hung_worker_and_bounds_the_batch():
    pool = mtask.VerifierPool(workers=2, timeout_s=1, item_timeout_s=1.5, fn=crashing_verify)
    try:
        start = time.monotonic()
        results, failures = pool.run([("1", "$1$"), ("x", "$hang$"), ("2", "$2$"), ("3", "$3$")])
        assert results == [1.0, None, 1.0, 1.0] and failures == 1
        assert time.monotonic() - start < 10
        start = time.monotonic()
        results, failures = pool.run([("x", "$hang$")] * 6, batch_timeout_s=2.0)
        assert results == [None] * 6 and failures == 6
        assert time.monotonic() - start < 8
        assert pool.run([("5", "$5$")])[0] == [1.0]
    finally:
        pool.close()


def test_quick_verdict_agrees_with_math_verify():
    pairs = [
        ("5", "5"), ("5", "6"), ("12", "012"), ("-3", "3"), ("0.5", "\\frac{1}{2}"), ("\\frac{2}{4}", "1/2"),
        ("10", "10.0"), ("7", "-7"), ("\\frac{1}{3}", "0.333"), ("2", "2.0000001"), ("100", "1000"),
    ]  # fmt: skip
    for gold, boxed in pairs:
        verdict = mtask.quick_verdict(gold, boxed)
        if verdict is not None:
            assert verdict == mtask.verify_answer(gold, f"${boxed}$", 2), (gold, boxed)
    assert mtask.quick_verdict("\\frac{1}{3}", "0.33333") is None  # close: math-verify's rounding decides
    assert mtask.quick_verdict("\\frac{1}{3}", "0.3") == 0.0  # far apart: wrong under any rounding


@pytest.mark.parametrize(
    "text, boxed",
    [
        ("\\boxed{5}", "5"),
        ("a \\boxed{1} b \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\fbox{7}", "7"),
        ("so \\boxed 9 done", "9"),
        ("\\boxed{unbalanced", None),
        ("no box", None),
        ("\\boxed", None),
    ],
)
def test_last_boxed(text, boxed):
    assert mtask.last_boxed(text) == boxed


def test_gold_text():
    assert mtask.gold_text(142.0) == "142" and mtask.gold_text(2.5) == "2.5"
    assert mtask.gold_text(["9.6\n"]) == "9.6" and mtask.gold_text(["$1$", "2"]) == "1, 2"
    assert mtask.gold_text("$\\frac{1}{2}$") == "\\frac{1}{2}"
    assert mtask.gold_text(None) is None and mtask.gold_text("  ") is None


def test_prompt():
    prompt = mtask.build_prompt({"problem": "What is 1+1?"}, "boxed")
    assert prompt == "What is 1+1? Let's think step by step and output the final answer within \\boxed{}."
    assert mtask.build_prompt({"problem": "Q"}, "plain") == "Q"
    with pytest.raises(ValueError, match="task.prompt_style"):
        mtask.build_prompt({"problem": "Q"}, "fancy")


def tiny_cfg(tmp_path: Path, **sets) -> dict:
    """A math task config whose sets are the given specs."""
    return {"train_set": "train", "eval_sets": [n for n in sets if n != "train"], "sets": sets,
            "prompt_style": "boxed", "train_size": 0, "eval_size": 0}  # fmt: skip


def test_loaders_on_tiny_files(tmp_path, offline_hub):
    rows = [{"problem": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(5)] + [
        {"problem": "x", "answer": None}
    ]
    (tmp_path / "train.json").write_text(json.dumps(rows))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"problem": ["P1", "P2"], "answer": [["3"], ["4", "5"]]}), tmp_path / "b.parquet")
    task = tiny_cfg(
        tmp_path,
        train={"local_path": "train.json", "hub_id": "insight-test/nope"},
        jl={"local_path": "a.jsonl", "hub_id": None},
        pq={"local_path": str(tmp_path / "b.parquet")},
    )
    train = mtask.load_train(task, str(tmp_path))
    assert [p["answer"] for p in train] == ["0", "2", "4", "6", "8"]  # the row without an answer is dropped
    assert [p["id"] for p in train] == list(range(5)) and train[1]["prompt"].startswith("What is 1+1? Let's")
    sets = mtask.load_eval(task, str(tmp_path))
    assert [len(sets["jl"]), len(sets["pq"])] == [3, 2] and sets["pq"][1]["answer"] == "4, 5"
    task["train_size"], task["eval_size"] = 2, 1
    assert len(mtask.load_train(task, str(tmp_path))) == 2 and len(mtask.load_eval(task, str(tmp_path))["jl"]) == 1


def test_unreachable_hub_names_the_local_override(tmp_path, offline_hub):
    task = tiny_cfg(tmp_path, train={"hub_id": "insight-test/does-not-exist", "local_path": "missing.json"})
    with pytest.raises(FileNotFoundError) as info:
        mtask.load_train(task, str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "task.sets.train.local_path=" in message and "paths.data_dir=" in message


def test_unknown_set_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="unknown math set 'nope'"):
        mtask.load_train({"train_set": "nope", "sets": {"math": {}}}, None)


@pytest.mark.skipif(not SHARED_MATH.is_dir(), reason="../shared/data/math not present")
def test_loaders_on_shared_files(offline_hub):
    from insight_cli.config import compose

    task = compose(["task=math"]).task
    train = mtask.load_train(task, str(DATA))
    assert 7400 < len(train) <= 7474 and all(p["answer"] for p in train)
    sizes = {name: len(items) for name, items in mtask.load_eval(task, str(DATA)).items()}
    assert sizes == {"aime24": 30, "amc": 83, "math500": 500, "minerva": 272, "olympiadbench": 675}
    assert mtask.describe(task, str(DATA))["amc"] == 83


@pytest.mark.skipif(not SHARED_MATH.is_dir(), reason="../shared/data/math not present")
def test_gold_answers_verify_against_themselves(scorer, offline_hub):
    """Every evaluation gold answer, boxed as a completion, scores 1 (the gold parses and matches itself)."""
    from insight_cli.config import compose

    task = compose(["task=math"]).task
    problems = [p for items in mtask.load_eval(task, str(DATA)).values() for p in items[:40]]
    scores, _ = scorer.score([f"\\boxed{{{p['answer']}}}" for p in problems], [p["answer"] for p in problems])
    assert sum(scores) == len(problems)


def test_score_batch_through_the_task_interface():
    task = {"reward_workers": 1, "verify_timeout_s": 1, "item_timeout_s": 4.0, "batch_timeout_s": 30.0}
    problems = [{"answer": "\\frac{1}{2}"}, {"answer": "3"}, {"answer": "3"}]
    rewards, accuracies, counters = mtask.score_batch(["\\boxed{0.5}", "\\boxed{4}", "no answer"], problems, task)
    assert rewards == [1.0, 0.0, 0.0] and accuracies == rewards and counters == {"reward_timeouts": 0}
    assert mtask.score("\\boxed{3}", problems[1], task) == (1.0, 1.0)
    mtask._shutdown()


# Pairs where a shortcut once disagreed with math-verify while it was being built (mixed numbers, currency with
# percent, lists that look like thousands, thousands inside an equation, huge integers compared to 15 digits).
SHORTCUT_REGRESSIONS = [
    ("2\\frac{1}{2}", "1"),
    ("\\$23.40", "\\$23.40\\%"),
    ("188, 188", "188{,}188"),
    ("33,\\!800", "x = 33,\\!800"),
    ("4.46 \\times 10^{19}", "44600000000000000001"),
    ("\\frac{3}{7}", "\\frac{3}{7}\\%"),
    ("3", "3/7\\%"),
    ("30,951", "30,951^{\\circ}"),
    ("$(-\\infty, 0) \\cup\\{1\\}$.", "\\$$(-\\infty, 0) \\cup\\{1\\}$."),
    ("50\\%", "50"),
    ("120^\\circ", "120"),
    ("\\$2.75", "2.75"),
    ("362,\\!880", "362880"),
]


def shortcut_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """(gold, answer) pairs from the shared gold answers: other problems' answers and rewritten forms."""
    import random

    golds = []
    for name in ("train_math", "test_math", "test_aime", "test_amc", "test_minerva", "test_olympiad_bench"):
        golds += [mtask.gold_text(r["answer"]) for r in json.loads((SHARED_MATH / f"{name}.json").read_text())]
    golds = [g for g in golds if g]
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        gold = rng.choice(golds)
        value = mtask.numeric_value(gold)
        forms = [
            rng.choice(golds),
            f"x = {gold}",
            f"{gold}\\text{{ cm}}",
            f"\\${gold}",
            f"{gold}\\%",
            f"{gold}^\\circ",
        ]
        if value is not None:
            forms += [f"{float(value):.6f}", f"{float(value):.3f}", str(round(float(value)) + 1), f"{round(value):,}"]
        pairs.append((gold, rng.choice(forms)))
    return pairs


def assert_shortcuts_agree(pairs: list[tuple[str, str]]) -> int:
    """Every verdict the parent decides alone equals math-verify's own; returns how many were decided."""
    decided = [(g, p, v) for g, p in pairs if (v := mtask.quick_verdict(g, p)) is not None]
    wrong = [(g, p, v) for g, p, v in decided if mtask.verify_answer(g, f"${p}$", 3) != v]
    assert wrong == []
    return len(decided)


def test_shortcut_regressions_agree_with_math_verify():
    assert_shortcuts_agree(SHORTCUT_REGRESSIONS)


@pytest.mark.skipif(not SHARED_MATH.is_dir(), reason="../shared/data/math not present")
def test_shortcuts_agree_with_math_verify_on_real_answers():
    assert assert_shortcuts_agree(shortcut_pairs(150, seed=0)) > 50


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_MATH.is_dir(), reason="../shared/data/math not present")
def test_shortcuts_agree_with_math_verify_on_many_real_answers():
    assert assert_shortcuts_agree(shortcut_pairs(5000, seed=1)) > 2000
