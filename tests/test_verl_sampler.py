"""InsightSampler inside real verl (its own environment: `bash scripts/verl-env.sh`, then
`.venv-verl/bin/python -m pytest -m verl tests/test_verl_sampler.py`).

verl's own pieces throughout: the config composed from verl's ppo_trainer.yaml with the lines of docs/verl.md,
RLHFDataset from a parquet file, `create_rl_sampler`, the `StatefulDataLoader` built as RayPPOTrainer builds it,
`DataProto` batches repeated K times with fresh uids and shuffled rows, and verl 0.7.1's order of a step's end
(checkpoint saved, then `sampler.update`).
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

verl = pytest.importorskip(
    "verl", reason="verl is not installed here: build its environment with `bash scripts/verl-env.sh`"
)
pytestmark = pytest.mark.verl

import torch  # noqa: E402  (after the skip: only verl's environment runs these)
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.dataset.sampler import AbstractCurriculumSampler  # noqa: E402
from verl.trainer.main_ppo import create_rl_dataset, create_rl_sampler  # noqa: E402
from verl.utils.dataset.rl_dataset import collate_fn  # noqa: E402

from insight_cli.integrations.spec import selector_settings  # noqa: E402
from insight_cli.integrations.verl import InsightSampler  # noqa: E402
from insight_cli.selectors import PoolSampler, build_selector  # noqa: E402

NUM_PROMPTS, M, K, POOL = 24, 4, 4, 3.0
STEPS_PER_EPOCH = NUM_PROMPTS // M


# ---------------------------------------------------------------------------------------------- verl's pieces
def write_dataset(folder: Path, ids: list[int] | None = None) -> tuple[Path, np.ndarray]:
    """A parquet training file as verl's data preparation writes it, with a stable id in extra_info.index. The ids
    are not the row positions (rows are numbered in a shuffled order), as after filtering or concatenation."""
    import pandas as pd

    if ids is None:
        ids = (1000 + 7 * np.random.default_rng(5).permutation(NUM_PROMPTS)).tolist()
    rows = [
        {
            "data_source": "toy",
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "reward_model": {"style": "rule", "ground_truth": str(i)},
            "extra_info": {"index": int(i), "split": "train"},
        }
        for i in ids
    ]
    path = folder / "train.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path, np.asarray(ids)


def verl_config(train_file: Path, *extra: str):
    """verl's own PPO config, composed from its ppo_trainer.yaml with the sampler lines of docs/verl.md."""
    from hydra import compose, initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    overrides = [
        f"data.train_files={train_file}",
        f"data.val_files={train_file}",
        f"data.train_batch_size={M}",
        "data.dataloader_num_workers=0",
        f"actor_rollout_ref.rollout.n={K}",
        # --- the lines docs/verl.md tells users to add
        "data.sampler.class_path=pkg://insight_cli.integrations.verl",
        "data.sampler.class_name=InsightSampler",
        "+data.sampler.selector=wmi",
        f"+data.sampler.pool_factor={POOL}",
        *extra,
    ]
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def build_loader(config):
    """The dataset, sampler and data loader exactly as RayPPOTrainer._create_dataloader builds them."""
    dataset = create_rl_dataset(config.data.train_files, config.data, None, None)
    sampler = create_rl_sampler(config.data, dataset)
    loader = StatefulDataLoader(
        dataset=dataset,
        batch_size=config.data.get("gen_batch_size", config.data.train_batch_size),
        num_workers=config.data["dataloader_num_workers"],
        drop_last=True,
        collate_fn=collate_fn,
        sampler=sampler,
    )
    return sampler, loader


def rollout_scores(prompt_id: int, step: int) -> np.ndarray:
    """K rollout scores of one prompt at one step: 1.0 solved, 0.1 a shaped format score (unsolved), 0.0 wrong."""
    rng = np.random.default_rng([step, int(prompt_id)])
    skill = (int(prompt_id) % 5) / 4  # prompts differ in difficulty, so the selector has something to learn
    return np.where(rng.random(K) < skill, 1.0, np.where(rng.random(K) < 0.5, 0.1, 0.0))


