"""Every selector behind the protocol: configs, hand-made pools with known answers, determinism, resume, errors."""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from insight_cli.config import ConfigError, compose, conf_dir
from insight_cli.selectors import SELECTORS, BetaSelector, GroupAccumulator, PoolSampler, build_selector
from insight_cli.selectors.base import (
    SelectorConfigError,
    filters_groups,
    refreshes,
    rng_from_array,
    rng_state_array,
    top_m,
    top_m_positions,
)
from insight_cli.selectors.dynamic_sampling import DynamicSamplingSelector
from insight_cli.train.selection import PromptSelection

K = 8
NAMES = sorted(SELECTORS)
BETA_NAMES = [n for n in NAMES if issubclass(SELECTORS[n], BetaSelector)]


@functools.cache
def selector_cfg(name: str) -> dict:
    """The selector's config exactly as `insight train --selector <name>` composes it."""
    return OmegaConf.to_container(compose([f"selector={name}"]).selector)


def make(name: str, num_prompts: int, seed: int = 0, **overrides):
    return build_selector(num_prompts, {**selector_cfg(name), **overrides}, seed=seed)


def outcomes(step: int, ids: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Binary successes out of K for each prompt, a function of (step, ids) only (same in a resumed run)."""
    rng = np.random.default_rng([7, step])
    return rng.binomial(K, rates)[ids]


def run(selector, pool: PoolSampler, steps: range, rates: np.ndarray, m: int) -> list[np.ndarray]:
    """The trainer's loop: draw the pool, select, roll out (simulated), filter (if the hook exists), update."""
    chosen = []
    for t in steps:
        ids = selector.select(pool.draw(m), m)
        succ = outcomes(t, ids, rates)
        trials = np.full(len(ids), K)
        if filters_groups(selector):
            keep = selector.filter_groups(ids, succ, trials)
            assert keep.dtype == bool and keep.shape == ids.shape
        selector.update(ids, succ, trials)
        chosen.append(ids)
    return chosen


# ---------------------------------------------------------------- registry, configs, docstrings
def test_every_selector_has_a_config_and_every_config_a_selector():
    assert set(NAMES) == {p.stem for p in (conf_dir() / "selector").glob("*.yaml")}
    assert set(NAMES) >= {
        "random", "mopps", "expected_difficulty", "inverse_evidence", "wmi", "wmi_mi_only", "wmi_weight_only",
        "wmi_sampled", "dynamic_sampling", "dps", "cropi",
    }  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_config_fields_are_commented_and_named_after_the_paper(name):
    text = (conf_dir() / "selector" / f"{name}.yaml").read_text()
    lines = text.splitlines()
    keys = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\w+):", line)
        if match:
            keys.append(match.group(1))
            assert lines[i - 1].startswith("# "), f"{name}.yaml: field '{match.group(1)}' has no comment above it"
    cfg = selector_cfg(name)
    assert cfg["name"] == name and set(keys) == set(cfg)
    symbols = {"mu": "μ", "eta": "η", "lam": "λ", "gamma": "γ*", "K": "K:"}
    for key, symbol in symbols.items():
        if key in cfg:
            comment = lines[lines.index(next(x for x in lines if x.startswith(f"{key}:"))) - 1]
            assert symbol in comment, f"{name}.yaml: the comment of '{key}' should name {symbol}"
    if name in BETA_NAMES:
        assert cfg["prior"] == "uniform" and "lam" in cfg
        assert "warmstart" in lines[lines.index("prior: uniform") - 1]
    if "K" in cfg:
        assert "K: ${trainer.num_generations}" in text
        assert cfg["K"] == compose([f"selector={name}"]).trainer.num_generations


@pytest.mark.parametrize("name", NAMES)
def test_module_docstring_states_rule_source_and_defaults(name):
    module = importlib.import_module(SELECTORS[name].__module__)
    doc = module.__doc__ or ""
    assert "Defaults" in doc
    assert re.search(r"arXiv \d{4}\.\d{5}|InSight", doc), f"{name}: cite the paper and equation"


