"""The sbatch script and the whole dry-run plan of every model preset, checked against golden files (regenerate:
INSIGHT_UPDATE_GOLDEN=1, then review the diff)."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from insight_cli.config import compose, conf_dir
from insight_cli.launch.executor import sbatch_text, slurm_parameters

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
FOLDER = "/results/main/.submitit"


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("INSIGHT_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: run with INSIGHT_UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(), f"{name} changed: review the diff, then INSIGHT_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("model", MODELS)
def test_sbatch_script_of_each_model_preset(model):
    cfg = compose([f"model={model}", "launcher=slurm"])
    text = sbatch_text(cfg, FOLDER, count=1, python="python")
    _check_golden(f"sbatch_{model}.sh", text)
    gpus = int(cfg.model.gpus)
    assert (f"#SBATCH --gpus-per-node={gpus}" in text) == (gpus > 0)
    assert "#SBATCH --requeue" in text and "#SBATCH --signal=USR2@120" in text and "--array" not in text


def test_sbatch_job_array_of_a_sweep():
    cfg = compose(
        [
            "launcher=slurm",
            "launcher.array_parallelism=2",
            "launcher.partition=debug",
            "launcher.setup=[module load cuda,source .venv/bin/activate]",
        ]
    )
    text = sbatch_text(cfg, FOLDER, count=4, python="python")
    _check_golden("sbatch_tiny-cpu_array.sh", text)
    assert "#SBATCH --array=0-3%2" in text and "#SBATCH --partition=debug" in text
    assert text.index("module load cuda") < text.index("srun")


def test_launcher_fields_reach_sbatch():
    cfg = compose(
        [
            "model=qwen3-8b",
            "launcher=slurm",
            "launcher.account=lab",
            "launcher.qos=high",
            "launcher.timeout_min=600",
            "launcher.cpus_per_task=48",
            "launcher.mem_gb=400",
            "launcher.constraint=h100",
            "+launcher.additional.exclude=node13",
        ]
    )
    params = slurm_parameters(cfg)
    assert params["account"] == "lab" and params["qos"] == "high" and params["time"] == 600
    assert params["cpus_per_task"] == 48 and params["mem"] == "400GB" and params["constraint"] == "h100"
    assert params["gpus_per_node"] == 8 and params["additional_parameters"]["exclude"] == "node13"


def normalised_plan(stdout: str, results: Path) -> str:
    """The plan part of a dry run (from the run-directory line on; the composed config before it is checked
    elsewhere) with what differs between machines replaced: results folder, run id, interpreter, conf/ folder."""
    plan = stdout[stdout.index("# run directory:") :]
    for path, name in ((results, "<results>"), (conf_dir(), "<conf>")):
        plan = plan.replace(str(path), name)
    plan = plan.replace(shlex.quote(sys.executable), "python").replace(sys.executable, "python")
    return re.sub(r"(<results>/adhoc/)[0-9a-f]{12}", r"\1<run_id>", plan)


@pytest.mark.parametrize("model", MODELS)
def test_dry_run_plan_of_each_model_preset(insight_cmd, tmp_path, model):
    """`insight train --model M --selector wmi launcher=slurm --dry-run`: the sbatch script, the training command
    inside the job, the GPUs, the accelerate config and the GPU-hour estimate; nothing written."""
    # trainer.steps pinned: the estimate must not follow edits of the trainer presets
    result = insight_cmd(
        "train", "--model", model, "--selector", "wmi", "launcher=slurm", "trainer.steps=100", "--dry-run"
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    plan = normalised_plan(result.stdout, tmp_path / "results")
    _check_golden(f"dryrun_{model}.txt", plan)
    assert not (tmp_path / "results").exists()
    cfg = compose([f"model={model}", "launcher=slurm"])
    gpus = int(cfg.model.gpus)
    assert "#!/bin/bash" in plan and "# estimate: 1 × 100 steps" in plan and f"{gpus} GPU = " in plan
    worker = "-m insight_cli.launch.worker <results>/adhoc/<run_id>"
    if gpus > 1:
        config = f"<conf>/accelerate/{cfg.model.distributed}.yaml"
        launch = f"python -m accelerate.commands.launch --config_file {config} --num_processes {gpus}"
        assert f"{launch} --main_process_port <free port> {worker}\n" in plan
        assert f"# accelerate config: {config}\n" in plan and "#   distributed_type: " in plan
    else:
        assert f"\npython {worker}\n" in plan and "# accelerate config: none" in plan
