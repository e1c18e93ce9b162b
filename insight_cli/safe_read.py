"""Reading run files that may be damaged: every reader of config.yaml, status.json, meta.json, the JSONL files and
the sweep ledger goes through here, so a damaged file becomes one warning naming it, never a crash or a hang.

    from insight_cli.safe_read import DamagedFile, load_json, load_yaml, json_lines
    try:
        status = load_json(path)            # a dict, or DamagedFile("status.json holds a list, not a mapping")
    except DamagedFile as exc:
        print(f"warning: {exc}")

What is refused (``DamagedFile``, whose message names the file and the problem): a file over its size limit; bytes
that are not UTF-8 text (binary files, UTF-16); a document nested deeper than ``MAX_DEPTH`` and a JSON line too deep
for Python's parser (json.loads of 100,000 ``[`` raises RecursionError; libyaml and pyarrow crash the process on
such input, so it never reaches them); YAML aliases (an alias bomb expands exponentially); a document of the wrong
type (status.json holding a list). A missing file is not damage:
``FileNotFoundError`` passes through, so callers tell "not written yet" from "damaged".

JSONL files are read line by line in spirit: a damaged line is skipped and counted (:class:`JsonLines`), the rest of
the file is kept; a damaged whole file (too big, not text) raises. Imports nothing of the package, never torch.
"""

from __future__ import annotations

import json
import math
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# config.yaml, status.json, meta.json: a few kB when written by insight
MAX_DOCUMENT_BYTES = 16 * 2**20
# metrics/eval/selection.jsonl and ledger.jsonl: about 1 kB a training step, so 10⁵ steps fit
MAX_JSONL_BYTES = 256 * 2**20
# deepest nesting of lists/mappings accepted in a document; insight writes a handful of levels
MAX_DEPTH = 64


