"""The model backend protocol: whichever of understand / generate / edit a backend can do."""

from __future__ import annotations

from PIL import Image

from lvrpo.types import Kind, LvrpoError, Request


class Backend:
    """A model under test. `capabilities` names the methods it implements."""

    name: str = ""
    capabilities: frozenset[Kind] = frozenset()

    def understand(self, requests: list[Request]) -> list[str]:
        """One answer per request (greedy unless the request says otherwise)."""
        raise LvrpoError(f"backend {self.name!r} cannot answer questions about images")

    def generate(self, requests: list[Request]) -> list[list[Image.Image]]:
        """`request.num_images` images per text-to-image request."""
        raise LvrpoError(f"backend {self.name!r} cannot generate images")

    def edit(self, requests: list[Request]) -> list[list[Image.Image]]:
        """`request.num_images` edited images per request (source image in `request.images`)."""
        raise LvrpoError(f"backend {self.name!r} cannot edit images")

    def describe(self) -> dict:
        """What goes into the manifest about this model (no secrets)."""
        return {"backend": self.name}
