"""The ``insight`` command line: Typer only. Each command parses, composes a config and calls one library function.

Heavy libraries (torch, transformers, trl, hydra) are imported inside the commands, so ``insight --help`` is fast.
"""

from __future__ import annotations

import typer

from insight_cli.cli import config_cmd, env_cmd, logs_cmd, report_cmd, status_cmd, sweep_cmd, train_cmd

EPILOG = """\
Examples:

  insight train                                   # the CPU miniature: tiny model, WMI, Countdown

  insight train --selector random trainer=smoke   # a quick check of the whole path

  insight train --model qwen3-4b --selector wmi mu=0.3 pool=16

  insight config show --selector mopps            # the composed config, and the paper-symbol aliases

  insight env                                     # versions, devices, git SHA
"""

app = typer.Typer(
    name="insight",
    help="Online prompt selection for RLVR: InSight's WMI and its baselines, trained with TRL GRPO.",
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

app.command("train", epilog=train_cmd.EPILOG, context_settings=train_cmd.CONTEXT)(train_cmd.train)
app.command("sweep", epilog=sweep_cmd.EPILOG, context_settings=sweep_cmd.CONTEXT)(sweep_cmd.sweep)
app.command("status", epilog=status_cmd.EPILOG)(status_cmd.status)
app.command("logs", epilog=logs_cmd.EPILOG)(logs_cmd.logs)
app.add_typer(config_cmd.app, name="config")
app.command("env", epilog=env_cmd.EPILOG)(env_cmd.env)
app.command("report", epilog=report_cmd.EPILOG)(report_cmd.report)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
