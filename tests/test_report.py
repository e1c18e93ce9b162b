"""`insight report` end to end on synthetic run directories written through RunDir (the trainer's own writer).

Known curves (pass@1 averaged over two benchmarks, evaluated every 10 steps from 0 to 100, 512 rollouts a step):

- random, seeds 0/1/2: step/200 − 1/16, step/200, step/200 + 1/16 → finals 7/16, 1/2, 9/16 → target 1/2; the
  seed-mean curve step/200 reaches it at step 100 (51,200 rollouts). Seed by seed: never / 100 / 90, so the mean over
  the 2 of 3 seeds that reach is 95 — the survivor-biased figure, kept as a secondary column.
- wmi, seeds 0/1/2: min(step/(80 + 20·seed), 3/4) → mean curve (1/80 + 1/100 + 1/120)·step/3: 0.411 at step 40,
  0.514 at 50 → 50 steps → speed-up 100/50 = 2 (seeds reach at 40 / 50 / 60: biased ratio 95/50 = 1.9).
- dynamic_sampling, seeds 0/1: min(step/100, 5/8), 1,024 rollouts a step → 50 steps (2×) but 51,200 rollouts (1×).
"""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from typer.testing import CliRunner

from insight_cli.cli.app import app
from insight_cli.config import compose
from insight_cli.report import make_report
from insight_cli.report.collect import ReportError, collect
from insight_cli.report.metrics import mean_curve_efficiency, run_curves, seed_curves
from insight_cli.report.tables import accuracy_table, efficiency_table, overhead_table, to_latex, to_markdown
from insight_cli.runs import RunDir

GOLDEN = Path(__file__).parent / "golden"
STEPS = list(range(0, 101, 10))
BENCHMARKS = {"cd34": 1 / 16, "cd4": -1 / 16}  # offsets around the curve value; their average is the curve


