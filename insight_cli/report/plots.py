"""The paper's figures from collected runs (matplotlib, Agg; each saved as PNG and PDF).

- ``curves``: pass@1 vs training step and vs generated rollouts, mean over seeds with a 95% bootstrap band, the
  target as a dashed line; one row of panels per model/task.
- ``speedup``: speed-up vs Random (steps and rollouts, on seed-mean curves) as bars with 95% CIs; 1× is Random;
  a censoring bound (a mean curve that never reached the target) is a pale bar marked "<" or ">", an unbounded
  CI end an arrow.
- ``mu`` / ``pool``: final pass@1 and speed-up against μ (selector.mu) or the pool factor, for a sweep over it.
- ``selection``: what each selector does to the batches: share of mixed-outcome groups, believed success of the chosen
  prompts (mean and quantiles), pool coverage against steps, and for one run how often each prompt was chosen against
  its measured success rate (from metrics.jsonl and selection.jsonl; parts older runs lack are left out, with a
  warning).

Sized for a paper (7 in wide, 8–9 pt text); colours are Okabe–Ito (colour-blind safe), one fixed colour per
selector in every figure; arms of the same selector (a μ sweep) differ by line style and marker.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insight_cli.report.collect import SYMBOLS, Collection, run_names
from insight_cli.report.tables import Table, arm_rows

PLOTS = ("curves", "speedup", "mu", "pool", "selection")
WIDTH_IN = 7.0  # a two-column paper's text width
# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}
SELECTOR_COLOURS = {
    "random": OKABE_ITO["black"],
    "wmi": OKABE_ITO["vermillion"],
    "mopps": OKABE_ITO["blue"],
    "dps": OKABE_ITO["green"],
    "dynamic_sampling": OKABE_ITO["orange"],
    "cropi": OKABE_ITO["purple"],
    "expected_difficulty": OKABE_ITO["sky"],
    "inverse_evidence": OKABE_ITO["grey"],
    "wmi_mi_only": OKABE_ITO["yellow"],
    "wmi_weight_only": "#8C3A00",  # a darker vermillion: the ablations read as WMI's family
    "wmi_sampled": "#F4A582",
}
LINESTYLES = ("-", "--", "-.", ":")
HATCHES = ("", "//", "\\\\", "..", "xx", "++", "oo")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
BAND_RESAMPLES = 1000
SWEEP_AXES = {"mu": ("selector.mu", "μ"), "pool": ("pool.factor", "pool factor M̂/M")}


def colour(selector: str) -> str:
    """The selector's fixed colour; selectors unknown to the table get one from a stable hash of their name."""
    if selector in SELECTOR_COLOURS:
        return SELECTOR_COLOURS[selector]
    spare = list(OKABE_ITO.values())
    return spare[sum(map(ord, selector)) % len(spare)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8,
            "axes.titlesize": 9,
            "axes.labelsize": 8,
            "legend.fontsize": 7.5,
            "xtick.labelsize": 7.5,
            "ytick.labelsize": 7.5,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "lines.linewidth": 1.4,
            "savefig.dpi": 200,
            "pdf.fonttype": 42,
        }
    )
    return plt


