"""Launching runs: ``executor`` (in-process, submitit local, Slurm), ``job`` (the preemption-safe Checkpointable),
``plan`` (sweep expansion), ``preflight`` (the checks that reject a run before launch), ``sweep`` (classify and
submit), ``scheduler`` (squeue/sacct/process queries), ``resources`` (GPU presets per model size), ``processes`` (the
launch command of a multi-process run and the job's side of running it) and ``worker`` (one rank of such a run).
The sweep's ledger lives in insight_cli/runs.py beside the run directory it indexes."""
