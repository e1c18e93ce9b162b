"""CROPI (issue 18): the sparse random projection against its Johnson–Lindenstrauss bound, the off-policy per-prompt
gradient against a plain backward(), scoring and rank fusion by hand, stages, state, and a real miniature run with
two refreshes that resumes bit-identically after a stop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.selectors import build_selector
from insight_cli.selectors import cropi as cropi_module
from insight_cli.selectors.cropi import (
    PROJECTION_BLOCK_ROWS,
    SparseProjection,
    coordinate_subset,
    cosine_scores,
    fused_subset,
    jl_cosine_bound,
    jl_epsilon,
)
from insight_cli.train import run as run_module
from insight_cli.train.checkpoints import SELECTION_FILE, latest_checkpoint
from insight_cli.train.influence import (
    CoordinateGather,
    Rollouts,
    advantages,
    informative,
    mean_projected_gradient,
    projected_gradients,
    prompt_loss,
    token_logps,
    trainable,
)
from insight_cli.train.selection import PromptSelection
from insight_cli.train.stopping import request_stop


def make(num_prompts: int, seed: int = 0, **over):
    cfg = {"name": "cropi", "rho": 0.1, "stage_steps": 2, "sparse_dim": 512, "proj_dim": 256, **over}
    return build_selector(num_prompts, cfg, seed)


# ---------------------------------------------------------------------------------------------- the projection
def correlated_vectors(n: int, d: int, seed: int) -> np.ndarray:
    """n vectors whose pairwise cosines spread over (−1, 1): shared directions mixed with private noise."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((3, d))
    return rng.standard_normal((n, 3)) @ shared + rng.uniform(0.2, 2.0, (n, 1)) * rng.standard_normal((n, d))


def pairwise_cosines(x: np.ndarray) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (unit @ unit.T)[np.triu_indices(len(x), 1)]


@pytest.mark.parametrize("k", [1024, 4096])
def test_projection_preserves_cosines_within_the_jl_bound(k):
    n, d, delta = 30, 20_000, 1e-3
    x = correlated_vectors(n, d, seed=k)
    projection = SparseProjection(d, d, k, seed=7)  # every coordinate kept: the Gaussian stage alone
    before, after = pairwise_cosines(x), pairwise_cosines(projection(x.astype(np.float32)).astype(np.float64))
    assert before.min() < -0.3 and before.max() > 0.3  # the test covers a spread of cosines, not just ~0
    bound = jl_cosine_bound(k, n, delta)
    assert np.isfinite(bound) and np.abs(after - before).max() <= bound
    # inner products of unit vectors move by at most ε under the same event
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    gram_before, gram_after = unit @ unit.T, (lambda p: p @ p.T)(projection(unit.astype(np.float32)).astype(float))
    assert np.abs(gram_after - gram_before).max() <= jl_epsilon(k, n + n * (n - 1), delta)
    # and the bound is not vacuous: errors are of the order 1/√k, a few times below it
    assert np.abs(after - before).max() < bound / 2


def test_jl_bound_shrinks_with_the_dimension_and_grows_with_the_count():
    assert jl_cosine_bound(4096, 30, 1e-3) < jl_cosine_bound(1024, 30, 1e-3) < jl_cosine_bound(1024, 300, 1e-3)
    assert jl_cosine_bound(16, 1000, 1e-3) == float("inf")  # too few dimensions: the bound says nothing
    eps = jl_epsilon(1024, 100, 0.01)
    assert 100 * 2 * np.exp(-1024 * (eps**2 / 2 - eps**3 / 3) / 2) == pytest.approx(0.01, rel=1e-6)


def test_same_seed_same_projection_and_blocks_equal_the_cached_matrix(monkeypatch):
    d = 3 * PROJECTION_BLOCK_ROWS + 500
    x = np.random.default_rng(0).standard_normal((4, d)).astype(np.float32)
    cached = SparseProjection(d, d - 300, 64, seed=5)
    assert cached._matrix is not None
    np.testing.assert_array_equal(cached(x), SparseProjection(d, d - 300, 64, seed=5)(x))
    assert not np.allclose(cached(x), SparseProjection(d, d - 300, 64, seed=6)(x))
    monkeypatch.setattr(cropi_module, "PROJECTION_CACHE_BYTES", 0)
    streamed = SparseProjection(d, d - 300, 64, seed=5)
    assert streamed._matrix is None  # regenerated block by block, never held whole
    np.testing.assert_allclose(streamed(x), cached(x), rtol=1e-4, atol=1e-3)  # float32 sums in another order
    np.testing.assert_allclose(streamed.project_gathered(x[0, streamed.coords]), streamed(x)[0], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("total", "count"), [(1000, 900), (10**7, 5000)])