def test_paper_citations():
    assert "2507.04632" in importlib.import_module("insight_cli.selectors.mopps").__doc__
    assert "2603.10887" in importlib.import_module("insight_cli.selectors.dps").__doc__
    assert "2503.14476" in importlib.import_module("insight_cli.selectors.dynamic_sampling").__doc__


# ---------------------------------------------------------------- bad configs: one-line errors
@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["selector=wmi", "selector.mu=1.5"], "selector.mu"),
        (["selector=wmi", "mu=-0.1"], "selector.mu"),
        (["selector=wmi_weight_only", "eta=-1"], "selector.eta"),
        (["selector=wmi", "lam=0"], "selector.lam"),
        (["selector=expected_difficulty", "lam=1.5"], "selector.lam"),
        (["selector=dps", "lam=0"], "selector.lam"),
        (["selector=mopps", "gamma=1.2"], "selector.gamma"),
        (["selector=mopps", "selector.prior=oracle"], "selector.prior"),
        (["selector=dynamic_sampling", "selector.max_gen_batches=0"], "max_gen_batches"),
        (["selector=dps", "selector.state_dtype=float16"], "state_dtype"),
        (["pool=0.5"], "pool.factor"),
        (["selector=nope"], "unknown selector 'nope'"),
        (["selector=random", "mu=0.3"], "does not apply"),
    ],
)
def test_bad_configs_give_one_line_errors(overrides, needle):
    with pytest.raises(ConfigError) as info:
        compose(overrides)
    message = str(info.value)
    assert "\n" not in message and needle in message, message


def test_errors_outside_the_cli_are_one_line_too():
    with pytest.raises(SelectorConfigError, match=r"^unknown selector 'cropi2': choose one of .*wmi") as info:
        build_selector(10, {"name": "cropi2"}, seed=0)
    assert "\n" not in str(info.value)
    with pytest.raises(SelectorConfigError, match="pool.factor=0.5 must be ≥ 1"):
        PoolSampler(10, 0.5, seed=0)
    with pytest.raises(SelectorConfigError, match="needs selector.K"):
        build_selector(10, {"name": "wmi", "mu": 0.3, "eta": 3.0}, seed=0)


# ---------------------------------------------------------------- pool sampling and ranking
def test_pool_sampler_draws_distinct_uniform_candidates():
    pool = PoolSampler(100, 4, seed=0)
    draws = np.stack([pool.draw(5) for _ in range(2000)])
    assert draws.shape == (2000, 20) and draws.dtype == np.int64
    assert all(len(set(row)) == 20 for row in draws[:50])
    counts = np.bincount(draws.ravel(), minlength=100)
    assert counts.min() > 300 and counts.max() < 500  # expected 400 each
    assert len(PoolSampler(10, 16, seed=0).draw(4)) == 10  # capped at the dataset
    big = PoolSampler(10**7, 16, seed=0).draw(256)
    assert len(np.unique(big)) == 4096 and big.max() < 10**7


def test_top_m_orders_best_first_and_breaks_ties_by_position():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9, 0.5])
    assert top_m_positions(scores, 3, largest=True).tolist() == [1, 4, 0]
    assert top_m_positions(scores, 4, largest=False).tolist() == [3, 0, 2, 5]
    assert top_m(scores, np.arange(10, 16), 10, largest=True).tolist() == [11, 14, 10, 12, 15, 13]
    assert top_m_positions(np.array([np.nan, 1.0, 2.0]), 2, largest=True).tolist() == [2, 1]


def test_rng_state_round_trip():
    rng = np.random.default_rng(3)
    rng.random(5)
    copy = rng_from_array(rng_state_array(rng))
    assert np.array_equal(copy.random(10), rng.random(10))


# ---------------------------------------------------------------- hand-made pools with known answers
def beta_selector(name: str, alpha, beta, seed: int = 0, **overrides):
    sel = make(name, len(alpha), seed=seed, **overrides)
    sel.alpha, sel.beta = np.asarray(alpha, float), np.asarray(beta, float)
    return sel


def test_inverse_evidence_picks_the_least_seen():
    sel = beta_selector("inverse_evidence", [5.0, 1.0, 3.0, 40.0], [5.0, 2.0, 1.0, 2.0])
    assert sel.select(np.array([0, 1, 2, 3]), 2).tolist() == [1, 2]
    np.testing.assert_allclose(sel.last_scores, [3.0, 4.0])


