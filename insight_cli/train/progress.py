"""Rich progress bars for long work (warm start, training, evaluation), silent when disabled or not a TTY."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class _Bar:
    def __init__(self, progress, task_id):
        self._progress, self._task = progress, task_id

    def advance(self, steps: int = 1, **fields: str) -> None:
        if self._progress is not None:
            info = "  ".join(f"{k} {v}" for k, v in fields.items())
            self._progress.update(self._task, advance=steps, info=info)

    def set_info(self, **fields: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, info="  ".join(f"{k} {v}" for k, v in fields.items()))


@contextlib.contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[_Bar]:
    """A bar with completed/total, elapsed, ETA and free-form fields (reward, pass@1, loss)."""
    if not enabled:
        yield _Bar(None, None)
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
    with Progress(*columns, transient=False) as progress:
        yield _Bar(progress, progress.add_task(description, total=total, info=""))
