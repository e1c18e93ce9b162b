"""``insight config show``: print the composed config and the paper-symbol aliases."""

from __future__ import annotations

import typer

from insight_cli.cli.common import group_overrides, user_errors

app = typer.Typer(help="Inspect the composed configuration.", no_args_is_help=True)

SHOW_EPILOG = """\
Examples:

  insight config show

  insight config show --model qwen3-4b --selector wmi mu=0.5

  insight config show trainer=smoke K=4 M=16
"""


@app.command("show", epilog=SHOW_EPILOG, context_settings={"allow_extra_args": True})
def show(
    overrides: list[str] = typer.Argument(None, help="Hydra overrides: key=value or group=option."),
    model: str = typer.Option(None, "--model", help="conf/model option, e.g. tiny-cpu, qwen3-4b."),
    selector: str = typer.Option(None, "--selector", help="conf/selector option, e.g. wmi, random."),
    task: str = typer.Option(None, "--task", help="conf/task option, e.g. countdown."),
) -> None:
    """Print the composed, resolved config (YAML), then the alias table."""
    from insight_cli.aliases import ALIASES
    from insight_cli.config import compose, to_yaml

    with user_errors():
        cfg = compose(group_overrides(model=model, selector=selector, task=task) + list(overrides or []))
    typer.echo(to_yaml(cfg).rstrip())
    typer.echo("\n# aliases (paper symbol → key):")
    for alias, key in ALIASES.items():
        typer.echo(f"#   {alias:<6} → {key}")
    from insight_cli.tasks import get_task

    typer.echo(f"\n# task sets of task={cfg.task.name} (name: problems; ? = known after loading):")
    for name, size in get_task(cfg.task.name).describe(cfg.task, cfg.paths.data_dir).items():
        typer.echo(f"#   {name:<24} {'?' if size is None else size}")
