"""Runs on several processes: the launch command of every preset (parsed by accelerate's and torchrun's own argument
parsers), and the real in-job path — TrainJob starting 2 CPU ranks over gloo with torchrun, finishing, and stopping
every rank at the same step when the job (or one rank) is signalled.

    python -m pytest tests/test_launch_processes.py            # the fast tests and one 2-step, 2-rank run
    python -m pytest -m slow tests/test_launch_processes.py    # + preemption of a 2-rank run, requeue, resume
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from insight_cli.config import compose, conf_dir
from insight_cli.launch.processes import WORKER_MODULE, catches, launch_command
from insight_cli.launch.resources import resources
from insight_cli.runs import Ledger, RunDir

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
RUN = "/results/adhoc/0123456789ab"
PORT = 29555


def _after_module(command: list[str], module: str) -> list[str]:
    """The arguments a ``python -m module ARGS`` command passes to that module."""
    assert command[:3] == ["python", "-m", module], command
    return command[3:]


# ---------------------------------------------------------------------------------------------- the launch command
@pytest.mark.parametrize("model", MODELS)
def test_launch_command_of_each_model_preset(model):
    cfg = compose([f"model={model}", "launcher=slurm"])
    command = launch_command(cfg, RUN, "python", port=PORT)
    gpus = int(cfg.model.gpus)
    if gpus <= 1:  # one process: the job's own, the same as running the worker by hand
        assert command == ["python", "-m", WORKER_MODULE, RUN]
        return
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args, _, _ = _validate_launch_command(
        launch_command_parser().parse_args(_after_module(command, "accelerate.commands.launch"))
    )
    assert args.config_file == str(conf_dir() / "accelerate" / f"{cfg.model.distributed}.yaml")
    assert args.use_deepspeed is (cfg.model.distributed == "zero3")
    assert args.use_fsdp is (cfg.model.distributed == "fsdp")
    assert args.num_processes == gpus == resources(cfg).gpus  # one rank per GPU the job is granted
    assert args.main_process_port == PORT
    assert args.module and args.training_script == WORKER_MODULE and args.training_script_args == [RUN]


@pytest.mark.parametrize("strategy", ["zero3", "fsdp"])
def test_launch_command_follows_model_distributed(strategy):
    cfg = compose(["model=qwen3-8b", f"model.distributed={strategy}"])
    command = launch_command(cfg, RUN, "python", port=PORT)
    assert command[command.index("--config_file") + 1] == str(conf_dir() / "accelerate" / f"{strategy}.yaml")


def test_cpu_ranks_are_started_by_torchrun():
    from torch.distributed.run import get_args_parser

    command = launch_command(compose(["launcher.processes=2"]), RUN, "python", port=PORT)
    args = get_args_parser().parse_args(_after_module(command, "torch.distributed.run"))
    assert args.nproc_per_node == "2" and args.master_port == PORT and args.master_addr == "127.0.0.1"
    assert args.module and args.training_script == WORKER_MODULE and args.training_script_args == [RUN]


def test_the_cpu_miniature_trains_in_one_process_by_default():
    assert launch_command(compose([]), RUN, "python") == ["python", "-m", WORKER_MODULE, RUN]


def test_a_relative_run_directory_becomes_absolute_and_the_python_may_be_several_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = launch_command(compose(["launcher.processes=2"]), "results/adhoc/x", "srun python", port=PORT)
    assert command[:2] == ["srun", "python"] and command[-1] == str(tmp_path / "results" / "adhoc" / "x")


def test_a_stop_is_passed_only_to_processes_that_handle_it():
    """The job signals a rank only once its handler is installed: before that the signal would be lost (ignored) or
    fatal (default action), so `catches` must tell the two apart."""
    ready = "import signal, sys, time; signal.signal(signal.SIGUSR2, lambda *a: None); print('ok', flush=True)"

    # a shell's background job (`pytest &`) inherits SIGINT ignored, and Python then installs no handler of its own:
    # the children start with the default action, as under a terminal or Slurm
    def default_sigint():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    handler = subprocess.Popen(
        [sys.executable, "-c", f"{ready}; time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    plain = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        assert handler.stdout.readline().strip() == plain.stdout.readline().strip() == "ok"
        assert catches(handler.pid, signal.SIGUSR2) and not catches(plain.pid, signal.SIGUSR2)
        assert catches(plain.pid, signal.SIGINT)  # Python's own KeyboardInterrupt handler
    finally:
        for proc in (handler, plain):
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------- 2 CPU ranks, for real
def _rank_results(text: str) -> list[tuple[int, str, int]]:
    """(rank, state, step) of every worker's last line ("rank 1/2: preempted at step 7"), in the order printed."""
    return [
        (int(rank), state, int(step)) for rank, state, step in re.findall(r"rank (\d)/2: (\w+) at step (\d+)", text)
    ]


