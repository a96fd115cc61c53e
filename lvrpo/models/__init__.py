"""Backend resolution: `--model` (+ optional `--backend`) -> a Backend, capabilities checked up front.

`--model` is `replay:FILE`, `openai:MODEL[@URL]`, `nano`, a local checkpoint directory, or an HF hub id. The
backend follows from the checkpoint: `model_index.json` -> diffusers, `config.json` with model_type `janus` ->
janus, any other `config.json` -> hf. `--backend NAME` overrides the detection.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from pathlib import Path

from lvrpo.models.base import Backend, BackendOptions
from lvrpo.types import Kind, LvrpoError

BACKENDS = {
    "hf": "lvrpo.models.hf:HFBackend",
    "janus": "lvrpo.models.janus:JanusBackend",
    "diffusers": "lvrpo.models.diffusers:DiffusersBackend",
    "openai": "lvrpo.models.openai:OpenAIBackend",
    "vllm": "lvrpo.models.vllm:VLLMBackend",
    "replay": "lvrpo.models.replay:ReplayBackend",
}


def load_backend(model: str, backend: str | None = None, options: BackendOptions | None = None) -> Backend:
    """A ready backend for `model` (see the module docstring). Clear LvrpoError when nothing can load it."""
    options = options or BackendOptions()
    if backend is not None and backend not in BACKENDS:
        raise LvrpoError(f"unknown backend {backend!r} (valid: {', '.join(BACKENDS)})")
    if model == "nano":
        raise LvrpoError("--model nano: the ShapesWorld nano model is not available yet")
    for prefix in ("replay", "openai"):
        if model.startswith(prefix + ":"):
            return _make(backend or prefix, model[len(prefix) + 1:], options)
    return _make(backend or detect_backend(model), model, options)


def detect_backend(model: str) -> str:
    """The backend a checkpoint needs, from its `model_index.json` / `config.json` (local or on the hub)."""
    path = Path(model).expanduser()
    looks_local = path.exists() or model.startswith((".", "/", "~")) or model.count("/") != 1
    if looks_local:
        if not path.exists():
            raise LvrpoError(f"model path not found: {model}")
        if not path.is_dir():
            raise LvrpoError(f"--model {model}: expected a checkpoint directory")
        index, config = path / "model_index.json", path / "config.json"
        if index.is_file():
            return "diffusers"
        if not config.is_file():
            raise LvrpoError(f"{model}: no config.json or model_index.json: not a transformers/diffusers checkpoint")
        return _from_config(json.loads(config.read_text()))
    return _detect_on_hub(model)


def _from_config(config: dict) -> str:
    if config.get("model_type") == "multi_modality":  # deepseek-ai's original Janus repos: custom code
        raise LvrpoError("this is the original deepseek-ai Janus format (model_type multi_modality); use the "
                         "transformers conversion, e.g. deepseek-community/Janus-Pro-7B")
    return "janus" if config.get("model_type") == "janus" else "hf"


def _detect_on_hub(repo: str) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        try:
            hf_hub_download(repo, "model_index.json")
            return "diffusers"
        except EntryNotFoundError:
            return _from_config(json.loads(Path(hf_hub_download(repo, "config.json")).read_text()))
    except Exception as e:  # offline, gated, no such repo
        raise LvrpoError(f"cannot resolve {repo!r} on the HF hub ({type(e).__name__}); pass a local checkpoint "
                         "directory or --backend") from None


def _make(name: str, model: str, options: BackendOptions) -> Backend:
    module_name, _, cls = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise LvrpoError(f"the {name!r} backend is not available yet") from None
        raise
    return getattr(module, cls)(model, options)


def check_capabilities(backend: Backend, kinds: Iterable[Kind]) -> None:
    """One clear error listing every capability a suite needs that the backend lacks."""
    missing = sorted(set(kinds) - set(backend.capabilities))
    if missing:
        raise LvrpoError(f"model backend {backend.name!r} cannot do what the suite needs: {', '.join(missing)} "
                         f"(it can: {', '.join(sorted(backend.capabilities)) or 'nothing'})")
