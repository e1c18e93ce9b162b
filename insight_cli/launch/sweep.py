"""``insight sweep`` and ``insight train`` as library functions: plan, classify, submit what is missing.

    insight sweep -f sweeps/mini_main.yaml launcher=slurm     # submits the runs not done or running
    insight sweep -f sweeps/mini_main.yaml launcher=slurm     # again: "4 done, 0 to submit"
    insight train --selector wmi                              # a sweep of one run (sweep ``adhoc``)

Both go through one sequence: check every distinct launch (launch/executor.py, launch/preflight.py), classify the
runs (launch/state.py), check the folders and the sbatch script, then under the sweep's file lock classify again,
record the plan in the ledger and submit — so two sweeps started at once submit each run once. Failed runs are
resubmitted by ``--rerun-failed`` (and always by ``insight train``); they resume from their last checkpoint.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from insight_cli.aliases import short_name
from insight_cli.config import Composer, ConfigError
from insight_cli.launch import executor
from insight_cli.launch.plan import (
    Axis,
    Run,
    SweepSpec,
    build_runs,
    check_axes,
    check_name,
    load_spec,
    merge_specs,
    parse_token,
    parse_tokens,
    sweep_name,
)
from insight_cli.launch.resources import Resources
from insight_cli.launch.state import STATES, classify
from insight_cli.runs import Ledger, RunDir

ResourcesByLaunch = dict[str, Resources]  # launch key (see _launch_key) → the resources of those runs


@dataclass
class SweepResult:
    """The plan of one sweep, each run's state and latest job, and what was (or would be) submitted."""

    name: str
    sweep_dir: Path
    axes: list[Axis]
    runs: list[Run]
    states: list[str] = field(default_factory=list)
    jobs: list[dict | None] = field(default_factory=list)
    to_submit: list[int] = field(default_factory=list)
    submitted: list[dict] = field(default_factory=list)

    def decide(self, wanted: Sequence[str]) -> None:
        """Classify every run (launch/state.py) and pick the ones in a ``wanted`` state for submission."""
        classified = classify([r.run_id for r in self.runs], self.sweep_dir)
        self.states = [state for state, _ in classified]
        self.jobs = [job for _, job in classified]
        self.to_submit = [i for i, state in enumerate(self.states) if state in wanted]

    def counts(self) -> dict[str, int]:
        return {s: self.states.count(s) for s in STATES}

    def summary(self) -> str:
        c = self.counts()
        return (
            f"sweep {self.name}: {len(self.runs)} runs: {c['done']} done, {len(self.to_submit)} to submit "
            f"({c['running']} running, {c['failed']} failed, {c['new']} new)"
        )


# ---------------------------------------------------------------------------------------------- planning
def make_spec(
    tokens: Sequence[str],
    spec_file: str | None = None,
    selectors: str | None = None,
    models: str | None = None,
    seeds: int | None = None,
    name: str | None = None,
) -> SweepSpec:
    """Merge a spec file with the command line (the command line wins key by key)."""
    cli = parse_tokens(tokens)
    for group, value in (("selector", selectors), ("model", models)):
        if value is not None:
            key, values = parse_token(f"{group}={value}")
            if len(values) == 1:
                cli.overrides.append(f"{key}={values[0]}")
            else:
                cli.axes.append(Axis(key, values))
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds {seeds}: give the number of seeds, 1 or more (seeds 0..N-1)")
        if seeds == 1:
            cli.overrides.append("seed=0")
        else:
            cli.axes.append(Axis("seed", tuple(str(s) for s in range(seeds))))
    cli.name = name
    spec = merge_specs(load_spec(spec_file), cli) if spec_file else cli
    check_axes(spec)
    return spec


def plan(spec: SweepSpec) -> tuple[str, list[Run]]:
    """The sweep's name and its composed runs (every run validated)."""
    composer = Composer()
    name = spec.name
    if not name:
        base = composer.plain(spec.overrides)
        name = base["sweep"] if base.get("sweep") not in (None, "adhoc") else sweep_name(spec)
    name = check_name(str(name))
    named = SweepSpec(
        name=name,
        overrides=[o for o in spec.overrides if not o.startswith("sweep=")] + [f"sweep={name}"],
        axes=spec.axes,
    )
    return name, build_runs(named, composer)


