"""A real GRPO run of the tiny CPU model with a real selector: the loop order, the outcomes fed back, the run dir."""

from __future__ import annotations

import json
import logging
import os
import signal

import numpy as np
import pytest
from omegaconf import OmegaConf

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.train import run as run_module
from insight_cli.train.checkpoints import SELECTION_FILE, latest_checkpoint
from insight_cli.train.prior import apply_prior
from insight_cli.train.selection import PromptSelection

CONTRACT_FILES = ("config.yaml", "meta.json", "status.json", "metrics.jsonl", "eval.jsonl", "selection.jsonl")


@pytest.fixture
def recorded_choices(monkeypatch):
    """Record, at every choice, how many scored batches the selection had already observed."""
    calls: list[tuple[int, int]] = []
    original = PromptSelection.choose

    def choose(self, m=None):
        calls.append((self.choices, self.observations))
        return original(self, m)

    monkeypatch.setattr(PromptSelection, "choose", choose)
    return calls


def test_two_step_grpo_run_feeds_every_outcome_back(tmp_path, tiny_overrides, recorded_choices):
    cfg = compose([*tiny_overrides, "trainer.steps=2", "selector=wmi", f"paths.results_dir={tmp_path}"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    result = run_module.run_training(cfg, run_dir)
    assert result == {"state": "done", "step": 2}

    # select → roll out → update → select: choice k is made after exactly k batches were scored.
    assert recorded_choices == [(0, 0), (1, 1)]

    # Every file of the run-directory contract is there and well formed.
    for name in CONTRACT_FILES:
        assert (run_dir.path / name).exists(), name
    assert json.loads((run_dir.path / "status.json").read_text())["state"] == "done"
    metrics = run_dir.read("metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]
    m, k = cfg.trainer.prompts_per_step, cfg.trainer.num_generations
    assert [m_["rollouts"] for m_ in metrics] == [m * k, 2 * m * k]
    for record in metrics:
        for key in ("wall_s", "reward_mean", "frac_zero_std_groups", "selector_s", "step_s"):
            assert key in record and record[key] is not None, key
    evals = run_dir.read("eval.jsonl")
    assert [e["step"] for e in evals] == [0, 2] and all(0 <= e["pass@1"] <= 1 for e in evals)
    selections = run_dir.read("selection.jsonl")
    assert [len(s["prompt_ids"]) for s in selections] == [m, m]

    # The selector saw every generated group's outcome: with λ = 1, each chosen prompt's Beta belief grew by
    # exactly K per time it was chosen, and nothing else changed.
    checkpoint = latest_checkpoint(run_dir.checkpoints)
    assert checkpoint is not None and checkpoint.name == "checkpoint-2"
    state = np.load(checkpoint / SELECTION_FILE)
    times_chosen = np.bincount(
        np.concatenate([s["prompt_ids"] for s in selections]), minlength=len(state["selector.alpha"])
    )
    evidence = state["selector.alpha"] + state["selector.beta"] - 2.0
    np.testing.assert_array_equal(evidence, k * times_chosen)
    assert OmegaConf.load(run_dir.path / "config.yaml").selector.name == "wmi"


def test_sigusr2_then_resume_matches_uninterrupted_run(tmp_path, tiny_overrides, monkeypatch):
    """A real SIGUSR2, caught by the job's own handler, mid-run: the run saves and returns 'preempted'; a second
    call resumes and ends bit-identical to an uninterrupted run: selection state, choices and model weights."""
    from safetensors.numpy import load_file

    from insight_cli.launch.executor import make_job

    base = [*tiny_overrides, "trainer.steps=3", "trainer.save_every=10", "launcher=inprocess"]
    straight_cfg = compose([*base, f"paths.results_dir={tmp_path}/straight"])
    straight = prepare_run_dir(straight_cfg, overrides=[], command=["pytest"])
    run_module.run_training(straight_cfg, straight)
    straight_checkpoint = latest_checkpoint(straight.checkpoints)
    expected = np.load(straight_checkpoint / SELECTION_FILE)

    cfg = compose([*base, f"paths.results_dir={tmp_path}/interrupted"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    original = PromptSelection.observe

    def observe_then_signal(self, ids, accuracies):
        out = original(self, ids, accuracies)
        if self.observations == 1:
            os.kill(os.getpid(), signal.SIGUSR2)  # what Slurm sends signal_delay_s before the time limit
        return out

    monkeypatch.setattr(PromptSelection, "observe", observe_then_signal)
    assert make_job(cfg, run_dir)() == {"state": "preempted", "step": 1}  # the job installs its handlers
    assert json.loads((run_dir.path / "status.json").read_text())["state"] == "preempted"
    monkeypatch.setattr(PromptSelection, "observe", original)

    transformers_warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = transformers_warnings.append
    logging.getLogger("transformers").addHandler(handler)
    try:
        assert run_module.run_training(cfg, run_dir) == {"state": "done", "step": 3}
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    # the tied output weights are not in the checkpoint by design: resuming re-ties them instead of warning
    assert not [r.getMessage() for r in transformers_warnings if "missing keys" in r.getMessage()]
    assert [m["step"] for m in run_dir.read("metrics.jsonl")] == [1, 2, 3]
    resumed = np.load(latest_checkpoint(run_dir.checkpoints) / SELECTION_FILE)
    for key in ("selector.alpha", "selector.beta", "selector.rng", "pool.rng", "seen", "rollouts"):
        np.testing.assert_array_equal(resumed[key], expected[key], err_msg=key)
    straight_ids = [s["prompt_ids"] for s in straight.read("selection.jsonl")]
    assert [s["prompt_ids"] for s in run_dir.read("selection.jsonl")] == straight_ids
    weights = load_file(latest_checkpoint(run_dir.checkpoints) / "model.safetensors")
    straight_weights = load_file(straight_checkpoint / "model.safetensors")
    assert weights.keys() == straight_weights.keys()
    for name, value in straight_weights.items():
        np.testing.assert_array_equal(weights[name], value, err_msg=name)
    # the stop's checkpoint (kept: save_total_limit 2) differs from the end: the resumed steps trained the model
    first = load_file(run_dir.checkpoints / "checkpoint-1" / "model.safetensors")
    assert any(not np.array_equal(first[name], value) for name, value in weights.items()), "training moved nothing"


def test_selection_metrics_are_written_every_step(tmp_path, tiny_overrides):
    """metrics.jsonl carries, per step, the mixed-outcome share, the mean believed success of the chosen prompts and
    the number of distinct prompts seen so far, consistent with what selection.jsonl says was chosen."""
    cfg = compose([*tiny_overrides, "selector=wmi", "trainer.steps=3", f"paths.results_dir={tmp_path}"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    run_module.run_training(cfg, run_dir)
    metrics, chosen = run_dir.read("metrics.jsonl"), run_dir.read("selection.jsonl")
    assert [m["step"] for m in metrics] == [c["step"] for c in chosen] == [1, 2, 3]
    seen: set[int] = set()
    for record, choice in zip(metrics, chosen, strict=True):
        seen.update(choice["prompt_ids"])
        assert record["distinct_prompts_seen"] == len(seen)
        assert 0.0 <= record["frac_mixed_groups"] <= 1.0
        assert record["frac_mixed_groups"] + record["frac_zero_std_groups"] == pytest.approx(1.0)
        assert 0.0 < record["chosen_belief_mean"] < 1.0
    # step 1 chooses before any outcome is observed: every belief is still the Beta(1, 1) prior's mean
    assert metrics[0]["chosen_belief_mean"] == pytest.approx(0.5)


def test_evaluation_does_not_perturb_training(tmp_path, tiny_overrides):
    """Evaluating every step or only at the end gives the same training trajectory (eval has its own RNG)."""
    outcomes = []
    for every in (1, 10):
        cfg = compose(
            [
                *tiny_overrides,
                "trainer.steps=3",
                f"trainer.eval.every={every}",
                f"paths.results_dir={tmp_path}/every{every}",
            ]
        )
        run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
        run_module.run_training(cfg, run_dir)
        state = np.load(latest_checkpoint(run_dir.checkpoints) / SELECTION_FILE)
        chosen = [s["prompt_ids"] for s in run_dir.read("selection.jsonl")]
        losses = [m["loss"] for m in run_dir.read("metrics.jsonl")]
        outcomes.append((chosen, state["selector.alpha"], losses, len(run_dir.read("eval.jsonl"))))
    (chosen_1, alpha_1, loss_1, evals_1), (chosen_10, alpha_10, loss_10, evals_10) = outcomes
    assert evals_1 == 4 and evals_10 == 2  # steps 0,1,2,3 versus 0 and the last step
    assert chosen_1 == chosen_10 and loss_1 == loss_10
    np.testing.assert_array_equal(alpha_1, alpha_10)


def test_warmstart_prior_sets_beta_beliefs_from_scripted_rollouts():
    """prior: warmstart gives α = 3·successes + 1, β = 3·failures + 1 per prompt (MoPPS offline init)."""
    from insight_cli.selectors import build_selector

    cfg = compose(["selector=wmi", "selector.prior=warmstart"])
    selector = build_selector(4, cfg.selector, seed=0)
    successes, trials = np.array([0, 8, 3, 5]), np.full(4, 8)
    apply_prior(selector, cfg, (successes, trials))
    np.testing.assert_array_equal(selector.alpha, [1, 25, 10, 16])
    np.testing.assert_array_equal(selector.beta, [25, 1, 16, 10])


def test_warmstart_prior_counts_come_from_rollouts_of_the_pool(tmp_path, tiny_overrides):
    """A run with prior=warmstart rolls out K samples per pool prompt once (cached) and starts from those beliefs."""
    from pathlib import Path

    cfg = compose([*tiny_overrides, "selector.prior=warmstart", "trainer.steps=1", f"paths.results_dir={tmp_path}"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    run_module.run_training(cfg, run_dir)
    cached = sorted((Path(cfg.paths.cache_dir) / "priors").glob("*.npz"))
    assert len(cached) == 1
    counts = np.load(cached[0])
    k = cfg.trainer.num_generations
    assert counts["successes"].shape == (cfg.task.train_size,) and np.all(counts["trials"] == k)
    state = np.load(latest_checkpoint(run_dir.checkpoints) / SELECTION_FILE)
    chosen = np.array(run_dir.read("selection.jsonl")[0]["prompt_ids"])
    untouched = np.setdiff1d(np.arange(cfg.task.train_size), chosen)
    np.testing.assert_array_equal(state["selector.alpha"][untouched], 3 * counts["successes"][untouched] + 1)
    np.testing.assert_array_equal(state["selector.beta"][untouched], 3 * (k - counts["successes"][untouched]) + 1)


def test_dynamic_sampling_counts_every_generated_completion(tmp_path, tiny_overrides):
    """Extra generation batches are charged to `rollouts`, and the per-step cap is honoured."""
    cap = 3
    cfg = compose(
        [
            *tiny_overrides,
            "selector=dynamic_sampling",
            f"selector.max_gen_batches={cap}",
            "trainer.steps=2",
            f"paths.results_dir={tmp_path}",
        ]
    )
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    assert run_module.run_training(cfg, run_dir)["state"] == "done"
    metrics = run_dir.read("metrics.jsonl")
    m, k = cfg.trainer.prompts_per_step, cfg.trainer.num_generations
    batches = [r["generation_batches"] for r in metrics]
    assert all(1 <= b <= cap for b in batches)
    assert [r["rollouts"] for r in metrics] == list(np.cumsum(batches) * m * k)
    assert [r["generated_groups"] for r in metrics] == [b * m for b in batches]
