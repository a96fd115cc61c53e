"""Backend resolution: `--model` (+ optional `--backend`) -> a Backend, capabilities checked up front."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lvrpo.models.base import Backend
from lvrpo.types import Kind, LvrpoError

PLANNED = ("hf", "janus", "diffusers", "openai", "vllm", "nano")


def load_backend(model: str, backend: str | None = None) -> Backend:
    """A backend for `model`: `replay:FILE`, `openai:MODEL[@URL]`, `nano`, a checkpoint dir or an HF id."""
    if model.startswith("replay:") or backend == "replay":
        from lvrpo.models.replay import ReplayBackend

        return ReplayBackend(model.removeprefix("replay:"))
    if model.startswith("openai:") or model == "nano" or backend in PLANNED:
        kind = backend or model.split(":")[0]
        raise LvrpoError(f"the {kind!r} backend is not available yet")
    path = Path(model)
    if model.startswith((".", "/", "~")) or path.exists() or model.count("/") != 1:
        if not path.expanduser().exists():
            raise LvrpoError(f"model path not found: {model}")
        raise LvrpoError(f"no backend can load {model} yet (transformers/diffusers backends are not available yet)")
    raise LvrpoError(f"loading {model!r} from the HF hub is not available yet")


def check_capabilities(backend: Backend, kinds: Iterable[Kind]) -> None:
    """One clear error listing every capability a suite needs that the backend lacks."""
    missing = sorted(set(kinds) - set(backend.capabilities))
    if missing:
        raise LvrpoError(f"model backend {backend.name!r} cannot do what the suite needs: {', '.join(missing)}")
