"""``InsightSampler``: insight's prompt selectors as a verl data sampler (verl 0.7's ``data.sampler`` hook).

    data.sampler.class_path=pkg://insight_cli.integrations.verl data.sampler.class_name=InsightSampler
    data.dataloader_num_workers=0 +data.sampler.selector=wmi +data.sampler.journal_dir=<checkpoint dir>/insight

(docs/verl.md has every option and the dataset preparation.) verl builds the sampler with ``create_rl_sampler``,
wraps it in its ``StatefulDataLoader`` (batch size M = ``data.train_batch_size``) and calls ``update(batch)`` after
every step. Each step:

1. The data loader asks for the step's first index: the sampler draws ``pool_factor × M`` candidates, the selector
   keeps M (``PromptSelection.choose``, the same code as ``insight train``), and they are yielded one by one. They are
   chosen lazily, at that moment, so the choice of step k sees every outcome up to step k − 1; asking for step k + 1
   before ``update`` fed step k is an error (``dataloader_num_workers`` > 0 would prefetch).
2. ``update(batch)``: each row's stable prompt id is read from ``extra_info[id_key]`` (not from ``uid``, a fresh
   uuid per step) and mapped to its dataset row; each rollout's score, ``token_level_scores.sum(-1)`` (or the
   ``score_key`` column), is binarised as ``score ≥ threshold``; rollouts are grouped by prompt whatever the row order
   (``balance_batch`` reorders rows) and the selector folds in successes out of trials per prompt.

Checkpoints: ``state_dict`` / ``load_state_dict`` carry the selector's arrays and RNG, the pool RNG, the counters and
the position in the epoch, so verl's ``StatefulDataLoader`` resumes the same sequence. verl 0.7.1 saves its checkpoint
*before* it calls ``update`` for that step, so the saved state lacks the newest step's outcomes; with ``journal_dir``
set, ``update`` also writes each step's grouped outcomes there (a few KB) and a resume folds the missing step back in,
making the resumed run choose exactly as the uninterrupted one. Without it a resume skips that one step's outcomes,
with a warning.

Selector, pool and seeds come from :func:`insight_cli.integrations.spec.build_prompt_selection`; no torch or verl type
is needed below ``update`` (a batch only needs ``.batch[...]`` and ``.non_tensor_batch[...]``), so the class works,
without verl's base class, where verl is not installed (for benches).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sized
from pathlib import Path
from typing import Any

import numpy as np

from insight_cli.integrations.spec import build_prompt_selection
from insight_cli.selectors.base import filters_groups

try:  # verl calls update() only on instances of its curriculum interface
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _SamplerBase
except ImportError:  # verl ≥ 0.8 dropped the hook; without verl the class still works as a plain index iterator
    _SamplerBase = object

STATE_VERSION = 1


def _plain(value: Any) -> Any:
    """An OmegaConf node as plain Python (resolved), anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:
        return value
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _root_select(config: Any, key: str) -> Any:
    """``key`` looked up from the root of the verl config that ``config`` (verl's ``data`` node) belongs to."""
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:
        return None
    if not isinstance(config, DictConfig):
        return None
    return OmegaConf.select(config._get_root(), key, default=None)