@pytest.fixture(autouse=True)
def report_cache(tmp_path_factory, monkeypatch) -> Path:
    """Keep the report's metrics cache out of the real ~/.cache."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("INSIGHT_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def bases() -> dict:
    """Composed configs, one per selector group; runs vary them with OmegaConf (compose is slow)."""
    return {name: compose([f"selector={name}"]) for name in ("random", "wmi")}


def write_run(
    root: Path,
    base,
    curve,
    *,
    sweep: str = "main",
    seed: int = 0,
    state: str = "done",
    steps=STEPS,
    per_step: int = 512,
    selector_s: float = 0.001,
    benchmarks=BENCHMARKS,
    **fields,
) -> RunDir:
    """One run through RunDir: config.yaml, status.json, metrics.jsonl and eval.jsonl at the given steps."""
    cfg = OmegaConf.create(OmegaConf.to_container(base))
    cfg.seed = seed
    cfg.sweep = sweep
    for key, value in fields.items():
        OmegaConf.update(cfg, key.replace("__", "."), value)
    run = RunDir.for_config(cfg, root, sweep)
    run.write_config(cfg)
    run.set_status(state, steps[-1] if steps else 0)
    for step in steps:
        run.append(
            "metrics.jsonl",
            {
                "step": step,
                "rollouts": step * per_step,
                "wall_s": 2.0 * step,
                "selector_s": selector_s,
                "step_s": 2.0,
                "reward_mean": 0.5,
                "frac_zero_std_groups": 0.25,
            },
        )
    for step in steps if curve is not None else []:
        for bench, offset in benchmarks.items():
            run.append(
                "eval.jsonl",
                {
                    "step": step,
                    "rollouts": step * per_step,
                    "benchmark": bench,
                    # pass@1 lives in [0, 1] (the report leaves values outside out): early points clip at 0
                    "pass@1": min(max(curve(step, seed) + offset, 0.0), 1.0),
                    "n_samples": 8,
                    "n_problems": 256,
                },
            )
    return run


def random_curve(step, seed):
    return step / 200 + (seed - 1) / 16


def wmi_curve(step, seed):
    return min(step / (80 + 20 * seed), 0.75)


def fast_curve(step, seed):
    return min(step / 100, 0.625)


@pytest.fixture(scope="module")
def results(tmp_path_factory, bases) -> Path:
    root = tmp_path_factory.mktemp("results")
    for seed in range(3):
        write_run(root, bases["random"], random_curve, seed=seed)
        write_run(root, bases["wmi"], wmi_curve, seed=seed, selector_s=0.004)
    for seed in range(2):
        write_run(root, bases["random"], fast_curve, seed=seed, per_step=1024, selector__name="dynamic_sampling")
    # A μ sweep in its own sweep folder: WMI at three μ, two seeds each.
    for mu, speed in ((0.1, 90), (0.3, 60), (0.5, 75)):
        for seed in range(2):
            write_run(
                root, bases["wmi"], lambda s, _, d=speed: min(s / d, 0.75), sweep="mu", seed=seed, selector__mu=mu
            )
    for seed in range(2):
        write_run(root, bases["random"], random_curve, sweep="mu", seed=seed + 1)
    return root


def run_name(run: RunDir) -> str:
    return f"{run.path.parent.name}/{run.path.name}"


# --------------------------------------------------------------------------- collect
def test_collect_builds_one_row_per_run_step_benchmark(results):
    coll = collect(results, sweeps=["main"])
    assert len(coll.runs) == 8
    assert len(coll.evals) == 8 * len(STEPS) * 2
    for col in (
        "model",
        "task",
        "selector",
        "selector.mu",
        "selector.eta",
        "pool.factor",
        "seed",
        "run_id",
        "sweep",
        "state",
        "finished",
        "step",
        "rollouts",
        "benchmark",
        "pass@1",
        "n_samples",
        "n_problems",
        "arm",
    ):
        assert col in coll.evals.columns, col
    assert set(coll.runs["arm"]) == {"random", "wmi", "dynamic_sampling"}
    assert coll.runs["finished"].all()
    evals = coll.evals
    wmi = evals[(evals["selector"] == "wmi") & (evals["seed"] == 1) & (evals["benchmark"] == "cd4")]
    np.testing.assert_allclose(wmi["pass@1"], [max(min(s / 100, 0.75) - 1 / 16, 0.0) for s in STEPS])
    assert coll.warnings == []


def test_arms_are_labelled_by_what_varies(results):
    coll = collect(results, sweeps=["mu"])
    assert sorted(set(coll.runs["arm"])) == ["random", "wmi (μ=0.1)", "wmi (μ=0.3)", "wmi (μ=0.5)"]


def test_filters_accept_paper_symbols_and_groups(results):
    assert len(collect(results, filters=["selector=wmi", "mu=0.3"]).runs) == 3 + 2
    # runs without a μ (Random, the speed-up baseline) stay; WMI keeps only the asked μ
    picked = collect(results, sweeps=["mu"], filters=["mu=0.1,0.5"]).runs
    assert sorted(set(picked["arm"])) == ["random", "wmi (μ=0.1)", "wmi (μ=0.5)"] and len(picked) == 6
    assert set(collect(results, filters=["selector=random", "seed=0"]).runs["sweep"]) == {"main"}
    with pytest.raises(ReportError, match="no run matches selector=mopps"):
        collect(results, filters=["selector=mopps"])
    with pytest.raises(ReportError, match="unknown filter key 'colour'"):
        collect(results, filters=["colour=red"])
    with pytest.raises(ReportError, match="malformed filter"):
        collect(results, filters=["mu"])


def test_missing_results_dir_and_unknown_sweep_are_one_line_errors(tmp_path, results):
    with pytest.raises(ReportError, match="does not exist"):
        collect(tmp_path / "nowhere")
    with pytest.raises(ReportError, match="no runs under"):
        collect(tmp_path)
    with pytest.raises(ReportError, match="no sweep nope .*choose from main, mu"):
        collect(results, sweeps=["nope"])


def test_metrics_summaries_are_cached_until_the_file_changes(tmp_path, bases, monkeypatch):
    collect_module = importlib.import_module("insight_cli.report.collect")  # the package exports collect()

    root = tmp_path / "results"
    kept = write_run(root, bases["random"], random_curve, seed=0)
    grown = write_run(root, bases["wmi"], wmi_curve, seed=0)
    first = collect(root).runs.set_index("run_id")
    assert (first["steps_logged"] == len(STEPS)).all()
    grown.append("metrics.jsonl", {"step": 110, "rollouts": 56320, "wall_s": 220.0, "selector_s": 1.0, "step_s": 2.0})

    def no_parsing(path):
        raise AssertionError(f"{path} was parsed although its cached summary is still valid")

    real = collect_module._metrics_columns_fast
    monkeypatch.setattr(
        collect_module, "_metrics_columns_fast", lambda p: real(p) if p.parent == grown.path else no_parsing(p)
    )
    second = collect(root).runs.set_index("run_id")
    assert second.at[kept.path.name, "steps_logged"] == len(STEPS)  # from the cache
    assert second.at[kept.path.name, "selector_s"] == pytest.approx(0.001)
    assert second.at[grown.path.name, "steps_logged"] == len(STEPS) + 1  # re-read: the file grew
    assert second.at[grown.path.name, "selector_s"] == pytest.approx((0.001 * len(STEPS) + 1.0) / (len(STEPS) + 1))
    with pytest.raises(AssertionError, match="was parsed"):
        collect(root, cache=False)


def test_parallel_and_serial_reads_agree(results):
    serial = collect(results, workers=1)
    parallel = collect(results, workers=2)
    assert serial.evals.equals(parallel.evals)
    assert serial.runs.drop(columns="arm_order").equals(parallel.runs.drop(columns="arm_order"))


# --------------------------------------------------------------------------- tables
def test_efficiency_exact_steps_speedups_and_cis(results):
    coll = collect(results, sweeps=["main"])
    table, warnings = efficiency_table(coll)
    assert warnings == []
    rows = table.data.set_index("arm")
    assert rows.loc[:, "target"].tolist() == [0.5, 0.5, 0.5]
    # primary: the seed-mean curves
    assert rows.at["random", "steps_to_target"] == 100 and rows.at["random", "reached"] == "2/3"
    assert rows.at["random", "rollouts_to_target"] == 100 * 512
    # Random's mean curve ends on the mean of its finals whichever seeds are drawn: the target and the curve come
    # from the same resample, so its own time never moves
    assert (rows.at["random", "steps_to_target_lo"], rows.at["random", "steps_to_target_hi"]) == (100, 100)
    assert rows.at["wmi", "steps_to_target"] == 50 and rows.at["wmi", "reached"] == "3/3"
    assert rows.at["wmi", "rollouts_to_target"] == 50 * 512
    assert rows.at["wmi", "speedup_steps"] == pytest.approx(2.0)
    assert rows.at["wmi", "speedup_rollouts"] == pytest.approx(2.0)
    curves = run_curves(coll.evals)
    runs = coll.runs.set_index("arm")["run"]
    expected = mean_curve_efficiency(seed_curves(curves, runs["wmi"]), seed_curves(curves, runs["random"]))
    assert (rows.at["wmi", "speedup_steps_lo"], rows.at["wmi", "speedup_steps_hi"]) == (
        expected.speedup_steps.lo,
        expected.speedup_steps.hi,
    )
    assert 1.2 < expected.speedup_steps.lo < 2.0 < expected.speedup_steps.hi < 3.0
    assert rows.at["dynamic_sampling", "speedup_steps"] == pytest.approx(2.0)
    assert rows.at["dynamic_sampling", "speedup_rollouts"] == pytest.approx(100 * 512 / (50 * 1024))
    assert rows.at["random", "speedup_steps"] == 1.0 and math.isnan(rows.at["random", "speedup_steps_lo"])
    assert (rows["censored"] == 0).all() and (rows["speedup_steps_bound"] == "").all()
    # secondary: the mean over only the seeds that reached (Random's slow seed dropped)
    assert rows.at["random", "steps_to_target_reaching"] == 95
    assert (rows.at["random", "steps_to_target_reaching_lo"], rows.at["random", "steps_to_target_reaching_hi"]) == (
        90,
        100,
    )
    assert rows.at["wmi", "steps_to_target_reaching"] == 50
    assert (rows.at["wmi", "steps_to_target_reaching_lo"], rows.at["wmi", "steps_to_target_reaching_hi"]) == (40, 60)
    assert rows.at["random", "rollouts_to_target_reaching"] == 95 * 512
    headers = [c.header for c in table.columns]
    assert headers.index("speed-up (steps)") < headers.index("steps→target, reaching seeds only")


def test_an_arm_that_never_reaches_the_target_is_a_bound_in_table_and_figure(tmp_path, bases):
    root = tmp_path / "results"
    for seed in range(3):
        write_run(root, bases["random"], random_curve, seed=seed)
        write_run(root, bases["wmi"], lambda s, _: s / 400, seed=seed)  # ends at 1/4, target 1/2
    report = make_report(root, table="efficiency", plot="speedup", out=tmp_path / "out", stdout=open(os.devnull, "w"))
    rows = report.tables["efficiency"].data.set_index("arm")
    assert rows.at["wmi", "reached"] == "0/3" and rows.at["wmi", "censored"] == 1.0
    assert (rows.at["wmi", "steps_to_target"], rows.at["wmi", "steps_to_target_bound"]) == (100, ">")
    assert (rows.at["wmi", "speedup_steps"], rows.at["wmi", "speedup_steps_bound"]) == (1.0, "<")
    assert (rows.at["wmi", "speedup_steps_lo"], rows.at["wmi", "speedup_steps_hi"]) == (0.0, 1.0)
    assert math.isnan(rows.at["wmi", "steps_to_target_reaching"])
    markdown = to_markdown(report.tables["efficiency"])
    assert "| tiny-cpu | wmi | 3 | 0/3 | 50.0 | >100 [100, ∞] | >51.2k [51.2k, ∞] | <1.00× [0.00, 1.00] |" in markdown
    assert "$<$1.00$\\times$" in to_latex(report.tables["efficiency"])
    assert (tmp_path / "out" / "speedup.png").stat().st_size > 5000


def test_given_target_and_smoothing(results):
    coll = collect(results, sweeps=["main"])
    rows = efficiency_table(coll, target=0.25)[0].data.set_index("arm")
    assert rows.at["random", "steps_to_target"] == 50  # mean curve step/200
    assert rows.at["wmi", "steps_to_target"] == 30  # mean curve 0.308 at step 30, 0.206 at 20
    assert rows.at["random", "steps_to_target_reaching"] == pytest.approx((70 + 50 + 40) / 3)
    assert rows.at["wmi", "steps_to_target_reaching"] == pytest.approx((20 + 30 + 30) / 3)
    smoothed = efficiency_table(coll, smooth_window=3)[0].data.set_index("arm")
    # a trailing 3-point average of a line lags it by one evaluation (10 steps)
    assert smoothed.at["wmi", "steps_to_target"] == 60
    one = efficiency_table(coll, benchmark="cd34")[0].data.set_index("arm")
    assert one.at["random", "target"] == pytest.approx(0.5 + 1 / 16)


def test_accuracy_values_best_in_bold_and_seed_counts(results):
    table = accuracy_table(collect(results, sweeps=["main"]))
    rows = table.data.set_index("arm")
    assert rows.at["wmi", "pass@1:average"] == pytest.approx(0.75)
    assert rows.at["random", "pass@1:cd34"] == pytest.approx(0.5 + 1 / 16)
    assert rows["n"].tolist() == [3, 2, 3]
    markdown = to_markdown(table)
    assert "| tiny-cpu | wmi | 3 | **81.2** [81.2, 81.2] | **68.8** [68.8, 68.8] | **75.0** [75.0, 75.0] |" in markdown
    assert "\\textbf{75.0}" in to_latex(table)


def test_golden_markdown_tables(results):
    coll = collect(results, sweeps=["main"])
    rendered = {
        "report_accuracy.md": to_markdown(accuracy_table(coll)),
        "report_efficiency.md": to_markdown(efficiency_table(coll)[0]),
    }
    for name, text in rendered.items():
        path = GOLDEN / name
        if os.environ.get("INSIGHT_UPDATE_GOLDEN"):
            path.write_text(text)
        assert text == path.read_text(), f"{name} changed; rerun with INSIGHT_UPDATE_GOLDEN=1 if intended"


def test_overhead_means_ratio_and_wall_time(results):
    rows = overhead_table(collect(results, sweeps=["main"])).data.set_index("arm")
    assert rows.at["wmi", "selector_s"] == pytest.approx(0.004)
    assert rows.at["wmi", "step_s"] == pytest.approx(2.0)
    assert rows.at["wmi", "selector_share"] == pytest.approx(0.002)
    assert rows.at["random", "wall_s"] == pytest.approx(200.0)


def test_same_runs_give_the_same_tables(results):
    first = efficiency_table(collect(results))[0].data
    second = efficiency_table(collect(results, workers=1))[0].data
    assert first.equals(second)


# --------------------------------------------------------------------------- robustness
@pytest.fixture()
def damaged(tmp_path, bases) -> tuple[Path, dict[str, RunDir]]:
    """Healthy Random + WMI runs, then one of each damage the report must survive."""
    root = tmp_path / "results"
    runs = {
        "random": write_run(root, bases["random"], random_curve, seed=1),
        "wmi": write_run(root, bases["wmi"], wmi_curve, seed=0),
        "truncated": write_run(root, bases["wmi"], wmi_curve, seed=1),
        "empty": write_run(root, bases["wmi"], wmi_curve, seed=2),
        "no_eval": write_run(root, bases["wmi"], None, seed=3, state="running", steps=[0, 10]),
        "no_metrics": write_run(root, bases["wmi"], wmi_curve, seed=4, state="failed"),
        "no_random": write_run(root, bases["wmi"], wmi_curve, seed=0, model__name="qwen3-4b"),
        "other_task": write_run(root, bases["random"], random_curve, seed=0, task__name="math"),
    }
    with runs["truncated"].file("eval.jsonl").open("a") as fh:
        fh.write('{"step": 110, "rollouts": 56320, "bench')
    runs["empty"].file("eval.jsonl").write_text("")
    runs["no_metrics"].file("metrics.jsonl").write_text("")
    return root, runs


def test_every_damage_is_a_warning_naming_its_run(damaged, tmp_path):
    root, runs = damaged
    report = make_report(root, out=tmp_path / "out", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    text = "\n".join(report.warnings)
    expected = {
        "truncated": "truncated last line",
        "empty": "empty eval.jsonl",
        "no_eval": "no eval.jsonl",
        "no_metrics": "metrics.jsonl is empty",
        "no_random": "no Random baseline",
        "other_task": "runs span 2 tasks",
    }
    for key, message in expected.items():
        lines = [w for w in report.warnings if run_name(runs[key]) in w]
        assert any(message in w for w in lines), f"{key}: no warning '{message}' naming it in:\n{text}"
    accuracy = report.tables["accuracy"].data.set_index(["model", "task", "arm"])
    assert accuracy.at[("tiny-cpu", "countdown", "wmi"), "n"] == 3  # seeds 0, 1 (truncated line skipped), 4
    assert accuracy.at[("tiny-cpu", "countdown", "wmi"), "n_unfinished"] == 1  # the failed run
    efficiency = report.tables["efficiency"].data.set_index(["model", "task", "arm"])
    assert math.isnan(efficiency.at[("qwen3-4b", "countdown", "wmi"), "speedup_steps"])
    # Random seed 1 reaches its own final 1/2 at step 100; WMI seeds 0, 1, 4 (curve step/160) average
    # (1/80 + 1/100 + 1/160)·step/3: 0.479 at step 50, 0.575 at 60
    assert efficiency.at[("tiny-cpu", "countdown", "wmi"), "speedup_steps"] == pytest.approx(100 / 60)
    assert {p.name for p in report.files} == {
        f"{t}.{s}" for t in ("accuracy", "efficiency", "overhead") for s in ("csv", "md", "tex")
    }


def test_in_progress_runs_are_included_and_marked(tmp_path, bases):
    root = tmp_path / "results"
    write_run(root, bases["random"], random_curve, seed=1)
    write_run(root, bases["wmi"], wmi_curve, seed=0)
    write_run(root, bases["wmi"], wmi_curve, seed=1, state="running", steps=STEPS[:4])
    coll = collect(root)
    assert sorted(coll.runs["state"]) == ["done", "done", "running"]
    table = accuracy_table(coll)
    assert "| tiny-cpu | wmi | 2* |" in to_markdown(table)
    assert table.data.set_index("arm").at["wmi", "pass@1:average"] == pytest.approx((0.75 + 0.3) / 2)


def test_report_with_no_random_and_no_eval_at_all_still_renders(tmp_path, bases):
    root = tmp_path / "results"
    write_run(root, bases["wmi"], None, seed=0, state="pending", steps=[])
    report = make_report(root, out=tmp_path / "out", stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))
    assert report.tables["accuracy"].data["n"].tolist() == [0]
    assert any("no evaluation yet" in w for w in report.warnings)


# --------------------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_writes_all_formats_and_prints_tables(results, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "--results-dir", str(results), "--sweep", "main", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Accuracy" in result.stdout and "Efficiency" in result.stdout and "Overhead" in result.stdout
    assert "8 runs (0 not finished)" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{t}.{s}" for t in ("accuracy", "efficiency", "overhead") for s in ("csv", "md", "tex")
    )
    assert (out / "accuracy.md").read_text() == (GOLDEN / "report_accuracy.md").read_text()
    header = (out / "efficiency.csv").read_text().splitlines()[0]
    assert "speedup_steps_lo" in header and "steps_to_target" in header


def test_cli_default_out_is_beside_the_sweep_and_formats_print(results):
    result = runner.invoke(
        app, ["report", "--results-dir", str(results), "--sweep", "main", "--table", "efficiency", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("model,task,arm,selector")
    assert (results / "main" / "report" / "efficiency.csv").exists()
    latex = runner.invoke(
        app,
        [
            "report",
            "--results-dir",
            str(results),
            "mu=0.3",
            "--table",
            "accuracy",
            "--format",
            "latex",
            "--out",
            str(results.parent / "tex"),
        ],
    )
    assert latex.exit_code == 0 and "\\begin{tabular}" in latex.stdout and "wmi" in latex.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["selector=nothing"], "error: no run matches selector=nothing"),
        (["--table", "speed"], "error: unknown table speed"),
        (["--plot", "pie"], "error: unknown plot pie"),
        (["--target", "250"], "error: --target 250"),
        (["--benchmark", "aime"], "error: no benchmark 'aime'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(results, args, message):
    result = runner.invoke(app, ["report", "--results-dir", str(results), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_cli_missing_results_dir_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(app, ["report", "--results-dir", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: results directory") and len(result.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- plots
def test_plots_are_written_as_png_and_pdf(results, tmp_path):
    out = tmp_path / "figures"
    result = runner.invoke(
        app, ["report", "--results-dir", str(results), "--table", "none", "--plot", "all", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{k}.{s}" for k in ("curves", "speedup", "mu", "selection") for s in ("png", "pdf"))
    assert "no pool figure" in result.stderr
    for name in names:
        data = (out / name).read_bytes()
        assert data[:4] in (b"\x89PNG", b"%PDF") and len(data) > 5000


def test_json_written_by_rundir_is_what_collect_reads(tmp_path, bases):
    run = write_run(tmp_path, bases["wmi"], wmi_curve, seed=0, steps=[0, 10])
    first = json.loads(run.file("eval.jsonl").read_text().splitlines()[0])
    row = collect(tmp_path).evals.iloc[0]
    assert (row["step"], row["benchmark"], row["pass@1"]) == (first["step"], first["benchmark"], first["pass@1"])
