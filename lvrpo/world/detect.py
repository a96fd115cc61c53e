"""A classical detector and colour classifier for ShapesWorld images: GenEval's checks without learned weights.

GenEval's COCO detector and CLIP colour classifier know nothing of circles and crosses, but ShapesWorld images
(`lvrpo.world.scenes`: flat colours on a grey canvas) can be read with numpy and PIL alone. This module does so
behind GenEval's interfaces (`Detector`, `ColorClassifier`), so GenEval's own rules (`keep`, `judge`) can score
generated scenes:

1. Pixel colours. Each pixel goes to the nearest *segment* from the background grey to one of the ten palette
   colours in RGB: to that colour when at least half-way along, else to the background. So the edge colours that
   resampling blends between an object and the canvas fall to one of the two, never to a third colour (a
   half red, half grey pixel is nearer brown than red). Farther than `TOLERANCE` from every segment: unknown.
2. Components, 4-connected, per palette colour (union-find in numpy; 512x512 takes well under 0.1 s). Specks
   under `MIN_AREA` of a small object's box are dropped. At 32 px two large objects on neighbouring cells can
   touch; such a component is cut at the grid cells when every part then fits a shape better than the whole.
3. Shapes. Each shape's ideal mask is drawn in the component's tight box as `scenes.render` draws it; the best
   IoU gives the label and the score (times a squareness factor: every world shape fills a square box).

Measured on 200 seeded scenes (tests/test_world_detect.py): `read_scene` recovers clean renders exactly at 64
and at 32 px (where a small object is 5 px, yet all four shapes stay distinct), with sigma-8 noise, upscaled
(32->64, 64->256, 32->256, nearest or bicubic) and downscaled 64->32 nearest, 128->64 or 96->64 bicubic; every
object of a clean render scores 1.0. Bicubic downscaling to 32 px blurs small shapes into 5 px blobs (squares read
as circles, triangles as squares): 64->32 gives 69% of scenes exact, 48->32 80%. Downscaled objects often score
under GenEval's counting threshold (0.9): all objects of a scene reach it in 60% of scenes at 64->32 nearest, 33%
at 64->32 bicubic, 70% at 128->64 bicubic. The number of objects over 0.3 is right in all of these; uniform random
noise gives no detection over 0.3.

`read_scene` inverts `render`; `image_quality` is a cheap artifact signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lvrpo.vision.color import COLORS
from lvrpo.vision.detector import Detections
from lvrpo.world.scenes import BACKGROUND, GRID, PALETTE, SHAPES, SIZES, Obj, Scene

VERSION = "1"
TOLERANCE = 40.0  # RGB distance to the nearest background-colour segment; palette colours are >= 80 apart
MIN_AREA, MIN_PIXELS = 0.3, 4  # specks: under this share of a small object's box area, or under 4 pixels
MAX_DETECTIONS = 100  # the largest components are kept, as Mask2Former returns at most 100 candidates
CLEAN = 0.9  # score of a clean object (GenEval's counting threshold)
BG, UNKNOWN = -1, -2  # pixel labels besides the palette indices 0..9
FILL = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5, "cross": 5 / 9}  # area / box area

_COLOURS = np.array([PALETTE[c] for c in COLORS], dtype=np.float32)
_GREY = np.array(BACKGROUND, dtype=np.float32)


def pixel_labels(image: Image.Image) -> np.ndarray:
    """(H, W) int: the palette index (0..9, in COLORS order) of each pixel, BG or UNKNOWN (see the module doc)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) - _GREY
    dirs = _COLOURS - _GREY  # (10, 3): the segments from the background to each colour
    dot = rgb @ dirs.T  # (H, W, 10)
    t = np.clip(dot / (dirs * dirs).sum(1), 0.0, 1.0)  # position along each segment
    dist2 = (rgb * rgb).sum(-1, keepdims=True) - 2 * t * dot + t * t * (dirs * dirs).sum(1)
    nearest = dist2.argmin(-1)
    along = np.take_along_axis(t, nearest[..., None], -1)[..., 0]
    labels = np.where(along >= 0.5, nearest, BG)
    labels[np.take_along_axis(dist2, nearest[..., None], -1)[..., 0] > TOLERANCE**2] = UNKNOWN
    return labels


