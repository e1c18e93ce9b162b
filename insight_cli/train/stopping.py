"""The run's stop flag: set by signal handlers, read by every long loop (warm start, prior, training, evaluation).

Signal handlers only set a flag (nothing else is safe inside one). The training loop reads it at the end of each
step and stops there with a checkpoint (:func:`stop_requested_anywhere`). The loops that have nothing to checkpoint —
the warm start's SFT, the rollouts of the belief prior, an evaluation — read it between batches and raise
:class:`StopRequested`, which ends the run as ``preempted``: running the same command again resumes it from its
newest checkpoint (or starts it again when it had none). Without these checks a SIGTERM during a many-minute warm
start did nothing at all (issue #17: ``timeout 60 insight train`` ran 325 s).
"""

from __future__ import annotations

import threading

_STOP = threading.Event()


class StopRequested(KeyboardInterrupt):
    """A stop asked for by a signal, honoured between two batches of a loop without a checkpoint.

    A KeyboardInterrupt, so that every layer that already treats Ctrl-C as "preempted, resumable" (run_training,
    the job, the CLI) treats it the same way."""


def request_stop() -> None:
    """Ask the running work to stop: training saves a checkpoint at the end of the current step and returns
    'preempted'; the other loops raise StopRequested at their next batch. Safe in a signal handler or a thread."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def clear_stop() -> None:
    _STOP.clear()


def raise_if_stopped(phase: str) -> None:
    """Raise StopRequested when a stop was asked for; ``phase`` names the loop for the message."""
    if _STOP.is_set():
        raise StopRequested(f"stopped by a signal during {phase}; the same command resumes the run")


def stop_requested_anywhere() -> bool:
    """Whether any rank was asked to stop (one rank alone: whether this one was). Called by every rank at the end of
    every step: ranks must leave the loop at the same step, or those that go on wait forever in the next step's
    collectives (the broadcast of the chosen prompts, the gather of outcomes, ZeRO-3's parameter gathers)."""
    import torch
    import torch.distributed as dist

    asked = stop_requested()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return asked
    from accelerate import PartialState

    flag = torch.tensor([int(asked)], device=PartialState().device)  # a CUDA tensor for NCCL, a CPU one for gloo
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())
