"""Bad input: a one-line error that names the fix, exit code 2, and nothing written — one table, every command."""

from __future__ import annotations

import importlib.util
import os

import pytest

NO_SLURM_PATH = {"PATH": os.path.dirname(os.__file__)}  # a PATH with no sbatch/scontrol on it
BOGUS_SLURM = {"SLURM_CONF": "/nonexistent/slurm.conf"}  # Slurm installed, but no controller it can reach

# (id, argv, extra environment, a fragment the error must contain)
CASES = [
    # --- insight train
    ("train-unknown-key", ["train", "trainer.nope=1"], None, "unknown config key 'trainer.nope'"),
    ("train-unknown-top-key", ["train", "nope=1"], None, "unknown config key"),
    ("train-unknown-model", ["train", "--model", "nope"], None, "unknown model 'nope'"),
    ("train-unknown-selector", ["train", "selector=nope"], None, "unknown selector 'nope'"),
    ("train-unknown-launcher", ["train", "launcher=nope"], None, "unknown launcher 'nope'"),
    ("train-steps-zero", ["train", "trainer.steps=0"], None, "trainer.steps"),
    ("train-K-one", ["train", "K=1"], None, "num_generations"),
    ("train-M-zero", ["train", "M=0"], None, "prompts_per_step"),
    ("train-pool-below-one", ["train", "pool=0.5"], None, "pool.factor"),
    ("train-mu-out-of-range", ["train", "mu=2"], None, "selector.mu"),
    ("train-eta-negative", ["train", "eta=-1"], None, "selector.eta"),
    ("train-lam-zero", ["train", "lam=0"], None, "selector.lam"),
    ("train-alias-not-for-selector", ["train", "--selector", "random", "mu=0.3"], None, "does not apply"),
    ("train-empty-key", ["train", "=1"], None, "malformed"),
    ("train-no-equals", ["train", "mu"], None, "malformed"),
    ("train-unwritable-results", ["train", "paths.results_dir=/proc/1/results"], None, "paths.results_dir"),
    ("train-results-under-a-file", ["train", "paths.results_dir=/etc/hostname/results"], None, "paths.results_dir"),
    ("train-slurm-not-installed", ["train", "launcher=slurm"], NO_SLURM_PATH, "slurm-local.sh start"),
    ("train-slurm-unreachable", ["train", "launcher=slurm"], BOGUS_SLURM, "slurm-local.sh start"),
    (
        "train-gpus-below-model",
        ["train", "--model", "qwen3-4b", "launcher=local", "launcher.gpus_per_node=1"],
        None,
        "launcher.gpus_per_node=4",
    ),
    # --- insight train: GPU-path combinations that cannot run (checked before anything is written or submitted)
    (
        "train-slurm-gpus-below-model-dry-run",
        ["train", "--model", "qwen3-8b", "launcher=slurm", "launcher.gpus_per_node=4", "--dry-run"],
        None,
        "set launcher.gpus_per_node=8",
    ),
    (
        "train-tensor-parallel-above-gpus",
        ["train", "--model", "qwen3-1.7b", "model.vllm.tensor_parallel_size=2"],
        None,
        "tensor_parallel_size=2 is larger than model.gpus=1",
    ),
    ("train-unknown-distributed", ["train", "--model", "qwen3-4b", "model.distributed=ddp"], None, "is unknown"),
    (
        "train-multi-gpu-without-sharding",
        ["train", "--model", "qwen3-4b", "model.distributed=none", "--dry-run"],
        None,
        "set model.distributed=zero3 or model.distributed=fsdp",
    ),
    (
        "train-sharding-on-one-gpu",
        ["train", "--model", "qwen3-1.7b", "model.distributed=fsdp"],
        None,
        "set model.distributed=none, or model.gpus≥2",
    ),
    (
        "train-processes-other-than-gpus",
        ["train", "--model", "qwen3-4b", "launcher=slurm", "launcher.processes=2"],
        None,
        "leave launcher.processes=null",
    ),
    ("train-processes-zero", ["train", "launcher.processes=0"], None, "launcher.processes=0 must be ≥ 1"),
    (
        "train-processes-do-not-split-the-batch",
        ["train", "launcher.processes=3", "M=64", "K=8"],
        None,
        "512 completions do not split over 3 processes",
    ),
    *(
        [
            (
                "train-zero3-without-deepspeed",
                ["train", "--model", "qwen3-4b", "launcher=slurm", "model.vllm.enabled=false"],
                NO_SLURM_PATH,  # found before Slurm is asked: no scheduler needed to reject it
                "DeepSpeed is not installed",
            )
        ]
        if importlib.util.find_spec("deepspeed") is None
        else []
    ),
    *(
        [("train-vllm-not-installed", ["train", "model.vllm.enabled=true"], None, "vLLM is not installed")]
        if importlib.util.find_spec("vllm") is None
        else []
    ),
    # --- insight sweep: malformed axes
    ("sweep-empty-value", ["sweep", "mu="], None, "no value after '='"),
    ("sweep-empty-item", ["sweep", "mu=0.3,,0.5"], None, "empty item"),
    ("sweep-trailing-comma", ["sweep", "mu=0.3,"], None, "empty item"),
    ("sweep-empty-key", ["sweep", "=1"], None, "key before '=' is empty"),
    ("sweep-no-equals", ["sweep", "mu"], None, "write key=value"),
    ("sweep-repeated-value", ["sweep", "mu=0.3,0.3"], None, "repeated"),
    ("sweep-key-twice", ["sweep", "mu=0.3,0.5", "selector.mu=0.4"], None, "given twice"),
    # --- insight sweep: keys, options and values
    ("sweep-unknown-key", ["sweep", "trainer.nope=1,2"], None, "unknown config key 'trainer.nope'"),
    ("sweep-unknown-option-in-axis", ["sweep", "selector=wmi,nope"], None, "unknown selector 'nope'"),
    ("sweep-unknown-selector-flag", ["sweep", "--selector", "wmi,nope"], None, "unknown selector 'nope'"),
    ("sweep-unknown-model-flag", ["sweep", "--model", "tiny-cpu,nope"], None, "unknown model 'nope'"),
    ("sweep-value-fails-validation", ["sweep", "mu=0.3,5"], None, "selector.mu"),
    ("sweep-K-fails-validation", ["sweep", "K=1,8"], None, "num_generations"),
    ("sweep-alias-not-for-selector", ["sweep", "--selector", "random", "mu=0.3,0.5"], None, "does not apply"),
    ("sweep-seeds-zero", ["sweep", "--seeds", "0"], None, "--seeds"),
    ("sweep-bad-name", ["sweep", "--name", "a/b", "mu=0.3,0.5"], None, "not a folder name"),
    ("sweep-missing-spec", ["sweep", "-f", "sweeps/nope.yaml"], None, "not found"),
    (
        "sweep-unwritable-results",
        ["sweep", "mu=0.3,0.5", "paths.results_dir=/proc/1/results"],
        None,
        "paths.results_dir",
    ),
    ("sweep-slurm-not-installed", ["sweep", "mu=0.3,0.5", "launcher=slurm"], NO_SLURM_PATH, "launcher=local"),
    ("sweep-slurm-unreachable", ["sweep", "mu=0.3,0.5", "launcher=slurm"], BOGUS_SLURM, "launcher=local"),
    (
        "sweep-gpus-below-model",
        [
            "sweep",
            "--model",
            "qwen3-0.6b,qwen3-8b",
            "launcher=slurm",
            "launcher.gpus_per_node=1",
            "model.vllm.enabled=false",
        ],
        None,
        "needs 8 GPUs",
    ),
    # --- insight status / logs
    ("status-unknown-sweep", ["status", "nope"], None, "no sweep 'nope'"),
    ("logs-id-too-short", ["logs", "ab"], None, "too short"),
    ("logs-unknown-run", ["logs", "deadbeef0000"], None, "no run 'deadbeef0000'"),
]


@pytest.fixture
def bad_spec_files(tmp_path):
    """Spec files outside the results folder: invalid YAML, an unknown field."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    (folder / "extra.yaml").write_text("name: x\naxes: {mu: [0.3]}\nsubmit_now: true\n")
    return folder


SPEC_CASES = [
    ("sweep-spec-invalid-yaml", "broken.yaml", "not valid YAML"),
    ("sweep-spec-unknown-field", "extra.yaml", "unknown field"),
]


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(("argv", "env", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(insight_cmd, tmp_path, monkeypatch, argv, env, fragment):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _snapshot(tmp_path)
    result = insight_cmd(*argv, env=env)
    _assert_one_line_error(result, fragment)
    assert _snapshot(tmp_path) == before, "bad input must write nothing"


@pytest.mark.parametrize(("name", "fragment"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_bad_spec_file_is_one_line_exit_2(insight_cmd, tmp_path, bad_spec_files, name, fragment):
    before = _snapshot(tmp_path)
    result = insight_cmd("sweep", "-f", str(bad_spec_files / name))
    _assert_one_line_error(result, fragment)
    assert _snapshot(tmp_path) == before


def test_the_table_is_large_enough():
    assert len(CASES) + len(SPEC_CASES) >= 30
