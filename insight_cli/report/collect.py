"""Run directories → two tidy pandas tables (DESIGN.md §4): one row per run × step × benchmark, one row per run.

    from insight_cli.report.collect import collect
    runs = collect("results", sweeps=["table1"], filters=["selector=wmi", "mu=0.3"])
    runs.evals   # run × step × benchmark: pass@1, rollouts + the config columns a table groups by
    runs.runs    # one row per run: config columns, state, and metrics.jsonl summed up (selector_s, step_s, wall_s)

A run directory is ``<results_dir>/<sweep>/<run_id>/`` holding ``config.yaml`` (the resolved config). Runs still in
progress (or failed, or never started) are kept and marked: ``finished`` is False. Damaged files never raise: a
truncated last line, an empty file, a run with no evaluation yet each add a warning naming the run.

Speed (bench/report.py times 1,000 runs end to end): configs are parsed with libyaml's CSafeLoader, eval.jsonl with
one ``json.loads`` per file, metrics.jsonl (a line per training step, the bulk of the bytes) with pyarrow's C++ JSON
reader keeping only the five columns the report uses; scans of 200 runs or more are split over the machine's cores.
Every fast path falls back to a tolerant line-by-line reader when a file is damaged, and says which file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from insight_cli.aliases import ALIASES, SYMBOLS  # SYMBOLS: paper symbols in row labels ("wmi (μ=0.5)")
from insight_cli.config import ConfigError, expand_alias
from insight_cli.runs import atomic_write_text
from insight_cli.safe_read import (
    MAX_DEPTH,
    MAX_JSONL_BYTES,
    DamagedFile,
    is_fraction,
    json_lines,
    load_json,
    load_yaml,
    max_line_brackets,
    read_bytes,
)

# Columns the tables group by: column name → dotted key of the resolved config.
CONFIG_COLUMNS: dict[str, str] = {
    "model": "model.name",
    "task": "task.name",
    "selector": "selector.name",
    "selector.mu": "selector.mu",
    "selector.eta": "selector.eta",
    "selector.lam": "selector.lam",
    "pool.factor": "pool.factor",
    "seed": "seed",
}
# Keys that never separate two arms of an experiment: seeds are what a table averages over, the rest is launch detail.
NOT_ARM_KEYS = ("seed", "sweep")
NOT_ARM_PREFIXES = ("launcher.", "tracking.", "paths.")
# Row order of every table and legend: the baseline first, the paper's method last.
SELECTOR_ORDER = (
    "random",
    "dynamic_sampling",
    "mopps",
    "dps",
    "cropi",
    "expected_difficulty",
    "inverse_evidence",
    "wmi_mi_only",
    "wmi_weight_only",
    "wmi_sampled",
    "wmi",
)
FINISHED_STATE = "done"
# Filter keys that name a config group select on its option name: selector=wmi means selector.name == wmi.
GROUP_KEYS = ("model", "selector", "task", "trainer", "launcher", "tracking")
RUN_KEYS = ("sweep", "run_id", "state")
METRIC_FIELDS = ("step", "rollouts", "wall_s", "selector_s", "step_s")
# What metrics.jsonl adds to a run's row (RunData.summary).
SUMMARY_COLUMNS = (
    "steps_logged",
    "last_step",
    "rollouts_final",
    "wall_s",
    "selector_s",
    "step_s",
    "selector_s_sum",
    "step_s_sum",
)
PARALLEL_MIN_RUNS = 200
# Files that make a folder a run directory (config.yaml is written first; the others tell a damaged run from a folder)
RUN_FILES = ("config.yaml", "status.json", "meta.json", "eval.jsonl", "metrics.jsonl")


class ReportError(ConfigError):
    """Nothing to report (no results directory, no run, an empty selection): one line, exit code 2."""


# --------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class Filter:
    """``key=v1,v2``: keep runs whose config value at ``key`` equals one of the values.

    Runs whose config has no ``key`` at all are kept: ``mu=0.3`` selects WMI at μ = 0.3 and leaves the selectors
    without a μ (Random, the baseline of every speed-up) in the table. A key no run has is an error.
    """

    key: str
    values: tuple[str, ...]
    text: str

    def matches(self, flat: dict[str, Any]) -> bool:
        if self.key not in flat:
            return True
        return any(_same_value(flat[self.key], wanted) for wanted in self.values)


def parse_filters(items: Iterable[str]) -> list[Filter]:
    """``["selector=wmi", "mu=0.3,0.5"]`` → Filters on selector.name and selector.mu (paper symbols accepted)."""
    filters = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ReportError(f"malformed filter {item!r}: write key=value, e.g. selector=wmi or mu=0.3")
        key = expand_alias(key.strip())
        if key in GROUP_KEYS:
            key = f"{key}.name"
        filters.append(Filter(key, tuple(v.strip() for v in value.split(",")), item))
    return filters


def _same_value(actual: Any, wanted: str) -> bool:
    if actual is None:
        return wanted.lower() in ("null", "none", "~")
    if isinstance(actual, bool):
        return wanted.lower() == str(actual).lower()
    if isinstance(actual, int | float):
        try:
            return math.isclose(float(actual), float(wanted), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    return str(actual) == wanted


# --------------------------------------------------------------------------- one run
@dataclass
class RunData:
    """What one run directory holds, reduced to what the report needs (picklable, for worker processes)."""

    path: str
    sweep: str
    run_id: str
    flat: dict[str, Any]
    state: str
    matched: bool = True
    evals: dict[str, np.ndarray] | None = None
    benchmarks: list[str] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)
    metrics_stamp: list[int] | None = None  # set when metrics.jsonl was parsed cleanly (a cache entry to write)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.sweep}/{self.run_id}"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mapping → {"a.b.c": leaf}; lists become tuples so values can be compared and hashed."""
    flat: dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            flat.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(tree, list):
        flat[prefix[:-1]] = tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in tree)
    else:
        flat[prefix[:-1]] = tree
    return flat


