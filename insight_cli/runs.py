"""Run identity, the run-directory contract and the sweep's ledger (DESIGN.md §4).

``results/<sweep>/<run_id>/`` where run_id is a short hash of the resolved config without the keys that say
*where* or *how* a run is launched or tracked (launcher, tracking, paths): the same experiment always maps to the
same directory, so a requeued or resubmitted job finds its checkpoints. Every writer here is the one the trainer
uses, and the report reads what it writes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insight_cli.safe_read import DamagedFile, JsonLines, json_lines, load_json, warn

# Keys that do not change what is computed, hence not part of the run identity.
IDENTITY_EXCLUDED = ("launcher", "tracking", "paths", "sweep")
RUN_ID_LENGTH = 12
STATES = ("pending", "running", "done", "failed", "preempted")


def _plain(cfg: Any) -> Any:
    """A resolved OmegaConf config (or plain mapping) as JSON-able Python containers."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(cfg, DictConfig | ListConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return cfg


def run_id(cfg: Any) -> str:
    """Short stable hash of the resolved config minus launcher/tracking/paths/sweep keys."""
    plain = {k: v for k, v in _plain(cfg).items() if k not in IDENTITY_EXCLUDED}
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:RUN_ID_LENGTH]


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and os.replace, so readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_jsonl(path: Path) -> Iterator[dict]:
    """Yield the JSON-object lines of a file (none if it is missing). A truncated last line (a job killed
    mid-write) is skipped silently; other damage (binary, too big, unreadable lines) is skipped with a warning."""
    try:
        lines = json_lines(path)
    except FileNotFoundError:
        return
    except DamagedFile as exc:
        warn(path, f"{exc.problem}; not read")
        return
    if lines.damage:
        warn(path, lines.damage)
    yield from lines.records


class RunDir:
    """One run's directory and its files. Construct with the directory; nothing is written until asked."""

    JSONL_FILES = ("metrics.jsonl", "eval.jsonl", "selection.jsonl")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.damaged: dict[str, str] = {}  # file name → what was wrong with it when last read

    @classmethod
    def for_config(cls, cfg: Any, results_dir: str | os.PathLike, sweep: str = "adhoc") -> RunDir:
        return cls(Path(results_dir) / sweep / run_id(cfg))

    # ---------------------------------------------------------------- paths
    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def submitit_dir(self) -> Path:
        return self.path / "submitit"

    def file(self, name: str) -> Path:
        return self.path / name

    # ---------------------------------------------------------------- writers
    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, cfg: Any) -> None:
        from omegaconf import OmegaConf

        self.create()
        atomic_write_text(self.file("config.yaml"), OmegaConf.to_yaml(OmegaConf.create(_plain(cfg))))

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        self.create()
        atomic_write_text(self.file("meta.json"), json.dumps(meta, indent=2, sort_keys=True, default=str))

    def read_meta(self) -> dict:
        """meta.json ({} when missing, or damaged: then a warning, and ``damaged`` names it)."""
        meta = self._read_document("meta.json")
        if not isinstance(meta.get("attempts", []), list):
            self._damage("meta.json", "has an 'attempts' that is not a list; attempts ignored")
            meta.pop("attempts")
        return meta

    def record_attempt(self, job_id: str | None, **extra: Any) -> None:
        """Append one attempt (job id, host, time) to meta.json's ``attempts`` list."""
        meta = self.read_meta()
        meta.setdefault("attempts", []).append(
            {"job_id": job_id, "host": socket.gethostname(), "started_at": now_iso(), **extra}
        )
        self.write_meta(meta)

    def set_status(self, state: str, step: int, error: str | None = None, **extra: Any) -> None:
        if state not in STATES:
            raise ValueError(f"unknown run state {state!r}; expected one of {STATES}")
        self.create()
        record = {"state": state, "step": int(step), "updated_at": now_iso(), "error": error, **extra}
        atomic_write_text(self.file("status.json"), json.dumps(record, indent=2))

    def read_status(self) -> dict:
        """status.json ({} when missing, or damaged: then a warning, and ``damaged`` names it); a ``step`` that is
        not a whole number ≥ 0 is dropped with a warning, so callers can trust ``int(status.get("step", 0))``."""
        status = self._read_document("status.json")
        step = status.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            self._damage("status.json", f"has step {step!r}, not a whole number ≥ 0; step ignored")
            status.pop("step")
        return status

    def _read_document(self, name: str) -> dict:
        self.damaged.pop(name, None)
        try:
            return load_json(self.file(name))
        except FileNotFoundError:
            return {}
        except DamagedFile as exc:
            self._damage(name, f"{exc.problem}; ignored")
            return {}

    def _damage(self, name: str, problem: str) -> None:
        self.damaged[name] = problem
        warn(self.file(name), problem)

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        """Append one JSON line to metrics/eval/selection.jsonl and flush it to disk."""
        if name not in self.JSONL_FILES:
            raise ValueError(f"{name} is not a run-directory JSONL file ({self.JSONL_FILES})")
        self.create()
        with self.file(name).open("a") as fh:
            fh.write(json.dumps(record, default=_json_default) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, name: str) -> list[dict]:
        return list(read_jsonl(self.file(name)))

    def truncate_after(self, step: int) -> None:
        """Drop JSONL records with step > ``step`` (written after the checkpoint a resumed run restarts from),
        so a resumed run leaves no duplicate step."""
        for name in self.JSONL_FILES:
            path = self.file(name)
            if not path.exists():
                continue
            try:
                lines = json_lines(path)
                problem = lines.damage
            except DamagedFile as exc:
                lines, problem = JsonLines(), exc.problem
            if problem:  # nothing a user ran is lost: the file as it was stays beside the rewritten one
                kept_as = _free_name(path.with_name(f"{name}.damaged"))
                shutil.copy2(path, kept_as)
                warn(path, f"{problem}; kept as {kept_as.name}, rewritten with its readable records to step {step}")
            kept = [r for r in lines.records if _step_of(r) <= step]
            atomic_write_text(path, "".join(json.dumps(r, default=_json_default) + "\n" for r in kept))


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``… : the first that does not exist yet."""
    candidate, number = path, 0
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


def _step_of(record: Mapping[str, Any]) -> float:
    """A record's ``step`` as a number (a damaged one sorts after every checkpoint, so it is dropped)."""
    step = record.get("step", 0)
    return float(step) if isinstance(step, int | float) and not isinstance(step, bool) else math.inf


