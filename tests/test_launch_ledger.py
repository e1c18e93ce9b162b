"""The per-sweep ledger (append-only, file-locked) and the classification of runs built on it."""

from __future__ import annotations

import json
import multiprocessing as mp
import os

import pytest

from insight_cli.launch.state import display_state, run_state
from insight_cli.runs import Ledger, sweep_names

WRITERS, EVENTS = 4, 60


def _writer(sweep_dir: str, writer: int, start) -> None:
    """Read-decide-append under the lock, as `insight sweep` does: the event's sequence number is the number of
    events already in the ledger, so two writers deciding on the same snapshot would write the same number."""
    start.wait()
    ledger = Ledger(sweep_dir)
    for i in range(EVENTS):
        with ledger.locked():
            seq = len(ledger.events())
            batch = [
                {"event": "state", "run_id": f"w{writer}-{i}-{j}", "seq": seq + j, "pad": "x" * 300}
                for j in range(1 + 2 * (i % 2))
            ]
            ledger.append(*batch)


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "s"), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    events = [json.loads(line) for line in (tmp_path / "s" / "ledger.jsonl").read_text().splitlines()]
    expected = {f"w{w}-{i}-{j}" for w in range(WRITERS) for i in range(EVENTS) for j in range(1 + 2 * (i % 2))}
    assert len(events) == len(expected) and {e["run_id"] for e in events} == expected
    assert [e["seq"] for e in events] == list(range(len(events)))  # no two writers decided on the same snapshot


def test_events_fold_into_one_record_per_run(tmp_path):
    ledger = Ledger(tmp_path / "s")
    ledger.append(
        {"event": "planned", "run_id": "a", "values": {"selector": "wmi", "seed": "0"}},
        {"event": "planned", "run_id": "b", "values": {"selector": "random", "seed": "0"}},
    )
    ledger.append({"event": "submitted", "run_id": "a", "job_id": "7_0", "launcher": "slurm", "host": "h"})
    ledger.append({"event": "state", "run_id": "a", "state": "running", "step": 0})
    ledger.append({"event": "state", "run_id": "a", "state": "preempted", "step": 5})
    ledger.append({"event": "submitted", "run_id": "a", "job_id": "9", "launcher": "slurm", "host": "h"})
    with ledger.path.open("a") as fh:
        fh.write('{"event": "state", "run_id": "a", "sta')  # a writer killed mid-line
    runs = ledger.runs()
    assert list(runs) == ["a", "b"]
    assert runs["a"].values == {"selector": "wmi", "seed": "0"}
    assert [j["job_id"] for j in runs["a"].jobs] == ["7_0", "9"] and runs["a"].job["job_id"] == "9"
    assert (runs["a"].state, runs["a"].step) == ("submitted", 5)
    assert runs["b"].job is None
    assert sweep_names(tmp_path) == ["s"]


def test_reading_writes_nothing(tmp_path):
    ledger = Ledger(tmp_path / "s")
    assert ledger.runs() == {} and ledger.events() == []
    assert not (tmp_path / "s").exists()


JOB = {"job_id": "12_3", "launcher": "slurm", "host": "h"}


@pytest.mark.parametrize(
    ("status", "job", "job_state", "klass", "shown"),
    [
        ({}, None, None, "new", "new"),
        ({"state": "done", "step": 9}, JOB, "COMPLETED", "done", "done"),
        ({"state": "done", "step": 9}, None, None, "done", "done"),
        ({}, JOB, "PENDING", "running", "pending"),
        ({"state": "running", "step": 3}, JOB, "RUNNING", "running", "running"),
        ({"state": "preempted", "step": 3}, JOB, "PENDING", "running", "requeued"),
        ({"state": "preempted", "step": 3}, JOB, "REQUEUED", "running", "requeued"),
        ({"state": "running", "step": 3}, JOB, "COMPLETING", "running", "running"),
        ({"state": "failed", "step": 3}, JOB, "FAILED", "failed", "failed"),
        ({"state": "running", "step": 3}, JOB, "OUT_OF_MEMORY", "failed", "failed (OUT_OF_MEMORY)"),
        ({"state": "running", "step": 3}, JOB, "CANCELLED", "failed", "failed (CANCELLED)"),
        ({"state": "preempted", "step": 3}, JOB, "CANCELLED", "failed", "preempted"),
        ({}, JOB, "COMPLETED", "failed", "failed (job ended early)"),
        ({"state": "running", "step": 3}, JOB, "UNKNOWN", "running", "running"),  # nobody can tell: never resubmit
        ({"state": "failed", "step": 3}, JOB, "UNKNOWN", "failed", "failed"),
        ({"state": "failed", "step": 3}, None, None, "failed", "failed"),
    ],
)
def test_runs_are_classified_from_status_ledger_and_scheduler(status, job, job_state, klass, shown):
    assert run_state(status, job, job_state) == klass
    assert display_state(status, job, job_state) == shown


def test_local_jobs_are_running_while_their_process_lives():
    from insight_cli.launch.scheduler import job_states

    me = {"job_id": str(os.getpid()), "launcher": "local", "host": os.uname().nodename, "pid": os.getpid()}
    gone = {"job_id": "999999999", "launcher": "local", "host": os.uname().nodename, "pid": 999999999}
    elsewhere = {"job_id": "1", "launcher": "local", "host": "another-host", "pid": 1}
    states = job_states([me, gone, elsewhere])
    assert states == {str(os.getpid()): "RUNNING", "999999999": "COMPLETED", "1": "UNKNOWN"}


def test_never_started_arrays_expand_to_their_tasks():
    from insight_cli.launch.scheduler import expand_array_id

    assert expand_array_id("32_[0-1%2]") == ["32_0", "32_1"]
    assert expand_array_id("12_[0-2,5%4]") == ["12_0", "12_1", "12_2", "12_5"]
    assert expand_array_id("7_3") == ["7_3"] and expand_array_id("9") == ["9"]
