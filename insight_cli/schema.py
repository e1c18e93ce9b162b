"""The schema of the resolved run config: every field of ``conf/`` typed and ranged, checked before any work starts.

``check(plain)`` validates a resolved config (plain dicts and lists, as ``OmegaConf.to_container`` gives it) against
:class:`RunConfig` and raises the first problem as a one-line :class:`~insight_cli.config.ConfigError` that names the
key, the bad value and what to set instead::

    insight train M=abc      # error: trainer.prompts_per_step='abc' is not an integer: set trainer.prompts_per_step
                             #        (M) to an integer ≥ 1

The models are pydantic (strict: ``16.0`` is not an integer and ``true`` not a number; no NaN or infinity; unknown
keys are errors), so each limit is declared once, beside its field, and pydantic does the checking. Each group with
several shapes (selector, task, launcher) is a union told apart by its ``name``. The limits repeat, in words, the
comment above each field in ``conf/`` (tests/test_config.py holds the two together). ``config.validate`` calls
:func:`check` first; the selectors' own range checks and the GPU-path contradictions (launch/preflight.py) follow.
The validated model is thrown away: the composed DictConfig stays the run's config, so run ids never change.
"""

from __future__ import annotations

import os
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo

from insight_cli.aliases import ALIASES
from insight_cli.errors import ConfigError

# ---------------------------------------------------------------------------------------------- field types
PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
# numpy's legacy seeding takes < 2³², and the code adds small offsets to the seed (evaluation, ranks)
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
Share = Annotated[float, Field(ge=0, le=1)]  # a fraction in [0, 1]
OpenShare = Annotated[float, Field(gt=0, le=1)]  # a fraction in (0, 1]
Positive = Annotated[float, Field(gt=0)]
Text = Annotated[str, Field(min_length=1)]
# a folder name (results/<sweep>/): as insight_cli.launch.plan.NAME_PATTERN
FolderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]

# transformers SchedulerType values that need no extra arguments (cosine_with_min_lr needs min_lr, ...)
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")
# TRL GRPOConfig.loss_type values (trl 1.16)
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")