def _json_default(obj: Any) -> Any:
    """NumPy scalars and arrays in records become plain JSON numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------- the sweep's ledger
# The per-sweep job ledger ``results/<sweep>/ledger.jsonl`` (DESIGN §4): append-only, one JSON line per event.
#
# Events (every line has ``time``, ``event`` and ``run_id``):
#
# - ``planned``   a run entered the sweep: its axis ``values`` and ``overrides``
# - ``submitted`` a job was submitted for it: ``job_id``, ``launcher``, ``host``
# - ``state``     the job reported a state: ``state`` (running, done, failed, preempted, requeued), ``step``,
#               ``job_id``
#
# Writers take the sweep's file lock for each append; ``insight sweep`` also holds it while it classifies and
# submits, so two sweeps started at once never submit the same run twice. A line cut short by a killed writer is
# skipped on reading.
LEDGER_FILE = "ledger.jsonl"
LOCK_TIMEOUT_S = 600.0


@dataclass
class RunRecord:
    """What the ledger says about one run: its axis values, every submission, and the last reported state."""

    run_id: str
    values: dict[str, Any] = field(default_factory=dict)
    jobs: list[dict] = field(default_factory=list)
    state: str | None = None
    step: int | None = None

    @property
    def job(self) -> dict | None:
        """The latest submission (job id, launcher, host), if any."""
        return self.jobs[-1] if self.jobs else None


class Ledger:
    """``<sweep_dir>/ledger.jsonl`` and its lock file; nothing is written until :meth:`append`."""

    def __init__(self, sweep_dir: str | os.PathLike):
        self.sweep_dir = Path(sweep_dir)
        self.path = self.sweep_dir / LEDGER_FILE
        self._lock = None

    @property
    def lock(self):
        if self._lock is None:
            from filelock import FileLock

            self._lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)
        return self._lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the sweep's lock (re-entrant in this process): read, decide and append as one step."""
        from filelock import Timeout

        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            with self.lock:
                yield
        except Timeout:
            raise TimeoutError(f"another process holds {self.path}.lock for over {LOCK_TIMEOUT_S:.0f}s") from None

    def append(self, *events: Mapping[str, Any]) -> None:
        """Append events as JSON lines under the lock, flushed to disk before the lock is released."""
        if not events:
            return
        stamp = now_iso()
        text = "".join(json.dumps({"time": stamp, **e}, default=str) + "\n" for e in events)
        with self.locked():
            with self.path.open("a") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())

    def events(self) -> list[dict]:
        return list(read_jsonl(self.path))

    def runs(self) -> dict[str, RunRecord]:
        """Fold the events into one record per run id, in the order runs were first planned or submitted."""
        records: dict[str, RunRecord] = {}
        for event in self.events():
            rid = event.get("run_id")
            if not rid:
                continue
            record = records.setdefault(rid, RunRecord(rid))
            kind = event.get("event")
            if kind == "planned":
                record.values = dict(event.get("values") or {})
            elif kind == "submitted":
                record.jobs.append({k: event.get(k) for k in ("job_id", "launcher", "host", "time")})
                record.state = "submitted"
            elif kind == "state":
                record.state = event.get("state")
                if event.get("step") is not None:
                    record.step = int(event["step"])
        return records


def sweep_names(results_dir: str | os.PathLike) -> list[str]:
    """Sweeps under a results folder: the folders that hold a ledger."""
    root = Path(results_dir)
    return sorted(p.parent.name for p in root.glob(f"*/{LEDGER_FILE}")) if root.is_dir() else []
