"""A run's checkpoint folders and the selection state in them: the one place that names them and reads them.

TRL writes ``checkpoint-<step>/`` (model, optimizer, scheduler, RNG states) under the output directory; the trainer
then adds ``selection.npz`` (selector arrays and RNG, pool RNG, the loop's counters, the run's training seconds),
written last and atomically, so a folder counts as complete — resumable — only once it is there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PREFIX = "checkpoint-"  # TRL's folder name (transformers' PREFIX_CHECKPOINT_DIR + "-") before the step
SELECTION_FILE = "selection.npz"


def checkpoint_folder(output_dir: str | Path, step: int) -> Path:
    """The folder TRL saves step ``step``'s checkpoint in."""
    return Path(output_dir) / f"{PREFIX}{int(step)}"


def checkpoint_step(folder: str | Path) -> int | None:
    """The step of a ``checkpoint-<step>`` folder; None for a folder of any other name."""
    name = Path(folder).name
    digits = name[len(PREFIX) :]
    return int(digits) if name.startswith(PREFIX) and digits.isdecimal() else None


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint (one that holds the selection state) under ``output_dir``."""
    done = [p for p in Path(output_dir).glob(f"{PREFIX}*") if checkpoint_step(p) is not None]
    done = [p for p in done if (p / SELECTION_FILE).exists()]
    return max(done, key=checkpoint_step, default=None)


def save_selection(checkpoint: str | Path, state: dict[str, np.ndarray]) -> None:
    """Write the selection state into ``checkpoint`` atomically (a partial file, then a rename): call it after
    everything else of the checkpoint is saved, since its presence marks the folder complete."""
    partial = Path(checkpoint) / "selection.partial.npz"
    np.savez(partial, **state)
    partial.replace(Path(checkpoint) / SELECTION_FILE)


def load_selection(checkpoint: str | Path) -> dict[str, np.ndarray]:
    """The selection state saved in ``checkpoint`` (FileNotFoundError when it has none)."""
    with np.load(Path(checkpoint) / SELECTION_FILE) as saved:
        return {key: saved[key] for key in saved.files}
