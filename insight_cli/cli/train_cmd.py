"""``insight train``: compose one run's config and launch it (in-process by default)."""

from __future__ import annotations

import sys

import typer

from insight_cli.cli.common import group_overrides, user_errors

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}

EPILOG = """\
Examples:

  insight train                                        # CPU miniature: tiny model, WMI, Countdown (~12 min)

  insight train --selector wmi trainer=smoke           # 3 small steps: checks the whole path in ~1 min

  insight train --selector random seed=1 paths.results_dir=/tmp/results

  insight train --selector wmi mu=0.5 eta=3 pool=8     # paper symbols work as keys

  insight train --model qwen3-4b --selector wmi launcher=slurm   # a GPU run on Slurm (4 GPUs, accelerate launch)

  insight train --model qwen3-4b launcher=slurm --dry-run        # its sbatch script, launch command, GPU-hours

  insight train trainer=smoke launcher.processes=2               # 2 CPU ranks over gloo (torchrun), as on GPUs
"""


def train(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides: key=value or group=option (mu=0.3, K=8)."),
    model: str = typer.Option(None, "--model", help="conf/model option: tiny-cpu (default), qwen3-0.6b, qwen3-4b…"),
    selector: str = typer.Option(None, "--selector", help="conf/selector option: wmi (default), random…"),
    task: str = typer.Option(None, "--task", help="conf/task option: countdown (default)…"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the composed config; run nothing."),
) -> None:
    """Train one run: GRPO with the chosen selector picking every batch; writes results/<sweep>/<run_id>/."""
    from insight_cli.config import compose
    from insight_cli.launch.sweep import launch_run

    all_overrides = group_overrides(model=model, selector=selector, task=task) + list(overrides or [])
    with user_errors():
        cfg = compose(all_overrides)
        launch_run(cfg, overrides=all_overrides, command=sys.argv, dry_run=dry_run)
