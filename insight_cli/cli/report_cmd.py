"""``insight report``: the paper's tables and figures from run directories (see insight_cli/report)."""

from __future__ import annotations

from pathlib import Path

import typer

from insight_cli.cli.common import user_errors

EPILOG = """\
Examples:

  insight report                                     # all three tables for every run under results/

  insight report --sweep table1 --plot all           # one sweep: tables + curves, speed-ups, μ/pool figures

  insight report selector=wmi,random mu=0.3 --format latex    # filter with paper symbols; print LaTeX

  insight report --table efficiency --target 0.45 --smooth    # steps to 45% pass@1, smoothed curves

  insight report --results-dir /scratch/results --out paper/tables

  insight report --sweep mini_main --plot selection  # mixed groups, beliefs, coverage, choices vs success
"""


def report(
    filters: list[str] = typer.Argument(
        None, help="Keep runs whose config matches: selector=wmi, mu=0.3,0.5, pool=16, model=qwen3-4b, seed=0."
    ),
    sweep: list[str] = typer.Option(None, "--sweep", help="Sweep folder(s) under the results directory (repeatable)."),
    results_dir: Path = typer.Option(
        None, "--results-dir", help="Where runs live (DIR/SWEEP/RUN_ID/); default $INSIGHT_RESULTS_DIR or results."
    ),
    table: str = typer.Option("all", "--table", help="accuracy, efficiency, overhead, all or none (comma-separated)."),
    plot: str = typer.Option(
        None, "--plot", help="curves, speedup, mu, pool, selection or all (PNG + PDF under --out)."
    ),
    fmt: str = typer.Option("rich", "--format", help="What to print: rich, md, csv or latex (files get all three)."),
    out: Path = typer.Option(
        None, "--out", help="Output folder; default RESULTS/SWEEP/report for one sweep, else RESULTS/report."
    ),
    target: float = typer.Option(
        None, "--target", help="pass@1 to reach (0.45 or 45); default: Random's final pass@1 of the model/task."
    ),
    smooth: bool = typer.Option(False, "--smooth", help="Steps-to-target on a 3-evaluation moving average."),
    benchmark: str = typer.Option(None, "--benchmark", help="Efficiency/curves on one benchmark (default: average)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Read every metrics.jsonl again (unchanged ones are otherwise summed up once)."
    ),
) -> None:
    """Tables (accuracy, efficiency, overhead) and figures from run directories: mean and 95% CI over seeds."""
    from insight_cli.report import make_report

    with user_errors():
        make_report(
            results_dir,
            sweeps=sweep or (),
            filters=filters or (),
            table=table,
            plot=plot,
            fmt=fmt,
            out=out,
            target=target,
            smooth=smooth,
            benchmark=benchmark,
            cache=not no_cache,
        )
