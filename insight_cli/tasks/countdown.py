"""Countdown: reach an integer target with + − × ÷, using every given number exactly once.

Problems follow the Stream-of-Search recipe behind the public Countdown-Tasks-3to4 set: draw 3 or 4 numbers in
1..99, enumerate every value reachable with all of them (every binary tree, every order, exact rational arithmetic),
and pick the target uniformly from the reachable integers in 10..100 (redraw when there is none). The enumeration
is vectorised over a batch of draws with NumPy integer numerators/denominators, so 20,000 problems take seconds
(``python bench/verifiers.py`` and the generator test measure it).

The verifier reads the LAST ``<answer>…</answer>`` of a completion and evaluates it with an AST walker over
``+ - * /``, parentheses and integer literals in exact ``fractions.Fraction`` arithmetic — never ``eval``.
No unary minus: the literals must be exactly the given numbers, each used once.

Usage (the trainer only needs the common task interface at the bottom)::

    from insight_cli.tasks import countdown
    probs = countdown.generate_problems(100, seed=1)
    expr = countdown.solve(probs[0]["nums"], probs[0]["target"])
    countdown.verify(countdown.answer_text(expr), probs[0]["nums"], probs[0]["target"])  # (1.0, 1.0)
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

NUM_LOW, NUM_HIGH = 1, 99  # given numbers are drawn from 1..99
TARGET_LOW, TARGET_HIGH = 10, 100  # targets are reachable integers in 10..100
MAX_EXPR_CHARS = 200  # longer answers are rejected before parsing, so nesting cannot blow the parser's stack
_CHUNK = 256  # draws enumerated per NumPy batch (bounded memory: ~8 MB per array for 4 numbers)
_ALLOWED_CHARS = re.compile(r"[0-9+\-*/() \t\n\r]*")
_CD34_EVAL_ROWS = (2000, 2512)  # CD-34 test rows of the public set (half-open)


# --- problem identity -------------------------------------------------------------------------------------------


def problem_key(nums: Sequence[int], target: int) -> tuple:
    """Order-free identity of a problem: ``(tuple(sorted(nums)), int(target))``."""
    return (tuple(sorted(int(x) for x in nums)), int(target))


# --- vectorised enumeration of reachable values ------------------------------------------------------------------


@lru_cache(maxsize=8)
def _pair_layout(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For k values: index arrays of every unordered pair (i, j) and of the k−2 values left over."""
    pairs = list(itertools.combinations(range(k), 2))
    left = np.array([i for i, _ in pairs], dtype=np.intp)
    right = np.array([j for _, j in pairs], dtype=np.intp)
    rest = np.array([[x for x in range(k) if x not in p] for p in pairs], dtype=np.intp).reshape(len(pairs), k - 2)
    return left, right, rest


