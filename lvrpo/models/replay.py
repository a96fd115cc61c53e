"""`replay:FILE`: answers from stored predictions, so the whole eval loop runs without a model."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from PIL import Image

from lvrpo.models.base import Backend, BackendOptions
from lvrpo.predictions import read_predictions
from lvrpo.types import LvrpoError, Output, Request


class ReplayBackend(Backend):
    """Looks each request up by (bench, id) — or id alone for lines without a "bench" field.

    `LVRPO_REPLAY_DELAY` (seconds per request) simulates model latency, e.g. to try resume by hand.
    """

    name = "replay"
    capabilities = frozenset({"understand", "generate", "edit"})

    def __init__(self, path: str, options: BackendOptions | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise LvrpoError(f"replay: predictions file not found: {path}")
        self.outputs: dict[tuple[str, str], Output] = {}
        for bench, out in read_predictions(self.path, keep_bench=True):
            self.outputs[(bench, out.id)] = out
        self.delay = float(os.environ.get("LVRPO_REPLAY_DELAY", "0") or 0)
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def _lookup(self, req: Request) -> Output:
        if self.delay:
            time.sleep(self.delay)
        out = self.outputs.get((req.bench, req.id)) or self.outputs.get(("", req.id))
        if out is None:
            raise LvrpoError(f"replay: {self.path} has no prediction for {req.bench} id {req.id!r}")
        return out

    def understand(self, requests: list[Request]) -> list[str]:
        return [self._lookup(r).text or "" for r in requests]

    def generate(self, requests: list[Request]) -> list[list[Image.Image]]:
        return [[Image.open(p) for p in self._lookup(r).images] for r in requests]

    edit = generate

    def describe(self) -> dict:
        # the file's content is the model: another content at the same path is another run
        return {"backend": self.name, "path": str(self.path), "sha256": self.digest}
