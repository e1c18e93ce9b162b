"""Preemption, for real: a run is interrupted three times — SIGUSR2 on the local executor, `scancel --signal=USR2`
and a plain `scontrol requeue` on the local Slurm — and must finish as if it never stopped: contiguous steps, the
same prompts chosen at every step, and a final selector state bit-identical to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from insight_cli.runs import Ledger, RunDir

pytestmark = pytest.mark.slow

STEPS = 9
PREEMPTIONS = 3


def _train(overrides: list[str], results: Path, launcher: str) -> RunDir:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "insight_cli.cli.app",
            "train",
            *overrides,
            f"trainer.steps={STEPS}",
            f"paths.results_dir={results}",
            f"launcher={launcher}",
            "launcher.cpus_per_task=1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return RunDir(out.stdout.split("for run ")[1].split()[0])


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.3)
    return value


def _max_step(run: RunDir) -> int:
    return max((r["step"] for r in run.read("metrics.jsonl")), default=0)


def _attempts(run: RunDir) -> list[dict]:
    return run.read_meta().get("attempts", [])


def _done(run: RunDir) -> bool:
    return run.read_status().get("state") == "done"


def _selection_state(run: RunDir) -> dict[str, np.ndarray]:
    with np.load(run.checkpoints / f"checkpoint-{STEPS}" / "selection.npz") as data:
        return {k: data[k] for k in data.files if k != "wall_s"}  # wall-clock time is not selector state


@pytest.fixture(scope="module")
def reference(tiny_overrides, tmp_path_factory) -> RunDir:
    """The same run, never interrupted (same launcher kind and thread count as the preempted ones)."""
    run = _train(tiny_overrides, tmp_path_factory.mktemp("reference"), "local")
    _wait(lambda: _done(run), 600, "the reference run to finish")
    return run


def _usr2_to_process(attempt: dict) -> None:
    os.kill(int(attempt["pid"]), signal.SIGUSR2)


def _scancel_usr2(attempt: dict) -> None:
    subprocess.run(["scancel", "--signal=USR2", attempt["job_id"]], check=True)


def _scontrol_requeue(attempt: dict) -> None:
    subprocess.run(["scontrol", "requeue", attempt["job_id"]], check=True)


@pytest.mark.parametrize(
    ("launcher", "interrupt", "event"),
    [
        pytest.param("local", _usr2_to_process, "requeued", id="local-usr2"),
        pytest.param("slurm", _scancel_usr2, "requeued", id="slurm-scancel-usr2", marks=pytest.mark.slurm),
        pytest.param("slurm", _scontrol_requeue, "preempted", id="slurm-scontrol-requeue", marks=pytest.mark.slurm),
    ],
)
def test_run_preempted_three_times_finishes_as_if_never_stopped(
    reference, tiny_overrides, tmp_path, launcher, interrupt, event
):
    run = _train(tiny_overrides, tmp_path, launcher)
    assert run.path.name == reference.path.name  # the run id ignores the launcher and the results folder
    resumed_at = 0
    for k in range(PREEMPTIONS):
        # interrupt attempt k+1 once it has trained a step of its own (so every attempt makes progress)
        def trained(k=k, resumed_at=resumed_at):
            return len(_attempts(run)) == k + 1 and _max_step(run) > resumed_at

        _wait(trained, 300, f"attempt {k + 1} to train")
        interrupt(_attempts(run)[-1])
        _wait(lambda k=k: len(_attempts(run)) == k + 2, 300, f"attempt {k + 2} to start")
        resumed_at = int(run.read_status().get("step", 0))
        assert 0 < resumed_at < STEPS
    _wait(lambda: _done(run), 600, "the preempted run to finish")

    # no step missing or twice, in every record file, and the same prompts chosen at every step
    assert [r["step"] for r in run.read("metrics.jsonl")] == list(range(1, STEPS + 1))
    assert [r["step"] for r in run.read("eval.jsonl")] == [r["step"] for r in reference.read("eval.jsonl")]
    assert [r["prompt_ids"] for r in run.read("selection.jsonl")] == [
        r["prompt_ids"] for r in reference.read("selection.jsonl")
    ]
    # the selector's final state, bit for bit
    ours, theirs = _selection_state(run), _selection_state(reference)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key].dtype == theirs[key].dtype and np.array_equal(ours[key], theirs[key]), key

    # one directory, every attempt recorded with its job id; the ledger tells the story
    attempts = _attempts(run)
    assert len(attempts) == PREEMPTIONS + 1 and len({a["job_id"] for a in attempts}) == 1
    if launcher == "slurm":
        assert [a["restart"] for a in attempts] == list(range(PREEMPTIONS + 1))
    states = [e["state"] for e in Ledger(run.path.parent).events() if e["event"] == "state"]
    assert states == ["running", event] * PREEMPTIONS + ["running", "done"]
    assert json.loads(run.file("status.json").read_text())["step"] == STEPS
