"""The model backend protocol: whichever of understand / generate / edit a backend can do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from lvrpo.types import Kind, LvrpoError, Request


class SampleError(LvrpoError):
    """One request a backend cannot run (an image its processor rejects...): that sample fails, the run goes on."""

    def __init__(self, request_id: str, message: str):
        super().__init__(message)
        self.request_id = request_id


@dataclass
class BackendOptions:
    """How to load and run a model: the common flags plus backend-specific `--model-args k=v,...`."""

    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    attn_implementation: str | None = None
    trust_remote_code: bool = False  # only when the user asks
    extra: dict[str, str] = field(default_factory=dict)


def check_model_args(backend: str, extra: Mapping[str, str], valid: Iterable[str]) -> None:
    """Reject `--model-args` keys the backend does not take (a typo must not silently fall back to a default)."""
    valid = list(valid)
    unknown = sorted(set(extra) - set(valid))
    if unknown:
        raise LvrpoError(f"{backend}: unknown --model-args {', '.join(unknown)} (valid: {', '.join(valid)})")


def resolve_device(device: str) -> str:
    """`auto`: cuda when available, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str):
    """`auto`: bfloat16 on GPU, float32 on CPU (bf16 on CPU is slow and flips near-tied greedy tokens)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise LvrpoError(f"--dtype {dtype!r}: expected auto, float32, bfloat16 or float16") from None


def request_seed(r: Request) -> int:
    """The request's seed, else the global one (`--seed`, set by the CLI through torch.manual_seed)."""
    import torch

    return int(r.seed) if r.seed is not None else torch.initial_seed() % 2**62


def template_digest(processor: Any) -> str | None:
    """sha256 (16 hex) of the chat template that renders every prompt: part of the run's identity, so a
    checkpoint whose template changed is not resumed as if it were the same model."""
    import hashlib

    template = getattr(processor, "chat_template", None) or getattr(getattr(processor, "tokenizer", None),
                                                                   "chat_template", None)
    if not isinstance(template, str):
        return None
    return hashlib.sha256(template.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def explain_load_error(path: str, error: Exception) -> LvrpoError:
    """A loading failure turned into one clear line naming the checkpoint file at fault when it can be found."""
    local = Path(path)
    if local.is_dir():
        weights = sorted(p.name for p in local.rglob("*") if p.suffix in (".safetensors", ".bin"))
        if not weights:
            return LvrpoError(f"{path}: no weights file (*.safetensors) in the checkpoint directory")
        for name in weights:
            if name.endswith(".safetensors"):
                from safetensors import safe_open

                for f in local.rglob(name):
                    try:
                        with safe_open(str(f), framework="pt") as st:
                            list(st.keys())
                    except Exception as e:  # header unreadable: truncated or not safetensors at all
                        return LvrpoError(f"{f}: corrupt weights file ({e})")
    return LvrpoError(f"cannot load {path}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")


class Backend:
    """A model under test. `capabilities` names the methods it implements."""

    name: str = ""
    capabilities: frozenset[Kind] = frozenset()

    @classmethod
    def capabilities_for(cls, config: dict) -> frozenset[Kind]:
        """What the backend will be able to do with the checkpoint whose `config.json` / `model_index.json` is
        `config` ({} for none), known before anything is loaded; a superset when only loading can tell."""
        return cls.capabilities

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