def read_run(path: str, filters: Sequence[Filter] = (), cached: dict | None = None) -> RunData:
    """Read one run directory; eval.jsonl and metrics.jsonl are read only when the run passes ``filters``.

    ``cached`` is this run's entry of the metrics cache (see ``MetricsCache``): when metrics.jsonl has not changed
    since, its summary is reused instead of parsing the file again.
    """
    run_path = Path(path)
    run = RunData(path=path, sweep=run_path.parent.name, run_id=run_path.name, flat={}, state="unknown")
    try:
        config = load_yaml(run_path / "config.yaml")
    except (FileNotFoundError, DamagedFile) as exc:
        run.matched = False
        problem = exc.problem if isinstance(exc, DamagedFile) else "is missing"
        run.warnings.append(f"run {run.name}: config.yaml {problem}; run skipped")
        return run
    run.flat = flatten(config)
    run.flat.update({"sweep": run.sweep, "run_id": run.run_id})
    run.state = _read_state(run_path / "status.json", run)
    run.flat["state"] = run.state
    run.matched = all(f.matches(run.flat) for f in filters)
    if run.matched:
        _read_evals(run_path / "eval.jsonl", run)
        need_steps = run.evals is not None and bool(np.isnan(run.evals["rollouts"]).any())
        metrics = _read_metrics(run_path / "metrics.jsonl", run, None if need_steps else cached)
        if need_steps and metrics is not None:
            _fill_rollouts(run.evals, metrics)
    return run


def _read_state(path: Path, run: RunData) -> str:
    """The run's state from status.json; a damaged one keeps the run (its records are intact) as 'unknown', which
    the tables show as unfinished."""
    try:
        return str(load_json(path).get("state", "unknown"))
    except FileNotFoundError:
        return "unknown"  # not started yet
    except DamagedFile as exc:
        run.warnings.append(f"run {run.name}: status.json {exc.problem}; state shown as unknown")
        return "unknown"


def _load_lines(path: Path, run: RunData) -> list[dict] | None:
    """All JSON records of a JSONL file (None if the file is missing); damaged lines are skipped with a warning."""
    try:
        lines = json_lines(path)
    except FileNotFoundError:
        return None
    except DamagedFile as exc:
        run.warnings.append(f"run {run.name}: {path.name} {exc.problem}; not read")
        return []
    if lines.problem():
        run.warnings.append(f"run {run.name}: {path.name} {lines.problem()}")
    return lines.records


