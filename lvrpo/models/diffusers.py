"""`diffusers`: any `DiffusionPipeline` checkpoint — text-to-image (SD3/3.5, FLUX, Sana, PixArt ...) and
instruction editing (InstructPix2Pix, FluxKontext, QwenImageEdit ...).

What a pipeline can do is read from its class: a `__call__` that takes an `image` is an editing pipeline
(capability "edit"), and "generate" too only for the classes known to run without one (`TEXT_OR_EDIT`); any other
pipeline without an `image` input is text-to-image ("generate"). Inpainting, control-image, adapter and upscaling
pipelines are not instruction editing and get no capability.

Settings (`--model-args k=v,...` first, then the benchmark's `Request.options` hints, then the pipeline's own
defaults): steps, guidance_scale, height, width, negative_prompt, image_guidance_scale, true_cfg_scale (hints may
also say `resolution` = one side, or `target_size` = [width, height]; a setting the pipeline does not take is
dropped from hints, an error from --model-args); plus
`cpu_offload=1` (`enable_model_cpu_offload`, GPU only). Each image k of a request is drawn from its own CPU
`torch.Generator` seeded `seed + k` (CPU generators give the same noise on every device), so an image does not
depend on batch composition. Images are kept exactly as the pipeline made them: an all-black result (NaNs in a
half-precision VAE, a safety checker) is saved and scored like any other, with a warning.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lvrpo.hub import offline_mode
from lvrpo.models.base import (
    Backend,
    BackendOptions,
    SampleError,
    check_model_args,
    explain_load_error,
    request_seed,
    resolve_device,
    resolve_dtype,
)
from lvrpo.models.prompting import flag
from lvrpo.types import Kind, LvrpoError, Request

log = logging.getLogger("lvrpo")

# option -> (pipeline argument, type); hint aliases a benchmark may put in Request.options
SETTINGS: dict[str, tuple[str, type]] = {
    "steps": ("num_inference_steps", int), "guidance_scale": ("guidance_scale", float), "height": ("height", int),
    "width": ("width", int), "negative_prompt": ("negative_prompt", str),
    "image_guidance_scale": ("image_guidance_scale", float), "true_cfg_scale": ("true_cfg_scale", float)}
HINT_ALIASES = {"num_inference_steps": "steps"}

# Editing pipelines whose documentation says they also generate from text alone (image optional).
TEXT_OR_EDIT = {"FluxKontextPipeline", "Flux2Pipeline", "Flux2KleinPipeline"}
NOT_EDITING = ("ControlNet", "Control", "Adapter", "Inpaint", "Upscale", "SuperResolution", "Video")


def pipeline_capabilities(cls: type) -> frozenset[Kind]:
    """What a pipeline class can do, from its `__call__` signature and name (see the module docstring). Pipelines
    that need a mask, a control image or a low-resolution input do neither: they get no capability."""
    params = inspect.signature(cls.__call__).parameters
    if "image" not in params:
        return frozenset({"generate"})
    if "mask_image" in params or any(w in cls.__name__ for w in NOT_EDITING):
        return frozenset()
    return frozenset({"edit", "generate"}) if cls.__name__ in TEXT_OR_EDIT else frozenset({"edit"})


class DiffusersBackend(Backend):
    """A diffusers pipeline behind generate/edit; capabilities follow the pipeline class."""

    name = "diffusers"

    @classmethod
    def capabilities_for(cls, config: dict) -> frozenset[Kind]:
        """From the pipeline class `model_index.json` names (`_class_name`), without loading it. A class diffusers
        does not have (custom pipeline code) could do either: only loading it tells."""
        import diffusers

        try:
            pipeline = getattr(diffusers, config.get("_class_name") or "", None)
        except Exception:  # a pipeline whose optional dependency is missing: loading will say which
            pipeline = None
        return pipeline_capabilities(pipeline) if isinstance(pipeline, type) else frozenset({"generate", "edit"})

    def __init__(self, model: str, options: BackendOptions):
        from diffusers import DiffusionPipeline

        check_model_args(self.name, options.extra, [*SETTINGS, "cpu_offload"])
        extra = dict(options.extra)
        offload = flag(extra.pop("cpu_offload", None), False, "cpu_offload")
        self.user = {k: _convert(k, v) for k, v in extra.items()}
        self.model_id, self.device = model, resolve_device(options.device)
        self.dtype = resolve_dtype(options.dtype, self.device)
        if offload and not self.device.startswith("cuda"):
            raise LvrpoError("diffusers: cpu_offload=1 needs a GPU (it moves each module to the GPU when it runs)")
        try:
            self.pipe = DiffusionPipeline.from_pretrained(model, dtype=self.dtype, local_files_only=offline_mode(),
                                                          trust_remote_code=options.trust_remote_code)
        except Exception as e:
            raise (_missing_weights(model) or explain_load_error(model, e)) from e
        if offload:
            self.pipe.enable_model_cpu_offload(device=self.device)
        else:
            self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.params = set(inspect.signature(type(self.pipe).__call__).parameters)
        taken = {k for k in self.user if SETTINGS[k][0] in self.params}
        if set(self.user) - taken:
            raise LvrpoError(f"diffusers: {type(self.pipe).__name__} takes no "
                             f"{', '.join(sorted(set(self.user) - taken))} (--model-args)")
        self.capabilities = pipeline_capabilities(type(self.pipe))
        self.offload = offload

    def generate(self, requests: list[Request]) -> list[list[Image.Image]]:
        """Every prompt × num_images as one pipeline call per distinct setting (one image per row)."""
        if "generate" not in self.capabilities:
            raise LvrpoError(f"diffusers: {type(self.pipe).__name__} needs a source image (an editing pipeline)")
        results: list[list[Image.Image]] = [[] for _ in requests]
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(tuple(sorted(self._settings(r).items())), []).append(i)
        for key, idx in groups.items():
            rows = [(i, k) for i in idx for k in range(requests[i].num_images)]
            if rows:
                images = self._run(dict(key), [request_seed(requests[i]) + k for i, k in rows],
                                   prompt=[requests[i].prompt for i, _ in rows])
                for (i, _), img in zip(rows, images, strict=True):
                    results[i].append(img)
        return results

    def edit(self, requests: list[Request]) -> list[list[Image.Image]]:
        """One pipeline call per request (its num_images as a batch): editing pipelines disagree on what a list of
        source images means (a batch for InstructPix2Pix, several references for QwenImageEditPlus)."""
        if "edit" not in self.capabilities:
            raise LvrpoError(f"diffusers: {type(self.pipe).__name__} is a text-to-image pipeline; it cannot edit")
        results = []
        for r in requests:
            if not r.images:
                raise LvrpoError(f"diffusers: edit request {r.id!r} has no source image")
            seeds = [request_seed(r) + k for k in range(r.num_images)]
            source = r.images[0].convert("RGB")
            # pipelines floor the source to multiples of their image processor's scale factor (Flux: 2 × the
            # VAE's, for latent packing): a smaller side becomes 0 and the pipeline divides by it
            least = int(getattr(getattr(self.pipe, "image_processor", None), "config", {}).get("vae_scale_factor", 8))
            if min(source.size) < least:
                raise SampleError(r.id, f"diffusers: source image of request {r.id!r} is {source.size[0]}×"
                                        f"{source.size[1]}; {type(self.pipe).__name__} needs ≥ {least} px a side")
            if "num_images_per_prompt" in self.params:
                images = self._run(self._settings(r), seeds, prompt=r.prompt, image=source,
                                   num_images_per_prompt=len(seeds)) if seeds else []
            else:
                images = [img for s in seeds for img in self._run(self._settings(r), [s], prompt=r.prompt,
                                                                  image=source)]
            results.append(images)
        return results

    def _settings(self, r: Request) -> dict[str, Any]:
        """Pipeline arguments for one request: --model-args, else the request's hints the pipeline takes."""
        hints: dict[str, Any] = {}
        for key, value in r.options.items():
            key = HINT_ALIASES.get(key, key)
            if value is None:
                continue
            if key == "resolution":  # one side, square
                hints.setdefault("height", value)
                hints.setdefault("width", value)
            elif key == "target_size":  # [width, height] (GEdit: the size the official script edits at)
                hints.setdefault("width", value[0])
                hints.setdefault("height", value[1])
            elif key in SETTINGS:
                hints[key] = value
        merged = {**{k: _convert(k, v) for k, v in hints.items()}, **self.user}
        out = {SETTINGS[k][0]: v for k, v in merged.items() if SETTINGS[k][0] in self.params}
        if "max_area" in self.params and "height" in out and "width" in out:
            out["max_area"] = out["height"] * out["width"]  # Kontext keeps only the aspect ratio of height × width
        return out

    @torch.no_grad()
    def _run(self, settings: dict[str, Any], seeds: list[int], **inputs: Any) -> list[Image.Image]:
        generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        with warnings.catch_warnings():  # InstructPix2Pix warns when it repeats one source for num_images_per_prompt
            warnings.filterwarnings("ignore", message=".*Initial images are now duplicating.*")
            out = self.pipe(**inputs, **settings, generator=generators, output_type="np")
        images = _to_pil(out.images)
        black = sum(not np.asarray(img).any() for img in images)
        if black:
            nsfw = getattr(out, "nsfw_content_detected", None)
            why = "the safety checker flagged them" if nsfw and any(nsfw) else "NaNs in a half-precision VAE?"
            log.warning("diffusers: %d of %d images are all black (%s); kept and scored as they are",
                        black, len(images), why)
        return images

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "pipeline": type(self.pipe).__name__,
                "capabilities": sorted(self.capabilities), "device": self.device, "dtype": str(self.dtype),
                "cpu_offload": self.offload, **self.user}