def test_coordinate_subset_is_distinct_sorted_and_seeded(total, count):
    a = coordinate_subset(total, count, seed=3)
    assert len(a) == count and np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < total
    np.testing.assert_array_equal(a, coordinate_subset(total, count, seed=3))
    assert not np.array_equal(a, coordinate_subset(total, count, seed=4))
    np.testing.assert_array_equal(coordinate_subset(10, 50, seed=0), np.arange(10))


# ---------------------------------------------------------------------------------------------- a tiny policy
def tiny_policy(seed: int = 0):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=64,
                         tie_word_embeddings=True)  # fmt: skip
    return Qwen3ForCausalLM(config).eval()


def synthetic_rollouts(model, prompts: int, g: int, seed: int, equal_rows=(), behaviour_noise: float = 0.0):
    """Random prompt/completion tokens and 0/1 rewards (mixed in every row but ``equal_rows``), with π_β's
    log-probs from ``model`` (optionally perturbed, so the importance ratio is not 1)."""
    rng = np.random.default_rng(seed)
    lc = 6
    rewards = rng.integers(0, 2, (prompts, g)).astype(np.float32)
    rewards[:, 0], rewards[:, 1] = 0.0, 1.0
    for row in equal_rows:
        rewards[row] = 1.0
    r = Rollouts(
        prompt_ids=rng.integers(3, 16, (prompts, 5)),
        prompt_len=rng.integers(2, 6, prompts),
        completion_ids=rng.integers(3, 16, (prompts, g, lc)),
        completion_len=rng.integers(1, lc + 1, (prompts, g)),
        rewards=rewards,
        behaviour_logp=np.zeros((prompts, g, lc), dtype=np.float32),
    )
    with torch.no_grad():
        for i in range(prompts):
            logp = token_logps(model, r, i).numpy()
            mask = np.arange(lc)[None, :] < r.completion_len[i][:, None]
            r.behaviour_logp[i] = (logp + behaviour_noise * rng.standard_normal(logp.shape)) * mask
    return r


def plain_loss(model, r: Rollouts, i: int) -> torch.Tensor:
    """The CROPI loss written out sequence by sequence, unpadded, with a NumPy advantage."""
    rewards = r.rewards[i].astype(np.float64)
    adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
    prompt = torch.as_tensor(r.prompt_ids[i, : r.prompt_len[i]])
    terms = []
    for j in range(r.rewards.shape[1]):
        n = int(r.completion_len[i, j])
        completion = torch.as_tensor(r.completion_ids[i, j, :n])
        logits = model(input_ids=torch.cat([prompt, completion])[None]).logits[0]
        logp = torch.log_softmax(logits[len(prompt) - 1 : len(prompt) - 1 + n], -1)[torch.arange(n), completion]
        ratio = torch.exp(logp - torch.as_tensor(r.behaviour_logp[i, j, :n]))
        terms.append(ratio.sum() / n * float(adv[j]))
    return -torch.stack(terms).mean()


