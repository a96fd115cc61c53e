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


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def make_mme_fixture(root: Path, images_per_task: int = 2) -> tuple[Path, Path]:
    """A small MME-schema jsonl (real PNGs, paths relative to the file) and a replay file answering it.

    The answers follow a fixed pattern so that some images get both questions right, some one, some none.
    """
    from PIL import Image

    from evals.mme import COGNITION, PERCEPTION

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, preds = [], []
    answers = ["Yes", "yes.", "No", "Yes", "no", "nope", "I don't know", "No"]
    for t, task in enumerate(PERCEPTION + COGNITION):
        for k in range(images_per_task):
            name = f"{task}_{k:03d}.png"
            Image.new("RGB", (8, 8), ((37 * t) % 256, (91 * k) % 256, 128)).save(root / "images" / name)
            for gt in ("Yes", "No"):
                question = f"Is this {task} {k}? Please answer yes or no."
                rows.append({"question_id": f"{task}/{name}", "question": question, "answer": gt, "category": task,
                             "image": f"images/{name}"})
                preds.append({"id": str(len(preds)), "output": answers[(len(preds) + t) % len(answers)]})
    return write_jsonl(root / "mme.jsonl", rows), write_jsonl(root / "preds.jsonl", preds)


def lavin_to_official_schema(lavin_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Convert the official MME eval_tool results format (image \\t question \\t gt \\t response per line, one
    file per subtask) into an HF-schema data jsonl (no images: scoring needs none) and a predictions jsonl."""
    rows, preds = [], []
    for f in sorted(lavin_dir.glob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            name, question, gt, response = line.split("\t")
            preds.append({"id": str(len(rows)), "output": response})
            rows.append({"question_id": f"{f.stem}/{name}", "question": question, "answer": gt, "category": f.stem})
    return write_jsonl(out_dir / "mme.jsonl", rows), write_jsonl(out_dir / "preds.jsonl", preds)