# ---------------------------------------------------------------------------------------------- submitting
def run_sweep(
    spec: SweepSpec, command: Sequence[str], dry_run: bool = False, rerun_failed: bool = False
) -> SweepResult:
    """Plan, classify and (unless dry_run) submit the missing runs; returns at once (jobs run on their own)."""
    name, runs = plan(spec)
    result = SweepResult(name, Path(runs[0].plain["paths"]["results_dir"]) / name, spec.axes, runs)
    resources_of = check_launches(runs, dry_run)
    wanted = ("failed",) if rerun_failed else ("new",)
    result.decide(wanted)
    if not dry_run and result.to_submit:
        launch(result, command, wanted, result.sweep_dir / executor.SUBMITIT_DIR, resources_of)
    return result


def launch_run(
    cfg: DictConfig, overrides: Sequence[str], command: Sequence[str], dry_run: bool = False
) -> RunDir | None:
    """``insight train``: a sweep of one run (``cfg.sweep``, no axes), launched as :func:`run_sweep` launches; an
    in-process run blocks and prints its summary, a local/slurm job is submitted and returns at once."""
    run_dir = RunDir.for_config(cfg, cfg.paths.results_dir, cfg.sweep)
    run = Run.of_config(cfg, overrides)
    resources_of = check_launches([run], dry_run)
    if dry_run:
        executor.print_dry_run(cfg, run_dir)
        return None
    result = SweepResult(str(cfg.sweep), run_dir.path.parent, [], [run])
    wanted = ("new", "failed")  # a failed run resumes from its last checkpoint
    result.decide(wanted)
    if _refuse_or_skip(result, run_dir):
        return run_dir
    launch(result, command, wanted, run_dir.submitit_dir, resources_of)
    if not result.submitted and _refuse_or_skip(result, run_dir):  # it started elsewhere while we checked
        return run_dir
    if cfg.launcher.name == "inprocess":
        print(executor.run_summary(run_dir, cfg.paths.results_dir, cfg.sweep))
        return run_dir
    print(f"submitted {cfg.launcher.name} job {result.submitted[0]['job_id']} for run {run_dir.path}")
    print(f"follow it with: insight logs {run_dir.path.name} -f   (or insight status {cfg.sweep})")
    return run_dir


def _refuse_or_skip(result: SweepResult, run_dir: RunDir) -> bool:
    """A single run that is running is an error; one that is done is said so (True: nothing to launch)."""
    state, job = result.states[0], result.jobs[0]
    if state == "running":
        raise ConfigError(
            f"run {run_dir.path.name} is already running as {job['launcher']} job {job['job_id']}: follow it with "
            f"`insight logs {run_dir.path.name} -f`, or cancel that job first"
        )
    if state == "done":
        print(f"run {run_dir.path.name} is already done ({run_dir.path}); delete that folder to train it again")
        return True
    return False


def check_launches(runs: Sequence[Run], dry_run: bool) -> ResourcesByLaunch:
    """Every distinct launch of the plan passes the launcher checks (not the scheduler's on a dry run); returns the
    resources of each, by launch key, so a launch computes them once."""
    return {
        key: executor.check_launcher(config, need_scheduler=not dry_run)
        for key, config in _distinct_launches(runs).items()
    }


