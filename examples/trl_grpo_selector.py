"""GRPO with InSight's WMI prompt selection in a plain TRL script: your dataset, your rewards, a few extra arguments.

    python examples/trl_grpo_selector.py --output-dir runs/demo --steps 6 --save-steps 2    # tiny CPU model
    python examples/trl_grpo_selector.py --output-dir runs/demo --steps 8 --resume          # continue from the newest
    python examples/trl_grpo_selector.py --model Qwen/Qwen2.5-0.5B-Instruct --selector mopps --output-dir runs/q

Everything here is what a TRL user writes anyway (a dataset with a "prompt" column, reward functions, a GRPOConfig)
except two lines: ``InsightGRPOTrainer`` instead of ``GRPOTrainer``, and its ``selector=`` / ``accuracy_reward=`` /
``accuracy_threshold=`` arguments. ``--model tiny`` (the default) builds a ~0.1M-parameter Qwen3 with a character
tokenizer in memory, so the script runs on a laptop CPU in seconds and needs no download; it learns little, but every
part of the loop (selection, rollouts, rewards, outcomes fed back, checkpoints, resume) is the real one. docs/trl.md
explains each argument.
"""

from __future__ import annotations

import argparse
import random
import re
from types import SimpleNamespace

from datasets import Dataset
from trl import GRPOConfig

from insight_cli.integrations.trl import InsightGRPOTrainer


# --- your data: any map-style dataset with a "prompt" column; the other columns reach the reward functions
def make_dataset(size: int = 64, seed: int = 0) -> Dataset:
    """Two-number sums, e.g. "12+7=" with answer "19"."""
    rng = random.Random(seed)
    rows = []
    for problem_id in range(size):
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b), "problem_id": problem_id})
    return Dataset.from_list(rows)


# --- your rewards: TRL reward functions (one float per completion)
def correct_sum(completions: list[str], answer: list[str], **kwargs) -> list[float]:
    """1.0 when the completion starts with the right number, else 0.0: the accuracy the selector learns from."""
    found = [re.match(r"\s*(\d+)", completion) for completion in completions]
    return [float(m is not None and m.group(1) == truth) for m, truth in zip(found, answer, strict=True)]


def digits_first(completions: list[str], **kwargs) -> list[float]:
    """A small shaping bonus (0.1) for answering with a digit: part of the training reward, never an accuracy."""
    return [0.1 if completion[:1].isdigit() else 0.0 for completion in completions]


# --- your model: a hub checkpoint, or the tiny local one
def tiny_model_and_tokenizer(seed: int = 0):
    """A freshly initialised 2-layer Qwen3 (hidden 64) and a character-level tokenizer, built in memory."""
    from insight_cli.train.tiny import build_tiny_model, build_tokenizer

    tokenizer = build_tokenizer()
    shape = SimpleNamespace(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=64,
    )
    return build_tiny_model(shape, tokenizer, seed=seed), tokenizer


def grpo_config(output_dir: str, steps: int, save_steps: int, seed: int = 0) -> GRPOConfig:
    """M = 4 prompts × K = 4 completions per step (per_device_train_batch_size = M·K on one process)."""
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=16,
        num_generations=4,
        max_completion_length=4,
        temperature=1.0,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="steps",
        save_steps=save_steps,
        report_to="none",
        use_cpu=True,
        seed=seed,
    )


def make_trainer(args: argparse.Namespace) -> InsightGRPOTrainer:
    if args.model == "tiny":
        model, tokenizer = tiny_model_and_tokenizer(seed=args.seed)
    else:
        model, tokenizer = args.model, None  # TRL loads the checkpoint and its tokenizer
    return InsightGRPOTrainer(
        model=model,
        reward_funcs=[correct_sum, digits_first],
        args=grpo_config(args.output_dir, args.steps, args.save_steps, seed=args.seed),
        train_dataset=make_dataset(args.dataset_size, seed=args.seed),
        processing_class=tokenizer,
        # --- the selection: which selector, and what counts as a solved completion
        selector=args.selector,  # a name (paper defaults), {"name": "wmi", "mu": 0.3, ...}, or a Selector object
        accuracy_reward="correct_sum",  # the reward that is the accuracy (None: the weighted total reward)
        accuracy_threshold=1.0,  # solved when correct_sum ≥ 1.0; the 0.1 format bonus never counts
    )


def main(argv: list[str] | None = None) -> InsightGRPOTrainer:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", required=True, help="TRL's output_dir (checkpoint-N folders go here)")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps (one generation batch each)")
    parser.add_argument("--save-steps", type=int, default=2, help="save a checkpoint every this many steps")
    parser.add_argument("--selector", default="wmi", help="a name of insight_cli.selectors.SELECTORS")
    parser.add_argument("--model", default="tiny", help="'tiny' (built locally) or a Hugging Face id / folder")
    parser.add_argument("--dataset-size", type=int, default=64, help="prompts in the training pool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    args = parser.parse_args(argv)

    trainer = make_trainer(args)
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    selection = trainer.selection
    name = selection.selector.name
    print(
        f"trained to step {trainer.state.global_step}: {selection.choices} batches chosen by '{name}', "
        f"{selection.rollouts} rollouts fed back, {int(selection.seen.sum())} distinct prompts seen"
    )
    return trainer


if __name__ == "__main__":
    main()
