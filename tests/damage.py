"""Damaged run files, one kind each: the table tests/test_damaged_files.py runs every command over, and the tree
bench/damaged_files.py times the report on. A case names the file it damages, how, and the words its warning says.

Every case is a way the files were found damaged (issue 17): binary or UTF-16 text, a JSON line of 100,000 ``[``
(RecursionError), a deeply nested YAML list, a YAML alias bomb (the report hung), status.json holding a list or
nothing, a run without config.yaml, pass@1 of -300.0 and inf.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference-v1" / "mini_main"
SWEEP = "mini_main"
HEALTHY = {"86f547570f75": "random", "76ac8e498f1d": "wmi"}  # seed 0 of each: copied untouched
DAMAGED_BASE = "1650723c92d5"  # Random seed 1: every damaged run is a copy of it, then one file is damaged
DEEP = 100_000
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _utf16(path: Path) -> None:
    path.write_bytes(path.read_text().encode("utf-16"))


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _append(text: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        with path.open("a") as fh:
            fh.write(text)

    return damage


def _write(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


def _last_pass1(value: float) -> Callable[[Path], None]:
    """The last evaluation's pass@1 set to ``value`` (json writes inf as Infinity, as Python's json reads it)."""

    def damage(path: Path) -> None:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records[-1]["pass@1"] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in records))

    return damage


@dataclass(frozen=True)
class Damage:
    id: str
    file: str  # a file of the run directory, or ledger.jsonl of its sweep
    damage: Callable[[Path], None]
    warning: str  # what the warning line says besides the file name

    @property
    def run_id(self) -> str:
        """The damaged run's folder name: the case id, so a warning is traced back to its case."""
        return f"dmg-{self.id}"


CASES = [
    Damage("config-binary", "config.yaml", _binary, "is not text"),
    Damage("config-utf16", "config.yaml", _utf16, "is not text"),
    Damage("config-deep-list", "config.yaml", _write("trainer: " + "[" * DEEP + "]" * DEEP + "\n"), "nested deeper"),
    Damage("config-alias-bomb", "config.yaml", _write(ALIAS_BOMB), "alias"),
    Damage("config-missing", "config.yaml", Path.unlink, "is missing"),
    Damage("eval-binary", "eval.jsonl", _binary, "is not text"),
    Damage("eval-utf16", "eval.jsonl", _utf16, "is not text"),
    Damage("eval-deep-line", "eval.jsonl", _append("[" * DEEP + "\n"), "unreadable line"),
    Damage("eval-pass1-negative", "eval.jsonl", _last_pass1(-300.0), "outside [0, 1]"),
    Damage("eval-pass1-inf", "eval.jsonl", _last_pass1(math.inf), "outside [0, 1]"),
    Damage("metrics-binary", "metrics.jsonl", _binary, "is not text"),
    Damage("metrics-utf16", "metrics.jsonl", _utf16, "is not text"),
    Damage("metrics-deep-line", "metrics.jsonl", _append("[" * DEEP + "\n"), "unreadable line"),
    # well-formed JSON, but nested past what pyarrow's parser survives (a segfault before the guard)
    Damage(
        "metrics-deep-object", "metrics.jsonl", _append('{"x": ' + "[" * DEEP + "]" * DEEP + "}\n"), "unreadable line"
    ),
    Damage("status-binary", "status.json", _binary, "is not text"),
    Damage("status-list", "status.json", _write("[1, 2, 3]\n"), "holds a list"),
    Damage("status-empty", "status.json", _write(""), "is empty"),
    Damage("status-deep", "status.json", _write("[" * DEEP + "]" * DEEP), "not valid JSON"),
    Damage("status-fifo", "status.json", _fifo, "not a regular file"),  # reading it would block for good
    Damage("meta-binary", "meta.json", _binary, "is not text"),
    Damage("meta-list", "meta.json", _write("[]\n"), "holds a list"),
    Damage("ledger-binary", "ledger.jsonl", _binary, "is not text"),
]


def copy_run(source: Path, target: Path, log_dir: Path) -> Path:
    """A reference run copied to ``target``, its latest attempt's log pointed at a small file of ``log_dir``."""
    shutil.copytree(source, target)
    meta = json.loads((target / "meta.json").read_text())
    log = log_dir / f"{target.name}.log"
    log.write_text(f"log of {target.name}\n")
    meta["attempts"][-1]["log"] = str(log)
    (target / "meta.json").write_text(json.dumps(meta, indent=2))
    return target


def build_tree(root: Path, cases: list[Damage]) -> Path:
    """``root/mini_main/``: the healthy runs, and one damaged copy of DAMAGED_BASE per case (a ledger case damages
    the sweep's ledger, which lists every run). Returns the sweep folder."""
    sweep = root / SWEEP
    logs = root / "logs"
    logs.mkdir(parents=True)
    for rid in HEALTHY:
        copy_run(REFERENCE / rid, sweep / rid, logs)
    events = [
        {"time": "2026-12-02T07:40:00+00:00", "event": "planned", "run_id": rid, "values": {}} for rid in HEALTHY
    ]
    (sweep / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    for case in cases:
        run = copy_run(REFERENCE / DAMAGED_BASE, sweep / case.run_id, logs)
        case.damage(sweep / case.file if case.file == "ledger.jsonl" else run / case.file)
    return sweep
