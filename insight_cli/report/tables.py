"""The paper's tables from collected runs: accuracy, efficiency, overhead; each rendered as Markdown, LaTeX, CSV, rich.

Rows are model × arm (an arm = runs equal in everything but the seed, e.g. ``wmi`` or ``wmi (μ=0.5)``), with the
number of seeds ``n`` (``3*`` = some of them are not finished: their last evaluation so far is used). A value is the
mean over seeds with its 95% bootstrap CI in brackets; the best value of each column within a model/task block is
bold. The CSV holds the raw numbers (fractions, seconds, steps) with ``_lo``/``_hi`` columns for the CI bounds
(and ``_bound``: "", "<" or ">" where a value is a censoring bound).

- **accuracy**: final pass@1 (%) per benchmark and their average.
- **efficiency**: steps and rollouts until the seed-mean pass@1 curve reaches the target (Random's final pass@1
  unless ``--target``), the speed-ups vs Random on those curves (Random's time / the arm's), the share of bootstrap
  resamples in which a curve never reached, how many seeds reached on their own, and — secondary, labelled — the
  mean over only those seeds. A censored value (a curve ending below the target) is a bound, shown ``>x``/``<x``.
- **overhead**: selector seconds per step, training-step seconds, their ratio, total wall time per run.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from insight_cli.report.collect import Collection, run_names
from insight_cli.report.metrics import (
    N_BOOT,
    Estimate,
    Reach,
    SeedCurves,
    baseline_targets,
    bootstrap_mean,
    final_values,
    mean_curve_efficiency,
    reach_times,
    run_curves,
    seed_curves,
)

TABLES = ("accuracy", "efficiency", "overhead")
ARM_COLUMNS = ("model", "task", "arm", "selector", "selector.mu", "selector.eta", "pool.factor")
MISSING = "—"
CI_NOTE = f"mean over n seeds [95% bootstrap CI, {N_BOOT} resamples]"
UNFINISHED_NOTE = "n* = includes runs not finished (running, preempted, failed): their last evaluation so far"


# --------------------------------------------------------------------------- the table model
@dataclass
class Column:
    """One value column: ``key`` (and ``key_lo``/``key_hi``) in Table.data, formatted by ``kind``."""

    header: str
    key: str
    kind: str  # pct | steps | count | ratio | seconds | share | percent
    best: str | None = None  # max | min: bolded per model/task block
    ci: bool = True


@dataclass
class Table:
    name: str
    title: str
    data: pd.DataFrame  # one row per table row: arm columns, n, n_unfinished, values (+ _lo/_hi); the CSV
    columns: list[Column]
    notes: list[str]
    show_task: bool = False
    extra_labels: list[str] = field(default_factory=list)  # label columns after "n" (e.g. "reached")

    @property
    def label_headers(self) -> list[str]:
        return ["model", *(["task"] if self.show_task else []), "selector", "n", *self.extra_labels]

    def label_cells(self) -> list[list[str]]:
        """Per row: model, (task), selector, n (``3*`` when some runs are unfinished), extra labels."""
        rows = []
        for record in self.data.to_dict("records"):
            seeds = f"{record['n']}{'*' if record['n_unfinished'] else ''}"
            cells = [str(record["model"]), *([str(record["task"])] if self.show_task else []), str(record["arm"])]
            rows.append([*cells, seeds, *(str(record[c]) for c in self.extra_labels)])
        return rows

    def value_cells(self) -> list[list[tuple[str, str, bool]]]:
        """Per row, per value column: (mean text, CI text, bold)."""
        bold = self.best_mask()
        out = []
        for i in range(len(self.data)):
            cells = []
            for j, col in enumerate(self.columns):
                mean = self.data[col.key].iat[i]
                fmt = FORMATS[col.kind]
                text = self._bound(col, i) + fmt(mean) if _finite(mean) else MISSING
                ci = ""
                if col.ci and f"{col.key}_lo" in self.data:
                    lo, hi = self.data[f"{col.key}_lo"].iat[i], self.data[f"{col.key}_hi"].iat[i]
                    if _defined(lo) and _defined(hi):  # a bound may be ∞: unbounded by a censored curve
                        ci = f"[{fmt(lo, unit=False)}, {fmt(hi, unit=False)}]"
                cells.append((text, ci, bool(bold[i, j])))
            out.append(cells)
        return out

    def _bound(self, col: Column, i: int) -> str:
        """The value's censoring bound, "<" or ">", or "" when it is exact."""
        key = f"{col.key}_bound"
        bound = self.data[key].iat[i] if key in self.data else ""
        return bound if isinstance(bound, str) else ""

    def best_mask(self) -> np.ndarray:
        """True where a value is the best of its column within its model/task block (ties all bold).

        Only exact values compete: a censoring bound (``>x``, ``<x``) is not a value to crown.
        """
        mask = np.zeros((len(self.data), len(self.columns)), dtype=bool)
        if self.data.empty:
            return mask
        blocks = self.data.groupby(["model", "task"], sort=False, dropna=False).indices
        for j, col in enumerate(self.columns):
            if col.best is None:
                continue
            values = self.data[col.key].to_numpy(dtype=np.float64)
            if f"{col.key}_bound" in self.data:
                exact = np.array([b == "" or not isinstance(b, str) for b in self.data[f"{col.key}_bound"]])
                values = np.where(exact, values, np.nan)
            for rows in blocks.values():
                block = values[rows]
                finite = np.isfinite(block)
                if finite.sum() < 2:
                    continue
                best = np.nanmax(block) if col.best == "max" else np.nanmin(block)
                mask[rows[np.isclose(block, best, rtol=1e-12, atol=0) & finite], j] = True
        return mask


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _defined(value) -> bool:
    """A number, ±∞ included (a CI bound can be unbounded), not NaN."""
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- number formats
def _pct(v: float, unit: bool = True) -> str:
    return f"{100.0 * v:.1f}"


