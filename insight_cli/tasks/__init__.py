"""Tasks: load problems, build prompts, verify completions. Depends on nothing else in ``insight_cli``.

Every task module exposes the same small interface, the only one the trainer uses:

- ``load_train(task_cfg, data_dir) -> list[dict]``: problems ``{"id", "prompt", ...scorer fields}``, ids 0..n−1
- ``load_eval(task_cfg, data_dir) -> dict[str, list[dict]]``: benchmark name → problems of the same shape
- ``build_prompt(problem, style) -> str``
- ``score(completion, problem, task_cfg) -> (reward, accuracy)`` and
  ``score_batch(completions, problems, task_cfg) -> (rewards, accuracies, counters)``
- ``describe(task_cfg, data_dir) -> dict[str, int]``: set name → size, for ``insight config show``

and, optionally (the trainer checks with ``hasattr``), what a run must keep apart — only a task whose problems can
coincide with the tiny model's warm-start corpus (generated Countdown problems) defines them:

- ``exclusion_keys(problems) -> set``: the keys ``load_train`` and ``load_eval`` accept as ``exclude=`` (and skip)
  for ``problems``; the run passes those of the warm-start corpus, so RL and evaluation never see a taught problem
- ``validation_sets(task_cfg, size, seed, exclude) -> dict[str, list[dict]]``: CROPI's validation sets, fresh
  problems whose keys avoid ``exclude`` (a task without it: the first ``size`` problems of each benchmark)
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
