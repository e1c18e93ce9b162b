"""`insight sweep` end to end on the local executor: real jobs, two sweeps started at once, status, logs, reruns."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from insight_cli.runs import Ledger, RunDir

pytestmark = pytest.mark.slow


def _states(sweep_dir, run_ids):
    return [RunDir(sweep_dir / r).read_status().get("state") for r in run_ids]


def test_two_local_sweeps_at_once_submit_each_run_once_then_finish_and_rerun_nothing(
    insight_proc, wait_until, tiny_overrides, tmp_path
):
    res = tmp_path / "results"
    args = [
        "sweep",
        "--selector",
        "wmi,random",
        "--name",
        "loc",
        *tiny_overrides,
        "trainer.steps=2",
        f"paths.results_dir={res}",
        "launcher=local",
        "launcher.cpus_per_task=1",
    ]
    cmd = [sys.executable, "-m", "insight_cli.cli.app", *args]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    # Between them they submitted the 2 runs exactly once: one saw them new, the other saw them running.
    submitted = sorted(int(o.split(" to submit")[0].rsplit(" ", 1)[1]) for o, _ in outs)
    assert submitted == [0, 2], outs

    sweep_dir = res / "loc"
    events = Ledger(sweep_dir).events()
    run_ids = [e["run_id"] for e in events if e["event"] == "planned"]
    assert len(run_ids) == 2 == len(set(run_ids))
    assert sorted(e["run_id"] for e in events if e["event"] == "submitted") == sorted(run_ids)

    wait_until(lambda: _states(sweep_dir, run_ids) == ["done", "done"], 600, "both local runs to finish")
    again = insight_proc(*args)
    assert again.returncode == 0 and "2 done, 0 to submit" in again.stdout, again.stdout + again.stderr

    status = insight_proc("status", "loc", "--results-dir", str(res))
    assert status.returncode == 0 and "2 runs: 2 done" in status.stdout, status.stdout
    for rid in run_ids:
        assert rid in status.stdout
    for rid in run_ids:  # the ledger holds each job's own story, whole: running then done, once each
        states = [e["state"] for e in Ledger(sweep_dir).events() if e["event"] == "state" and e["run_id"] == rid]
        assert states == ["running", "done"]
        meta = RunDir(sweep_dir / rid).read_meta()
        job = next(e["job_id"] for e in events if e["event"] == "submitted" and e["run_id"] == rid)
        assert [a["job_id"] for a in meta["attempts"]] == [job]

    for follow in ([], ["-f"]):  # -f returns once the run is over
        logs = insight_proc("logs", run_ids[0][:6], *follow, "--results-dir", str(res), timeout=60)
        assert logs.returncode == 0 and "Job completed successfully" in logs.stdout, logs.stdout + logs.stderr


def test_failed_runs_are_resubmitted_only_with_rerun_failed(insight_proc, wait_until, tiny_overrides, tmp_path):
    res = tmp_path / "results"
    # 16 prompts × 4 rollouts do not split into 3 micro-batches: a config that validates but fails in the job
    args = [
        "sweep",
        "--name",
        "bad",
        *tiny_overrides,
        "trainer.micro_batches=3",
        f"paths.results_dir={res}",
        "launcher=local",
        "launcher.cpus_per_task=1",
    ]
    first = insight_proc(*args)
    assert first.returncode == 0 and "1 to submit" in first.stdout, first.stdout + first.stderr
    sweep_dir = res / "bad"
    (run_id,) = [e["run_id"] for e in Ledger(sweep_dir).events() if e["event"] == "planned"]
    wait_until(lambda: RunDir(sweep_dir / run_id).read_status().get("state") == "failed", 300, "the run to fail")
    wait_until(lambda: "0 running" in insight_proc(*args, "--dry-run").stdout, 60, "the failed job's process to end")

    plain = insight_proc(*args)
    assert "0 done, 0 to submit (0 running, 1 failed, 0 new)" in plain.stdout, plain.stdout
    status = insight_proc("status", "bad", "--results-dir", str(res))
    assert "failed" in status.stdout and "1 runs: 1 failed" in status.stdout, status.stdout

    rerun = insight_proc(*args, "--rerun-failed")
    assert rerun.returncode == 0 and "1 to submit" in rerun.stdout, rerun.stdout
    submitted = [e for e in Ledger(sweep_dir).events() if e["event"] == "submitted"]
    assert [e["run_id"] for e in submitted] == [run_id, run_id]
    errors = [json.loads(line).get("error") for line in (sweep_dir / "ledger.jsonl").read_text().splitlines()]
    assert any(e and "micro-batches" in e for e in errors)
