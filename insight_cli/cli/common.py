"""Helpers shared by the Typer commands: short flags → overrides, and one-line errors with exit code 2."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

EXIT_BAD_INPUT = 2


def group_overrides(**flags: str | None) -> list[str]:
    """``--model qwen3-4b`` → ``model=qwen3-4b``; flags left unset add nothing."""
    return [f"{group}={value}" for group, value in flags.items() if value]


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print ``error: <one line>`` to stderr and return the Exit to raise."""
    typer.secho(f"error: {' '.join(str(message).split())}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into one line on stderr and exit code 2 (no traceback)."""
    from insight_cli.config import ConfigError

    try:
        yield
    except (ConfigError, FileNotFoundError, PermissionError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)
