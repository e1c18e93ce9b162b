"""Progress of long work (warm start, training, evaluation): a rich bar on a terminal, plain lines everywhere else.

Batch jobs write stdout/stderr to a file, where a rich bar draws nothing: a many-minute warm start printed not a
line (issue #17). Without a terminal, progress is a plain line on stderr at the start, at most every
``INSIGHT_PROGRESS_EVERY_S`` seconds (default 30) and at the end: phase, done/total, rate, elapsed, ETA and the
free-form fields (reward, pass@1, loss).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import TextIO

PLAIN_EVERY_S = 30.0


def _fields(fields: dict[str, str]) -> str:
    return "  ".join(f"{k} {v}" for k, v in fields.items())


class _Bar:
    def __init__(self, progress, task_id):
        self._progress, self._task = progress, task_id

    def advance(self, steps: int = 1, **fields: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=steps, info=_fields(fields))

    def set_info(self, **fields: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, info=_fields(fields))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class PlainBar:
    """The same interface as the rich bar, printing one line per ``every_s`` seconds (and first and last)."""

    def __init__(self, description: str, total: int, stream: TextIO, every_s: float, completed: int = 0):
        self.description, self.total, self.stream, self.every_s = description, int(total), stream, every_s
        self.done, self.info = int(completed), ""
        self.completed_before = int(completed)  # done before this process (a resumed run): not in the rate
        self.started = time.monotonic()
        self.printed_at: float | None = None

    def advance(self, steps: int = 1, **fields: str) -> None:
        self.done += steps
        if fields:
            self.info = _fields(fields)
        now = time.monotonic()
        if self.printed_at is None or now - self.printed_at >= self.every_s or self.done >= self.total:
            self.print_line(now)

    def set_info(self, **fields: str) -> None:
        self.info = _fields(fields)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        counted = self.done - self.completed_before
        percent = 100.0 * self.done / max(1, self.total)
        parts = [f"{self.description}: {self.done}/{self.total} ({percent:.0f}%)", f"elapsed {_duration(elapsed)}"]
        if counted > 0 and elapsed > 0:
            per_step = elapsed / counted
            rate = f"{per_step:.2f} s/step" if per_step >= 1 else f"{1 / per_step:.1f} steps/s"
            parts += [rate, f"eta {_duration(per_step * max(0, self.total - self.done))}"]
        if self.info:
            parts.append(self.info)
        return time.strftime("%H:%M:%S ") + "  ".join(parts)

    def print_line(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        print(self.line(now), file=self.stream, flush=True)
        self.printed_at = now


def plain_every_s() -> float:
    """``INSIGHT_PROGRESS_EVERY_S`` (seconds between plain progress lines, ≥ 0), else 30."""
    value = os.environ.get("INSIGHT_PROGRESS_EVERY_S")
    try:
        return max(0.0, float(value)) if value else PLAIN_EVERY_S
    except ValueError:
        return PLAIN_EVERY_S


@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True, completed: int = 0) -> Iterator[_Bar | PlainBar]:
    """A bar with completed/total, elapsed, ETA and free-form fields (reward, pass@1, loss); plain lines on stderr
    when there is no terminal; nothing when disabled (ranks other than 0). ``completed``: done before (resume)."""
    if not enabled:
        yield _Bar(None, None)
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        bar = PlainBar(description, total, sys.stderr, plain_every_s(), completed)
        bar.print_line()
        yield bar
        if bar.done < bar.total:  # stopped early or failed: say where
            bar.print_line()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield _Bar(progress, progress.add_task(description, total=total, completed=completed, info=""))
