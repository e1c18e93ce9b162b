"""One selector spec for every integration: a selector name, a mapping of its options, or a ready selector object.

    build_prompt_selection("wmi", num_prompts=7473, prompts_per_step=256, rollouts_per_prompt=8, seed=0)
    build_prompt_selection({"name": "mopps", "lam": 1.0}, ...)   # these options over conf/selector/mopps.yaml's
    build_prompt_selection(my_selector, ...)                      # a Selector you built (e.g. warm-started) yourself

Options not given take the paper defaults of ``conf/selector/<name>.yaml`` (the files ``insight train`` composes),
with K = the host's rollouts per prompt. The selector and the candidate-pool sampler are seeded apart from each other
exactly as ``insight train`` seeds them (``SeedSequence(seed).generate_state(2)``), so the same seed and the same
outcomes give the same choices whatever the host trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from insight_cli.selectors import SELECTORS, PoolSampler, Selector, SelectorConfigError, build_selector
from insight_cli.selectors.base import refreshes
from insight_cli.train.selection import PromptSelection

SelectorSpec = str | Mapping[str, Any] | Selector
# M̂/M when neither the caller nor conf/pool/default.yaml says (InSight's ≈ 16×)
FALLBACK_POOL_FACTOR = 16.0


def conf_defaults(group: str, option: str, rollouts_per_prompt: int) -> dict[str, Any]:
    """``conf/<group>/<option>.yaml`` as a dict, ``${trainer.num_generations}`` resolved to ``rollouts_per_prompt``;
    empty when the conf/ folder is not reachable (a non-editable install without INSIGHT_CONF_DIR)."""
    from omegaconf import OmegaConf

    from insight_cli.config import ConfigError, conf_dir

    try:
        path = conf_dir() / group / f"{option}.yaml"
    except ConfigError:
        return {}
    if not path.exists():
        return {}
    root = OmegaConf.create({"trainer": {"num_generations": int(rollouts_per_prompt)}, "node": OmegaConf.load(path)})
    return OmegaConf.to_container(root.node, resolve=True)


def selector_settings(spec: str | Mapping[str, Any], rollouts_per_prompt: int) -> dict[str, Any]:
    """The selector's full options: the paper defaults of its conf file, overridden by the spec's own keys."""
    options = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = options.get("name")
    if name not in SELECTORS:
        raise SelectorConfigError(f"unknown selector '{name}': choose one of {', '.join(sorted(SELECTORS))}")
    settings = {**conf_defaults("selector", str(name), rollouts_per_prompt), **options}
    settings.setdefault("K", int(rollouts_per_prompt))  # the selectors that need K read it; the others ignore it
    if settings.get("prior", "uniform") != "uniform":
        raise SelectorConfigError(
            f"selector prior={settings['prior']!r} needs rollout counts of your starting policy: build the selector "
            "yourself, call its init_from_counts(successes, trials), and pass the object as the selector"
        )
    return settings


def build_prompt_selection(
    spec: SelectorSpec,
    num_prompts: int,
    prompts_per_step: int,
    rollouts_per_prompt: int,
    pool_factor: float | None = None,
    seed: int = 0,
) -> PromptSelection:
    """The selector (from ``spec``), its candidate-pool sampler and their bookkeeping, seeded as ``insight train``.

    ``pool_factor``: M̂/M, candidates drawn per chosen prompt (None: conf/pool/default.yaml's, InSight's 16)."""
    seeds = np.random.SeedSequence(int(seed)).generate_state(2)
    if isinstance(spec, Selector):
        selector = spec
        if selector.num_prompts != int(num_prompts):
            raise SelectorConfigError(
                f"the selector was built for {selector.num_prompts} prompts but the dataset has {num_prompts}: build "
                "it with num_prompts=len(train_dataset)"
            )
    else:
        selector = build_selector(int(num_prompts), selector_settings(spec, rollouts_per_prompt), seed=int(seeds[0]))
    if refreshes(selector):
        raise SelectorConfigError(
            f"selector '{selector.name}' recomputes its scores from the policy's gradients, which only `insight "
            "train` provides: choose another selector here"
        )
    if pool_factor is None:
        pool_factor = float(conf_defaults("pool", "default", rollouts_per_prompt).get("factor", FALLBACK_POOL_FACTOR))
    pool = PoolSampler(int(num_prompts), float(pool_factor), seed=int(seeds[1]))
    return PromptSelection(selector, pool, int(prompts_per_step), int(rollouts_per_prompt))
