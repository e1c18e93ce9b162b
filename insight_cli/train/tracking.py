"""Experiment trackers (TensorBoard, Weights & Biases, MLflow) fed from the records of the run directory.

    insight train trainer=smoke tracking=tensorboard                     # event files in <run>/tracking/tensorboard
    insight train tracking=[tensorboard,wandb,mlflow] tracking.wandb.mode=offline
    tensorboard --logdir results/adhoc                                   # every run of a sweep side by side

The JSONL files stay the source of truth. The recorder (train/run.py) appends a record to metrics.jsonl, eval.jsonl
or selection.jsonl and then hands the same record to :meth:`Tracking.log`, which turns it into scalars at x = the
training step and fans them out to every tracker chosen in ``cfg.tracking``:

    train/<key>               every number of a metrics.jsonl line (reward, selector metrics, TRL's loss, …)
    eval/<benchmark>/pass@1   every number of an eval.jsonl line (pass@1, at the step it was evaluated)
    selection/<stat>          the chosen prompts: mean and 10/50/90th percentiles of their believed success (selectors
                              with Beta beliefs), mean ranking score, share of their rollouts that succeeded

Each tracker also gets the resolved config and the run id once: W&B as the run's config (id ``<sweep>-<run_id>``,
name = the run id, group = the sweep, tags = the sweep's axis values from the ledger), MLflow as params, tags and
a ``config.yaml`` artifact, TensorBoard as text.

Resume without duplicated steps: ``<run>/tracking/state.json`` holds, per tracker and per stream, the last step sent
(and MLflow's run id). A resumed run re-opens the same tracker run (W&B ``resume="allow"`` with the same id; the same
MLflow run; TensorBoard appends to the same folder), sends nothing at or below those steps, and first replays from
the JSONL files whatever a tracker missed up to the checkpoint (a tracker switched on at resume gets the whole
history). After a hard kill (no chance to flush) a tracker may lack the last records before it; the JSONL files
have them.

Why not TRL's ``report_to``: transformers' callbacks see only the Trainer's log dict (not eval.jsonl, the selection
records or the selector metrics the recorder adds), are configured through environment variables (WANDB_PROJECT,
MLFLOW_RUN_ID, …), and do not resume cleanly (TensorBoardCallback re-writes the steps after the checkpoint, the MLflow
callback opens a new run unless MLFLOW_RUN_ID is set). So ``report_to`` stays ``"none"`` and this module does it.

Runs where no tracker is chosen (``tracking=jsonl``, the default) get :class:`NullTracking`, with the same methods:
the training code never asks whether a tracker is on, and none of the tracker packages is imported.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from insight_cli import envinfo
from insight_cli.errors import ConfigError
from insight_cli.runs import RunDir, atomic_write_text

# tracker name (a key under cfg.tracking) → the package it needs (the `track` extra installs them all)
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
TRACK_HINT = "install the track extra (pip install -e '.[track]')"
WANDB_MODES = ("online", "offline", "disabled")
WANDB_DEFAULT_URL = "https://api.wandb.ai"
# the JSONL files a tracker receives, in the order the recorder writes a step's records
STREAMS = ("selection.jsonl", "eval.jsonl", "metrics.jsonl")
STATE_FILE = "tracking/state.json"
NETWORK_TIMEOUT_S = 3.0
# eval.jsonl fields that describe the evaluation rather than measure the policy
EVAL_DESCRIPTORS = ("step", "rollouts", "benchmark", "n_samples", "n_problems")


class TrackerError(ConfigError):
    """A tracker cannot start: one line naming the fix (exit code 2 through the CLI)."""


def chosen(cfg: Any) -> list[str]:
    """The trackers chosen in ``cfg.tracking`` (``tracking=[tensorboard,wandb]`` → ["tensorboard", "wandb"])."""
    tracking = cfg.get("tracking") or {}
    return [name for name in PACKAGES if name in tracking]


# ---------------------------------------------------------------------------------------------- checks before launch
def config_problems(cfg: Any) -> list[str]:
    """Tracker settings out of range, one line each (pure: safe for --dry-run)."""
    wandb = (cfg.get("tracking") or {}).get("wandb")
    if wandb is None:
        return []
    problems = []
    if str(wandb.get("mode")) not in WANDB_MODES:
        problems.append(f"tracking.wandb.mode={wandb.get('mode')!r} is unknown: use online, offline or disabled")
    long = [t for t in wandb.get("tags") or [] if len(str(t)) > 64]
    if long:
        problems.append(f"tracking.wandb.tags has a tag over 64 characters ({str(long[0])[:20]}…): shorten it")
    return problems


def environment_problems(cfg: Any, python: str | None = None) -> list[str]:
    """The chosen trackers against this machine: the package importable in the run's interpreter (``python``, a
    command line, else this one), and for W&B online or a remote MLflow server, the server reachable."""
    problems = []
    where = f"launcher.python ({python})" if python else "this Python"
    for name in chosen(cfg):
        if not envinfo.has_module(PACKAGES[name], python):
            problems.append(f"tracking={name} needs the {PACKAGES[name]} package, missing in {where}: {TRACK_HINT}")
    tracking = cfg.get("tracking") or {}
    wandb = tracking.get("wandb")
    if wandb is not None and str(wandb.get("mode")) == "online":
        url = os.environ.get("WANDB_BASE_URL") or WANDB_DEFAULT_URL
        reason = unreachable(url)
        if reason:
            problems.append(
                f"tracking.wandb.mode=online cannot reach the W&B server {url} ({reason}): set "
                "tracking.wandb.mode=offline (upload later with `wandb sync`) or run where the server is reachable"
            )
    uri = str((tracking.get("mlflow") or {}).get("tracking_uri") or "")
    if uri.startswith(("http://", "https://")):
        reason = unreachable(uri)
        if reason:
            problems.append(
                f"tracking.mlflow.tracking_uri={uri} is not reachable ({reason}): start the server, or set "
                "tracking.mlflow.tracking_uri=null (a local store in the run directory)"
            )
    return problems


def unreachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the URL's host and port opens within ``timeout`` seconds, else why not."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return " ".join(str(exc.strerror or exc).split()) or type(exc).__name__


# ---------------------------------------------------------------------------------------------- records → scalars
def scalars(stream: str, record: Mapping[str, Any]) -> dict[str, float]:
    """The scalars a JSONL record becomes (names as in the module docstring); non-numbers are left out."""
    if stream == "metrics.jsonl":
        return {f"train/{k}": float(v) for k, v in record.items() if k != "step" and _is_number(v)}
    if stream == "eval.jsonl":
        bench = str(record.get("benchmark", "held_out"))
        return {
            f"eval/{bench}/{k}": float(v) for k, v in record.items() if k not in EVAL_DESCRIPTORS and _is_number(v)
        }
    out: dict[str, float] = {}
    beliefs = _numbers(record.get("beliefs"))
    if beliefs.size:
        out["selection/belief_mean"] = float(beliefs.mean())
        for q in (10, 50, 90):
            out[f"selection/belief_p{q}"] = float(np.percentile(beliefs, q))
    scores = _numbers(record.get("scores"))
    if scores.size:
        out["selection/score_mean"] = float(np.nanmean(scores))
    successes, trials = _numbers(record.get("successes")), record.get("trials")
    if successes.size and trials:
        out["selection/chosen_success_rate"] = float(successes.sum()) / (float(trials) * successes.size)
    return out


def _numbers(values: Any) -> np.ndarray:
    """A list (or array) of numbers from a record as float64; empty when absent."""
    return np.zeros(0) if values is None else np.asarray(values, dtype=np.float64).reshape(-1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


# ---------------------------------------------------------------------------------------------- for every tracker
@dataclass
class RunInfo:
    """Who the run is, for the trackers: run id, sweep, tags (axis values), resolved config, run directory."""

    run_id: str
    sweep: str
    tags: list[str]
    config: dict
    run_dir: RunDir
    state: dict = field(default_factory=dict)  # this tracker's entry of tracking/state.json

    def folder(self, configured: str) -> Path:
        """A tracker folder: relative paths under the run directory, absolute ones as given (+ sweep/run_id)."""
        path = Path(configured).expanduser()
        return path / self.sweep / self.run_id if path.is_absolute() else self.run_dir.path / path


def axis_tags(run_dir: RunDir) -> list[str]:
    """``key=value`` for each sweep axis value of this run (from the ledger's planned event); [] for ad-hoc runs."""
    from insight_cli.runs import Ledger

    record = Ledger(run_dir.path.parent).runs().get(run_dir.path.name)
    return [f"{k}={v}" for k, v in (record.values if record else {}).items()]


def flat_params(tree: Any, prefix: str = "") -> dict[str, str]:
    """Nested config → {"a.b": "value"} (lists as JSON), the form MLflow params take."""
    if isinstance(tree, Mapping):
        out: dict[str, str] = {}
        for key, value in tree.items():
            out.update(flat_params(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: json.dumps(tree) if isinstance(tree, list) else str(tree)}


# ---------------------------------------------------------------------------------------------- the trackers
class TensorBoardTracker:
    """Scalars and the config as text in TensorBoard event files (torch's SummaryWriter)."""

    name = "tensorboard"

    def __init__(self, settings: Mapping[str, Any], info: RunInfo):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(info.folder(str(settings.get("dir") or "tracking/tensorboard"))))
        if not info.state:  # first start: the config and the run id, once
            config_text = json.dumps(info.config, indent=2, default=str)
            self.writer.add_text("run_id", f"{info.sweep}/{info.run_id} ({', '.join(info.tags) or 'no sweep axes'})")
            self.writer.add_text("config", "\n".join("    " + line for line in config_text.splitlines()))

    def log(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def finish(self, state: str) -> None:
        self.writer.add_text("state", state)
        self.writer.close()


class WandbTracker:
    """One W&B run per run directory: id ``<sweep>-<run_id>``, resumed (``resume="allow"``) after preemption."""

    name = "wandb"

    def __init__(self, settings: Mapping[str, Any], info: RunInfo):
        import wandb

        folder = info.folder(str(settings.get("dir") or "tracking/wandb"))
        folder.mkdir(parents=True, exist_ok=True)
        self.wandb = wandb
        self.run = wandb.init(
            project=str(settings.get("project") or "insight"),
            entity=settings.get("entity"),
            id=re.sub(r"[^A-Za-z0-9_-]", "_", f"{info.sweep}-{info.run_id}"),
            name=info.run_id,
            group=str(settings.get("group") or info.sweep),
            tags=[str(t)[:64] for t in [*info.tags, *(settings.get("tags") or [])]],
            config={**info.config, "run_id": info.run_id},
            dir=str(folder),
            mode=str(settings.get("mode") or "online"),
            resume="allow",
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True, save_code=False),
        )

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def flush(self) -> None:
        """W&B's own service writes and uploads asynchronously."""

    def finish(self, state: str) -> None:
        if state == "preempted":
            self.run.mark_preempting()
        self.run.summary["insight_state"] = state
        self.run.finish(exit_code=0 if state in ("done", "preempted") else 1)


class MlflowTracker:
    """One MLflow run per run directory (its id kept in tracking/state.json, so a resumed run re-opens it)."""

    name = "mlflow"
    STATUS = {"done": "FINISHED", "preempted": "KILLED", "failed": "FAILED"}
    BATCH = 100  # MLflow's log_batch takes at most 100 params per call (1,000 metrics)

    def __init__(self, settings: Mapping[str, Any], info: RunInfo):
        for noisy in ("mlflow", "alembic"):  # database set-up chatter on first use
            logging.getLogger(noisy).setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        local = info.run_dir.path / "tracking" / "mlflow"
        uri = settings.get("tracking_uri")
        if not uri:
            local.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{local / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=str(uri))
        experiment_name = str(settings.get("experiment") or info.sweep)
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            artifacts = (local / "artifacts").as_uri() if not settings.get("tracking_uri") else None
            experiment_id = self.client.create_experiment(experiment_name, artifact_location=artifacts)
        else:
            experiment_id = experiment.experiment_id
        self.run_id = info.state.get("mlflow_run_id")
        if self.run_id:
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {"insight.run_id": info.run_id, "insight.sweep": info.sweep}
            tags.update(dict(t.split("=", 1) for t in info.tags if "=" in t))
            self.run_id = self.client.create_run(experiment_id, run_name=info.run_id, tags=tags).info.run_id
            self._log_config(info.config)
        info.state["mlflow_run_id"] = self.run_id

    def _log_config(self, config: dict) -> None:
        from mlflow.entities import Param

        params = [Param(k[:250], v[:6000]) for k, v in flat_params(config).items()]
        for start in range(0, len(params), self.BATCH):
            self.client.log_batch(self.run_id, params=params[start : start + self.BATCH])
        self.client.log_text(self.run_id, json.dumps(config, indent=2, default=str), "config.json")

    @staticmethod
    def metric_name(key: str) -> str:
        """MLflow allows letters, digits, _ - . / space and colon: pass@1 becomes pass_at_1."""
        return re.sub(r"[^\w\-./ :]", "_", key.replace("@", "_at_"))

    def log(self, step: int, values: Mapping[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(self.metric_name(k), v, stamp, step) for k, v in values.items()]
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + 1000])

    def flush(self) -> None:
        """Every log_batch is already written to the store."""

    def finish(self, state: str) -> None:
        self.client.set_tag(self.run_id, "insight.state", state)
        self.client.set_terminated(self.run_id, status=self.STATUS.get(state, "FAILED"))


