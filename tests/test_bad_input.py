"""Bad input: a one-line error that names the fix, exit code 2, and nothing written — one table, every command.

"Nothing written" covers the whole test folder, which holds the results directory, the model cache
(INSIGHT_CACHE_DIR) and the working directory; a case that gets as far as preparing a run directory or starting a
job fails at once instead of training.
"""

from __future__ import annotations

import importlib.util
import os
import re
from typing import Annotated, Literal, get_args, get_origin

import pytest

NO_SLURM_PATH = {"PATH": os.path.dirname(os.__file__)}  # a PATH with no sbatch/scontrol on it
BOGUS_SLURM = {"SLURM_CONF": "/nonexistent/slurm.conf"}  # Slurm installed, but no controller it can reach

# (id, argv, extra environment, a fragment the error must contain)
CASES = [
    # --- insight train
    ("train-unknown-key", ["train", "trainer.nope=1"], None, "unknown config key 'trainer.nope'"),
    ("train-unknown-top-key", ["train", "nope=1"], None, "unknown config key"),
    ("train-unknown-model", ["train", "--model", "nope"], None, "unknown model 'nope'"),
    ("train-unknown-selector", ["train", "selector=nope"], None, "unknown selector 'nope'"),
    ("train-unknown-launcher", ["train", "launcher=nope"], None, "unknown launcher 'nope'"),
    ("train-steps-zero", ["train", "trainer.steps=0"], None, "trainer.steps"),
    ("train-K-one", ["train", "K=1"], None, "num_generations"),
    ("train-M-zero", ["train", "M=0"], None, "prompts_per_step"),
    ("train-pool-below-one", ["train", "pool=0.5"], None, "pool.factor"),
    ("train-mu-out-of-range", ["train", "mu=2"], None, "selector.mu"),
    ("train-eta-negative", ["train", "eta=-1"], None, "selector.eta"),
    ("train-lam-zero", ["train", "lam=0"], None, "selector.lam"),
    ("train-alias-not-for-selector", ["train", "--selector", "random", "mu=0.3"], None, "does not apply"),
    ("train-empty-key", ["train", "=1"], None, "malformed"),
    ("train-no-equals", ["train", "mu"], None, "malformed"),
    ("train-unwritable-results", ["train", "paths.results_dir=/proc/1/results"], None, "paths.results_dir"),
    ("train-results-under-a-file", ["train", "paths.results_dir=/etc/hostname/results"], None, "paths.results_dir"),
    ("train-slurm-not-installed", ["train", "launcher=slurm"], NO_SLURM_PATH, "slurm-local.sh start"),
    ("train-slurm-unreachable", ["train", "launcher=slurm"], BOGUS_SLURM, "slurm-local.sh start"),
    (
        "train-gpus-below-model",
        ["train", "--model", "qwen3-4b", "launcher=local", "launcher.gpus_per_node=1"],
        None,
        "launcher.gpus_per_node=4",
    ),
    # --- insight train: GPU-path combinations that cannot run (checked before anything is written or submitted)
    (
        "train-slurm-gpus-below-model-dry-run",
        ["train", "--model", "qwen3-8b", "launcher=slurm", "launcher.gpus_per_node=4", "--dry-run"],
        None,
        "set launcher.gpus_per_node=8",
    ),
    (
        "train-tensor-parallel-above-gpus",
        ["train", "--model", "qwen3-1.7b", "model.vllm.tensor_parallel_size=2"],
        None,
        "tensor_parallel_size=2 is larger than model.gpus=1",
    ),
    ("train-unknown-distributed", ["train", "--model", "qwen3-4b", "model.distributed=ddp"], None, "is unknown"),
    (
        "train-multi-gpu-without-sharding",
        ["train", "--model", "qwen3-4b", "model.distributed=none", "--dry-run"],
        None,
        "set model.distributed=zero3 or model.distributed=fsdp",
    ),
    (
        "train-sharding-on-one-gpu",
        ["train", "--model", "qwen3-1.7b", "model.distributed=fsdp"],
        None,
        "set model.distributed=none, or model.gpus≥2",
    ),
    (
        "train-processes-other-than-gpus",
        ["train", "--model", "qwen3-4b", "launcher=slurm", "launcher.processes=2"],
        None,
        "leave launcher.processes=null",
    ),
    ("train-processes-zero", ["train", "launcher.processes=0"], None, "launcher.processes=0 is out of range"),
    (
        "train-processes-do-not-split-the-batch",
        ["train", "launcher.processes=3", "M=64", "K=8"],
        None,
        "512 completions do not split over 3 processes",
    ),
    *(
        [
            (
                "train-zero3-without-deepspeed",
                ["train", "--model", "qwen3-4b", "launcher=slurm", "model.vllm.enabled=false"],
                NO_SLURM_PATH,  # found before Slurm is asked: no scheduler needed to reject it
                "DeepSpeed is not installed",
            )
        ]
        if importlib.util.find_spec("deepspeed") is None
        else []
    ),
    *(
        [("train-vllm-not-installed", ["train", "model.vllm.enabled=true"], None, "vLLM is not installed")]
        if importlib.util.find_spec("vllm") is None
        else []
    ),
    # --- insight train: values of the wrong type, or out of range (issue #17: all rejected by the schema)
    ("train-pool-not-a-number", ["train", "pool=abc"], None, "pool.factor='abc' is not a number"),
    ("train-M-not-an-integer", ["train", "M=abc"], None, "trainer.prompts_per_step='abc' is not an integer"),
    ("train-steps-not-an-integer", ["train", "trainer.steps=abc"], None, "trainer.steps='abc' is not an integer"),
    ("train-K-not-an-integer", ["train", "trainer.num_generations=abc"], None, "trainer.num_generations='abc'"),
    ("train-seed-negative", ["train", "seed=-1"], None, "seed=-1 is out of range"),
    ("train-pool-nan", ["train", "pool=nan"], None, "pool.factor=nan is not finite"),
    ("train-pool-inf", ["train", "pool=inf"], None, "pool.factor=inf is not finite"),
    ("train-eval-every-zero", ["train", "trainer.eval.every=0"], None, "trainer.eval.every=0 is out of range"),
    ("train-save-every-zero", ["train", "trainer.save_every=0"], None, "trainer.save_every=0 is out of range"),
    ("train-lr-negative", ["train", "trainer.learning_rate=-1"], None, "trainer.learning_rate=-1 is out of range"),
    ("train-temperature-negative", ["train", "trainer.temperature=-1"], None, "trainer.temperature=-1 is out"),
    ("train-format-score-above-one", ["train", "task.format_score=2"], None, "task.format_score=2 is out of range"),
    ("train-eta-inf", ["train", "eta=inf"], None, "selector.eta=inf is not finite"),
    ("train-empty-selector-flag", ["train", "--selector", ""], None, "no selector given"),
    ("train-empty-model-flag", ["train", "--model", ""], None, "no model given"),
    # --- insight train: every other field, read off the schema (insight_cli/schema.py)
    ("train-seed-negative-dry-run", ["train", "seed=-1", "--dry-run"], None, "seed=-1 is out of range"),
    ("train-seed-not-an-integer", ["train", "seed=abc"], None, "seed='abc' is not an integer"),
    ("train-M-fractional", ["train", "M=16.5"], None, "trainer.prompts_per_step=16.5 is not an integer"),
    ("train-K-boolean", ["train", "K=true"], None, "trainer.num_generations=true is not an integer"),
    ("train-micro-batches-zero", ["train", "trainer.micro_batches=0"], None, "trainer.micro_batches=0"),
    ("train-warmup-above-one", ["train", "trainer.warmup_ratio=1.5"], None, "trainer.warmup_ratio=1.5 is out"),
    ("train-kl-negative", ["train", "trainer.beta=-0.1"], None, "trainer.beta=-0.1 is out of range"),
    ("train-clip-zero", ["train", "trainer.epsilon=0"], None, "trainer.epsilon=0 is out of range"),
    ("train-unknown-loss", ["train", "trainer.loss_type=ppo"], None, "trainer.loss_type='ppo' is unknown"),
    (
        "train-scheduler-needing-arguments",
        ["train", "trainer.lr_scheduler=cosine_with_min_lr"],
        None,
        "trainer.lr_scheduler='cosine_with_min_lr' is unknown",
    ),
    ("train-grad-norm-negative", ["train", "trainer.max_grad_norm=-1"], None, "trainer.max_grad_norm=-1"),
    ("train-completion-length-zero", ["train", "trainer.max_completion_length=0"], None, "max_completion_length=0"),
    ("train-eval-samples-zero", ["train", "trainer.eval.n_samples=0"], None, "trainer.eval.n_samples=0"),
    ("train-eval-temperature-zero", ["train", "trainer.eval.temperature=0"], None, "trainer.eval.temperature=0"),
    ("train-eval-problems-zero", ["train", "trainer.eval.num_problems=0"], None, "trainer.eval.num_problems=0"),
    ("train-eval-batch-zero", ["train", "trainer.eval.batch_size=0"], None, "trainer.eval.batch_size=0"),
    ("train-pool-problems-negative", ["train", "trainer.eval.pool_problems=-1"], None, "pool_problems=-1"),
    ("train-pool-problems-above-pool", ["train", "trainer.eval.pool_problems=300"], None, "more than the pool"),
    ("train-pool-smaller-than-M", ["train", "task.train_size=8"], None, "smaller than trainer.prompts_per_step"),
    ("train-four-number-share-above-one", ["train", "task.four_number_share=1.5"], None, "four_number_share=1.5"),
    ("train-eval-size-zero", ["train", "task.eval_size=0"], None, "task.eval_size=0 is out of range"),
    ("train-unknown-prompt-style", ["train", "task.prompt_style=verbose"], None, "task.prompt_style='verbose'"),
    ("train-unknown-source", ["train", "task.source=hub"], None, "task.source='hub' is unknown"),
    ("train-eval-rows-reversed", ["train", "task.public_eval_rows=[2512,2000]"], None, "is empty"),
    (
        "train-public-train-rows-overlap-eval",
        ["train", "task.source=public", "task.train_size=2100"],
        None,
        "task.train_size=2100 overlaps the evaluation rows",
    ),
    ("train-math-unknown-train-set", ["train", "--task", "math", "task.train_set=nope"], None, "'nope'"),
    ("train-math-unknown-eval-set", ["train", "--task", "math", "task.eval_sets=[aime24,nope]"], None, "'nope'"),
    ("train-math-workers-zero", ["train", "--task", "math", "task.reward_workers=0"], None, "reward_workers=0"),
    (
        "train-math-fractional-alarm",
        ["train", "--task", "math", "task.verify_timeout_s=0.5"],
        None,
        "task.verify_timeout_s=0.5 is not an integer",
    ),
    (
        "train-general-unknown-format",
        ["train", "--task", "general", "task.sets.gpqa_diamond.format=csv"],
        None,
        "task.sets.gpqa_diamond.format='csv' is unknown",
    ),
    ("train-unknown-generation-cache", ["train", "model.generation_cache=paged"], None, "generation_cache='paged'"),
    ("train-unknown-dtype", ["train", "model.dtype=float64"], None, "model.dtype='float64' is unknown"),
    ("train-gpus-negative", ["train", "model.gpus=-1"], None, "model.gpus=-1 is out of range"),
    ("train-vllm-memory-above-one", ["train", "model.vllm.gpu_memory_utilization=1.5"], None, "utilization=1.5"),
    ("train-tensor-parallel-zero", ["train", "model.vllm.tensor_parallel_size=0"], None, "tensor_parallel_size=0"),
    ("train-kv-heads-not-dividing", ["train", "model.tiny.num_key_value_heads=3"], None, "does not divide"),
    ("train-warmstart-steps-zero", ["train", "model.warmstart.steps=0"], None, "model.warmstart.steps=0"),
    ("train-warmstart-lr-zero", ["train", "model.warmstart.lr=0"], None, "model.warmstart.lr=0 is out of range"),
    ("train-hub-model-without-id", ["train", "--model", "qwen3-0.6b", "model.hf_id=null"], None, "model.hf_id=null"),
    ("train-unknown-prior", ["train", "selector.prior=flat"], None, "selector.prior='flat' is unknown"),
    ("train-mopps-gamma-above-one", ["train", "--selector", "mopps", "gamma=1.5"], None, "selector.gamma=1.5"),
    ("train-dps-unknown-dtype", ["train", "--selector", "dps", "selector.state_dtype=float16"], None, "float16"),
    (
        "train-dynamic-sampling-no-batches",
        ["train", "--selector", "dynamic_sampling", "selector.max_gen_batches=0"],
        None,
        "selector.max_gen_batches=0 is out of range",
    ),
    ("train-lam-above-one", ["train", "lam=1.5"], None, "selector.lam=1.5 is out of range"),
    ("train-mu-nan", ["train", "mu=nan"], None, "selector.mu=nan is not finite"),
    ("train-wmi-K-zero", ["train", "selector.K=0"], None, "selector.K=0 is out of range"),
    ("train-unknown-selector-name", ["train", "selector.name=nope"], None, "selector.name='nope' is unknown"),
    ("train-added-key", ["train", "+trainer.nope=1"], None, "unknown config key 'trainer.nope'"),
    ("train-sweep-not-a-folder-name", ["train", "sweep=a/b"], None, "sweep='a/b' is not a folder name"),
    ("train-empty-results-dir", ["train", "paths.results_dir=''"], None, "paths.results_dir='' is empty"),
    # an empty environment variable names itself, not only the key it fills (the user never typed the key)
    ("train-empty-cache-dir-variable", ["train"], {"INSIGHT_CACHE_DIR": ""}, "from $INSIGHT_CACHE_DIR: set $INSIGHT"),
    ("train-empty-results-variable", ["train"], {"INSIGHT_RESULTS_DIR": ""}, "is empty, from $INSIGHT_RESULTS_DIR"),
    ("train-cache-under-a-file", ["train", "paths.cache_dir=/etc/hostname/cache"], None, "paths.cache_dir=DIR"),
    ("train-local-too-many-requeues", ["train", "launcher=local", "launcher.max_requeues=6"], None, "requeues=6"),
    (
        "train-local-signal-after-timeout",
        ["train", "launcher=local", "launcher.timeout_min=1", "launcher.signal_delay_s=60"],
        None,
        "launcher.signal_delay_s=60 is not shorter",
    ),
    (
        "train-slurm-timeout-zero-dry-run",
        ["train", "launcher=slurm", "launcher.timeout_min=0", "--dry-run"],
        None,
        "launcher.timeout_min=0 is out of range",
    ),
    (
        "train-slurm-array-parallelism-zero-dry-run",
        ["train", "launcher=slurm", "launcher.array_parallelism=0", "--dry-run"],
        None,
        "launcher.array_parallelism=0",
    ),
    ("train-slurm-memory-zero-dry-run", ["train", "launcher=slurm", "launcher.mem_gb=0", "--dry-run"], None, "mem_gb"),
    ("train-seconds-per-step-negative", ["train", "launcher.seconds_per_step=-1"], None, "seconds_per_step=-1"),
    # --- insight config show: the same check
    ("config-show-M-not-an-integer", ["config", "show", "M=abc"], None, "is not an integer"),
    # --- insight sweep: malformed axes
    ("sweep-empty-value", ["sweep", "mu="], None, "no value after '='"),
    ("sweep-empty-item", ["sweep", "mu=0.3,,0.5"], None, "empty item"),
    ("sweep-trailing-comma", ["sweep", "mu=0.3,"], None, "empty item"),
    ("sweep-empty-key", ["sweep", "=1"], None, "key before '=' is empty"),
    ("sweep-no-equals", ["sweep", "mu"], None, "write key=value"),
    ("sweep-repeated-value", ["sweep", "mu=0.3,0.3"], None, "repeated"),
    ("sweep-key-twice", ["sweep", "mu=0.3,0.5", "selector.mu=0.4"], None, "given twice"),
    # --- insight sweep: keys, options and values
    ("sweep-unknown-key", ["sweep", "trainer.nope=1,2"], None, "unknown config key 'trainer.nope'"),
    ("sweep-unknown-option-in-axis", ["sweep", "selector=wmi,nope"], None, "unknown selector 'nope'"),
    ("sweep-unknown-selector-flag", ["sweep", "--selector", "wmi,nope"], None, "unknown selector 'nope'"),
    ("sweep-unknown-model-flag", ["sweep", "--model", "tiny-cpu,nope"], None, "unknown model 'nope'"),
    ("sweep-value-fails-validation", ["sweep", "mu=0.3,5"], None, "selector.mu"),
    ("sweep-K-fails-validation", ["sweep", "K=1,8"], None, "num_generations"),
    ("sweep-alias-not-for-selector", ["sweep", "--selector", "random", "mu=0.3,0.5"], None, "does not apply"),
    ("sweep-seeds-zero", ["sweep", "--seeds", "0"], None, "--seeds"),
    ("sweep-bad-name", ["sweep", "--name", "a/b", "mu=0.3,0.5"], None, "not a folder name"),
    ("sweep-missing-spec", ["sweep", "-f", "sweeps/nope.yaml"], None, "not found"),
    (
        "sweep-unwritable-results",
        ["sweep", "mu=0.3,0.5", "paths.results_dir=/proc/1/results"],
        None,
        "paths.results_dir",
    ),
    ("sweep-slurm-not-installed", ["sweep", "mu=0.3,0.5", "launcher=slurm"], NO_SLURM_PATH, "launcher=local"),
    ("sweep-slurm-unreachable", ["sweep", "mu=0.3,0.5", "launcher=slurm"], BOGUS_SLURM, "launcher=local"),
    (
        "sweep-gpus-below-model",
        [
            "sweep",
            "--model",
            "qwen3-0.6b,qwen3-8b",
            "launcher=slurm",
            "launcher.gpus_per_node=1",
            "model.vllm.enabled=false",
        ],
        None,
        "needs 8 GPUs",
    ),
    # --- insight sweep: every expanded run is checked before anything is submitted
    ("sweep-second-seed-negative", ["sweep", "seed=0,-1"], None, "seed=-1 is out of range"),
    ("sweep-second-seed-negative-dry-run", ["sweep", "seed=0,-1", "--dry-run"], None, "seed=-1 is out of range"),
    ("sweep-K-not-an-integer", ["sweep", "K=8,abc"], None, "trainer.num_generations='abc' is not an integer"),
    ("sweep-pool-nan", ["sweep", "pool=4,nan"], None, "pool.factor=nan is not finite"),
    ("sweep-eval-every-zero", ["sweep", "mu=0.3,0.5", "trainer.eval.every=0"], None, "trainer.eval.every=0"),
    ("sweep-empty-selector-flag", ["sweep", "--selector", ""], None, "no value after '='"),
    (
        "sweep-cache-under-a-file",
        ["sweep", "mu=0.3,0.5", "paths.cache_dir=/etc/hostname/cache"],
        None,
        "paths.cache_dir=DIR",
    ),
    # --- insight status / logs
    ("status-unknown-sweep", ["status", "nope"], None, "no sweep 'nope'"),
    ("logs-id-too-short", ["logs", "ab"], None, "too short"),
    ("logs-unknown-run", ["logs", "deadbeef0000"], None, "no run 'deadbeef0000'"),
    ("status-results-dir-is-a-file", ["status", "--results-dir", "/etc/hostname"], None, "is a file, not a folder"),
    ("status-sweep-results-dir-is-a-file", ["status", "x", "--results-dir", "/etc/hostname"], None, "is a file"),
    ("logs-results-dir-is-a-file", ["logs", "abcd", "--results-dir", "/etc/hostname"], None, "is a file"),
]