def _apply_ops(an: np.ndarray, ad: np.ndarray, bn: np.ndarray, bd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All six results a+b, a−b, b−a, a·b, a/b, b/a as unreduced fractions (stacked on a new last axis).

    A denominator of 0 marks an invalid value (division by zero); it stays invalid through later operations.
    """
    cross_a, cross_b, den = an * bd, bn * ad, ad * bd
    nums = np.stack([cross_a + cross_b, cross_a - cross_b, cross_b - cross_a, an * bn, cross_a, cross_b], axis=-1)
    dens = np.stack(
        [den, den, den, den, np.where(bd == 0, 0, ad * bn), np.where(ad == 0, 0, bd * an)],
        axis=-1,
    )
    return nums, dens


def _reduce_level(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Combine every pair of values of each state: (B, S, k) states → (B, S·C(k,2)·6, k−1) states."""
    batch, states, k = num.shape
    left, right, rest = _pair_layout(k)
    nums, dens = _apply_ops(num[:, :, left], den[:, :, left], num[:, :, right], den[:, :, right])
    n_pairs = len(left)
    rest_n = np.broadcast_to(num[:, :, rest][:, :, :, None, :], (batch, states, n_pairs, 6, k - 2))
    rest_d = np.broadcast_to(den[:, :, rest][:, :, :, None, :], (batch, states, n_pairs, 6, k - 2))
    new_n = np.concatenate([nums[..., None], rest_n], axis=-1).reshape(batch, -1, k - 1)
    new_d = np.concatenate([dens[..., None], rest_d], axis=-1).reshape(batch, -1, k - 1)
    return new_n, new_d


def reachable_targets(draws: np.ndarray) -> np.ndarray:
    """Boolean (B, 91) matrix: column t−10 is True when integer t in 10..100 is reachable from row b's numbers.

    ``draws`` is an int array (B, k), k ≥ 1; every number must be used exactly once. Intermediate values may be
    fractions; the final value must equal the integer exactly.
    """
    num = np.asarray(draws, dtype=np.int64)[:, None, :]
    den = np.ones_like(num)
    while num.shape[2] > 1:
        num, den = _reduce_level(num, den)
    num, den = num[:, :, 0], den[:, :, 0]
    safe = np.where(den == 0, 1, den)
    ok = (den != 0) & (num % safe == 0)
    value = np.where(ok, num // safe, -1)
    ok &= (value >= TARGET_LOW) & (value <= TARGET_HIGH)
    hit = np.zeros((num.shape[0], TARGET_HIGH - TARGET_LOW + 1), dtype=bool)
    rows = np.broadcast_to(np.arange(num.shape[0])[:, None], value.shape)
    hit[rows[ok], value[ok] - TARGET_LOW] = True
    return hit


def _candidates(k: int, rng: np.random.Generator) -> Iterator[tuple[list[int], int]]:
    """Endless stream of solvable k-number problems, drawn in NumPy batches from ``rng``."""
    while True:
        draws = rng.integers(NUM_LOW, NUM_HIGH + 1, size=(_CHUNK, k))
        hit = reachable_targets(draws)
        counts = hit.sum(axis=1)
        pick = np.floor(rng.random(_CHUNK) * np.maximum(counts, 1)).astype(np.int64)
        position = np.argmax(np.cumsum(hit, axis=1) > pick[:, None], axis=1)
        for row in np.flatnonzero(counts):  # rows with no reachable target are redrawn (skipped)
            yield [int(x) for x in draws[row]], int(position[row]) + TARGET_LOW


def _is_four(i: int, share: float) -> bool:
    """Slot i holds a 4-number problem: an exact, evenly spread share of every prefix of the list."""
    return int((i + 1) * share) > int(i * share)


def generate_problems(
    n: int, seed: int, four_number_share: float = 0.5, exclude: set | None = None
) -> list[dict[str, Any]]:
    """``n`` distinct solvable problems ``{"nums": [...], "target": t}``; deterministic in the arguments.

    Slots alternate 3- and 4-number problems so that exactly ``four_number_share`` of every prefix has 4 numbers.
    Problems whose :func:`problem_key` is in ``exclude`` (e.g. the training pool) are skipped.
    """
    if not 0.0 <= float(four_number_share) <= 1.0:
        raise ValueError(f"four_number_share = {four_number_share} must be in [0, 1]: set task.four_number_share")
    if int(n) < 0:
        raise ValueError(f"n = {n} must be ≥ 0")
    streams = {k: _candidates(k, np.random.default_rng([int(seed), k])) for k in (3, 4)}
    seen = set(exclude or ())
    problems: list[dict[str, Any]] = []
    for i in range(int(n)):
        stream = streams[4 if _is_four(i, float(four_number_share)) else 3]
        for nums, target in stream:
            key = problem_key(nums, target)
            if key not in seen:
                seen.add(key)
                problems.append({"nums": nums, "target": target})
                break
    return problems


# --- solver (warm-start answers) ---------------------------------------------------------------------------------


def _search(items: list[tuple[Fraction, str, bool]], target: Fraction, natural: bool) -> str | None:
    """Depth-first search combining pairs; ``natural`` restricts to non-negative integer intermediates."""
    if len(items) == 1:
        return items[0][1] if items[0][0] == target else None
    for i, j in itertools.combinations(range(len(items)), 2):
        (a, ea, ca), (b, eb, cb) = items[i], items[j]
        pa, pb = (f"({ea})" if ca else ea), (f"({eb})" if cb else eb)
        big, small, pbig, psmall = (a, b, pa, pb) if a >= b else (b, a, pb, pa)
        options = [(a + b, f"{pa}+{pb}"), (a * b, f"{pa}*{pb}"), (big - small, f"{pbig}-{psmall}")]
        if small != 0:
            options.append((big / small, f"{pbig}/{psmall}"))
        if not natural:
            options.append((small - big, f"{psmall}-{pbig}"))
            if big != 0:
                options.append((small / big, f"{psmall}/{pbig}"))
        for value, expr in options:
            if natural and (value.denominator != 1 or value < 0):
                continue
            merged = items[:i] + [(value, expr, True)] + items[i + 1 : j] + items[j + 1 :]  # keeps reading order
            found = _search(merged, target, natural)
            if found is not None:
                return found
    return None


def solve(nums: Sequence[int], target: int) -> str | None:
    """An expression using each number once that equals ``target`` exactly, e.g. ``"(3*5)+7"``; None if none.

    Deterministic. Tries non-negative integer intermediates first (the natural human forms), then any rational.
    """
    items = [(Fraction(int(x)), str(int(x)), False) for x in nums]
    goal = Fraction(int(target))
    return _search(items, goal, natural=True) or _search(items, goal, natural=False)


# --- verifier ----------------------------------------------------------------------------------------------------


class _Rejected(Exception):
    """The answer is well-formed text but not an allowed expression."""


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}


def _literals(node: ast.AST, out: list[int]) -> None:
    """Collect the integer literals of an allowed expression tree; reject any other node type."""
    if isinstance(node, ast.BinOp) and (type(node.op) in _OPS or isinstance(node.op, ast.Div)):
        _literals(node.left, out)
        _literals(node.right, out)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        out.append(node.value)
    else:
        raise _Rejected(type(node).__name__)


def _evaluate(node: ast.AST) -> Fraction:
    """Exact value of an expression tree already checked by :func:`_literals` (ZeroDivisionError possible)."""
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    left, right = _evaluate(node.left), _evaluate(node.right)
    if isinstance(node.op, ast.Div):
        return left / right
    return _OPS[type(node.op)](left, right)


def extract_answer(completion: str) -> str | None:
    """Text inside the LAST ``<answer>…</answer>`` (the last closing tag and the opening tag before it)."""
    end = completion.rfind("</answer>")
    if end < 0:
        return None
    start = completion.rfind("<answer>", 0, end)
    if start < 0:
        return None
    return completion[start + len("<answer>") : end]


def judge_expression(expr: str, nums: Sequence[int], target: int) -> str:
    """Why ``expr`` is right or wrong: "correct" (the given numbers once each, equal to ``target`` exactly), "wrong
    numbers" (a number missing, repeated or not given), "wrong value" (the right numbers, another result) or "not an
    expression" (not an arithmetic expression the verifier accepts)."""
    text = expr.strip()
    if not text or len(text) > MAX_EXPR_CHARS or not _ALLOWED_CHARS.fullmatch(text):
        return "not an expression"
    try:
        tree = ast.parse(text, mode="eval").body
        used: list[int] = []
        _literals(tree, used)
        if sorted(used) != sorted(int(x) for x in nums):
            return "wrong numbers"
        return "correct" if _evaluate(tree) == int(target) else "wrong value"
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, MemoryError, _Rejected):
        return "not an expression"


