"""The tiny CPU model: a Qwen3-architecture causal LM (~0.9M parameters at hidden 128) and its character-level
tokenizer, freshly initialised from ``model.tiny``. A leaf: the warm start builds it, ``model.load_model`` loads it.

Trap avoided: ``<answer>`` tags are ordinary characters, never special tokens — TRL decodes completions with
``skip_special_tokens=True``, which would delete them and zero every reward.
"""

from __future__ import annotations

from typing import Any

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
# Printable ASCII and newline: every character a Countdown prompt or answer uses.
CHARACTERS = [chr(code) for code in range(32, 127)] + ["\n"]


def build_tokenizer():
    """A character-level fast tokenizer (one token per character), left-padded as TRL requires."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate([PAD, EOS, UNK, *CHARACTERS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )


def build_tiny_model(tiny: Any, tokenizer, seed: int):
    """A freshly initialised Qwen3ForCausalLM from the ``model.tiny`` fields (deterministic given the seed)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=int(tiny.hidden_size),
        intermediate_size=int(tiny.intermediate_size),
        num_hidden_layers=int(tiny.num_hidden_layers),
        num_attention_heads=int(tiny.num_attention_heads),
        num_key_value_heads=int(tiny.num_key_value_heads),
        head_dim=int(tiny.head_dim),
        max_position_embeddings=int(tiny.max_position_embeddings),
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
