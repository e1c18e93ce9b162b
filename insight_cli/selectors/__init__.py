"""Online prompt selectors behind one protocol (DESIGN.md §2). ``SELECTORS`` maps config names to classes.

This package depends only on NumPy/SciPy so it can be used alone inside TRL or verl.
"""

from insight_cli.selectors.base import BetaSelector, PoolSampler, Selector, SelectorConfigError
from insight_cli.selectors.random import RandomSelector
from insight_cli.selectors.wmi import WMISelector

SELECTORS: dict[str, type[Selector]] = {
    "random": RandomSelector,
    "wmi": WMISelector,
}


def build_selector(num_prompts: int, cfg, seed: int) -> Selector:
    """Instantiate ``SELECTORS[cfg.name]``; an unknown name is a one-line error listing the known ones."""
    name = cfg["name"]
    if name not in SELECTORS:
        raise SelectorConfigError(f"unknown selector '{name}': choose one of {', '.join(sorted(SELECTORS))}")
    return SELECTORS[name](num_prompts, cfg, seed)


__all__ = ["SELECTORS", "BetaSelector", "PoolSampler", "Selector", "SelectorConfigError", "build_selector"]
