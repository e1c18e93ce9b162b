"""Every selector drives a real GRPO run of the CPU miniature (slow: pytest -m slow tests/test_selectors_train.py)."""

from __future__ import annotations

import numpy as np
import pytest

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.selectors import SELECTORS
from insight_cli.train import run as run_module


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_grpo_miniature_completes_with_every_selector(name, tmp_path, tiny_overrides):
    cfg = compose([*tiny_overrides, "trainer.steps=2", f"selector={name}", f"paths.results_dir={tmp_path}"])
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest"])
    assert run_module.run_training(cfg, run_dir) == {"state": "done", "step": 2}
    metrics = run_dir.read("metrics.jsonl")
    m, k = cfg.trainer.prompts_per_step, cfg.trainer.num_generations
    rollouts = [record["rollouts"] for record in metrics]
    if name == "dynamic_sampling":  # extra generation batches are charged: at least M·K per step, at most the cap
        cap = cfg.selector.max_gen_batches
        assert all(step * m * k <= r <= step * cap * m * k for step, r in enumerate(rollouts, start=1))
    elif name == "cropi":  # its offline rollouts (training pool and validation sets) are charged at the first step
        s, pool = cfg.selector, cfg.task.train_size
        offline = s.train_rollouts * pool + s.valid_rollouts * 2 * s.valid_size
        assert rollouts == [offline + m * k, offline + 2 * m * k]
    else:
        assert rollouts == [m * k, 2 * m * k]
    chosen = [np.asarray(s["prompt_ids"]) for s in run_dir.read("selection.jsonl")]
    assert all(len(np.unique(ids)) == len(ids) for ids in chosen)