def _agreed(results: list[tuple[int, str, int]]) -> tuple[str, int]:
    """The (state, step) both ranks of one attempt ended with; fails unless they are the same."""
    assert sorted(rank for rank, _, _ in results) == [0, 1], results
    assert len({(state, step) for _, state, step in results}) == 1, f"the ranks stopped apart: {results}"
    return results[0][1], results[0][2]


def _steps(run: RunDir, name: str) -> list[int]:
    return [r["step"] for r in run.read(name)]


def test_two_cpu_ranks_train_a_run_started_by_the_job(insight_proc, tiny_overrides, tmp_path):
    """`insight train launcher.processes=2`: the in-process TrainJob prepares the run once, starts torchrun with
    2 workers, and the run directory ends as a one-process run's would."""
    out = insight_proc(
        "train",
        *tiny_overrides,
        "trainer.steps=2",
        "trainer.eval.every=100",  # evaluate at steps 0 and 2 only
        "trainer.eval.n_samples=1",
        "launcher.processes=2",
        f"paths.results_dir={tmp_path / 'results'}",
        timeout=600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "launching 2 training processes:" in log and "-m torch.distributed.run --nproc_per_node 2" in log
    assert _agreed(_rank_results(log)) == ("done", 2)
    assert log.count("GRPO wmi: 0/2") == 1  # one progress display (plain lines without a terminal): rank 0's
    (run_path,) = [p for p in (tmp_path / "results" / "adhoc").iterdir() if p.is_dir() and p.name[0] != "."]
    run = RunDir(run_path)
    assert run.read_status()["state"] == "done" and run.read_status()["step"] == 2
    assert _steps(run, "metrics.jsonl") == [1, 2]  # rank 0 alone writes: one record per step
    assert _steps(run, "selection.jsonl") == [1, 2]
    assert sorted({r["step"] for r in run.read("eval.jsonl")}) == [0, 2]
    assert len(run.read_meta()["attempts"]) == 1  # prepared and recorded once by the job, not per rank
    assert (run.checkpoints / "checkpoint-2").is_dir()
    # the closing summary: how it ended, pass@1 from the first to the last evaluation, how to tabulate it
    evaluations = run.read("eval.jsonl")
    first, last = evaluations[0], evaluations[-1]
    assert f"run {run_path.name} done at step 2: {run_path}" in out.stdout
    assert f"pass@1: {first['pass@1']:.3f} at step 0 → {last['pass@1']:.3f} at step 2" in out.stdout
    assert f"(gain {last['pass@1'] - first['pass@1']:+.3f}; best " in out.stdout
    assert f"insight report --results-dir {tmp_path / 'results'} --sweep adhoc" in out.stdout


@pytest.mark.slow
def test_a_stop_reaches_every_rank_and_all_stop_at_the_same_step(insight_proc, tiny_overrides, tmp_path, wait_until):
    """A 2-rank run on the local launcher: SIGUSR2 to the job → every rank stops at the same step with a checkpoint
    and the job requeues itself; SIGUSR2 to one rank alone → the other rank stops at that same step too; a last
    `insight train` finishes the run with every step recorded once."""
    steps = 30
    args = [
        "train",
        *tiny_overrides,
        f"trainer.steps={steps}",
        "trainer.eval.every=100",
        "trainer.eval.n_samples=1",
        "trainer.save_every=1000",  # the only checkpoints are the stops' and the last step's
        "launcher=local",
        "launcher.processes=2",
        f"paths.results_dir={tmp_path / 'results'}",
    ]
    out = insight_proc(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    run = RunDir(out.stdout.split("for run ")[1].split()[0])

    def attempts() -> list[dict]:
        return run.read_meta().get("attempts", [])

    def trained_past(step: int) -> bool:
        return max(_steps(run, "metrics.jsonl"), default=0) > step

    def job_log() -> str:  # a requeued local job appends to the same log; read each distinct file once, in order
        return "".join(Path(log).read_text() for log in dict.fromkeys(a["log"] for a in attempts()))

    # 1. the job is signalled: it passes the stop to both ranks, they stop together, the job requeues itself
    wait_until(lambda: trained_past(1), 300, "the first attempt to train 2 steps")
    job_pid = int(attempts()[-1]["pid"])
    subprocess.run(["kill", "-USR2", str(job_pid)], check=True)
    wait_until(lambda: len(attempts()) == 2, 300, "the requeued attempt to start")
    state, first_stop = _agreed(_rank_results(job_log())[:2])
    assert state == "preempted" and 1 < first_stop < steps
    assert (run.checkpoints / f"checkpoint-{first_stop}").is_dir()

    # 2. one rank alone is signalled (as when a signal reaches only some processes): the ranks agree at step end
    wait_until(lambda: trained_past(first_stop + 1), 300, "the second attempt to train a step")
    found = subprocess.run(["pgrep", "-f", "--", f"-u -m {WORKER_MODULE} {run.path}"], capture_output=True, text=True)
    ranks = sorted(int(pid) for pid in found.stdout.split())
    assert len(ranks) == 2, found.stdout  # the two workers, not the torchrun agent between them and the job
    subprocess.run(["kill", "-USR2", str(ranks[-1])], check=True)
    wait_until(lambda: run.read_status().get("state") == "preempted", 120, "both ranks to stop")
    # the local job (its controller process, which the ledger names) must be over before the run is launched again
    controller = [e for e in Ledger(run.path.parent).events() if e["event"] == "submitted"][-1]["pid"]
    for pid, what in ((job_pid, "the job"), (controller, "the job's controller")):
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 60, f"{what} to exit")
    state, second_stop = _agreed(_rank_results(job_log())[2:4])
    assert state == "preempted" and first_stop < second_stop < steps
    assert (run.checkpoints / f"checkpoint-{second_stop}").is_dir()

    # 3. launched again, the run resumes from that checkpoint and finishes with every step recorded once
    out = insight_proc(*args)
    assert out.returncode == 0, out.stdout + out.stderr

    def states() -> list[str]:
        return [e["state"] for e in Ledger(run.path.parent).events() if e["event"] == "state"]

    wait_until(lambda: states()[-1] == "done", 300, "the job to record the finished run")
    assert run.read_status()["state"] == "done" and run.read_status()["step"] == steps
    assert _steps(run, "metrics.jsonl") == list(range(1, steps + 1))
    assert _steps(run, "selection.jsonl") == list(range(1, steps + 1))
    assert states() == ["running", "requeued", "running", "preempted", "running", "done"]


@pytest.mark.slow
def test_two_cpu_ranks_choose_the_prompts_a_one_process_run_chooses(insight_proc, tiny_overrides, tmp_path):
    """Rank count is not a hidden input of selection: with the same seed, a 2-rank run (rank 0's selector, the choice
    broadcast) chooses exactly the prompts of a 1-process run, step by step. Random's choices do not depend on
    outcomes (which differ with the rank layout: each rank samples its own slice), so every step must agree; WMI's
    first choice, made before any outcome, must too."""
    common = [*tiny_overrides, "trainer.steps=3", "trainer.eval.every=100", "trainer.eval.n_samples=1"]
    chosen: dict[tuple[str, int], list[list[int]]] = {}
    for selector in ("random", "wmi"):
        for processes in (1, 2):
            results = tmp_path / f"{selector}-{processes}"
            extra = [f"launcher.processes={processes}"] if processes > 1 else []
            out = insight_proc(
                "train", *common, f"selector={selector}", *extra, f"paths.results_dir={results}", timeout=900
            )
            assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
            (run_path,) = [p for p in (results / "adhoc").iterdir() if p.is_dir() and p.name[0] != "."]
            chosen[selector, processes] = [r["prompt_ids"] for r in RunDir(run_path).read("selection.jsonl")]
    assert len(chosen["random", 1]) == 3
    assert chosen["random", 2] == chosen["random", 1]
    assert chosen["wmi", 2][0] == chosen["wmi", 1][0]
