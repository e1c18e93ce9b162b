"""Helpers shared by the Typer commands: short flags → overrides, and one-line errors with exit code 2."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

EXIT_BAD_INPUT = 2


def group_overrides(**flags: str | None) -> list[str]:
    """``--model qwen3-4b`` → ``model=qwen3-4b``; flags left unset add nothing (an empty one, ``--selector ""``, is
    passed on, so composing rejects it instead of silently using the default)."""
    return [f"{group}={value}" for group, value in flags.items() if value is not None]


def results_folder(results_dir: Path | None) -> Path:
    """``--results-dir`` (default: paths.results_dir): a folder, or a path not created yet; a file is an error."""
    from insight_cli.config import default_results_dir

    root = results_dir or default_results_dir()
    if root.exists() and not root.is_dir():
        raise fail(f"--results-dir {str(root)!r} is a file, not a folder: give the folder that holds the sweeps")
    return root


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
    except KeyboardInterrupt as exc:  # Ctrl-C, or a stop signal honoured between batches (train/stopping.py)
        typer.secho(str(exc) or "interrupted", err=True)
        sys.exit(130)
