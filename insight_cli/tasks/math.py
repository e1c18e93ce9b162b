"""MATH-style reasoning: training sets, the paper's evaluation sets, and a math-verify reward that never hangs.

Sets (each by hub id, read from a local copy first when one exists, so offline runs never wait on the network):

=============  =====  ===============================================================================
name           size   source
=============  =====  ===============================================================================
math           7,500  MATH train (hub: answer = last ``\\boxed{}`` of the solution; local copy: 7,474)
deepscaler     40k    DeepScaleR-Preview (hub only)
aime24         30     AIME 2024
amc            83     AMC 2022+2023 — the DeepScaleR "AMC" set (NOT the 40-problem AMC 2023)
amc23          40     AMC 2023, offered separately (hub only)
math500        500    MATH-500
minerva        272    Minerva Math
olympiadbench  675    OlympiadBench (English, maths, open-ended, text-only)
=============  =====  ===============================================================================

Reward: the answer is the last ``\\boxed{…}`` of the completion (the prompt asks for one; without it the reward is
0, or, with ``task.require_boxed=false``, math-verify's own extraction on the tail of the text), compared by
``math_verify.parse`` + ``verify`` with the gold answer first. Scoring runs in a small pool of worker processes
(forkserver, so the trainer's threads and CUDA state are never forked): math-verify's own ``signal.alarm``
timeouts work inside each worker's main thread, and the parent adds outer wall-clock bounds — a worker silent for
``item_timeout_s`` is killed and restarted, and a batch stops at ``batch_timeout_s``. A timeout (math-verify's own
included) or crash scores 0 and is counted (``reward_timeouts``). Verdicts that need no parser are decided in the
parent (identical normal forms or equal exact numbers: correct; two different integers: wrong —
:func:`quick_verdict`), and repeated (gold, answer) pairs are scored once (RL groups repeat answers a lot).

    from insight_cli.tasks import math
    rewards, accs, counters = math.score_batch(completions, problems, task_cfg)
"""

from __future__ import annotations

import atexit
import json
import multiprocessing as mp
import re
import signal
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from math import isfinite, isqrt, pi
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from insight_cli.tasks.catalog import documented_sizes

PROMPT_SUFFIX = " Let's think step by step and output the final answer within \\boxed{}."
PROMPT_STYLES = {"boxed": PROMPT_SUFFIX, "plain": ""}
MAX_ANSWER_CHARS = 2000  # a boxed answer longer than this is not an answer (and would only cost parse time)
TAIL_CHARS = 1000  # without \boxed, math-verify extracts from this many final characters
_CACHE_SIZE = 65_536  # (gold, answer) → score entries kept across batches

DEFAULTS: dict[str, Any] = {
    "train_set": "math",
    "train_size": 0,
    "eval_sets": ["aime24", "amc", "math500", "minerva", "olympiadbench"],
    "eval_size": 0,
    "prompt_style": "boxed",
    "verify_timeout_s": 3,
    "item_timeout_s": 10.0,
    "batch_timeout_s": 300.0,
    "reward_workers": 2,
    "require_boxed": True,
}


def _cfg(task_cfg: Any, key: str, default: Any = None) -> Any:
    """Read a task-config field from a DictConfig, a dict or any attribute object; DEFAULTS fill gaps."""
    fallback = DEFAULTS.get(key, default)
    if isinstance(task_cfg, dict):
        return task_cfg.get(key, fallback)
    value = getattr(task_cfg, key, fallback)
    return fallback if value is None else value