def check_expression(expr: str, nums: Sequence[int], target: int) -> bool:
    """True when ``expr`` uses exactly the given numbers once each and equals ``target`` exactly."""
    return judge_expression(expr, nums, target) == "correct"


def verify(completion: str, nums: Sequence[int], target: int, format_score: float = 0.1) -> tuple[float, float]:
    """(reward, accuracy): (0, 0) without an answer, (format_score, 0) if wrong, (1, 1) if correct. Never raises."""
    try:
        expr = extract_answer(completion) if isinstance(completion, str) else None
        if expr is None:
            return 0.0, 0.0
        if check_expression(expr, nums, target):
            return 1.0, 1.0
        return float(format_score), 0.0
    except Exception:  # the contract is "never raises": a verifier bug must not kill a training step
        return float(format_score), 0.0


# --- prompts -----------------------------------------------------------------------------------------------------


def answer_text(expr: str) -> str:
    """The completion format the warm start teaches: ``<answer>EXPR</answer>``."""
    return f"<answer>{expr}</answer>"


def build_prompt(problem: dict, style: str) -> str:
    """Prompt text: ``compact`` (the tiny CPU model's short prompt) or ``tinyzero`` (TinyZero/MoPPS format)."""
    nums, target = [int(x) for x in problem["nums"]], int(problem["target"])
    if style == "compact":
        return f"Numbers: {' '.join(map(str, nums))}\nTarget: {target}\n"
    if style == "tinyzero":
        return (
            "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
            "The assistant first thinks about the reasoning process in the mind and then provides the user "
            "with the answer.\n"
            f"User: Using the numbers {nums}, create an equation that equals {target}. You can use basic "
            "arithmetic operations (+, -, *, /) and each number can only be used once. Show your work in "
            "<think> </think> tags. And return the final answer in <answer> </answer> tags, for example "
            "<answer> (1 + 2) / 3 </answer>.\n"
            "Assistant: Let me solve this step by step.\n<think>"
        )
    raise ValueError(f"unknown countdown prompt style {style!r}: set task.prompt_style=compact or tinyzero")


