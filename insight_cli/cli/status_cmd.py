"""``insight status [SWEEP]``: every run of a sweep with its state, step, last pass@1, job id and attempts."""

from __future__ import annotations

from pathlib import Path

import typer

from insight_cli.cli.common import fail, results_folder

EPILOG = """\
Examples:

  insight status                      # one line per sweep under results/

  insight status mini_main            # the runs of one sweep, reconciled with squeue/sacct

  insight status adhoc --results-dir /tmp/results
"""


def status(
    sweep: str = typer.Argument(None, help="Sweep name (a folder of the results directory); none: all sweeps."),
    results_dir: Path = typer.Option(None, "--results-dir", help="Default: paths.results_dir ($INSIGHT_RESULTS_DIR)."),
) -> None:
    """Show a sweep's runs: state (from status.json, the ledger and the scheduler), step, pass@1, job, attempts."""
    from insight_cli.launch.state import print_sweeps_overview, status_rows

    root = results_folder(results_dir)
    if sweep is None:
        print_sweeps_overview(root)
        return
    sweep_dir = root / sweep
    if not sweep_dir.is_dir():
        raise fail(f"no sweep {sweep!r} under {root}: list them with `insight status`")
    rows = status_rows(sweep_dir)
    from rich.console import Console
    from rich.table import Table

    keys: list[str] = []
    for row in rows:
        keys += [k for k in row.values if k not in keys]
    from insight_cli.aliases import short_name

    table = Table(title=f"sweep {sweep} ({sweep_dir})")
    for column in ["run id", *(short_name(k) for k in keys), "state", "step", "pass@1", "job", "attempts"]:
        table.add_column(column, no_wrap=True)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state.split(" ")[0]] = counts.get(row.state.split(" ")[0], 0) + 1
        step = "" if row.step is None else f"{row.step}/{row.steps}" if row.steps else str(row.step)
        pass1 = "" if row.pass1 is None else f"{row.pass1:.3f}"
        table.add_row(
            row.run_id,
            *(str(row.values.get(k, "")) for k in keys),
            _color(row.state),
            step,
            pass1,
            row.job_id or "",
            str(row.attempts),
        )
    console = Console()
    console.print(table)
    console.print(f"{len(rows)} runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), highlight=False)


def _color(state: str) -> str:
    color = {
        "done": "green",
        "running": "cyan",
        "pending": "blue",
        "requeued": "blue",
        "failed": "red",
        "preempted": "yellow",
    }.get(state.split(" ")[0], "")
    return f"[{color}]{state}[/{color}]" if color else state
