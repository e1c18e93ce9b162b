"""``insight sweep``: expand axes into a cartesian plan of runs and submit the ones not done or running."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from insight_cli.cli.common import user_errors

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}

EPILOG = """\
Examples:

  insight sweep mu=0.3,0.5,0.7 --selector wmi --seeds 3            # 9 runs; aliases (mu, eta, pool, K, M) work

  insight sweep --selector wmi,random --seeds 2 trainer=smoke launcher=slurm

  insight sweep -f sweeps/mini_main.yaml launcher=local            # a committed spec; again: "N done, 0 to submit"

  insight sweep -f sweeps/main_countdown.yaml launcher=slurm --dry-run   # plan, one config, sbatch, GPU-hours

  insight sweep -f sweeps/mini_main.yaml --rerun-failed            # resubmit failed runs (they resume)
"""


def sweep(
    axes: list[str] = typer.Argument(None, help="key=v1,v2,… axes and key=value overrides (mu=0.3,0.5 pool=8)."),
    spec_file: str = typer.Option(None, "-f", "--file", help="A sweeps/*.yaml spec; the command line wins over it."),
    selector: str = typer.Option(None, "--selector", help="Selector axis, comma list: wmi,mopps,random."),
    model: str = typer.Option(None, "--model", help="Model axis, comma list: tiny-cpu, qwen3-4b,qwen3-8b."),
    seeds: int = typer.Option(None, "--seeds", help="Seed axis 0..N-1."),
    name: str = typer.Option(
        None, "--name", help="Sweep name (folder results/NAME); default: the spec's name, else a hash."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print plan, one config, sbatch text, GPU-hours; write nothing."
    ),
    rerun_failed: bool = typer.Option(False, "--rerun-failed", help="Submit only the failed runs (they resume)."),
) -> None:
    """Run a sweep: one run per combination of the axes; submits only what is missing and returns at once."""
    from insight_cli.launch.sweep import make_spec, plan_lines, run_sweep

    with user_errors():
        spec = make_spec(list(axes or []), spec_file, selectors=selector, models=model, seeds=seeds, name=name)
        result = run_sweep(spec, command=sys.argv, dry_run=dry_run, rerun_failed=rerun_failed)
    if dry_run:
        _print_dry_run(result, plan_lines(result))
        return
    typer.echo(result.summary())
    by_job: dict[str, list[str]] = {}
    for record in result.submitted:
        by_job.setdefault(str(record["job_id"]).split("_")[0], []).append(record["run_id"])
    for job, run_ids in by_job.items():
        launcher = result.submitted[0]["launcher"]
        kind = "job array" if len(run_ids) > 1 and launcher == "slurm" else "job"
        typer.echo(f"submitted {launcher} {kind} {job}: {len(run_ids)} run(s)")
    if result.submitted or result.counts()["running"]:
        typer.echo(f"follow with: insight status {result.name}")


def _print_dry_run(result, lines: list[str]) -> None:
    """Plan, one composed config, the launch of every job array, the GPU-hour estimate."""
    from insight_cli.launch.executor import print_config, print_estimate, print_launch
    from insight_cli.launch.sweep import launch_groups

    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.write(result.summary() + "  [dry run: nothing written or submitted]\n\n")
    first = result.to_submit[0] if result.to_submit else 0
    print_config(result.runs[first].config)
    for _, config, indices in launch_groups(result.runs, result.to_submit):
        print_launch(config, Path(result.sweep_dir) / ".submitit", len(indices))
    print_estimate([result.runs[i].plain for i in result.to_submit])