def components(labels: np.ndarray) -> np.ndarray:
    """(H, W) int: for each pixel with a palette label (>= 0), the flat index of its 4-connected component's first
    pixel; -1 elsewhere. Union-find over neighbouring pairs of equal labels, hooking to the smaller root and
    compressing paths by pointer jumping until nothing changes (a handful of rounds for compact shapes)."""
    h, w = labels.shape
    n, valid, flat = h * w, labels >= 0, np.arange(h * w).reshape(h, w)
    right = valid[:, :-1] & (labels[:, :-1] == labels[:, 1:])
    down = valid[:-1] & (labels[:-1] == labels[1:])
    a = np.concatenate([flat[:, :-1][right], flat[:-1][down]])  # edges (a, b) between equal neighbours
    b = a + np.repeat([1, w], [right.sum(), down.sum()])
    parent = np.append(np.where(valid.ravel(), np.arange(n), n), n)  # parent[n] = n: outside every component
    while True:
        pa, pb = parent[a], parent[b]
        if np.array_equal(pa, pb):
            break
        low = np.minimum(pa, pb)
        np.minimum.at(parent, pa, low)
        np.minimum.at(parent, pb, low)
        while True:  # full path compression: every pixel points at its current root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return np.where(valid, parent[:n].reshape(h, w), -1)


@lru_cache(maxsize=4096)
def ideal_mask(shape: str, width: int, height: int) -> np.ndarray:
    """(height, width) bool: `shape` filling a box of that size, rasterised as `scenes.object_mask` draws it
    (cached and read-only)."""
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    x2, y2 = width - 1, height - 1  # PIL's inclusive corner, as object_mask passes it
    if shape == "circle":
        draw.ellipse([0, 0, x2, y2], fill=1)
    elif shape == "square":
        draw.rectangle([0, 0, x2, y2], fill=1)
    elif shape == "triangle":  # apex up
        draw.polygon([(x2 / 2, 0), (x2, y2), (0, y2)], fill=1)
    elif shape == "cross":  # a plus sign with arms one third wide (scenes._polygon, with separate axes)
        ax, bx, ay, by = x2 / 3, 2 * x2 / 3, y2 / 3, 2 * y2 / 3
        draw.polygon([(ax, 0), (bx, 0), (bx, ay), (x2, ay), (x2, by), (bx, by), (bx, y2), (ax, y2), (ax, by),
                      (0, by), (0, ay), (ax, ay)], fill=1)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    mask = np.array(canvas, dtype=bool)
    mask.flags.writeable = False
    return mask


def classify_shape(crop: np.ndarray) -> tuple[str, float]:
    """The shape whose ideal mask best overlaps a tightly cropped component mask, and that IoU.

    The ideal is drawn in the crop's own box, which fits a clean render exactly. Three allowances for resampled
    images, tried until something fits exactly: each ideal also mirrored (the shapes are symmetric, their
    rasterisation not quite: PIL draws a 5 px cross with its arms a pixel off centre, and resampling may put them
    on the other side); drawn at 1/2 ... 1/16 of the box and scaled up to it (an upscaled render keeps its coarse
    pixels); drawn in the box grown by a pixel on any of its sides (resampling moves edges by a pixel), which
    may change the label only by fitting better by `MARGIN` (at 4-5 px, a grown cross can beat a triangle)."""
    h, w = crop.shape
    padded, area = np.pad(crop, 1), int(crop.sum())
    best = (SHAPES[0], -1.0)

    def consider(shape: str, ideal: np.ndarray, window: np.ndarray, margin: float = 0.0) -> None:
        nonlocal best
        mirrors = (ideal, ideal[:, ::-1]) + (() if shape == "triangle" else (ideal[::-1], ideal[::-1, ::-1]))
        for candidate in mirrors:
            inter = int((candidate & window).sum())
            iou = inter / (area + int(candidate.sum()) - inter)
            if iou > best[1] + (margin if shape != best[0] else 0.0):
                best = (shape, iou)

    for scale in SCALES:
        lw, lh = round(w / scale), round(h / scale)
        if scale > 1 and min(lw, lh) < 4:
            break
        rows, cols = (np.arange(h) + 0.5) * lh // h, (np.arange(w) + 0.5) * lw // w  # nearest-neighbour upscale
        for shape in SHAPES:
            consider(shape, ideal_mask(shape, lw, lh)[rows.astype(int)][:, cols.astype(int)], crop)
        if best[1] >= 1.0:
            return best
    for left, top, right, bottom in GROWTHS:
        window = padded[1 - top: 1 + h + bottom, 1 - left: 1 + w + right]
        for shape in SHAPES:
            consider(shape, ideal_mask(shape, w + left + right, h + top + bottom), window, MARGIN)
        if best[1] >= 1.0:
            break
    return best


