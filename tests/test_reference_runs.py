"""The committed reproduction runs (results/reference/) still load, and the report over them is unchanged.

docs/reproduction.md quotes these tables; after adding runs to results/reference (scripts/copy_reference.py),
regenerate the golden copies with `INSIGHT_UPDATE_GOLDEN=1 python -m pytest tests/test_reference_runs.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from insight_cli.report.collect import collect
from insight_cli.report.tables import accuracy_table, efficiency_table, overhead_table, to_markdown

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"
GOLDEN = Path(__file__).parent / "golden" / "reference"
SMALL_FILES = {"config.yaml", "meta.json", "status.json", "eval.jsonl", "metrics.jsonl", "selection.jsonl"}


def reference_runs() -> list[Path]:
    return sorted(p.parent for p in REFERENCE.glob("*/*/config.yaml"))


pytestmark = pytest.mark.skipif(not reference_runs(), reason="no committed runs under results/reference yet")


def test_committed_runs_are_finished_and_hold_only_small_files():
    for run in reference_runs():
        assert json.loads((run / "status.json").read_text())["state"] == "done", run
        names = {p.name for p in run.iterdir()}
        assert names <= SMALL_FILES and {"config.yaml", "eval.jsonl", "metrics.jsonl"} <= names, run


def test_report_over_committed_runs_is_unchanged():
    coll = collect(REFERENCE, cache=False)
    assert not coll.warnings, coll.warnings
    assert len(coll.runs) == len(reference_runs())
    rendered = {
        "accuracy.md": to_markdown(accuracy_table(coll)),
        "efficiency.md": to_markdown(efficiency_table(coll)[0]),
        "overhead.md": to_markdown(overhead_table(coll)),
    }
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = GOLDEN / name
        if os.environ.get("INSIGHT_UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.exists() and text == path.read_text(), (
            f"the report over results/reference changed ({name}); if runs were added on purpose, rerun with "
            "INSIGHT_UPDATE_GOLDEN=1"
        )