# ---------------------------------------------------------------------------------------------- the gradient
def test_per_prompt_gradient_matches_a_plain_backward():
    model = tiny_policy()
    r = synthetic_rollouts(model, prompts=3, g=5, seed=1, behaviour_noise=0.3)
    params = trainable(model)
    total = sum(p.numel() for p in params)
    coords = coordinate_subset(total, total // 3, seed=2)
    gather = CoordinateGather(params, coords)
    for i in range(3):
        ours = gather(prompt_loss(model, r, i))
        model.zero_grad()
        plain_loss(model, r, i).backward()
        flat = torch.cat([p.grad.reshape(-1) for p in params]).numpy()
        assert np.abs(flat).max() > 1e-4  # a real, non-zero gradient
        np.testing.assert_allclose(ours, flat[coords], rtol=1e-4, atol=1e-6)
    # the trainer's own .grad buffers are left as they were: gather uses autograd.grad, not backward
    before = [p.grad.clone() for p in params]
    gather(prompt_loss(model, r, 0))
    assert all(torch.equal(a, p.grad) for a, p in zip(before, params, strict=True))


def test_prompt_with_all_equal_rewards_gets_no_score_and_is_never_selected():
    model = tiny_policy()
    r = synthetic_rollouts(model, prompts=12, g=4, seed=3, equal_rows=(2, 7))
    np.testing.assert_array_equal(advantages(r.rewards[2]), 0.0)
    grads = torch.autograd.grad(prompt_loss(model, r, 2), trainable(model), allow_unused=True)
    assert all(g is None or not g.any() for g in grads)  # A = 0: a zero gradient
    selector = make(12, rho=1.0, sparse_dim=2000, proj_dim=64)  # ρ = 1: every scored prompt fits in the subset
    projection = selector.projection(sum(p.numel() for p in trainable(model)))
    ids, projected = projected_gradients(model, r, projection, batch_prompts=5)
    assert 2 not in ids and 7 not in ids and len(ids) == 10
    selector.refresh(ids, projected, {"a": mean_projected_gradient(model, r, projection)})
    assert np.isnan(selector.last_refresh_scores[[2, 7]]).all()
    assert np.isfinite(np.delete(selector.last_refresh_scores, [2, 7], axis=0)).all()
    assert not selector.subset[[2, 7]].any() and selector.subset.sum() == 10
    chosen = selector.select(np.arange(12), 10)
    assert set(chosen.tolist()) == set(range(12)) - {2, 7}


def test_batched_projection_equals_one_prompt_at_a_time():
    model = tiny_policy()
    r = synthetic_rollouts(model, prompts=7, g=4, seed=4, behaviour_noise=0.2)
    projection = make(7, sparse_dim=3000, proj_dim=128).projection(sum(p.numel() for p in trainable(model)))
    ids_a, a = projected_gradients(model, r, projection, batch_prompts=3)
    ids_b, b = projected_gradients(model, r, projection, batch_prompts=1)
    np.testing.assert_array_equal(ids_a, ids_b)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # a set's mean gradient is the mean of its prompts' projected gradients (the projection is linear)
    np.testing.assert_allclose(mean_projected_gradient(model, r, projection), a.mean(axis=0), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------- scoring and fusion
def test_fused_ranking_on_a_hand_made_three_set_example():
    nan = np.nan
    #                  set A  set B  set C
    scores = np.array([[0.9, 0.1, 0.0],  # p0: A's 1st
                       [0.8, 0.7, 0.1],  # p1: A's 2nd, B's 1st
                       [0.1, 0.2, 0.3],  # p2: in no top 2
                       [0.0, 0.6, 0.9],  # p3: B's 2nd, C's 1st
                       [-0.5, 0.0, 0.8],  # p4: C's 2nd
                       [nan, nan, nan]])  # p5: all-equal rewards, never ranked  # fmt: skip
    chosen, fused = fused_subset(scores, 2)
    np.testing.assert_allclose(fused, [1.0, 1 / 2 + 1, 0.0, 1 / 2 + 1, 1 / 2, 0.0])
    assert chosen.tolist() == [1, 3]  # fused 1.5 each (tie kept in prompt order), then p0 (1.0) is cut
    chosen, fused = fused_subset(scores, 3)  # top 3 per set: A p0 p1 p2, B p1 p3 p2, C p3 p4 p2
    np.testing.assert_allclose(fused, [1, 1 / 2 + 1, 1 / 3 * 3, 1 / 2 + 1, 1 / 2, 0])
    assert chosen.tolist() == [1, 3, 0]


def test_cosine_scores_by_hand_and_zero_rows_are_nan():
    train = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    valid = np.array([[2.0, 0.0], [0.0, -3.0]])
    expected = [[1.0, 0.0], [np.sqrt(0.5), -np.sqrt(0.5)], [np.nan, np.nan]]
    np.testing.assert_allclose(cosine_scores(train, valid), expected)


def test_refresh_builds_the_subset_from_cosines_per_validation_set():
    # 10 prompts, ρ = 0.2 → 2 per stage. Set "x" prefers prompts along e0, set "y" along e1.
    selector = make(10, rho=0.2)
    angles = np.linspace(0, np.pi / 2, 10)  # prompt i at angle angles[i]: 0 is most like x, 9 most like y
    projected = np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.arange(1, 11)[:, None]
    chosen = selector.refresh(np.arange(10), projected, {"x": np.array([1.0, 0.0]), "y": np.array([0.0, 5.0])})
    # per set top 2: x → 0 (1st), 1 (2nd); y → 9 (1st), 8 (2nd); fused: 0 and 9 at 1, 1 and 8 at 1/2
    assert chosen.tolist() == [0, 9] and selector.stage == 1
    np.testing.assert_allclose(selector.fused[[0, 1, 8, 9]], [1, 0.5, 0.5, 1])


def test_refresh_is_due_at_the_start_of_every_stage():
    selector = make(50, stage_steps=3)
    due = []
    for step in range(10):
        if selector.refresh_due(step):
            due.append(step)
            selector.refresh(np.arange(5), np.eye(5, 4), {"v": np.ones(4)})
    assert due == [0, 3, 6, 9] and selector.stage == 4


def test_steps_draw_from_the_subset_and_fill_only_when_it_is_short():
    selector = make(100, rho=0.1, seed=1)
    selector.subset[:] = False
    selector.subset[[3, 14, 15, 92, 65, 35, 89, 79, 32, 38]] = True
    selector.fused[selector.subset] = 1.0
    candidates = np.random.default_rng(0).permutation(100)
    chosen = selector.select(candidates, 4)
    assert set(chosen) <= set(np.flatnonzero(selector.subset)) and len(set(chosen)) == 4
    # a small candidate pool: the rest of the subset is drawn with the selector's RNG
    chosen = selector.select(np.array([3, 50, 51, 52]), 4)
    assert chosen[0] == 3 and set(chosen) <= set(np.flatnonzero(selector.subset))
    # more than the subset: every subset prompt, then other candidates
    chosen = selector.select(candidates, 12)
    assert len(set(chosen)) == 12 and set(np.flatnonzero(selector.subset)) <= set(chosen)


# ---------------------------------------------------------------------------------------------- stages and state
def test_subset_changes_between_stages_when_the_policy_changes():
    model = tiny_policy(seed=0)
    pool = synthetic_rollouts(model, prompts=40, g=4, seed=5)
    valid = {"a": synthetic_rollouts(model, prompts=6, g=8, seed=6), "b": synthetic_rollouts(model, 6, 8, seed=7)}
    selector = make(40, rho=0.25, sparse_dim=4000, proj_dim=256)
    projection = selector.projection(sum(p.numel() for p in trainable(model)))

    def refresh():
        ids, projected = projected_gradients(model, pool, projection, batch_prompts=16)
        means = {k: mean_projected_gradient(model, v, projection) for k, v in valid.items()}
        return selector.refresh(ids, projected, means)

    first = refresh()
    assert refresh().tolist() == first.tolist()  # the same policy: the same subset (deterministic)
    with torch.no_grad():  # a policy update: every weight moves
        generator = torch.Generator().manual_seed(1)
        for p in trainable(model):
            p.add_(0.5 * p.abs().mean() * torch.randn(p.shape, generator=generator))
    second = refresh()
    assert selector.stage == 3 and len(first) == len(second) == 10
    assert set(second.tolist()) != set(first.tolist())


def test_state_round_trip_resumes_bit_identically():
    selector = make(60, rho=0.2, seed=4)
    rng = np.random.default_rng(0)
    selector.refresh(np.arange(0, 60, 2), rng.standard_normal((30, 8)), {"a": rng.standard_normal(8)})
    selector.select(np.arange(3), 5)  # advances the RNG (fills from the subset)
    state = {k: np.asarray(v) for k, v in selector.state_dict().items()}
    resumed = make(60, rho=0.2, seed=99)  # another seed: everything must come from the state
    resumed.load_state_dict(state)
    assert resumed.stage == 1 and resumed.projection_seed == selector.projection_seed
    for key, value in resumed.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), state[key], err_msg=key)
    for _ in range(4):
        np.testing.assert_array_equal(selector.select(np.arange(5), 5), resumed.select(np.arange(5), 5))
    np.testing.assert_array_equal(selector.projection(5000).coords, resumed.projection(5000).coords)
    with pytest.raises(ValueError, match="different dataset"):
        make(61).load_state_dict(state)


