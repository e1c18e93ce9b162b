"""Compose the resolved run config from ``conf/`` with Hydra's compose API (struct mode: unknown keys are errors).

``compose(["--selector", ...])`` is not accepted here: the CLI turns its short flags into group overrides
(``--selector wmi`` → ``selector=wmi``) and passes plain Hydra overrides. The paper's symbols are accepted as keys
(``mu=0.3`` → ``selector.mu=0.3``), from the single table of insight_cli/aliases.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from insight_cli.aliases import ALIASES
from insight_cli.errors import ConfigError

# Groups whose option is chosen with `group=option`, and the CLI flags that map onto them.
GROUPS = ("model", "selector", "task", "pool", "trainer", "launcher", "tracking", "paths", "experiment")


def default_results_dir() -> Path:
    """``paths.results_dir`` of the default config ($INSIGHT_RESULTS_DIR, else results/) without composing it all:
    the one place commands that take ``--results-dir`` (status, logs, report) get their default."""
    paths = OmegaConf.create({"paths": OmegaConf.load(conf_dir() / "paths" / "default.yaml")})
    return Path(str(paths.paths.results_dir))


def conf_dir() -> Path:
    """The ``conf/`` folder: $INSIGHT_CONF_DIR, else the one beside the package (editable install / checkout)."""
    env = os.environ.get("INSIGHT_CONF_DIR")
    path = Path(env) if env else Path(__file__).resolve().parent.parent / "conf"
    if not (path / "config.yaml").exists():
        raise ConfigError(f"no config.yaml in {path}: set INSIGHT_CONF_DIR to the repository's conf/ folder")
    return path


def group_options(group: str) -> list[str]:
    """The options of a config group: the YAML files in ``conf/<group>/``."""
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def expand_alias(override: str) -> str:
    """``mu=0.3`` → ``selector.mu=0.3``; other overrides are returned unchanged."""
    match = re.match(r"^([+~]{0,2})([^=]+)(=.*)?$", override)
    if not match:
        return override
    prefix, key, rest = match.group(1), match.group(2), match.group(3) or ""
    if key in GROUPS and rest[1:] in group_options(key):
        return override  # `pool=default` picks the group option; `pool=8` is the alias for pool.factor
    return f"{prefix}{ALIASES.get(key, key)}{rest}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _explain(exc: BaseException, overrides: Sequence[str]) -> str:
    """Turn Hydra/OmegaConf composition errors into one line that names the fix."""
    text = _one_line(exc)
    missing = re.search(r"Could not find '([^']+)/([^']*)'", text)
    if missing:
        group, option = missing.group(1).strip("/"), missing.group(2)
        options = ", ".join(group_options(group)) if (conf_dir() / group).is_dir() else "none"
        if not option:
            return f"no {group} given (an empty value): choose one of {options}"
        return f"unknown {group} '{option}': choose one of {options}"
    key = re.search(r"Could not override '([^']+)'", text) or re.search(r"Key '([^']+)' is not in struct", text)
    if key:
        name = key.group(1)
        alias = next((a for a, target in ALIASES.items() if target == name), None)
        if alias and name.startswith("selector."):
            return (
                f"'{alias}' ({name}) does not apply to the chosen selector; pick a selector that has it "
                f"(insight config show lists the keys of the composed config)"
            )
        return f"unknown config key '{name}': check the spelling with `insight config show` (struct mode is on)"
    if "mismatched input" in text or "no viable alternative" in text or "extraneous input" in text:
        return f"malformed override in {' '.join(overrides)!r}: write key=value or group=option ({text[:120]})"
    return text


def compose(overrides: Iterable[str] = (), *, validate_config: bool = True) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides (aliases expanded), resolve it, and validate it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    expanded = [expand_alias(o) for o in overrides]
    for item in expanded:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"malformed override {item!r}: write key=value (e.g. selector.mu=0.3) or group=option")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=expanded)
        OmegaConf.resolve(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # Hydra raises several unrelated exception types for bad input
        raise ConfigError(_explain(exc, expanded)) from None
    finally:
        GlobalHydra.instance().clear()
    OmegaConf.set_struct(cfg, True)
    if validate_config:
        validate(cfg)
    return cfg


def validate(cfg: DictConfig) -> None:
    """The one check of a composed config, before anything is written or loaded; each failure is one ConfigError line.

    First the schema (insight_cli/schema.py: every field's type and range, and the cross-field limits), then the
    selector's own checks, then the GPU-path contradictions (launch/preflight.py)."""
    from insight_cli import schema
    from insight_cli.selectors import SelectorConfigError, build_selector

    schema.check(OmegaConf.to_container(cfg, resolve=True))
    try:
        # Building the selector on a one-prompt dataset runs its own range checks (μ, η, λ, ...).
        build_selector(1, cfg.selector, seed=0)
    except (SelectorConfigError, ValueError, KeyError) as exc:
        raise ConfigError(_one_line(exc)) from None
    from insight_cli.launch.preflight import check_config  # GPU-path contradictions (tensor parallel vs GPUs)

    check_config(cfg)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)
