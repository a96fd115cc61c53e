"""Predictions files: JSONL, one `{"id": ..., "output": "text"}` or `{"id": ..., "image(s)": ...}` per line."""

from __future__ import annotations

import json
from pathlib import Path

from lvrpo.types import LvrpoError, Output


def read_predictions(path: Path, keep_bench: bool = False) -> list[tuple[str, Output]]:
    """(bench, Output) per line, image paths made absolute (they are relative to the file).

    Raises with file and line for a line that is not a JSON object with an `id`, or a repeated id.
    """
    if not path.is_file():
        raise LvrpoError(f"predictions file not found: {path}")
    out, seen = [], set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise LvrpoError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or row.get("id") is None:
                raise LvrpoError(f"{path}:{n}: prediction has no 'id'")
            bench = str(row.get("bench", "")) if keep_bench else ""
            pred = Output.from_json(row)
            if (bench, pred.id) in seen:
                raise LvrpoError(f"{path}:{n}: id {pred.id!r} appears twice")
            seen.add((bench, pred.id))
            pred.images = [str((path.parent / p).resolve()) for p in pred.images]
            out.append((bench, pred))
    return out
