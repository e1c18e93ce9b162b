"""``insight env``: versions of the stack, devices and the git state, for bug reports and run metadata."""

from __future__ import annotations

import typer

EPILOG = """\
Examples:

  insight env

  insight env --json > env.json
"""


def env(as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table.")) -> None:
    """Print package versions, Python, devices (CUDA GPUs or CPU) and the git SHA of this checkout."""
    import json

    from insight_cli.envinfo import environment

    info = environment(with_devices=True)
    if as_json:
        typer.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="insight environment", show_header=False)
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)