def test_expected_difficulty_picks_the_mean_nearest_one_half():
    sel = beta_selector("expected_difficulty", [9.0, 5.0, 1.0, 30.0], [1.0, 6.0, 9.0, 20.0])
    # φ̄ = 0.9, 0.4545, 0.1, 0.6
    assert sel.select(np.array([0, 1, 2, 3]), 2).tolist() == [1, 3]


def test_mopps_thompson_choice_with_a_fixed_seed():
    # Concentrated beliefs: the draw is within 0.01 of the mean, so the 0.5 prompt wins every time.
    sel = beta_selector("mopps", [1e4, 5e3, 9e3], [9e3, 5e3, 1e3], seed=11)
    for _ in range(20):
        assert sel.select(np.array([0, 1, 2]), 1).tolist() == [1]
    # A vague belief is chosen sometimes (exploration), a confident far-off one never.
    sel = beta_selector("mopps", [1.0, 1e4, 1e4], [1.0, 1e4, 9e4], seed=11)
    picks = np.array([sel.select(np.array([0, 1, 2]), 1)[0] for _ in range(400)])
    assert 0 < (picks == 0).sum() < 200 and (picks == 2).sum() == 0
    # The score is a fresh Beta draw: reproduce it from the seed.
    sel = beta_selector("mopps", [2.0, 3.0], [5.0, 1.0], seed=4)
    draws = np.random.default_rng(4).beta([2.0, 3.0], [5.0, 1.0])
    np.testing.assert_allclose(sel.scores(np.array([0, 1])), (draws - 0.5) ** 2)


def test_mopps_update_matches_the_rule_by_hand():
    sel = beta_selector("mopps", [1.0, 4.0, 2.0], [1.0, 2.0, 6.0], lam=0.5)
    sel.update(np.array([1, 2]), np.array([3, 0]), np.array([8, 8]))
    # α ← 0.5·α + 0.5·1 + S,  β ← 0.5·β + 0.5·1 + (K − S); prompt 0 untouched.
    assert sel.alpha.tolist() == [1.0, 0.5 * 4 + 0.5 + 3, 0.5 * 2 + 0.5 + 0]
    assert sel.beta.tolist() == [1.0, 0.5 * 2 + 0.5 + 5, 0.5 * 6 + 0.5 + 8]
    sel.update(np.array([1]), np.array([8]), np.array([8]))
    assert sel.alpha[1] == 0.5 * 5.5 + 0.5 + 8 and sel.beta[1] == 0.5 * 6.5 + 0.5


def test_warmstart_prior_counts():
    sel = make("wmi", 3, prior="warmstart")
    sel.init_from_counts(np.array([0, 2, 4]), np.array([4, 4, 4]))
    assert sel.alpha.tolist() == [1.0, 7.0, 13.0] and sel.beta.tolist() == [13.0, 7.0, 1.0]
    with pytest.raises(ValueError):
        sel.init_from_counts(np.array([5, 0, 0]), np.array([4, 4, 4]))


def test_random_picks_a_uniform_subset_of_the_candidates():
    sel = make("random", 50)
    counts = np.zeros(50)
    candidates = np.arange(10, 30)
    for _ in range(2000):
        chosen = sel.select(candidates, 5)
        assert len(set(chosen.tolist())) == 5 and set(chosen.tolist()) <= set(candidates.tolist())
        counts[chosen] += 1
    assert counts[:10].sum() == 0 and counts[30:].sum() == 0
    assert counts[10:30].min() > 400 and counts[10:30].max() < 600  # expected 500


