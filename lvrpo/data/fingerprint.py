"""Content digests of benchmark rows, so a run knows *what* it predicted and scored.

Every stored prediction carries the digest of the row's model-facing content (`input_digest`: all columns but
the adapter's `answer_columns`) and every stored score the digest of the whole row plus the prediction and the
scorer version (`score_key`). On resume a prediction whose input changed is made again and a score whose row,
prediction or scorer changed is recomputed: the same command never prints a summary of other data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from lvrpo.types import Output, Sample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))  # length-prefixed: no two part lists hash alike
        h.update(p)
    return h.hexdigest()


def _encode(value: Any, base_dir: Path | None) -> bytes:
    """A canonical, type-sensitive byte form of a cell (1 and "1" differ; an image path stands for its bytes)."""
    if isinstance(value, Image.Image):
        return b"I" + _sha(f"{value.mode}:{value.size}".encode(), value.tobytes()).encode()
    if isinstance(value, (bytes, bytearray)):
        return b"B" + _sha(bytes(value)).encode()
    if isinstance(value, dict):
        items = (json.dumps(str(k)).encode() + _encode(value[k], base_dir) for k in sorted(value, key=str))
        return b"D" + _sha(*items).encode()
    if isinstance(value, (list, tuple)):
        return b"L" + _sha(*(_encode(v, base_dir) for v in value)).encode()
    if isinstance(value, str) and value.lower().endswith(IMAGE_SUFFIXES):
        path = Path(value) if base_dir is None or Path(value).is_absolute() else base_dir / value
        if path.is_file():
            return b"F" + _sha(value.encode(), path.read_bytes()).encode()
    try:
        return b"J" + json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return b"R" + repr(value).encode("utf-8", "surrogatepass")


def row_digest(sample: Sample, skip: Iterable[str] = ()) -> str:
    """sha256 over the sample's columns (minus `skip`), names included."""
    skip = set(skip)
    return _sha(*(json.dumps(k).encode() + _encode(v, sample.base_dir)
                  for k, v in sorted(sample.row.items()) if k not in skip))


def input_digest(sample: Sample, answer_columns: Iterable[str]) -> str:
    """What the model sees of a sample: every column but the gold-only ones."""
    return row_digest(sample, answer_columns)


def score_key(sample: Sample, output: Output, scorer: str, base: Path | None = None) -> str:
    """What a stored score depends on: the whole row, the prediction (image paths relative to `base`), the scorer."""
    images = [str(Path(p).relative_to(base)) if base and Path(p).is_relative_to(base) else p for p in output.images]
    prediction = json.dumps([output.text, output.error, images], ensure_ascii=False).encode("utf-8", "surrogatepass")
    return _sha(row_digest(sample).encode(), prediction, scorer.encode())


def data_fingerprint(samples: list[Sample]) -> str:
    """One digest of a loaded benchmark: its ids and rows, in order."""
    return _sha(*(s.id.encode("utf-8", "surrogatepass") + row_digest(s).encode() for s in samples))
