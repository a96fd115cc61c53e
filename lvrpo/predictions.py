"""Predictions files: JSONL, one `{"id": ..., "output": "text"}` or `{"id": ..., "image(s)": ...}` per line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lvrpo.data import json_lines, json_type
from lvrpo.types import LvrpoError, Output

TEXT_FIELDS = ("output", "image", "error", "data_error")  # each a string or null


def read_predictions(path: Path, keep_bench: bool = False) -> list[tuple[str, Output]]:
    """(bench, Output) per line, image paths made absolute (they are relative to the file).

    Raises with file and line for a line that is not UTF-8, not a JSON object with an `id`, has a field of the
    wrong type, or repeats an id; and for a file with no predictions.
    """
    if not path.is_file():
        raise LvrpoError(f"predictions file not found: {path}")
    out, seen = [], set()
    for n, row in json_lines(path):
        where = f"{path}:{n}"
        if not isinstance(row, dict) or row.get("id") is None:
            found = "" if isinstance(row, dict) else f" (a line must be a JSON object, not {json_type(row)})"
            raise LvrpoError(f"{where}: prediction has no 'id'{found}")
        _check_types(row, where)
        bench = str(row.get("bench", "")) if keep_bench else ""
        pred = Output.from_json(row)
        if (bench, pred.id) in seen:
            raise LvrpoError(f"{where}: id {pred.id!r} appears twice")
        seen.add((bench, pred.id))
        try:
            pred.images = [str((path.parent / p).resolve()) for p in pred.images]
        except (ValueError, OSError, RuntimeError) as e:  # a NUL or lone surrogate in the name, a symlink loop
            raise LvrpoError(f"{where}: an image path is not a usable file name ({e})") from None
        out.append((bench, pred))
    if not out:
        raise LvrpoError(f"{path}: no predictions (the file is empty)")
    return out


def _check_types(row: dict[str, Any], where: str) -> None:
    """Field types a scorer relies on: a number or a list as `output` is a bug in whatever wrote the file."""
    if isinstance(row["id"], (dict, list, bool)):
        raise LvrpoError(f"{where}: 'id' must be a string or a number, not {json_type(row['id'])}")
    for key in TEXT_FIELDS:
        if not isinstance(row.get(key), (str, type(None))):
            raise LvrpoError(f"{where}: '{key}' must be a string or null, not {json_type(row[key])}")
    images = row.get("images")
    bad = next((p for p in images if not isinstance(p, str)), None) if isinstance(images, list) else images
    if bad is not None:
        raise LvrpoError(f"{where}: 'images' must be a list of file paths (strings); found {json_type(bad)}")