@pytest.mark.parametrize("name", BETA_NAMES)
def test_beta_updates_touch_only_the_selected_prompts(name):
    sel = make(name, 1000)
    before_a, before_b = sel.alpha.copy(), sel.beta.copy()
    sel.update(np.array([4, 9]), np.array([2, 8]), np.array([8, 8]))
    changed = np.flatnonzero((sel.alpha != before_a) | (sel.beta != before_b))
    assert changed.tolist() == [4, 9]


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("random", "dynamic_sampling")])
def test_last_scores_are_aligned_with_the_choice(name):
    sel = make(name, 200)
    rates = np.random.default_rng(0).uniform(size=200)
    run(sel, PoolSampler(200, 4, seed=1), range(5), rates, 10)
    chosen = sel.select(np.arange(200), 10)
    assert len(sel.last_scores) == len(chosen) == 10
    if name not in ("mopps", "wmi_sampled"):  # the others are deterministic given the state
        np.testing.assert_allclose(sel.last_scores, sel.scores(chosen))


# ---------------------------------------------------------------- determinism and resume
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_choices(name):
    rates = np.random.default_rng(1).uniform(size=500)
    a = run(make(name, 500, seed=3), PoolSampler(500, 4, seed=3), range(12), rates, 16)
    b = run(make(name, 500, seed=3), PoolSampler(500, 4, seed=3), range(12), rates, 16)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(len(np.unique(x)) == 16 for x in a)


@pytest.mark.parametrize("name", ["random", "mopps", "wmi_sampled", "dynamic_sampling"])
def test_selector_rng_drives_the_stochastic_choice(name):
    rates = np.random.default_rng(1).uniform(size=500)
    a = run(make(name, 500, seed=3), PoolSampler(500, 4, seed=3), range(12), rates, 16)
    b = run(make(name, 500, seed=4), PoolSampler(500, 4, seed=3), range(12), rates, 16)
    assert any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_continue_equals_never_stopping(name, tmp_path: Path):
    n, m = 400, 16
    rates = np.random.default_rng(2).uniform(size=n)
    straight = run(make(name, n, seed=5), PoolSampler(n, 4, seed=5), range(30), rates, m)

    first, pool = make(name, n, seed=5), PoolSampler(n, 4, seed=5)
    head = run(first, pool, range(15), rates, m)
    np.savez(tmp_path / "ckpt.npz", **{f"s.{k}": v for k, v in first.state_dict().items()},
             **{f"p.{k}": v for k, v in pool.state_dict().items()})  # fmt: skip
    del first, pool
    saved = np.load(tmp_path / "ckpt.npz")
    resumed, pool = make(name, n, seed=999), PoolSampler(n, 4, seed=999)  # other seeds: state must come from disk
    resumed.load_state_dict({k[2:]: saved[k] for k in saved.files if k.startswith("s.")})
    pool.load_state_dict({k[2:]: saved[k] for k in saved.files if k.startswith("p.")})
    tail = run(resumed, pool, range(15, 30), rates, m)
    assert all(np.array_equal(x, y) for x, y in zip(straight, head + tail, strict=True))


def test_state_from_another_dataset_is_rejected():
    state = make("wmi", 10).state_dict()
    with pytest.raises(ValueError, match="different dataset"):
        make("wmi", 11).load_state_dict(state)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_holds_only_flat_arrays_and_scalars(name):
    state = make(name, 100).state_dict()
    assert "rng" in state
    for key, value in state.items():
        assert isinstance(value, np.ndarray | int | float), key
        if isinstance(value, np.ndarray) and key != "rng":
            assert value.shape[0] == 100, key


# ---------------------------------------------------------------- Dynamic Sampling
def test_filter_groups_keeps_mixed_outcomes_only():
    sel = make("dynamic_sampling", 10)
    keep = sel.filter_groups(np.array([1, 2, 3, 4]), np.array([0, 3, 8, 1]), np.array([8, 8, 8, 8]))
    assert keep.tolist() == [False, True, False, True]
    assert isinstance(sel, DynamicSamplingSelector) and sel.max_gen_batches == 10


def test_each_hook_has_one_name_that_the_trainer_finds_it_by():
    """DESIGN §2: Dynamic Sampling's after-rollout hook is ``filter_groups``, CROPI's policy hook ``refresh``; the
    trainer detects them through filters_groups / refreshes and builds its per-step group filter from the first."""
    for name in NAMES:
        selector = make(name, 50)
        assert filters_groups(selector) == (name == "dynamic_sampling"), name
        assert refreshes(selector) == (name == "cropi"), name
    pool = PoolSampler(50, 1, seed=0)
    assert PromptSelection(make("random", 50), pool, 4, K).group_filter(4) is None
    group_filter = PromptSelection(make("dynamic_sampling", 50, max_gen_batches=3), pool, 4, K).group_filter(4)
    assert (group_filter.target, group_filter.cap) == (4, 3)
    assert group_filter.add(np.arange(4), np.array([0, 2, 8, 1]), np.full(4, 8)).tolist() == [False, True, False, True]


