"""Multiple-choice (general reasoning) task: strict letter extraction, seeded option order, loaders, scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from insight_cli.tasks import mcq

PHRASINGS = [
    ("\\boxed{B}", "B"),
    ("Therefore the answer is \\boxed{C}.", "C"),
    ("$\\boxed{\\text{D}}$", "D"),
    ("\\boxed{\\textbf{(A)}}", "A"),
    ("\\boxed{(E)}", "E"),
    ("\\boxed{B. 42 meters}", "B"),
    ("\\boxed{ C ) the second }", "C"),
    ("\\boxed{b}", "B"),
    ("Answer: D", "D"),
    ("Answer:D", "D"),
    ("**Answer:** E", "E"),
    ("**Answer: F**", "F"),
    ("Final Answer: G", "G"),
    ("The answer is (H)", "H"),
    ("the answer is J.", "J"),
    ("The correct answer is [A]", "A"),
    ("Answer: option C", "C"),
    ("ANSWER: B", "B"),
    ("Answer： C", "C"),  # full-width colon
    ("Answer: A ... wait, Answer: B", "B"),  # the last one counts
    ("Answer: B, and finally \\boxed{D}", "D"),  # a box beats "Answer:"
    ("\\boxed{A} hmm \\boxed{C}", "C"),
    # no answer: no box, no "Answer: X" — no any-letter fallback
    ("I think A is right", None),
    ("B", None),
    ("(C) looks best", None),
    ("Answer: Apple", None),
    ("Answer: a", None),
    ("The answer is a function of x", None),
    ("\\boxed{Both}", None),
    ("\\boxed{42}", None),
    ("\\boxed{}", None),
    ("\\boxed{A} and then \\boxed{none of these}", None),  # the last box decides, even when it names no letter
    ("", None),
]


@pytest.mark.parametrize("text, letter", PHRASINGS)
def test_letter_extraction(text, letter):
    assert mcq.extract_letter(text) == letter


def test_letters_beyond_the_options_do_not_count():
    assert mcq.extract_letter("\\boxed{E}", n_options=4) is None
    assert mcq.extract_letter("Answer: E", n_options=4) is None
    assert mcq.extract_letter("\\boxed{J}", n_options=10) == "J"


def test_option_order_is_seeded_by_content():
    options = ["right", "wrong 1", "wrong 2", "wrong 3"]
    first = mcq.make_item("Q?", options, 0, seed=0)
    assert first == mcq.make_item("Q?", options, 0, seed=0)
    assert first["options"][ord(first["answer"]) - 65] == "right"
    orders = {tuple(mcq.make_item(f"Q{i}?", options, 0, seed=0)["options"]) for i in range(40)}
    assert len(orders) > 5  # different items get different orders
    answers = {mcq.make_item(f"Q{i}?", options, 0, seed=0)["answer"] for i in range(40)}
    assert answers == {"A", "B", "C", "D"}  # the correct option is not always first
    assert mcq.make_item("Q?", options, 2, seed=0, shuffle=False) == {"question": "Q?", "options": options,
                                                                      "answer": "C"}  # fmt: skip


def test_option_count_is_checked():
    with pytest.raises(ValueError, match="2..10 options"):
        mcq.make_item("Q?", ["only"], 0, seed=0)


def test_prompt_lists_lettered_options():
    item = mcq.make_item("Which is a prime?", ["4", "6", "7", "9"], 2, seed=0, shuffle=False)
    prompt = mcq.build_prompt(item, "boxed")
    assert prompt.startswith("Which is a prime?\n\nA. 4\nB. 6\nC. 7\nD. 9\n\n") and prompt.endswith("\\boxed{}.")
    assert mcq.build_prompt(item, "plain").endswith("D. 9")
    with pytest.raises(ValueError, match="task.prompt_style"):
        mcq.build_prompt(item, "other")


def test_score():
    item = mcq.make_item("Which is a prime?", ["4", "6", "7", "9"], 2, seed=0, shuffle=False)
    assert mcq.score("so \\boxed{C}", item) == (1.0, 1.0)
    assert mcq.score("so \\boxed{A}", item) == (0.0, 0.0)
    assert mcq.score("C", item) == (0.0, 0.0)
    assert mcq.score(None, item) == (0.0, 0.0)  # type: ignore[arg-type]
    rewards, accuracies, counters = mcq.score_batch(["Answer: C", "Answer: D"], [item, item])
    assert rewards == [1.0, 0.0] and accuracies == rewards and counters == {"reward_timeouts": 0}


@pytest.fixture
def offline_hub(monkeypatch):
    """Hub look-ups fail at once (as with HF_HUB_OFFLINE=1) instead of retrying the network."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def write_sets(folder: Path) -> dict:
    """Tiny MMLU-layout, nested auxiliary-train and GPQA-layout files, and a task config over them."""
    mmlu = [
        {"question": f"Q{i}?", "subject": subject, "choices": ["w", "x", "y", "z"], "answer": i % 4}
        for i, subject in enumerate(["anatomy", "high_school_physics", "marketing", "virology", "astronomy"])
    ]
    (folder / "mmlu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mmlu))
    aux = [{"train": {"question": f"T{i}?", "choices": ["a", "b", "c", "d"], "answer": 1}} for i in range(6)]
    (folder / "aux.json").write_text(json.dumps(aux))
    gpqa = [
        {"Question": f"G{i}?", "Correct Answer": "yes", "Incorrect Answer 1": "n1", "Incorrect Answer 2": "n2",
         "Incorrect Answer 3": "n3"}
        for i in range(8)
    ]  # fmt: skip
    (folder / "gpqa.json").write_text(json.dumps(gpqa))
    return {
        "train_set": "aux",
        "train_size": 0,
        "eval_sets": ["stem", "gpqa"],
        "eval_size": 0,
        "prompt_style": "boxed",
        "option_seed": 0,
        "shuffle_options": True,
        "sets": {
            "aux": {"hub_id": "insight-test/nope", "format": "mmlu", "local_path": "aux.json", "size": 6},
            "stem": {"hub_id": "insight-test/nope", "format": "mmlu", "subjects": "stem", "local_path": "mmlu.jsonl"},
            "gpqa": {"hub_id": "insight-test/nope", "format": "gpqa", "gated": True, "local_path": "gpqa.json"},
        },
    }


def test_loaders_on_tiny_files(tmp_path, offline_hub):
    task = write_sets(tmp_path)
    train = mcq.load_train(task, str(tmp_path))
    assert len(train) == 6 and [p["id"] for p in train] == list(range(6))
    assert all(p["options"][ord(p["answer"]) - 65] == "b" for p in train)
    sets = mcq.load_eval(task, str(tmp_path))
    assert [p["question"] for p in sets["stem"]] == ["Q0?", "Q1?", "Q4?"]  # marketing and virology are not STEM
    assert all(p["options"][ord(p["answer"]) - 65] == "yes" for p in sets["gpqa"])
    assert len({p["answer"] for p in sets["gpqa"]}) > 1
    assert sets["gpqa"][0]["prompt"].startswith("G0?\n\nA. ")
    assert mcq.describe(task, None) == {"train: aux": 6, "stem": None, "gpqa": None}


def test_unreachable_gated_set_is_a_one_line_error(tmp_path, offline_hub):
    task = write_sets(tmp_path)
    task["sets"]["gpqa"]["local_path"] = None
    with pytest.raises(FileNotFoundError) as info:
        mcq.load_eval(task, str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "HF_TOKEN" in message and "task.sets.gpqa.local_path=" in message


def test_general_config_composes():
    from insight_cli.config import compose
    from insight_cli.tasks import get_task

    task = compose(["task=general"]).task
    assert get_task(task.name) is mcq
    assert mcq.describe(task, None) == {"train: mmlu_aux_train": 99842, "mmlu_stem": None, "gpqa_diamond": 198}