def _steps(v: float, unit: bool = True) -> str:
    return "∞" if math.isinf(v) else f"{v:.0f}"


def _count(v: float, unit: bool = True) -> str:
    if math.isinf(v):
        return "∞"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{v / size:.3g}{suffix}"
    return f"{v:.0f}"


def _ratio(v: float, unit: bool = True) -> str:
    if math.isinf(v):
        return "∞"
    return f"{v:.2f}×" if unit else f"{v:.2f}"


def _seconds(v: float, unit: bool = True) -> str:
    if abs(v) < 1.0:
        return f"{1000.0 * v:.3g} ms"
    if abs(v) < 120.0:
        return f"{v:.3g} s"
    if abs(v) < 7200.0:
        return f"{v / 60.0:.3g} min"
    return f"{v / 3600.0:.3g} h"


def _share(v: float, unit: bool = True) -> str:
    return f"{100.0 * v:.2f}%" if unit else f"{100.0 * v:.2f}"


def _percent(v: float, unit: bool = True) -> str:
    return f"{100.0 * v:.0f}%" if unit else f"{100.0 * v:.0f}"


FORMATS: dict[str, Callable[..., str]] = {
    "pct": _pct,
    "steps": _steps,
    "count": _count,
    "ratio": _ratio,
    "seconds": _seconds,
    "share": _share,
    "percent": _percent,
}


# --------------------------------------------------------------------------- building the tables
def arm_rows(runs: pd.DataFrame) -> list[tuple[dict, np.ndarray]]:
    """Table rows: (arm columns, run ids) per model × task × arm, ordered by model, task, then selector order."""
    items = []
    for _, block in runs.groupby(["model", "task", "arm"], sort=False, dropna=False):
        first = block.iloc[0]
        order = (str(first["model"]), str(first["task"]), first["arm_order"], str(first["arm"]))
        items.append((order, {c: first[c] for c in ARM_COLUMNS}, block["run"].to_numpy()))
    items.sort(key=lambda item: item[0])
    return [(arm, ids) for _, arm, ids in items]


def _put(row: dict, key: str, est: Estimate) -> None:
    row[key], row[f"{key}_lo"], row[f"{key}_hi"] = est.mean, est.lo, est.hi


def _put_reach(row: dict, key: str, reach: Reach) -> None:
    """A value on seed-mean curves: ``key`` (the value or its bound), ``_lo``/``_hi``, ``_bound`` ("", "<", ">")."""
    row[key], row[f"{key}_lo"], row[f"{key}_hi"], row[f"{key}_bound"] = reach


def _seed_counts(runs: pd.DataFrame, ids: np.ndarray, have: pd.Index) -> tuple[int, int]:
    present = runs.loc[runs["run"].isin(ids) & runs["run"].isin(have)]
    return len(present), int((~present["finished"]).sum())