def _read_metrics(path: Path, run: RunData, cached: dict | None = None) -> dict[str, np.ndarray] | None:
    """metrics.jsonl → per-run summary in ``run.summary``; returns the step/rollouts arrays (sorted by step), or
    None when the summary came from the cache or there is nothing to read."""
    stamp = file_stamp(path)
    if cached is not None and stamp is not None and cached.get("stamp") == stamp:
        run.summary = dict(cached["summary"])
        return None
    columns = _metrics_columns_fast(path)
    if columns is not None and stamp is not None:
        run.metrics_stamp = stamp  # a clean parse: worth caching
    if columns is None:
        damage_reported = len(run.warnings)
        records = _load_lines(path, run)
        if records is None:
            run.warnings.append(f"run {run.name}: no metrics.jsonl; left out of the overhead table")
            return None
        if not records and len(run.warnings) > damage_reported:
            return None
        columns = {k: _column(records, k) for k in METRIC_FIELDS}
    if len(columns["step"]) == 0:
        run.warnings.append(f"run {run.name}: metrics.jsonl is empty (no training step logged yet)")
        return None
    run.summary = {
        "steps_logged": float(len(columns["step"])),
        "last_step": _nanmax(columns["step"]),
        "rollouts_final": _nanmax(columns["rollouts"]),
        "wall_s": _nanmax(columns["wall_s"]),
        "selector_s": _nanmean(columns["selector_s"]),
        "step_s": _nanmean(columns["step_s"]),
        "selector_s_sum": float(np.nansum(columns["selector_s"])),
        "step_s_sum": float(np.nansum(columns["step_s"])),
    }
    keep = np.isfinite(columns["step"])
    order = np.argsort(columns["step"][keep], kind="stable")
    return {k: columns[k][keep][order] for k in ("step", "rollouts")}


def file_stamp(path: Path) -> list[int] | None:
    """(size, mtime in ns, inode): changes whenever a run appends to the file or rewrites it (atomic replace)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _metrics_columns_fast(path: Path) -> dict[str, np.ndarray] | None:
    """Parse metrics.jsonl with pyarrow (only the report's columns); None asks for the tolerant Python reader."""
    try:
        data = read_bytes(path, MAX_JSONL_BYTES)
    except (OSError, DamagedFile):
        return None
    if not data.endswith(b"\n") or not data.strip() or max_line_brackets(data) > MAX_DEPTH:
        return None  # truncated last line, empty file, or nesting pyarrow's parser could crash on: read tolerantly
    try:
        import pyarrow as pa
        import pyarrow.json as pj

        table = pj.read_json(
            pa.py_buffer(data),
            parse_options=_arrow_options(),
            read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
        )
    except Exception:  # any parse problem: fall back to the line-by-line reader, which reports it
        return None
    return {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64) for name in METRIC_FIELDS}


@functools.cache
def _arrow_options():
    """pyarrow JSON options keeping METRIC_FIELDS as float64 and ignoring every other field (built once)."""
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema([(name, pa.float64()) for name in METRIC_FIELDS])
    return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")


