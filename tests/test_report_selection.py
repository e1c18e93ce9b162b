"""`insight report --plot selection` on runs whose batches were chosen by the real selectors.

The runs are written the way the trainer's recorder writes them (RunDir, PromptSelection's per-step statistics,
selection.jsonl with beliefs and outcomes), but the rollouts are Binomial draws from each prompt's fixed success rate
instead of a policy's, so a run takes milliseconds. One run is in the format written before selection.jsonl had
beliefs and outcomes (and before metrics.jsonl had the mixed share): the figure draws what it has and warns once.
"""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from typer.testing import CliRunner

from insight_cli.cli.app import app
from insight_cli.config import compose
from insight_cli.report import make_report
from insight_cli.report.collect import collect
from insight_cli.report.plots import read_selection_run
from insight_cli.runs import RunDir
from insight_cli.selectors import PoolSampler, build_selector
from insight_cli.train.selection import PromptSelection

POOL, M, K, STEPS = 64, 8, 4, 30
TRUE_RATES = np.random.default_rng(123).beta(0.6, 0.6, POOL)  # many near-never and near-always solved prompts


@pytest.fixture(autouse=True)
def report_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def simulate(root, selector: str, seed: int, old_format: bool = False) -> RunDir:
    """One run through RunDir: the real selector picks M of the whole pool each step, outcomes are Binomial(K, p)."""
    cfg = compose([f"selector={selector}", f"seed={seed}", "sweep=sim", f"task.train_size={POOL}"])
    run = RunDir.for_config(cfg, root, "sim")
    run.write_config(cfg)
    selection = PromptSelection(
        build_selector(POOL, OmegaConf.to_container(cfg.selector), seed=seed), PoolSampler(POOL, POOL / M, seed), M, K
    )
    outcomes = np.random.default_rng(1000 + seed)
    for step in range(1, STEPS + 1):
        chosen = selection.choose()
        successes = outcomes.binomial(K, TRUE_RATES[chosen])
        accuracies = np.concatenate([[1.0] * s + [0.0] * (K - s) for s in successes])
        selection.observe(chosen, accuracies)
        stats = selection.pop_step_stats()
        record = {"step": step, "prompt_ids": chosen, "scores": selection.last_scores, "pool_size": POOL}
        if old_format:
            stats.pop("frac_mixed_groups")
        else:
            if selection.last_beliefs is not None:
                record["beliefs"] = selection.last_beliefs
            record.update(successes=selection.last_successes, trials=K)
        run.append("selection.jsonl", record)
        run.append("metrics.jsonl", {"step": step, **stats})
    run.set_status("done", STEPS)
    return run


@pytest.fixture(scope="module")
def sim_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    runs = {(name, seed): simulate(root, name, seed) for name in ("random", "wmi") for seed in (0, 1)}
    runs[("wmi", 2)] = simulate(root, "wmi", 2, old_format=True)
    return root, runs


