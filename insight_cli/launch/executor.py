"""Launch runs: write their run directories, then run them in-process or submit them through submitit.

    insight train --selector wmi                      # launcher=inprocess: blocks, breakpoints work
    insight train --selector wmi launcher=local       # a submitit local job: returns at once
    insight train --model qwen3-4b launcher=slurm     # a Slurm job with the model's GPU preset

Every check that can reject the input (launcher reachable, resources, results folder writable, sbatch accepts the
script) runs before anything is written, so bad input leaves no trace.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import submitit
from omegaconf import DictConfig

from insight_cli.config import ConfigError, to_yaml
from insight_cli.envinfo import environment
from insight_cli.launch.resources import Resources, resources
from insight_cli.runs import RunDir
from insight_cli.safe_read import is_fraction

SUBMITIT_DIR = ".submitit"  # per sweep: job pickles and logs of every array task; runs link their own logs


# ---------------------------------------------------------------------------------------------- run directories
def prepare_run_dir(cfg: DictConfig, overrides: Sequence[str], command: Sequence[str]) -> RunDir:
    """Create results/<sweep>/<run_id>/ with config.yaml and meta.json (kept across attempts)."""
    run_dir = RunDir.for_config(cfg, cfg.paths.results_dir, cfg.sweep)
    try:
        run_dir.create()
    except OSError as exc:
        raise ConfigError(
            f"cannot write to results directory {cfg.paths.results_dir!r} ({exc.strerror}): "
            "choose a writable one with paths.results_dir=DIR"
        ) from None
    run_dir.write_config(cfg)
    meta = run_dir.read_meta()
    meta.update(
        {
            "command": list(command),
            "overrides": list(overrides),
            "run_id": run_dir.path.name,
            "sweep": cfg.sweep,
            **environment(),
        }
    )
    run_dir.write_meta(meta)
    return run_dir


def check_writable(folder: str | os.PathLike, key: str = "paths.results_dir") -> None:
    """Raise a one-line ConfigError unless ``folder`` (the value of ``key``) is, or can be created as, a writable
    folder; writes nothing."""
    path = Path(folder).expanduser().absolute()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        reason = "not a folder" if not probe.is_dir() else "permission denied"
        what = {"paths.results_dir": "results directory", "paths.cache_dir": "model cache"}.get(key, key)
        raise ConfigError(
            f"cannot write to {what} {str(folder)!r} ({reason} at {probe}): choose a writable one with {key}=DIR"
        )


def check_folders(cfg: DictConfig) -> None:
    """The folders a run writes (results and model cache) are writable; writes nothing."""
    check_writable(cfg["paths"]["results_dir"])
    check_writable(cfg["paths"]["cache_dir"], "paths.cache_dir")


# ---------------------------------------------------------------------------------------------- launchers
def check_launcher(cfg: DictConfig, need_scheduler: bool = True) -> Resources:
    """The launcher can run this config: the GPU request covers the model, the packages and trackers are there
    (launch/preflight.py) and Slurm answers (launcher=slurm) — the last two unless ``need_scheduler`` is False, as
    for --dry-run. Returns the run's resources."""
    res = resources(cfg)
    if need_scheduler:  # not on --dry-run: a plan may be made anywhere
        from insight_cli.launch.preflight import check_environment

        check_environment(cfg)
    if need_scheduler and cfg["launcher"]["name"] == "slurm":
        from insight_cli.launch.scheduler import slurm_problem

        problem = slurm_problem()
        if problem:
            raise ConfigError(
                f"launcher=slurm but no Slurm is reachable ({problem}): start the local one with "
                "`sudo bash scripts/slurm-local.sh start`, or use launcher=local"
            )
    return res


def _mem(mem_gb: int) -> str:
    return f"{int(mem_gb)}GB"


def slurm_parameters(cfg: DictConfig, res: Resources | None = None) -> dict[str, Any]:
    """sbatch parameters (submitit's native names) of one run's config (``res``: its resources, if known)."""
    launcher, res = cfg["launcher"], res or resources(cfg)
    extra = dict(launcher.get("additional") or {})
    extra.setdefault("requeue", True)  # scontrol requeue must be allowed whatever the cluster's JobRequeue is
    params: dict[str, Any] = {
        "job_name": launcher.get("job_name") or "insight",
        "partition": launcher.get("partition"),
        "account": launcher.get("account"),
        "qos": launcher.get("qos"),
        "constraint": launcher.get("constraint"),
        "time": res.timeout_min,
        "cpus_per_task": res.cpus_per_task,
        "mem": _mem(res.mem_gb) if res.mem_gb else None,
        "gpus_per_node": res.gpus or None,
        "signal_delay_s": int(launcher.get("signal_delay_s") or 120),
        "array_parallelism": int(launcher.get("array_parallelism") or 64),
        "setup": list(launcher.get("setup") or []) or None,
        "stderr_to_stdout": True,
        "additional_parameters": extra,
    }
    return {k: v for k, v in params.items() if v is not None}


