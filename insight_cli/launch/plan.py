"""Sweep expansion: axes (``mu=0.3,0.5``, ``--selector wmi,mopps``, ``--seeds 3``, ``sweeps/*.yaml``) → runs.

    insight sweep mu=0.3,0.5,0.7 --selector wmi,mopps --seeds 3 --dry-run
    insight sweep -f sweeps/mini_main.yaml

Every run is the cartesian product of the axes applied on top of the fixed overrides, composed into a resolved
config whose hash is its run id (DESIGN §4), by :class:`insight_cli.config.Composer`: the same composition as
``insight train``'s, fast for thousands of runs. A run's DictConfig is built when a launch or a printout needs it.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from insight_cli.config import Composer, ConfigError, as_config, expand_alias
from insight_cli.runs import run_id

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Axis:
    """One sweep axis: a config key (aliases expanded) and the values it takes, as override strings.

    A spec file may instead give *variants*: labelled bundles of overrides (``mopps: [selector=mopps, lam=1.0]``),
    for settings that travel together; ``key`` is then only the column name and ``bundles[label]`` is applied."""

    key: str
    values: tuple[str, ...]
    bundles: tuple[tuple[str, ...], ...] | None = None

    def overrides(self, index: int) -> list[str]:
        if self.bundles is not None:
            return list(self.bundles[index])
        return [f"{self.key}={self.values[index]}"]


@dataclass
class Run:
    """One run of a plan: its overrides, the axis values that single it out, its resolved config and run id."""

    overrides: list[str]
    values: dict[str, str]
    plain: dict  # the resolved config as containers: run id, grouping and estimates stay fast for 1,000s of runs
    run_id: str

    @functools.cached_property
    def config(self) -> DictConfig:
        """The run's config as launches take it, built on first use (only launched or printed runs need it)."""
        return as_config(self.plain)

    @classmethod
    def of_config(cls, cfg: DictConfig, overrides: Sequence[str], values: dict[str, str] | None = None) -> Run:
        """The run of an already composed config (``insight train``): that very DictConfig is the one launched."""
        plain = OmegaConf.to_container(cfg, resolve=True)
        run = cls(list(overrides), dict(values or {}), plain, run_id(plain))
        run.__dict__["config"] = cfg  # functools.cached_property keeps its value in the instance dict
        return run


@dataclass
class SweepSpec:
    """A sweep: a name (None: derived), fixed overrides applied to every run, and axes."""

    name: str | None = None
    overrides: list[str] = field(default_factory=list)
    axes: list[Axis] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- parsing
def split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets and quotes: ``0.3,0.5`` → 2 items, ``[1,2]`` → 1 item."""
    items, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


def parse_token(token: str) -> tuple[str, tuple[str, ...]]:
    """``mu=0.3,0.5`` → (``selector.mu``, (``0.3``, ``0.5``)); malformed input is a one-line ConfigError."""
    if "=" not in token:
        raise ConfigError(f"malformed axis {token!r}: write key=value or key=v1,v2,… (e.g. mu=0.3,0.5)")
    key, value = token.split("=", 1)
    if not key.strip():
        raise ConfigError(f"malformed axis {token!r}: the key before '=' is empty (e.g. mu=0.3,0.5)")
    if key != key.strip() or " " in key:
        raise ConfigError(f"malformed axis {token!r}: a key has no spaces (e.g. selector.mu=0.3)")
    if value == "":
        raise ConfigError(f"malformed axis {token!r}: no value after '=' (e.g. {key}=0.3 or {key}=0.3,0.5)")
    items = split_top_level(value)
    if any(item.strip() == "" for item in items):
        raise ConfigError(f"malformed axis {token!r}: an empty item between commas (e.g. {key}=0.3,0.5)")
    if len(set(items)) != len(items):
        raise ConfigError(f"malformed axis {token!r}: a value is repeated; list each value once")
    return expand_alias(key), tuple(items)


def parse_tokens(tokens: Iterable[str]) -> SweepSpec:
    """Command-line tokens → fixed overrides (one value) and axes (two or more values)."""
    spec = SweepSpec()
    for token in tokens:
        key, values = parse_token(token)
        if len(values) == 1:
            spec.overrides.append(f"{key}={values[0]}")
        else:
            spec.axes.append(Axis(key, values))
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read a ``sweeps/*.yaml`` spec: ``name``, ``overrides`` (list of key=value), ``axes`` (key → list)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep spec {str(path)!r} not found: pass a file such as sweeps/mini_main.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"sweep spec {path} is not valid YAML ({' '.join(str(exc).split())[:100]})") from None
    unknown = set(data) - {"name", "overrides", "axes"}
    if not isinstance(data, dict) or unknown:
        raise ConfigError(f"sweep spec {path}: unknown field(s) {sorted(unknown)}; allowed: name, overrides, axes")
    overrides = [str(o) for o in data.get("overrides") or []]
    spec = SweepSpec(name=data.get("name"), overrides=[_fixed(o, path) for o in overrides])
    for key, values in (data.get("axes") or {}).items():
        if isinstance(values, dict):  # variants: label → overrides applied together
            bundles = tuple(
                tuple(_fixed(o, path) for o in ([v] if isinstance(v, str) else v or [])) for v in values.values()
            )
            spec.axes.append(Axis(str(key), tuple(str(k) for k in values), bundles))
            continue
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"sweep spec {path}: axis {key!r} has no values")
        spec.axes.append(Axis(expand_alias(str(key)), tuple(_as_override_value(v) for v in values)))
    return spec


def _fixed(override: str, path: Path) -> str:
    """A spec's fixed override, alias expanded; its value is kept whole (commas included)."""
    if "=" not in override or not override.split("=", 1)[0].strip():
        raise ConfigError(f"sweep spec {path}: malformed override {override!r}: write key=value")
    key, value = override.split("=", 1)
    return f"{expand_alias(key)}={value}"


