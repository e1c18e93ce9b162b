"""Stop means stop: a real SIGTERM or SIGINT ends an in-process `insight train` within seconds in every phase (warm
start, belief prior, training, evaluation), leaving status.json `preempted`, never `running`; and progress is
printed as plain lines when stderr is a file, as in every batch job."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from insight_cli.train.progress import PlainBar

HANG_GUARD_S = 90  # far above the seconds a stop takes; only there so a regression fails instead of hanging


def start_train(tmp_path: Path, overrides: list[str]) -> tuple[subprocess.Popen, Path]:
    """`insight train OVERRIDES` as a real process, stderr to a file (no terminal); returns it and that file."""
    log = tmp_path / "stderr.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INSIGHT_PROGRESS_EVERY_S": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "insight_cli.cli.app", "train", *overrides, f"paths.results_dir={tmp_path}/results"],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
    )
    return proc, log


def stop_when(proc: subprocess.Popen, ready, signum: int, wait_until) -> float:
    """Send ``signum`` once ``ready()`` holds; return the seconds from the signal to the process's exit."""
    wait_until(lambda: ready() or proc.poll() is not None, timeout=HANG_GUARD_S * 3, what="the phase to start")
    assert proc.poll() is None, f"the run ended before the phase began: {proc.communicate()}"
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running {HANG_GUARD_S}s after signal {signum}")
    return time.monotonic() - sent


def run_status(tmp_path: Path) -> dict:
    (status,) = (tmp_path / "results").glob("*/*/status.json")
    return json.loads(status.read_text())


def in_log(log: Path, text: str):
    return lambda: text in log.read_text()


def assert_stopped_between_batches(proc: subprocess.Popen, log: Path, tmp_path: Path, phase: str) -> None:
    """Exit 130 with the phase named on stderr, and the run left `preempted` (resumable), never `running`."""
    err = log.read_text()
    assert proc.returncode == 130, err
    assert f"stopped by a signal during {phase}" in err, err
    assert run_status(tmp_path)["state"] == "preempted"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_warm_start(tmp_path, wait_until, signum):
    """A recipe without shipped weights is built here; a signal during its SFT ends the run and keeps no model."""
    overrides = [
        "trainer=smoke",
        f"paths.cache_dir={tmp_path}/cache",
        "model.warmstart.steps=5000",  # minutes of SFT: the signal surely lands in it
        "model.warmstart.num_problems=1000",
        "task.train_size=64",
    ]
    proc, log = start_train(tmp_path, overrides)
    seconds = stop_when(proc, in_log(log, "warm start (SFT of the tiny model): 1/5000"), signum, wait_until)
    assert_stopped_between_batches(proc, log, tmp_path, "the warm start")
    assert not list((tmp_path / "cache" / "tiny-models").glob("*/recipe.json")), "a half-built model was kept"
    print(f"warm start stopped {seconds:.1f}s after signal {signum}")


def test_sigterm_stops_the_belief_prior(tmp_path, tiny_overrides, wait_until):
    overrides = [*tiny_overrides, "selector=mopps", "selector.prior=warmstart", "task.train_size=2000"]
    proc, log = start_train(tmp_path, overrides)
    seconds = stop_when(proc, in_log(log, "belief prior:"), signal.SIGTERM, wait_until)
    assert_stopped_between_batches(proc, log, tmp_path, "the belief prior's rollouts")
    print(f"belief prior stopped {seconds:.1f}s after SIGTERM")


def test_sigterm_stops_an_evaluation(tmp_path, tiny_overrides, wait_until):
    """The step-0 evaluation of 512 problems × 16 samples takes minutes; SIGTERM ends it between two batches."""
    overrides = [
        *tiny_overrides,
        "task.eval_size=512",
        "trainer.eval.num_problems=512",
        "trainer.eval.n_samples=16",
        "trainer.eval.batch_size=64",
    ]
    proc, log = start_train(tmp_path, overrides)
    seconds = stop_when(proc, in_log(log, "GRPO wmi: 0/3"), signal.SIGTERM, wait_until)
    assert_stopped_between_batches(proc, log, tmp_path, "an evaluation")
    assert not any(p.read_text() for p in (tmp_path / "results").glob("*/*/eval.jsonl")), "a partial evaluation"
    print(f"evaluation stopped {seconds:.1f}s after SIGTERM")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_during_training_saves_the_step_and_resume_evaluates_what_it_skipped(
    tmp_path, tiny_overrides, wait_until, signum
):
    """SIGTERM or a first Ctrl-C during a step: that step is checkpointed at once (its due evaluation skipped, not
    waited for), the run is `preempted`; the same command resumes, first evaluating the skipped step, and finishes
    `done`."""
    overrides = [*tiny_overrides, "trainer.steps=12", "trainer.save_every=12", "trainer.eval.every=1"]
    proc, log = start_train(tmp_path, overrides)

    def trained_a_step() -> bool:
        return any(p.stat().st_size for p in (tmp_path / "results").glob("*/*/metrics.jsonl"))

    seconds = stop_when(proc, trained_a_step, signum, wait_until)
    out = proc.stdout.read()
    assert proc.returncode == 0, log.read_text()
    status = run_status(tmp_path)
    assert status["state"] == "preempted" and 1 <= status["step"] < 12, status
    assert "stopped early" in out
    (run_dir,) = (tmp_path / "results").glob("*/*/")
    assert (run_dir / "checkpoints" / f"checkpoint-{status['step']}" / "selection.npz").exists()

    proc, log = start_train(tmp_path, overrides)  # the same command
    proc.wait(timeout=600)
    assert proc.returncode == 0, log.read_text()
    evaluated = [json.loads(line)["step"] for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert evaluated == list(range(13)), "every step evaluated exactly once across the stop"
    assert run_status(tmp_path)["state"] == "done"
    print(f"training stopped {seconds:.1f}s after signal {signum} at step {status['step']}")


# ---------------------------------------------------------------------------------------------- plain progress
def test_plain_progress_lines_say_phase_count_rate_and_eta():
    stream = io.StringIO()
    bar = PlainBar("GRPO wmi", total=4, stream=stream, every_s=0.0, completed=1)  # resumed at step 1
    bar.print_line()
    for reward in ("0.100", "0.200", "0.300"):
        time.sleep(0.01)
        bar.advance(reward=reward)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert "GRPO wmi: 1/4 (25%)" in lines[0] and "eta" not in lines[0]  # no rate before a step was timed
    assert "GRPO wmi: 4/4 (100%)" in lines[-1] and "reward 0.300" in lines[-1]
    assert "steps/s" in lines[1] and "eta" in lines[1]


def test_plain_progress_is_rate_limited():
    stream = io.StringIO()
    bar = PlainBar("warm start", total=1000, stream=stream, every_s=3600.0)
    bar.print_line()
    for _ in range(999):
        bar.advance(loss="1.0")
    assert len(stream.getvalue().splitlines()) == 1  # only the first line within the hour
    bar.advance(loss="0.5")
    assert "1000/1000" in stream.getvalue().splitlines()[-1]  # and the last one, always
