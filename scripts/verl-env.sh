#!/usr/bin/env bash
# Build .venv-verl/: a separate virtual environment with verl, for the tests marked `verl` (docs/verl.md).
#
#     bash scripts/verl-env.sh              # build once (skips if already built and working)
#     bash scripts/verl-env.sh --force      # rebuild from scratch
#     .venv-verl/bin/python -m pytest -m verl tests/test_verl_sampler.py   # run the verl tier inside it
#
# Why verl 0.7.1: it is the last release with the curriculum-sampler hook (`data.sampler.class_path`,
# verl/experimental/dataset/sampler.py); 0.8.0 removed both. It predates transformers 5 and needs numpy < 2, and pulls
# ray, tensordict and torchdata; its `trl` extra pins TRL ≤ 0.9.6 (not installed here). The main environment keeps the
# newest transformers and TRL, so this one is separate: verl's plain package (no extras) on the CPU torch,
# transformers < 5, and this checkout installed without its dependencies plus what `insight_cli.selectors` needs.
#
# torch 2.13.0+cpu comes from pip's configured wheel sources (on our machines a local wheel folder). Elsewhere set
# INSIGHT_TORCH_INDEX=https://download.pytorch.org/whl/cpu. INSIGHT_VERL_VENV moves the environment; PYTHON picks
# the interpreter (≥ 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${INSIGHT_VERL_VENV:-.venv-verl}
PY="$VENV/bin/python"
VERL_VERSION=0.7.1
TRANSFORMERS_RANGE="<5"
# verl 0.7.1 needs numpy < 2; pyarrow 26 (the newest, pulled by datasets) needs NumPy >= 2, pyarrow 21 works with 1.26
PYARROW_RANGE="<22"
TORCH_VERSION=2.13.0+cpu

# --- is it already built and working? (every pin holds, no CUDA wheels, this checkout is installed)
healthy() {
    [ -x "$PY" ] || return 1
    "$PY" - "$VERL_VERSION" "$TORCH_VERSION" "$PWD" <<'PYEOF' >/dev/null 2>&1
import importlib.util, sys
from importlib.metadata import version
from pathlib import Path
verl_version, torch_version, repo = sys.argv[1:]
assert version("verl") == verl_version and version("torch") == torch_version
assert int(version("transformers").split(".")[0]) < 5
assert all(importlib.util.find_spec(n) is None for n in ("torchvision", "torchaudio", "torchcodec", "trl"))
import insight_cli, insight_cli.selectors, verl, scipy, pytest, pyarrow, datasets  # noqa: F401,E401
from verl import DataProto  # noqa: F401
from verl.experimental.dataset.sampler import AbstractCurriculumSampler  # noqa: F401
from verl.trainer.main_ppo import create_rl_sampler  # noqa: F401
from torchdata.stateful_dataloader import StatefulDataLoader  # noqa: F401
assert Path(insight_cli.__file__).resolve().is_relative_to(Path(repo).resolve())
PYEOF
}

if [ "${1:-}" != "--force" ] && healthy; then
    echo "verl environment already built: $VENV ($("$PY" -c 'import verl; print("verl", verl.__version__)'))"
    exit 0
fi

start=$(date +%s)
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "verl-env.sh needs Python >= 3.11"'
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
if [ -n "${INSIGHT_TORCH_INDEX:-}" ]; then
    PIP+=(--extra-index-url "$INSIGHT_TORCH_INDEX")
fi

# --- 1. the CPU torch first, so nothing after it can swap in a CUDA build
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "torch==$TORCH_VERSION"

# --- 2. verl (no extras) and what the tests and insight_cli.selectors need, held to the torch pin
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
printf '%s\n' "torch==$TORCH_VERSION" "verl==$VERL_VERSION" "transformers$TRANSFORMERS_RANGE" "pyarrow$PYARROW_RANGE" \
    >"$constraints"
"${PIP[@]}" -c "$constraints" "verl==$VERL_VERSION" "transformers$TRANSFORMERS_RANGE" "scipy>=1.11" "pytest>=8" \
    "hypothesis>=6.100"

# --- 3. this checkout, without its dependencies (they are the main environment's: newest transformers, TRL)
"${PIP[@]}" --no-deps -e .

# --- 4. check and report
if ! healthy; then
    echo "verl environment in $VENV failed its check: run '$PY -c \"import verl, insight_cli.selectors\"' to see why" >&2
    exit 1
fi
"$PY" -c 'from importlib.metadata import version as v; print("built:", *(f"{p} {v(p)}" for p in
    ("verl", "torch", "transformers", "ray", "tensordict", "torchdata", "numpy")))'
echo "took $(($(date +%s) - start)) s, $(du -sh "$VENV" | cut -f1) on disk: $VENV"
