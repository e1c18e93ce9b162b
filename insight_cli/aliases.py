"""The paper's symbols as config keys: the one table that train, sweep and report read (DESIGN §3).

``mu=0.3`` on any command means ``selector.mu=0.3``; plan tables and ``insight status`` show ``selector.mu`` as
``mu``; report row labels show it as ``μ``. A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Alias:
    """One paper symbol: what users type, the config key it means, how the report prints it."""

    name: str  # typed on the command line and in sweep specs: mu=0.3
    key: str  # the dotted config key: selector.mu
    symbol: str  # in report row labels: wmi (μ=0.3)


# The paper's symbols, accepted wherever a config key is (train, sweep axes, report filters); in this order in
# report labels.
TABLE: tuple[Alias, ...] = (
    Alias("mu", "selector.mu", "μ"),  # μ: centre of WMI's difficulty weight
    Alias("eta", "selector.eta", "η"),  # η: sharpness of the weight
    Alias("lam", "selector.lam", "λ"),  # λ: belief discount per update
    Alias("gamma", "selector.gamma", "γ"),  # γ*: MoPPS target success rate
    Alias("pool", "pool.factor", "pool"),  # M̂/M: candidate pool size over prompts per step
    Alias("K", "trainer.num_generations", "K"),  # rollouts per prompt
    Alias("M", "trainer.prompts_per_step", "M"),  # prompts per step
)

ALIASES: dict[str, str] = {a.name: a.key for a in TABLE}  # mu → selector.mu
SYMBOLS: dict[str, str] = {a.key: a.symbol for a in TABLE}  # selector.mu → μ
_SHORT_NAMES: dict[str, str] = {a.key: a.name for a in TABLE}  # selector.mu → mu


def short_name(key: str) -> str:
    """The short name a user types for a key (``selector.mu`` → ``mu``; other keys unchanged), for plan tables."""
    return _SHORT_NAMES.get(key, key)
