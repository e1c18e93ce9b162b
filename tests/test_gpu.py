"""The tiny model trained on CUDA in bf16 through the real run_training (skipped cleanly without a CUDA device).

python -m pytest -m gpu tests/test_gpu.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from insight_cli.config import compose
from insight_cli.launch.executor import prepare_run_dir
from insight_cli.train import run as run_module
from insight_cli.train.checkpoints import latest_checkpoint
from insight_cli.train.grpo import SelectorGRPOTrainer


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="no CUDA device: the gpu tier runs on a GPU machine"),
]


def test_tiny_model_trains_on_cuda_in_bf16(tmp_path, tiny_overrides, monkeypatch):
    seen: list[tuple[str, str, bool]] = []
    original = SelectorGRPOTrainer._calculate_rewards

    def recording(self, *args, **kwargs):
        param = next(self.model.parameters())
        seen.append((param.device.type, str(param.dtype), bool(self.args.bf16)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SelectorGRPOTrainer, "_calculate_rewards", recording)
    cfg = compose(
        [*tiny_overrides, "model.dtype=bfloat16", "trainer.steps=3", "selector=wmi", f"paths.results_dir={tmp_path}"]
    )
    run_dir = prepare_run_dir(cfg, overrides=[], command=["pytest", "gpu"])
    assert run_module.run_training(cfg, run_dir) == {"state": "done", "step": 3}

    # every training batch was generated and scored by the bf16 model on the GPU
    assert seen and all(item == ("cuda", "torch.bfloat16", True) for item in seen), seen
    metrics = run_dir.read("metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["grad_norm"] > 0 for m in metrics)

    # the weights moved away from the warm start
    checkpoint = latest_checkpoint(run_dir.checkpoints)
    trained = load_file(str(checkpoint / "model.safetensors"))
    initial = load_file(str(tiny_model_folder(cfg) / "model.safetensors"))
    changed = [name for name in initial if not initial[name].to(trained[name].dtype).equal(trained[name])]
    assert changed, "no parameter changed after 3 GRPO steps"


def tiny_model_folder(cfg) -> Path:
    """The cached warm-started tiny model this config trains from."""
    from insight_cli.train.warmstart import recipe, recipe_key

    spec = recipe(cfg.model)
    return Path(cfg.paths.cache_dir) / "tiny-models" / recipe_key(spec)