def _read_evals(path: Path, run: RunData) -> None:
    damage_reported = len(run.warnings)
    records = _load_lines(path, run)
    if not records and len(run.warnings) > damage_reported:
        return  # the damage is the warning; nothing readable is left
    if not records:
        what = "no eval.jsonl" if records is None else "an empty eval.jsonl"
        run.warnings.append(
            f"run {run.name} ({run.flat.get('selector.name')}, seed {run.flat.get('seed')}, {run.state}) has {what}: "
            "no evaluation yet, left out of the accuracy and efficiency tables"
        )
        return
    step, pass1 = _column(records, "step"), _column(records, "pass@1")
    outside = np.array(["pass@1" in r and not is_fraction(r["pass@1"]) for r in records], dtype=bool)
    if outside.any():
        first = records[int(np.argmax(outside))]
        run.warnings.append(
            f"run {run.name}: eval.jsonl has {int(outside.sum())} pass@1 value(s) outside [0, 1] (first "
            f"{first['pass@1']!r} at step {first.get('step')!r}); those records left out"
        )
    keep = np.isfinite(step) & np.isfinite(pass1) & ~outside
    if not keep.any():
        run.warnings.append(f"run {run.name}: eval.jsonl has no record with a step and a pass@1; run left out")
        return
    benchmark = np.array([str(r.get("benchmark", "eval")) for r in records], dtype=object)
    run.benchmarks = list(dict.fromkeys(benchmark[keep]))
    run.evals = {
        "step": step[keep],
        "rollouts": _column(records, "rollouts")[keep],
        "benchmark": benchmark[keep],
        "pass@1": pass1[keep],
        "n_samples": _column(records, "n_samples")[keep],
        "n_problems": _column(records, "n_problems")[keep],
    }


def _fill_rollouts(evals: dict[str, np.ndarray], metrics: dict[str, np.ndarray]) -> None:
    """Eval records without ``rollouts`` take the cumulative count metrics.jsonl logged at the same step."""
    at = np.clip(np.searchsorted(metrics["step"], evals["step"], side="right") - 1, 0, None)
    missing = np.isnan(evals["rollouts"]) & (metrics["step"][at] == evals["step"])
    evals["rollouts"][missing] = metrics["rollouts"][at][missing]


