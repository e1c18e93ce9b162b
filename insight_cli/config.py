"""Compose the resolved run config from ``conf/`` with Hydra's compose API (struct mode: unknown keys are errors).

``compose(["--selector", ...])`` is not accepted here: the CLI turns its short flags into group overrides
(``--selector wmi`` → ``selector=wmi``) and passes plain Hydra overrides. The paper's symbols are accepted as keys
(``mu=0.3`` → ``selector.mu=0.3``), from the single table of insight_cli/aliases.py.

This is the only module that builds a run's config: :func:`compose` for one run (``insight train``, ``config
show``), :class:`Composer` for the runs of a sweep (the same result, fast for thousands of runs). Either way a launch
gets a resolved, struct-mode DictConfig, which travels unchanged to the job (submitit pickles it).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from insight_cli.aliases import ALIASES
from insight_cli.errors import ConfigError

# Groups whose option is chosen with `group=option`, and the CLI flags that map onto them.
GROUPS = ("model", "selector", "task", "pool", "trainer", "launcher", "tracking", "paths", "experiment")
_REFERENCE = re.compile(r"\$\{([^}]*)\}")


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


def _hydra_compose(overrides: Sequence[str]) -> DictConfig:
    """Hydra's compose of ``conf/config.yaml`` with these (alias-expanded) overrides, unresolved: the only place
    that sets Hydra up."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            return hydra_compose(config_name="config", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def compose(overrides: Iterable[str] = (), *, validate_config: bool = True) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides (aliases expanded), resolve it, and validate it."""
    expanded = [expand_alias(o) for o in overrides]
    for item in expanded:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"malformed override {item!r}: write key=value (e.g. selector.mu=0.3) or group=option")
    try:
        cfg = _hydra_compose(expanded)
        OmegaConf.resolve(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # Hydra raises several unrelated exception types for bad input
        raise ConfigError(_explain(exc, expanded)) from None
    OmegaConf.set_struct(cfg, True)
    if validate_config:
        validate(cfg)
    return cfg


def validate(cfg: DictConfig) -> None:
    """The one check of a composed config, before anything is written or loaded; each failure is one ConfigError line.

    First the schema (insight_cli/schema.py: every field's type and range, and the cross-field limits), then the
    selector's own checks, then the GPU-path contradictions (launch/preflight.py)."""
    validate_plain(OmegaConf.to_container(cfg, resolve=True))


def validate_plain(plain: Mapping[str, Any]) -> None:
    """:func:`validate` on a resolved config as plain containers (every check reads it as a mapping), which spares
    building a DictConfig per run of a large sweep."""
    from insight_cli import schema
    from insight_cli.selectors import SelectorConfigError, build_selector

    schema.check(plain)
    try:
        # Building the selector on a one-prompt dataset runs its own range checks (μ, η, λ, ...).
        build_selector(1, plain["selector"], seed=0)
    except (SelectorConfigError, ValueError, KeyError) as exc:
        raise ConfigError(_one_line(exc)) from None
    from insight_cli.launch.preflight import check_config  # GPU-path contradictions (tensor parallel vs GPUs)

    check_config(plain)


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg)


# ---------------------------------------------------------------------------------------------- many runs at once
def _is_structural(override: str) -> bool:
    """Overrides that change the defaults list (``selector=wmi``) or the key set (``+k``, ``~k``) go to Hydra."""
    key = override.split("=", 1)[0]
    return key[:1] in "+~" or "/" in key or key in GROUPS or key.startswith("hydra")


def _references(plain: Any, path: str = "") -> list[tuple[str, set[str]]]:
    """(leaf path, referenced keys) for every interpolation leaf of an unresolved plain config."""
    out = []
    if isinstance(plain, Mapping):
        for key, value in plain.items():
            out += _references(value, f"{path}.{key}" if path else str(key))
    elif isinstance(plain, list):
        for i, value in enumerate(plain):
            out += _references(value, f"{path}[{i}]")
    elif isinstance(plain, str) and "${" in plain:
        out.append((path, {r.strip() for r in _REFERENCE.findall(plain)}))
    return out