# tracker name → class (a key under cfg.tracking turns it on)
TRACKERS = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MlflowTracker}


# ---------------------------------------------------------------------------------------------- the fan-out
class NullTracking:
    """No tracker chosen, or not the main process: the same methods, doing nothing."""

    def log(self, stream: str, record: Mapping[str, Any]) -> None:
        pass

    def finish(self, state: str) -> None:
        pass

    def __enter__(self) -> NullTracking:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        pass


class Tracking(NullTracking):
    """The chosen trackers, each with its per-stream cursor (last step sent) kept in tracking/state.json."""

    def __init__(self, trackers: list, run_dir: RunDir, state: dict):
        self.trackers = trackers
        self.run_dir = run_dir
        self.state = state  # tracker name → {"sent": {stream: last step}, …}
        self.finished = False

    def log(self, stream: str, record: Mapping[str, Any]) -> None:
        """Send one JSONL record to every tracker that has not had this stream at this step yet."""
        step = int(record.get("step", 0))
        values = scalars(stream, record)
        for tracker in self.trackers:
            sent = self.state[tracker.name].setdefault("sent", {})
            if step <= sent.get(stream, -1):
                continue
            if values:
                tracker.log(step, values)
            if stream == STREAMS[-1]:
                tracker.flush()
            sent[stream] = step
        self._save()

    def replay(self, up_to: int) -> None:
        """Send what a tracker missed up to step ``up_to`` from the JSONL files, in step order across streams."""
        records = [
            (int(r.get("step", 0)), STREAMS.index(stream), stream, r)
            for stream in STREAMS
            for r in self.run_dir.read(stream)
            if int(r.get("step", 0)) <= up_to
        ]
        for _, _, stream, record in sorted(records, key=lambda item: item[:2]):
            self.log(stream, record)

    def finish(self, state: str) -> None:
        if self.finished:
            return
        self.finished = True
        for tracker in self.trackers:
            tracker.finish(state)
        self._save()

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None:
            self.finish("preempted" if isinstance(exc, KeyboardInterrupt) else "failed")

    def _save(self) -> None:
        atomic_write_text(self.run_dir.file(STATE_FILE), json.dumps(self.state, indent=1, sort_keys=True))


