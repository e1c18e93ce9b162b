"""The job every launcher runs: :class:`TrainJob`, a submitit ``Checkpointable`` around ``run_training``.

Preemption, step by step (no step runs twice, none is skipped):

1. The job replaces submitit's signal handlers with its own: the preemption signal (SIGUSR2, sent by Slurm
   ``signal_delay_s`` before the time limit, by ``scancel --signal=USR2`` or by the local executor at its
   timeout) and SIGTERM (sent by ``scontrol requeue``, by preemption with PreemptMode=REQUEUE and by scancel).
   Both only call :func:`insight_cli.train.stopping.request_stop` — a flag; nothing runs inside the handler.
2. The training loop finishes the current step, saves a checkpoint (model, optimizer, scheduler, selector and
   pool-sampler state, RNG states, step) and returns ``{"state": "preempted"}``.
3. After SIGUSR2 the job requeues itself (``scontrol requeue`` on Slurm, exit code 144 for submitit's local
   controller) unless ``launcher.max_requeues`` is spent; after SIGTERM Slurm has already decided (requeue or
   cancel), so the job just exits.
4. The restarted job finds the same run directory (the run id is a config hash), appends its attempt to
   ``meta.json``, and ``run_training`` resumes from the newest checkpoint, dropping any record written after it.

Runs on several processes (``model.gpus > 1``, or ``launcher.processes`` CPU ranks): the job does not train
itself; it starts the launch command (``accelerate launch`` / ``torchrun``, see launch/processes.py) of one worker per
rank on the run directory prepared before submission, passes a stop signal on to every rank, and after the
launcher exits reads the run's status.json — then steps 3 and 4 above are the same.

Why not submitit's own handler: it calls ``checkpoint()`` inside the signal handler, in the middle of a step,
and requeues and exits at once — the step's work would be lost or done twice. It also counts a SIGUSR2 as a
timeout (against ``max_num_timeout``) whenever ``timeout_min`` < 50, and ignores SIGTERM, so a plain
``scontrol requeue`` killed the run and restarted it from its last periodic checkpoint. ``checkpoint()`` below is
kept for the one moment our handlers are not installed yet (unpickling): it resubmits the same job, which resumes.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from submitit.helpers import Checkpointable

from insight_cli.launch.preflight import training_processes
from insight_cli.runs import Ledger, RunDir

LOCAL_REQUEUE_EXIT = 144  # submitit's local controller restarts a task that exits with this code


class _StopSignals:
    """Signal handlers that ask the training to stop after the current step and remember which signal came.

    ``in_process``: the training runs in this process, so the handler sets its stop flag; otherwise (a
    multi-process run) the job only notes the signal and passes it on to the ranks (launch/processes.py)."""

    def __init__(self, preempt_signal: int, in_process: bool = True):
        self.preempt_signal = preempt_signal
        self.in_process = in_process
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        # SIGUSR2 (requeue wanted) wins over the SIGTERM that our own `scontrol requeue` triggers afterwards
        if self.received != self.preempt_signal:
            self.received = signum
        if self.in_process:
            from insight_cli.train.stopping import request_stop

            request_stop()

    def _interrupt(self, signum: int, frame: Any) -> None:
        """Ctrl-C on a run in this process: the first stops it like SIGTERM (checkpoint at the end of the step),
        a second aborts at once."""
        from insight_cli.train.stopping import stop_requested

        if stop_requested():
            raise KeyboardInterrupt("interrupted again: aborted without a checkpoint of the current step")
        print("stopping at the end of this step (Ctrl-C again aborts at once)", file=sys.stderr, flush=True)
        self._handle(signum, frame)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (self.preempt_signal, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        if self.in_process:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _job_environment():
    """submitit's JobEnvironment inside a submitit job, else None (in-process runs)."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    import submitit

    try:
        return submitit.JobEnvironment()
    except RuntimeError:
        return None


