"""The judge protocol every judge client implements (OpenAI-compatible HTTP, local transformers, world oracle)."""

from __future__ import annotations

from PIL import Image

from lvrpo.types import LvrpoError


class JudgeError(LvrpoError):
    """A judge call that failed after its retries; the adapter marks that sample unscored with this reason."""


class Judge:
    """Answers a grading prompt (optionally about images) deterministically (temperature 0)."""

    name: str = ""

    def complete(self, prompt: str, images: list[Image.Image] | None = None, *, max_tokens: int = 512,
                 temperature: float | None = 0.0) -> str:
        """The judge's reply text (`temperature` None: the server's default). Raises JudgeError on failure."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What goes into the manifest about this judge (never a key)."""
        return {"judge": self.name}
