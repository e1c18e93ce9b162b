"""Shared pytest fixtures: fast CPU-miniature overrides with one warm-start cache per test session."""

from __future__ import annotations

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
