"""Online prompt selectors behind one protocol (DESIGN.md §2). ``SELECTORS`` maps config names to classes.

This package depends only on NumPy/SciPy so it can be used alone inside TRL or verl:

    from insight_cli.selectors import PoolSampler, build_selector
    selector = build_selector(num_prompts, {"name": "wmi", "mu": 0.3, "eta": 3.0, "lam": 1.0, "K": 8}, seed=0)
    pool = PoolSampler(num_prompts, factor=16, seed=0)
    ids = selector.select(pool.draw(m), m)          # then roll out K completions per prompt ...
    selector.update(ids, successes, trials)         # ... and fold in their binary accuracies
"""

from collections.abc import Mapping
from typing import Any

from insight_cli.selectors.base import BetaSelector, PoolSampler, Selector, SelectorConfigError
from insight_cli.selectors.cropi import CROPISelector
from insight_cli.selectors.dps import DPSSelector
from insight_cli.selectors.dynamic_sampling import DynamicSamplingSelector, GroupAccumulator
from insight_cli.selectors.expected_difficulty import ExpectedDifficultySelector
from insight_cli.selectors.inverse_evidence import InverseEvidenceSelector
from insight_cli.selectors.mopps import MoPPSSelector
from insight_cli.selectors.random import RandomSelector
from insight_cli.selectors.wmi import WMISelector
from insight_cli.selectors.wmi_mi_only import WMIMIOnlySelector
from insight_cli.selectors.wmi_sampled import WMISampledSelector
from insight_cli.selectors.wmi_weight_only import WMIWeightOnlySelector

SELECTORS: dict[str, type[Selector]] = {
    "random": RandomSelector,
    "mopps": MoPPSSelector,
    "expected_difficulty": ExpectedDifficultySelector,
    "inverse_evidence": InverseEvidenceSelector,
    "wmi": WMISelector,
    "wmi_mi_only": WMIMIOnlySelector,
    "wmi_weight_only": WMIWeightOnlySelector,
    "wmi_sampled": WMISampledSelector,
    "dynamic_sampling": DynamicSamplingSelector,
    "dps": DPSSelector,
    "cropi": CROPISelector,
}


def build_selector(num_prompts: int, cfg: Mapping[str, Any], seed: int) -> Selector:
    """Instantiate ``SELECTORS[cfg.name]``; an unknown name is a one-line error listing the known ones."""
    name = cfg.get("name") if hasattr(cfg, "get") else None
    if name not in SELECTORS:
        raise SelectorConfigError(f"unknown selector '{name}': choose one of {', '.join(sorted(SELECTORS))}")
    return SELECTORS[name](num_prompts, cfg, seed)


__all__ = [
    "SELECTORS",
    "BetaSelector",
    "GroupAccumulator",
    "PoolSampler",
    "Selector",
    "SelectorConfigError",
    "build_selector",
]
