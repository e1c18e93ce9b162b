"""Runs that train on several processes: the launch command a job runs, and the job's side of running it.

One process per GPU for ``model.gpus > 1`` (DeepSpeed ZeRO-3 or FSDP2, conf/accelerate/<model.distributed>.yaml),
or ``launcher.processes`` CPU ranks over gloo (tests, debugging). The run directory is prepared once, before the
job is submitted; inside the job :class:`~insight_cli.launch.job.TrainJob` starts

    python -m accelerate.commands.launch --config_file conf/accelerate/zero3.yaml --num_processes 4 \\
        --main_process_port <free port> -m insight_cli.launch.worker <run_dir>          # GPUs
    python -m torch.distributed.run --nproc_per_node 2 --master_addr 127.0.0.1 --master_port <free port> \\
        -m insight_cli.launch.worker <run_dir>                                          # CPU ranks

(``python -m accelerate.commands.launch`` is ``accelerate launch`` run by the job's own interpreter, so no PATH
lookup can pick another environment). CPU ranks use torchrun because accelerate's CPU launcher (``--cpu
--num_processes N``) starts N processes only through MPI; on GPUs accelerate launch is needed to turn the
accelerate config into the ZeRO-3/FSDP settings the Trainer reads. For a single node both end up in
``torch.distributed.run``: one agent process whose children are the ranks, each in a session of its own.

Stopping (preemption): the job's signal handler only notes the signal; the job then sends SIGUSR2 to every rank
(never to the launcher, whose own SIGTERM handling kills the ranks 30 s later), once that rank has installed its
handler (/proc/<pid>/status SigCgt), so a signal that comes while a rank is still starting is not lost. The launcher
starts with SIGUSR2 ignored (inherited by the ranks until they handle it), so a signal Slurm sends to every process
of the job cannot kill it. The ranks agree at the end of each step on whether any of them was asked to stop
(``insight_cli.train.stopping.stop_requested_anywhere``), save one checkpoint and return; the job reads the run's
status.json and goes on exactly as a single-process job does (done, or requeue after preemption).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import DictConfig

from insight_cli.config import ConfigError, conf_dir
from insight_cli.launch.preflight import training_processes

WORKER_MODULE = "insight_cli.launch.worker"  # one rank: loads <run_dir>/config.yaml and calls run_training
STOP_SIGNAL = signal.SIGUSR2  # what the job sends every rank; ranks ignore it until their handler is installed
POLL_S = 0.5  # how often the job looks for ranks to pass a pending stop to
SHUTDOWN_S = 60  # how long the job waits for the launcher to exit after an error before terminating it
PORT_PLACEHOLDER = "<free port>"  # in printed plans: the job picks a free port when it starts


def free_port() -> int:
    """A TCP port nobody listens on right now (for the ranks' rendezvous on this node)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accelerate_config(cfg: DictConfig) -> Path | None:
    """conf/accelerate/<model.distributed>.yaml of a multi-GPU run; None for single-GPU and CPU runs."""
    model = cfg["model"]
    if int(model.get("gpus") or 0) <= 1:
        return None
    strategy = str(model.get("distributed") or "none")
    path = conf_dir() / "accelerate" / f"{strategy}.yaml"
    if not path.exists():
        raise ConfigError(
            f"model.distributed={strategy} has no accelerate config at {path}: "
            "use model.distributed=zero3 or fsdp (conf/accelerate/)"
        )
    return path


def launch_command(
    cfg: DictConfig, run_path: str | os.PathLike, python: str, port: int | str = PORT_PLACEHOLDER
) -> list[str]:
    """The command a job runs to train ``cfg`` into ``run_path`` (``python`` may be several words)."""
    worker = ["-m", WORKER_MODULE, str(Path(run_path).absolute())]  # absolute: the ranks may start elsewhere
    processes = training_processes(cfg)
    interpreter = shlex.split(python)
    if processes <= 1:
        return [*interpreter, *worker]
    config = accelerate_config(cfg)
    if config is not None:
        launch = ["-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes", str(processes)]
        return [*interpreter, *launch, "--main_process_port", str(port), *worker]
    torchrun = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr", "127.0.0.1"]
    return [*interpreter, *torchrun, "--master_port", str(port), *worker]


def accelerate_settings(path: Path) -> list[str]:
    """The settings of an accelerate config that decide the sharding, as ``key: value`` lines."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    lines = [f"{key}: {data[key]}" for key in ("distributed_type", "mixed_precision") if key in data]
    for section in ("deepspeed_config", "fsdp_config"):
        for key, value in (data.get(section) or {}).items():
            text = str(value).lower() if isinstance(value, bool) else value
            lines.append(f"{section}.{key}: {text}")
    return lines


def describe(cfg: DictConfig, run_path: str | os.PathLike, python: str, in_job: bool = True) -> list[str]:
    """Printed plan of a run's training processes: the command, the GPUs, the accelerate config and its settings."""
    from insight_cli.launch.resources import resources

    model = cfg["model"]
    processes, gpus = training_processes(cfg), int(model.get("gpus") or 0)
    command = shlex.join(launch_command(cfg, run_path, python)).replace(
        shlex.quote(PORT_PLACEHOLDER), PORT_PLACEHOLDER
    )
    config = accelerate_config(cfg)
    where = "inside the job" if in_job else "here"  # in-process launches train in (or under) `insight` itself
    if processes <= 1:
        owner = "the job's own" if in_job else "this"
        head = f"# training {where}: 1 process, {owner} Python process (no distributed launch); the same as"
    elif config is not None:
        strategy = {"zero3": "DeepSpeed ZeRO-3", "fsdp": "FSDP2"}.get(str(model.get("distributed")), "")
        head = f"# training {where}: {processes} processes, one per GPU, started by accelerate launch ({strategy})"
    else:
        head = f"# training {where}: {processes} CPU processes (launcher.processes), started by torchrun over gloo"
    granted = resources(cfg).gpus
    lines = [head, command]
    lines.append(f"# GPUs: {gpus} (model.gpus={gpus}; the job asks for {granted})" if gpus else "# GPUs: none (CPU)")
    if config is None:
        lines.append("# accelerate config: none")
    else:
        lines.append(f"# accelerate config: {config}")
        lines += [f"#   {line}" for line in accelerate_settings(config)]
    return lines


# ---------------------------------------------------------------------------------------------- inside the job
def _ignore_stop_signals(signals: Sequence[int]) -> Callable[[], None]:
    def ignore() -> None:  # runs in the child between fork and exec; SIG_IGN survives exec
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)

    return ignore


