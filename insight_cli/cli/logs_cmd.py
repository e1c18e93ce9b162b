"""``insight logs RUN_ID [-f]``: the output (stdout and stderr) of a run's latest attempt."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from insight_cli.cli.common import fail, results_folder

EPILOG = """\
Examples:

  insight logs 3fa2c1d0e9ab           # the latest attempt's output (a unique prefix of the run id is enough)

  insight logs 3fa2 -f                # follow it until the run is done or failed (Ctrl-C stops following)
"""

FINAL = ("done", "failed")


def find_run(results_dir: Path, run_id: str) -> Path:
    """The run folder results/<sweep>/<run_id…> for a run id or a unique prefix of one."""
    if len(run_id) < 4 or "/" in run_id:
        raise fail(f"run id {run_id!r} is too short: give at least 4 characters (insight status lists them)")
    # meta.json (which names the log) is enough: a run that lost its config.yaml still has its output
    matches = sorted(
        p for p in results_dir.glob(f"*/{run_id}*") if (p / "config.yaml").exists() or (p / "meta.json").exists()
    )
    if not matches:
        raise fail(f"no run {run_id!r} under {results_dir}: list runs with `insight status SWEEP`")
    if len(matches) > 1:
        raise fail(
            f"run id {run_id!r} matches {len(matches)} runs ({', '.join(p.name for p in matches[:4])}…): "
            "give more characters"
        )
    return matches[0]


def logs(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix), as shown by insight status."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new output until the run ends."),
    results_dir: Path = typer.Option(None, "--results-dir", help="Default: paths.results_dir ($INSIGHT_RESULTS_DIR)."),
) -> None:
    """Print the stdout/stderr of the run's latest attempt (submitit log of the local or Slurm job)."""
    from insight_cli.runs import RunDir
    from insight_cli.safe_read import warn

    run_dir = RunDir(find_run(results_folder(results_dir), run_id))
    if not run_dir.file("config.yaml").exists():
        warn(run_dir.file("config.yaml"), "is missing")
    attempts = run_dir.read_meta().get("attempts", [])
    if "meta.json" in run_dir.damaged:
        raise fail(f"run {run_dir.path.name}: meta.json is damaged, so the log of its latest attempt is unknown")
    if not attempts:
        raise fail(f"run {run_dir.path.name} has not started yet: check `insight status {run_dir.path.parent.name}`")
    log = attempts[-1].get("log") if isinstance(attempts[-1], dict) else None
    if not log:
        raise fail(f"run {run_dir.path.name} ran in-process: its output went to the terminal that started it")
    path = Path(log)
    offset = _print_from(path, 0)
    while follow:
        try:
            time.sleep(0.5)
            offset = _print_from(path, offset)
            if run_dir.read_status().get("state") in FINAL or "status.json" in run_dir.damaged:
                _print_from(path, offset)  # a damaged status.json (warned about) can never say the run ended
                break
        except KeyboardInterrupt:
            break


def _print_from(path: Path, offset: int) -> int:
    """Write the file's bytes after ``offset`` to stdout; return the new offset."""
    if not path.exists():
        return offset
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return offset + len(data)
