"""Tasks: load problems, build prompts, verify completions. Depends on nothing else in ``insight_cli``.

Every task module exposes the same small interface, the only one the trainer uses:

- ``load_train(task_cfg, data_dir) -> list[dict]``: problems ``{"id", "prompt", ...scorer fields}``, ids 0..n−1
- ``load_eval(task_cfg, data_dir) -> dict[str, list[dict]]``: benchmark name → problems of the same shape
- ``build_prompt(problem, style) -> str``
- ``score(completion, problem, task_cfg) -> (reward, accuracy)`` and
  ``score_batch(completions, problems, task_cfg) -> (rewards, accuracies, counters)``
- ``describe(task_cfg, data_dir) -> dict[str, int]``: set name → size, for ``insight config show``
"""

from __future__ import annotations

from types import ModuleType

from insight_cli.tasks import countdown, math, mcq

# task name (conf/task/<name>.yaml `name`) → module; "general" is the multiple-choice module
TASKS: dict[str, ModuleType] = {"countdown": countdown, "math": math, "general": mcq}


def get_task(name: str) -> ModuleType:
    """The task module called ``name``; one-line ValueError naming the choices otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}: set task=<one of {', '.join(sorted(TASKS))}>") from None