def _ranks(launcher_pid: int) -> list[int]:
    """Pids of the rank processes under the launcher (found by the worker module on their command line)."""
    import psutil  # a dependency of accelerate

    try:
        children = psutil.Process(launcher_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    pids = []
    for child in children:
        try:
            if WORKER_MODULE in child.cmdline():
                pids.append(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return pids


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (Linux: the SigCgt mask of /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/status").exists()  # no procfs: cannot tell, so send it
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (int(signum) - 1) & 1)
    return False


def run_processes(
    command: Sequence[str],
    stop_pending: Callable[[], bool],
    threads_per_process: int | None = None,
    ignore_signals: Sequence[int] = (STOP_SIGNAL,),
) -> int:
    """Run the launch command to its end, passing a stop request on to every rank; returns its exit code."""
    import insight_cli

    env = dict(os.environ)
    # the ranks import this very package, wherever the job found it (a checkout, an editable or a site install)
    package_root = str(Path(insight_cli.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    if threads_per_process:
        env["OMP_NUM_THREADS"] = str(threads_per_process)  # the job's cores shared out, not each rank taking all
    launcher = subprocess.Popen(list(command), env=env, preexec_fn=_ignore_stop_signals(ignore_signals))
    told: set[int] = set()
    try:
        while True:
            try:
                return launcher.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                pass
            if stop_pending():
                for pid in _ranks(launcher.pid):
                    if pid not in told and catches(pid, STOP_SIGNAL):
                        os.kill(pid, STOP_SIGNAL)
                        told.add(pid)
    except BaseException:
        # the job itself is going down (Ctrl-C reaches the launcher too, which stops its ranks): give it time
        try:
            launcher.wait(timeout=SHUTDOWN_S)
        except subprocess.TimeoutExpired:
            launcher.terminate()
            try:
                launcher.wait(timeout=SHUTDOWN_S)
            except subprocess.TimeoutExpired:
                launcher.kill()
        raise
