"""InsightGRPOTrainer with real TRL on the tiny CPU model: the example, the loop order, binarised rewards, resume."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from insight_cli.selectors import SelectorConfigError, build_selector

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "trl_grpo_selector.py"


def load_example():
    spec = importlib.util.spec_from_file_location("trl_grpo_selector", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load_example()


class CoinReward:
    """1.0 (solved) when the completion's first character has an even code, else 0.3 (shaped partial credit): mixed
    outcomes from an untrained model, and a shaped reward the threshold must not count as solved. Records its calls."""

    __name__ = "coin"

    def __init__(self):
        self.calls: list[tuple[list[int], list[float]]] = []

    def __call__(self, completions, problem_id, **kwargs):
        rewards = [1.0 if c and ord(c[0]) % 2 == 0 else 0.3 for c in completions]
        self.calls.append(([int(i) for i in problem_id], rewards))
        return rewards


def make_trainer(example, output_dir: Path, steps: int, reward=None, **selection):
    from insight_cli.integrations.trl import InsightGRPOTrainer

    model, tokenizer = example.tiny_model_and_tokenizer(seed=0)
    return InsightGRPOTrainer(
        model=model,
        reward_funcs=[reward or CoinReward()],
        args=example.grpo_config(str(output_dir), steps=steps, save_steps=2, seed=0),
        train_dataset=example.make_dataset(64, seed=0),
        processing_class=tokenizer,
        **{"selector": "wmi", "accuracy_threshold": 1.0, **selection},
    )


def record_choices(trainer) -> list[np.ndarray]:
    """Every id array the trainer's selection returns, in order."""
    chosen: list[np.ndarray] = []
    original = trainer.selection.choose

    def choose(m=None):
        ids = original(m)
        chosen.append(ids.copy())
        return ids

    trainer.selection.choose = choose
    return chosen


