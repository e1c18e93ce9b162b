"""Shared pytest fixtures: fast CPU-miniature overrides with one warm-start cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    """One model cache per session, so the (shrunken) warm start is built once and reused by every test."""
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="session")
def tiny_overrides(tiny_cache) -> list[str]:
    """Overrides that make a CPU-miniature run take seconds: a short warm start, a small pool, a small eval."""
    return [
        "trainer=smoke",
        f"paths.cache_dir={tiny_cache}",
        "model.warmstart.steps=40",
        "model.warmstart.num_problems=1000",
        "task.train_size=200",
        "task.eval_size=16",
    ]


# ---------------------------------------------------------------------------------------------- the local Slurm
_SLURM_PROBLEM: list[str | None] = []


def slurm_problem() -> str | None:
    """None when a Slurm answers here (asked once per session), else why not."""
    if not _SLURM_PROBLEM:
        from insight_cli.launch.scheduler import slurm_problem as ask

        _SLURM_PROBLEM.append(ask())
    return _SLURM_PROBLEM[0]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked `slurm` skip with the reason when no Slurm is reachable; they fail instead when
    INSIGHT_REQUIRE_SLURM=1 (.ci/run sets it: CI must not pass without its Slurm tests)."""
    if item.get_closest_marker("slurm") is not None:
        problem = slurm_problem()
        if problem:
            why = f"no Slurm reachable ({problem}): start one with `sudo bash scripts/slurm-local.sh start`"
            if os.environ.get("INSIGHT_REQUIRE_SLURM") == "1":
                pytest.fail(f"{why} (INSIGHT_REQUIRE_SLURM=1: a skipped Slurm test is a failure)", pytrace=False)
            pytest.skip(why)


# ---------------------------------------------------------------------------------------------- the CLI
@pytest.fixture
def insight_cmd(monkeypatch, tmp_path):
    """Run `insight ARGS…` in this process (Typer's CliRunner) with INSIGHT_RESULTS_DIR in tmp_path/results;
    returns the click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from insight_cli.cli.app import app

    monkeypatch.setenv("INSIGHT_RESULTS_DIR", str(tmp_path / "results"))
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return run


@pytest.fixture
def insight_proc():
    """Run `insight ARGS…` as a real process (`python -m insight_cli.cli.app`); returns the CompletedProcess."""
    import subprocess
    import sys

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        import os

        return subprocess.run(
            [sys.executable, "-m", "insight_cli.cli.app", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    return run


@pytest.fixture
def wait_until():
    """Poll ``predicate()`` every half second until it is truthy; fail with ``what`` after ``timeout`` seconds, and
    with what ``explain()`` returns then (the state that kept it waiting), when given."""
    import time

    def wait(predicate, timeout: float, what: str, explain=None):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                detail = f"\n{explain()}" if explain else ""
                pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
            time.sleep(0.5)

    return wait
