"""Where a miniature run's time goes: rollout generation, reward scoring, forward/backward, selection, evaluation.

    python bench/profile_run.py                       # 10 steps of the default miniature, one evaluation every 5
    python bench/profile_run.py --threads 1 M=32      # one core, other Hydra overrides

Wraps the phases of a real `run_training` with wall-clock timers (no change to what runs), then prints seconds per
phase, their shares of the run, and a final line with the evaluation's share. The warm start must already be cached
(or shipped); its build is not counted.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict

TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(owner, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its wall time to TIMES[label] (outermost call only)."""
    original = getattr(owner, name)
    depth = {"n": 0}

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        depth["n"] += 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            depth["n"] -= 1
            if depth["n"] == 0:
                TIMES[label] += time.perf_counter() - start
                CALLS[label] += 1

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. M=32 trainer.eval.every=5")
    args = parser.parse_args()

    import torch
    from trl import GRPOTrainer

    import insight_cli.train.run as run_module
    from insight_cli.config import compose
    from insight_cli.launch.executor import prepare_run_dir
    from insight_cli.train import evaluate
    from insight_cli.train.grpo import TaskReward

    if args.threads:
        torch.set_num_threads(args.threads)
    timed(GRPOTrainer, "_generate_single_turn", "rollout generation")
    timed(TaskReward, "__call__", "reward scoring")
    timed(GRPOTrainer, "_get_per_token_logps_and_entropies", "forward (log-probs)")
    timed(GRPOTrainer, "training_step", "train step (forward + backward)")
    timed(GRPOTrainer, "_generate_and_score_completions", "generate + score (whole)")
    timed(evaluate, "sample_completions", "evaluation sampling")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(
            [
                f"trainer.steps={args.steps}",
                f"trainer.save_every={args.steps}",
                f"paths.results_dir={tmp}",
                *args.overrides,
            ]
        )
        run_dir = prepare_run_dir(cfg, overrides=[], command=["bench/profile_run.py"])
        start = time.perf_counter()
        run_module.run_training(cfg, run_dir)
        total = time.perf_counter() - start
        metrics = run_dir.read("metrics.jsonl")
    selector_s = sum(m.get("selector_s", 0.0) for m in metrics)
    # training_step includes generation (TRL generates inside it); take generation out for the optimiser share
    backward = TIMES["train step (forward + backward)"] - TIMES["generate + score (whole)"]
    rows = [
        ("rollout generation", TIMES["rollout generation"]),
        ("reward scoring", TIMES["reward scoring"]),
        ("log-prob forwards (in step)", TIMES["forward (log-probs)"]),
        ("forward + backward + optimiser", backward),
        ("selector", selector_s),
        ("evaluation sampling", TIMES["evaluation sampling"]),
        (
            "other (setup, I/O, checkpoint)",
            total - TIMES["train step (forward + backward)"] - TIMES["evaluation sampling"],
        ),
    ]
    print(
        f"{cfg.trainer.steps} steps, M={cfg.trainer.prompts_per_step}, K={cfg.trainer.num_generations}, "
        f"threads={torch.get_num_threads()}, total {total:.1f} s"
    )
    print(f"{'phase':<34}{'seconds':>10}{'share':>9}{'per step':>10}")
    for name, seconds in rows:
        print(f"{name:<34}{seconds:>10.1f}{seconds / total:>9.1%}{seconds / max(1, args.steps):>10.2f}")
    print(f"evaluation / total = {TIMES['evaluation sampling'] / total:.2f}")


if __name__ == "__main__":
    main()
