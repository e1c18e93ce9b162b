"""insight's selectors inside other trainers (DESIGN §8): a verl data sampler and a public TRL GRPOTrainer subclass.

    from insight_cli.integrations.trl import InsightGRPOTrainer      # users' own TRL scripts (docs/trl.md)
    data.sampler.class_path=pkg://insight_cli.integrations.verl      # verl's data.sampler hook (docs/verl.md)

Both build their selection with :func:`insight_cli.integrations.spec.build_prompt_selection` from the same
selector spec (a name, a mapping of options, or a ready selector) and drive the same
:class:`insight_cli.train.selection.PromptSelection` as ``insight train``. This package imports the selectors and
the host trainer's library, never the reverse; nothing here is imported by ``insight_cli.selectors``.
"""
