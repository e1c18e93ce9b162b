"""Load the policy model and tokenizer: a Hugging Face checkpoint by id/path, or the tiny local CPU model.

The tiny model (built by :mod:`insight_cli.train.tiny`) is warm-started by :mod:`insight_cli.train.warmstart`, then
saved with ``save_pretrained`` so that it loads through exactly the same ``from_pretrained`` path as a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def torch_dtype(name: str):
    import torch

    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in dtypes:
        raise ValueError(f"model.dtype={name!r} is unknown: use one of {', '.join(dtypes)}")
    return dtypes[name]


def load_pretrained(path_or_id: str, dtype: str = "float32"):
    """Model and tokenizer through ``from_pretrained`` (hub id or local folder); left padding, a pad token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path_or_id, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(path_or_id, dtype=torch_dtype(dtype))
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load model {path_or_id!r} ({' '.join(str(exc).split())[:160]}): give a reachable hub id or a "
            "local checkpoint folder with model.hf_id=PATH"
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "tie_word_embeddings", False) and model._tied_weights_keys:
        # Checkpoints leave tied output weights out. On resume the Trainer loads them with strict=False and warns
        # "missing keys: lm_head.weight" unless they are listed here, in which case it re-ties them instead.
        # save_pretrained already omits them, so listing them changes nothing that is saved.
        model._keys_to_ignore_on_save = set(model._keys_to_ignore_on_save or ()) | set(model._tied_weights_keys)
    return model, tokenizer


def load_model(model_cfg: Any, cache_dir: str | Path, progress: bool = True):
    """The policy and its tokenizer for ``cfg.model``: a checkpoint by id, or the cached warm-started tiny model.

    Returns (model, tokenizer, info) where info names the source (and the tiny model's cache folder).
    """
    if model_cfg.hf_id:
        model, tokenizer = load_pretrained(str(model_cfg.hf_id), str(model_cfg.dtype))
        return model, tokenizer, {"source": str(model_cfg.hf_id)}
    from insight_cli.train.warmstart import ensure_tiny_model

    folder = ensure_tiny_model(model_cfg, Path(cache_dir), progress=progress)
    model, tokenizer = load_pretrained(str(folder), str(model_cfg.dtype))
    return model, tokenizer, {"source": "tiny", "path": str(folder)}
