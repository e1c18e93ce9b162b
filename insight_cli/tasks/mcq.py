"""General reasoning as multiple choice: MMLU-STEM and GPQA-Diamond evaluation, MMLU auxiliary-train for training.

Every set is loaded by hub id (GPQA is gated: accept its terms on the hub and log in or set ``HF_TOKEN``; it is
never shipped). A ``local_path`` may point at a user's own copy (the tests write small ones). Options carry
letters A–J; their order is fixed per item by a permutation seeded with the item's content hash (and
``task.option_seed``), so GPQA's correct answer is not always first and every run sees the same order.

Answer extraction is strict, because an "any letter" fallback is gameable: the last ``\\boxed{X}`` decides; without
a box, the last ``Answer: X`` (``The answer is (X)``, ``**Answer:** X`` …); otherwise there is no answer.
Reward = accuracy ∈ {0, 1}.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from insight_cli.tasks.catalog import documented_sizes
from insight_cli.tasks.math import last_boxed, read_rows

LETTERS = "ABCDEFGHIJ"
PROMPT_SUFFIX = (
    "Answer with the letter of the correct option. "
    "Let's think step by step and output the final answer (the letter) within \\boxed{}."
)
# MMLU's STEM subjects (the MMLU paper's STEM category)
MMLU_STEM_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
    "college_mathematics", "college_physics", "computer_security", "conceptual_physics", "electrical_engineering",
    "elementary_mathematics", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_mathematics", "high_school_physics", "high_school_statistics", "machine_learning",
)  # fmt: skip

_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mathit|textit|operatorname)\s*\{([^{}]*)\}")
_STRIP = " \t\n$*()[]{}:.'\"`"
# Possessive quantifiers (``*+``): each run of spaces is taken whole, never re-split between the adjacent ``\s``
# quantifiers, which made a failed match cubic in the spaces ("Answer:" + 800 spaces took 1 s). No match is lost:
# what follows each run (":", "*", a letter) is never a space.
_ANSWER = re.compile(
    r"(?i:answer)(?:\s++(?i:is))?\s*+[:：]?\s*+\**+\s*+(?:(?i:option|choice)\s++)?[(\[]?\s*+([A-J])(?![A-Za-z0-9])"
)
MAX_SCAN_CHARS = 20_000  # only the completion's final characters are searched for "Answer: X"


# --- extraction --------------------------------------------------------------------------------------------------


def letter_of(boxed: str, n_options: int = 10) -> str | None:
    """The option letter a boxed answer names: ``B``, ``(B)``, ``\\text{B}``, ``B. 42``, ``b``; else None."""
    text = boxed
    for _ in range(3):
        text = _WRAPPERS.sub(r"\1", text)
    text = text.strip(_STRIP)
    match = re.match(r"([A-Ja-j])(?![A-Za-z0-9])", text)
    if match is None or (match.group(1).islower() and len(text) > 1):
        return None  # a lower-case letter counts only alone ("b"), never as the start of a word
    letter = match.group(1).upper()
    return letter if LETTERS.index(letter) < n_options else None


def extract_letter(completion: str, n_options: int = 10) -> str | None:
    """Last ``\\boxed{X}``; else last ``Answer: X``; else None (no "any letter" fallback)."""
    if not isinstance(completion, str):
        return None
    boxed = last_boxed(completion)
    if boxed is not None:
        return letter_of(boxed, n_options)
    matches = list(_ANSWER.finditer(completion[-MAX_SCAN_CHARS:]))
    if not matches:
        return None
    letter = matches[-1].group(1)
    return letter if LETTERS.index(letter) < n_options else None


# --- items -------------------------------------------------------------------------------------------------------


def option_order(question: str, options: Sequence[str], seed: int) -> list[int]:
    """A permutation of the options, fixed by the item's content hash and ``seed`` (stable across processes)."""
    digest = hashlib.sha256("\x1f".join([question, *options]).encode("utf-8")).digest()
    rng = np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])
    return [int(i) for i in rng.permutation(len(options))]


def make_item(question: str, options: Sequence[str], correct: int, seed: int, shuffle: bool = True) -> dict:
    """``{"question", "options", "answer"}`` with the options reordered and the correct letter recorded."""
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"a multiple-choice item needs 2..{len(LETTERS)} options, got {len(options)}")
    order = option_order(question, options, seed) if shuffle else list(range(len(options)))
    return {
        "question": question,
        "options": [str(options[i]).strip() for i in order],
        "answer": LETTERS[order.index(int(correct))],
    }


def _from_row(row: dict, fmt: str) -> tuple[str, list[str], int] | None:
    """(question, options, correct index) of a raw row in the ``mmlu``, ``gpqa`` or ``generic`` layout."""
    if fmt == "gpqa":
        wrong = [row.get(f"Incorrect Answer {i}") for i in (1, 2, 3)]
        options = [row.get("Correct Answer"), *wrong]
        if not row.get("Question") or any(o is None for o in options):
            return None
        return str(row["Question"]).strip(), [str(o) for o in options], 0
    if "question" not in row and isinstance(row.get("train"), dict):  # MMLU auxiliary_train nests its rows
        row = row["train"]
    options = row.get("choices", row.get("options"))
    answer = row.get("answer")
    if not row.get("question") or not options or answer is None:
        return None
    correct = LETTERS.index(answer.strip().upper()) if isinstance(answer, str) else int(answer)
    return str(row["question"]).strip(), [str(o) for o in options], correct


# --- prompts and scoring -----------------------------------------------------------------------------------------