def accuracy_table(coll: Collection) -> Table:
    """Final pass@1 per benchmark (and their average), rows = model × arm."""
    evals = coll.evals
    per_bench = (
        evals.groupby(["run", "benchmark"], observed=True, sort=True)["pass@1"].last().unstack("benchmark")
        if not evals.empty
        else pd.DataFrame()
    )
    benchmarks = [str(b) for b in per_bench.columns]
    average = final_values(run_curves(evals)) if not evals.empty else pd.Series(dtype=float)
    rows = []
    for arm, ids in arm_rows(coll.runs):
        row = dict(arm)
        row["n"], row["n_unfinished"] = _seed_counts(coll.runs, ids, per_bench.index)
        for bench in benchmarks:
            _put(row, f"pass@1:{bench}", bootstrap_mean(per_bench[bench].reindex(ids).to_numpy()))
        if len(benchmarks) > 1:
            _put(row, "pass@1:average", bootstrap_mean(average.reindex(ids).to_numpy()))
        rows.append(row)
    columns = [Column(b, f"pass@1:{b}", "pct", best="max") for b in benchmarks]
    if len(benchmarks) > 1:
        columns.append(Column("average", "pass@1:average", "pct", best="max"))
    notes = [
        f"pass@1 (%) at each run's last evaluation; {CI_NOTE}; best per model in bold.",
        UNFINISHED_NOTE,
    ]
    return Table("accuracy", "Accuracy: pass@1 (%)", pd.DataFrame(rows), columns, notes, _many_tasks(coll))


def efficiency_table(
    coll: Collection, *, target: float | None = None, smooth_window: int = 0, benchmark: str | None = None
) -> tuple[Table, list[str]]:
    """Steps/rollouts to the target of each arm's seed-mean curve and its speed-ups vs Random; also warnings.

    Primary columns are on seed-mean curves, censored curves as bounds (``metrics.mean_curve_efficiency``); the mean
    over only the seeds that reached the target is kept as a labelled secondary column beside ``reached``.
    """
    warnings: list[str] = []
    curves = run_curves(coll.evals, benchmark)
    targets = baseline_targets(coll.runs, curves, target)
    reach = reach_times(coll.runs, curves, targets, smooth_window).set_index("run")
    have = reach.index
    baseline: dict[tuple, SeedCurves] = {}
    baseline_ids: dict[tuple, set] = {}
    target_of = {(t.model, t.task): t.target for t in targets.itertuples()}
    for t in targets.itertuples():
        block = coll.runs[(coll.runs["model"] == t.model) & (coll.runs["task"] == t.task)]
        random_ids = block.loc[block["selector"] == "random", "run"].to_numpy()
        baseline_ids[(t.model, t.task)] = set(random_ids)
        baseline[(t.model, t.task)] = seed_curves(curves, random_ids)
        if t.n_random == 0:
            names = run_names(block)
            consequence = "speed-ups left empty" if target is not None else "steps-to-target and speed-ups left empty"
            warnings.append(
                f"no Random baseline with an evaluation for model={t.model} task={t.task} (runs {names}): "
                f"{consequence}" + ("" if target is not None else "; pass --target X to set a target")
            )
        elif block.loc[block["selector"] == "random", "arm"].nunique() > 1:
            warnings.append(f"model={t.model} task={t.task}: several Random arms; their seeds are pooled as baseline")
    rows = []
    for arm, ids in arm_rows(coll.runs):
        row = dict(arm)
        row["n"], row["n_unfinished"] = _seed_counts(coll.runs, ids, have)
        block = (arm["model"], arm["task"])
        row["target"] = target_of.get(block, math.nan)
        mine = reach.reindex(ids)
        reached = int(mine["steps_to_target"].notna().sum())
        row["reached"], row["n_reached"] = f"{reached}/{row['n']}", reached
        is_base = arm["selector"] == "random" and set(ids) == baseline_ids.get(block, set())
        given = None if target is None else float(target)
        eff = mean_curve_efficiency(
            seed_curves(curves, ids), baseline.get(block), given, is_base=is_base, smooth_window=smooth_window
        )
        _put_reach(row, "steps_to_target", eff.steps)
        _put_reach(row, "rollouts_to_target", eff.rollouts)
        for what, speed in (("steps", eff.speedup_steps), ("rollouts", eff.speedup_rollouts)):
            if is_base:  # the baseline against itself: 1× by definition when its mean curve reaches the target
                reached_mean = math.isfinite(eff.steps.value) and not eff.steps.bound
                speed = Reach(1.0 if reached_mean else math.nan, math.nan, math.nan, "")
            _put_reach(row, f"speedup_{what}", speed)
        row["censored"] = eff.censored
        _put(row, "steps_to_target_reaching", bootstrap_mean(mine["steps_to_target"].to_numpy()))
        _put(row, "rollouts_to_target_reaching", bootstrap_mean(mine["rollouts_to_target"].to_numpy()))
        rows.append(row)
    columns = [
        Column("target", "target", "pct", ci=False),
        Column("steps→target", "steps_to_target", "steps", best="min"),
        Column("rollouts→target", "rollouts_to_target", "count", best="min"),
        Column("speed-up (steps)", "speedup_steps", "ratio", best="max"),
        Column("speed-up (rollouts)", "speedup_rollouts", "ratio", best="max"),
        Column("censored", "censored", "percent", ci=False),
        Column("steps→target, reaching seeds only", "steps_to_target_reaching", "steps"),
        Column("rollouts→target, reaching seeds only", "rollouts_to_target_reaching", "count"),
    ]
    source = "the given --target" if target is not None else "Random's final pass@1 averaged over its seeds"
    what = f"benchmark {benchmark}" if benchmark else "pass@1 averaged over benchmarks"
    smoothing = f", smoothed over {smooth_window} evaluations" if smooth_window > 1 else ""
    resampled = "" if target is not None else " (each of which also gives the resample its target)"
    notes = [
        f"target (%) = {source}; steps→target = first evaluated step where the seed-mean curve of {what} "
        f"(at the steps all n seeds were evaluated{smoothing}) ≥ target; rollouts→target = the seeds' mean "
        "cumulative generated completions there; speed-up = Random's steps (rollouts)→target / this arm's.",
        f"[95% bootstrap CI, {N_BOOT} resamples of the arm's seeds and, independently, of Random's{resampled}].",
        "A mean curve that never reaches the target is censored: >x / <x are bounds (its time is beyond its last "
        "evaluation); a censored resample counts at its lowest possible value for the CI's lower bound and at its "
        "highest for the upper (0 or ∞ where unbounded); censored = share of resamples where the arm's or Random's "
        "mean curve never reached.",
        'reached = seeds reaching the target on their own (k/n); the "reaching seeds only" columns = the mean over '
        "just those seeds [95% bootstrap CI], biased towards the fast seeds: for comparison only.",
        UNFINISHED_NOTE,
    ]
    table = Table(
        "efficiency",
        "Efficiency: steps and rollouts to the target",
        pd.DataFrame(rows),
        columns,
        notes,
        _many_tasks(coll),
        extra_labels=["reached"],
    )
    return table, warnings


