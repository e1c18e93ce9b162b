"""bench/miniature.py's arms: a selector with overrides of its own names the same run as the sweep that trained it."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from insight_cli.config import compose
from insight_cli.runs import run_id

REPO = Path(__file__).resolve().parents[1]
# the first campaign's miniature (results/reference-v1): half of the pool with 4 numbers, lr 7e-5
FIRST_MINIATURE = ["experiment=mini", "task.four_number_share=0.5", "trainer.learning_rate=7e-5"]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_miniature", REPO / "bench" / "miniature.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_arm_with_its_own_override_is_the_mu_sweeps_run_and_not_the_default_one():
    bench = load_bench()
    assert bench.arm_overrides("wmi") == ["selector=wmi"]
    assert bench.arm_overrides("wmi:selector.mu=0.9:selector.eta=2") == [
        "selector=wmi",
        "selector.mu=0.9",
        "selector.eta=2",
    ]
    mu_arm = compose([*bench.arm_overrides("wmi:selector.mu=0.9"), "seed=0", *FIRST_MINIATURE])
    default_arm = compose([*bench.arm_overrides("wmi"), "seed=0", *FIRST_MINIATURE])
    assert mu_arm.selector.mu == 0.9 and default_arm.selector.mu != 0.9
    # the committed μ = 0.9 seed-0 run of sweeps/mini_mu.yaml, which the bench reuses instead of retraining
    assert run_id(mu_arm) == "54d20354e9bb"
    assert (REPO / "results" / "reference-v1" / "mini_mu" / run_id(mu_arm) / "eval.jsonl").is_file()
    assert run_id(default_arm) != run_id(mu_arm)


def test_a_finished_run_is_read_and_left_as_its_own_command_wrote_it(tmp_path):
    bench = load_bench()
    reference = REPO / "results" / "reference-v1" / "mini_mu" / "54d20354e9bb"
    copy = tmp_path / "mini_mu" / reference.name
    shutil.copytree(reference, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    curves = bench.run_arm("wmi:selector.mu=0.9", 0, str(tmp_path), FIRST_MINIATURE, sweep="mini_mu")
    assert not curves["trained"]
    assert curves["steps"][-1] == 160 and len(curves["pass"]) == len(curves["steps"])
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before


def test_a_bare_arm_name_takes_the_sweeps_variant_and_other_sweeps_leave_it_plain():
    bench = load_bench()
    # sweeps/mini_main.yaml: `mopps: [selector=mopps, lam=0.5, pool=8]` (MoPPS's Countdown settings)
    campaign = compose([*bench.arm_overrides("mopps", "mini_main"), "seed=0", "experiment=mini"])
    assert campaign.selector.name == "mopps" and campaign.selector.lam == 0.5 and campaign.pool.factor == 8
    assert bench.arm_overrides("mopps", "miniature") == ["selector=mopps"]
    assert bench.arm_overrides("mopps:lam=1.0", "mini_main") == ["selector=mopps", "lam=1.0"]
    assert bench.arm_overrides("wmi_sampled", "mini_ablation") == ["selector=wmi_sampled"]
    # a comma list of sweeps: the variants of each (mini_mu has none, mini_main labels mopps)
    assert bench.arm_overrides("mopps", "mini_mu,mini_main") == bench.arm_overrides("mopps", "mini_main")


def test_a_comma_list_of_sweeps_reads_each_run_from_the_folder_that_holds_it(tmp_path):
    """wmi lives in mini_main and wmi:selector.mu=0.9 in mini_mu: one bench reads both, trains nothing."""
    bench = load_bench()
    for sweep, run in (("mini_main", "76ac8e498f1d"), ("mini_mu", "54d20354e9bb")):
        shutil.copytree(REPO / "results" / "reference-v1" / sweep / run, tmp_path / sweep / run)
    both = "mini_main,mini_mu"
    _, main_run, _ = bench.locate("wmi", 0, str(tmp_path), FIRST_MINIATURE, both)
    _, mu_run, _ = bench.locate("wmi:selector.mu=0.9", 0, str(tmp_path), FIRST_MINIATURE, both)
    assert main_run.path == tmp_path / "mini_main" / "76ac8e498f1d"
    assert mu_run.path == tmp_path / "mini_mu" / "54d20354e9bb"
    # a run in neither is placed in the first folder, where the bench would train it
    _, new_run, _ = bench.locate("wmi:selector.mu=0.2", 0, str(tmp_path), FIRST_MINIATURE, both)
    assert new_run.path.parent == tmp_path / "mini_main" and not new_run.path.exists()
    assert not bench.run_arm("wmi:selector.mu=0.9", 0, str(tmp_path), FIRST_MINIATURE, both)["trained"]


def test_reuse_only_reads_the_campaign_and_names_an_arm_it_has_no_run_of(tmp_path):
    """The second campaign's MoPPS arm carries MoPPS's own settings (sweeps/mini_main.yaml): `mopps` names that arm
    (the sweep's variant); any other MoPPS would be a new run that trains for hours, so --reuse-only says so at once,
    exit 2, and writes nothing."""
    import subprocess
    import sys

    shutil.copytree(REPO / "results" / "reference" / "mini_main", tmp_path / "mini_main")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    bench = [sys.executable, str(REPO / "bench" / "miniature.py"), "--results-dir", str(tmp_path)]
    bench += ["--sweep", "mini_main", "--seeds", "4", "--reuse-only"]
    other = subprocess.run(
        [*bench, "--selectors", "random,mopps:lam=1.0", "experiment=mini"], capture_output=True, text=True
    )
    assert other.returncode == 2 and other.stdout == "", other.stdout + other.stderr
    assert other.stderr.count("\n") == 1 and "arm 'mopps:lam=1.0' (selector=mopps lam=1.0) seed 0" in other.stderr
    assert "after ':'" in other.stderr
    own = subprocess.run([*bench, "--selectors", "random,mopps", "experiment=mini"], capture_output=True, text=True)
    assert own.returncode == 0, own.stderr
    assert "arm mopps = selector=mopps selector.lam=0.5 pool.factor=8 (sweeps/mini_main.yaml)" in own.stdout
    assert "arm random =" not in own.stdout
    assert "mopps: held-out gain" in own.stdout and "runs reused" in own.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
