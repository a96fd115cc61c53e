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
                 temperature: float | None = 0.0, system: str | None = None, image_format: str = "png",
                 attempt: int = 0, extra_body: dict | None = None) -> str:
        """The judge's reply text. Raises JudgeError when no reply could be had.

        Official protocols differ, so a call may set: `temperature` (None: the server's default), a `system`
        message, `image_format` ("png", or "jpeg" at quality 75 as GEdit sends), `extra_body` (extra request
        fields for HTTP judges, e.g. vLLM's `chat_template_kwargs`), and `attempt`: the adapter's re-ask number
        after an unreadable reply, so that a re-ask gets a fresh reply while a rerun of the same run is
        answered from the cache.
        """
        raise NotImplementedError

    def describe(self) -> dict:
        """What goes into the manifest about this judge (never a key)."""
        return {"judge": self.name}