def test_one_run_is_read_into_what_the_figure_draws(sim_runs):
    _, runs = sim_runs
    run = runs[("wmi", 0)]
    data, lacks = read_selection_run(0, str(run.path))
    assert lacks == []
    selections = run.read("selection.jsonl")
    ids = np.concatenate([r["prompt_ids"] for r in selections])
    # coverage = distinct prompts chosen so far / pool, step by step
    expected = [len(set(np.concatenate([r["prompt_ids"] for r in selections[: i + 1]]))) / POOL for i in range(STEPS)]
    np.testing.assert_allclose(data.coverage, expected)
    # per prompt: times chosen and measured success over the run
    np.testing.assert_array_equal(data.times_chosen, np.bincount(ids, minlength=POOL))
    first = int(ids[0])
    wins = sum(s for r in selections for p, s in zip(r["prompt_ids"], r["successes"], strict=True) if p == first)
    assert data.successes[first] == wins and data.trials[first] == K * data.times_chosen[first]
    # belief quantiles per step; step 1's beliefs are all the Beta(1, 1) prior's mean
    np.testing.assert_allclose(data.belief_quantiles[0], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(data.belief_quantiles[-1], np.percentile(selections[-1]["beliefs"], [10, 50, 90]))


def test_old_runs_fall_back_and_name_what_they_lack(sim_runs):
    _, runs = sim_runs
    old = runs[("wmi", 2)]
    data, lacks = read_selection_run(0, str(old.path))
    assert lacks == ["beliefs", "outcomes"]
    zero_std = np.array([r["frac_zero_std_groups"] for r in old.read("metrics.jsonl")])
    np.testing.assert_allclose(data.mixed, 1.0 - zero_std)  # no frac_mixed_groups: one minus the zero-variance share
    assert data.times_chosen is None
    _, random_lacks = read_selection_run(0, str(runs[("random", 0)].path))
    assert random_lacks == ["belief", "beliefs"]  # Random keeps no belief, but its outcomes are there


def test_selection_figure_is_drawn_and_warns_once_per_missing_part(sim_runs, tmp_path):
    root, runs = sim_runs
    report = make_report(root, table="none", plot="selection", out=tmp_path, stdout=open("/dev/null", "w"))
    assert sorted(p.name for p in report.files) == ["selection.pdf", "selection.png"]
    assert (tmp_path / "selection.png").stat().st_size > 20_000
    figure_warnings = [w for w in report.warnings if w.startswith("selection figure")]
    old_name = f"sim/{runs[('wmi', 2)].path.name}"
    assert len(figure_warnings) == 2 and all(old_name in w and "1 of 5 runs" in w for w in figure_warnings)
    assert not any("chosen_belief_mean" in w for w in figure_warnings)  # Random has no belief by design: no warning


def test_selectors_differ_where_the_figure_says(sim_runs):
    """The figure's quantities separate the selectors as they should: WMI's batches hold more mixed-outcome groups
    and its chosen prompts cluster at intermediate measured success; Random spreads its choices evenly."""
    root, _ = sim_runs
    coll = collect(root, filters=["state=done"])
    per_selector: dict[str, list] = {}
    for row in coll.runs.itertuples():
        per_selector.setdefault(row.selector, []).append(read_selection_run(row.run, row.path)[0])
    mixed = {s: np.nanmean([d.mixed[5:].mean() for d in runs]) for s, runs in per_selector.items()}
    assert mixed["wmi"] > mixed["random"]
    random_counts = np.concatenate([d.times_chosen for d in per_selector["random"]])
    wmi_counts = np.concatenate([d.times_chosen for d in per_selector["wmi"] if d.times_chosen is not None])
    assert wmi_counts.std() > random_counts.std()  # WMI returns to the prompts it finds informative


def test_cli_plot_selection_and_all(sim_runs, tmp_path):
    root, _ = sim_runs
    result = CliRunner().invoke(
        app, ["report", "--results-dir", str(root), "--table", "none", "--plot", "selection", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "warning: selection figure" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["selection.pdf", "selection.png"]


def test_runs_without_per_prompt_records_get_the_top_row_only(sim_runs, tmp_path):
    """Only the old-format run: no beliefs or outcomes anywhere, so the figure is the top row alone (half height)."""
    import matplotlib.image

    root, _ = sim_runs
    both = make_report(root, table="none", plot="selection", out=tmp_path / "all", stdout=open("/dev/null", "w"))
    old = make_report(
        root, filters=["seed=2"], table="none", plot="selection", out=tmp_path / "old", stdout=open("/dev/null", "w")
    )
    assert len(old.collection.runs) == 1
    full_height = matplotlib.image.imread(tmp_path / "all" / "selection.png").shape[0]
    top_row_height = matplotlib.image.imread(tmp_path / "old" / "selection.png").shape[0]
    assert top_row_height < 0.7 * full_height
    assert len([w for w in old.warnings if w.startswith("selection figure")]) == 2
    assert len(both.files) == 2
