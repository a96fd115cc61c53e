"""Detectors and colour classifiers for GenEval-style checks, built from the `--detector` spec.

Specs (`--detector`, default `mask2former`):
- `mask2former[:HF_ID_OR_PATH]` — transformers Mask2Former COCO instance segmentation (default
  `facebook/mask2former-swin-small-coco-instance`, see `lvrpo.vision.detector` for how it relates to the official
  mmdet weights) plus CLIP ViT-L/14 (`openai/clip-vit-large-patch14`) for colours.
- `replay:FILE` — detections stored per image in a JSON file (`ReplayDetector`); colours come from the file's
  `color` fields, so no colour classifier is built.
- `world` — the ShapesWorld oracle (`lvrpo.world.detect`: classical CV, no weights), the default with `--data world`.
- Either of the first two may end in `,clip=HF_ID_OR_PATH` to choose the CLIP checkpoint (for `replay`, this adds
  a classifier for detections stored without a colour).

Everything is loaded here, eagerly, so a bad checkpoint fails before any image is generated.
"""

from __future__ import annotations

from lvrpo.types import LvrpoError
from lvrpo.vision.color import DEFAULT_CLIP, ClipColorClassifier, ColorClassifier
from lvrpo.vision.detector import DEFAULT_MASK2FORMER, Detections, Detector, Mask2FormerDetector, ReplayDetector

__all__ = ["ColorClassifier", "Detections", "Detector", "make_detector"]


def make_detector(spec: str) -> tuple[Detector, ColorClassifier | None]:
    """The detector and colour classifier named by `spec` (see the module docstring); LvrpoError if unusable."""
    head, _, option = spec.strip().partition(",clip=")
    kind, _, arg = head.partition(":")
    if option == "" and ",clip=" in spec:
        raise LvrpoError(f"--detector {spec!r}: empty clip= checkpoint")
    if kind == "mask2former":
        detector = Mask2FormerDetector(arg or DEFAULT_MASK2FORMER)
        return detector, ClipColorClassifier(option or DEFAULT_CLIP)
    if kind == "world" and not arg and not option:
        from lvrpo.world.detect import WorldColorClassifier, WorldDetector

        return WorldDetector(), WorldColorClassifier()
    if kind == "replay":
        if not arg:
            raise LvrpoError("--detector replay:FILE needs a file of stored detections")
        return ReplayDetector(arg), (ClipColorClassifier(option) if option else None)
    raise LvrpoError(f"unknown --detector {spec!r} (valid: mask2former[:HF_ID_OR_PATH][,clip=ID_OR_PATH], "
                     "replay:FILE[,clip=ID_OR_PATH], world)")