class Schema(BaseModel):
    """Strict, closed, finite: the shared settings of every config model."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------------------------- selector
class _Belief(Schema):
    lam: float = Field(gt=0, le=1)
    prior: Literal["uniform", "warmstart"]


class _Weight(Schema):
    mu: Share
    eta: float = Field(ge=0)


class _MI(Schema):
    K: PosInt


class RandomSelector(Schema):
    name: Literal["random"]


class DynamicSamplingSelector(Schema):
    name: Literal["dynamic_sampling"]
    max_gen_batches: PosInt


class ExpectedDifficultySelector(_Belief):
    name: Literal["expected_difficulty"]


class InverseEvidenceSelector(_Belief):
    name: Literal["inverse_evidence"]


class MoPPSSelector(_Belief):
    name: Literal["mopps"]
    gamma: Share


class WMISelector(_Belief, _Weight, _MI):
    name: Literal["wmi"]


class WMISampledSelector(_Belief, _Weight, _MI):
    name: Literal["wmi_sampled"]


class WMIMIOnlySelector(_Belief, _MI):
    name: Literal["wmi_mi_only"]


class WMIWeightOnlySelector(_Belief, _Weight):
    name: Literal["wmi_weight_only"]


class DPSSelector(Schema):
    name: Literal["dps"]
    lam: float = Field(gt=0, le=1)
    state_dtype: Literal["float32", "float64"]


class CROPISelector(Schema):
    name: Literal["cropi"]
    rho: OpenShare
    stage_steps: PosInt
    train_rollouts: int = Field(ge=2)
    valid_rollouts: int = Field(ge=2)
    valid_size: PosInt
    temperature: Positive
    sparse_dim: PosInt
    proj_dim: PosInt
    valid_seed: Seed
    batch_prompts: PosInt


Selector = Annotated[
    Union[  # noqa: UP007 (a discriminated union reads better spelled out)
        RandomSelector,
        DynamicSamplingSelector,
        ExpectedDifficultySelector,
        InverseEvidenceSelector,
        MoPPSSelector,
        WMISelector,
        WMISampledSelector,
        WMIMIOnlySelector,
        WMIWeightOnlySelector,
        DPSSelector,
        CROPISelector,
    ],
    Field(discriminator="name"),
]


# ---------------------------------------------------------------------------------------------- task
class CountdownTask(Schema):
    name: Literal["countdown"]
    source: Literal["generated", "public"]
    hub_id: Text
    local_path: Text | None
    train_size: PosInt
    four_number_share: Share
    train_seed: Seed
    eval_size: PosInt
    eval_seed: Seed
    prompt_style: Literal["compact", "tinyzero"]
    format_score: float = Field(ge=0, lt=1)
    public_eval_rows: list[NonNegInt] = Field(min_length=2, max_length=2)
    eval_cd4: bool
    cd4_seed: Seed
    chat_template: bool

    @model_validator(mode="after")
    def _rows(self) -> CountdownTask:
        start, stop = self.public_eval_rows
        if start >= stop:
            raise ValueError(f"task.public_eval_rows=[{start}, {stop}] is empty: give [start, stop) with start < stop")
        if self.source == "public" and self.train_size > start:
            raise ValueError(
                f"task.train_size={self.train_size} overlaps the evaluation rows from {start}: "
                f"set task.train_size ≤ {start} or move task.public_eval_rows"
            )
        return self


class _Catalog(Schema):
    """A task whose sets are named in ``sets``: the training and evaluated sets must be among them."""

    train_set: Text
    train_size: NonNegInt
    eval_sets: list[Text] = Field(min_length=1)
    eval_size: NonNegInt
    prompt_style: Literal["boxed", "plain"]
    enable_thinking: bool
    chat_template: bool

    @model_validator(mode="after")
    def _known_sets(self) -> _Catalog:
        known = ", ".join(self.sets)  # type: ignore[attr-defined]
        for key, name in [("train_set", self.train_set), *(("eval_sets", n) for n in self.eval_sets)]:
            if name not in self.sets:  # type: ignore[attr-defined]
                raise ValueError(f"task.{key} names {name!r}, which task.sets does not have: choose from {known}")
        if len(set(self.eval_sets)) < len(self.eval_sets):
            raise ValueError(f"task.eval_sets={self.eval_sets} repeats a set: name each set once")
        return self


class MathSet(Schema):
    size: PosInt | None
    hub_id: Text
    hub_config: Text | None
    split: Text
    problem_field: Text
    answer_field: Text
    answer_from_boxed: bool
    local_path: Text | None


class MathTask(_Catalog):
    name: Literal["math"]
    verify_timeout_s: PosInt
    item_timeout_s: Positive
    batch_timeout_s: Positive
    require_boxed: bool
    reward_workers: PosInt
    sets: dict[str, MathSet]


class ChoiceSet(Schema):
    size: PosInt | None
    hub_id: Text
    hub_config: Text | None
    split: Text
    format: Literal["mmlu", "gpqa"]
    subjects: Literal["stem"] | list[Text] | None
    gated: bool
    local_path: Text | None


class GeneralTask(_Catalog):
    name: Literal["general"]
    option_seed: Seed
    shuffle_options: bool
    sets: dict[str, ChoiceSet]


Task = Annotated[Union[CountdownTask, MathTask, GeneralTask], Field(discriminator="name")]  # noqa: UP007


# ---------------------------------------------------------------------------------------------- model
class TinyArchitecture(Schema):
    hidden_size: PosInt
    intermediate_size: PosInt
    num_hidden_layers: PosInt
    num_attention_heads: PosInt
    num_key_value_heads: PosInt
    head_dim: PosInt
    max_position_embeddings: PosInt

    @model_validator(mode="after")
    def _heads(self) -> TinyArchitecture:
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"model.tiny.num_key_value_heads={self.num_key_value_heads} does not divide "
                f"model.tiny.num_attention_heads={self.num_attention_heads}: choose a divisor of it (grouped-query)"
            )
        return self


class Warmstart(Schema):
    steps: PosInt
    batch_size: PosInt
    lr: OpenShare
    num_problems: PosInt
    seed: Seed


class VLLM(Schema):
    enabled: bool
    gpu_memory_utilization: OpenShare
    tensor_parallel_size: PosInt
    enable_sleep_mode: bool


class Model(Schema):
    name: Text
    hf_id: Text | None
    dtype: Literal["float32", "bfloat16", "float16"]
    gradient_checkpointing: bool
    gpus: NonNegInt
    distributed: Literal["none", "zero3", "fsdp"]
    tiny: TinyArchitecture | None
    warmstart: Warmstart | None
    generation_cache: Literal["static", "dynamic"]
    vllm: VLLM

    @model_validator(mode="after")
    def _buildable(self) -> Model:
        if self.hf_id is None and (self.tiny is None or self.warmstart is None):
            raise ValueError(
                f"model {self.name} has model.hf_id=null, so it is built locally, but model.tiny or model.warmstart "
                "is null: set model.hf_id=<hub id or checkpoint folder>, or use --model tiny-cpu"
            )
        return self


# ---------------------------------------------------------------------------------------------- trainer
class Evaluation(Schema):
    every: PosInt
    n_samples: PosInt
    temperature: Positive
    num_problems: PosInt | None
    pool_problems: NonNegInt
    batch_size: PosInt


class Trainer(Schema):
    name: Text
    steps: PosInt
    prompts_per_step: PosInt
    num_generations: int = Field(ge=2)
    micro_batches: PosInt
    learning_rate: OpenShare
    lr_scheduler: Literal[LR_SCHEDULERS]  # type: ignore[valid-type]
    warmup_ratio: Share
    beta: float = Field(ge=0)
    epsilon: OpenShare
    loss_type: Literal[LOSS_TYPES]  # type: ignore[valid-type]
    max_grad_norm: float = Field(ge=0)
    temperature: Positive
    max_completion_length: PosInt
    save_every: PosInt
    eval: Evaluation


# ---------------------------------------------------------------------------------------------- launcher
class _Launcher(Schema):
    gpus_per_node: NonNegInt | None
    processes: PosInt | None
    seconds_per_step: Positive | None


class _Submitit(_Launcher):
    cpus_per_task: PosInt | None
    timeout_min: PosInt
    signal_delay_s: NonNegInt
    setup: list[str]

    @model_validator(mode="after")
    def _signal_in_time(self) -> _Submitit:
        if self.signal_delay_s >= 60 * self.timeout_min:
            raise ValueError(
                f"launcher.signal_delay_s={self.signal_delay_s} is not shorter than launcher.timeout_min="
                f"{self.timeout_min} minutes: the checkpoint signal would come before the run starts; lower it"
            )
        return self


class InprocessLauncher(_Launcher):
    name: Literal["inprocess"]


class LocalLauncher(_Submitit):
    name: Literal["local"]
    max_requeues: int = Field(ge=0, le=5)


class SlurmLauncher(_Submitit):
    name: Literal["slurm"]
    partition: Text | None
    account: Text | None
    qos: Text | None
    constraint: Text | None
    mem_gb: PosInt | None
    max_requeues: NonNegInt
    array_parallelism: PosInt
    job_name: Text
    additional: dict[str, Any]
    python: Text | None


Launcher = Annotated[Union[InprocessLauncher, LocalLauncher, SlurmLauncher], Field(discriminator="name")]  # noqa: UP007


# ---------------------------------------------------------------------------------------------- the run
class Pool(Schema):
    factor: float = Field(ge=1)


class Paths(Schema):
    results_dir: Text
    cache_dir: Text
    data_dir: Text


class RunConfig(Schema):
    # the order of the fields is the order problems are reported in: the trainer first, because selector.K
    # follows trainer.num_generations (K) and the user typed the latter
    seed: Seed
    sweep: FolderName
    trainer: Trainer
    pool: Pool
    selector: Selector
    task: Task
    model: Model
    launcher: Launcher
    # checked by insight_cli/train/tracking.py (its own group of options)
    tracking: dict[str, Any]
    paths: Paths

    @model_validator(mode="after")
    def _fits_the_pool(self) -> RunConfig:
        size, m = self.task.train_size, self.trainer.prompts_per_step
        if size and size < m:
            raise ValueError(
                f"task.train_size={size} is smaller than trainer.prompts_per_step (M)={m}: a step needs M distinct "
                f"prompts; set task.train_size ≥ {m} or M ≤ {size}"
            )
        if size and self.trainer.eval.pool_problems > size:
            raise ValueError(
                f"trainer.eval.pool_problems={self.trainer.eval.pool_problems} is more than the pool "
                f"(task.train_size={size}): set it ≤ {size}, or 0 for no pool evaluation"
            )
        return self


# ---------------------------------------------------------------------------------------------- checking
def check(plain: dict[str, Any]) -> None:
    """Validate a resolved config (plain containers); raise the first problem as a one-line ConfigError."""
    try:
        RunConfig.model_validate(plain)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" ({len(errors) - 1} more problem{'s' * (len(errors) > 2)} after this one)" if len(errors) > 1 else ""
        raise ConfigError(describe_error(errors[0]) + more) from None


def describe_error(error: dict[str, Any]) -> str:
    """One pydantic error as one line: the key, its value, what is wrong and what to set instead."""
    key, field = locate(error["loc"])
    kind, value = error["type"], error.get("input")
    if kind == "value_error":  # a cross-field check: its message is already the whole line
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "extra_forbidden":
        return f"unknown config key '{key}': check the spelling with `insight config show` (struct mode is on)"
    if kind == "missing":
        return f"{key} is missing: every option file of its group must set it (see the shipped options in conf/)"
    if kind == "union_tag_invalid":
        tags = error["ctx"]["expected_tags"].replace("'", "")
        return f"{key}.name={error['ctx']['tag']!r} is unknown: choose one of {tags}"
    problem = PROBLEMS.get(kind, "is not valid")
    alias = next((f" ({a})" for a, target in ALIASES.items() if target == key), "")
    expected = expectation(field) if field is not None else error["msg"].lower()
    if kind == "string_pattern_mismatch":
        expected = "a folder name (letters, digits, '_', '.', '-'; starting with a letter or digit)"
    source = ENVIRONMENT.get(key)
    # conf/paths/default.yaml reads these variables: a user who set one may never have typed the key
    if source is not None and os.environ.get(source) == value:
        return f"{key}={show(value)} {problem}, from ${source}: set ${source} to {expected}, or unset it"
    return f"{key}={show(value)} {problem}: set {key}{alias} to {expected}"


# the environment variables conf/paths/default.yaml reads, by the key they set
ENVIRONMENT = {
    "paths.results_dir": "INSIGHT_RESULTS_DIR",
    "paths.cache_dir": "INSIGHT_CACHE_DIR",
    "paths.data_dir": "INSIGHT_DATA_DIR",
}


PROBLEMS = {
    "int_type": "is not an integer",
    "int_parsing": "is not an integer",
    "int_from_float": "is not an integer",
    "float_type": "is not a number",
    "float_parsing": "is not a number",
    "finite_number": "is not finite",
    "bool_type": "is not true or false",
    "bool_parsing": "is not true or false",
    "string_type": "is not text",
    "string_too_short": "is empty",
    "string_pattern_mismatch": "is not a folder name",
    "literal_error": "is unknown",
    "greater_than": "is out of range",
    "greater_than_equal": "is out of range",
    "less_than": "is out of range",
    "less_than_equal": "is out of range",
    "list_type": "is not a list",
    "too_short": "has too few items",
    "too_long": "has too many items",
    "dict_type": "is not a mapping",
    "model_type": "is not a mapping",
    "model_attributes_type": "is not a mapping",
}


def locate(loc: tuple[Any, ...]) -> tuple[str, FieldInfo | None]:
    """The dotted config key of an error location and its field (None where the location leaves the models).

    Discriminated unions put the tag in the location (``selector.wmi.mu``): it is dropped from the key."""
    parts: list[str] = []
    annotation: Any = RunConfig
    field: FieldInfo | None = None
    for item in loc:
        annotation = _strip(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(item))
            if field is None:  # an unknown key
                parts.append(str(item))
                return ".".join(parts), None
            parts.append(str(item))
            annotation = field.annotation
        elif _members(annotation) and str(item) in _tags(annotation):
            annotation = _tags(annotation)[str(item)]
        elif get_origin(annotation) is dict:
            parts.append(str(item))
            annotation, field = get_args(annotation)[1], None
        else:  # a list index or a plain union member: the key ends here
            break
    return ".".join(parts), field


def _strip(annotation: Any) -> Any:
    """Annotated[T, ...] → T; Optional[T] → T."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    members = [a for a in _members(annotation) if a is not type(None)]
    return _strip(members[0]) if len(members) == 1 else annotation


