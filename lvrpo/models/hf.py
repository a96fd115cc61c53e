"""`hf`: any transformers image-text-to-text model with a chat template (Qwen2/2.5-VL, LLaVA(-OneVision),
Idefics3/SmolVLM, Gemma 3, ...), loaded with `AutoProcessor` + `AutoModelForImageTextToText`.

A batch is one left-padded `generate` call, greedy unless `--model-args temperature=T` (then sampled, with
`top_p`). Prompts come from the model's own chat template (prompting.py: images first, or at their `<image k>`
tags when the request asks). `--model-args`: `interleave=false` (always images first), `temperature`, `top_p`,
`device_map=auto` (spread a large model over the GPUs instead of `--device`).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from lvrpo.hub import offline_mode
from lvrpo.models.base import (
    Backend,
    BackendOptions,
    SampleError,
    check_model_args,
    explain_load_error,
    resolve_device,
    resolve_dtype,
    template_digest,
)
from lvrpo.models.prompting import finish, flag, number, render
from lvrpo.types import LvrpoError, Request

MODEL_ARGS = ("interleave", "temperature", "top_p", "device_map")


class HFBackend(Backend):
    """Answers questions about images with a transformers model; one `generate` call per batch."""

    name = "hf"
    capabilities = frozenset({"understand"})

    def __init__(self, model: str, options: BackendOptions | None = None):
        import torch  # noqa: F401  (fail here, not mid-run, when torch is missing)

        options = options or BackendOptions()
        extra = options.extra
        check_model_args(self.name, extra, MODEL_ARGS)
        self.path = model
        self.interleave = flag(extra.get("interleave"), True, "interleave")
        self.temperature = number(extra.get("temperature"), 0.0, "temperature")
        self.top_p = number(extra.get("top_p"), 1.0, "top_p")
        device_map = extra.get("device_map")
        self.device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, "cuda" if device_map else self.device)
        self.processor, self.model = _load(model, options, dtype, device_map)
        if not device_map:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None:
            raise LvrpoError(f"{model}: the processor has no tokenizer")
        self.tokenizer.padding_side = "left"  # batched decoder-only generation continues from the right edge
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def describe(self) -> dict:
        return {"backend": self.name, "architecture": type(self.model).__name__, "interleave": self.interleave,
                "generation": self._sampling(), "chat_template": template_digest(self.processor)}

    def _sampling(self) -> dict[str, Any]:
        if self.temperature > 0:
            return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
        # greedy; a checkpoint's generation_config may carry sampling values, which would only draw warnings
        return {"do_sample": False, "num_beams": 1, "temperature": None, "top_p": None, "top_k": None}

    def understand(self, requests: list[Request]) -> list[str]:
        """One greedy answer per request, all requests in one left-padded `generate` call. Each answer is cut at
        its own `max_new_tokens` (the call runs to the batch's largest) and at its `options["stop"]` strings."""
        import torch

        if not requests:
            return []
        rendered = [render(self.processor, r, self.interleave) for r in requests]
        inputs = self._encode(requests, rendered)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max(r.max_new_tokens for r in requests),
                                      **self._sampling())
        new = out[:, inputs["input_ids"].shape[1]:]
        return [finish(self.tokenizer.decode(row[:r.max_new_tokens], skip_special_tokens=True), r)
                for row, r in zip(new, requests, strict=True)]

    def _encode(self, requests: list[Request], rendered: list[tuple[str, list[Image.Image]]]):
        """Processor outputs for the batch, on the model's device, floats in the model's dtype. A request the
        processor cannot prepare is named (found by trying the requests one at a time)."""
        try:
            return self._process(rendered)
        except Exception as batch_error:
            culprit, error = requests[0], batch_error
            if len(requests) > 1:
                for r, one in zip(requests, rendered, strict=True):
                    try:
                        self._process([one])
                    except Exception as single:
                        culprit, error = r, single
                        break
            raise SampleError(culprit.id, f"hf: the processor cannot prepare request {culprit.id!r} "
                              f"({culprit.bench or 'no bench'}): {type(error).__name__}: {error}") from error

    def _process(self, rendered: list[tuple[str, list[Image.Image]]]):
        texts = [t for t, _ in rendered]
        images = [ims for _, ims in rendered] if any(ims for _, ims in rendered) else None
        batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        return batch.to(self.model.device, dtype=self.model.dtype)  # dtype applies to float tensors only


def _load(path: str, options: BackendOptions, dtype, device_map: str | None):
    """(processor, model) from `path`; any loading failure becomes one line naming the file at fault."""
    import transformers
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dtype_key = "dtype" if _version(transformers.__version__) >= (4, 56) else "torch_dtype"  # renamed in 4.56
    offline = offline_mode()  # set by lvrpo.hub when the hub cannot be reached: the cached copy, no retries
    kwargs: dict[str, Any] = {dtype_key: dtype, "trust_remote_code": options.trust_remote_code,
                              "local_files_only": offline}
    if options.attn_implementation:
        kwargs["attn_implementation"] = options.attn_implementation
    if device_map:
        kwargs["device_map"] = device_map
    try:
        processor = AutoProcessor.from_pretrained(path, trust_remote_code=options.trust_remote_code,
                                                  local_files_only=offline)
        model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    except LvrpoError:
        raise
    except Exception as e:
        hint = "" if options.trust_remote_code or "trust_remote_code" not in str(e) else \
            " (this checkpoint ships its own code: pass --trust-remote-code if you trust it)"
        err = explain_load_error(path, e)
        raise LvrpoError(f"{err}{hint}") from e
    return processor, model


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())
