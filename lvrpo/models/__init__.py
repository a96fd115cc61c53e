"""Backend resolution: `--model` (+ optional `--backend`) -> a Backend, capabilities checked up front.

`--model` is `replay:FILE`, `openai:MODEL[@URL]`, `nano`, a local checkpoint directory, or an HF hub id. The
backend follows from the checkpoint: `model_index.json` -> diffusers, `config.json` with model_type `janus` ->
janus, any other `config.json` -> hf. `--backend NAME` overrides the detection. What the backend can do is decided
from that file too (`Backend.capabilities_for`), so a suite the model cannot run fails before any weights load.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from pathlib import Path

from lvrpo.hub import ensure_hub, is_hub_id
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
NOT_CHECKPOINTS = ("replay", "openai")  # backends whose --model is no checkpoint (also usable as `NAME:` prefixes)


def load_backend(model: str, backend: str | None = None, options: BackendOptions | None = None,
                 needs: Iterable[Kind] = ()) -> Backend:
    """A ready backend for `model` (see the module docstring). Clear LvrpoError when nothing can load it, or when
    it cannot do every kind in `needs`: that is decided from the checkpoint's config, before any weights load."""
    options = options or BackendOptions()
    if backend is not None and backend not in BACKENDS:
        raise LvrpoError(f"unknown backend {backend!r} (valid: {', '.join(BACKENDS)})")
    if model == "nano":  # the packaged ShapesWorld model, a Janus checkpoint like any other
        from lvrpo.world.nano import checkpoint

        model, backend = checkpoint(), backend or "janus"
    prefix = next((p for p in NOT_CHECKPOINTS if model.startswith(p + ":")), None)
    if prefix:
        name, model, config = backend or prefix, model[len(prefix) + 1:], {}
    elif backend in NOT_CHECKPOINTS:
        name, config = backend, {}
    else:  # a forced backend may take what detection cannot tell (vLLM: a GGUF file): only a found config counts
        filename, config = checkpoint_config(model, strict=backend is None)
        name = backend or _backend_for(filename, config)
    cls = _backend_class(name)
    _check(name, cls.capabilities_for(config), needs)
    return cls(model, options)


def detect_backend(model: str) -> str:
    """The backend a checkpoint needs, from its `model_index.json` / `config.json` (local or on the hub)."""
    return _backend_for(*checkpoint_config(model))


def checkpoint_config(model: str, strict: bool = True) -> tuple[str, dict]:
    """(`model_index.json` or `config.json`, its content) of a local checkpoint directory or a hub id; when there
    is neither, an error, or ("", {}) unless `strict`."""
    if is_hub_id(model):
        return _config_on_hub(model, strict)
    path = Path(model).expanduser()
    if not path.exists():
        raise LvrpoError(f"model path not found: {model}")
    if strict and not path.is_dir():
        raise LvrpoError(f"--model {model}: expected a checkpoint directory")
    for filename in ("model_index.json", "config.json"):
        if (path / filename).is_file():
            return filename, json.loads((path / filename).read_text())
    if strict:
        raise LvrpoError(f"{model}: no config.json or model_index.json: not a transformers/diffusers checkpoint")
    return "", {}


def _backend_for(filename: str, config: dict) -> str:
    if filename == "model_index.json":
        return "diffusers"
    if config.get("model_type") == "multi_modality":  # deepseek-ai's original Janus repos: custom code
        raise LvrpoError("this is the original deepseek-ai Janus format (model_type multi_modality); use the "
                         "transformers conversion, e.g. deepseek-community/Janus-Pro-7B")
    return "janus" if config.get("model_type") == "janus" else "hf"


def _config_on_hub(repo: str, strict: bool) -> tuple[str, dict]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError

    offline = ensure_hub(repo, "--model")  # fails fast (one line) without network, or reads the local cache
    # offline, a file missing from the cache is one the repo lacks too; online, only the hub's "no such file" is
    absent = EntryNotFoundError if offline else RemoteEntryNotFoundError
    try:
        for filename in ("model_index.json", "config.json"):
            try:
                return filename, json.loads(Path(hf_hub_download(repo, filename, local_files_only=offline)).read_text())
            except absent:
                continue
        if not strict:
            return "", {}
        raise LvrpoError(f"{repo}: no config.json or model_index.json on the HF hub: not a transformers/diffusers "
                         "checkpoint")
    except LvrpoError:
        raise
    except Exception as e:  # gated, no such repo
        if not strict:  # a forced backend: its own loading says what is wrong
            return "", {}
        raise LvrpoError(f"cannot resolve {repo!r} on the HF hub ({type(e).__name__}); pass a local checkpoint "
                         "directory or --backend") from None


def _backend_class(name: str) -> type[Backend]:
    module_name, _, cls = BACKENDS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise LvrpoError(f"the {name!r} backend is not available yet") from None
        raise
    return getattr(module, cls)


def check_capabilities(backend: Backend, kinds: Iterable[Kind]) -> None:
    """One clear error listing every capability a suite needs that the backend lacks."""
    _check(backend.name, backend.capabilities, kinds)


def _check(name: str, capabilities: Iterable[Kind], kinds: Iterable[Kind]) -> None:
    missing = sorted(set(kinds) - set(capabilities))
    if missing:
        raise LvrpoError(f"model backend {name!r} cannot do what the suite needs: {', '.join(missing)} "
                         f"(it can: {', '.join(sorted(capabilities)) or 'nothing'})")