def _members(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()


def _tags(annotation: Any) -> dict[str, type[BaseModel]]:
    """name tag → model of a discriminated union."""
    out = {}
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel) and "name" in member.model_fields:
            for tag in get_args(member.model_fields["name"].annotation):
                out[str(tag)] = member
    return out


def expectation(field: FieldInfo) -> str:
    """What a field accepts, in words: ``an integer ≥ 1``, ``a number in (0, 1]``, ``null or one of a, b``."""
    return _words(field.annotation, list(field.metadata))


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any]]:
    """``Annotated[T, c1, Field(c2)]`` → (T, metadata + [c1, c2]); any other annotation unchanged."""
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        for item in extra:
            metadata = metadata + (list(item.metadata) if isinstance(item, FieldInfo) else [item])
    return annotation, metadata


def _words(annotation: Any, metadata: list[Any]) -> str:
    annotation, metadata = _unwrap(annotation, metadata)
    members = _members(annotation)
    if members:
        words = [_words(m, list(metadata)) for m in members if m is not type(None)]
        prefix = "null or " if type(None) in members else ""
        return prefix + " or ".join(words)
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(annotation))
    if get_origin(annotation) is list:
        return f"a list of {_words(get_args(annotation)[0], [])}".replace(" of an ", " of ").replace(" of a ", " of ")
    if get_origin(annotation) is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "a mapping"
    base = {int: "an integer", float: "a number", bool: "true or false", str: "text"}.get(annotation, "a value")
    return f"{base} {_bounds(metadata)}".strip()