def _save(fig, out_dir: Path, name: str, dpi: int | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "pdf"):
        path = out_dir / f"{name}.{suffix}"
        fig.savefig(path, bbox_inches="tight", dpi=dpi if suffix == "png" and dpi else "figure")
        paths.append(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _styles(arms: list[dict]) -> dict[str, dict[str, Any]]:
    """arm label → colour (by selector), line style and marker (by position among that selector's arms)."""
    seen: dict[str, int] = {}
    styles = {}
    for arm in arms:
        if arm["arm"] in styles:
            continue
        k = seen.get(arm["selector"], 0)
        seen[arm["selector"]] = k + 1
        styles[arm["arm"]] = {
            "color": colour(arm["selector"]),
            "linestyle": LINESTYLES[k % len(LINESTYLES)],
            "marker": MARKERS[k % len(MARKERS)],
            "hatch": HATCHES[k % len(HATCHES)],
        }
    return styles


def _line(style: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a line (colour, line style, marker) from an arm's style."""
    return {k: style[k] for k in ("color", "linestyle", "marker")}


def _blocks(runs: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted({(str(m), str(t)) for m, t in zip(runs["model"], runs["task"], strict=True)})


def _mean_band(matrix: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps × seeds → mean and 95% bootstrap band per step (missing seeds ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (a seed not evaluated there) stay NaN
        mean = np.nanmean(matrix, axis=1)
        if matrix.shape[1] < 2:
            return mean, mean, mean
        idx = rng.integers(0, matrix.shape[1], size=(BAND_RESAMPLES, matrix.shape[1]))
        means = np.nanmean(matrix[:, idx], axis=2)
        lo, hi = np.nanpercentile(means, [2.5, 97.5], axis=1)
    return mean, lo, hi


# --------------------------------------------------------------------------- curves
def plot_curves(
    coll: Collection, curves: pd.DataFrame, targets: pd.DataFrame, out_dir: Path, dpi: int | None = None
) -> list[Path]:
    """pass@1 vs step (left) and vs rollouts (right), a row per model/task; the legend on the right."""
    plt = _pyplot()
    from matplotlib.ticker import EngFormatter

    blocks = _blocks(coll.runs)
    fig, axes = plt.subplots(len(blocks), 2, figsize=(WIDTH_IN, 2.3 * len(blocks)), squeeze=False)
    arms = arm_rows(coll.runs)
    styles = _styles([a for a, _ in arms])
    rng = np.random.default_rng(0)
    target_of = {(str(t.model), str(t.task)): t.target for t in targets.itertuples()}
    for row, (model, task) in enumerate(blocks):
        ax_step, ax_roll = axes[row]
        for arm, ids in arms:
            if (str(arm["model"]), str(arm["task"])) != (model, task):
                continue
            mine = curves[curves["run"].isin(ids)]
            if mine.empty:
                continue
            values = mine.pivot_table(index="step", columns="run", values="pass@1", aggfunc="last")
            rollouts = mine.pivot_table(index="step", columns="run", values="rollouts", aggfunc="last")
            mean, lo, hi = _mean_band(values.to_numpy() * 100.0, rng)
            steps = values.index.to_numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                x_roll = np.nanmean(rollouts.to_numpy(), axis=1)
            style = styles[arm["arm"]]
            every = max(1, len(steps) // 8)
            label = f"{arm['arm']} · n={values.shape[1]}"
            for ax, x in ((ax_step, steps), (ax_roll, x_roll)):
                ax.plot(x, mean, label=label, markevery=every, markersize=3.5, **_line(style))
                ax.fill_between(x, lo, hi, color=style["color"], alpha=0.15, linewidth=0)
        target = target_of.get((model, task), np.nan)
        for ax in (ax_step, ax_roll):
            if np.isfinite(target):
                ax.axhline(
                    100.0 * target,
                    color=OKABE_ITO["grey"],
                    linestyle="--",
                    linewidth=0.9,
                    label=f"target {100.0 * target:.1f}%",
                )
            ax.set_ylabel("pass@1 (%)")
        ax_step.set_xlabel("training step")
        ax_roll.set_xlabel("generated rollouts")
        ax_roll.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax_step.set_title(f"{model} · {task}", loc="left")
        handles, labels = ax_step.get_legend_handles_labels()
        if handles:
            ax_roll.legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.tight_layout()
    return _save(fig, out_dir, "curves", dpi)


# --------------------------------------------------------------------------- speed-up bars
def plot_speedup(efficiency: Table, out_dir: Path, dpi: int | None = None) -> list[Path]:
    """Speed-up vs Random in steps (left) and rollouts (right), bars with 95% CI whiskers.

    A bound (``speedup_*_bound`` "<" or ">": a seed-mean curve never reached the target) is drawn pale and marked;
    an infinite CI end (unbounded by censoring) is drawn as an upward arrow instead of a whisker.
    """
    plt = _pyplot()
    data = efficiency.data[efficiency.data["selector"] != "random"]
    blocks = _blocks(efficiency.data)
    fig, axes = plt.subplots(len(blocks), 2, figsize=(WIDTH_IN, 2.6 * len(blocks)), squeeze=False)
    styles = _styles(efficiency.data.to_dict("records"))
    for row, (model, task) in enumerate(blocks):
        block = data[(data["model"].astype(str) == model) & (data["task"].astype(str) == task)]
        for ax, what in zip(axes[row], ("steps", "rollouts"), strict=True):
            key = f"speedup_{what}"
            x = np.arange(len(block))
            values = block[key].to_numpy(dtype=float)
            bounds = _bounds(block, key)
            top = block[f"{key}_hi"].to_numpy(dtype=float)
            colours = [styles[a]["color"] for a in block["arm"]]
            hatches = [styles[a]["hatch"] for a in block["arm"]]
            bars = ax.bar(x, np.nan_to_num(values), color=colours, edgecolor="black", linewidth=0.5)
            for bar, hatch, bound in zip(bars, hatches, bounds, strict=True):
                bar.set_hatch(hatch)
                bar.set_alpha(0.35 if bound else 1.0)
            yerr = _err(block, key)
            ax.errorbar(x, np.nan_to_num(values), yerr=yerr, fmt="none", ecolor="black", capsize=2.5, linewidth=0.8)
            for xi, v, bound, hi in zip(x, values, bounds, top, strict=True):
                if not np.isfinite(v):
                    ax.text(xi, 0.05, "not\nreached", ha="center", va="bottom", fontsize=6.5)
                elif bound:
                    ax.text(xi, v, bound, ha="center", va="bottom", fontsize=8)
                if np.isinf(hi) and np.isfinite(v):
                    ax.annotate("", (xi, v * 1.35 + 0.1), (xi, v), arrowprops={"arrowstyle": "->", "lw": 0.8})
            ax.axhline(1.0, color=OKABE_ITO["black"], linestyle="--", linewidth=0.9)
            ax.set_xticks(x, block["arm"], rotation=30, ha="right")
            ax.set_ylabel(f"speed-up in {what} (×)")
            ax.set_title(f"{model} · {task} — {what} to target", loc="left")
            if not len(block):
                ax.text(0.5, 0.5, "no selector besides Random", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    return _save(fig, out_dir, "speedup", dpi)


# --------------------------------------------------------------------------- hyper-parameter sweeps
def _drop_symbol(label: str, symbol: str) -> str:
    """``wmi (μ=0.5, η=3)`` without its μ part → ``wmi (η=3)``."""
    match = re.match(r"^(.*?) \((.*)\)$", label)
    if not match:
        return label
    parts = [p for p in match.group(2).split(", ") if not p.startswith(f"{symbol}=")]
    return f"{match.group(1)} ({', '.join(parts)})" if parts else match.group(1)


def sweep_lines(accuracy: Table, key: str) -> pd.DataFrame:
    """Arms of a sweep over ``key``: rows of (model, task, selector) groups where ``key`` takes ≥ 2 values."""
    data = accuracy.data.dropna(subset=[key]) if key in accuracy.data else accuracy.data.iloc[0:0]
    counts = data.groupby(["model", "task", "selector"])[key].transform("nunique")
    return data[counts >= 2]


def plot_sweep(kind: str, accuracy: Table, efficiency: Table, out_dir: Path, dpi: int | None = None) -> list[Path]:
    """Final pass@1 (left) and speed-up in steps (right) against μ or the pool factor, a row per model/task that
    sweeps it; returns [] when no selector takes two values of it."""
    key, axis_label = SWEEP_AXES[kind]
    lines = sweep_lines(accuracy, key)
    if lines.empty or not accuracy.columns:  # no sweep, or no evaluation to plot yet
        return []
    plt = _pyplot()
    from matplotlib.ticker import ScalarFormatter

    value_key = "pass@1:average" if "pass@1:average" in accuracy.data else accuracy.columns[0].key
    speed = efficiency.data.set_index(["model", "task", "arm"])
    blocks = _blocks(lines)
    fig, axes = plt.subplots(len(blocks), 2, figsize=(WIDTH_IN, 2.4 * len(blocks)), squeeze=False, sharex="row")
    styles = _styles(accuracy.data.to_dict("records"))
    symbol = SYMBOLS.get(key, key)
    for row, (model, task) in enumerate(blocks):
        ax_acc, ax_speed = axes[row]
        block = lines[(lines["model"].astype(str) == model) & (lines["task"].astype(str) == task)]
        block = block.assign(line=[_drop_symbol(a, symbol) for a in block["arm"]])
        unreached = []
        for n_line, (line, points) in enumerate(block.groupby("line", sort=False)):
            points = points.sort_values(key)
            x = points[key].to_numpy(dtype=float)
            style = _line(styles[points["arm"].iloc[0]])
            style["linestyle"] = LINESTYLES[n_line % len(LINESTYLES)]
            acc = points[value_key].to_numpy(dtype=float) * 100.0
            ax_acc.errorbar(
                x, acc, yerr=_err(points, value_key, scale=100.0), label=line, capsize=2.5, markersize=4, **style
            )
            rows = speed.reindex(list(zip(points["model"], points["task"], points["arm"], strict=True)))
            ups = rows["speedup_steps"].to_numpy(dtype=float)
            bounds = _bounds(rows, "speedup_steps")
            exact = np.where(bounds == "", ups, np.nan)  # a censoring bound is not a point on the line
            ax_speed.errorbar(
                x, exact, yerr=_err(rows, "speedup_steps"), label=line, capsize=2.5, markersize=4, **style
            )
            unreached += [
                f"{symbol}={v:g}" + (f" ({b}{u:.2f}×)" if b and np.isfinite(u) else "")
                for v, u, b in zip(x, ups, bounds, strict=True)
                if not np.isfinite(u) or b
            ]
        random = accuracy.data[
            (accuracy.data["model"].astype(str) == model)
            & (accuracy.data["task"].astype(str) == task)
            & (accuracy.data["selector"] == "random")
        ]
        if len(random):
            ax_acc.axhline(
                100.0 * float(random[value_key].iloc[0]),
                color=OKABE_ITO["black"],
                linestyle="--",
                linewidth=0.9,
                label="random",
            )
        ax_speed.axhline(1.0, color=OKABE_ITO["black"], linestyle="--", linewidth=0.9, label="random (1×)")
        if unreached:
            ax_speed.text(
                0.98,
                0.95,
                "target not reached: " + ", ".join(unreached),
                transform=ax_speed.transAxes,
                ha="right",
                va="top",
                fontsize=7,
            )
        for ax in (ax_acc, ax_speed):
            ax.set_xlabel(axis_label)
            if kind == "pool":
                ax.set_xscale("log", base=2)
                ax.xaxis.set_major_formatter(ScalarFormatter())
        ax_acc.set_ylabel("final pass@1 (%)")
        ax_speed.set_ylabel("speed-up in steps (×)")
        ax_acc.set_title(f"{model} · {task}", loc="left")
        ax_acc.legend(frameon=False, loc="best")
    fig.tight_layout()
    return _save(fig, out_dir, kind, dpi)


def _err(frame: pd.DataFrame, key: str, scale: float = 1.0) -> np.ndarray:
    """Whisker lengths below and above each value; none where a bound is missing or infinite (censoring)."""
    mean = frame[key].to_numpy(dtype=float)
    lo = frame[f"{key}_lo"].to_numpy(dtype=float)
    hi = frame[f"{key}_hi"].to_numpy(dtype=float)
    err = np.vstack([mean - lo, hi - mean]) * scale
    return np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)


def _bounds(frame: pd.DataFrame, key: str) -> np.ndarray:
    """Per row: "<" / ">" where the value is a censoring bound, "" where exact (or the column has no bounds)."""
    if f"{key}_bound" not in frame:
        return np.full(len(frame), "", dtype=object)
    return np.array([b if isinstance(b, str) else "" for b in frame[f"{key}_bound"]], dtype=object)


# --------------------------------------------------------------------------- what each selector does to the batches
SELECTION_SMOOTH = 8  # steps of the trailing moving average applied to each run's per-step curves
BELIEF_QUANTILES = (10, 50, 90)
HEATMAP_SUCCESS_BINS = 10


@dataclass
class SelectionRun:
    """One run's per-step selection record: metrics.jsonl columns, belief quantiles and per-prompt counts."""

    run: int
    steps: np.ndarray
    mixed: np.ndarray
    belief_mean: np.ndarray
    coverage: np.ndarray
    belief_steps: np.ndarray  # steps of selection.jsonl lines with beliefs, and their quantiles (rows × 3)
    belief_quantiles: np.ndarray
    times_chosen: np.ndarray | None  # per prompt (None: selection.jsonl records no outcomes)
    successes: np.ndarray | None
    trials: np.ndarray | None


def _pool_prompts(run_path: Path) -> int | None:
    """Training-pool size of a run: task.train_size, else the length of the checkpointed ``seen`` array."""
    from insight_cli.safe_read import load_yaml

    try:
        config = load_yaml(run_path / "config.yaml")
        size = int((config.get("task") or {}).get("train_size") or 0)
    except (OSError, ValueError, TypeError, AttributeError):  # DamagedFile is a ValueError
        size = 0
    if size > 0:
        return size
    for npz in sorted(run_path.glob("checkpoints/checkpoint-*/selection.npz")):
        try:
            return int(len(np.load(npz)["seen"]))
        except (OSError, KeyError, ValueError):
            continue
    return None


def read_selection_run(run: int, path: str) -> tuple[SelectionRun, list[str]]:
    """A run directory's metrics.jsonl and selection.jsonl as a :class:`SelectionRun`; the list names the parts the
    files lack ("mixed", "belief", "coverage", "beliefs", "outcomes")."""
    from insight_cli.runs import RunDir

    run_dir = RunDir(path)
    metrics = sorted(run_dir.read("metrics.jsonl"), key=lambda r: np.nan_to_num(_float(r.get("step", 0))))
    lacks: list[str] = []

    def column(key: str) -> np.ndarray:
        return np.array([_float(r.get(key)) for r in metrics], dtype=np.float64)

    steps = column("step")
    mixed = column("frac_mixed_groups")
    if np.isnan(mixed).all():  # runs older than the mixed share: one minus the zero-variance share
        mixed = 1.0 - column("frac_zero_std_groups")
    belief = column("chosen_belief_mean")
    prompts = _pool_prompts(Path(path))
    coverage = column("distinct_prompts_seen") / prompts if prompts else np.full(len(steps), np.nan)
    for name, values in (("mixed", mixed), ("belief", belief), ("coverage", coverage)):
        if len(values) == 0 or np.isnan(values).all():
            lacks.append(name)
    selections = run_dir.read("selection.jsonl")
    with_beliefs = [r for r in selections if r.get("beliefs")]
    quantiles = np.array([np.percentile(r["beliefs"], BELIEF_QUANTILES) for r in with_beliefs]).reshape(-1, 3)
    if not with_beliefs:
        lacks.append("beliefs")
    with_outcomes = [r for r in selections if r.get("successes") is not None and r.get("trials")]
    times = successes = trials = None
    if with_outcomes and prompts:
        ids = np.concatenate([np.asarray(r["prompt_ids"], dtype=np.int64) for r in with_outcomes])
        wins = np.concatenate([np.asarray(r["successes"], dtype=np.float64) for r in with_outcomes])
        tries = np.concatenate([np.full(len(r["prompt_ids"]), float(r["trials"])) for r in with_outcomes])
        size = max(prompts, int(ids.max()) + 1)
        times = np.bincount(ids, minlength=size)
        successes, trials = np.bincount(ids, wins, size), np.bincount(ids, tries, size)
    else:
        lacks.append("outcomes")
    data = SelectionRun(
        run,
        steps,
        mixed,
        belief,
        coverage,
        np.array([float(r["step"]) for r in with_beliefs]),
        quantiles,
        times,
        successes,
        trials,
    )
    return data, lacks


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def _smooth(values: np.ndarray, window: int = SELECTION_SMOOTH) -> np.ndarray:
    """Trailing moving average over ``window`` points (NaNs ignored; fewer points at the start)."""
    series = pd.Series(values, dtype=float)
    return series.rolling(window, min_periods=1).mean().to_numpy()


def _seed_matrix(runs: list[SelectionRun], steps_of, values_of) -> tuple[np.ndarray, np.ndarray]:
    """Steps × seeds of one smoothed per-step series (NaN where a seed lacks the step)."""
    columns = {
        i: pd.Series(_smooth(values_of(r)), index=steps_of(r)).groupby(level=0).last() for i, r in enumerate(runs)
    }
    frame = pd.DataFrame(columns).sort_index()
    return frame.index.to_numpy(dtype=float), frame.to_numpy(dtype=float)


LACK_TEXT = {
    "mixed": "no frac_mixed_groups or frac_zero_std_groups in metrics.jsonl",
    "belief": "no chosen_belief_mean in metrics.jsonl",
    "coverage": "no distinct_prompts_seen in metrics.jsonl, or no pool size (task.train_size)",
    "beliefs": "no per-prompt beliefs in selection.jsonl (recorded since the tracking change)",
    "outcomes": "no per-prompt outcomes (successes, trials) in selection.jsonl (recorded since the tracking change)",
}


def plot_selection(coll: Collection, out_dir: Path, dpi: int | None = None) -> tuple[list[Path], list[str]]:
    """What each selector does to the batches (one figure; returns its files and the warnings about what is missing).

    Top row, per arm against the training step, mean over seeds with a 95% bootstrap band (each run smoothed by an
    8-step trailing average): (a) share of mixed-outcome groups (the groups that carry a GRPO gradient), (b) mean
    believed success of the chosen prompts, (c) share of the training pool chosen at least once. Bottom row:
    (d) the 10th-50th-90th percentiles of the chosen prompts' believed success (seed means), (e, f) for one run of the
    method and one of Random: how many prompts were chosen how often against their measured success rate over the
    run. Parts the run files lack are left out and named once in the warnings.
    """
    plt = _pyplot()
    runs = coll.runs
    loaded: dict[int, SelectionRun] = {}
    lacking: dict[str, list[int]] = {}
    for row in runs.itertuples():
        data, lacks = read_selection_run(int(row.run), str(row.path))
        loaded[int(row.run)] = data
        if not len(data.steps):  # nothing logged yet: collect already warns about it
            continue
        for part in lacks:
            lacking.setdefault(part, []).append(int(row.run))
    arms = arm_rows(runs)
    styles = _styles([a for a, _ in arms])
    rng = np.random.default_rng(0)
    shown = _heatmap_runs(runs, loaded)
    # the bottom row only when some run recorded per-prompt beliefs or outcomes (runs before the tracking change not)
    bottom = bool(shown) or any(len(d.belief_steps) for d in loaded.values())
    fig = plt.figure(figsize=(WIDTH_IN, 5.2 if bottom else 2.7))
    grid = fig.add_gridspec(2 if bottom else 1, 3, hspace=0.62, wspace=0.62)
    top = [fig.add_subplot(grid[0, i]) for i in range(3)]
    ax_q = fig.add_subplot(grid[1, 0]) if bottom else None
    heat_axes = [fig.add_subplot(grid[1, 1]), fig.add_subplot(grid[1, 2])] if bottom else []
    several_blocks = len(_blocks(runs)) > 1
    panels = (
        ("(a) mixed-outcome groups", lambda r: r.mixed, "share of the step's groups"),
        ("(b) belief in the chosen", lambda r: r.belief_mean, "mean believed success φ̄"),
        ("(c) pool coverage", lambda r: r.coverage, "share of pool chosen so far"),
    )
    for arm, ids in arms:
        members = [loaded[int(i)] for i in ids]
        style = styles[arm["arm"]]
        label = f"{arm['model']} · {arm['arm']}" if several_blocks else str(arm["arm"])
        label += f" · n={len(members)}"
        for ax, (_, values_of, _) in zip(top, panels, strict=True):
            usable = [r for r in members if len(r.steps) and not np.isnan(values_of(r)).all()]
            if not usable:
                continue
            steps, matrix = _seed_matrix(usable, lambda r: r.steps, values_of)
            mean, lo, hi = _mean_band(matrix, rng)
            ax.plot(steps, mean, label=label, color=style["color"], linestyle=style["linestyle"])
            ax.fill_between(steps, lo, hi, color=style["color"], alpha=0.15, linewidth=0)
        if ax_q is not None:
            _belief_spread(ax_q, [r for r in members if len(r.belief_steps)], style, label)
    for ax, (title, _, ylabel) in zip(top, panels, strict=True):
        ax.set_title(title, loc="left")
        ax.set_ylabel(ylabel)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.02, 1.02)
    if ax_q is not None:
        ax_q.set_title("(d) spread of the belief", loc="left")
        ax_q.set_ylabel("φ̄ of chosen: median, 10–90%")
        ax_q.set_xlabel("training step")
        ax_q.set_ylim(-0.02, 1.02)
    drawn = [*top, *([ax_q] if ax_q is not None else [])]
    beliefless = not any(_keeps_beliefs(str(name)) for name in runs["selector"])
    for ax in drawn:
        if not ax.lines:
            about_beliefs = ax is top[1] or ax is ax_q
            text = (
                "these selectors keep\nno Beta belief"
                if about_beliefs and beliefless
                else "not recorded\nin these runs"
            )
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")
    handles, labels = [], []
    for ax in drawn:  # every arm once, whichever panel it appears in
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    if handles:
        fig.legend(
            handles, labels, loc="upper center", ncol=min(len(labels), 4), frameon=False, bbox_to_anchor=(0.5, 1.0)
        )
    for letter, ax, (row, data) in zip("ef", heat_axes, shown, strict=False):
        _choice_heatmap(fig, ax, row, data, letter)
    for ax in heat_axes[len(shown) :]:
        ax.set_axis_off()
        if not shown and ax is heat_axes[0]:
            ax.text(
                0.5,
                0.5,
                "(e) times chosen vs measured success:\nno per-prompt outcomes recorded in these runs",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
    fig.subplots_adjust(top=0.86 if bottom else 0.74)
    problems = []
    for part, ids in lacking.items():
        if part in ("belief", "beliefs"):  # selectors without Beta beliefs never have them: not a gap in the files
            ids = [i for i in ids if _keeps_beliefs(str(runs.loc[runs["run"] == i, "selector"].iloc[0]))]
        if ids:
            problems.append(
                f"selection figure: {len(ids)} of {len(runs)} runs have {LACK_TEXT[part]}: "
                f"{run_names(runs[runs['run'].isin(ids)])}; that part leaves them out"
            )
    return _save(fig, out_dir, "selection", dpi), problems


def _belief_spread(ax, members: list[SelectionRun], style: dict[str, Any], label: str) -> None:
    """Panel (d): seed means of the chosen prompts' 10th, 50th and 90th percentile of believed success."""
    if not members:
        return
    quantiles = []
    for k in range(len(BELIEF_QUANTILES)):
        steps, matrix = _seed_matrix(members, lambda r: r.belief_steps, lambda r, k=k: r.belief_quantiles[:, k])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            quantiles.append(np.nanmean(matrix, axis=1))
    ax.plot(steps, quantiles[1], color=style["color"], linestyle=style["linestyle"], label=label)
    ax.fill_between(steps, quantiles[0], quantiles[2], color=style["color"], alpha=0.15, linewidth=0)


def _choice_heatmap(fig, ax, row: pd.Series, data: SelectionRun, letter: str) -> None:
    """Panels (e, f): prompts of one run by measured success rate (x) and times chosen (y), in the selector's
    colour; the prompts never chosen are counted in the axis label."""
    from matplotlib.colors import LinearSegmentedColormap

    selector = str(row["selector"])
    cmap = LinearSegmentedColormap.from_list(selector, ["#FFFFFF", colour(selector)])
    chosen = data.times_chosen > 0
    rate = data.successes[chosen] / np.maximum(data.trials[chosen], 1)
    times = data.times_chosen[chosen]
    x_edges = np.linspace(0, 1, HEATMAP_SUCCESS_BINS + 1)
    y_edges = np.unique(np.round(np.linspace(1, times.max() + 1, 11))).astype(float)
    counts, _, _ = np.histogram2d(rate, times, bins=[x_edges, y_edges])
    mesh = ax.pcolormesh(x_edges, y_edges, counts.T, cmap=cmap, edgecolors="#DDDDDD", linewidth=0.2)
    bar = fig.colorbar(mesh, ax=ax, pad=0.02, fraction=0.08)
    bar.set_label("prompts", fontsize=7)
    bar.ax.tick_params(labelsize=6.5)
    ax.set_title(f"({letter}) {selector} seed {row['seed']} · {row['run_id'][:6]}", loc="left")
    ax.set_xlabel("measured success rate")
    ax.set_ylabel(f"times chosen ({int((~chosen).sum())} never)")


def _keeps_beliefs(selector: str) -> bool:
    """Whether a selector keeps a Beta belief per prompt (so its runs record believed success)."""
    from insight_cli.selectors import SELECTORS, BetaSelector

    return selector in SELECTORS and issubclass(SELECTORS[selector], BetaSelector)


def _heatmap_runs(runs: pd.DataFrame, loaded: dict[int, SelectionRun]) -> list[tuple[pd.Series, SelectionRun]]:
    """Up to two runs with recorded outcomes: the lowest seed of the last selector in table order, then of Random."""
    from insight_cli.report.collect import SELECTOR_ORDER

    have = runs[[loaded[int(r)].times_chosen is not None for r in runs["run"]]]
    if have.empty:
        return []
    rank = {name: i for i, name in enumerate(SELECTOR_ORDER)}
    ordered = have.assign(rank=[rank.get(s, len(rank)) for s in have["selector"]]).sort_values(["rank", "seed"])
    picks = [ordered[ordered["rank"] == ordered["rank"].max()].iloc[0]]
    random = ordered[ordered["selector"] == "random"]
    if len(random) and picks[0]["selector"] != "random":
        picks.append(random.iloc[0])
    return [(row, loaded[int(row["run"])]) for row in picks]
