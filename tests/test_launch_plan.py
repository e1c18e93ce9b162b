"""Sweep plans: axis parsing, the cartesian product, fast composition equal to Hydra's, specs, resources."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from insight_cli.config import Composer, ConfigError, compose
from insight_cli.launch.plan import Axis, SweepSpec, build_runs, expand, load_spec, parse_token, sweep_name
from insight_cli.launch.resources import PRESETS, gpu_hours, resources
from insight_cli.launch.sweep import make_spec, plan
from insight_cli.runs import run_id

ROOT = Path(__file__).resolve().parents[1]


def test_tokens_split_on_top_level_commas_and_expand_aliases():
    assert parse_token("mu=0.3,0.5,0.7") == ("selector.mu", ("0.3", "0.5", "0.7"))
    assert parse_token("pool=8") == ("pool.factor", ("8",))
    assert parse_token("trainer.eval.n_samples=4,8") == ("trainer.eval.n_samples", ("4", "8"))
    assert parse_token("launcher.setup=[a,b]") == ("launcher.setup", ("[a,b]",))
    assert parse_token("x='a,b',c") == ("x", ("'a,b'", "c"))


def test_cartesian_product_first_axis_slowest():
    spec = SweepSpec(
        overrides=["trainer=smoke"], axes=[Axis("selector", ("wmi", "random")), Axis("seed", ("0", "1", "2"))]
    )
    rows = expand(spec)
    assert len(rows) == 6
    assert rows[0] == (["trainer=smoke", "selector=wmi", "seed=0"], {"selector": "wmi", "seed": "0"})
    assert [r[1]["selector"] for r in rows] == ["wmi"] * 3 + ["random"] * 3
    assert [r[1]["seed"] for r in rows] == ["0", "1", "2"] * 2


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["selector.mu=0.5", "seed=3"],
        ["mu=0.1", "eta=0", "lam=0.5", "pool=8"],
        ["K=4", "M=16"],  # K feeds selector.K through an interpolation
        ["selector.K=4"],  # overriding the interpolated leaf itself
        ["selector=mopps", "gamma=0.4", "trainer.learning_rate=1e-6"],
        ["trainer=smoke", "trainer.eval.num_problems=null", "task.prompt_style='compact'"],
        ["model=qwen3-4b", "launcher=slurm", "launcher.mem_gb=100"],
        ["experiment=mini", "selector=random", "seed=1"],
        ["experiment=insight_math", "model=qwen3-8b", "selector=dps"],
        ["launcher=local", "launcher.setup=[a,b]"],  # list value: through Hydra itself
    ],
)
def test_fast_composition_equals_hydra_compose(overrides):
    composer = Composer()
    fast = composer.plain(overrides)
    slow = OmegaConf.to_container(compose(overrides), resolve=True)
    assert fast == slow
    assert run_id(fast) == run_id(compose(overrides))
    as_launched = composer.compose(overrides)  # the DictConfig a sweep's run is launched with
    assert OmegaConf.to_container(as_launched, resolve=True) == slow and OmegaConf.is_struct(as_launched)
    assert OmegaConf.to_yaml(as_launched) == OmegaConf.to_yaml(compose(overrides))


def test_composer_reports_errors_exactly_like_compose():
    composer = Composer()
    for bad in (["selector.nope=1"], ["mu=2"], ["selector=random", "mu=0.3"], ["model=nope"]):
        with pytest.raises(ConfigError) as fast:
            composer.compose(bad)
        with pytest.raises(ConfigError) as slow:
            compose(bad)
        assert str(fast.value) == str(slow.value)


def test_run_ids_are_distinct_stable_and_ignore_the_launcher():
    spec = make_spec(["mu=0.3,0.5", "trainer=smoke"], selectors=None, seeds=2, name="t")
    _, runs = plan(spec)
    ids = [r.run_id for r in runs]
    assert len(set(ids)) == 4
    assert ids == [r.run_id for r in plan(spec)[1]]
    _, on_slurm = plan(make_spec(["mu=0.3,0.5", "trainer=smoke", "launcher=slurm"], seeds=2, name="t"))
    assert ids == [r.run_id for r in on_slurm]
    assert all(r.config["sweep"] == "t" for r in runs)


def test_command_line_wins_over_the_spec_key_by_key(tmp_path):
    spec_file = tmp_path / "s.yaml"
    spec_file.write_text("name: s\noverrides: [trainer=smoke, seed=5]\naxes:\n  mu: [0.1, 0.2, 0.3]\n  seed: [0, 1]\n")
    spec = make_spec(["mu=0.7"], spec_file=str(spec_file), seeds=3)
    assert spec.name == "s"
    assert "selector.mu=0.7" in spec.overrides and "seed=5" not in spec.overrides
    assert [a.key for a in spec.axes] == ["seed"] and spec.axes[0].values == ("0", "1", "2")


def test_unnamed_sweeps_get_a_stable_name_from_their_axes():
    a = make_spec(["mu=0.3,0.5"], seeds=2)
    b = make_spec(["mu=0.3,0.5"], seeds=2)
    c = make_spec(["mu=0.3,0.7"], seeds=2)
    assert sweep_name(a) == sweep_name(b) != sweep_name(c)
    assert sweep_name(a).startswith("sweep-")


SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_committed_sweep_composes_and_names_its_command(path):
    text = path.read_text()
    assert f"insight sweep -f sweeps/{path.name}" in text, "the spec's header shows its exact command"
    spec = load_spec(path)
    assert spec.name == path.stem
    name, runs = plan(spec)
    expected = 1
    for axis in spec.axes:
        expected *= len(axis.values)
    assert len(runs) == expected and len({r.run_id for r in runs}) == expected
    if name.startswith("mini_"):
        assert all(r.config["model"]["name"] == "tiny-cpu" and r.config["model"]["gpus"] == 0 for r in runs)


def test_every_paper_sweep_has_a_mini_twin():
    names = {p.stem for p in SWEEPS}
    for table in ("main", "mu", "pool", "ablation"):
        assert f"mini_{table}" in names
        assert any(n.startswith(f"{table}_") for n in names), table


def test_variants_apply_their_settings_together():
    spec = load_spec(ROOT / "sweeps" / "main_countdown.yaml")
    _, runs = plan(spec)
    mopps = [r for r in runs if r.values["selector"] == "mopps"]
    wmi = [r for r in runs if r.values["selector"] == "wmi"]
    assert mopps and all(r.config["selector"]["lam"] == 0.5 and r.config["pool"]["factor"] == 8 for r in mopps)
    assert wmi and all(r.config["selector"]["name"] == "wmi" and r.config["pool"]["factor"] == 16 for r in wmi)


EXPERIMENTS = sorted((ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_is_global_and_headed_by_its_command(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"
    assert any(line.lstrip("# ").startswith(f"insight train experiment={path.stem}") for line in lines[:12])
    compose([f"experiment={path.stem}"])


# ---------------------------------------------------------------------------------------------- resources
@pytest.mark.parametrize("model", sorted(set(PRESETS) & {p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")}))
def test_slurm_resources_follow_the_model_preset(model):
    cfg = compose([f"model={model}", "launcher=slurm"])
    res = resources(cfg)
    assert res.gpus == cfg.model.gpus
    assert (res.cpus_per_task, res.mem_gb) == (PRESETS[model].cpus_per_task, PRESETS[model].mem_gb)


def test_resources_are_overridable_and_a_short_gpu_request_is_an_error():
    cfg = compose(["model=qwen3-4b", "launcher=slurm", "launcher.gpus_per_node=8", "launcher.mem_gb=512"])
    assert (resources(cfg).gpus, resources(cfg).mem_gb) == (8, 512)
    with pytest.raises(ConfigError, match="needs 4 GPUs but launcher.gpus_per_node=2"):
        resources(compose(["model=qwen3-4b", "launcher=slurm", "launcher.gpus_per_node=2"]))


def test_gpu_hours_are_steps_times_seconds_per_step_times_gpus():
    cfg = compose(["model=qwen3-4b", "launcher=slurm", "launcher.seconds_per_step=36", "trainer.steps=100"])
    assert gpu_hours([cfg, cfg]) == pytest.approx((2 * 100 * 36 * 4 / 3600, 2 * 100 * 36 / 3600))


def test_a_thousand_run_plan_composes():
    spec = make_spec(
        [f"mu={','.join(str(i / 20) for i in range(1, 11))}", f"eta={','.join(map(str, range(10)))}"],
        seeds=10,
        name="big",
    )
    runs = build_runs(SweepSpec(spec.name, spec.overrides + ["sweep=big"], spec.axes))
    assert len(runs) == 1000 and len({r.run_id for r in runs}) == 1000
