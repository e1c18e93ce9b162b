"""The committed reproduction runs still load, and the report over them is unchanged.

Two campaigns are committed: ``results/reference/`` (the current miniature, 3-number pool) and
``results/reference-v1/`` (the first miniature, half of its pool with 4 numbers; docs/reproduction.md). The docs quote
these tables; after adding runs (scripts/copy_reference.py), regenerate the golden copies with
`INSIGHT_UPDATE_GOLDEN=1 python -m pytest tests/test_reference_runs.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from insight_cli.report.collect import collect
from insight_cli.report.tables import accuracy_table, efficiency_table, overhead_table, to_markdown

RESULTS = Path(__file__).resolve().parents[1] / "results"
GOLDEN = Path(__file__).parent / "golden"
CAMPAIGNS = ("reference", "reference-v1")
SMALL_FILES = {"config.yaml", "meta.json", "status.json", "eval.jsonl", "metrics.jsonl", "selection.jsonl"}


def committed_runs(campaign: str) -> list[Path]:
    return sorted(p.parent for p in (RESULTS / campaign).glob("*/*/config.yaml"))


def with_runs(campaign: str) -> list[Path]:
    runs = committed_runs(campaign)
    if not runs:
        pytest.skip(f"no committed runs under results/{campaign} yet")
    return runs


@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_committed_runs_are_finished_and_hold_only_small_files(campaign):
    for run in with_runs(campaign):
        assert json.loads((run / "status.json").read_text())["state"] == "done", run
        names = {p.name for p in run.iterdir()}
        assert names <= SMALL_FILES and {"config.yaml", "eval.jsonl", "metrics.jsonl"} <= names, run


@pytest.mark.parametrize("campaign", CAMPAIGNS)
def test_report_over_committed_runs_is_unchanged(campaign):
    runs = with_runs(campaign)
    coll = collect(RESULTS / campaign, cache=False)
    assert not coll.warnings, coll.warnings
    assert len(coll.runs) == len(runs)
    rendered = {
        "accuracy.md": to_markdown(accuracy_table(coll)),
        "efficiency.md": to_markdown(efficiency_table(coll)[0]),
        "overhead.md": to_markdown(overhead_table(coll)),
    }
    golden = GOLDEN / campaign
    golden.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        path = golden / name
        if os.environ.get("INSIGHT_UPDATE_GOLDEN"):
            path.write_text(text)
        assert path.exists() and text == path.read_text(), (
            f"the report over results/{campaign} changed ({name}); if runs were added on purpose, rerun with "
            "INSIGHT_UPDATE_GOLDEN=1"
        )


def test_the_two_campaigns_are_different_miniatures():
    """A run of the current campaign never lands among the first campaign's runs: the pool's mix differs, so the run
    ids (hashes of the resolved config) do."""
    current = {run.name for run in committed_runs("reference")}
    first = {run.name for run in committed_runs("reference-v1")}
    assert not current & first