# ---------------------------------------------------------------------------------------------- the miniature
def cropi_overrides(tiny_overrides, results) -> list[str]:
    """A 4-step CROPI run with 2-step stages (2 refreshes), a 96-prompt pool (ρ = 0.25: 24 per stage) and small
    validation sets, so that it takes about a minute beside the session's warm start."""
    return [*tiny_overrides, "selector=cropi", "trainer.steps=4", "trainer.save_every=10", "selector.stage_steps=2",
            "task.train_size=96", "selector.rho=0.25", "selector.valid_size=8", "selector.valid_rollouts=8",
            f"paths.results_dir={results}"]  # fmt: skip


@pytest.fixture(scope="module")
def straight_run(tiny_overrides, tmp_path_factory):
    cfg = compose(cropi_overrides(tiny_overrides, tmp_path_factory.mktemp("cropi-straight")))
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    return cfg, run_dir, run_module.run_training(cfg, run_dir)


def test_insight_train_cropi_runs_the_miniature_with_two_refreshes(straight_run):
    cfg, run_dir, result = straight_run
    assert result == {"state": "done", "step": 4}
    state = np.load(latest_checkpoint(run_dir.checkpoints) / SELECTION_FILE)
    assert int(state["selector.stage"]) == 2  # refreshed before steps 0 and 2
    subset = state["selector.subset"]
    # ⌊ρ|D|⌋ prompts, or every informative one if fewer; a prompt whose offline rewards are all equal is never in it
    caches = [np.load(path) for path in (Path(cfg.paths.cache_dir) / "cropi").glob("*.npz")]
    rewards = next(c["train.rewards"] for c in caches if len(c["train.rewards"]) == cfg.task.train_size)
    scored = informative(rewards)
    assert 0 < subset.sum() == min(int(cfg.selector.rho * cfg.task.train_size), scored.sum())
    assert not subset[~scored].any()
    chosen = [np.asarray(s["prompt_ids"]) for s in run_dir.read("selection.jsonl")]
    assert all(len(np.unique(ids)) == cfg.trainer.prompts_per_step for ids in chosen)
    assert all(subset[ids].all() for ids in chosen[2:])  # stage 2's steps train on stage 2's subset
    # the offline rollouts are charged once, at the first step; the refreshes are selector seconds
    metrics = run_dir.read("metrics.jsonl")
    m, k, s = cfg.trainer.prompts_per_step, cfg.trainer.num_generations, cfg.selector
    offline = s.train_rollouts * cfg.task.train_size + s.valid_rollouts * 2 * s.valid_size
    assert [r["rollouts"] for r in metrics] == [offline + step * m * k for step in range(1, 5)]
    seconds = [r["selector_s"] for r in metrics]
    assert min(seconds[0], seconds[2]) > 10 * max(seconds[1], seconds[3])