def _bounds(metadata: list[Any]) -> str:
    """Range words from annotated-types constraints: ``≥ 1``, ``in (0, 1]``, ``of 1 or more characters``."""
    low = next(((m.ge, "[") for m in metadata if isinstance(m, at.Ge)), None) or next(
        ((m.gt, "(") for m in metadata if isinstance(m, at.Gt)), None
    )
    high = next(((m.le, "]") for m in metadata if isinstance(m, at.Le)), None) or next(
        ((m.lt, ")") for m in metadata if isinstance(m, at.Lt)), None
    )
    if low and high:
        return f"in {low[1]}{low[0]}, {high[0]}{high[1]}"
    if low:
        return f"{'≥' if low[1] == '[' else '>'} {low[0]}"
    if high:
        return f"{'≤' if high[1] == ']' else '<'} {high[0]}"
    if any(isinstance(m, at.MinLen) for m in metadata):
        return "(not empty)"
    return ""


def limits(field: FieldInfo) -> list[str]:
    """What the comment above a field in conf/ must name: its bounds as ``expectation`` writes them (``≥ 1``,
    ``[0, 1]``, ``(0, 1]``), every allowed value of a choice, and ``null`` where null is allowed."""
    return _limits(field.annotation, list(field.metadata))


def _limits(annotation: Any, metadata: list[Any]) -> list[str]:
    annotation, metadata = _unwrap(annotation, metadata)
    members = _members(annotation)
    if members:
        out = ["null"] if type(None) in members else []
        return out + [x for m in members if m is not type(None) for x in _limits(m, list(metadata))]
    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    if annotation in (int, float):
        bounds = _bounds(metadata)
        return [bounds.removeprefix("in ")] if bounds else []
    return []


def show(value: Any) -> str:
    """A value as the user would type it in an override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return repr(value)
    return str(value)