def scored_batch(batch_dict: dict, step: int, shuffle_seed: int) -> DataProto:
    """What verl's step hands to update(): the prompts repeated K times, fresh uids, per-token scores with the reward
    on the last token, and rows reordered (as balance_batch does)."""
    batch = DataProto.from_single_dict(batch_dict)
    batch.non_tensor_batch["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(batch))], dtype=object)
    batch = batch.repeat(repeat_times=K, interleave=True)
    scores = torch.zeros(len(batch), 6)
    for start in range(0, len(batch), K):
        scores[start : start + K, -1] = torch.tensor(rollout_scores(batch.non_tensor_batch["index"][start], step))
    batch.batch["token_level_scores"] = scores
    batch.reorder(torch.from_numpy(np.random.default_rng(shuffle_seed).permutation(len(batch))))
    return batch


def run_steps(sampler, loader, steps: int, first_step: int = 1, save_before_update_at: int | None = None):
    """verl's loop (epochs of `for batch_dict in loader`): the stable ids chosen at each step; with
    ``save_before_update_at``, returns also the loader state saved at that step before update() (verl 0.7.1's order),
    and stops after that step's update (a crash)."""
    chosen, saved, step = [], None, first_step
    while step < first_step + steps:
        for batch_dict in loader:
            chosen.append(np.asarray(batch_dict["index"], dtype=np.int64))
            batch = scored_batch(batch_dict, step, shuffle_seed=step)
            if step == save_before_update_at:
                saved = loader.state_dict()
            sampler.update(batch=batch)
            if step == save_before_update_at or step == first_step + steps - 1:
                return chosen, saved
            step += 1
    return chosen, saved


# ---------------------------------------------------------------------------------------------- the tests
def test_verl_builds_the_sampler_from_its_config(tmp_path):
    train_file, ids = write_dataset(tmp_path)
    sampler, loader = build_loader(verl_config(train_file, "+data.sampler.options.mu=0.4"))
    assert isinstance(sampler, InsightSampler) and isinstance(sampler, AbstractCurriculumSampler)
    assert sampler.selection.selector.name == "wmi"
    # paper defaults from conf/selector/wmi.yaml, the option given on the command line, K = rollout.n
    assert sampler.selection.selector.cfg == {**selector_settings("wmi", K), "mu": 0.4}
    assert (sampler.prompts_per_step, sampler.rollouts_per_prompt) == (M, K)
    assert len(loader) == STEPS_PER_EPOCH
    # the stable ids map to the dataset rows that hold them
    np.testing.assert_array_equal(sampler.ids.rows(ids), np.arange(NUM_PROMPTS))


def test_choices_equal_insights_selector_fed_the_same_outcomes(tmp_path):
    """Shuffled rows and fresh uids every step; two epochs; choice k made after exactly k updates."""
    train_file, ids = write_dataset(tmp_path)
    sampler, loader = build_loader(verl_config(train_file, "+data.sampler.seed=3"))
    steps = 2 * STEPS_PER_EPOCH
    chosen, _ = run_steps(sampler, loader, steps)
    assert sampler.selection.history == [(k, k) for k in range(steps)]

    seeds = np.random.SeedSequence(3).generate_state(2)
    selector = build_selector(NUM_PROMPTS, selector_settings("wmi", K), seed=int(seeds[0]))
    pool = PoolSampler(NUM_PROMPTS, POOL, seed=int(seeds[1]))
    for step, got in enumerate(chosen, start=1):
        rows = selector.select(pool.draw(M), M)
        np.testing.assert_array_equal(got, ids[rows], err_msg=f"step {step}")
        solved = np.array([(rollout_scores(ids[r], step) >= 1.0).sum() for r in rows], dtype=np.float64)
        selector.update(rows, solved, np.full(M, float(K)))
    np.testing.assert_array_equal(sampler.selection.selector.alpha, selector.alpha)
    np.testing.assert_array_equal(sampler.selection.selector.beta, selector.beta)


@pytest.mark.parametrize("save_at", [3, STEPS_PER_EPOCH], ids=["mid-epoch", "end-of-epoch"])
def test_stateful_dataloader_round_trip_resumes_the_same_sequence(tmp_path, save_at):
    train_file, _ = write_dataset(tmp_path)
    steps = 2 * STEPS_PER_EPOCH
    straight, _ = run_steps(*build_loader(verl_config(train_file)), steps)

    journal = f"+data.sampler.journal_dir={tmp_path / 'journal'}"
    first, state = run_steps(*build_loader(verl_config(train_file, journal)), steps, save_before_update_at=save_at)
    torch.save(state, tmp_path / "data.pt")  # as RayPPOTrainer._save_checkpoint writes it

    sampler, loader = build_loader(verl_config(train_file, journal))  # a new process
    loader.load_state_dict(torch.load(tmp_path / "data.pt", weights_only=False))
    resumed, _ = run_steps(sampler, loader, steps - save_at, first_step=save_at + 1)
    assert len(first) == save_at and len(resumed) == steps - save_at
    for step, (got, expected) in enumerate(zip(first + resumed, straight, strict=True), start=1):
        np.testing.assert_array_equal(got, expected, err_msg=f"step {step}")
    assert sampler.selection.history[-1] == (steps - 1, steps - 1)


def test_resume_without_journal_warns_that_one_step_is_lost(tmp_path):
    train_file, _ = write_dataset(tmp_path)
    _, state = run_steps(*build_loader(verl_config(train_file)), 6, save_before_update_at=2)
    sampler, loader = build_loader(verl_config(train_file))
    loader.load_state_dict(state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed, _ = run_steps(sampler, loader, 2, first_step=3)
    assert len(resumed) == 2
    assert any("before step 2's outcomes reached the sampler" in str(w.message) for w in caught)


def test_a_step_before_update_or_a_second_update_is_an_error(tmp_path):
    train_file, _ = write_dataset(tmp_path)
    sampler, loader = build_loader(verl_config(train_file))
    batches = iter(loader)
    batch = scored_batch(next(batches), step=1, shuffle_seed=1)
    with pytest.raises(RuntimeError, match="before update\\(\\) fed the previous step's outcomes"):
        next(batches)
    sampler.update(batch=batch)
    with pytest.raises(RuntimeError, match="without a step chosen since the last update"):
        sampler.update(batch=batch)


def test_bad_datasets_and_settings_are_one_line_errors(tmp_path):
    duplicated, _ = write_dataset(tmp_path, ids=[7] * 2 + list(range(NUM_PROMPTS - 2)))
    with pytest.raises(ValueError, match="prompt id 7 is on several rows"):
        build_loader(verl_config(duplicated))
    train_file, _ = write_dataset(tmp_path)
    with pytest.raises(ValueError, match="set data.dataloader_num_workers=0"):
        build_loader(verl_config(train_file, "data.dataloader_num_workers=2"))
    with pytest.raises(ValueError, match="filters groups after the rollouts"):
        build_loader(verl_config(train_file, "data.sampler.selector=dynamic_sampling"))


def test_full_ppo_step_on_cpu():
    pytest.skip(
        "verl 0.7.1's PPO trainer generates only through an async rollout server (vllm, sglang or trtllm: "
        "_ROLLOUT_REGISTRY in verl/workers/rollout/base.py; the HF rollout is no longer registered), all of them CUDA "
        "engines, and its Ray workers reserve GPUs (trainer.n_gpus_per_node): no PPO step can run on this CPU-only "
        "machine. The sampler is exercised through every verl piece that runs without them."
    )
