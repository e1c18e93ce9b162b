"""Launching runs: ``executor`` (in-process, submitit local, Slurm), ``job`` (the preemption-safe Checkpointable),
``plan`` (sweep expansion), ``ledger`` (per-sweep job ledger), ``sweep`` (classify and submit), ``scheduler``
(squeue/sacct/process queries) and ``resources`` (GPU presets per model size)."""