def build_prompt(problem: dict, style: str) -> str:
    """``boxed``: question, lettered options, then the instruction to box the letter; ``plain``: no instruction."""
    if style not in ("boxed", "plain"):
        raise ValueError(f"unknown multiple-choice prompt style {style!r}: set task.prompt_style=boxed or plain")
    lines = [problem["question"], ""] + [f"{LETTERS[i]}. {o}" for i, o in enumerate(problem["options"])]
    if style == "boxed":
        lines += ["", PROMPT_SUFFIX]
    return "\n".join(lines)


def score(completion: str, problem: dict, task_cfg: Any = None) -> tuple[float, float]:
    """(reward, accuracy): 1.0 when the extracted letter is the correct one, else 0.0. Never raises."""
    try:
        correct = extract_letter(completion, len(problem["options"])) == problem["answer"]
    except Exception:  # the contract is "never raises"
        correct = False
    return (1.0, 1.0) if correct else (0.0, 0.0)


def score_batch(completions: Sequence[str], problems: Sequence[dict], task_cfg: Any = None) -> tuple[list, list, dict]:
    """(rewards, accuracies, {"reward_timeouts": 0}): extraction is a regex, so nothing can time out."""
    pairs = [score(c, p, task_cfg) for c, p in zip(completions, problems, strict=True)]
    return [r for r, _ in pairs], [a for _, a in pairs], {"reward_timeouts": 0}


# --- datasets ----------------------------------------------------------------------------------------------------


def _cfg(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field from a DictConfig, a dict or any attribute object."""
    value = obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)
    return default if value is None else value


def _rows(name: str, spec: Any, data_dir: str | None) -> list[dict]:
    """Raw rows of one set: a configured local copy when it exists, else the hub (token from the environment)."""
    local = _cfg(spec, "local_path")
    if local:
        path = Path(str(local)).expanduser()
        path = Path(data_dir).expanduser() / path if not path.is_absolute() and data_dir is not None else path
        if path.is_file():
            return read_rows(path)
    hub_id = _cfg(spec, "hub_id")
    try:
        import datasets

        table = datasets.load_dataset(str(hub_id), _cfg(spec, "hub_config") or None, split=str(_cfg(spec, "split")))
        return [dict(row) for row in table]
    except Exception as exc:  # offline, unknown id, gated without a token
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    gated = (
        " (gated: accept its terms on the hub, then `huggingface-cli login` or set HF_TOKEN)"
        if _cfg(spec, "gated", False)
        else ""
    )
    raise FileNotFoundError(
        f"multiple-choice set '{name}' not loadable: hub id {hub_id!r} unreachable{gated} ({reason}); "
        f"set task.sets.{name}.local_path=<file.json|jsonl|parquet> to use your own copy"
    )


def load_set(name: str, spec: Any, data_dir: str | None, seed: int, shuffle: bool = True) -> list[dict]:
    """Items ``{"question", "options", "answer", "set"}`` of one set (subject filter applied)."""
    wanted = _cfg(spec, "subjects", [])
    subjects = set(MMLU_STEM_SUBJECTS) if wanted == "stem" else set(wanted or [])
    fmt = str(_cfg(spec, "format", "mmlu"))
    items = []
    for row in _rows(name, spec, data_dir):
        if subjects and row.get("subject") not in subjects:
            continue
        parsed = _from_row(row, fmt)
        if parsed is not None:
            items.append({**make_item(*parsed, seed=seed, shuffle=shuffle), "set": name})
    return items


def _spec(task_cfg: Any, name: str) -> Any:
    """One set's spec from ``task.sets``, or a one-line error naming the choices."""
    sets = _cfg(task_cfg, "sets", {})
    spec = sets.get(name) if hasattr(sets, "get") else None
    if spec is None:
        raise ValueError(f"unknown set {name!r}: choose from {', '.join(sets)} (task.train_set / task.eval_sets)")
    return spec


def _load(task_cfg: Any, name: str, data_dir: str | None, limit: int) -> list[dict]:
    """First ``limit`` items (0 = all) of a set, numbered 0..n−1, with prompts."""
    items = load_set(
        name,
        _spec(task_cfg, name),
        data_dir,
        int(_cfg(task_cfg, "option_seed", 0)),
        bool(_cfg(task_cfg, "shuffle_options", True)),
    )
    items = items[: int(limit)] if int(limit) > 0 else items
    style = str(_cfg(task_cfg, "prompt_style", "boxed"))
    return [{"id": i, **item, "prompt": build_prompt(item, style)} for i, item in enumerate(items)]


def load_train(task_cfg: Any, data_dir: str | None) -> list[dict]:
    """Training items of ``task.train_set`` (first ``task.train_size``; 0 = all)."""
    return _load(task_cfg, str(_cfg(task_cfg, "train_set")), data_dir, int(_cfg(task_cfg, "train_size", 0)))


def load_eval(task_cfg: Any, data_dir: str | None) -> dict[str, list[dict]]:
    """Every set of ``task.eval_sets`` (first ``task.eval_size`` of each; 0 = all)."""
    limit = int(_cfg(task_cfg, "eval_size", 0))
    return {str(n): _load(task_cfg, str(n), data_dir, limit) for n in _cfg(task_cfg, "eval_sets", [])}


def describe(task_cfg: Any, data_dir: str | None) -> dict[str, int | None]:
    """Set name → size for ``insight config show`` (documented sizes from the config; nothing is loaded)."""
    return documented_sizes(task_cfg, _cfg, _spec)
