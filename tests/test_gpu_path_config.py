"""The GPU path's configuration, checked on a CPU: model presets, the shipped accelerate configs (parsed by
accelerate's own launcher code), and the pre-launch checks that turn bad combinations into one-line errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from insight_cli.config import ConfigError, compose, conf_dir, group_options
from insight_cli.launch.preflight import check_environment, environment_problems

GPU_PRESETS = ["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen2.5-7b"]
ACCELERATE_CONFIGS = {"zero3": "use_deepspeed", "fsdp": "use_fsdp"}


def accelerate_launch_args(config_file: Path, processes: int):
    """The arguments and environment ``accelerate launch --config_file F --num_processes N train.py`` would use
    (accelerate's own parsing and validation; nothing is started)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    argv = ["--config_file", str(config_file), "--num_processes", str(processes), "train.py"]
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
        return args, prepare_deepspeed_cmd_env(args)[1]
    return args, prepare_multi_gpu_env(args)


def uncommented_keys(path: Path) -> list[str]:
    """YAML keys not directly preceded by a comment line (the house rule: every field says what it is for)."""
    lines = path.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        text = line.strip()
        if text and not text.startswith(("#", "-")) and ":" in text:
            if i == 0 or not lines[i - 1].strip().startswith("#"):
                missing.append(text.split(":")[0])
    return missing


# ---------------------------------------------------------------------------------------------- presets
def test_every_gpu_preset_is_shipped():
    assert set(GPU_PRESETS) <= set(group_options("model"))


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_gpu_preset_is_bf16_with_colocated_vllm_and_a_known_strategy(preset):
    model = compose([f"model={preset}"]).model
    assert model.hf_id and model.dtype == "bfloat16" and model.gradient_checkpointing
    assert model.vllm.enabled and 0 < model.vllm.gpu_memory_utilization < 1
    assert model.gpus % model.vllm.tensor_parallel_size == 0
    if model.gpus == 1:
        assert model.distributed == "none"
    else:
        assert (conf_dir() / "accelerate" / f"{model.distributed}.yaml").exists()


def test_new_files_comment_every_field():
    for path in [conf_dir() / "model" / "qwen2.5-7b.yaml", *sorted((conf_dir() / "accelerate").glob("*.yaml"))]:
        assert uncommented_keys(path) == [], path.name


# ---------------------------------------------------------------------------------------------- accelerate configs
@pytest.mark.parametrize("strategy", sorted(ACCELERATE_CONFIGS))
def test_accelerate_launch_reads_the_shipped_config(strategy):
    args, env = accelerate_launch_args(conf_dir() / "accelerate" / f"{strategy}.yaml", processes=4)
    assert getattr(args, ACCELERATE_CONFIGS[strategy]) is True
    assert args.num_processes == 4  # the launch command's --num_processes wins over the file's placeholder
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    if strategy == "zero3":
        assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
        assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "true"
    else:
        assert env["FSDP_VERSION"] == "2" and env["FSDP_AUTO_WRAP_POLICY"] == "TRANSFORMER_BASED_WRAP"
        assert env["FSDP_STATE_DICT_TYPE"] == "FULL_STATE_DICT"


# ---------------------------------------------------------------------------------------------- bad combinations
def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_tensor_parallel_wider_than_the_gpus_fails_when_composing():
    with pytest.raises(ConfigError) as excinfo:
        compose(["model=qwen3-1.7b", "model.vllm.tensor_parallel_size=2"])
    assert "model.vllm.tensor_parallel_size=2 is larger than model.gpus=1" in one_line_error(excinfo)


def test_tensor_parallel_that_does_not_divide_the_gpus_fails_when_composing():
    with pytest.raises(ConfigError) as excinfo:
        compose(["model=qwen3-4b", "model.vllm.tensor_parallel_size=3"])
    assert "does not divide model.gpus=4" in one_line_error(excinfo)


def test_tensor_parallel_over_all_gpus_is_accepted():
    assert compose(["model=qwen3-8b", "model.vllm.tensor_parallel_size=8"]).model.vllm.tensor_parallel_size == 8


def test_more_gpus_than_the_launcher_grants_fails_before_submit():
    cfg = compose(["model=qwen3-8b", "launcher=slurm", "launcher.gpus_per_node=4"])
    with pytest.raises(ConfigError) as excinfo:
        check_environment(cfg)
    assert "model qwen3-8b needs 8 GPUs but launcher.gpus_per_node=4" in one_line_error(excinfo)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed in this interpreter")
def test_vllm_requested_where_it_is_not_installed_fails_before_launch():
    cfg = compose(["model.vllm.enabled=true"])  # the CPU miniature: no GPU needed, so vLLM is the only problem
    with pytest.raises(ConfigError) as excinfo:
        check_environment(cfg)
    assert "model.vllm.enabled=true but vLLM is not installed in this Python" in one_line_error(excinfo)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed in this interpreter")
def test_slurm_jobs_are_checked_against_the_interpreter_they_will_run():
    """launcher.python names the job's interpreter: the checks probe that one (a real subprocess), not this one."""
    cfg = compose(["model=qwen3-4b", "launcher=slurm", f"launcher.python={sys.executable}"])
    problems = environment_problems(cfg)
    assert any(f"vLLM is not installed in launcher.python ({sys.executable})" in p for p in problems), problems
    assert not any("needs 4 GPUs" in p for p in problems)  # a login node without GPUs may submit GPU jobs
    venv = Path(__file__).resolve().parents[1] / ".venv-vllm" / "bin" / "python"
    if venv.exists():  # built by scripts/vllm-cpu-env.sh: there vLLM is found
        cfg = compose(["model=qwen3-4b", "launcher=slurm", f"launcher.python={venv}"])
        assert not any("vLLM" in p for p in environment_problems(cfg))


def test_gpu_model_launched_in_process_without_a_gpu_fails_before_launch():
    if importlib.util.find_spec("torch") and __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError) as excinfo:
        check_environment(compose(["model=qwen3-0.6b"]))
    assert "model qwen3-0.6b needs 1 GPU but this machine has 0" in one_line_error(excinfo)