class TrainJob(Checkpointable):
    """One training run as a picklable callable: the resolved config (submitit pickles the DictConfig itself) and
    its run directory."""

    def __init__(
        self, cfg: DictConfig, run_path: str, launcher: str, max_requeues: int = 0, threads: int | None = None
    ):
        self.cfg = cfg
        self.run_path = str(run_path)
        self.launcher = launcher
        self.max_requeues = int(max_requeues)
        self.threads = threads

    # ------------------------------------------------------------------------------------------ the run
    def __call__(self) -> dict:
        from insight_cli.train.run import run_training

        cfg = self.cfg
        run_dir = RunDir(self.run_path)
        ledger = Ledger(run_dir.path.parent)
        env = _job_environment()
        job_id = str(env.job_id) if env is not None else str(os.getpid())
        # several processes (GPUs, or CPU ranks) are started from here, unless this already is one of them
        processes = training_processes(cfg)
        spawn = processes > 1 and "WORLD_SIZE" not in os.environ
        signals = _StopSignals(env._usr_sig() if env is not None else signal.SIGUSR2, in_process=not spawn)
        signals.install()
        try:
            if self.threads and not spawn:
                import torch

                torch.set_num_threads(int(self.threads))
            log = self._link_log(run_dir, env)
            run_dir.record_attempt(
                job_id,
                launcher=self.launcher,
                pid=os.getpid(),
                restart=int(os.environ.get("SLURM_RESTART_COUNT", "0")),
                log=log,
            )
            ledger.append(self._event(run_dir, "running", job_id))
            try:
                result = self._run_processes(cfg, run_dir, processes, signals) if spawn else run_training(cfg, run_dir)
            except BaseException as exc:
                state = "preempted" if isinstance(exc, KeyboardInterrupt) else "failed"
                ledger.append(self._event(run_dir, state, job_id, error=f"{type(exc).__name__}: {exc}"[:500]))
                raise
        finally:
            signals.restore()
        if result["state"] != "preempted":
            ledger.append(self._event(run_dir, result["state"], job_id, step=result["step"]))
            return result
        return self._after_preemption(run_dir, ledger, job_id, result, signals.received, env)

    def _run_processes(self, cfg: DictConfig, run_dir: RunDir, processes: int, signals: _StopSignals) -> dict:
        """Train on ``processes`` ranks through the launch command; the outcome is what the ranks wrote."""
        from insight_cli.launch.processes import free_port, launch_command, run_processes

        command = launch_command(cfg, run_dir.path, sys.executable, port=free_port())
        print(f"launching {processes} training processes: {shlex.join(command)}", flush=True)
        threads = max(1, int(self.threads) // processes) if self.threads else None
        code = run_processes(
            command,
            stop_pending=lambda: signals.received is not None,
            threads_per_process=threads,
            ignore_signals=sorted({signal.SIGUSR2, signals.preempt_signal}),
        )
        status = run_dir.read_status()
        state, step = status.get("state"), int(status.get("step", 0))
        if state in ("done", "preempted") and (code == 0 or signals.received is not None):
            # after a SIGTERM the launcher exits non-zero even though every rank stopped cleanly
            return {"state": state, "step": step}
        error = f"training processes exited with code {code} (run state {state!r}): see the job log"
        if state != "failed":
            run_dir.set_status("failed", step, error=error)
        raise RuntimeError(error)

    def _after_preemption(
        self, run_dir: RunDir, ledger: Ledger, job_id: str, result: dict, received: int | None, env: Any
    ) -> dict:
        """Requeue after the preemption signal (while requeues are left); exit after SIGTERM; return in-process."""
        wants_requeue = env is not None and received == signals_preempt(env)
        used = self._requeues_used(ledger, run_dir.path.name)
        if wants_requeue and used < self.max_requeues:
            ledger.append(self._event(run_dir, "requeued", job_id, step=result["step"]))
            if self.launcher == "slurm":
                subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=60)
                sys.exit(0)  # Slurm restarts the job; no result pickle, so nobody mistakes this for the end
            sys.exit(LOCAL_REQUEUE_EXIT)
        ledger.append(self._event(run_dir, "preempted", job_id, step=result["step"]))
        if env is not None:
            sys.exit(0)  # Slurm requeues it (scontrol requeue / PreemptMode=REQUEUE) or it was cancelled
        return result

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Called by submitit's own handler only before ours are installed: resubmit this job unchanged."""
        from insight_cli.train.stopping import request_stop

        request_stop()
        return super().checkpoint(*args, **kwargs)

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _requeues_used(ledger: Ledger, run_id: str) -> int:
        """Self-requeues since the run's latest submission."""
        used = 0
        for event in ledger.events():
            if event.get("run_id") != run_id:
                continue
            if event.get("event") == "submitted":
                used = 0
            elif event.get("event") == "state" and event.get("state") == "requeued":
                used += 1
        return used

    def _event(self, run_dir: RunDir, state: str, job_id: str, step: int | None = None, **extra: Any) -> dict:
        if step is None:
            step = int(run_dir.read_status().get("step", 0))
        return {
            "event": "state",
            "run_id": run_dir.path.name,
            "state": state,
            "step": step,
            "job_id": job_id,
            "launcher": self.launcher,
            "host": socket.gethostname(),
            **extra,
        }

    @staticmethod
    def _link_log(run_dir: RunDir, env: Any) -> str | None:
        """Make the job's log reachable from ``<run>/submitit/`` (sweeps share one submitit folder per sweep)."""
        if env is None:
            return None
        log = Path(env.paths.stdout)
        link = run_dir.submitit_dir / log.name
        if log.parent.resolve() != link.parent.resolve():
            run_dir.submitit_dir.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink() and not link.exists():
                link.symlink_to(log)
        return str(log)


def signals_preempt(env: Any) -> int:
    """The preemption signal submitit is configured with (SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    return int(env._usr_sig())
