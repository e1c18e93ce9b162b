"""bench/answer_errors.py sorts an answer into exactly one class, the way the verifier judges it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from insight_cli.tasks import countdown

REPO = Path(__file__).resolve().parents[1]
PROBLEM = {"nums": [17, 64, 62], "target": 34}


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_answer_errors", REPO / "bench" / "answer_errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<answer>17*(64-62)</answer>", "correct"),
        ("<answer>17+64-62</answer>", "wrong value"),
        ("<answer>17*(64-60)</answer>", "wrong numbers"),
        ("<answer>17*2</answer>", "wrong numbers"),
        ("<answer>17*(64-62)+62</answer>", "wrong numbers"),
        ("17*(64-62)", "no answer"),
        ("<answer>17*(64-</answer>", "no answer"),
    ],
)
def test_each_answer_gets_one_class_and_correct_is_the_verifiers_correct(completion, expected):
    assert load_bench().classify(completion, PROBLEM) == expected
    verified = countdown.verify(completion, PROBLEM["nums"], PROBLEM["target"])[1] == 1.0
    assert verified == (expected == "correct")
