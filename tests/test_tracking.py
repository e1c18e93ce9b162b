"""Experiment trackers, read back with each package's own reader: TensorBoard event files, a W&B offline run
folder, an MLflow store. Each holds every metric at every step exactly once, across a preemption and a resume;
a tracker that cannot start is a one-line error (exit code 2) before anything is written; the default needs none of
the packages."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.runs import RunDir
from insight_cli.train import run as run_module
from insight_cli.train import tracking
from insight_cli.train.selection import PromptSelection
from insight_cli.train.stopping import request_stop

ALL_THREE = "tracking=[tensorboard,wandb,mlflow]"
TIMING = ("wall_s", "step_s", "selector_s", "step_time")  # wall-clock fields differ between a step and its re-run


def needs(*packages: str):
    """Skip (with the reason) unless the tracker packages are installed; CI installs them (the `track` extra)."""
    import importlib.util

    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed: pip install -e '.[track]'")


# ---------------------------------------------------------------------------------------------- readers
def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag → [(step, value)] over every event file, in write order, duplicates kept (TensorBoard's file loader)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars" or value.HasField("simple_value"):
                    number = (
                        value.simple_value
                        if value.HasField("simple_value")
                        else tensor_util.make_ndarray(value.tensor)
                    )
                    scalars.setdefault(value.tag, []).append((event.step, float(number)))
    return scalars


def tensorboard_accumulated(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard itself shows: its EventAccumulator over the run folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def leveldb_records(data: bytes):
    """The records of a W&B transaction log (.wandb): LevelDB log framing (7-byte file header, 32 KiB blocks,
    records of crc32 · length · type), the format W&B's datastore writes."""
    pos, block, parts = 7, 32768, []
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            parts = [chunk]
        elif kind == 3:
            parts.append(chunk)
        elif kind == 4:
            yield b"".join([*parts, chunk])


def wandb_offline(folder: Path) -> tuple[list[dict], list[dict]]:
    """(history rows, run records) of every offline run under ``folder``, parsed with W&B's own protobuf schema."""
    from wandb.proto import wandb_internal_pb2 as pb

    history, runs = [], []
    for path in sorted(folder.glob("**/offline-run-*/run-*.wandb")):
        for data in leveldb_records(path.read_bytes()):
            record = pb.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history.append(
                    {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.history.item}
                )
            elif kind == "run":
                config = {u.key: json.loads(u.value_json) for u in record.run.config.update}
                runs.append(
                    {
                        "id": record.run.run_id,
                        "name": record.run.display_name,
                        "config": config,
                        "tags": list(record.run.tags),
                        "group": record.run.run_group,
                    }
                )
    return history, runs


