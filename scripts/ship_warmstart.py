"""Ship the default recipe's warm-started tiny model with the package: insight_cli/train/shipped/<recipe key>/.

The warm start is not reproducible across machines (float kernels differ between CPUs of the same kind), so the
default recipe's weights are committed and every machine starts from them. Run this after anything that changes the
default recipe (conf/model/tiny-cpu.yaml or warmstart.RECIPE_VERSION; the task's pool does not enter it) and commit
the result; tests/test_shipped_warmstart.py fails until you do.

    python scripts/ship_warmstart.py                    # the default config
    python scripts/ship_warmstart.py task.train_size=1000   # the default composed with Hydra overrides

It composes the config, takes the model from the cache (waiting
for a build under way, building it if absent: minutes on 2 cores), copies it with a SHA256SUMS file, and removes any
other shipped key (only one recipe ships).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from insight_cli.config import compose
from insight_cli.train import warmstart


def cached_model(cfg) -> tuple[str, Path]:
    """(recipe key, cache folder) of the config's warm-started model, built or waited for if absent."""
    key = warmstart.recipe_key(warmstart.recipe(cfg.model))
    cache = Path(cfg.paths.cache_dir).expanduser()
    if not (cache / "tiny-models" / key / "recipe.json").exists():
        print(f"{key} is not in the cache {cache}: waiting for a build under way, or building it", flush=True)
    return key, warmstart.ensure_tiny_model(cfg.model, cache)


def ship(source: Path, key: str, shipped_dir: Path = warmstart.SHIPPED_DIR) -> Path:
    """Copy a cached model folder to ``shipped_dir/key`` with its checksums; remove every other shipped key."""
    shipped_dir.mkdir(parents=True, exist_ok=True)
    staging = shipped_dir / f".{key}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name != warmstart.CHECKSUMS:
            shutil.copyfile(path, staging / path.name)
    stats = json.loads((staging / warmstart.STATS).read_text())
    stats["origin"] = "shipped"
    (staging / warmstart.STATS).write_text(json.dumps(stats, indent=2) + "\n")
    warmstart.write_checksums(staging)
    warmstart.verify_shipped(staging, json.loads((staging / "recipe.json").read_text()))
    for old in shipped_dir.iterdir():
        if old.is_dir() and old != staging:
            shutil.rmtree(old)
    staging.rename(shipped_dir / key)
    return shipped_dir / key


def main(overrides: list[str]) -> None:
    cfg = compose(overrides)
    if cfg.model.hf_id:
        sys.exit("error: the composed model is a hub checkpoint, not the tiny model: nothing to ship")
    key, source = cached_model(cfg)
    target = ship(source, key)
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"shipped recipe {key}: {size / 1e6:.2f} MB in {target}")
    print(f"commit it: git add {target.parent}")


if __name__ == "__main__":
    main(sys.argv[1:])
