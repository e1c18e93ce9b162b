"""Tokens per second of a GRPO step on a GPU with the WMI selector versus Random (goal: WMI ≥ 0.99× Random).

    python bench/gpu_step.py                                  # tiny model on CUDA in bf16, M=64, K=8, 12 steps each
    python bench/gpu_step.py --model qwen3-0.6b --steps 8     # a hub preset (vLLM colocated; needs the weights)
    python bench/gpu_step.py --steps 20 M=128 K=8             # extra Hydra overrides go last

Runs real training through run_training in a temporary results folder, one run per selector, and reads each run's
metrics.jsonl: generated tokens per step (completions/mean_length × M × K) over the step's seconds. The first two
steps are dropped as warm-up. Selection happens on the host between GPU steps, so it should cost nothing; this
measures that claim where it matters. Without a CUDA device it exits at once, saying so (bench/train_step.py is
the CPU counterpart).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

WARMUP_STEPS = 2


def measure(selector: str, model: str, steps: int, results_dir: str, extra: list[str]) -> dict[str, float]:
    """Mean step seconds, selector seconds and generated tokens per second of one run (after warm-up)."""
    from insight_cli.config import compose
    from insight_cli.launch.executor import prepare_run_dir
    from insight_cli.train.run import run_training

    dtype = ["model.dtype=bfloat16"] if model == "tiny-cpu" else []  # the GPU presets are bf16 already
    cfg = compose(
        [
            f"model={model}",
            *dtype,
            f"selector={selector}",
            f"trainer.steps={steps}",
            f"trainer.save_every={steps}",
            "trainer.eval.every=100000",
            "trainer.eval.num_problems=8",
            "trainer.eval.n_samples=1",
            f"paths.results_dir={results_dir}",
            *extra,
        ]
    )
    run_dir = prepare_run_dir(cfg, overrides=[], command=["bench/gpu_step.py"])
    run_training(cfg, run_dir)
    records = run_dir.read("metrics.jsonl")[WARMUP_STEPS:]
    completions = int(cfg.trainer.prompts_per_step) * int(cfg.trainer.num_generations)
    step_s = statistics.mean(r["step_s"] for r in records)
    tokens = statistics.mean(r["completions/mean_length"] * completions for r in records)
    tok_s = statistics.mean(r["completions/mean_length"] * completions / r["step_s"] for r in records)
    return {
        "step_s": step_s,
        "selector_s": statistics.mean(r["selector_s"] for r in records),
        "tokens": tokens,
        "tok_s": tok_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="tiny-cpu", help="model preset (conf/model/); tiny-cpu runs in bf16")
    parser.add_argument("--selectors", default="wmi,random", help="the first is compared with the last")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. M=128 K=8")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        raise SystemExit(
            "bench/gpu_step.py: no CUDA device here, nothing measured. Run it on a GPU node; "
            "bench/train_step.py gives the CPU figures."
        )
    names = args.selectors.split(",")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows[name] = measure(name, args.model, args.steps, tmp, args.overrides)
    print(f"# {torch.cuda.get_device_name(0)}, model {args.model}, {args.steps} steps per selector")
    print(f"{'selector':<22}{'step s':>10}{'selector s':>14}{'tokens/step':>14}{'tokens/s':>12}")
    for name, row in rows.items():
        print(f"{name:<22}{row['step_s']:>10.3f}{row['selector_s']:>14.6f}{row['tokens']:>14.0f}{row['tok_s']:>12.0f}")
    first, last = names[0], names[-1]
    ratio = rows[first]["tok_s"] / rows[last]["tok_s"]
    print(f"tokens/s ratio {first}/{last}: {ratio:.3f}x (goal ≥ 0.99x)")


if __name__ == "__main__":
    main()
