"""Two training processes over gloo run the real ``run_training``: one selector (rank 0), one batch for every rank.

The test launches this file twice with ``torchrun --nproc_per_node 2`` (as ``accelerate launch`` does on GPU nodes;
on CPUs accelerate's own launcher would need MPI). Each rank records what it saw — the global choice it received,
the rows it scored, the outcomes its selection observed, its final Beta beliefs — and the test checks that

* every rank trains on the same M prompts each step, and the ranks' slices partition the M×K rollouts in order;
* only rank 0's selector is updated, with the outcomes of every rank's rollouts (gathered), and nothing else;
* the run directory holds one record per step (rank 0 writes, the other ranks only train).

    python -m pytest tests/test_distributed.py
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
STEPS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory, tiny_overrides):
    """Launch the 2-process run once; return (per-rank records, run directory, composed config)."""
    from insight_cli.config import compose

    out = tmp_path_factory.mktemp("two-ranks")
    overrides = [
        *tiny_overrides,
        "selector=wmi",
        f"trainer.steps={STEPS}",
        "trainer.eval.every=100",  # evaluate only at steps 0 and STEPS
        "trainer.eval.n_samples=1",
        f"paths.results_dir={out / 'results'}",
    ]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    cmd += ["--master_port", str(free_port()), str(HERE), str(out), *overrides]
    proc = subprocess.run(cmd, cwd=HERE.parents[1], capture_output=True, text=True, timeout=900)
    (out / "launch.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        errors = [line for line in lines if "Error" in line and "FutureWarning" not in line][:10]
        raise AssertionError(
            f"2-process run exited {proc.returncode} (log: {out / 'launch.log'}):\n" + "\n".join(errors)
        )
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks, Path(ranks[0]["run_dir"]), compose(overrides)


def test_every_rank_trains_on_the_same_prompts_and_the_slices_partition_the_batch(two_rank_run):
    (rank0, rank1), _, cfg = two_rank_run
    m, k = int(cfg.trainer.prompts_per_step), int(cfg.trainer.num_generations)
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert len(rank0["chosen"]) == len(rank1["chosen"]) == STEPS
    assert rank0["chosen"] == rank1["chosen"]  # the broadcast: one global choice per step
    for step, chosen in enumerate(rank0["chosen"]):
        assert len(chosen) == m and len(set(chosen)) == m
        rollouts = np.repeat(chosen, k)  # the global M×K rows: each chosen prompt K times, in choice order
        local0, local1 = rank0["scored_ids"][step], rank1["scored_ids"][step]
        assert len(local0) == len(local1) == m * k // 2
        np.testing.assert_array_equal(np.concatenate([local0, local1]), rollouts)
        # whole groups per rank: GRPO normalises advantages within a prompt's K rollouts
        assert len(set(local0) & set(local1)) == 0


def test_only_rank_zero_updates_its_selector_with_every_ranks_outcomes(two_rank_run):
    (rank0, rank1), _, cfg = two_rank_run
    k = int(cfg.trainer.num_generations)
    assert rank1["observed"] == []  # the other ranks never touch a selector
    assert len(rank0["observed"]) == STEPS
    successes = np.zeros(len(rank0["alpha"]))
    for step, (ids, accuracies) in enumerate(rank0["observed"]):
        assert ids == rank0["chosen"][step]
        # rank 0 folded in the accuracies of all M×K rollouts: its own rows followed by rank 1's
        np.testing.assert_array_equal(accuracies, rank0["accuracies"][step] + rank1["accuracies"][step])
        np.add.at(successes, ids, (np.asarray(accuracies) >= 1.0).reshape(len(ids), k).sum(axis=1))
    times = np.bincount(np.concatenate(rank0["chosen"]), minlength=len(rank0["alpha"]))
    alpha0, beta0 = np.asarray(rank0["alpha"]), np.asarray(rank0["beta"])
    np.testing.assert_array_equal(alpha0 - 1.0, successes)  # λ = 1: α = 1 + successes, β = 1 + failures
    np.testing.assert_array_equal(alpha0 + beta0 - 2.0, k * times)
    assert times.sum() == STEPS * len(rank0["chosen"][0])
    np.testing.assert_array_equal(rank1["alpha"], np.ones_like(alpha0))  # rank 1's copy is still the prior
    np.testing.assert_array_equal(rank1["beta"], np.ones_like(beta0))


def test_the_run_directory_has_one_record_per_step_written_by_rank_zero(two_rank_run):
    (rank0, _), run_dir, cfg = two_rank_run
    from insight_cli.runs import RunDir

    rd = RunDir(run_dir)
    assert rd.read_status()["state"] == "done"
    assert [r["step"] for r in rd.read("metrics.jsonl")] == list(range(1, STEPS + 1))
    assert [r["prompt_ids"] for r in rd.read("selection.jsonl")] == rank0["chosen"]
    m, k = int(cfg.trainer.prompts_per_step), int(cfg.trainer.num_generations)
    assert [r["rollouts"] for r in rd.read("metrics.jsonl")] == [m * k * (s + 1) for s in range(STEPS)]


# ---------------------------------------------------------------------------------------------- one rank (child)
def worker(out: Path, overrides: list[str]) -> None:
    """One rank of the run: record what this rank sees, train with the real run_training, dump the records."""
    from accelerate import PartialState

    from insight_cli.config import compose
    from insight_cli.launch.executor import prepare_run_dir
    from insight_cli.train.grpo import SelectorGRPOTrainer, TaskReward
    from insight_cli.train.run import run_training
    from insight_cli.train.selection import PromptSelection

    record: dict = {"chosen": [], "scored_ids": [], "accuracies": [], "observed": []}
    selections: list[PromptSelection] = []
    broadcast, score, observe = SelectorGRPOTrainer._broadcast_choice, TaskReward.__call__, PromptSelection.observe
    init = PromptSelection.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        selections.append(self)

    def recording_broadcast(self, m):
        chosen = broadcast(self, m)
        if self.model.training:
            record["chosen"].append(np.asarray(chosen).tolist())
        return chosen

    def recording_score(self, prompts, completions, id, **kwargs):  # noqa: A002 - TRL's column name
        rewards = score(self, prompts, completions, id, **kwargs)
        if len(record["scored_ids"]) < len(record["chosen"]):  # a training batch, not an evaluation
            record["scored_ids"].append([int(i) for i in id])
            accuracies = self.accuracies.take()  # read what the trainer will take, and leave it there for it
            self.accuracies.put(accuracies)
            record["accuracies"].append(list(accuracies))
        return rewards

    def recording_observe(self, prompt_ids, accuracies):
        record["observed"].append((np.asarray(prompt_ids).tolist(), np.asarray(accuracies).tolist()))
        return observe(self, prompt_ids, accuracies)

    PromptSelection.__init__ = recording_init
    SelectorGRPOTrainer._broadcast_choice = recording_broadcast
    TaskReward.__call__ = recording_score
    PromptSelection.observe = recording_observe

    state = PartialState(cpu=True)
    cfg = compose(overrides)
    run_dir = prepare_run_dir(cfg, overrides=overrides, command=["torchrun", "test_distributed"])
    result = run_training(cfg, run_dir)
    selector = selections[-1].selector
    record.update(
        rank=state.process_index,
        world_size=state.num_processes,
        result=result,
        run_dir=str(run_dir.path),
        alpha=selector.alpha.tolist(),
        beta=selector.beta.tolist(),
    )
    (out / f"rank{state.process_index}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    worker(Path(sys.argv[1]), sys.argv[2:])