def test_the_cpu_miniature_passes_every_check():
    assert environment_problems(compose([])) == []


def test_unknown_distributed_strategy_fails_when_composing():
    with pytest.raises(ConfigError) as excinfo:
        compose(["model=qwen3-4b", "model.distributed=ddp"])
    expected = "model.distributed='ddp' is unknown: set model.distributed to one of none, zero3, fsdp"
    assert expected in one_line_error(excinfo)


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="DeepSpeed is installed here")
def test_zero3_without_deepspeed_fails_before_submit_and_fsdp_needs_nothing_extra():
    cfg = compose(["model=qwen3-4b", "launcher=slurm", "model.vllm.enabled=false"])
    with pytest.raises(ConfigError) as excinfo:
        check_environment(cfg)
    assert "model.distributed=zero3 but DeepSpeed is not installed in this Python" in one_line_error(excinfo)
    assert "model.distributed=fsdp" in one_line_error(excinfo)  # the fix it names
    check_environment(
        compose(["model=qwen3-4b", "launcher=slurm", "model.vllm.enabled=false", "model.distributed=fsdp"])
    )


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["model=qwen3-4b", "model.distributed=none"], "model.gpus=4 but model.distributed=none"),
        (["model=qwen3-0.6b", "model.distributed=zero3"], "model.distributed=zero3 shards over several GPUs"),
        (["model=qwen3-8b", "launcher.processes=4"], "launcher.processes=4 but model qwen3-8b trains one process"),
        (["launcher=local", "launcher.processes=0"], "launcher.processes=0 is out of range"),
        (["launcher.processes=3", "M=16", "K=4"], "64 completions do not split over 3 processes × 1 micro-batches"),
        (["model=qwen3-8b", "M=3", "K=2"], "6 completions do not split over 8 processes"),
    ],
)
def test_process_layouts_that_cannot_run_fail_when_composing(overrides, fragment):
    with pytest.raises(ConfigError) as excinfo:
        compose(overrides)
    assert fragment in one_line_error(excinfo)


def test_process_layouts_that_can_run_are_accepted():
    from insight_cli.launch.preflight import training_processes

    assert training_processes(compose(["launcher.processes=2", "M=16", "K=4"])) == 2  # CPU ranks
    assert training_processes(compose(["model=qwen3-8b", "launcher.processes=8"])) == 8  # the same as model.gpus
    assert training_processes(compose(["model=qwen3-8b"])) == 8
    assert training_processes(compose(["model=qwen3-1.7b"])) == training_processes(compose([])) == 1