def mlflow_run(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, "one MLflow run per run directory, resumed rather than duplicated"
    return client, runs[0]


def wandb_points(history: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """tag → [(step, value)] from the rows of a W&B offline history."""
    points: dict[str, list[tuple[int, float]]] = {}
    for row in history:
        for key, value in row.items():
            points.setdefault(key, []).append((row["_step"], value))
    return points


def mlflow_points(client, run, tags) -> dict[str, list[tuple[int, float]]]:
    """tag → [(step, value)] of an MLflow run, for the given tags."""
    return {
        tag: [
            (m.step, m.value)
            for m in client.get_metric_history(run.info.run_id, tracking.MlflowTracker.metric_name(tag))
        ]
        for tag in tags
    }


# ---------------------------------------------------------------------------------------------- expectations
def expected_points(run_dir: RunDir) -> dict[str, dict[int, float]]:
    """tag → {step: value} that the JSONL files say every tracker must hold (tracking.scalars of each record)."""
    expected: dict[str, dict[int, float]] = {}
    for stream in tracking.STREAMS:
        for record in run_dir.read(stream):
            for tag, value in tracking.scalars(stream, record).items():
                expected.setdefault(tag, {})[int(record["step"])] = value
    return expected


def assert_holds_every_point_once(points: dict[str, list[tuple[int, float]]], expected, what: str) -> None:
    for tag, by_step in expected.items():
        got = points.get(tag, [])
        counts = Counter(step for step, _ in got)
        assert sorted(counts) == sorted(by_step), f"{what}: {tag} at steps {sorted(counts)}, want {sorted(by_step)}"
        assert max(counts.values()) == 1, f"{what}: {tag} has a step twice: {counts}"
        if tag.split("/")[-1] in TIMING:
            continue
        for step, value in got:
            assert value == pytest.approx(by_step[step], rel=1e-5, abs=1e-6), f"{what}: {tag} at step {step}"


# ---------------------------------------------------------------------------------------------- the trackers alone
def write_step(run_dir: RunDir, sink, step: int) -> None:
    records = {
        "selection.jsonl": {
            "step": step,
            "prompt_ids": [3, 5],
            "scores": [0.1, 0.3],
            "beliefs": [0.25, 0.75],
            "successes": [1, 4],
            "trials": 4,
        },
        "eval.jsonl": {
            "step": step,
            "rollouts": 8 * step,
            "benchmark": "countdown",
            "pass@1": 0.1 * step,
            "n_samples": 2,
            "n_problems": 4,
        },
        "metrics.jsonl": {
            "step": step,
            "rollouts": 8 * step,
            "reward_mean": 0.5 + step,
            "frac_mixed_groups": 0.25,
            "chosen_belief_mean": None,
            "wall_s": 1.0 * step,
        },
    }
    for stream, record in records.items():
        run_dir.append(stream, record)
        sink.log(stream, record)


def test_records_become_named_scalars():
    selection = {"step": 4, "beliefs": [0.2, 0.4, 0.9], "scores": [1.0, 3.0], "successes": [1, 3], "trials": 4}
    assert tracking.scalars("selection.jsonl", selection) == pytest.approx(
        {
            "selection/belief_mean": 0.5,
            "selection/belief_p10": 0.24,
            "selection/belief_p50": 0.4,
            "selection/belief_p90": 0.8,
            "selection/score_mean": 2.0,
            "selection/chosen_success_rate": 0.5,
        }
    )
    evaluation = {"step": 2, "rollouts": 9, "benchmark": "cd4", "pass@1": 0.25, "n_samples": 8, "n_problems": 3}
    assert tracking.scalars("eval.jsonl", evaluation) == {"eval/cd4/pass@1": 0.25}
    metrics = {"step": 2, "reward_mean": 0.5, "chosen_belief_mean": None, "flag": True, "note": "x"}
    assert tracking.scalars("metrics.jsonl", metrics) == {"train/reward_mean": 0.5}
    assert tracking.MlflowTracker.metric_name("eval/cd4/pass@1") == "eval/cd4/pass_at_1"


def test_default_tracking_is_the_null_tracker_and_imports_no_tracker_package(tmp_path):
    code = (
        "import sys; from insight_cli.config import compose; from insight_cli.runs import RunDir;"
        "from insight_cli.train import run, tracking;"
        f"t = tracking.open_tracking(compose([]), RunDir({str(tmp_path)!r}), 0);"
        "t.log('metrics.jsonl', {'step': 1, 'reward_mean': 0.5}); t.finish('done');"
        "assert type(t) is tracking.NullTracking, type(t);"
        "loaded = [m for m in ('wandb', 'mlflow', 'tensorboard', 'torch.utils.tensorboard') if m in sys.modules];"
        "assert not loaded, loaded"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not (tmp_path / "tracking").exists()


def test_default_tracking_passes_preflight_without_any_tracker_package(monkeypatch):
    from insight_cli import envinfo
    from insight_cli.launch import preflight

    monkeypatch.setattr(envinfo, "has_module", lambda name, python=None: name not in tracking.PACKAGES.values())
    assert preflight.environment_problems(compose([])) == []
    problems = preflight.environment_problems(compose(["tracking=[tensorboard,mlflow]"]))
    assert len(problems) == 2 and all("pip install -e '.[track]'" in p for p in problems)


@needs("tensorboard", "wandb", "mlflow")
def test_each_tracker_holds_every_step_once_across_a_restart(tmp_path):
    """Steps 1-3 sent, the run restarts from a checkpoint at step 2 (step 3 is re-done): the trackers re-open their
    runs and hold steps 1-4 once each; the state file says how far each got."""
    cfg = compose([ALL_THREE, "tracking.wandb.mode=offline", "sweep=unit"])
    run_dir = RunDir(tmp_path / "unit" / "abc123")
    run_dir.write_config(cfg)
    sink = tracking.open_tracking(cfg, run_dir, resume_step=0)
    for step in (1, 2, 3):
        write_step(run_dir, sink, step)
    sink.finish("preempted")
    run_dir.truncate_after(2)  # what run_training does when it resumes from checkpoint-2
    sink = tracking.open_tracking(cfg, run_dir, resume_step=2)
    for step in (3, 4):
        write_step(run_dir, sink, step)
    sink.finish("done")

    expected = expected_points(run_dir)
    folder = run_dir.path / "tracking"
    assert_holds_every_point_once(tensorboard_scalars(folder / "tensorboard"), expected, "tensorboard")
    history, runs = wandb_offline(folder / "wandb")
    assert_holds_every_point_once(wandb_points(history), expected, "wandb")
    assert {r["id"] for r in runs} == {"unit-abc123"} and len(runs) == 2  # the same W&B run, opened twice
    client, run = mlflow_run(f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}", "unit")
    assert_holds_every_point_once(mlflow_points(client, run, expected), expected, "mlflow")
    assert run.info.status == "FINISHED" and run.data.tags["insight.run_id"] == "abc123"
    state = json.loads(run_dir.file(tracking.STATE_FILE).read_text())
    assert all(state[name]["sent"] == dict.fromkeys(tracking.STREAMS, 4) for name in tracking.PACKAGES)


@needs("mlflow")
def test_mlflow_file_store_holds_the_history(tmp_path, monkeypatch):
    """A file store (file:URI) works where MLflow allows it (MLflow 3.x asks for MLFLOW_ALLOW_FILE_STORE=true)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    cfg = compose(
        ["tracking=mlflow", f"tracking.mlflow.tracking_uri={store.as_uri()}", "tracking.mlflow.experiment=fs"]
    )
    run_dir = RunDir(tmp_path / "adhoc" / "feed00")
    sink = tracking.open_tracking(cfg, run_dir, resume_step=0)
    for step in (1, 2):
        write_step(run_dir, sink, step)
    sink.finish("done")
    client, run = mlflow_run(store.as_uri(), "fs")
    history = client.get_metric_history(run.info.run_id, "train/reward_mean")
    assert [(m.step, m.value) for m in history] == [(1, 1.5), (2, 2.5)]
    assert (store / run.info.experiment_id / run.info.run_id / "metrics").is_dir()  # the files of a file store
    assert run.data.params["selector.name"] == "wmi"


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        ([ALL_THREE, "tracking.wandb.mode=sometimes"], {}, "tracking.wandb.mode='sometimes' is unknown"),
        # the server checks run only with the package present (without it the error names the track extra)
        pytest.param(
            ["tracking=wandb"],
            {"WANDB_BASE_URL": "http://127.0.0.1:9"},
            "set tracking.wandb.mode=offline",
            marks=needs("wandb"),
        ),
        pytest.param(
            ["tracking=mlflow", "tracking.mlflow.tracking_uri=http://127.0.0.1:9"],
            {},
            "is not reachable",
            marks=needs("mlflow"),
        ),
    ],
)
def test_a_tracker_that_cannot_start_is_one_line_exit_2_and_nothing_written(
    insight_cmd, tmp_path, overrides, env, message, monkeypatch
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    results = tmp_path / "nothing"
    result = insight_cmd("train", "trainer=smoke", *overrides, f"paths.results_dir={results}")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not results.exists()


def test_a_missing_tracker_package_names_the_track_extra(insight_cmd, tmp_path, monkeypatch):
    from insight_cli import envinfo

    monkeypatch.setattr(envinfo, "has_module", lambda name, python=None: name != "wandb")
    results = tmp_path / "nothing"
    result = insight_cmd(
        "train", "trainer=smoke", "tracking=wandb", "tracking.wandb.mode=offline", f"paths.results_dir={results}"
    )
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "tracking=wandb needs the wandb package" in result.stderr and "pip install -e '.[track]'" in result.stderr
    assert not results.exists()


# ---------------------------------------------------------------------------------------------- a real training run
@needs("tensorboard", "wandb", "mlflow")
def test_insight_train_preempted_and_resumed_writes_every_step_once_to_all_three(
    insight_cmd, tmp_path, tiny_overrides, monkeypatch
):
    """A run with TensorBoard and W&B is preempted after step 2, whose checkpoint is then lost (as if the job was
    killed before it landed); `insight train trainer=smoke tracking=[…] tracking.wandb.mode=offline` resumes it and
    re-does step 2 from checkpoint-1. MLflow is
    switched on only at the resume, so it gets steps 0-1 replayed from the JSONL files. Every tracker holds every
    metric, evaluation and selection statistic of every step once, equal to the JSONL files."""
    results = tmp_path / "results"
    base = [
        *tiny_overrides,
        "trainer.steps=3",
        "trainer.save_every=1",
        "tracking.wandb.mode=offline",
        f"paths.results_dir={results}",
    ]
    original = PromptSelection.observe

    def observe_then_preempt(self, ids, accuracies):
        out = original(self, ids, accuracies)
        if self.observations == 2:
            request_stop()  # as the job's signal handler does on SIGUSR2
        return out

    monkeypatch.setattr(PromptSelection, "observe", observe_then_preempt)
    first_cfg = compose(["tracking=[tensorboard,wandb]", *base])
    run_dir = prepare_run_dir(first_cfg, overrides=[], command=["pytest"])
    assert run_module.run_training(first_cfg, run_dir) == {"state": "preempted", "step": 2}
    lost = run_module.latest_checkpoint(run_dir.checkpoints)
    assert lost.name == "checkpoint-2"
    import shutil

    shutil.rmtree(lost)
    monkeypatch.setattr(PromptSelection, "observe", original)
    second = insight_cmd("train", ALL_THREE, *base)
    assert second.exit_code == 0, second.output
    assert run_dir.read_status()["state"] == "done"

    expected = expected_points(run_dir)
    assert sorted(expected["train/reward_mean"]) == [1, 2, 3]
    assert sorted(expected["eval/countdown/pass@1"]) == [0, 2, 3]
    assert {"train/frac_mixed_groups", "train/chosen_belief_mean", "selection/belief_mean"} <= set(expected)
    folder = run_dir.path / "tracking"
    assert_holds_every_point_once(tensorboard_scalars(folder / "tensorboard"), expected, "tensorboard")
    shown = tensorboard_accumulated(folder / "tensorboard")
    assert {tag: sorted(s for s, _ in points) for tag, points in shown.items() if tag in expected} == {
        tag: sorted(steps) for tag, steps in expected.items()
    }
    history, runs = wandb_offline(folder / "wandb")
    assert_holds_every_point_once(wandb_points(history), expected, "wandb")
    assert runs[0]["name"] == run_dir.path.name and runs[0]["config"]["run_id"] == run_dir.path.name
    assert runs[0]["config"]["selector"]["name"] == "wmi" and runs[0]["group"] == "adhoc"
    client, run = mlflow_run(f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}", "adhoc")
    assert_holds_every_point_once(mlflow_points(client, run, expected), expected, "mlflow")
    assert run.data.params["trainer.steps"] == "3" and run.info.run_name == run_dir.path.name
    # selection.jsonl now says what each chosen prompt was believed to be and how it did
    for record in run_dir.read("selection.jsonl"):
        assert len(record["beliefs"]) == len(record["successes"]) == len(record["prompt_ids"])
        assert all(0 <= s <= record["trials"] for s in record["successes"])
    first_step = run_dir.read("selection.jsonl")[0]
    np.testing.assert_allclose(first_step["beliefs"], 0.5)  # nothing observed before the first choice