@pytest.fixture
def bad_spec_files(tmp_path):
    """Spec files outside the results folder: invalid YAML, an unknown field."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    (folder / "extra.yaml").write_text("name: x\naxes: {mu: [0.3]}\nsubmit_now: true\n")
    return folder


SPEC_CASES = [
    ("sweep-spec-invalid-yaml", "broken.yaml", "not valid YAML"),
    ("sweep-spec-unknown-field", "extra.yaml", "unknown field"),
]


def _snapshot(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""


@pytest.fixture
def guarded(tmp_path, monkeypatch):
    """A fresh model cache under tmp_path, and no way past the checks: preparing a run directory, building a job or
    submitting one fails the test (a bad value that slipped through would otherwise start a real training)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(cache))

    def reached(*args, **kwargs):
        raise AssertionError("bad input got past every check: a run was about to be written or started")

    for name in ("prepare_run_dir", "make_job", "submit"):
        monkeypatch.setattr(f"insight_cli.launch.executor.{name}", reached)
    return cache


@pytest.mark.parametrize(("argv", "env", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    insight_cmd, tmp_path, monkeypatch, guarded, argv, env, fragment
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _snapshot(tmp_path)
    result = insight_cmd(*argv, env=env)
    _assert_one_line_error(result, fragment)
    assert _snapshot(tmp_path) == before, "bad input must write nothing"
    assert not guarded.exists(), "bad input must not touch the model cache (paths.cache_dir)"
    assert not (tmp_path / "results").exists(), "bad input must not create the results directory"


@pytest.mark.parametrize(("name", "fragment"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_bad_spec_file_is_one_line_exit_2(insight_cmd, tmp_path, guarded, bad_spec_files, name, fragment):
    before = _snapshot(tmp_path)
    result = insight_cmd("sweep", "-f", str(bad_spec_files / name))
    _assert_one_line_error(result, fragment)
    assert _snapshot(tmp_path) == before
    assert not guarded.exists()


# ---------------------------------------------------------------------------------------------- every limit
UNIONS = ("selector", "task", "launcher")  # groups whose shape depends on their name (the tag in error locations)


def _leaves(node, keys=()):
    """The keys of every scalar leaf of a plain config."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*keys, key))
        elif not isinstance(value, list):
            yield (*keys, key)


def _unwrap(annotation, metadata):
    """The base type of a field and all its constraints, through Annotated[...] and Optional[...]."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _unwrap(base, metadata + [m for e in extra for m in getattr(e, "metadata", [e])])
    members = [a for a in get_args(annotation) if a is not type(None)] if get_origin(annotation) is not Literal else []
    if len(members) == 1 and type(None) in get_args(annotation):
        return _unwrap(members[0], metadata)
    return annotation, metadata


def _outside(field):
    """Values just outside a field's limits (the bound itself where the bound is open), a wrong type, NaN."""
    import annotated_types as at

    base, metadata = _unwrap(field.annotation, list(field.metadata))
    step = 1 if base is int else 0.5
    out = []
    for m in metadata:
        if isinstance(m, at.Ge):
            out.append(m.ge - step)
        elif isinstance(m, at.Gt):
            out.append(m.gt)
        elif isinstance(m, at.Le):
            out.append(m.le + step)
        elif isinstance(m, at.Lt):
            out.append(m.lt)
    if base in (int, float):
        out += ["abc", float("nan"), float("inf")]
    if base is int:
        out.append(1.5)
    if get_origin(base) is Literal and len(get_args(base)) > 1:
        out.append("not-a-choice")
    return out


def _shipped_configs():
    """Every shipped option of the groups that have fields of their own, each composed once (plain containers)."""
    from omegaconf import OmegaConf

    from insight_cli.config import compose, group_options

    return [
        (f"{group}={option}", OmegaConf.to_container(compose([f"{group}={option}"]), resolve=True))
        for group in ("selector", "task", "launcher", "model", "trainer")
        for option in group_options(group)
    ]


@pytest.mark.parametrize(("option", "plain"), _shipped_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_limit_of_the_schema_is_enforced_and_named(option, plain):
    """Each leaf with a range or a set of choices: a value just outside it (and a wrong type) is a one-line
    ConfigError that names the key and the bad value; the shipped option itself passes."""
    import copy

    from insight_cli.config import ConfigError
    from insight_cli.schema import check, locate, show

    check(plain)
    tried = 0
    for keys in _leaves(plain):
        tag = (plain[keys[0]]["name"],) if keys[0] in UNIONS else ()
        key, field = locate((keys[0], *tag, *keys[1:]))
        assert key == ".".join(keys), (key, keys)
        if field is None:
            continue
        for bad in _outside(field):
            broken = copy.deepcopy(plain)
            node = broken
            for part in keys[:-1]:
                node = node[part]
            node[keys[-1]] = bad
            with pytest.raises(ConfigError) as info:
                check(broken)
            message = str(info.value)
            assert "\n" not in message and f"{key}={show(bad)}" in message, (option, message)
            tried += 1
    assert tried >= 10, f"{option}: only {tried} bad values tried"


# ---------------------------------------------------------------------------------------------- selector updates
@pytest.mark.parametrize("name", ["wmi", "mopps", "expected_difficulty", "inverse_evidence", "dps"])
@pytest.mark.parametrize(
    ("ids", "successes", "trials", "needle"),
    [
        ([1, 2], [9, 3], [8, 8], "0 ≤ successes ≤ trials"),  # more successes than rollouts
        ([1, 2], [-1, 3], [8, 8], "0 ≤ successes ≤ trials"),  # a negative count
        ([1, 2], [3, 3], [8, -8], "0 ≤ successes ≤ trials"),  # negative trials
        ([1, 2], [float("nan"), 3], [8, 8], "0 ≤ successes ≤ trials"),
        ([1, 2], [3], [8, 8], "one (successes, trials) per prompt id"),
        ([-1, 2], [3, 3], [8, 8], "outside [0, 10)"),  # would wrap onto the last prompt
        ([1, 10], [3, 3], [8, 8], "outside [0, 10)"),
    ],
)
def test_a_bad_update_is_rejected_and_leaves_the_beliefs_unchanged(name, ids, successes, trials, needle):
    import numpy as np
    from omegaconf import OmegaConf

    from insight_cli.config import compose
    from insight_cli.selectors import build_selector

    selector = build_selector(10, OmegaConf.to_container(compose([f"selector={name}"]).selector), seed=0)
    selector.update(np.array([3]), np.array([2]), np.array([8]))
    before = {k: np.array(v, copy=True) for k, v in selector.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(needle)):
        selector.update(np.array(ids), np.array(successes, dtype=float), np.array(trials, dtype=float))
    after = selector.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before), "a rejected update must change nothing"