MARGIN = 0.05  # a grown box may change the label only by fitting this much better (IoU)
SCALES = (1, 2, 3, 4, 6, 8, 16)  # 1: the crop's own box
GROWTHS = [g for g in product((0, 1), repeat=4) if any(g)]  # pixels added (left, top, right, bottom)


def split_by_cell(mask: np.ndarray, min_area: float) -> list[np.ndarray]:
    """The mask's parts in each of the 3x3 grid cells holding at least `min_area` of its pixels ([mask] if one).

    At 32 px two large objects on neighbouring cells can touch, and same-coloured ones then form one component;
    objects never leave their cell, so cutting at the cell borders separates them."""
    h, w = mask.shape
    edges = [(a + b) / 2 for a, b in zip(GRID, GRID[1:], strict=False)]
    cells = np.searchsorted(edges, (np.arange(h) + 0.5) / h)[:, None] * 3 + \
        np.searchsorted(edges, (np.arange(w) + 0.5) / w)[None, :]
    held = np.flatnonzero(np.bincount(cells[mask], minlength=9) >= min_area)
    return [mask & (cells == c) for c in held] if len(held) > 1 else [mask]


@dataclass
class Blob:
    """One found object: best-fitting shape and its IoU, palette colour, tight box [x1, y1, x2, y2), mask."""

    shape: str
    score: float
    color: str
    box: tuple[int, int, int, int]
    mask: np.ndarray

    @classmethod
    def fit(cls, mask: np.ndarray, color: str) -> Blob:
        xs, ys = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
        x1, y1, x2, y2 = int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1
        shape, iou = classify_shape(mask[y1:y2, x1:x2])
        w, h = x2 - x1, y2 - y1  # every world shape fills a square box: stretched ones lose score
        return cls(shape, iou * min(1.0, (min(w, h) + 1) / max(w, h)), color, (x1, y1, x2, y2), mask)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


def find_objects(image: Image.Image) -> tuple[np.ndarray, list[Blob]]:
    """The pixel labels and every object: components over the speck size, largest first, each split at the grid
    cells when every part fits its shape better than the whole does (two touching objects, not one odd blob)."""
    labels = pixel_labels(image)
    h, w = labels.shape
    ids, inverse, counts = np.unique(components(labels), return_inverse=True, return_counts=True)
    inverse = inverse.reshape(h, w)
    min_area = max(MIN_PIXELS, MIN_AREA * (SIZES["small"] * min(h, w)) ** 2)
    keep = [i for i in np.argsort(-counts, kind="stable") if ids[i] >= 0 and counts[i] >= min_area]
    found: list[Blob] = []
    for i in keep[:MAX_DETECTIONS]:
        mask, color = inverse == i, COLORS[labels.flat[ids[i]]]
        whole = Blob.fit(mask, color)
        pieces = split_by_cell(mask, min_area)
        parts = [Blob.fit(m, color) for m in pieces] if len(pieces) > 1 else []
        if parts and all(p.score > whole.score for p in parts):
            found.extend(parts)
        else:
            found.append(whole)
    return labels, found[:MAX_DETECTIONS]


