"""Colour classifiers for GenEval: the `ColorClassifier` protocol and zero-shot CLIP ViT-L/14 (transformers).

Official rule (djghosh13/geneval `evaluation/evaluate_images.py`; specs/generation-benchmarks.md §1.4): each
instance is composited through its mask onto flat grey #999, cropped to its box, and classified zero-shot by
CLIP ViT-L/14 with OpenAI weights over the ten colours. A colour's text embedding is the re-normalised mean of the
normalised embeddings of three templates ("a photo of a {c} {object}", "a photo of a {c}-colored {object}",
"a photo of a {c} object"); the prediction is the argmax of image·text (clip_benchmark 1.4.0 zero-shot).

The official code runs open_clip (`ViT-L-14`, pretrained "openai"); here the same weights come through
transformers (`openai/clip-vit-large-patch14`). The image transform is open_clip's, done here by hand rather than
by the HF image processor (whose centre-crop rounding and, in transformers 5, torchvision backend differ): PIL
bicubic resize of the shorter side to the model's size (longer side truncated), centre crop with torchvision's
rounding, scale to [0, 1], normalise with the OpenAI mean/std. clip_benchmark runs with CUDA autocast (fp16) by
default, so on CUDA both encoders run under fp16 autocast too; on CPU everything is fp32 (only near-ties differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from lvrpo.types import LvrpoError

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
TEMPLATES = ("a photo of a {c} {obj}", "a photo of a {c}-colored {obj}", "a photo of a {c} object")
BACKGROUND = "#999"
DEFAULT_CLIP = "openai/clip-vit-large-patch14"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

Box = Sequence[float]


class ColorClassifier(Protocol):
    def classify(self, image: Image.Image, boxes: Sequence[Box], masks: Sequence[np.ndarray | None],
                 classname: str) -> list[str]:
        """One of COLORS for each instance (box + optional (H, W) bool mask) of `classname` in an RGB image."""
        ...

    def describe(self) -> dict[str, Any]:
        ...


def masked_crops(image: Image.Image, boxes: Sequence[Box], masks: Sequence[np.ndarray | None],
                 background: str = BACKGROUND) -> list[Image.Image]:
    """Each instance pasted through its mask onto a flat background, cropped to its box (official ImageCrops).

    PIL rounds fractional box edges; a box that rounds to nothing gives a 1×1 crop instead of an empty image.
    """
    image = image.convert("RGB")
    blank = Image.new("RGB", image.size, color=background)
    crops = []
    for box, mask in zip(boxes, masks, strict=True):
        if mask is not None:
            if tuple(mask.shape) != (image.height, image.width):
                raise LvrpoError(f"mask shape {tuple(mask.shape)} does not match image size {image.size}")
            src = Image.composite(image, blank, Image.fromarray(np.asarray(mask, dtype=bool)))
        else:
            src = image
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        crop = src.crop((x1, y1, x2, y2))
        if crop.width < 1 or crop.height < 1:
            left, top = min(max(round(x1), 0), image.width - 1), min(max(round(y1), 0), image.height - 1)
            crop = src.crop((left, top, left + 1, top + 1))
        crops.append(crop)
    return crops


class ClipColorClassifier:
    """Zero-shot colour of masked crops with a transformers CLIP checkpoint (default OpenAI ViT-L/14)."""

    def __init__(self, checkpoint: str = DEFAULT_CLIP, device: str = "auto"):
        from lvrpo.vision.detector import looks_local

        local = looks_local(checkpoint)
        if local and not Path(checkpoint).expanduser().exists():
            raise LvrpoError(f"colour classifier checkpoint not found: {checkpoint}")
        import torch
        from transformers import AutoTokenizer, CLIPModel

        from lvrpo.hub import ensure_hub, offline_mode
        from lvrpo.models.base import explain_load_error, resolve_device

        if not local:
            ensure_hub(checkpoint, "--detector clip=")  # no network: one line now, not a minute of retries
        source = str(Path(checkpoint).expanduser()) if local else checkpoint
        self.checkpoint, self.device = checkpoint, resolve_device(device)
        try:
            offline = offline_mode()
            self.model = CLIPModel.from_pretrained(source, local_files_only=offline)
            self.model = self.model.to(self.device, torch.float32).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        except Exception as e:  # missing/corrupt files, offline hub
            raise explain_load_error(checkpoint, e) from None
        self.size = int(self.model.config.vision_config.image_size)
        self._text: dict[str, Any] = {}  # classname -> (dim, 10) colour embeddings

    def describe(self) -> dict[str, Any]:
        return {"kind": "clip", "checkpoint": self.checkpoint}

    def _autocast(self):
        import contextlib

        import torch

        cuda = str(self.device).startswith("cuda")
        return torch.autocast("cuda", dtype=torch.float16) if cuda else contextlib.nullcontext()

    def _colour_embeddings(self, classname: str):
        import torch

        if classname not in self._text:
            columns = []
            with torch.no_grad(), self._autocast():
                for c in COLORS:
                    texts = [t.format(c=c, obj=classname) for t in TEMPLATES]
                    enc = self.tokenizer(texts, padding=True, return_tensors="pt").to(self.device)
                    emb = _features(self.model.get_text_features(input_ids=enc["input_ids"],
                                                                attention_mask=enc["attention_mask"]))
                    emb = torch.nn.functional.normalize(emb, dim=-1).mean(0)
                    columns.append(emb / emb.norm())
            self._text[classname] = torch.stack(columns, dim=1)
        return self._text[classname]

    def preprocess(self, crop: Image.Image):
        """open_clip's eval transform for OpenAI CLIP: (3, size, size) float tensor."""
        import torch

        crop = crop.convert("RGB")
        w, h = crop.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.size * long / short)
        size = (self.size, new_long) if w <= h else (new_long, self.size)
        if size != crop.size:
            crop = crop.resize(size, Image.BICUBIC)
        top, left = int(round((crop.height - self.size) / 2.0)), int(round((crop.width - self.size) / 2.0))
        crop = crop.crop((left, top, left + self.size, top + self.size))
        x = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - torch.tensor(OPENAI_MEAN).view(3, 1, 1)) / torch.tensor(OPENAI_STD).view(3, 1, 1)

    def classify(self, image: Image.Image, boxes: Sequence[Box], masks: Sequence[np.ndarray | None],
                 classname: str) -> list[str]:
        import torch

        if not boxes:
            return []
        text = self._colour_embeddings(classname)
        pixels = torch.stack([self.preprocess(c) for c in masked_crops(image, boxes, masks)]).to(self.device)
        with torch.no_grad(), self._autocast():
            feats = torch.nn.functional.normalize(_features(self.model.get_image_features(pixel_values=pixels)),
                                                  dim=-1)
            logits = 100.0 * feats @ text.to(feats.dtype)
        return [COLORS[i] for i in logits.float().argmax(1).tolist()]


def _features(out: Any):
    """transformers < 5 returns the projected features; 5.x returns an output object holding them."""
    return out if hasattr(out, "shape") else out.pooler_output
