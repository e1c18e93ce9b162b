"""Helpers for the tests marked ``vllm``: each scenario runs in a fresh Python process inside the vLLM CPU environment.

Why a child process: vLLM's engine must be created under a ``__main__`` guard (its engine may spawn workers that
re-import the main module), it sets process-wide state (RANK/WORLD_SIZE, a torch.distributed group, its parallel
state) that a second engine in the same process would collide with, and a child keeps the pytest process clean.

    bash scripts/vllm-cpu-env.sh                                  # builds .venv-vllm/ once
    .venv-vllm/bin/python -m pytest -m vllm tests/test_vllm.py    # what CI runs
    .venv-vllm/bin/python tests/vllm_fixtures.py train IN.json OUT.json   # one scenario by hand

TEST-ONLY PATCH — never in the product: on some CPUs vLLM's CPU backend repacks every linear layer's weight at
load (``dispatch_cpu_unquantized_gemm``: oneDNN, sgl-kernel or zentorch handles built from the weight, then the weight
Parameter is replaced by an empty one without ``weight_loader``). TRL's colocate weight sync calls
``model.load_weights`` after every optimizer step, which then fails with ``'Parameter' object has no attribute
'weight_loader'``, and even where it did not fail the packed copies would keep serving the old weights. Which path
vLLM takes depends on the CPU (instruction set, vendor): where no packed kernel applies it falls back to
``F.linear`` on the plain weight and TRL's sync works unpatched.
:func:`patch_vllm_cpu_linear_for_weight_sync_TEST_ONLY` makes the CPU linear layers use their plain weight
(``F.linear``) on every CPU, so the synced weights are the ones used. On GPUs vLLM keeps plain weights and TRL's
sync works as shipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]

requires_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None,
    reason="vLLM is not installed in this interpreter: build it with `bash scripts/vllm-cpu-env.sh`, then run "
    "`.venv-vllm/bin/python -m pytest -m vllm tests/test_vllm.py`",
)


def vllm_env() -> dict[str, str]:
    """The child's environment: a 1 GiB KV cache (vLLM's CPU default is far larger), no hub access attempts."""
    env = dict(os.environ)
    env.update(
        VLLM_CPU_KVCACHE_SPACE="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def run_scenario(name: str, payload: dict, workdir: Path, timeout: float = 600) -> dict:
    """Run ``name`` in a child process with ``payload``; return what it wrote (its stderr tail on failure)."""
    workdir.mkdir(parents=True, exist_ok=True)
    inp, out = workdir / f"{name}.in.json", workdir / f"{name}.out.json"
    inp.write_text(json.dumps(payload))
    proc = subprocess.run(
        [sys.executable, str(HERE), name, str(inp), str(out)],
        cwd=REPO,
        env=vllm_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise AssertionError(f"vLLM scenario {name!r} exited {proc.returncode}:\n{tail}")
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------------------------- the test-only patch
def patch_vllm_cpu_linear_for_weight_sync_TEST_ONLY() -> None:  # noqa: N802 - the name shouts what it is
    """Make vLLM's CPU linear layers compute with their plain weight, so TRL's in-place weight sync reaches them.

    Must run before the engine loads the model. See the module docstring for why this exists and why only here."""
    import torch
    import vllm.model_executor.layers.utils as layer_utils

    def plain_weight_linear(layer: torch.nn.Module, remove_weight: bool) -> None:
        layer.cpu_linear = torch.nn.functional.linear  # keeps layer.weight (and its weight_loader) in use

    layer_utils.dispatch_cpu_unquantized_gemm = plain_weight_linear


# ---------------------------------------------------------------------------------------------- scenarios (child side)
def scenario_train(payload: dict) -> dict:
    """The real ``run_training`` with ``model.vllm.enabled=true``: TRL generates through colocated vLLM."""
    from insight_cli.config import compose
    from insight_cli.launch.executor import prepare_run_dir
    from insight_cli.train.run import run_training

    cfg = compose(payload["overrides"])
    run_dir = prepare_run_dir(cfg, overrides=payload["overrides"], command=["pytest", "vllm"])
    result = run_training(cfg, run_dir)
    return {**result, "run_dir": str(run_dir.path)}


def scenario_weight_change(payload: dict) -> dict:
    """vLLM's greedy completions and their log-probabilities, before and after a deliberate weight change pushed with
    TRL's own ``VLLMGeneration.sync_weights`` (the call GRPO makes after every optimizer step), next to the
    log-probabilities the original and the changed transformers model give the same tokens."""
    import copy

    import torch
    from accelerate import Accelerator
    from trl.generation.vllm_generation import VLLMGeneration

    from insight_cli.config import compose
    from insight_cli.train.model import load_model
    from insight_cli.train.run import load_problems

    cfg = compose(payload["overrides"])
    _, problems, benchmarks = load_problems(cfg)
    model, tokenizer, _ = load_model(cfg.model, cfg.paths.cache_dir)
    model.eval()
    original = copy.deepcopy(model)
    prompts = [tokenizer(p["prompt"])["input_ids"] for p in problems[: int(payload["num_prompts"])]]
    generation = VLLMGeneration(
        model=model,
        accelerator=Accelerator(cpu=True),
        processing_class=tokenizer,
        mode="colocate",
        gpu_memory_utilization=0.3,
        max_model_length=int(cfg.model.tiny.max_position_embeddings),
        max_num_seqs=len(prompts),
        temperature=0.0,  # greedy: the completion is a function of the weights alone
        max_completion_length=int(payload["max_new_tokens"]),
    )

    def vllm_greedy() -> tuple[list[list[int]], list[list[float]]]:
        _, completions, logprobs, _ = generation.generate(prompts, None, num_generations=1)
        return [list(c) for c in completions], [[float(t[0]) for t in row] for row in logprobs]

    def teacher_logprobs(policy, completions: list[list[int]]) -> list[list[float]]:
        """log p(token | prefix) of each completion token under ``policy`` (transformers, float32)."""
        out = []
        with torch.no_grad():
            for ids, completion in zip(prompts, completions, strict=True):
                logits = policy(torch.tensor([ids + completion])).logits[0, len(ids) - 1 : -1]
                picked = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(completion)[:, None])
                out.append(picked[:, 0].tolist())
        return out

    # Did vLLM's CPU backend replace the linear weights by packed copies (the weight Parameter emptied, its
    # weight_loader gone)? That depends on the CPU, and decides whether TRL's unpatched sync can work (see above).
    vllm_model = generation.llm.llm_engine.model_executor.driver_worker.model_runner.model
    vllm_linears = [m for m in vllm_model.modules() if hasattr(m, "cpu_linear")]
    weights_kept = bool(vllm_linears) and all(
        m.weight.numel() > 0 and hasattr(m.weight, "weight_loader") for m in vllm_linears
    )
    before_ids, before_lp = vllm_greedy()
    # The deliberate change: seeded noise on every linear weight (q/k/v, o, gate/up and down projections: the layers
    # vLLM's CPU backend repacks, and merges into qkv_proj / gate_up_proj).
    torch.manual_seed(int(payload["seed"]))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.weight is not model.get_output_embeddings().weight:
                module.weight.add_(torch.randn_like(module.weight) * module.weight.std() * float(payload["noise"]))
    probe = {"vllm_linears": len(vllm_linears), "vllm_weights_kept": weights_kept, "sync_error": None}
    try:
        generation.sync_weights()
    except Exception as error:  # noqa: BLE001 - the unpatched scenario reports the failure rather than dying of it
        if payload.get("patch", True):
            raise
        return {**probe, "sync_error": f"{type(error).__name__}: {error}"}
    after_ids, after_lp = vllm_greedy()
    return {
        **probe,
        "before": {"ids": before_ids, "vllm": before_lp, "original": teacher_logprobs(original, before_ids)},
        "after": {
            "ids": after_ids,
            "vllm": after_lp,
            "changed": teacher_logprobs(model, after_ids),
            "original": teacher_logprobs(original, after_ids),
        },
        "vllm_dtype": str(generation.llm.llm_engine.model_config.dtype),
    }


SCENARIOS = {"train": scenario_train, "weight_change": scenario_weight_change}


if __name__ == "__main__":  # vLLM's engine needs this guard
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    name, inp, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    given = json.loads(inp.read_text())
    if given.get("patch", True):
        patch_vllm_cpu_linear_for_weight_sync_TEST_ONLY()
    result = SCENARIOS[name](given)
    out.write_text(json.dumps(result))