def _as_override_value(value: Any) -> str:
    """A YAML value as Hydra override text (``None`` → ``null``, ``True`` → ``true``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_specs(base: SweepSpec, extra: SweepSpec) -> SweepSpec:
    """``extra`` (the command line) wins over ``base`` (a spec file) key by key: an axis or a fixed value."""
    keys = {_override_key(o) for o in extra.overrides} | {a.key for a in extra.axes}
    return SweepSpec(
        name=extra.name or base.name,
        overrides=[o for o in base.overrides if _override_key(o) not in keys] + extra.overrides,
        axes=[a for a in base.axes if a.key not in keys] + extra.axes,
    )


def check_axes(spec: SweepSpec) -> None:
    """No key set twice (``mu`` and ``selector.mu`` are the same key), by the fixed overrides or by two axes."""
    seen: set[str] = set()
    groups = [{_override_key(o)} for o in spec.overrides]
    for axis in spec.axes:
        keys = {_override_key(o) for bundle in axis.bundles for o in bundle} if axis.bundles else {axis.key}
        groups.append(keys)
    for keys in groups:
        for key in keys:
            if key in seen:
                raise ConfigError(f"key {key!r} is given twice in the sweep: keep one axis or value for it")
        seen |= keys


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def sweep_name(spec: SweepSpec) -> str:
    """A stable name for an unnamed sweep, so the same command always maps to the same results folder."""
    blob = json.dumps([sorted(spec.overrides), sorted((a.key, a.values) for a in spec.axes)])
    return "sweep-" + hashlib.sha256(blob.encode()).hexdigest()[:8]


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"sweep name {name!r} is not a folder name: use letters, digits, '_', '-' or '.'")
    return name


def expand(spec: SweepSpec) -> list[tuple[list[str], dict[str, str]]]:
    """Cartesian product of the axes over the fixed overrides: [(overrides, axis values)], first axis slowest."""
    rows = []
    for combo in itertools.product(*(range(len(a.values)) for a in spec.axes)):
        values = {a.key: a.values[i] for a, i in zip(spec.axes, combo, strict=True)}
        overrides = [o for a, i in zip(spec.axes, combo, strict=True) for o in a.overrides(i)]
        rows.append(([*spec.overrides, *overrides], values))
    return rows


# ---------------------------------------------------------------------------------------------- composing
def build_runs(spec: SweepSpec, composer: Composer | None = None) -> list[Run]:
    """Compose every run of the plan (insight_cli.config.Composer); the first bad one raises its one-line
    ConfigError."""
    composer = composer or Composer()
    runs = []
    for overrides, values in expand(spec):
        plain = composer.plain(overrides)
        runs.append(Run(overrides=overrides, values=values, plain=plain, run_id=run_id(plain)))
    return runs
