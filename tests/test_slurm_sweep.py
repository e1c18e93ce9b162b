"""`insight sweep` on the real local Slurm (scripts/slurm-local.sh): a job array of the CPU miniature, two sweeps
started at once, `insight status` following the jobs to the end, and a rerun that submits nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from insight_cli.launch.executor import sbatch_text
from insight_cli.runs import Ledger, RunDir

pytestmark = pytest.mark.slurm  # not slow: the default tier exercises the real Slurm (~1.5 min) when one runs


def queue() -> str:
    """The whole Slurm queue with each job's reason and folder: a wait that timed out shows whether the test's jobs
    were slow or never started (other jobs holding the node, e.g. a campaign on a developer's local Slurm)."""
    out = subprocess.run(["squeue", "-o", "%.14i %.9T %.20r %.10M %Z"], capture_output=True, text=True)
    return f"squeue:\n{out.stdout}{out.stderr}"


def test_slurm_sweep_of_the_miniature_finishes_and_reruns_nothing(insight_proc, wait_until, tiny_overrides, tmp_path):
    res = tmp_path / "results"
    args = [
        "sweep",
        "--selector",
        "wmi,random",
        "--seeds",
        "2",
        "--name",
        "mini",
        *tiny_overrides,
        "trainer.steps=2",
        f"paths.results_dir={res}",
        "launcher=slurm",
        "launcher.cpus_per_task=1",
        "launcher.mem_gb=2",
    ]
    cmd = [sys.executable, "-m", "insight_cli.cli.app", *args]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    submitted = sorted(int(o.split(" to submit")[0].rsplit(" ", 1)[1]) for o, _ in outs)
    assert submitted == [0, 4], outs
    assert any("submitted slurm job array" in o for o, _ in outs), outs

    sweep_dir = res / "mini"
    events = Ledger(sweep_dir).events()
    run_ids = [e["run_id"] for e in events if e["event"] == "planned"]
    jobs = [e["job_id"] for e in events if e["event"] == "submitted"]
    assert len(set(run_ids)) == 4 == len(run_ids) and len(set(jobs)) == 4 == len(jobs)
    array = {j.split("_")[0] for j in jobs}
    assert len(array) == 1 and sorted(j.split("_")[1] for j in jobs) == ["0", "1", "2", "3"]

    # the script Slurm ran is the one --dry-run prints
    (array_id,) = array
    script = (sweep_dir / ".submitit" / f"{array_id}_submission.sh").read_text()
    config = yaml.safe_load((sweep_dir / run_ids[0] / "config.yaml").read_text())
    assert script == sbatch_text(config, sweep_dir / ".submitit", count=4)

    def all_done():
        out = insight_proc("status", "mini", "--results-dir", str(res))
        return out.stdout if "4 runs: 4 done" in out.stdout else None

    table = wait_until(all_done, 900, "insight status to show 4 done runs", explain=queue)
    for rid, job in zip(run_ids, jobs, strict=True):
        assert rid in table and job in table
        assert RunDir(sweep_dir / rid).read_meta()["attempts"][-1]["job_id"] == job

    again = insight_proc(*args)
    assert again.returncode == 0 and "4 done, 0 to submit" in again.stdout, again.stdout + again.stderr
    assert len([e for e in Ledger(sweep_dir).events() if e["event"] == "submitted"]) == 4


def test_sbatch_test_only_accepts_every_cpu_preset_and_rejects_gpus_here():
    """The local node has no GPUs: Slurm itself rejects a GPU preset before anything is written."""
    from insight_cli.config import ConfigError, compose
    from insight_cli.launch.executor import sbatch_test

    sbatch_test(compose(["launcher=slurm"]), "/tmp/insight-sbatch-test", 4)
    with pytest.raises(ConfigError, match="Slurm rejects the job"):
        sbatch_test(compose(["model=qwen3-0.6b", "launcher=slurm"]), "/tmp/insight-sbatch-test", 1)


def test_status_reconciles_with_sacct_and_rerun_failed_resubmits(insight_proc, wait_until, tiny_overrides, tmp_path):
    """Held jobs cancelled before they start: only sacct knows their end; status says so, --rerun-failed resubmits."""
    res = tmp_path / "results"
    args = ["sweep", "--seeds", "2", "--name", "held", *tiny_overrides, f"paths.results_dir={res}", "launcher=slurm",
            "+launcher.additional.hold=true"]  # fmt: skip
    first = insight_proc(*args)
    assert first.returncode == 0 and "2 to submit" in first.stdout, first.stdout + first.stderr
    jobs = [e["job_id"] for e in Ledger(res / "held").events() if e["event"] == "submitted"]
    assert "2 runs: 2 pending" in insight_proc("status", "held", "--results-dir", str(res)).stdout
    subprocess.run(["scancel", jobs[0].split("_")[0]], check=True)

    def cancelled():
        out = insight_proc("status", "held", "--results-dir", str(res)).stdout
        return out if out.count("failed (CANCELLED)") == 2 else None

    wait_until(cancelled, 120, "sacct to report both array tasks cancelled", explain=queue)
    assert "0 to submit (0 running, 2 failed, 0 new)" in insight_proc(*args).stdout
    rerun = insight_proc(*args, "--rerun-failed")
    assert rerun.returncode == 0 and "2 to submit" in rerun.stdout, rerun.stdout + rerun.stderr
    again = [e["job_id"] for e in Ledger(res / "held").events() if e["event"] == "submitted"][2:]
    assert len(again) == 2 and {j.split("_")[0] for j in again}.isdisjoint({j.split("_")[0] for j in jobs})
    subprocess.run(["scancel", again[0].split("_")[0]], check=True)


def test_jobs_slurm_never_heard_of_are_no_record_and_unknown_only_when_it_cannot_answer(tmp_path, monkeypatch):
    """A job that squeue and sacct both answer for and neither knows will never run (a pending array task cancelled
    before it started leaves no accounting record): its run is failed and resubmittable, not 'running' for ever.
    Without sacct, nobody can tell: UNKNOWN, never resubmitted blindly."""
    import shutil

    from insight_cli.launch.scheduler import NO_RECORD, UNKNOWN, slurm_states
    from insight_cli.launch.state import display_state, run_state

    held = subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"], capture_output=True, text=True)
    assert held.returncode == 0, held.stderr
    job = held.stdout.strip().split(";")[0]
    never = ["60000000", "60000001_3"]  # far beyond any id the local Slurm hands out
    scancel = shutil.which("scancel")
    try:
        states = slurm_states([job, *never])
        bin_dir = tmp_path / "bin"  # squeue on PATH, sacct not
        bin_dir.mkdir()
        (bin_dir / "squeue").symlink_to(shutil.which("squeue"))
        monkeypatch.setenv("PATH", str(bin_dir))
        without_sacct = slurm_states(never)
    finally:
        cancelled = subprocess.run([scancel, job], capture_output=True, text=True)
        assert cancelled.returncode == 0, cancelled.stderr
    assert states == {job: "PENDING", never[0]: NO_RECORD, never[1]: NO_RECORD}
    assert without_sacct == dict.fromkeys(never, UNKNOWN)
    submitted = {"job_id": never[1], "launcher": "slurm"}
    assert run_state({}, submitted, NO_RECORD) == "failed"
    assert display_state({}, submitted, NO_RECORD) == "failed (Slurm has no record of its job)"