def python_command(cfg: DictConfig) -> str:
    return cfg["launcher"].get("python") or shlex.quote(sys.executable)


def sbatch_text(
    cfg: DictConfig, folder: str | os.PathLike, count: int = 1, python: str | None = None, res: Resources | None = None
) -> str:
    """The sbatch script submitit writes for ``count`` runs of this config (an array when count > 1)."""
    from submitit.slurm.slurm import _make_sbatch_string

    folder = Path(folder).absolute()
    command = " ".join([python or python_command(cfg), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(
        command=command, folder=folder, map_count=count if count > 1 else None, **slurm_parameters(cfg, res)
    )


def sbatch_test(cfg: DictConfig, folder: str | os.PathLike, count: int, res: Resources | None = None) -> None:
    """``sbatch --test-only`` on the script: the cluster rejects a bad request (GPUs, partition, …) before any
    file is written."""
    text = sbatch_text(cfg, folder, count, res=res)
    try:
        out = subprocess.run(["sbatch", "--test-only"], input=text, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"sbatch --test-only failed to run ({exc}): check the Slurm installation") from None
    if out.returncode != 0:
        message = " ".join((out.stderr or out.stdout).replace("sbatch: error:", "").split())
        raise ConfigError(
            f"Slurm rejects the job ({message[:200]}): adjust launcher.* (see insight config show "
            "launcher=slurm) or the model preset"
        )


class DetachedLocalExecutor(submitit.LocalExecutor):
    """submitit's LocalExecutor whose job controllers do not inherit this process's stdio (so a CLI that returns at
    once does not hold its caller's pipes open); the controllers' own output goes to ``local-controller.log``."""

    def _submit_command(self, command: str):
        with _stdio_to(Path(self.folder) / "local-controller.log"):
            return super()._submit_command(command)


@contextlib.contextmanager
def _stdio_to(path: Path) -> Iterator[None]:
    """Point file descriptors 0, 1, 2 at /dev/null and ``path`` while a child process is spawned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    with open(os.devnull, "rb") as null, open(path, "ab") as log:
        try:
            os.dup2(null.fileno(), 0)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield
        finally:
            for fd, copy in zip((0, 1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def make_executor(cfg: DictConfig, folder: Path, res: Resources):
    """The submitit executor of ``cfg.launcher`` (local or slurm), parameters set."""
    launcher = cfg["launcher"]
    max_requeues = int(launcher.get("max_requeues") or 0)
    if launcher["name"] == "local":
        executor = DetachedLocalExecutor(folder=str(folder), max_num_timeout=max_requeues)
        params: dict[str, Any] = {
            "timeout_min": int(res.timeout_min or 10080),
            "signal_delay_s": int(launcher.get("signal_delay_s") or 120),
            "stderr_to_stdout": True,
            "gpus_per_node": res.gpus,
        }
        if launcher.get("setup"):
            params["setup"] = list(launcher["setup"])
        executor.update_parameters(**params)
        return executor
    executor = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=max_requeues, python=python_command(cfg))
    executor.update_parameters(**slurm_parameters(cfg, res))
    return executor


def make_job(cfg: DictConfig, run_dir: RunDir, res: Resources | None = None):
    """The picklable callable a job runs (launch/job.py)."""
    from insight_cli.launch.job import TrainJob

    launcher, res = cfg["launcher"], res or resources(cfg)
    return TrainJob(
        cfg,
        str(run_dir.path),
        launcher=launcher["name"],
        max_requeues=int(launcher.get("max_requeues") or 0),
        threads=res.cpus_per_task,
    )


def submit(
    cfg: DictConfig,
    run_dirs: Sequence[RunDir],
    folder: Path,
    configs: Sequence[DictConfig] | None = None,
    res: Resources | None = None,
) -> list[dict]:
    """Submit one job per run dir (a job array on Slurm when there are several); returns submission records."""
    configs = list(configs) if configs is not None else [cfg] * len(run_dirs)
    res = res or resources(cfg)
    executor = make_executor(cfg, folder, res)
    jobs_in = [make_job(c, d, res) for c, d in zip(configs, run_dirs, strict=True)]
    if len(jobs_in) == 1:
        jobs = [executor.submit(jobs_in[0])]
    else:
        with executor.batch():
            jobs = [executor.submit(j) for j in jobs_in]
    host, name = socket.gethostname(), cfg["launcher"]["name"]
    records = []
    for job in jobs:
        record = {"job_id": str(job.job_id), "launcher": name, "host": host}
        if name == "local":
            record["pid"] = int(job.job_id)
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------------- after a launch
def run_summary(run_dir: RunDir, results_dir: str | os.PathLike, sweep: str) -> str:
    """What an in-process `insight train` says when it returns: how the run ended, each benchmark's pass@1 at its
    first and last evaluation, where the files are, and the command that tabulates them."""
    status = run_dir.read_status()
    state = status.get("state")
    lines = [f"run {run_dir.path.name} {state} at step {status.get('step', 0)}: {run_dir.path}"]
    evaluations: dict[str, list[dict]] = {}
    for record in run_dir.read("eval.jsonl"):
        if not is_fraction(record.get("pass@1")) or not isinstance(record.get("step"), int):
            continue  # a damaged record: nothing to summarise
        evaluations.setdefault(str(record.get("benchmark", "held-out")), []).append(record)
    for benchmark, records in evaluations.items():
        first, last = records[0], records[-1]
        best = max(records, key=lambda r: r["pass@1"])
        lines.append(
            f"  {benchmark} pass@1: {first['pass@1']:.3f} at step {first['step']} → "
            f"{last['pass@1']:.3f} at step {last['step']} (gain {last['pass@1'] - first['pass@1']:+.3f}; "
            f"best {best['pass@1']:.3f} at step {best['step']})"
        )
    if state == "preempted":
        lines.append("  stopped early: the same command resumes it from its last checkpoint")
    lines.append(f"  tables and curves: insight report --results-dir {shlex.quote(str(results_dir))} --sweep {sweep}")
    return "\n".join(lines)


def print_dry_run(cfg: DictConfig, run_dir: RunDir) -> None:
    """One run's dry run: the composed config, the launch (sbatch script for Slurm), the training processes inside
    the job (command, GPUs, accelerate config), the GPU-hour estimate."""
    print_config(cfg, run_dir)
    print_launch(cfg, run_dir.submitit_dir, 1, run_path=str(run_dir.path))
    print_estimate([cfg])


def print_config(cfg: DictConfig, run_dir: RunDir | None = None) -> None:
    run_dir = run_dir or RunDir.for_config(cfg, cfg.paths.results_dir, cfg.sweep)
    print("# composed config of run", run_dir.path.name)
    print(to_yaml(cfg).rstrip())
    print(f"# run directory: {run_dir.path}")


def print_launch(cfg: DictConfig, folder: Path, count: int, run_path: str | None = None) -> None:
    """How ``count`` runs of this config are launched (the sbatch script, the local command, or in-process) and how
    each trains inside its job (``run_path``: the run directory; None prints <results>/<sweep>/<run_id>)."""
    from insight_cli.launch.processes import describe

    name = cfg.launcher.name
    if name == "slurm":
        res = resources(cfg)
        shape = f"{cfg.model.name}, {res.gpus} GPU(s)"
        print(f"\n# sbatch script ({'job array of ' + str(count) + ' runs' if count > 1 else 'one job'}; {shape}):")
        print(sbatch_text(cfg, folder, max(count, 1), res=res).rstrip())
    elif name == "local":
        print(f"\n# {count} submitit local job(s): {python_command(cfg)} -u -m submitit.local._local {folder}")
    else:
        print("\n# in-process: runs in this Python process, one after the other")
    run_path = run_path or f"{cfg.paths.results_dir}/{cfg.sweep}/<run_id>"
    print()
    print("\n".join(describe(cfg, run_path, python_command(cfg), in_job=name != "inprocess")))


def print_estimate(configs: Sequence[Mapping[str, Any]]) -> None:
    """GPU-hours = Σ steps × seconds per step × GPUs, broken down by resource shape."""
    from insight_cli.launch.resources import gpu_hours

    shapes: dict[tuple, int] = {}
    for cfg in configs:
        res = resources(cfg)
        key = (int(cfg["trainer"]["steps"]), res.seconds_per_step, res.gpus)
        shapes[key] = shapes.get(key, 0) + 1
    terms = " + ".join(f"{n} × {steps} steps × {sec:g} s × {gpus} GPU" for (steps, sec, gpus), n in shapes.items())
    gpu_h, wall_h = gpu_hours(list(configs))
    print(f"\n# estimate: {terms or '0 runs'} = {gpu_h:.1f} GPU-hours ({wall_h:.2f} run-hours)")
