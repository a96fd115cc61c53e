"""Test helpers: where ../shared lives, and running the real `lvrpo` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def lvrpo_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "lvrpo"
    return [str(exe)] if exe.exists() else [sys.executable, str(ROOT / "cli.py")]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run `lvrpo ARGS...` as a user would; never touches the network (HF offline)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    res = subprocess.run([*lvrpo_cmd(), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"lvrpo {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res
