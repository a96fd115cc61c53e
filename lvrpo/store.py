"""The run directory: append-only JSONL per benchmark plus a manifest, so a killed run resumes.

runs/<name>/manifest.json                model, suite, config, versions, git sha, seeds (never secrets)
runs/<name>/<bench>/predictions.jsonl    one line per sample, flushed as produced
runs/<name>/<bench>/scores.jsonl         per-sample scores
runs/<name>/<bench>/summary.json         headline + breakdown, official scale
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from lvrpo.types import LvrpoError

SECRET_KEY = re.compile(r"(key|token|secret|password|authorization)", re.I)


class JsonlLog:
    """An append-only JSONL file whose every line is flushed; a torn last line (a kill mid-write) is dropped."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        self._repair()
        rows = []
        with self.path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise LvrpoError(f"{self.path}:{n}: corrupt line in run store") from None
        return rows

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append and flush (a killed process loses nothing appended); `sync` makes it survive a power loss."""
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write("".join(dumps(row) + "\n" for row in rows))
            f.flush()

    def sync(self) -> None:
        """fsync the file: called once a phase (predict, score) of a benchmark is complete, not per line."""
        if self.path.exists():
            with self.path.open("rb") as f:
                os.fsync(f.fileno())

    def _repair(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)


class RunStore:
    """One run directory. `open` refuses a directory made with a different config unless `overwrite`."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def open(self, config: dict[str, Any], info: dict[str, Any], overwrite: bool = False) -> None:
        """Create or resume the run. `config` decides identity; `info` (suite, benchmarks...) is recorded."""
        config = redact(config)
        if self.root.exists() and not self.root.is_dir():
            raise LvrpoError(f"--out {self.root}: is a file, not a run directory")
        if self.manifest_path.exists():
            old = {} if overwrite else read_manifest(self.root, fix="pass --overwrite to start this run over")
            if overwrite:
                shutil.rmtree(self.root)
            elif old.get("config") != config:
                diff = sorted(k for k in set(old.get("config", {})) | set(config)
                              if old.get("config", {}).get(k) != config.get(k))
                raise LvrpoError(f"{self.root} was made with a different config (differs in: {', '.join(diff)}); "
                                 "pass --overwrite to replace it or --out to write elsewhere")
            else:
                benches = set(old.get("benchmarks", [])) | set(info.get("benchmarks", []))
                info = {**old, **info, "benchmarks": sorted(benches)}
        elif overwrite and self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = {**redact(info), "config": config, "versions": package_versions(), "git_sha": git_sha(),
                    "python": platform.python_version()}
        manifest.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json(self.manifest_path, manifest)

    def bench_dir(self, spec: str) -> Path:
        d = self.root / spec.replace(":", "_")
        d.mkdir(parents=True, exist_ok=True)
        return d


def dumps(obj: Any, **kw: Any) -> str:
    """JSON text that UTF-8 can always encode: readable non-ASCII text, but `\\uXXXX` escapes when a string holds
    a lone surrogate (a model can emit one; it must be stored and scored, not crash the run)."""
    text = json.dumps(obj, ensure_ascii=False, **kw)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, **kw)
    return text


def read_manifest(root: Path, fix: str = "") -> dict[str, Any]:
    """A run directory's manifest, or one clear error when `root` is not a run directory or the manifest is
    corrupt (empty, half-written, not a JSON object); `fix` says what the user can do about it."""
    path = root / "manifest.json"
    if not path.is_file():
        raise LvrpoError(f"{root}: not a run directory (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise LvrpoError(f"{path}: corrupt manifest ({type(e).__name__}){'; ' + fix if fix else ''}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config", {}), dict):
        raise LvrpoError(f"{path}: corrupt manifest (not a JSON object with a config){'; ' + fix if fix else ''}")
    return manifest


def write_json(path: Path, obj: Any) -> None:
    """Write atomically: a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(dumps(obj, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())  # on disk before it replaces the old file: never an empty summary after a crash
    os.replace(tmp, path)


def redact(obj: Any) -> Any:
    """Drop secret-looking keys and credentials embedded in URLs, recursively."""
    if isinstance(obj, dict):
        return {k: redact(v) for k, v in obj.items() if not SECRET_KEY.search(str(k))}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return re.sub(r"(\w+://)[^/@\s]+@", r"\1", obj)
    return obj


def package_versions() -> dict[str, str | None]:
    out = {}
    for pkg in ("lvrpo", "torch", "transformers", "diffusers", "datasets", "pillow", "numpy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_sha() -> str | None:
    """The commit of the lvrpo checkout that produced the run, if it is a git checkout."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None