def launch(
    result: SweepResult,
    command: Sequence[str],
    wanted: Sequence[str],
    folder: Path,
    resources_of: ResourcesByLaunch,
) -> None:
    """Check the folders and the sbatch script, then under the sweep's lock classify again, record the plan and
    submit the runs in a ``wanted`` state (into the submitit ``folder``); in-process runs run after the lock."""
    runs = result.runs
    for run in {json.dumps(r.plain["paths"], sort_keys=True, default=str): r for r in runs}.values():
        executor.check_folders(run.config)
    if runs[0].plain["launcher"]["name"] == "slurm":
        for key, config, indices in launch_groups(runs, result.to_submit):
            executor.sbatch_test(config, folder, len(indices), resources_of[key])
    ledger = Ledger(result.sweep_dir)
    with ledger.locked():
        result.decide(wanted)  # another sweep may have submitted while we were checking: decide again under the lock
        known = ledger.runs()
        ledger.append(
            *[
                {"event": "planned", "run_id": r.run_id, "values": r.values, "overrides": r.overrides}
                for r in runs
                if r.run_id not in known
            ]
        )
        inprocess = _submit(result, folder, command, ledger, resources_of)
    for job in inprocess:  # launcher=inprocess: run one after the other, after the lock is released
        job()


def _launch_key(run: Run) -> str:
    """Runs with the same launcher and resources can share one job array."""
    launcher, model = run.plain["launcher"], run.plain["model"]
    return json.dumps([launcher, model.get("gpus"), model.get("name")], sort_keys=True, default=str)


def _distinct_launches(runs: Sequence[Run]) -> dict[str, DictConfig]:
    """One config of each distinct launch (launcher and resources), by launch key."""
    firsts: dict[str, Run] = {}
    for run in runs:
        firsts.setdefault(_launch_key(run), run)
    return {key: run.config for key, run in firsts.items()}


def launch_groups(runs: Sequence[Run], indices: Sequence[int]) -> list[tuple[str, DictConfig, list[int]]]:
    """(launch key, the config of its first run, run indices) of each group of runs that share one job array."""
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(_launch_key(runs[i]), []).append(i)
    return [(key, runs[group[0]].config, group) for key, group in groups.items()]


def _submit(
    result: SweepResult, folder: Path, command: Sequence[str], ledger: Ledger, resources_of: ResourcesByLaunch
) -> list:
    """Prepare the run directories and submit them, one job array per launch group; in-process runs are returned
    as callables for the caller to run once the lock is released."""
    runs, inprocess = result.runs, []
    for key, config, group in launch_groups(runs, result.to_submit):
        res = resources_of[key]
        run_dirs = [executor.prepare_run_dir(runs[i].config, runs[i].overrides, command) for i in group]
        if config["launcher"]["name"] == "inprocess":
            submitted = [
                {"job_id": str(os.getpid()), "launcher": "inprocess", "host": socket.gethostname(), "pid": os.getpid()}
                for _ in group
            ]
            inprocess += [executor.make_job(runs[i].config, d, res) for i, d in zip(group, run_dirs, strict=True)]
        else:
            submitted = executor.submit(config, run_dirs, folder, [runs[i].config for i in group], res)
        ledger.append(
            *[{"event": "submitted", "run_id": runs[i].run_id, **rec} for i, rec in zip(group, submitted, strict=True)]
        )
        result.submitted += [{**rec, "run_id": runs[i].run_id} for i, rec in zip(group, submitted, strict=True)]
    return inprocess


# ---------------------------------------------------------------------------------------------- reporting
def plan_lines(result: SweepResult) -> list[str]:
    """The plan as plain text lines: index, run id, axis values, state (fast for thousands of runs)."""
    keys = [a.key for a in result.axes]
    labels = [short_name(k) for k in keys]
    widths = [
        max([len(lbl)] + [len(str(r.values.get(k, ""))) for r in result.runs])
        for k, lbl in zip(keys, labels, strict=True)
    ]
    head = "  ".join(f"{lbl:<{w}}" for lbl, w in zip(labels, widths, strict=True))
    lines = [f"{'#':>5}  {'run_id':<12}  {head}  state".rstrip()]
    submit = set(result.to_submit)
    for i, (run, state) in enumerate(zip(result.runs, result.states, strict=True)):
        cells = "  ".join(f"{str(run.values.get(k, '')):<{w}}" for k, w in zip(keys, widths, strict=True))
        lines.append(f"{i:>5}  {run.run_id:<12}  {cells}  {state}{' → submit' if i in submit else ''}")
    return lines