def read_state(run_dir: RunDir) -> dict:
    path = run_dir.file(STATE_FILE)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def open_tracking(cfg: Any, run_dir: RunDir, resume_step: int, main: bool = True) -> NullTracking:
    """Start the trackers chosen in ``cfg.tracking`` for this run (re-opening their runs on resume) and replay from
    the JSONL files what they miss up to ``resume_step``; :class:`NullTracking` when none is chosen or on a rank
    other than the main one. A tracker that cannot start raises :class:`TrackerError` (one line, naming the fix)."""
    names = chosen(cfg)
    if not names or not main:
        return NullTracking()
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    state = read_state(run_dir)
    run_dir.file("tracking").mkdir(parents=True, exist_ok=True)
    trackers = []
    base = RunInfo(
        run_dir.path.name, str(cfg.get("sweep") or run_dir.path.parent.name), axis_tags(run_dir), config, run_dir
    )
    for name in names:
        entry = state.setdefault(name, {})
        info = RunInfo(base.run_id, base.sweep, base.tags, base.config, run_dir, entry)
        try:
            trackers.append(TRACKERS[name](cfg.tracking[name], info))
        except ImportError as exc:
            raise TrackerError(f"tracking={name} cannot start ({exc}): {TRACK_HINT}") from None
        except Exception as exc:  # each package raises its own types for a bad setting or an unreachable server
            message = " ".join(str(exc).split())[:300]
            hint = "set tracking.wandb.mode=offline" if name == "wandb" else f"check tracking.{name}.*"
            raise TrackerError(f"tracking={name} cannot start ({type(exc).__name__}: {message}): {hint}") from None
    tracking = Tracking(trackers, run_dir, state)
    tracking.replay(resume_step)
    return tracking
