"""One training process of a run: ``python -m insight_cli.launch.worker RUN_DIR``.

Started once per rank by the launch command of a multi-process job (insight_cli/launch/processes.py), or by hand
for one process. It trains the run directory's own resolved ``config.yaml`` (written once, before the job was
submitted) with :func:`insight_cli.train.run.run_training`, which resumes from the newest checkpoint. SIGUSR2,
SIGTERM and the job's preemption signal ask it to stop after the current step; every rank stops at the same step.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def stop_signals() -> set[int]:
    """SIGUSR2 (what the job forwards), SIGTERM (Slurm, torchrun's shutdown) and submitit's preemption signal."""
    wanted = {signal.SIGUSR2, signal.SIGTERM}
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL")
    if name:
        wanted.add(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
    return wanted


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m insight_cli.launch.worker RUN_DIR", file=sys.stderr)
        return 2
    from insight_cli.train.stopping import request_stop

    # first, so a stop sent while the heavy imports below run is kept (until now the signal was ignored)
    for signum in stop_signals():
        signal.signal(signum, lambda *_: request_stop())

    import torch
    from accelerate import PartialState
    from omegaconf import OmegaConf

    from insight_cli.runs import RunDir
    from insight_cli.train.run import run_training

    run_dir = RunDir(Path(args[0]))
    cfg = OmegaConf.load(run_dir.file("config.yaml"))
    OmegaConf.set_struct(cfg, True)
    # CPU ranks: accelerate joins the gloo process group only when told the run is on CPU
    state = PartialState(cpu=not torch.cuda.is_available())
    result = run_training(cfg, run_dir)
    print(f"rank {state.process_index}/{state.num_processes}: {result['state']} at step {result['step']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
