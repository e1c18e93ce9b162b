"""Copy the small files of finished runs into results/reference/, where the reproduction campaign is committed.

    python scripts/copy_reference.py /work/campaign-results            # every sweep under that results folder
    python scripts/copy_reference.py /work/campaign-results mini_main  # one sweep

Only runs whose status.json says "done" are copied, and only the files that rebuild every table and figure
(config.yaml, meta.json, status.json, eval.jsonl, metrics.jsonl, selection.jsonl); checkpoints and logs stay where
they are. A run already in results/reference is left as it is. Prints what it copied.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

FILES = ("config.yaml", "meta.json", "status.json", "eval.jsonl", "metrics.jsonl", "selection.jsonl")
REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def finished(run: Path) -> bool:
    try:
        return json.loads((run / "status.json").read_text()).get("state") == "done"
    except (OSError, ValueError, AttributeError):
        return False


def main(source: Path, sweeps: list[str]) -> None:
    copied = 0
    for sweep in sorted(p for p in source.iterdir() if p.is_dir() and (not sweeps or p.name in sweeps)):
        for run in sorted(p for p in sweep.iterdir() if p.is_dir() and finished(p)):
            target = REFERENCE / sweep.name / run.name
            if target.exists():
                continue
            staging = target.with_name(f".{run.name}.copying")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            for name in FILES:
                if (run / name).exists():
                    shutil.copyfile(run / name, staging / name)
            staging.rename(target)
            copied += 1
            print(f"{sweep.name}/{run.name}")
    print(f"{copied} finished runs copied to {REFERENCE}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/copy_reference.py RESULTS_DIR [SWEEP ...]")
    main(Path(sys.argv[1]), sys.argv[2:])