class Composer:
    """Compose the runs of a sweep fast and exactly like :func:`compose`.

    Composing a thousand runs through Hydra one by one takes minutes (about 0.25 s each), so this composes once per
    distinct set of *group* choices (``selector=…``, ``model=…``) and applies the plain ``key=value`` overrides to a
    copy of that resolved config, exactly as Hydra would; anything it cannot do exactly (an override feeding an
    interpolation, ``+key``/``~key``, a list or dict value) goes through :func:`compose` itself, as does any error,
    so messages are the same one-liners. :meth:`plain` gives the resolved config as containers (hashing a run id
    and grouping runs cost microseconds on them); :func:`as_config` turns one into the DictConfig a launch takes.
    """

    def __init__(self) -> None:
        self._base: dict[tuple[str, ...], tuple[dict, dict, list[tuple[str, set[str]]]]] = {}
        self._validated: set[str] = set()
        self._parser = None
        self._parsed: dict[str, tuple[str, Any] | None] = {}

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The resolved, validated config of one run (equal to ``compose(overrides)``)."""
        return as_config(self.plain(overrides))

    def plain(self, overrides: Sequence[str]) -> dict:
        """The resolved config of one run as plain containers (validated)."""
        expanded = [expand_alias(o) for o in overrides]
        structural = tuple(o for o in expanded if _is_structural(o))
        values = [o for o in expanded if not _is_structural(o)]
        try:
            plain = self._fast(structural, values)
        except ConfigError:
            raise
        except Exception:  # anything unusual: let Hydra do it (and word the error)
            plain = None
        if plain is None:
            return OmegaConf.to_container(compose(expanded), resolve=True)
        self._validate(plain)
        return plain

    def _base_for(self, structural: tuple[str, ...]):
        if structural not in self._base:
            try:
                cfg = _hydra_compose(structural)
            except Exception:
                compose(structural, validate_config=False)  # raises the error worded as the CLI words it
                raise
            raw = OmegaConf.to_container(cfg, resolve=False)
            resolved = OmegaConf.to_container(cfg, resolve=True)
            self._base[structural] = (raw, resolved, _references(raw))
        return self._base[structural]

    def _fast(self, structural: tuple[str, ...], values: list[str]) -> dict | None:
        raw, resolved, references = self._base_for(structural)
        parsed = self._parse(values)
        if parsed is None:
            return None
        touched = set(parsed)
        for _, refs in references:
            if any(
                r.startswith(".") or any(r == t or r.startswith(t + ".") or t.startswith(r + ".") for t in touched)
                for r in refs
            ):
                return self._resolve(raw, parsed)  # an override feeds an interpolation (K → selector.K)
        plain = copy.deepcopy(resolved)
        for key, value in parsed.items():
            if not _set_leaf(plain, key, value):
                return None
        return plain

    @staticmethod
    def _resolve(raw: dict, parsed: dict[str, Any]) -> dict | None:
        """Apply the overrides to the unresolved config, then let OmegaConf resolve it (as Hydra does)."""
        plain = copy.deepcopy(raw)
        for key, value in parsed.items():
            if not _set_leaf(plain, key, value):
                return None
        return OmegaConf.to_container(OmegaConf.create(plain), resolve=True)

    def _parse(self, values: list[str]) -> dict[str, Any] | None:
        """Hydra's own parser turns override text into typed values (``1e-6`` float, ``null`` None); cached."""
        out = {}
        for text in values:
            if text not in self._parsed:
                self._parsed[text] = self._parse_one(text)
            parsed = self._parsed[text]
            if parsed is None:
                return None
            out[parsed[0]] = parsed[1]
        return out

    def _parse_one(self, text: str) -> tuple[str, Any] | None:
        if self._parser is None:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            self._parser = OverridesParser.create()
        override = self._parser.parse_override(text)
        if override.is_sweep_override() or override.is_delete() or override.is_add():
            return None
        value = override.value()
        return None if isinstance(value, dict | list) else (override.key_or_group, value)

    def _validate(self, plain: dict) -> None:
        """The schema (types and ranges, cheap) on every run; the rest of :func:`validate` once per distinct config
        up to the seed, which only the schema reads."""
        from insight_cli import schema

        key = json.dumps({k: v for k, v in plain.items() if k != "seed"}, sort_keys=True, default=str)
        if key in self._validated:
            schema.check(plain)
            return
        validate_plain(plain)
        self._validated.add(key)


def _set_leaf(plain: dict, key: str, value: Any) -> bool:
    """Set an existing scalar leaf ``a.b.c``; False if the key is new or not a leaf (the caller asks Hydra)."""
    *parents, leaf = key.split(".")
    node = plain
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    if not isinstance(node, dict) or leaf not in node or isinstance(node[leaf], dict | list):
        return False
    node[leaf] = value
    return True


def as_config(plain: Mapping[str, Any]) -> DictConfig:
    """A resolved config from :meth:`Composer.plain` as the struct-mode DictConfig :func:`compose` returns."""
    cfg = OmegaConf.create(dict(plain))
    OmegaConf.set_struct(cfg, True)
    return cfg