def overhead_table(coll: Collection) -> Table:
    """Selector seconds per step, step seconds, their ratio and wall time per run, rows = model × arm."""
    runs = coll.runs.set_index("run")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = runs["selector_s_sum"] / runs["step_s_sum"]
    have = runs.index[runs["steps_logged"].notna()]
    rows = []
    for arm, ids in arm_rows(coll.runs):
        row = dict(arm)
        row["n"], row["n_unfinished"] = _seed_counts(coll.runs, ids, have)
        mine = runs.reindex(ids)
        _put(row, "selector_s", bootstrap_mean(mine["selector_s"].to_numpy()))
        _put(row, "step_s", bootstrap_mean(mine["step_s"].to_numpy()))
        _put(row, "selector_share", bootstrap_mean(share.reindex(ids).to_numpy()))
        _put(row, "wall_s", bootstrap_mean(mine["wall_s"].to_numpy()))
        logged = mine["steps_logged"].dropna()
        row["steps_logged"] = float(logged.mean()) if len(logged) else math.nan
        rows.append(row)
    columns = [
        Column("selector s/step", "selector_s", "seconds", best="min", ci=False),
        Column("step s/step", "step_s", "seconds", best="min", ci=False),
        Column("selector/step", "selector_share", "share", best="min", ci=False),
        Column("wall time/run", "wall_s", "seconds", best="min", ci=False),
        Column("steps", "steps_logged", "steps", ci=False),
    ]
    notes = [
        "per-run means over the steps in metrics.jsonl, then the mean over n seeds (CIs in the CSV); "
        "selector/step = total selector time / total step time; wall time = the run's last wall_s.",
        UNFINISHED_NOTE,
    ]
    return Table(
        "overhead", "Overhead: selector time per training step", pd.DataFrame(rows), columns, notes, _many_tasks(coll)
    )