def test_cropi_run_stopped_mid_stage_resumes_bit_identically(straight_run, tiny_overrides, tmp_path, monkeypatch):
    cfg = compose(cropi_overrides(tiny_overrides, tmp_path))
    _, straight, _ = straight_run
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    original = PromptSelection.observe

    def observe_then_preempt(self, ids, accuracies):
        out = original(self, ids, accuracies)
        if self.observations == 1:
            request_stop()  # as the job's signal handler does on SIGUSR2
        return out

    monkeypatch.setattr(PromptSelection, "observe", observe_then_preempt)
    assert run_module.run_training(cfg, run_dir) == {"state": "preempted", "step": 1}
    monkeypatch.setattr(PromptSelection, "observe", original)
    assert run_module.run_training(cfg, run_dir) == {"state": "done", "step": 4}  # the second refresh after resume
    assert [s["prompt_ids"] for s in run_dir.read("selection.jsonl")] == [
        s["prompt_ids"] for s in straight.read("selection.jsonl")
    ]
    ours = np.load(latest_checkpoint(run_dir.checkpoints) / SELECTION_FILE)
    theirs = np.load(latest_checkpoint(straight.checkpoints) / SELECTION_FILE)
    for key in theirs.files:
        if key != "wall_s":
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert json.loads((run_dir.path / "status.json").read_text())["state"] == "done"