def _column(records: list[dict], key: str) -> np.ndarray:
    """One field of every record as float64; a missing or non-numeric value is NaN."""
    values = [r.get(key) for r in records]
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([_number(v) for v in values], dtype=np.float64)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _nanmax(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else math.nan


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


# --------------------------------------------------------------------------- many runs
@dataclass
class Collection:
    """The collected runs: ``evals`` (run × step × benchmark), ``runs`` (one row per run) and the warnings."""

    evals: pd.DataFrame
    runs: pd.DataFrame
    warnings: list[str]
    scanned: int


def run_names(runs: pd.DataFrame, limit: int = 5) -> str:
    """``sweep/run_id`` of the first ``limit`` runs of a runs frame, and how many more there are."""
    names = ", ".join(f"{r.sweep}/{r.run_id}" for r in runs.head(limit).itertuples())
    return names + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def find_run_dirs(results_dir: str | os.PathLike, sweeps: Sequence[str] = ()) -> list[str]:
    """``<results_dir>/<sweep>/<run_id>/`` folders holding a config.yaml (a sweep or run folder also works)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ReportError(
            f"results directory {str(root)!r} does not exist: pass --results-dir DIR (runs are DIR/SWEEP/RUN_ID/)"
        )
    if _is_run_dir(root):
        return [str(root)]
    if sweeps:
        known = sorted(p.name for p in _subdirs(root))
        missing = [s for s in sweeps if s not in known]
        if missing:
            raise ReportError(
                f"no sweep {', '.join(missing)} under {root}: choose from {', '.join(known) or 'none (no runs yet)'}"
            )
        parents = [root / s for s in sweeps]
    else:
        parents = _subdirs(root)
    found = [str(d) for parent in parents for d in _subdirs(parent) if _is_run_dir(d)]
    if not found and not sweeps:  # results_dir may itself be one sweep's folder
        found = [str(d) for d in _subdirs(root) if _is_run_dir(d)]
    return sorted(found)


def _is_run_dir(path: Path) -> bool:
    """A folder holding any run file: one without config.yaml is still found, and skipped with a warning."""
    return any((path / name).is_file() for name in RUN_FILES)


def _subdirs(path: Path) -> list[Path]:
    with os.scandir(path) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


class MetricsCache:
    """What metrics.jsonl of each run adds up to (RunData.summary), kept between reports.

    metrics.jsonl (a line per training step) is most of what a report reads; a finished run's never changes. An entry
    is used only while the file's (size, mtime, inode) stamp is unchanged, so a run that appended a line or was
    resumed is read again. One JSON file per results directory under ``paths.cache_dir``'s default
    ($INSIGHT_CACHE_DIR or ~/.cache/insight) in ``report/``; an unreadable or unwritable cache is simply not used.
    """

    VERSION = 1

    def __init__(self, results_dir: str | os.PathLike):
        base = os.environ.get("INSIGHT_CACHE_DIR") or os.path.join(os.environ.get("HOME", "."), ".cache", "insight")
        digest = hashlib.sha1(os.path.abspath(results_dir).encode()).hexdigest()[:16]
        self.path = Path(base) / "report" / f"metrics-{digest}.json"
        self.entries: dict[str, dict] = {}
        self.changed = False
        try:
            stored = load_json(self.path, limit=MAX_JSONL_BYTES)  # a few hundred bytes per run
            if stored.get("version") == self.VERSION:
                self.entries = stored["entries"]
        except (OSError, DamagedFile, KeyError):
            pass

    def get(self, run_path: str) -> dict | None:
        return self.entries.get(os.path.abspath(run_path))

    def update(self, runs: Iterable[RunData]) -> None:
        for run in runs:
            if run.metrics_stamp is not None:
                self.entries[os.path.abspath(run.path)] = {"stamp": run.metrics_stamp, "summary": run.summary}
                self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps({"version": self.VERSION, "entries": self.entries}))
        except OSError:
            pass  # a read-only home: the next report reads metrics.jsonl again, nothing else changes


def collect(
    results_dir: str | os.PathLike,
    sweeps: Sequence[str] = (),
    filters: Sequence[str] = (),
    workers: int | None = None,
    cache: bool = True,
) -> Collection:
    """Scan run directories into a Collection; raises ReportError when nothing is there or nothing matches.

    ``cache=False`` reads every metrics.jsonl again instead of reusing the summaries of unchanged ones.
    """
    parsed = parse_filters(filters)
    paths = find_run_dirs(results_dir, sweeps)
    if not paths:
        raise ReportError(f"no runs under {results_dir} (looked for <sweep>/<run_id>/config.yaml)")
    store = MetricsCache(results_dir) if cache else None
    runs = _read_all(paths, parsed, [store.get(p) if store else None for p in paths], workers)
    if store is not None:
        store.update(runs)
        store.save()
    warnings = [w for run in runs if run.matched or not run.flat for w in run.warnings]
    for flt in parsed:
        if not any(flt.key in run.flat for run in runs):
            raise ReportError(
                f"unknown filter key {flt.key!r} (from {flt.text!r}): no run has it; filters look like selector=wmi, "
                f"mu=0.3, pool=16, model=qwen3-4b, seed=0 (aliases: {', '.join(ALIASES)})"
            )
    selected = [run for run in runs if run.matched]
    if not selected:
        wanted = " ".join(f.text for f in parsed) or "the given sweeps"
        raise ReportError(f"no run matches {wanted} ({len(runs)} runs scanned under {results_dir})")
    runs_frame = _runs_frame(selected)
    return Collection(_evals_frame(selected, runs_frame), runs_frame, warnings, len(runs))


def _read_all(
    paths: list[str], filters: list[Filter], cached: list[dict | None], workers: int | None
) -> list[RunData]:
    if workers is None:
        workers = min(len(os.sched_getaffinity(0)), 8) if len(paths) >= PARALLEL_MIN_RUNS else 1
    if workers <= 1:
        return [read_run(p, filters, c) for p, c in zip(paths, cached, strict=True)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _arrow_options()  # import pyarrow once, before the workers fork

    chunk = max(1, len(paths) // (workers * 4))
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(read_run, paths, [filters] * len(paths), cached, chunksize=chunk))


def _runs_frame(runs: list[RunData]) -> pd.DataFrame:
    rows = []
    for index, run in enumerate(runs):
        row: dict[str, Any] = {"run": index, "run_id": run.run_id, "sweep": run.sweep, "path": run.path}
        row.update({col: run.flat.get(key) for col, key in CONFIG_COLUMNS.items()})
        row.update({col: str(row[col] if row[col] is not None else "?") for col in ("model", "task", "selector")})
        row.update({"state": run.state, "finished": run.state == FINISHED_STATE, "n_evals": 0})
        row["benchmarks"] = ",".join(run.benchmarks)
        if run.evals is not None:
            row["n_evals"] = len(run.evals["step"])
        row.update(run.summary)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in SUMMARY_COLUMNS:  # no run has a readable metrics.jsonl: the overhead table shows dashes
        if col not in frame:
            frame[col] = np.nan
    frame["arm"], frame["arm_order"] = _arm_labels(runs, frame)
    return frame


def _arm_labels(runs: list[RunData], frame: pd.DataFrame) -> tuple[list[str], list[tuple]]:
    """Label each run's arm: runs equal in everything but the seed share one. ``wmi (μ=0.5)`` names what varies."""
    keys = [
        frozenset(
            (k, v)
            for k, v in run.flat.items()
            if k not in NOT_ARM_KEYS and k not in RUN_KEYS and not k.startswith(NOT_ARM_PREFIXES)
        )
        for run in runs
    ]
    labels: list[str] = [""] * len(runs)
    orders: list[tuple] = [()] * len(runs)
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(frame[["model", "task", "selector"]].itertuples(index=False)):
        groups.setdefault(tuple(row), []).append(i)
    for (_, _, selector), members in groups.items():
        arms = list(dict.fromkeys(keys[i] for i in members))
        varying = _varying_keys([dict(a) for a in arms])
        rank = SELECTOR_ORDER.index(selector) if selector in SELECTOR_ORDER else len(SELECTOR_ORDER)
        for i in members:
            flat = dict(keys[i])
            values = [flat.get(k) for k in varying]
            parts = [f"{SYMBOLS.get(k, k)}={_show(v)}" for k, v in zip(varying, values, strict=True)]
            labels[i] = f"{selector} ({', '.join(parts)})" if parts else str(selector)
            orders[i] = (rank, str(selector), tuple(_sort_value(v) for v in values))
    return labels, orders


def _varying_keys(arms: list[dict[str, Any]]) -> list[str]:
    """Keys whose value differs between arms, paper symbols first; keys that vary in lockstep are shown once."""
    if len(arms) < 2:
        return []
    all_keys = set().union(*arms)
    varying = [k for k in all_keys if len({repr(a.get(k)) for a in arms}) > 1]
    varying.sort(key=lambda k: (list(SYMBOLS).index(k) if k in SYMBOLS else len(SYMBOLS), k))
    shown, seen = [], set()
    for key in varying:
        pattern = tuple(repr(a.get(key)) for a in arms)
        if pattern not in seen:
            seen.add(pattern)
            shown.append(key)
    return shown


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "null" if value is None else str(value)


def _sort_value(value: Any) -> tuple:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _evals_frame(runs: list[RunData], runs_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per run × step × benchmark; a re-logged (run, step, benchmark) keeps its last record."""
    parts = [(i, run.evals) for i, run in enumerate(runs) if run.evals is not None]
    columns = ["step", "rollouts", "benchmark", "pass@1", "n_samples", "n_problems"]
    config = ["run", "run_id", "sweep", *CONFIG_COLUMNS, "arm", "state", "finished"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in config + columns})
    run_index = np.concatenate([np.full(len(ev["step"]), i) for i, ev in parts])
    data = {c: _repeat(runs_frame[c], run_index) for c in config}
    data.update({c: np.concatenate([ev[c] for _, ev in parts]) for c in columns})
    data["benchmark"] = pd.Categorical(data["benchmark"])
    frame = pd.DataFrame(data)
    frame["step"] = frame["step"].astype(np.int64)
    frame = frame.drop_duplicates(["run", "step", "benchmark"], keep="last")
    return frame.sort_values(["run", "benchmark", "step"], kind="stable").reset_index(drop=True)


def _repeat(column: pd.Series, index: np.ndarray):
    """A per-run column spread over that run's eval rows; text becomes categorical (one string per run, not row)."""
    if column.dtype == object or pd.api.types.is_string_dtype(column):
        return pd.Categorical(column.astype(str)).take(index)
    return column.to_numpy()[index]