def _many_tasks(coll: Collection) -> bool:
    return coll.runs["task"].nunique(dropna=False) > 1


# --------------------------------------------------------------------------- renderers
def to_markdown(table: Table) -> str:
    headers = table.label_headers + [c.header for c in table.columns]
    align = [":--" if side == "l" else "--:" for side in _alignment(table)]
    lines = [f"### {table.title}", "", _md_row(headers), _md_row(align)]
    for labels, values in zip(table.label_cells(), table.value_cells(), strict=True):
        cells = [_md_escape(c) for c in labels]
        for text, ci, bold in values:
            main = f"**{text}**" if bold else text
            cells.append(f"{main} {ci}".strip())
        lines.append(_md_row(cells))
    for note in table.notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _alignment(table: Table) -> list[str]:
    """ "l" for the text labels (model, task, selector), "r" for n, extra labels and every value column."""
    text_labels = len(table.label_headers) - 1 - len(table.extra_labels)
    return ["l"] * text_labels + ["r"] * (1 + len(table.extra_labels) + len(table.columns))


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


LATEX_SYMBOLS = {
    "μ": r"$\mu$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "γ": r"$\gamma$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "—": "--",
    "∞": r"$\infty$",
    "<": r"$<$",  # in text mode (OT1) < and > would print as ¡ and ¿
    ">": r"$>$",
    "%": r"\%",
}


def _tex(text: str) -> str:
    out = []
    for ch in text:
        if ch in "&#_{}$":
            out.append("\\" + ch)
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        elif ch in "~^":
            out.append(rf"\{ch}{{}}")
        else:
            out.append(LATEX_SYMBOLS.get(ch, ch))
    return "".join(out)


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment (needs \\usepackage{booktabs}); bold = best per model/task block."""
    headers = table.label_headers + [c.header for c in table.columns]
    spec = "".join(_alignment(table))
    lines = [
        "% generated by `insight report`; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{_tex(table.title)}. {_tex(' '.join(table.notes))}}}",
        f"\\label{{tab:{table.name}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_tex(h) for h in headers) + " \\\\",
        "\\midrule",
    ]
    previous_block = None
    for row, labels, values in zip(
        table.data.itertuples(index=False), table.label_cells(), table.value_cells(), strict=True
    ):
        block = (row.model, row.task)
        if previous_block is not None and block != previous_block:
            lines.append("\\midrule")
        previous_block = block
        cells = [_tex(c) for c in labels]
        for text, ci, bold in values:
            main = f"\\textbf{{{_tex(text)}}}" if bold else _tex(text)
            cells.append(main + (f" {{\\scriptsize {_tex(ci)}}}" if ci else ""))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """The raw numbers: arm columns, n, n_unfinished, every value with its _lo/_hi CI bounds."""
    buffer = io.StringIO()
    table.data.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL, float_format="%.10g", lineterminator="\n")
    return buffer.getvalue()


def to_rich(table: Table):
    """A rich.table.Table (bold = best per model/task block), notes as the caption."""
    from rich.table import Table as RichTable
    from rich.text import Text

    rich_table = RichTable(title=table.title, caption="\n".join(table.notes), caption_justify="left")
    for header in table.label_headers:
        justify = "right" if header == "n" or header in table.extra_labels else "left"
        rich_table.add_column(header, justify=justify, no_wrap=header == "selector")
    for col in table.columns:
        rich_table.add_column(col.header, justify="right")
    previous_block = None
    for row, labels, values in zip(
        table.data.itertuples(index=False), table.label_cells(), table.value_cells(), strict=True
    ):
        block = (row.model, row.task)
        if previous_block is not None and block != previous_block:
            rich_table.add_section()
        previous_block = block
        cells = [Text(c) for c in labels]
        for text, ci, bold in values:
            cell = Text(text, style="bold" if bold else "")
            if ci:
                cell.append(f" {ci}", style="dim")
            cells.append(cell)
        rich_table.add_row(*cells)
    return rich_table


RENDERERS: dict[str, tuple[str, Callable[[Table], str]]] = {
    "md": ("md", to_markdown),
    "csv": ("csv", to_csv),
    "latex": ("tex", to_latex),
}


def write_table(table: Table, out_dir: Path) -> list[Path]:
    """Write ``<out>/<name>.csv``, ``.md`` and ``.tex``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, render in RENDERERS.values():
        path = out_dir / f"{table.name}.{suffix}"
        path.write_text(render(table))
        paths.append(path)
    return paths
