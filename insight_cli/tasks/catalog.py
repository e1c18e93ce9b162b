"""Set sizes of a task whose config holds a catalogue of named sets (``task.sets``), for ``insight config show``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def documented_sizes(
    task_cfg: Any, field: Callable[..., Any], spec: Callable[[Any, str], Any]
) -> dict[str, int | None]:
    """Set name → size: the documented ``size`` of each set, capped by train_size/eval_size (0 = the whole set);
    None where only loading can tell. ``field(obj, key, default)`` reads a config field, ``spec(cfg, name)`` a set."""

    def size(name: str, limit: int) -> int | None:
        documented = field(spec(task_cfg, name), "size")
        if int(limit) > 0:
            return int(limit) if documented is None else min(int(limit), int(documented))
        return None if documented is None else int(documented)

    train = str(field(task_cfg, "train_set"))
    out = {f"train: {train}": size(train, int(field(task_cfg, "train_size", 0)))}
    out.update({str(n): size(str(n), int(field(task_cfg, "eval_size", 0))) for n in field(task_cfg, "eval_sets", [])})
    return out
