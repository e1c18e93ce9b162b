"""Launch one run: write its config and meta, then run it in-process (local/Slurm launchers go through submitit)."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from insight_cli.config import ConfigError, to_yaml
from insight_cli.envinfo import environment
from insight_cli.runs import RunDir


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
    meta.update({"command": list(command), "overrides": list(overrides), "run_id": run_dir.path.name,
                 "sweep": cfg.sweep, **environment()})
    run_dir.write_meta(meta)
    return run_dir


def launch_run(cfg: DictConfig, overrides: Sequence[str], command: Sequence[str], dry_run: bool = False) -> RunDir | None:
    """Launch one run with ``cfg.launcher``; in-process runs block and show progress."""
    if dry_run:
        print(to_yaml(cfg))
        print(f"# run directory: {RunDir.for_config(cfg, cfg.paths.results_dir, cfg.sweep).path}")
        return None
    if cfg.launcher.name != "inprocess":
        raise ConfigError(f"launcher={cfg.launcher.name} is not available yet: use launcher=inprocess")
    from insight_cli.train.run import run_training

    run_dir = prepare_run_dir(cfg, overrides, command)
    run_dir.record_attempt(job_id=None, launcher="inprocess")
    run_training(cfg, run_dir)
    return run_dir
