"""Judge replies cached on disk, so a rerun (or a rescore) costs no API call for what was already judged.

One small JSON file per reply under `judge_cache_dir()`, named by a SHA-256 of everything that shapes the
reply (model, base URL, prompt, image pixels, decoding settings). Only replies are stored: never a key,
never a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

CACHE_ENV = "LVRPO_CACHE_DIR"


def judge_cache_dir() -> Path:
    """`$LVRPO_CACHE_DIR/judge`, else `~/.cache/lvrpo/judge`."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "lvrpo") / "judge"


def image_digest(image: Image.Image) -> str:
    """A hash of the decoded pixels (mode, size, bytes): independent of how the image is later encoded."""
    h = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def cache_key(**parts: Any) -> str:
    """SHA-256 of the parts as canonical JSON (images already reduced to their digests)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()  # any string a model returns


class ReplyCache:
    """`get`/`put` reply text by key; writes are atomic, so concurrent judges and killed runs leave no half files."""

    def __init__(self, root: Path | None = None):
        self.root = root or judge_cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            reply = json.loads(self._path(key).read_text(encoding="utf-8")).get("reply")
        except (OSError, ValueError, AttributeError):
            return None  # absent or unreadable: ask again
        return reply if isinstance(reply, str) else None

    def put(self, key: str, reply: str, **about: Any) -> None:
        """Store `reply` (plus non-secret `about` fields, e.g. the model, for whoever browses the cache)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({**about, "reply": reply}, f)  # ASCII escapes: any reply, lone surrogates too
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full disk costs a repeat call later, not this run
