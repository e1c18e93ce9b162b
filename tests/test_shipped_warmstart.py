"""The default recipe's warm-started weights ship with the package; loading verifies them and never trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from insight_cli.config import compose
from insight_cli.train import warmstart

RESHIP = "run `python scripts/ship_warmstart.py` and commit insight_cli/train/shipped/"


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    """(config, recipe, key) of the default config."""
    cfg = compose([f"paths.cache_dir={tmp_path_factory.mktemp('unused-cache')}"])
    spec = warmstart.recipe(cfg.model)
    return cfg, spec, warmstart.recipe_key(spec)


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch, default) -> Path:
    """A copy of the shipped folders that ensure_tiny_model reads instead of the package's; building raises."""
    copy = tmp_path / "shipped"
    shutil.copytree(warmstart.SHIPPED_DIR, copy)
    monkeypatch.setattr(warmstart, "SHIPPED_DIR", copy)

    def no_build(*args, **kwargs):
        raise AssertionError("the warm start was built although shipped weights exist for this recipe")

    monkeypatch.setattr(warmstart, "build_warm_started_model", no_build)
    return copy / default[2]


def same_files(a: Path, b: Path) -> bool:
    """Same file names and the same bytes in each."""
    names = sorted(p.name for p in a.iterdir())
    if names != sorted(p.name for p in b.iterdir()):
        return False
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def test_default_recipe_is_the_shipped_one(default):
    _, spec, key = default
    folders = [p.name for p in warmstart.SHIPPED_DIR.iterdir() if p.is_dir()]
    assert folders == [key], f"the shipped weights are for {folders}, the default recipe is {key}: {RESHIP}"
    shipped = json.loads((warmstart.SHIPPED_DIR / key / "recipe.json").read_text())
    assert shipped == spec, f"the shipped recipe differs from the default config's: {RESHIP}"
    warmstart.verify_shipped(warmstart.SHIPPED_DIR / key, spec)


def test_default_model_loads_from_shipped_weights(tmp_path, default, shipped_copy):
    from insight_cli.train.model import load_model

    cfg, _, key = default
    model, tokenizer, info = load_model(cfg.model, tmp_path / "cache", progress=False)
    folder = Path(info["path"])
    assert folder == tmp_path / "cache" / "tiny-models" / key
    assert same_files(folder, shipped_copy)
    assert json.loads((folder / warmstart.STATS).read_text())["origin"] == "shipped"
    assert model.num_parameters() > 0 and tokenizer.eos_token == "<eos>"
    assert not list(folder.parent.glob("*.building"))


def test_damaged_shipped_weights_fail_in_one_line_and_leave_no_cache(tmp_path, default, shipped_copy):
    cfg, _, key = default
    weights = shipped_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(warmstart.ShippedModelError) as caught:
        warmstart.ensure_tiny_model(cfg.model, tmp_path / "cache", progress=False)
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)  # the CLI turns it into one line and exit code 2
    assert "\n" not in message and "model.safetensors" in message and "reinstall" in message
    assert [p.name for p in (tmp_path / "cache" / "tiny-models").iterdir()] == [f"{key}.lock"]


def test_missing_shipped_file_fails_naming_it(tmp_path, default, shipped_copy):
    cfg, _, _ = default
    (shipped_copy / "tokenizer.json").unlink()
    with pytest.raises(warmstart.ShippedModelError, match=r"tokenizer\.json is missing"):
        warmstart.ensure_tiny_model(cfg.model, tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache" / "tiny-models" / default[2]).exists()


def test_a_cached_model_that_differs_from_the_shipped_one_is_replaced(tmp_path, default, shipped_copy):
    cfg, _, key = default
    stale = tmp_path / "cache" / "tiny-models" / key
    shutil.copytree(shipped_copy, stale)  # as if built on this machine: other weights, no checksums
    (stale / "model.safetensors").write_bytes(b"other weights")
    (stale / warmstart.CHECKSUMS).unlink()
    assert warmstart.ensure_tiny_model(cfg.model, tmp_path / "cache", progress=False) == stale
    assert same_files(stale, shipped_copy)
    # a cached copy whose only difference is the build statistics is used as it is
    (stale / warmstart.STATS).write_text("{}")
    warmstart.ensure_tiny_model(cfg.model, tmp_path / "cache", progress=False)
    assert (stale / warmstart.STATS).read_text() == "{}"


def test_other_recipes_build_locally(tmp_path, default, monkeypatch):
    cfg = compose([f"paths.cache_dir={tmp_path}", "model.warmstart.steps=2", "model.warmstart.num_problems=50"])
    calls = []
    build = warmstart.build_warm_started_model
    monkeypatch.setattr(warmstart, "build_warm_started_model", lambda *a, **k: calls.append(1) or build(*a, **k))
    folder = warmstart.ensure_tiny_model(cfg.model, tmp_path, progress=False)
    assert calls == [1] and folder.name != default[2]
    assert not (warmstart.SHIPPED_DIR / folder.name).exists()
    assert json.loads((folder / warmstart.STATS).read_text())["origin"] == "built"
    assert json.loads((folder / "recipe.json").read_text()) == warmstart.recipe(cfg.model)


def test_ship_script_writes_one_verified_folder(tmp_path, default):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ship", Path(__file__).parents[1] / "scripts" / "ship_warmstart.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    key = default[2]
    source = tmp_path / "cache" / key
    shutil.copytree(warmstart.SHIPPED_DIR / key, source)
    (source / warmstart.CHECKSUMS).unlink()
    (tmp_path / "shipped" / "0123456789abcdef").mkdir(parents=True)  # an older default: removed
    target = ship.ship(source, key, tmp_path / "shipped")
    assert [p.name for p in (tmp_path / "shipped").iterdir()] == [key]
    assert same_files(target, warmstart.SHIPPED_DIR / key)
