"""The paper-regime miniature's parts: one warm start for every pool, the train-pool evaluation, the static KV
cache, and a thread count that leaves busy cores alone."""

from __future__ import annotations

import pytest

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.tasks.countdown import problem_key
from insight_cli.train import run as run_module
from insight_cli.train import threads, warmstart
from insight_cli.train.checkpoints import latest_checkpoint


def keys(problems) -> set:
    return {problem_key(p["nums"], p["target"]) for p in problems}


def test_pool_and_held_out_avoid_the_warm_start_corpus(tiny_overrides):
    """The tiny model's pool and held-out sets never contain a problem it was warm-started on, whatever their size,
    and the warm start's recipe (so its weights) does not depend on the pool."""
    small = compose([*tiny_overrides, "task.train_size=100"])
    large = compose([*tiny_overrides, "task.train_size=400", "task.four_number_share=0.25"])
    assert warmstart.recipe(small.model) == warmstart.recipe(large.model)
    corpus = keys(warmstart.corpus(small.model))
    assert len(corpus) == int(small.model.warmstart.num_problems)
    for cfg in (small, large):
        _, pool, benchmarks = run_module.load_problems(cfg)
        assert len(pool) == int(cfg.task.train_size)
        assert not keys(pool) & corpus
        for problems in benchmarks.values():
            assert not keys(problems) & corpus and not keys(problems) & keys(pool)


def test_hub_models_take_the_pool_as_generated(tiny_overrides):
    """Only the locally warm-started model reserves its corpus: a hub model trains on the plain generated pool."""
    from insight_cli.tasks import countdown

    cfg = compose([*tiny_overrides, "model.hf_id=some/model"])
    _, pool, _ = run_module.load_problems(cfg)
    plain = countdown.load_train(cfg.task, None)
    assert [p["prompt"] for p in pool] == [p["prompt"] for p in plain]


def test_train_pool_evaluation_is_recorded_beside_the_held_out_one(tmp_path, tiny_overrides):
    cfg = compose(
        [*tiny_overrides, "trainer.steps=2", "trainer.eval.pool_problems=12", f"paths.results_dir={tmp_path}"]
    )
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    run_module.run_training(cfg, run_dir)
    evals = run_dir.read("eval.jsonl")
    pool = [e for e in evals if e["benchmark"] == run_module.POOL_BENCHMARK]
    held_out = [e for e in evals if e["benchmark"] != run_module.POOL_BENCHMARK]
    assert [e["step"] for e in pool] == [e["step"] for e in held_out] == [0, 2]
    assert all(e["n_problems"] == 12 and 0.0 <= e["pass@1"] <= 1.0 for e in pool)


def test_static_and_dynamic_kv_caches_draw_the_same_samples(tiny_overrides):
    from insight_cli.train.evaluate import sample_completions
    from insight_cli.train.model import load_model

    cfg = compose(tiny_overrides)
    _, pool, _ = run_module.load_problems(cfg)
    model, tokenizer, _ = load_model(cfg.model, cfg.paths.cache_dir, progress=False)
    prompts = [p["prompt"] for p in pool[:24]]  # 3- and 4-number prompts: left padding of different widths
    dynamic = sample_completions(model, tokenizer, prompts, 4, 1.0, 40, 32, seed=5, cache="dynamic")
    static = sample_completions(model, tokenizer, prompts, 4, 1.0, 40, 32, seed=5, cache="static")
    assert static == dynamic
    assert len({c for group in static for c in group}) > 1  # sampled, not one fixed string


@pytest.mark.parametrize(("idle", "expected"), [(2.0, 2), (1.1, 1), (0.3, 1), (float("nan"), None)])
def test_threads_follow_the_idle_cores(monkeypatch, idle, expected):
    """Beside a busy process the run takes only the idle cores (spinning threads on shared cores cost 8x); the user's
    OMP_NUM_THREADS and Slurm's grant win over the measurement."""
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    chosen: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", chosen.append)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    threads.limit_cpu_threads()
    assert chosen == ([] if expected is None else [expected])
    chosen.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    threads.limit_cpu_threads()
    assert chosen == []
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    threads.limit_cpu_threads()
    assert chosen == [1]


def test_a_save_that_fails_half_way_leaves_the_previous_checkpoint_newest(tmp_path, tiny_overrides, monkeypatch):
    """Seen in the campaign: TRL's model card raised inside the checkpoint save after the selection state had been
    written, and the half-written folder then counted as the newest resumable checkpoint."""
    from trl import GRPOTrainer

    original = GRPOTrainer._save_checkpoint

    def fail_at_step_2(self, model, trial):
        if self.state.global_step == 2:
            raise RuntimeError("disk full")
        return original(self, model, trial)

    monkeypatch.setattr(GRPOTrainer, "_save_checkpoint", fail_at_step_2)
    cfg = compose([*tiny_overrides, "trainer.steps=3", "trainer.save_every=1", f"paths.results_dir={tmp_path}"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    with pytest.raises(RuntimeError, match="disk full"):
        run_module.run_training(cfg, run_dir)
    assert latest_checkpoint(run_dir.checkpoints).name == "checkpoint-1"
    monkeypatch.setattr(GRPOTrainer, "_save_checkpoint", original)
    assert run_module.run_training(cfg, run_dir) == {"state": "done", "step": 3}  # resumes from step 1
