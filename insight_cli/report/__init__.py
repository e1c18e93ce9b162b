"""``insight report``: the paper's tables and figures from run directories (DESIGN.md §4–5).

    insight report --sweep table1 --table all --plot all
    insight report selector=wmi mu=0.3,0.5 --table accuracy --format latex

``collect`` reads ``results/<sweep>/<run_id>/`` into tidy frames, ``metrics`` computes steps-to-target, speed-ups
and bootstrap CIs, ``tables`` and ``plots`` render them. ``make_report`` runs the whole pipeline for the CLI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from insight_cli.report.collect import Collection, ReportError, collect, run_names

FORMATS = ("rich", "md", "csv", "latex")
MAX_WARNINGS_SHOWN = 20


@dataclass
class Report:
    collection: Collection
    tables: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _choices(value: str | None, allowed: Sequence[str], what: str) -> list[str]:
    """``"all"`` → every option; ``"a,b"`` → [a, b]; ``"none"``/None → []; anything else is a one-line error."""
    if value is None or value == "none":
        return []
    picked = list(allowed) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in picked if v not in allowed]
    if unknown:
        raise ReportError(f"unknown {what} {', '.join(unknown)}: choose from {', '.join(allowed)}, all or none")
    return picked


def _target(value: float | None) -> float | None:
    if value is None:
        return None
    fraction = value / 100.0 if value > 1.0 else value
    if not 0.0 <= fraction <= 1.0:
        raise ReportError(f"--target {value} must be a pass@1 in [0, 1] (or a percentage in (1, 100])")
    return fraction


def _task_warning(coll: Collection) -> list[str]:
    """Several tasks among the selected runs: say so, naming the runs outside the most common task."""
    counts = coll.runs["task"].value_counts()
    if len(counts) < 2:
        return []
    minority = coll.runs[coll.runs["task"] != counts.index[0]]
    spread = ", ".join(f"{task}: {n}" for task, n in counts.items())
    return [
        f"runs span {len(counts)} tasks ({spread}); rows are kept apart per task. Runs outside "
        f"{counts.index[0]}: {run_names(minority)}; select one task with task=NAME"
    ]


def make_report(
    results_dir: str | os.PathLike | None = None,
    *,
    sweeps: Sequence[str] = (),
    filters: Sequence[str] = (),
    table: str | None = "all",
    plot: str | None = None,
    fmt: str = "rich",
    out: str | os.PathLike | None = None,
    target: float | None = None,
    smooth: bool = False,
    benchmark: str | None = None,
    cache: bool = True,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> Report:
    """Collect runs, build the requested tables and plots, write them under ``out``, print the tables.

    Tables go to ``stdout`` (a rich table, or the ``fmt`` text), warnings and the list of written files to
    ``stderr``. Raises ReportError (one line) when there is nothing to report.
    """
    from insight_cli.report import tables as tab
    from insight_cli.report.metrics import SMOOTH_WINDOW
    from insight_cli.report.plots import PLOTS  # matplotlib itself is imported only when drawing

    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    tables = _choices(table, tab.TABLES, "table")
    plots = _choices(plot, PLOTS, "plot")
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt}: choose from {', '.join(FORMATS)}")
    goal = _target(target)
    if results_dir is None:
        from insight_cli.config import default_results_dir

        results_dir = default_results_dir()
    root = Path(results_dir)
    coll = collect(root, sweeps=sweeps, filters=filters, cache=cache)
    if benchmark is not None and benchmark not in set(coll.evals["benchmark"].astype(str)):
        known = ", ".join(sorted(set(coll.evals["benchmark"].astype(str)))) or "none (no evaluation yet)"
        raise ReportError(f"no benchmark {benchmark!r} in the selected runs: choose from {known}")
    report = Report(coll, warnings=[*coll.warnings, *_task_warning(coll)])
    window = SMOOTH_WINDOW if smooth else 0
    out_dir = Path(out) if out is not None else (root / sweeps[0] if len(sweeps) == 1 else root) / "report"

    needs_efficiency = "efficiency" in tables or {"speedup", "mu", "pool"} & set(plots)
    if "accuracy" in tables or {"mu", "pool"} & set(plots):
        report.tables["accuracy"] = tab.accuracy_table(coll)
    if needs_efficiency:
        report.tables["efficiency"], more = tab.efficiency_table(
            coll, target=goal, smooth_window=window, benchmark=benchmark
        )
        report.warnings += more
    if "overhead" in tables:
        report.tables["overhead"] = tab.overhead_table(coll)
    for name in tables:
        report.files += tab.write_table(report.tables[name], out_dir)

    if plots:
        report.files += _draw(plots, report, coll, goal, benchmark, out_dir)

    _print(report, tables, fmt, stdout, stderr, out_dir)
    return report


def _draw(plots: list[str], report: Report, coll: Collection, goal, benchmark, out_dir: Path) -> list[Path]:
    from insight_cli.report import plots as fig
    from insight_cli.report.metrics import baseline_targets, run_curves

    files: list[Path] = []
    if "curves" in plots:
        curves = run_curves(coll.evals, benchmark)
        files += fig.plot_curves(coll, curves, baseline_targets(coll.runs, curves, goal), out_dir)
    if "speedup" in plots:
        files += fig.plot_speedup(report.tables["efficiency"], out_dir)
    if "selection" in plots:
        drawn, missing = fig.plot_selection(coll, out_dir)
        files += drawn
        report.warnings += missing
    for kind in ("mu", "pool"):
        if kind in plots:
            drawn = fig.plot_sweep(kind, report.tables["accuracy"], report.tables["efficiency"], out_dir)
            if not drawn:
                key = fig.SWEEP_AXES[kind][0]
                report.warnings.append(f"no {kind} figure: {key} takes a single value for every selector here")
            files += drawn
    return files


def _print(report: Report, tables: list[str], fmt: str, stdout: TextIO, stderr: TextIO, out_dir: Path) -> None:
    from insight_cli.report import tables as tab

    runs = report.collection.runs
    unfinished = int((~runs["finished"]).sum())
    arms = runs.groupby(["model", "task", "arm"]).ngroups
    stderr.write(f"{len(runs)} runs ({unfinished} not finished) in {runs['sweep'].nunique()} sweep(s), {arms} arms\n")
    for line in report.warnings[:MAX_WARNINGS_SHOWN]:
        stderr.write(f"warning: {line}\n")
    if len(report.warnings) > MAX_WARNINGS_SHOWN:
        stderr.write(f"warning: … and {len(report.warnings) - MAX_WARNINGS_SHOWN} more warnings\n")
    if fmt == "rich":
        from rich.console import Console

        console = Console(file=stdout)
        if not console.is_terminal:  # piped or captured: wide enough that CIs stay on one line
            console.width = 160
        for name in tables:
            console.print(tab.to_rich(report.tables[name]))
            console.print()
    else:
        _, render = tab.RENDERERS[fmt]
        stdout.write("\n".join(render(report.tables[name]) for name in tables))
    if report.files:
        stderr.write(f"wrote {len(report.files)} files under {out_dir}/\n")


__all__ = ["Collection", "Report", "ReportError", "collect", "make_report"]