def as_id_array(values: Any) -> np.ndarray:
    """The dataset's prompt ids: int64 when every id is an integer, else strings (batches are cast to the same)."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype == object and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in array):
        return array.astype(np.int64)
    return array.astype(str)


def read_stable_ids(data_source: Sized, id_key: str) -> np.ndarray:
    """``extra_info[id_key]`` of every dataset row, in row order.

    verl's RLHFDataset keeps its rows in ``dataframe`` (a ``datasets.Dataset``): the column is read through Arrow in
    one pass. Other datasets are read row by row (``data_source[i]["extra_info"]``), once, when the sampler starts."""
    frame = getattr(data_source, "dataframe", None)
    try:
        if frame is not None and hasattr(frame, "with_format"):
            import pyarrow.compute as pc

            column = frame.with_format("arrow")["extra_info"].combine_chunks()
            return as_id_array(pc.struct_field(column, id_key).to_numpy(zero_copy_only=False))
        if frame is not None and hasattr(frame, "iloc"):  # a pandas DataFrame
            return as_id_array([info[id_key] for info in frame["extra_info"]])
        return as_id_array([data_source[i]["extra_info"][id_key] for i in range(len(data_source))])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"every training row needs a stable prompt id in extra_info.{id_key} ({type(exc).__name__}: {exc}): add "
            "it when preparing the parquet files (docs/verl.md, 'Preparing the dataset')"
        ) from None


class StableIds:
    """Maps stable prompt ids to dataset rows. Integer ids in a compact range (verl's numbering) use a dense table,
    one array lookup per id; any other ids (strings, sparse integers) one sort at start and a binary search each."""

    def __init__(self, ids: np.ndarray):
        self.dtype = ids.dtype
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
        if len(repeated):
            first = ordered[repeated[0]]
            rows = order[ordered == first][:2].tolist()
            raise ValueError(
                f"prompt id {first!r} is on several rows ({rows}): the sampler needs one id per prompt; number the "
                "rows after concatenating the training files (docs/verl.md, 'Preparing the dataset')"
            )
        self.order, self.sorted, self.table, self.low = order, ordered, None, 0
        if ids.dtype.kind == "i" and len(ids) and int(ordered[-1]) - int(ordered[0]) < 4 * len(ids) + 1024:
            self.low = int(ordered[0])
            self.table = np.full(int(ordered[-1]) - self.low + 1, -1, dtype=np.int64)
            self.table[ids - self.low] = np.arange(len(ids), dtype=np.int64)

    def cast(self, values: Any) -> np.ndarray:
        """Ids from a batch column (verl keeps them as an object array) in the dataset ids' dtype."""
        try:
            return np.asarray(values).astype(self.dtype)
        except (TypeError, ValueError):
            raise ValueError(
                f"the batch's prompt ids ({np.asarray(values)[:3].tolist()}) are not of the dataset's id type "
                f"({self.dtype}): prepare the training files and the batch ids with the same extra_info key"
            ) from None

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Dataset rows of ``ids``; an id that is not in the dataset is an error."""
        if self.table is not None:
            offset = ids - self.low
            inside = (offset >= 0) & (offset < len(self.table))
            rows = np.where(inside, self.table[np.where(inside, offset, 0)], -1)
            unknown = rows < 0
        else:
            where = np.minimum(np.searchsorted(self.sorted, ids), len(self.sorted) - 1)
            rows, unknown = self.order[where], self.sorted[where] != ids
        if unknown.any():
            raise ValueError(f"update got prompt ids that are not in the training set: {ids[unknown][:3].tolist()}")
        return rows


def group_rollouts(keys: np.ndarray, solved: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct keys, successes, trials): the rollouts of each prompt counted together, in any row order."""
    prompts, inverse = np.unique(keys, return_inverse=True)
    successes = np.bincount(inverse, weights=solved.astype(np.float64), minlength=len(prompts))
    trials = np.bincount(inverse, minlength=len(prompts)).astype(np.float64)
    return prompts, successes, trials


class InsightSampler(_SamplerBase):
    """A verl curriculum sampler whose every step is chosen by an insight selector (see the module docstring).

    Options, under ``data.sampler`` (add them with ``+data.sampler.<key>=`` on verl's command line):
    ``selector`` (a name of SELECTORS, default wmi), ``options`` (selector options over its paper defaults),
    ``pool_factor`` (M̂/M, default 16), ``rollouts_per_prompt`` (K, default actor_rollout_ref.rollout.n),
    ``seed`` (default data.seed, else 0), ``id_key`` (default index), ``threshold`` (default 1.0), ``score_key``
    (default null: token_level_scores summed over tokens), ``journal_dir`` (default null)."""

    def __init__(self, data_source: Sized, data_config: Any):
        settings = _plain(data_config.get("sampler", None)) or {}
        if int(data_config.get("dataloader_num_workers", 0) or 0) != 0:
            raise ValueError(
                "InsightSampler chooses each step after the previous step's update: set data.dataloader_num_workers=0"
            )
        self.prompts_per_step = int(data_config.get("gen_batch_size", None) or data_config.get("train_batch_size"))
        k = settings.get("rollouts_per_prompt") or _root_select(data_config, "actor_rollout_ref.rollout.n")
        if not k:
            raise ValueError("set +data.sampler.rollouts_per_prompt to actor_rollout_ref.rollout.n (K)")
        self.rollouts_per_prompt = int(k)
        self.num_prompts = len(data_source)
        self.steps_per_epoch = self.num_prompts // self.prompts_per_step
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"data.train_batch_size={self.prompts_per_step} is larger than the training set ({self.num_prompts})"
            )
        spec = {"name": settings.get("selector", "wmi"), **(settings.get("options") or {})}
        seed = settings.get("seed", None)
        seed = data_config.get("seed", None) if seed is None else seed
        self.selection = build_prompt_selection(
            spec,
            num_prompts=self.num_prompts,
            prompts_per_step=self.prompts_per_step,
            rollouts_per_prompt=self.rollouts_per_prompt,
            pool_factor=settings.get("pool_factor", None),
            seed=int(seed or 0),
        )
        if filters_groups(self.selection.selector):
            raise ValueError(
                f"selector '{self.selection.selector.name}' filters groups after the rollouts, which a sampler cannot "
                "do: use verl's own algorithm.filter_groups (DAPO recipe) with selector=random instead"
            )
        self.id_key = str(settings.get("id_key", "index"))
        self.threshold = float(settings.get("threshold", 1.0))
        self.score_key = settings.get("score_key", None)
        journal = settings.get("journal_dir", None)
        self.journal_dir = Path(journal) if journal else None
        self.ids = StableIds(read_stable_ids(data_source, self.id_key))
        # position in the epoch and in the current step; `awaiting`: the step was chosen, its outcomes not yet seen
        self.epoch_yielded = 0
        self.step_rows = np.zeros(0, dtype=np.int64)
        self.step_cursor = 0
        self.awaiting = False
        self._resume_epoch = False

    # ---------------------------------------------------------------- the index stream
    def __len__(self) -> int:
        return self.steps_per_epoch * self.prompts_per_step

    def __iter__(self) -> Iterator[int]:
        if self._resume_epoch:  # the first iterator after load_state_dict continues the saved epoch
            self._resume_epoch = False
        else:
            self.epoch_yielded = 0
        while self.epoch_yielded < len(self):  # an epoch is a whole number of steps
            if self.step_cursor >= len(self.step_rows):
                self._choose_step()
            for row in self.step_rows[self.step_cursor :].tolist():
                self.step_cursor += 1
                self.epoch_yielded += 1
                yield row

    def _choose_step(self) -> None:
        if self.awaiting:
            raise RuntimeError(
                "InsightSampler was asked for a new step before update() fed the previous step's outcomes: run verl's "
                "PPO trainer with data.dataloader_num_workers=0 (it calls update after every step)"
            )
        self.step_rows = self.selection.choose(self.prompts_per_step)
        self.step_cursor = 0
        self.awaiting = True

    # ---------------------------------------------------------------- outcomes
    def batch_ids(self, batch: Any) -> np.ndarray:
        """The stable prompt id of every row: verl copies ``extra_info.index`` to the ``index`` column; other keys
        are read from ``extra_info`` itself."""
        columns = batch.non_tensor_batch
        if self.id_key == "index" and "index" in columns:
            return self.ids.cast(columns["index"])
        if "extra_info" not in columns:
            raise ValueError(f"the batch has no extra_info column to read the prompt id extra_info.{self.id_key} from")
        return self.ids.cast([info[self.id_key] for info in columns["extra_info"]])

    def batch_scores(self, batch: Any) -> np.ndarray:
        """Each rollout's score: the ``score_key`` column, else ``token_level_scores`` summed over tokens."""
        if self.score_key:
            return np.asarray(batch.non_tensor_batch[self.score_key], dtype=np.float64)
        return batch.batch["token_level_scores"].sum(-1).double().cpu().numpy()

    def update(self, batch: Any) -> None:
        """Fold one step's scored rollouts into the selector (verl calls this after every step)."""
        if not self.awaiting:
            raise RuntimeError("InsightSampler.update() came without a step chosen since the last update")
        solved = np.nan_to_num(self.batch_scores(batch), nan=-np.inf) >= self.threshold
        prompt_ids, successes, trials = group_rollouts(self.batch_ids(batch), solved)
        rows = self.ids.rows(prompt_ids)  # one lookup per prompt, not per rollout
        # fold in, in the order the prompts were chosen (what insight's own loop does)
        chosen = self.step_rows
        by_row = np.argsort(rows)
        where = np.minimum(np.searchsorted(rows[by_row], chosen), len(rows) - 1)
        present = rows[by_row][where] == chosen
        if present.sum() != len(rows):
            strays = np.setdiff1d(rows, chosen)[:3].tolist()
            raise ValueError(f"update got rollouts of dataset rows {strays} that were not chosen for this step")
        order = by_row[where[present]]
        self._observe(chosen[present], successes[order], trials[order])

    def _observe(self, rows: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> None:
        choice = self.selection.choices - 1
        self.selection.observe_counts(rows, successes, trials)
        self.awaiting = False
        if self.journal_dir is not None:
            self.journal_dir.mkdir(parents=True, exist_ok=True)
            partial = self.journal_dir / f"outcomes-{choice}.partial.npz"
            np.savez(partial, rows=rows, successes=successes, trials=trials)
            os.replace(partial, self.journal_dir / f"outcomes-{choice}.npz")

    # ---------------------------------------------------------------- checkpoints (verl's StatefulDataLoader)
    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "selector": self.selection.selector.name,
            "num_prompts": self.num_prompts,
            "selection": self.selection.state_dict(),
            "epoch_yielded": self.epoch_yielded,
            "step_rows": self.step_rows.copy(),
            "step_cursor": self.step_cursor,
            "awaiting": self.awaiting,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("selector") != self.selection.selector.name or state.get("num_prompts") != self.num_prompts:
            raise ValueError(
                f"the checkpoint's sampler state is for selector '{state.get('selector')}' over "
                f"{state.get('num_prompts')} prompts, not '{self.selection.selector.name}' over {self.num_prompts}: "
                "resume with the same data.sampler settings and training files"
            )
        self.selection.load_state_dict(state["selection"])
        self.epoch_yielded = int(state["epoch_yielded"])
        self.step_rows = np.asarray(state["step_rows"], dtype=np.int64)
        self.step_cursor = int(state["step_cursor"])
        self.awaiting = bool(state["awaiting"])
        self._resume_epoch = True
        if self.awaiting:
            self.selection.observations = self.selection.choices - 1  # chosen, not yet observed
            if self.step_cursor >= len(self.step_rows):
                self._replay_journal()

    def _replay_journal(self) -> None:
        """Fold in the outcomes verl's checkpoint missed (saved before update) from the journal, if there."""
        choice = self.selection.choices - 1
        path = None if self.journal_dir is None else self.journal_dir / f"outcomes-{choice}.npz"
        try:
            if path is None:
                raise FileNotFoundError
            with np.load(path) as saved:
                rows, successes, trials = saved["rows"], saved["successes"], saved["trials"]
        except FileNotFoundError:
            where = "set data.sampler.journal_dir to keep them" if path is None else f"{path} is missing"
            warnings.warn(
                f"the checkpoint was saved before step {choice + 1}'s outcomes reached the sampler ({where}): the "
                "selector resumes without them",
                stacklevel=3,
            )
            self.awaiting = False
            return
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            warnings.warn(f"{path} is unreadable ({exc}): the selector resumes without that step", stacklevel=3)
            self.awaiting = False
            return
        if not np.isin(rows, self.step_rows).all():
            warnings.warn(f"{path} holds another step's prompts: the selector resumes without them", stacklevel=3)
            self.awaiting = False
            return
        self._observe(rows, successes, trials)


__all__ = ["InsightSampler", "group_rollouts", "read_stable_ids"]
