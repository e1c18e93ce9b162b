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


def _fields(path):
    """(keys, the comment block above) of every field of a YAML option file."""
    lines, stack = path.read_text().splitlines(), []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "- ")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, stripped.split(":")[0]))
        block, above = [], number - 1
        while above >= 0 and lines[above].strip().startswith("#"):
            block.insert(0, lines[above].strip().lstrip("# "))
            above -= 1
        yield tuple(k for _, k in stack), " ".join(block)


def test_every_limit_is_stated_in_the_comment_above_its_field() -> None:
    """House rule: a field's comment states its valid range. The schema (insight_cli/schema.py) is the truth; the
    comment must name its bounds as the errors write them (``≥ 1``, ``[0, 1]``, ``(0, 1]``), every allowed choice,
    and ``null`` where null is allowed."""
    from omegaconf import OmegaConf

    from insight_cli.schema import limits, locate

    files = [(None, conf_dir() / "config.yaml")]
    files += [(g, p) for g in GROUPS if g not in ("experiment", "tracking") for p in (conf_dir() / g).glob("*.yaml")]
    missing, checked = [], 0
    for group, path in files:
        name = OmegaConf.load(path).get("name") if group else None
        for keys, comment in _fields(path):
            if keys[0] == "defaults" or keys[-1] == "name":
                continue
            tag = (name,) if group in ("selector", "task", "launcher") else ()
            key, field = locate((group, *tag, *keys) if group else keys)
            if field is None:  # a set's own entry in task.sets (its fields are checked one by one)
                continue
            checked += 1
            lost = [word for word in limits(field) if word not in comment]
            if lost:
                missing.append(f"{path.relative_to(conf_dir())}: {'.'.join(keys)} does not state {lost}")
    assert checked > 200
    assert not missing, "\n".join(missing)


def test_choices_match_the_installed_libraries() -> None:
    """The schema's lists of learning-rate schedules and GRPO losses are ones transformers and TRL accept."""
    import dataclasses

    from transformers.trainer_utils import SchedulerType
    from trl import GRPOConfig

    from insight_cli.schema import LOSS_TYPES, LR_SCHEDULERS

    assert set(LR_SCHEDULERS) <= {s.value for s in SchedulerType}
    help_text = next(f for f in dataclasses.fields(GRPOConfig) if f.name == "loss_type").metadata["help"]
    assert all(f"'{loss}'" in help_text for loss in LOSS_TYPES), help_text


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
        (["M=abc"], "trainer.prompts_per_step='abc' is not an integer: set trainer.prompts_per_step (M) to an"),
        (["pool=inf"], "pool.factor=inf is not finite: set pool.factor (pool) to a number ≥ 1"),
        (["trainer.learning_rate=0"], "set trainer.learning_rate to a number in (0, 1]"),
        (["model.generation_cache=paged"], "set model.generation_cache to one of static, dynamic"),
        (["trainer.eval.num_problems=0"], "set trainer.eval.num_problems to null or an integer ≥ 1"),
        (["+pool.nope=1"], "unknown config key 'pool.nope'"),
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
