"""Turn whatever an image column holds into a PIL image, with an error that says where it came from."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from lvrpo.types import LvrpoError


class ImageError(LvrpoError):
    """An image that cannot be read; the runner marks that one sample failed and goes on."""


def decode_image(value: Any, base_dir: Path | None = None, where: str = "image") -> Image.Image:
    """Decode an HF `Image` value ({bytes, path}), raw bytes, a data URI, or a path (relative to `base_dir`)."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict):
        if value.get("bytes"):
            return _open(io.BytesIO(value["bytes"]), where)
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return _open(io.BytesIO(value), where)
    if isinstance(value, str) and value:
        if value.startswith("data:image/"):
            try:
                raw = base64.b64decode(value.split(",", 1)[1], validate=True)
            except (ValueError, IndexError) as e:
                raise ImageError(f"{where}: bad base64 data URI ({e})") from None
            return _open(io.BytesIO(raw), where)
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
            # a relative path names a file inside the data folder: `../../etc/passwd` is refused (checked on the
            # path as written, so a folder that is a symlink to the images elsewhere still works)
            if not Path(os.path.normpath(path)).is_relative_to(os.path.normpath(base_dir)):
                raise ImageError(f"{where}: image path {value!r} points outside the data folder {base_dir}")
        if not path.is_file():
            raise ImageError(f"{where}: image file not found: {path}")
        return _open(path, where)
    raise ImageError(f"{where}: no image (got {type(value).__name__})")


def _open(src: Any, where: str) -> Image.Image:
    try:
        img = Image.open(src)
        img.load()  # surface truncated/corrupt files here, not deep inside a model
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise ImageError(f"{where}: not a readable image ({e})") from None
    return img
