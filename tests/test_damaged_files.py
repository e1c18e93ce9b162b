"""Damaged run files: every case of tests/damage.py × `insight report`, `status`, `logs` and `train`, through the CLI.

Each command that reads the damaged file prints a warning line naming the run (or sweep) and the file, skips what it
cannot read and still reports the healthy runs, with its usual exit code; one that does not read the file is simply
unaffected. Trees are copies of the finished reference runs (results/reference-v1/mini_main) plus one damaged run.
`insight train` resumes a real 1-step tiny run over a damaged file (nothing is left to train, so a case costs the
model load, not a training). The report over every case at once is timed by bench/damaged_files.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from damage import CASES, HEALTHY, SWEEP, Damage, build_tree
from typer.testing import CliRunner

from insight_cli.cli.app import app
from insight_cli.runs import RunDir
from insight_cli.safe_read import DamagedFile, load_yaml, read_text

# The files each command reads (logs: meta.json names the log, status.json ends `-f`; config.yaml only if missing).
READS = {
    "report": {"config.yaml", "status.json", "eval.jsonl", "metrics.jsonl"},
    "status": {"config.yaml", "status.json", "eval.jsonl", "meta.json", "ledger.jsonl"},
    "logs": {"meta.json", "status.json"},
}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)


def assert_warned(stderr: str, owner: str, case: Damage) -> None:
    """A warning line names the run (or sweep), the file and what is wrong with it."""
    lines = [line for line in stderr.splitlines() if line.startswith("warning: ") and owner in line]
    assert any(case.file in line and case.warning in line for line in lines), f"no warning for {case.id}:\n{stderr}"


def owner(case: Damage, sweep: str = SWEEP, run: str | None = None) -> str:
    return f"sweep {sweep}: " if case.file == "ledger.jsonl" else f"run {sweep}/{run or case.run_id}: "


@pytest.fixture
def tree(tmp_path, monkeypatch, case) -> Path:
    """The healthy reference runs and one run damaged by ``case`` under tmp_path/results (report cache there too)."""
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(tmp_path / "cache"))
    build_tree(tmp_path / "results", [case])
    return tmp_path / "results"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_report_warns_skips_and_reports_the_healthy_runs(case, tree, tmp_path):
    result = invoke("report", "--results-dir", str(tree), "--no-cache", "--format", "md", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.stderr
    if case.file in READS["report"]:
        assert_warned(result.stderr, owner(case), case)
    accuracy = result.stdout.split("### Efficiency")[0]
    assert "| tiny-cpu | wmi | 1 |" in accuracy  # the healthy WMI run
    assert "| tiny-cpu | random |" in accuracy
    assert "-300" not in result.stdout and "inf " not in result.stdout  # out-of-domain pass@1 never tabled


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_status_warns_and_lists_every_run(case, tree):
    result = invoke("status", SWEEP, "--results-dir", str(tree))
    assert result.exit_code == 0, result.stderr
    if case.file in READS["status"]:
        assert_warned(result.stderr, owner(case), case)
    for rid in [*HEALTHY, case.run_id]:
        assert rid in result.stdout
    assert "-300" not in result.stdout and " inf " not in result.stdout
    assert f"{len(HEALTHY) + 1} runs: " in result.stdout
    if case.file == "status.json":
        row = next(line for line in result.stdout.splitlines() if case.run_id in line)
        assert "unknown" in row  # not shown as a new run


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_logs_warns_and_prints_the_log(case, tree):
    follow = ["-f"] if case.file == "status.json" else []  # -f reads status.json to know when the run ended
    result = invoke("logs", case.run_id, *follow, "--results-dir", str(tree))
    if case.file == "meta.json":  # the log's path is in meta.json: a one-line error, as for a run never started
        assert result.exit_code == 2 and "meta.json is damaged" in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        assert result.stdout == f"log of {case.run_id}\n"
    if case.file in READS["logs"] or case.id == "config-missing":
        assert_warned(result.stderr, owner(case), case)


# --------------------------------------------------------------------------- insight train, resuming a damaged run
TRAIN_READS = {"status.json", "meta.json", "eval.jsonl", "metrics.jsonl", "ledger.jsonl"}
TRAIN_DEFAULT_TIER = {"status-binary", "status-list"}  # the cases; the rest cost a model load each (slow)
TRAIN_CASES = [
    pytest.param(c, id=c.id, marks=() if c.id in TRAIN_DEFAULT_TIER else pytest.mark.slow)
    for c in CASES
    if c.file in TRAIN_READS | {"config.yaml"} and "pass1" not in c.id and c.id != "config-missing"
]


@pytest.fixture(scope="module")
def finished_tiny_run(tmp_path_factory, tiny_overrides) -> tuple[Path, list[str]]:
    """A 1-step tiny run trained once through the CLI: (its run folder, the overrides that train it)."""
    overrides = [*tiny_overrides, "trainer.steps=1"]
    results = tmp_path_factory.mktemp("trained") / "results"
    result = invoke("train", *overrides, f"paths.results_dir={results}")
    assert result.exit_code == 0, result.stderr
    (run,) = [p for p in (results / "adhoc").iterdir() if p.is_dir() and not p.name.startswith(".")]
    return run, overrides


@pytest.mark.parametrize("case", TRAIN_CASES)
def test_train_resumes_over_a_damaged_file(case, finished_tiny_run, tmp_path):
    pristine, overrides = finished_tiny_run
    results = tmp_path / "results"
    run = results / "adhoc" / pristine.name
    shutil.copytree(pristine, run)
    # The first run's ledger names this (alive) pytest process as its in-process job: a real rerun comes after that
    # process ended, so the ledger goes, except where it is the damaged file.
    shutil.copy(pristine.parent / "ledger.jsonl", results / "adhoc" / "ledger.jsonl")
    if case.file != "ledger.jsonl":
        (results / "adhoc" / "ledger.jsonl").unlink()
    RunDir(run).set_status("preempted", 1)  # stopped after its last checkpoint: the rerun resumes, nothing to train
    case.damage(results / "adhoc" / case.file if case.file == "ledger.jsonl" else run / case.file)
    result = invoke("train", *overrides, f"paths.results_dir={results}")
    assert result.exit_code == 0, result.stderr
    assert f"run {run.name} done at step 1" in result.stdout
    if case.file in TRAIN_READS:
        assert_warned(result.stderr, owner(case, "adhoc", run.name), case)
    assert load_yaml(run / "config.yaml")["trainer"]["steps"] == 1  # rewritten from the composed config


def test_yaml_aliases_are_refused_before_anything_is_expanded(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("base: &b {lr: 1}\nrun: *b\n")  # harmless, but insight never writes aliases
    with pytest.raises(DamagedFile, match="alias"):
        load_yaml(path)


def test_a_file_over_its_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "status.json"
    path.write_text('{"state": "done"}')
    with pytest.raises(DamagedFile, match="holds 17 bytes, over the 16-byte limit"):
        read_text(path, limit=16)


@pytest.mark.parametrize("damage", ["binary", "bad-line"])
def test_resuming_over_a_damaged_jsonl_keeps_the_file_as_it_was(tmp_path, damage, capsys):
    """truncate_after (every resume) rewrites the JSONL files; a damaged one is first kept beside it, byte for byte,
    and the rewrite keeps its readable records up to the checkpoint: nothing a user ran is lost."""
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    good = [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4}, {"step": 3, "loss": 0.3}]
    body = "".join(f'{{"step": {r["step"]}, "loss": {r["loss"]}}}\n' for r in good)
    original = b"\x00\xff\xfe binary" if damage == "binary" else (body + "{not json\n").encode()
    run.file("metrics.jsonl").write_bytes(original)
    run.truncate_after(2)
    assert (run.path / "metrics.jsonl.damaged").read_bytes() == original
    assert "metrics.jsonl.damaged" in capsys.readouterr().err
    assert list(run.read("metrics.jsonl")) == ([] if damage == "binary" else good[:2])
    run.file("metrics.jsonl").write_bytes(original)
    run.truncate_after(2)  # a second damaged rewrite never overwrites the first copy
    assert (run.path / "metrics.jsonl.damaged.1").read_bytes() == original