def test_group_accumulator_generates_until_m_groups_are_kept():
    sel = make("dynamic_sampling", 100)
    acc = GroupAccumulator(target_groups=4, max_gen_batches=sel.max_gen_batches, keep=sel.filter_groups)
    trials = np.full(4, 8)
    acc.add(np.array([0, 1, 2, 3]), np.array([0, 4, 8, 2]), trials)  # 2 kept
    assert not acc.done
    acc.add(np.array([4, 5, 6, 7]), np.array([8, 8, 8, 0]), trials)  # 0 kept
    assert not acc.done
    acc.add(np.array([8, 9, 10, 11]), np.array([1, 1, 8, 7]), trials)  # 3 kept: 5 ≥ 4
    assert acc.done and acc.batches == 3
    assert acc.rollouts == 3 * 4 * 8  # every generated completion counts, kept or not
    assert acc.kept_indices.tolist() == [1, 3, 8, 9, 11]
    assert acc.final_indices().tolist() == [1, 3, 8, 9]
    assert acc.final_prompt_ids().tolist() == [1, 3, 8, 9]
    with pytest.raises(RuntimeError):
        acc.add(np.array([12]), np.array([1]), np.array([8]))


def test_group_accumulator_stops_at_the_cap_and_fills_with_the_last_kept():
    acc = GroupAccumulator(target_groups=4, max_gen_batches=3)
    trials = np.full(4, 8)
    acc.add(np.array([0, 1, 2, 3]), np.array([0, 0, 5, 0]), trials)
    acc.add(np.array([4, 5, 6, 7]), np.array([8, 3, 8, 8]), trials)
    acc.add(np.array([8, 9, 10, 11]), np.array([0, 0, 0, 0]), trials)
    assert acc.done and acc.batches == 3 and acc.rollouts == 96
    assert acc.final_prompt_ids().tolist() == [2, 5, 5, 5]


def test_group_accumulator_with_nothing_kept_trains_on_the_last_batch():
    acc = GroupAccumulator(target_groups=3, max_gen_batches=2)
    acc.add(np.array([0, 1, 2]), np.array([0, 0, 0]), np.full(3, 8))
    acc.add(np.array([3, 4, 5]), np.array([8, 8, 0]), np.full(3, 8))
    assert acc.done and acc.rollouts == 48
    assert acc.final_prompt_ids().tolist() == [3, 4, 5]


def test_dynamic_sampling_loop_rollout_count_and_cap():
    """The trainer's loop with the selector and a simulated policy: the cap binds on hard prompts."""
    n, m = 1000, 8
    sel, pool = make("dynamic_sampling", n, max_gen_batches=4), PoolSampler(n, 1, seed=0)
    for rate, expect_cap in [(0.5, False), (0.002, True)]:
        acc = PromptSelection(sel, pool, m, K).group_filter(m)  # as the trainer builds it each step
        rng = np.random.default_rng(0)
        while not acc.done:
            ids = sel.select(pool.draw(m), m)
            acc.add(ids, rng.binomial(K, rate, size=m), np.full(m, K))
        assert acc.rollouts == acc.batches * m * K
        assert (acc.batches == 4) == expect_cap
        assert len(acc.final_indices()) == m


def test_paper_map_covers_every_selector_and_alias():
    from insight_cli.config import ALIASES

    text = (Path(__file__).resolve().parent.parent / "docs" / "paper-map.md").read_text()
    for name in NAMES:
        assert f"`{name}`" in text, f"docs/paper-map.md does not map selector {name}"
    for alias, key in ALIASES.items():
        assert f"`{alias}`" in text and f"`{key}`" in text, f"docs/paper-map.md does not list alias {alias}"