class WorldDetector:
    """The `Detector` protocol for ShapesWorld: connected colour components, labelled by the best-fitting shape.

    Scores are IoUs with the ideal shape (1.0 on clean renders); every component is returned, thresholds are the
    caller's (GenEval's `keep`). `colors` carries each component's palette colour, so GenEval needs no colour
    classifier, though `WorldColorClassifier` gives the same answers."""

    name = "world"

    def detect(self, image: Image.Image, path: str | None = None) -> Detections:
        _, found = find_objects(image)
        return Detections(labels=[b.shape for b in found], scores=np.array([b.score for b in found], np.float32),
                          boxes=np.array([b.box for b in found], np.float32).reshape(-1, 4),
                          masks=np.array([b.mask for b in found], bool).reshape(-1, image.height, image.width),
                          colors=[b.color for b in found])

    def describe(self) -> dict[str, Any]:
        return {"detector": self.name, "version": VERSION, "tolerance": TOLERANCE, "min_area": MIN_AREA,
                "max_detections": MAX_DETECTIONS}


class WorldColorClassifier:
    """The `ColorClassifier` protocol for ShapesWorld: the majority palette colour of each instance's pixels
    (its mask, else its box), background and unknown pixels ignored; with no palette pixel at all, the palette
    colour nearest the region's mean RGB."""

    def classify(self, image: Image.Image, boxes: Sequence[Any], masks: Sequence[np.ndarray | None],
                 classname: str) -> list[str]:
        labels = pixel_labels(image)
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        out = []
        for box, mask in zip(boxes, masks, strict=True):
            if mask is None:
                x1, y1, x2, y2 = (max(int(v), 0) for v in np.round(np.asarray(box, dtype=float)[:4]))
                mask = np.zeros(labels.shape, dtype=bool)
                mask[y1:y2, x1:x2] = True
            mask = np.asarray(mask, dtype=bool)
            inside = labels[mask]
            votes = np.bincount(inside[inside >= 0], minlength=len(COLORS))
            if votes.any():
                out.append(COLORS[int(votes.argmax())])
            else:
                mean = rgb[mask].mean(0) if mask.any() else _GREY
                out.append(COLORS[int(np.linalg.norm(_COLOURS - mean, axis=1).argmin())])
        return out

    def describe(self) -> dict[str, Any]:
        return {"classifier": "world", "version": VERSION, "tolerance": TOLERANCE}


def read_scene(image: Image.Image, min_score: float = 0.5) -> Scene:
    """The scene an image shows: one `Obj` per object scoring >= `min_score`, centre snapped to `GRID`, size the
    nearest of `SIZES` to the side of a square that the shape would fill with the object's area (steadier
    than the box side on downscaled images, whose boxes lose a pixel here and there); sorted by (y, x)."""
    _, found = find_objects(image)
    w, h = image.width, image.height
    objects = []
    for b in found:
        if b.score >= min_score:
            side = np.sqrt(b.area / FILL[b.shape] / (w * h))
            x1, y1, x2, y2 = b.box
            objects.append(Obj(b.shape, b.color, min(SIZES, key=lambda s: abs(SIZES[s] - side)),
                               min(GRID, key=lambda g: abs(g - (x1 + x2) / 2 / w)),
                               min(GRID, key=lambda g: abs(g - (y1 + y2) / 2 / h))))
    return Scene(tuple(sorted(objects, key=lambda o: (o.y, o.x, o.shape, o.color, o.size))))


def image_quality(image: Image.Image) -> float:
    """In [0, 1]: the share of pixels that are background or lie in a clean (score >= 0.9) object. A clean
    render gives 1.0; resampled edges, noise, stray colours and misshapen objects lower it."""
    labels, found = find_objects(image)
    return (int((labels == BG).sum()) + sum(b.area for b in found if b.score >= CLEAN)) / labels.size