# --- common task interface ---------------------------------------------------------------------------------------


def _cfg(task_cfg: Any, key: str, default: Any = None) -> Any:
    """Read a task-config field from a DictConfig, a dict or any attribute object."""
    if isinstance(task_cfg, dict):
        return task_cfg.get(key, default)
    return getattr(task_cfg, key, default)


def _finish(problems: list[dict], task_cfg: Any) -> list[dict]:
    """Number the problems 0..n−1 and attach the prompt in the configured style."""
    style = _cfg(task_cfg, "prompt_style", "compact")
    return [
        {"id": i, "prompt": build_prompt(p, style), "nums": list(p["nums"]), "target": int(p["target"])}
        for i, p in enumerate(problems)
    ]


def _read_local(path: Path) -> list[dict]:
    """Rows ``{"nums", "target"}`` of a JSONL (one object a line) or parquet copy of the public set."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["nums", "target"]).to_pydict()
        return [{"nums": list(n), "target": int(t)} for n, t in zip(table["nums"], table["target"], strict=True)]
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                obj = json.loads(line)
                rows.append({"nums": [int(x) for x in obj["nums"]], "target": int(obj["target"])})
    return rows


def _local_path(task_cfg: Any, data_dir: str | None) -> Path | None:
    """``task.local_path`` resolved under ``data_dir`` when relative; None when not configured."""
    local = _cfg(task_cfg, "local_path")
    if not local:
        return None
    path = Path(str(local)).expanduser()
    if not path.is_absolute() and data_dir is not None:
        path = Path(data_dir).expanduser() / path
    return path


def load_public(task_cfg: Any, data_dir: str | None) -> list[dict]:
    """All rows of the public Countdown-Tasks-3to4 set: the local copy first (no network wait), then the hub."""
    path = _local_path(task_cfg, data_dir)
    if path is not None and path.is_file():
        return _read_local(path)
    hub_id = _cfg(task_cfg, "hub_id")
    reason = "no hub id configured"
    if hub_id:
        try:
            import datasets

            table = datasets.load_dataset(str(hub_id), split="train")
            return [{"nums": [int(x) for x in r["nums"]], "target": int(r["target"])} for r in table]
        except Exception as exc:  # offline, unknown id, gated: all mean "not reachable here"
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    raise FileNotFoundError(
        f"Countdown public set not found: no local file {path} and hub id {hub_id!r} unreachable ({reason}); "
        "set task.local_path=<file.jsonl|parquet> or paths.data_dir=<folder holding it>"
    )


def _public_split(task_cfg: Any, data_dir: str | None) -> tuple[list[dict], list[dict]]:
    """CD-34 split of the public rows: train = rows 0..train_size−1, eval = the configured eval rows."""
    rows = load_public(task_cfg, data_dir)
    start, stop = (int(x) for x in _cfg(task_cfg, "public_eval_rows", _CD34_EVAL_ROWS))
    train_size = int(_cfg(task_cfg, "train_size", 2000))
    if train_size > start:
        raise ValueError(
            f"task.train_size = {train_size} overlaps the evaluation rows {start}..{stop - 1}: "
            f"set task.train_size ≤ {start} or move task.public_eval_rows"
        )
    if len(rows) < stop:
        raise ValueError(f"the public Countdown set has {len(rows)} rows, fewer than task.public_eval_rows needs")
    return rows[:train_size], rows[start:stop]


def _generated_train(task_cfg: Any, exclude: set) -> list[dict]:
    """The seeded generated training pool."""
    return generate_problems(
        int(_cfg(task_cfg, "train_size", 2000)),
        int(_cfg(task_cfg, "train_seed", 1)),
        float(_cfg(task_cfg, "four_number_share", 0.5)),
        exclude,
    )


def _without(problems: list[dict], exclude: set) -> list[dict]:
    return [p for p in problems if problem_key(p["nums"], p["target"]) not in exclude]


def load_train(task_cfg: Any, data_dir: str | None, exclude: set | None = None) -> list[dict]:
    """Training problems ``{"id", "prompt", "nums", "target"}`` from ``task.source`` (generated or public).

    ``exclude``: problem keys that must not appear (the tiny model's warm-start corpus): the generator skips them,
    public rows with such a key are dropped."""
    source, exclude = _cfg(task_cfg, "source", "generated"), set(exclude or ())
    if source == "generated":
        return _finish(_generated_train(task_cfg, exclude), task_cfg)
    if source == "public":
        return _finish(_without(_public_split(task_cfg, data_dir)[0], exclude), task_cfg)
    raise ValueError(f"unknown countdown source {source!r}: set task.source=generated or public")


def load_eval(task_cfg: Any, data_dir: str | None, exclude: set | None = None) -> dict[str, list[dict]]:
    """Held-out benchmarks: ``countdown`` (generated) or ``cd34`` (public), plus ``cd4_synthetic`` if enabled.

    Generated sets exclude every training problem and every key in ``exclude``. ``cd4_synthetic`` is the CD-4 OOD
    test (4 numbers only), generated with the same recipe because the public CD-4 rows are not shipped — hence the
    label.
    """
    source, exclude = _cfg(task_cfg, "source", "generated"), set(exclude or ())
    eval_size, share = int(_cfg(task_cfg, "eval_size", 256)), float(_cfg(task_cfg, "four_number_share", 0.5))
    if source == "generated":
        train = _generated_train(task_cfg, exclude)
        taken = _keys(train) | exclude
        sets = {"countdown": generate_problems(eval_size, int(_cfg(task_cfg, "eval_seed", 2)), share, taken)}
    elif source == "public":
        train, test = _public_split(task_cfg, data_dir)
        sets = {"cd34": _without(test, exclude)}
    else:
        raise ValueError(f"unknown countdown source {source!r}: set task.source=generated or public")
    if _cfg(task_cfg, "eval_cd4", False):
        taken = _keys(train) | exclude | set().union(*(_keys(s) for s in sets.values()))
        sets["cd4_synthetic"] = generate_problems(eval_size, int(_cfg(task_cfg, "cd4_seed", 3)), 1.0, taken)
    return {name: _finish(problems, task_cfg) for name, problems in sets.items()}


def _keys(problems: list[dict]) -> set:
    """Problem keys of a list of problems."""
    return {problem_key(p["nums"], p["target"]) for p in problems}


# --- what a run must keep apart (the optional part of the task interface, tasks/__init__.py) ----------------------
def exclusion_keys(problems: Sequence[dict]) -> set:
    """The keys ``load_train`` and ``load_eval`` accept as ``exclude`` for ``problems``: a run passes those of the tiny
    model's warm-start corpus (generated Countdown problems), so RL and evaluation never see a taught problem."""
    return _keys(problems)


def validation_sets(task_cfg: Any, size: int, seed: int, exclude: set) -> dict[str, list[dict]]:
    """CROPI's validation sets: ``countdown3`` and ``countdown4``, ``size`` generated 3- and 4-number problems each
    (seeds ``seed + 3`` and ``seed + 4``), disjoint from ``exclude`` (problem keys) and from each other."""
    taken, style, sets = set(exclude), str(_cfg(task_cfg, "prompt_style")), {}
    for numbers, share in ((3, 0.0), (4, 1.0)):
        found = generate_problems(size, seed + numbers, share, taken)
        taken |= _keys(found)
        sets[f"countdown{numbers}"] = [{**p, "id": i, "prompt": build_prompt(p, style)} for i, p in enumerate(found)]
    return sets


def score(completion: str, problem: dict, task_cfg: Any) -> tuple[float, float]:
    """(reward, binary accuracy) of one completion for one problem (format score from ``task.format_score``)."""
    return verify(completion, problem["nums"], problem["target"], float(_cfg(task_cfg, "format_score", 0.1)))


def score_batch(completions: Sequence[str], problems: Sequence[dict], task_cfg: Any) -> tuple[list, list, dict]:
    """Score a batch: (rewards, accuracies, counters) — the same shape as the math task's pooled scorer."""
    pairs = [score(c, p, task_cfg) for c, p in zip(completions, problems, strict=True)]
    return [r for r, _ in pairs], [a for _, a in pairs], {"reward_timeouts": 0}


def describe(task_cfg: Any, data_dir: str | None) -> dict[str, int]:
    """Set name → size, for ``insight config show`` (sizes from the config; nothing is loaded)."""
    eval_size = int(_cfg(task_cfg, "eval_size", 256))
    train = int(_cfg(task_cfg, "train_size", 2000))
    if _cfg(task_cfg, "source", "generated") == "public":
        start, stop = (int(x) for x in _cfg(task_cfg, "public_eval_rows", _CD34_EVAL_ROWS))
        sets = {"train (public rows)": train, "cd34": stop - start}
    else:
        sets = {"train (generated)": train, "countdown": eval_size}
    if _cfg(task_cfg, "eval_cd4", False):
        sets["cd4_synthetic"] = eval_size
    return sets
