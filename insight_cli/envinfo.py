"""Facts about the software and machine, recorded in every run's meta.json and printed by ``insight env``."""

from __future__ import annotations

import importlib.util
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "insight",
    "torch",
    "transformers",
    "trl",
    "accelerate",
    "datasets",
    "numpy",
    "hydra-core",
    "submitit",
    "vllm",
    "math-verify",
)


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(path: Path | None = None) -> dict[str, str | bool | None]:
    """SHA and dirty flag of the checkout the package runs from (None outside a git checkout)."""
    root = path or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        )
        return {"sha": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def devices() -> dict[str, object]:
    import torch

    if torch.cuda.is_available():
        return {"cuda": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    return {"cuda": [], "cpu_threads": torch.get_num_threads()}


def environment(with_devices: bool = False) -> dict[str, object]:
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "git": git_state(),
        "packages": package_versions(),
    }
    if with_devices:
        info["devices"] = devices()
    return info


def has_module(name: str, python: str | None = None) -> bool:
    """Whether ``import name`` can find the module here, or in the interpreter ``python`` (a command line)."""
    if not python:
        return importlib.util.find_spec(name) is not None
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is None)"
    try:
        return subprocess.run([*python.split(), "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