# --- answer extraction (parent side, cheap) ----------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` (braces matched), or of ``\\boxed 5``; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    pos = start + (6 if text.startswith("\\boxed", start) else 5)
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos < len(text) and text[pos] == "{":
        depth = 0
        for end in range(pos, min(len(text), pos + MAX_ANSWER_CHARS + 2)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                return text[pos + 1 : end]
        return None  # unbalanced or too long
    match = re.match(r"[^\s$]+", text[pos : pos + MAX_ANSWER_CHARS])
    return match.group(0) if match and text[pos - 1] == " " else None


def answer_region(completion: str) -> tuple[str, str | None]:
    """(text for math-verify, boxed content or None): ``$X$`` for the last boxed X, else the completion's tail."""
    boxed = last_boxed(completion)
    if boxed is not None:
        return f"${boxed}$", boxed
    return completion[-TAIL_CHARS:], None


_NORMALISE = re.compile(r"\\left|\\right|\\[!,;: ]|\s|\\displaystyle")


def normalise(answer: str) -> str:
    """Light string normal form for the exact-match fast path (spacing, ``\\left``, ``\\dfrac`` …)."""
    text = _NORMALISE.sub("", answer).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.rstrip(".")


_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\frac|\\sqrt|\\pi|\\cdot|\\times|[-+*/^(){}\[\]]")
_EQUATION_LHS = re.compile(r"^[a-zA-Z]=")  # "x=5" → "5", as math-verify compares an equation's right side
_UNITS = re.compile(r"\\text\{[a-zA-Z]*\}$")  # trailing units, which math-verify drops too
# a trailing \% or degree sign, which math-verify ignores on a plain number (50\% ≡ 50 ≢ 0.5; not on 3/7\%)
_MARKERS = re.compile(r"\\%$|\^\\circ$|\^\{\\circ\}$")
_PLAIN = re.compile(r"[-+]?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_MAX_EXPONENT = 64
Number = Fraction | float


class _Unsupported(Exception):
    """The text is outside the small numeric grammar: math-verify must decide."""


class _NumericParser:
    """Recursive descent over a tiny LaTeX grammar of constant numbers.

    Grammar: sums and products (``+ - * / \\cdot \\times``, implicit products such as ``2\\sqrt{3}``), unary signs,
    ``^{…}`` or a one-digit exponent, ``\\frac{a}{b}`` (or ``\\frac12``), ``\\sqrt{x}``, ``\\sqrt[n]{x}``, ``\\pi``,
    parentheses and braces. Values stay exact (``Fraction``) until a root or ``\\pi`` makes them floats.
    """

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        """The next token, or None at the end."""
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        """Consume the next token (checking it when ``expected`` is given)."""
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _Unsupported(f"expected {expected}")
        self.pos += 1
        return token

    def expr(self) -> Number:
        """expr := term (('+' | '-') term)*"""
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Number:
        """term := factor (('*' | '/' | '\\cdot' | '\\times') factor | implicit factor)*"""
        value = self.factor()
        while True:
            token = self.peek()
            if token in ("*", "/", "\\cdot", "\\times"):
                self.take()
                right = self.factor()
                if token == "/":
                    if right == 0:
                        raise _Unsupported("division by zero")
                    value = value / right
                else:
                    value = value * right
            elif token in ("\\frac", "\\sqrt", "\\pi", "(", "{"):
                if token == "\\frac" and self.tokens[self.pos - 1][0].isdigit():
                    raise _Unsupported("2\\frac{1}{2} is a mixed number, not a product")
                value = value * self.factor()
            else:
                return value

    def factor(self) -> Number:
        """factor := ('-' | '+') factor | atom ('^' exponent)?"""
        if self.peek() in ("-", "+"):
            return -self.factor() if self.take() == "-" else self.factor()
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take("^")
        exponent = self.group() if self.peek() == "{" else self.digit()
        if self.peek() == "^":
            raise _Unsupported("double superscript")
        return _power(base, exponent)

    def digit(self) -> Fraction:
        """A one-character number token (LaTeX takes one token as a bare argument)."""
        token = self.take()
        if len(token) != 1 or not token.isdigit():
            raise _Unsupported("bare argument longer than one token")
        return Fraction(token)

    def group(self) -> Number:
        """group := '{' expr '}'"""
        self.take("{")
        value = self.expr()
        self.take("}")
        return value

    def atom(self) -> Number:
        """atom := number | \\frac | \\sqrt | \\pi | '(' expr ')' | group"""
        token = self.take()
        if token[0].isdigit() or token[0] == ".":
            return Fraction(token)
        if token == "\\pi":
            return pi
        if token == "(":
            value = self.expr()
            self.take(")")
            return value
        if token == "{":
            self.pos -= 1
            return self.group()
        if token == "\\frac":
            num = self.group() if self.peek() == "{" else self.digit()
            den = self.group() if self.peek() == "{" else self.digit()
            if den == 0:
                raise _Unsupported("division by zero")
            return num / den
        if token == "\\sqrt":
            index = Fraction(2)
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
            radicand = self.group() if self.peek() == "{" else self.digit()
            return _root(radicand, index)
        raise _Unsupported(token)


def _power(base: Number, exponent: Number) -> Number:
    """base^exponent, exact for a rational base and a small integer exponent; None-safe float otherwise."""
    if isinstance(exponent, Fraction) and exponent.denominator == 1 and abs(exponent) <= _MAX_EXPONENT:
        if base == 0 and exponent < 0:
            raise _Unsupported("zero to a negative power")
        return base ** int(exponent)
    try:
        value = float(base) ** float(exponent)
    except (OverflowError, ZeroDivisionError) as exc:
        raise _Unsupported("power out of range") from exc
    if isinstance(value, complex) or not isfinite(value):
        raise _Unsupported("power out of range")
    return value


def _root(radicand: Number, index: Number) -> Number:
    """The index-th root: exact for a square root of a rational square, a float otherwise."""
    if radicand < 0 or index != int(index) or not 2 <= index <= 10:
        raise _Unsupported("root")
    if index == 2 and isinstance(radicand, Fraction):
        num, den = isqrt(radicand.numerator), isqrt(radicand.denominator)
        if num * num == radicand.numerator and den * den == radicand.denominator:
            return Fraction(num, den)
    return float(radicand) ** (1.0 / float(index))


def numeric_value(answer: str) -> Number | None:
    """The value of a constant numeric answer (exact when rational), or None outside the small grammar."""
    text = normalise(answer).replace("{,}", ",")
    if text.startswith("\\$"):  # currency
        text = text[2:]
        if text.endswith("%"):
            return None  # math-verify does not read \$23\% as 23
    equation = _EQUATION_LHS.match(text)
    text = _UNITS.sub("", text[equation.end() :] if equation else text)
    if not equation:  # math-verify reads "x=33,800" as a set: thousands and markers only on a bare number
        if _THOUSANDS.fullmatch(text) and not re.search(r",\s", answer):  # "188, 188" is a list
            text = text.replace(",", "")
        bare = _MARKERS.sub("", text)
        if bare != text and not _PLAIN.fullmatch(bare):
            return None
        text = bare
    if not text or len(text) > 200:
        return None
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != text:
        return None  # letters, commas, \\text, % …: not a plain number
    parser = _NumericParser(tokens)
    try:
        value = parser.expr()
    except (_Unsupported, OverflowError, ZeroDivisionError, ValueError, RecursionError):
        return None
    if parser.peek() is not None or (isinstance(value, float) and not isfinite(value)):
        return None
    return value


def exact_number(answer: str) -> Fraction | None:
    """The exact rational value of a constant answer (``12``, ``0.5``, ``\\frac{3}{4}``, ``2^{10}``), else None."""
    value = numeric_value(answer)
    return value if isinstance(value, Fraction) else None


def quick_verdict(gold: str, boxed: str) -> float | None:
    """A verdict math-verify would give too, decided without it; None when math-verify must decide.

    Correct: equal normal forms, or equal exact rational values. Wrong: two different integers below 10^12, or two
    constant numbers that differ by more than 1e-4 relative (far beyond math-verify's 6-decimal rounding).
    Everything else (close decimals, irrational equalities, variables, sets, intervals, text) goes to math-verify.
    Agreement with math-verify is tested on thousands of real gold answers (tests/test_math_task.py).
    """
    if normalise(boxed) == normalise(gold):
        return 1.0
    gold_value, value = numeric_value(gold), numeric_value(boxed)
    if gold_value is None or value is None:
        return None
    exact = isinstance(gold_value, Fraction) and isinstance(value, Fraction)
    if exact and gold_value == value:
        return 1.0
    if exact and gold_value.denominator == 1 and value.denominator == 1 and max(abs(gold_value), abs(value)) < 10**12:
        return 0.0  # two different integers (below 10^12: math-verify compares 15 significant digits)
    try:
        a, b = float(gold_value), float(value)
    except OverflowError:
        return None
    if isfinite(a) and isfinite(b) and abs(a - b) > 1e-4 * max(1.0, abs(a), abs(b)):
        return 0.0
    return None


def gold_text(answer: Any) -> str | None:
    """A gold answer as one string: lists joined with ", ", integral floats as integers, outer $ removed."""
    if answer is None:
        return None
    if isinstance(answer, list | tuple):
        parts = [gold_text(a) for a in answer]
        return ", ".join(p for p in parts if p) or None
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    text = str(answer).strip()
    while len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text[1:-1].strip()
    return text or None


# --- worker side -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _parse_gold(gold: str, timeout_s: int) -> list:
    """math-verify parse of a gold answer, cached per worker (every rollout of a prompt shares it)."""
    return _parse(f"${gold}$", timeout_s)


def _parse(text: str, timeout_s: int) -> list:
    """math-verify's parse; an error is an empty parse, as in math-verify's default, but its own timeout
    (``math_verify.errors.TimeoutException``, which ``raise_on_error=False`` would only log) propagates."""
    from math_verify import parse

    try:
        return parse(text, parsing_timeout=timeout_s, raise_on_error=True)
    except Exception:  # TimeoutException is a BaseException: not caught here
        return []


def verify_answer(gold: str, region: str, timeout_s: int) -> float:
    """1.0 when math-verify finds ``region`` equivalent to ``gold`` (gold first), else 0.0. Runs in a worker.

    math-verify bounds each parse and each comparison with ``signal.alarm(timeout_s)`` and, by default, turns a
    timeout into "not equal" with a log line only. Here it raises TimeoutError instead (after every other pair of
    parsed answers was tried), which the worker reports as a failure: scored 0 and counted in ``reward_timeouts``.
    """
    from itertools import product

    from math_verify import verify
    from math_verify.errors import TimeoutException

    timeout_s = int(timeout_s)
    try:
        gold_parsed = _parse_gold(gold, timeout_s)
        predicted = _parse(region, timeout_s) if gold_parsed else []
    except TimeoutException:
        raise TimeoutError(f"math-verify parse timed out ({timeout_s} s)") from None
    timed_out = False
    for gold_item, predicted_item in product(gold_parsed, predicted):  # math-verify's own loop, one pair at a time
        try:
            if verify(gold_item, predicted_item, timeout_seconds=timeout_s, raise_on_error=True):
                return 1.0
        except TimeoutException:
            timed_out = True
        except Exception:
            continue  # an error comparing this pair means "not equal", as in math-verify's default
    if timed_out:
        raise TimeoutError(f"math-verify comparison timed out ({timeout_s} s)")
    return 0.0


def _worker_main(conn: Connection, fn: Callable[[str, str, int], float], timeout_s: int) -> None:
    """Worker loop: receive a chunk of (index, gold, region), send back (index, score or None) one by one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn.send("ready")
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for index, gold, region in chunk:
            try:
                value: float | None = float(fn(gold, region, timeout_s))
            except Exception:  # math-verify's own timeout (TimeoutError) or any crash: a failure, counted
                value = None
            conn.send((index, value))


# --- the pool ----------------------------------------------------------------------------------------------------


class _Worker:
    """One worker process, its pipe, the indices it is working on and when it last reported."""

    def __init__(self, ctx: Any, fn: Callable, timeout_s: int) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, fn, timeout_s), daemon=True)
        self.process.start()
        child.close()
        self.inflight: deque[int] = deque()
        self.last = time.monotonic()
        self.ready = False

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until the worker has started (imports done); False if it died or stayed silent."""
        try:
            self.ready = self.conn.poll(timeout_s) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            self.ready = False
        return self.ready

    def kill(self) -> None:
        """Stop the process at once and release its pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def _context() -> Any:
    """forkserver where available (no fork of a threaded trainer), with math-verify preloaded; else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["math_verify", "sympy", "insight_cli.tasks.math"])
        return ctx
    return mp.get_context("spawn")


class VerifierPool:
    """Worker processes running ``fn(gold, region, timeout_s)`` with per-item and per-batch wall-clock bounds.

    A worker that crashes or stays silent longer than ``item_timeout_s`` is killed and replaced; the item it was on
    scores None (counted as a failure) and the rest of its chunk is scored again by the pool.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout_s: int = 3,
        item_timeout_s: float = 10.0,
        fn: Callable[[str, str, int], float] = verify_answer,
        start_timeout_s: float = 60.0,
    ) -> None:
        if int(workers) < 1:
            raise ValueError(f"reward_workers = {workers} must be ≥ 1: set task.reward_workers")
        self.fn, self.timeout_s, self.item_timeout_s = fn, int(timeout_s), float(item_timeout_s)
        self._ctx = _context()
        self.workers = [_Worker(self._ctx, fn, self.timeout_s) for _ in range(int(workers))]
        self.restarts = 0
        if not all(w.wait_ready(start_timeout_s) for w in self.workers):
            self.close()
            raise RuntimeError(
                f"math verifier workers did not start within {start_timeout_s:.0f} s (see their traceback above): "
                "run from a script file (not stdin); check that math-verify imports: python -c 'import math_verify'"
            )

    def _replace(self, worker: _Worker) -> _Worker:
        """Kill ``worker`` and start a fresh one in its place."""
        worker.kill()
        fresh = _Worker(self._ctx, self.fn, self.timeout_s)
        self.workers[self.workers.index(worker)] = fresh
        self.restarts += 1
        return fresh

    def _fail_current(self, worker: _Worker, pending: deque[int]) -> int:
        """The worker's current item fails; the items queued behind it go back to the pool. Returns 1."""
        worker.inflight.popleft()
        pending.extendleft(reversed(worker.inflight))
        worker.inflight.clear()
        self._replace(worker)
        return 1

    def _dispatch(self, items: Sequence[tuple[str, str]], pending: deque[int], chunk: int) -> None:
        """Hand a chunk of pending items to every idle worker."""
        for worker in list(self.workers):
            if worker.inflight or not pending:
                continue
            ids = [pending.popleft() for _ in range(min(chunk, len(pending)))]
            try:
                worker.conn.send([(i, *items[i]) for i in ids])
            except (BrokenPipeError, OSError):  # died while idle: replace it and retry later
                pending.extendleft(reversed(ids))
                self._replace(worker)
                continue
            worker.inflight.extend(ids)
            worker.last = time.monotonic()

    def _collect(self, worker: _Worker, results: list, pending: deque[int]) -> int:
        """Read every result the worker has sent; a closed pipe means it crashed. Returns failures: items the
        worker could not score (None: a timeout or exception inside it) and the item it crashed on."""
        failures = 0
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message == "ready":
                    continue
                index, value = message
                if worker.inflight and worker.inflight[0] == index:
                    worker.inflight.popleft()
                    results[index] = value
                    failures += value is None
                    worker.last = time.monotonic()
        except (EOFError, OSError):
            if worker.inflight:
                return failures + self._fail_current(worker, pending)
            self._replace(worker)
        return failures

    def run(self, items: Sequence[tuple[str, str]], batch_timeout_s: float = 300.0) -> tuple[list, int]:
        """Scores of ``(gold, region)`` items (None where a worker timed out or crashed) and the failure count."""
        results: list[float | None] = [None] * len(items)
        pending: deque[int] = deque(range(len(items)))
        chunk = max(1, min(32, -(-len(items) // (4 * len(self.workers)))))
        deadline, failures = time.monotonic() + float(batch_timeout_s), 0
        while pending or any(w.inflight for w in self.workers):
            self._dispatch(items, pending, chunk)
            busy = [w for w in self.workers if w.inflight]
            now = time.monotonic()
            horizon = min([w.last + self.item_timeout_s for w in busy] + [deadline]) - now
            ready = set(wait([w.conn for w in busy], timeout=max(0.0, horizon))) if busy else set()
            for worker in busy:
                if worker.conn in ready:
                    failures += self._collect(worker, results, pending)
            now = time.monotonic()
            for worker in [w for w in self.workers if w.inflight and now - w.last > self.item_timeout_s]:
                failures += self._fail_current(worker, pending)
            if now > deadline:
                for worker in [w for w in self.workers if w.inflight]:
                    failures += len(worker.inflight)
                    worker.inflight.clear()
                    self._replace(worker)
                failures += len(pending)
                break
        return results, failures

    def close(self) -> None:
        """Stop every worker (polite sentinel first, then kill)."""
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            worker.process.join(timeout=1)
            worker.kill()
        self.workers = []


# --- batch scoring -----------------------------------------------------------------------------------------------


class MathScorer:
    """Pooled math-verify scoring with an exact-match fast path and a (gold, answer) cache."""

    def __init__(
        self,
        workers: int = 2,
        timeout_s: int = 3,
        item_timeout_s: float = 10.0,
        require_boxed: bool = True,
        **pool_kw: Any,
    ) -> None:
        self.pool = VerifierPool(workers, timeout_s, item_timeout_s, **pool_kw)
        self.require_boxed = bool(require_boxed)
        self.cache: OrderedDict[tuple[str, str], float] = OrderedDict()

    def _remember(self, key: tuple[str, str], value: float) -> None:
        """Store a score, evicting the oldest entries beyond the cache size."""
        self.cache[key] = value
        if len(self.cache) > _CACHE_SIZE:
            self.cache.popitem(last=False)

    def score(
        self, completions: Sequence[str], golds: Sequence[str | None], batch_timeout_s: float = 300.0
    ) -> tuple[list[float], int]:
        """Scores in {0, 1} for each completion against its gold answer, and the number of timeouts/crashes."""
        scores = [0.0] * len(completions)
        todo: dict[tuple[str, str], list[int]] = {}
        for i, (completion, gold) in enumerate(zip(completions, golds, strict=True)):
            if not isinstance(completion, str) or not gold:
                continue
            region, boxed = answer_region(completion)
            if boxed is None and self.require_boxed:
                continue
            verdict = quick_verdict(gold, boxed) if boxed is not None else None
            if verdict is not None:
                scores[i] = verdict
                continue
            key = (gold, region)
            if key in self.cache:
                self.cache.move_to_end(key)
                scores[i] = self.cache[key]
            else:
                todo.setdefault(key, []).append(i)
        keys = list(todo)
        values, failures = self.pool.run(keys, batch_timeout_s) if keys else ([], 0)
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                self._remember(key, value)
            for i in todo[key]:
                scores[i] = value or 0.0
        return scores, failures

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.close()


_SCORER: dict[tuple, MathScorer] = {}


def get_scorer(task_cfg: Any) -> MathScorer:
    """The process-wide scorer for this config's pool settings (started on first use, stopped at exit)."""
    key = (
        int(_cfg(task_cfg, "reward_workers")),
        int(_cfg(task_cfg, "verify_timeout_s")),
        float(_cfg(task_cfg, "item_timeout_s")),
        bool(_cfg(task_cfg, "require_boxed")),
    )
    if key not in _SCORER:
        for old in _SCORER.values():
            old.close()
        _SCORER.clear()
        _SCORER[key] = MathScorer(*key)
    return _SCORER[key]


@atexit.register
def _shutdown() -> None:
    """Stop pooled workers when the interpreter exits."""
    for scorer in _SCORER.values():
        scorer.close()
    _SCORER.clear()


def score_batch(
    completions: Sequence[str], problems: Sequence[dict], task_cfg: Any
) -> tuple[list[float], list[float], dict[str, int]]:
    """(rewards, accuracies, {"reward_timeouts": n}); the reward is the binary accuracy."""
    scorer = get_scorer(task_cfg)
    scores, failures = scorer.score(
        completions, [p.get("answer") for p in problems], float(_cfg(task_cfg, "batch_timeout_s"))
    )
    return scores, list(scores), {"reward_timeouts": failures}


def score(completion: str, problem: dict, task_cfg: Any) -> tuple[float, float]:
    """(reward, accuracy) of one completion (through the pool, so the same bounds apply)."""
    rewards, accuracies, _ = score_batch([completion], [problem], task_cfg)
    return rewards[0], accuracies[0]


# --- prompts and datasets ----------------------------------------------------------------------------------------


def build_prompt(problem: dict, style: str) -> str:
    """``boxed``: the problem + "Let's think step by step … within \\boxed{}."; ``plain``: the problem alone.

    The chat template (and Qwen3's thinking switch, ``task.enable_thinking``) is applied later by the tokenizer.
    """
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown math prompt style {style!r}: set task.prompt_style=boxed or plain")
    return f"{problem['problem']}{PROMPT_STYLES[style]}"


def read_rows(path: Path) -> list[dict]:
    """Rows of a local JSON list, JSONL or parquet file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _resolve(local: str | None, data_dir: str | None) -> Path | None:
    """A configured local path, under ``data_dir`` when relative."""
    if not local:
        return None
    path = Path(str(local)).expanduser()
    return Path(data_dir).expanduser() / path if not path.is_absolute() and data_dir is not None else path


def _hub_rows(spec: Any) -> list[dict]:
    """Rows of a hub dataset (``hub_id``, optional ``hub_config``, ``split``)."""
    import datasets

    config = _cfg(spec, "hub_config")
    table = datasets.load_dataset(str(_cfg(spec, "hub_id")), config or None, split=str(_cfg(spec, "split", "test")))
    return [dict(row) for row in table]


def load_rows(name: str, spec: Any, data_dir: str | None) -> tuple[list[dict], bool]:
    """(rows, from_hub) of one set: its local copy when it exists, else the hub; one-line error if neither."""
    path = _resolve(_cfg(spec, "local_path"), data_dir)
    if path is not None and path.is_file():
        return read_rows(path), False
    hub_id, reason = _cfg(spec, "hub_id"), "no hub id configured"
    if hub_id:
        try:
            return _hub_rows(spec), True
        except Exception as exc:  # offline, unknown id, gated: all mean "not reachable here"
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    where = f"no local file {path}" if path is not None else "no local copy configured"
    raise FileNotFoundError(
        f"math set '{name}' not found: {where} and hub id {hub_id!r} unreachable ({reason}); "
        f"set task.sets.{name}.local_path=<file.json> or paths.data_dir=<folder holding it>"
    )


def _problems(name: str, spec: Any, data_dir: str | None) -> list[dict]:
    """``{"problem", "answer", "set"}`` dicts of one set; rows without a usable gold answer are dropped."""
    rows, from_hub = load_rows(name, spec, data_dir)
    problem_field = _cfg(spec, "problem_field", "problem") if from_hub else "problem"
    answer_field = _cfg(spec, "answer_field", "answer") if from_hub else "answer"
    out = []
    for row in rows:
        question = row.get(problem_field, row.get("problem", row.get("question")))
        raw = row.get(answer_field, row.get("answer"))
        if from_hub and _cfg(spec, "answer_from_boxed", False) and isinstance(raw, str):
            raw = last_boxed(raw)
        answer = gold_text(raw)
        if question and answer:
            out.append({"problem": str(question), "answer": answer, "set": name})
    return out


def _sets(task_cfg: Any) -> Any:
    """The ``task.sets`` table (name → spec)."""
    sets = _cfg(task_cfg, "sets")
    if sets is None:
        raise ValueError("task.sets is missing: compose the config with task=math (conf/task/math.yaml)")
    return sets


def _spec(task_cfg: Any, name: str) -> Any:
    """One set's spec, or a one-line error naming the choices."""
    sets = _sets(task_cfg)
    spec = sets.get(name) if hasattr(sets, "get") else None
    if spec is None:
        raise ValueError(f"unknown math set {name!r}: choose from {', '.join(sets)} (task.train_set / task.eval_sets)")
    return spec


def _finish(problems: list[dict], task_cfg: Any, limit: int) -> list[dict]:
    """First ``limit`` problems (0 = all), numbered 0..n−1, with prompts."""
    chosen = problems[: int(limit)] if int(limit) > 0 else problems
    style = _cfg(task_cfg, "prompt_style")
    return [{"id": i, **p, "prompt": build_prompt(p, style)} for i, p in enumerate(chosen)]


def load_train(task_cfg: Any, data_dir: str | None) -> list[dict]:
    """Training problems ``{"id", "prompt", "problem", "answer", "set"}`` of ``task.train_set``."""
    name = str(_cfg(task_cfg, "train_set"))
    return _finish(_problems(name, _spec(task_cfg, name), data_dir), task_cfg, _cfg(task_cfg, "train_size"))


def load_eval(task_cfg: Any, data_dir: str | None) -> dict[str, list[dict]]:
    """Every set named in ``task.eval_sets`` (name → problems), first ``task.eval_size`` of each (0 = all)."""
    names = [str(n) for n in _cfg(task_cfg, "eval_sets")]
    limit = _cfg(task_cfg, "eval_size")
    return {n: _finish(_problems(n, _spec(task_cfg, n), data_dir), task_cfg, limit) for n in names}


def describe(task_cfg: Any, data_dir: str | None) -> dict[str, int | None]:
    """Set name → size for ``insight config show`` (documented sizes from the config; nothing is loaded)."""
    return documented_sizes(task_cfg, _cfg, _spec)