class DamagedFile(ValueError):
    """A file that cannot be read safely; ``str()`` is ``<file name> <problem>``."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name} {problem}")


def where(path: str | Path) -> str:
    """``run <sweep>/<run_id>: <file>`` (``sweep <sweep>: ledger.jsonl``): how a warning names a file."""
    path = Path(path)
    if path.name == "ledger.jsonl":
        return f"sweep {path.parent.name}: {path.name}"
    return f"run {path.parent.parent.name}/{path.parent.name}: {path.name}"


_WARNED: set[str] = set()


def warn(path: str | Path, problem: str) -> None:
    """Print ``warning: run <sweep>/<run_id>: <file> <problem>`` to stderr, once per file and problem in a process
    (a command may read the same damaged file several times)."""
    key = f"{Path(path).absolute()} {problem}"
    if key not in _WARNED:
        _WARNED.add(key)
        print(f"warning: {where(path)} {problem}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- bytes and text
def read_bytes(path: str | Path, limit: int) -> bytes:
    """The file's bytes, refusing one over ``limit`` bytes, or not a regular file (a FIFO would block), unread."""
    path = Path(path)
    try:
        info = path.stat()
        size = info.st_size
        if not stat.S_ISREG(info.st_mode):
            raise DamagedFile(path, "is not a regular file")
        if size > limit:
            raise DamagedFile(path, f"holds {size:,} bytes, over the {limit:,}-byte limit")
        return path.read_bytes()
    except (FileNotFoundError, DamagedFile):
        raise
    except NotADirectoryError:  # a folder on its path is a file: the file cannot exist, it is missing, not damaged
        raise FileNotFoundError(path) from None
    except OSError as exc:
        raise DamagedFile(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def read_text(path: str | Path, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The file as UTF-8 text; binary and UTF-16 files (NUL bytes or invalid UTF-8) are refused."""
    data = read_bytes(path, limit)
    if b"\x00" in data:
        raise DamagedFile(path, "is not text (NUL bytes: binary, or UTF-16)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedFile(path, f"is not UTF-8 text (byte {exc.start}: binary, or UTF-16)") from None


# --------------------------------------------------------------------------- nesting
def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Depth of nested lists/dicts (a scalar is 0), counted without recursion; stops once past ``limit``."""
    deepest, stack = 0, [(value, 0)]
    while stack and deepest <= limit:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def max_line_brackets(data: bytes) -> int:
    """The most ``[``/``{`` bytes on one line: an upper bound of any line's JSON nesting depth (brackets inside
    strings only add), cheap enough to check a file before a fast parser that could crash on it is trusted."""
    return max((line.count(b"[") + line.count(b"{") for line in data.split(b"\n")), default=0)


def _parse_json(text: str) -> Any:
    """json.loads with RecursionError (deep nesting) turned into ValueError; NaN and ±Infinity are accepted."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply: RecursionError") from None


# --------------------------------------------------------------------------- documents
def load_json(path: str | Path, expect: type = dict, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """One JSON document (status.json, meta.json) of type ``expect``."""
    text = read_text(path, limit)
    if not text.strip():
        raise DamagedFile(path, "is empty")
    try:
        value = _parse_json(text)
    except ValueError as exc:
        raise DamagedFile(path, f"is not valid JSON ({str(exc).split(':')[0]})") from None
    _check_document(path, value, expect)
    return value


def load_yaml(path: str | Path, expect: type = dict) -> Any:
    """One YAML document (config.yaml) of type ``expect``, read with libyaml's safe loader. Nesting and aliases
    are checked on the event stream first: composing a deep document overflows libyaml's C stack (a segfault),
    and aliases are refused outright (insight never writes them; an alias bomb never finishes expanding)."""
    import yaml

    text = read_text(path)
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        depth = 0
        for event in yaml.parse(text, Loader=loader_class):
            if isinstance(event, yaml.AliasEvent):
                raise DamagedFile(path, f"uses a YAML alias (*{event.anchor}); aliases are refused")
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise DamagedFile(path, f"is nested deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
        value = yaml.load(text, Loader=loader_class)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if "nesting depth" in problem:  # PyYAML ≥ 6.0.4 stops deep documents itself, before our own count
            raise DamagedFile(path, f"is nested deeper than {MAX_DEPTH} levels") from None
        raise DamagedFile(path, f"is not valid YAML ({problem})") from None
    _check_document(path, value, expect)
    return value


def _check_document(path: str | Path, value: Any, expect: type) -> None:
    if not isinstance(value, expect):
        what = "nothing" if value is None else f"a {type(value).__name__}"
        raise DamagedFile(path, f"holds {what}, not a {'mapping' if expect is dict else expect.__name__}")
    if nesting_depth(value) > MAX_DEPTH:
        raise DamagedFile(path, f"is nested deeper than {MAX_DEPTH} levels")


# --------------------------------------------------------------------------- JSON lines
@dataclass
class JsonLines:
    """A JSONL file's records; ``bad`` holds the 1-based numbers of lines that are not a JSON object."""

    records: list[dict] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)
    truncated: bool = False  # the only bad line is the last, with no newline: a writer killed mid-line

    @property
    def damage(self) -> str | None:
        """The damage worth a warning: unreadable lines other than a truncated last one (None when there are none)."""
        return self.problem() if self.bad and not self.truncated else None

    def problem(self) -> str | None:
        """The damage in words (None when every line was read)."""
        if self.truncated:
            return "has a truncated last line (skipped)"
        if self.bad:
            return f"has {len(self.bad)} unreadable line(s), first line {self.bad[0]} (skipped)"
        return None


def json_lines(path: str | Path, limit: int = MAX_JSONL_BYTES) -> JsonLines:
    """Every line of a JSONL file that holds a JSON object; other lines are counted in ``bad``, not raised."""
    text = read_text(path, limit)
    out = JsonLines()
    body = text.strip()
    if not body:
        return out
    try:  # fast path: the whole file as one JSON array
        records = _parse_json("[" + body.replace("\n", ",") + "]")
        if all(isinstance(r, dict) for r in records):
            out.records = records
            return out
    except ValueError:
        pass
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _parse_json(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            out.records.append(record)
        else:
            out.bad.append(number)
    out.truncated = out.bad == [len(lines)] and not text.endswith("\n")
    return out


# --------------------------------------------------------------------------- values
def is_fraction(value: Any) -> bool:
    """A number in [0, 1] (pass@1, a success rate); False for NaN, ±inf, bools, text and values outside."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0.0 <= value <= 1.0
