"""CI cannot pass without its Slurm tests: with INSIGHT_REQUIRE_SLURM=1 (set by .ci/run) a `slurm` test that has no
Slurm to talk to fails; without it (a developer's machine) it skips with the reason. Checked on a real `slurm` test
run in a child pytest whose PATH has no sbatch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLURM_TEST = "tests/test_slurm_sweep.py::test_sbatch_test_only_accepts_every_cpu_preset_and_rejects_gpus_here"


def _pytest_without_slurm(require: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "INSIGHT_REQUIRE_SLURM"}
    env["PATH"] = str(Path(sys.executable).parent)  # python only: no sbatch, no scontrol
    if require:
        env["INSIGHT_REQUIRE_SLURM"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", SLURM_TEST, "-rs", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("require", [False, True], ids=["developer", "ci"])
def test_a_slurm_test_without_slurm_skips_for_developers_and_fails_in_ci(require):
    out = _pytest_without_slurm(require)
    log = out.stdout + out.stderr
    assert "sbatch/scontrol not found on PATH" in log, log[-2000:]
    if require:
        assert out.returncode == 1 and "1 error" in log and "INSIGHT_REQUIRE_SLURM=1" in log, log[-2000:]
    else:
        assert out.returncode == 0 and "1 skipped" in log, log[-2000:]