def _missing_weights(model: str) -> LvrpoError | None:
    """A model component of a local pipeline folder (a subfolder with a config.json) that has no weights file."""
    root = Path(model)
    for sub in sorted(p.parent for p in root.glob("*/config.json")) if root.is_dir() else []:
        if not any(sub.glob("*.safetensors")) and not any(sub.glob("*.bin")):
            return LvrpoError(f"{sub}: no weights file (diffusion_pytorch_model.safetensors or model.safetensors) "
                              f"for the pipeline component {sub.name!r}")
    return None


def _to_pil(images: Any) -> list[Image.Image]:
    """(B, H, W, C) floats in [0, 1] → PIL, rounding as diffusers' `numpy_to_pil`; NaN → 0 (black) rather than the
    undefined bytes a NaN cast gives."""
    arr = np.nan_to_num(np.asarray(images, dtype=np.float32), nan=0.0)
    arr = (arr.clip(0, 1) * 255).round().astype(np.uint8)
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arr]


def _convert(key: str, value: Any) -> Any:
    if key not in SETTINGS:
        raise LvrpoError(f"diffusers: unknown setting {key!r}")
    kind = SETTINGS[key][1]
    try:
        number = float(value) if kind is not str else None
        if kind is int and number != int(number):
            raise ValueError
        return int(number) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        raise LvrpoError(f"diffusers: {key}={value!r} is not a valid {kind.__name__}") from None
