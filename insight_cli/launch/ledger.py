"""The per-sweep job ledger ``results/<sweep>/ledger.jsonl`` (DESIGN §4): append-only, one JSON line per event.

Events (every line has ``time``, ``event`` and ``run_id``):

- ``planned``   a run entered the sweep: its axis ``values`` and ``overrides``
- ``submitted`` a job was submitted for it: ``job_id``, ``launcher``, ``host``
- ``state``     the job reported a state: ``state`` (running, done, failed, preempted, requeued), ``step``, ``job_id``

Writers take the sweep's file lock for each append; ``insight sweep`` also holds it while it classifies and
submits, so two sweeps started at once never submit the same run twice. A line cut short by a killed writer is
skipped on reading.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insight_cli.runs import now_iso, read_jsonl

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
