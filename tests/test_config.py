"""Config composition of every shipped option, and one-line errors for bad input (library and CLI)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from insight_cli.cli.app import app
from insight_cli.config import GROUPS, ConfigError, compose, conf_dir, group_options

runner = CliRunner()


def shipped_options() -> list[tuple[str, str]]:
    return [(group, option) for group in GROUPS for option in group_options(group)]


@pytest.mark.parametrize(("group", "option"), shipped_options())
def test_every_shipped_option_composes(group: str, option: str) -> None:
    cfg = compose([f"{group}={option}"])
    if group == "tracking":  # several trackers compose at once (tracking=[tensorboard,wandb]): each adds its own key
        assert option == "jsonl" or option in cfg.tracking, f"conf/tracking/{option}.yaml must set a key {option}:"
    elif group not in ("experiment", "paths", "pool"):
        assert cfg[group].name == option, f"conf/{group}/{option}.yaml must set name: {option}"
    assert cfg.trainer.prompts_per_step >= 1


def test_every_config_field_has_a_comment() -> None:
    """House rule: a comment line above every field of every option file."""
    for path in sorted(conf_dir().rglob("*.yaml")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("- ") or stripped == "defaults:":
                continue
            if ":" not in stripped or stripped.startswith("#"):
                continue
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#"), (
                f"{path.relative_to(conf_dir())}:{number + 1} field {stripped.split(':')[0]!r} has no comment above"
            )


def test_qwen_presets_are_gpu_bf16_with_vllm() -> None:
    for option in ("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b"):
        cfg = compose([f"model={option}"])
        assert cfg.model.hf_id.startswith("Qwen/Qwen3-")
        assert cfg.model.dtype == "bfloat16" and cfg.model.vllm.enabled and cfg.model.gpus >= 1


def test_struct_mode_rejects_unknown_keys_after_compose() -> None:
    cfg = compose([])
    from omegaconf.errors import ConfigAttributeError

    with pytest.raises(ConfigAttributeError):
        cfg.trainer.no_such_key = 1


def test_aliases_map_paper_symbols() -> None:
    cfg = compose(["mu=0.5", "eta=2", "pool=8", "K=4", "M=32"])
    assert (cfg.selector.mu, cfg.selector.eta, cfg.pool.factor) == (0.5, 2, 8)
    assert (cfg.trainer.num_generations, cfg.trainer.prompts_per_step, cfg.selector.K) == (4, 32, 4)


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["selector=nope"], "unknown selector 'nope'"),
        (["trainer.no_such_key=1"], "unknown config key 'trainer.no_such_key'"),
        (["selector.mu=1.5"], "selector.mu=1.5 is out of range"),
        (["mu=-0.1"], "selector.mu=-0.1 is out of range"),
        (["selector=random", "mu=0.3"], "does not apply to the chosen selector"),
    ],
)
def test_bad_config_is_one_line(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        compose(overrides)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_help_carries_examples() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "insight train" in result.output and "Examples" in result.output
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--selector" in result.output and "trainer=smoke" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--selector", "nope"], "unknown selector 'nope'"),
        (["train", "trainer.bogus=1"], "unknown config key"),
        (["train", "mu=2"], "out of range"),
        (["config", "show", "--selector", "nope"], "unknown selector"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args: list[str], needle: str, tmp_path) -> None:
    result = runner.invoke(app, [*args, f"paths.results_dir={tmp_path}/results"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert not (tmp_path / "results").exists()


def test_config_show_prints_resolved_yaml_and_aliases() -> None:
    result = runner.invoke(app, ["config", "show", "--selector", "wmi", "mu=0.4"])
    assert result.exit_code == 0
    assert "mu: 0.4" in result.output and "selector.mu" in result.output