# ---------------------------------------------------------------------------------------------- the example script
def test_example_script_trains_the_tiny_model_and_resumes(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    first = subprocess.run(
        [sys.executable, str(EXAMPLE), "--output-dir", str(out), "--steps", "2", "--save-steps", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "trained to step 2: 2 batches chosen by 'wmi', 32 rollouts fed back" in first.stdout
    second = subprocess.run(
        [sys.executable, str(EXAMPLE), "--output-dir", str(out), "--steps", "4", "--save-steps", "2", "--resume"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    # the resumed run restored the selection state: its counters go on from checkpoint-2's
    assert "trained to step 4: 4 batches chosen by 'wmi', 64 rollouts fed back" in second.stdout
    state = np.load(out / "checkpoint-4" / "selection.npz")
    assert int(state["rollouts"]) == 4 * 4 * 4 and int(state["choices"]) == 4
    # WMI with λ = 1: every chosen prompt's belief holds exactly its K outcomes per choice
    evidence = state["selector.alpha"] + state["selector.beta"] - 2.0
    assert evidence.sum() == 4 * 4 * 4 and set(np.unique(evidence)) <= {0.0, 4.0, 8.0, 12.0, 16.0}
    history = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    assert [h["selection/rollouts"] for h in history if "selection/rollouts" in h] == [16, 32, 48, 64]


# ---------------------------------------------------------------------------------------------- in process
def test_choice_k_follows_k_observations_and_thresholded_rewards_are_fed_back(example, tmp_path):
    reward = CoinReward()
    trainer = make_trainer(example, tmp_path / "run", steps=3, reward=reward)
    initial = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()

    selection = trainer.selection
    # select → roll out → update → select: choice k is made after exactly k batches were scored
    assert selection.history == [(0, 0), (1, 1), (2, 2)]
    # the selector's beliefs hold exactly the binarised rewards (the 0.3 partial credit never counts as solved)
    successes = np.zeros(64)
    trials = np.zeros(64)
    for ids, rewards in reward.calls:
        np.add.at(successes, ids, np.asarray(rewards) >= 1.0)
        np.add.at(trials, ids, 1.0)
    assert trials.sum() == 3 * 4 * 4 and 0 < successes.sum() < trials.sum()
    np.testing.assert_array_equal(selection.selector.alpha - 1.0, successes)
    np.testing.assert_array_equal(selection.selector.beta - 1.0, trials - successes)
    # and GRPO trained the model
    assert any(not torch.equal(initial[name], p) for name, p in trainer.model.named_parameters())


def test_resume_from_a_trl_checkpoint_continues_the_same_choices(example, tmp_path):
    straight = make_trainer(example, tmp_path / "straight", steps=4)
    straight_choices = record_choices(straight)
    straight.train()
    assert len(straight_choices) == 4

    # a run stopped after step 2: only checkpoint-2 exists; resume=True finds it
    shutil.copytree(tmp_path / "straight" / "checkpoint-2", tmp_path / "resumed" / "checkpoint-2")
    resumed = make_trainer(example, tmp_path / "resumed", steps=4)
    resumed_choices = record_choices(resumed)
    resumed.train(resume_from_checkpoint=True)

    assert resumed.selection.history == [(2, 2), (3, 3)]
    for got, expected in zip(resumed_choices, straight_choices[2:], strict=True):
        np.testing.assert_array_equal(got, expected)
    final = np.load(tmp_path / "resumed" / "checkpoint-4" / "selection.npz")
    expected = np.load(tmp_path / "straight" / "checkpoint-4" / "selection.npz")
    for key in ("selector.alpha", "selector.beta", "selector.rng", "pool.rng", "seen", "rollouts", "choices"):
        np.testing.assert_array_equal(final[key], expected[key], err_msg=key)


def test_same_seed_same_choices_as_insight_selector_fed_the_same_outcomes(example, tmp_path):
    """The trainer's choices are those of insight's own selector and pool, seeded as `insight train` seeds them."""
    reward = CoinReward()
    trainer = make_trainer(example, tmp_path / "run", steps=2, reward=reward, selector={"name": "mopps", "lam": 0.5})
    chosen = record_choices(trainer)
    trainer.train()

    from insight_cli.selectors import PoolSampler

    seeds = np.random.SeedSequence(0).generate_state(2)
    selector = build_selector(64, {"name": "mopps", "gamma": 0.5, "lam": 0.5}, seed=int(seeds[0]))
    pool = PoolSampler(64, 16.0, seed=int(seeds[1]))
    for ids, (row_ids, rewards) in zip(chosen, reward.calls, strict=True):
        np.testing.assert_array_equal(selector.select(pool.draw(4), 4), ids)
        solved = np.asarray(rewards).reshape(4, 4) >= 1.0
        assert np.array_equal(np.asarray(row_ids).reshape(4, 4)[:, 0], ids)
        selector.update(ids, solved.sum(axis=1), np.full(4, 4.0))


def test_bad_selector_arguments_are_one_line_errors(example, tmp_path):
    with pytest.raises(SelectorConfigError, match="unknown selector 'wmii'"):
        make_trainer(example, tmp_path, steps=1, selector="wmii")
    with pytest.raises(SelectorConfigError, match="built for 10 prompts but the dataset has 64"):
        make_trainer(example, tmp_path, steps=1, selector=build_selector(10, {"name": "random"}, seed=0))
    with pytest.raises(ValueError, match="accuracy_reward='nope' is no reward function"):
        make_trainer(example, tmp_path, steps=1, accuracy_reward="nope")


def test_a_damaged_selection_file_is_a_warning_not_a_crash(example, tmp_path):
    trainer = make_trainer(example, tmp_path / "run", steps=1)
    folder = tmp_path / "checkpoint-1"
    folder.mkdir()
    (folder / "selection.npz").write_bytes(b"not a zip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trainer.load_selection(folder) is False
    assert any("selection.npz is unreadable" in str(w.message) for w in caught)


def test_selectors_and_the_verl_sampler_import_without_torch_or_trl():
    """DESIGN §1/§8: the selectors stay free of both trainers; the integrations import them, never the reverse."""
    code = (
        "import sys, insight_cli.selectors, insight_cli.integrations.verl, insight_cli.integrations.spec; "
        "print(sorted(m for m in ('torch', 'trl', 'verl', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
