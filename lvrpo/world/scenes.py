"""ShapesWorld scenes: seeded scene graphs of coloured shapes, rendered to small RGB images with exact boxes and masks.

A `Scene` is 1-4 `Obj`s on a flat grey canvas. Each object has a shape class (`SHAPES`), one of GenEval's ten colours
(`COLORS`, the names the GenEval colour classifier answers), a size (`SIZES`) and a centre on a coarse grid in
[0, 1]² (y grows down, as in images). Objects never overlap, so every box is exact and every pair has the spatial
relations `relations(a, b)` gives by GenEval's own rule (`lvrpo.evals.geneval.relative_position`).

Splits: `scene_rng(split, index)` seeds each scene from (WORLD_VERSION, split, index), so train and test come from
disjoint seed streams; the benchmark generators also drop any train item whose scene or prompt the test split
holds. `WORLD_VERSION` names the fixed test split: it changes whenever what a generator writes for a given index
changes, and it is part of every world run's data fingerprint.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from lvrpo.vision.color import COLORS

WORLD_VERSION = "1"
SPLITS = ("train", "test")
SHAPES = ("circle", "square", "triangle", "cross")
# Side of the object's box, as a fraction of the image: large stays under the grid step (0.3), so objects on
# neighbouring cells keep at least a pixel of background between them at 64 px and never touch or overlap.
SIZES = {"small": 0.16, "medium": 0.22, "large": 0.28}
BACKGROUND = (128, 128, 128)
# Saturated, well-separated RGB for the ten GenEval colour names (none near the grey background).
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "orange": (245, 140, 20), "yellow": (240, 220, 30), "green": (40, 170, 60),
    "blue": (40, 80, 220), "purple": (140, 50, 180), "pink": (245, 130, 190), "brown": (120, 70, 30),
    "black": (15, 15, 15), "white": (245, 245, 245),
}
GRID = (0.2, 0.5, 0.8)  # object centres sit on a 3×3 grid, so relations are clear-cut
RESOLUTION = 64  # default render size of world images (the nano model works at 32: its processor resizes)
assert tuple(PALETTE) == COLORS


@dataclass(frozen=True)
class Obj:
    """One object: shape class, colour name, size name, centre (x, y) as fractions of the image."""

    shape: str
    color: str
    size: str
    x: float
    y: float

    def box(self, res: int = RESOLUTION) -> tuple[int, int, int, int]:
        """Pixel box [x1, y1, x2, y2) (exclusive right/bottom edge, as the GenEval detector's boxes)."""
        half = SIZES[self.size] * res / 2
        x1, y1 = round(self.x * res - half), round(self.y * res - half)
        side = round(2 * half)
        return x1, y1, x1 + side, y1 + side

    def describe(self, with_size: bool = False) -> str:
        """"a red circle" (or "a small red circle")."""
        words = ([self.size] if with_size else []) + [self.color, self.shape]
        return f"{'an' if words[0][0] in 'aeiou' else 'a'} {' '.join(words)}"


@dataclass(frozen=True)
class Scene:
    """Objects in drawing order (none overlap, so the order changes no pixel)."""

    objects: tuple[Obj, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": WORLD_VERSION, "objects": [asdict(o) for o in self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scene:
        return cls(tuple(Obj(**o) for o in data["objects"]))

    def key(self) -> str:
        """A canonical digest: equal for scenes with the same objects in any order."""
        text = "|".join(sorted(f"{o.shape},{o.color},{o.size},{o.x:.3f},{o.y:.3f}" for o in self.objects))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def count(self, shape: str, color: str | None = None) -> int:
        return sum(o.shape == shape and (color is None or o.color == color) for o in self.objects)

    def with_objects(self, objects: list[Obj] | tuple[Obj, ...]) -> Scene:
        return replace(self, objects=tuple(objects))


def scene_rng(split: str, index: int, salt: str = "") -> random.Random:
    """The RNG for item `index` of `split` (disjoint streams per split; `salt` separates generators)."""
    if split not in SPLITS:
        raise ValueError(f"unknown world split {split!r} (have: {', '.join(SPLITS)})")
    seed = hashlib.sha256(f"shapesworld/{WORLD_VERSION}/{split}/{salt}/{index}".encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def free_cells(objects: tuple[Obj, ...] | list[Obj]) -> list[tuple[float, float]]:
    """Grid cells no object occupies."""
    taken = {(o.x, o.y) for o in objects}
    return [(x, y) for y in GRID for x in GRID if (x, y) not in taken]


def random_object(rng: random.Random, cell: tuple[float, float], *, shape: str | None = None,
                  color: str | None = None, size: str | None = None) -> Obj:
    return Obj(shape or rng.choice(SHAPES), color or rng.choice(COLORS), size or rng.choice(list(SIZES)), *cell)


def random_scene(rng: random.Random, n: int | None = None, **fixed: Any) -> Scene:
    """A scene of `n` (default 1-4) random objects on distinct grid cells; `fixed` pins attributes of all."""
    n = rng.randint(1, 4) if n is None else n
    cells = rng.sample([(x, y) for y in GRID for x in GRID], n)
    return Scene(tuple(random_object(rng, c, **fixed) for c in cells))


def _polygon(shape: str, x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    w = x2 - x1  # boxes are square
    if shape == "triangle":  # apex up
        return [(x1 + w / 2, y1), (x2, y2), (x1, y2)]
    if shape == "cross":  # a plus sign with arms one third wide
        a, b = w / 3, 2 * w / 3
        return [(x1 + a, y1), (x1 + b, y1), (x1 + b, y1 + a), (x2, y1 + a), (x2, y1 + b), (x1 + b, y1 + b),
                (x1 + b, y2), (x1 + a, y2), (x1 + a, y1 + b), (x1, y1 + b), (x1, y1 + a), (x1 + a, y1 + a)]
    raise ValueError(shape)


def object_mask(obj: Obj, res: int = RESOLUTION) -> np.ndarray:
    """The object's pixels, (res, res) bool."""
    canvas = Image.new("1", (res, res), 0)
    x1, y1, x2, y2 = obj.box(res)
    draw = ImageDraw.Draw(canvas)
    if obj.shape == "circle":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=1)
    elif obj.shape == "square":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=1)
    else:
        draw.polygon(_polygon(obj.shape, x1, y1, x2 - 1, y2 - 1), fill=1)
    return np.asarray(canvas, dtype=bool)


def render(scene: Scene, res: int = RESOLUTION) -> Image.Image:
    """The scene as an RGB image: flat colours, no anti-aliasing (so masks are exact)."""
    pixels = np.empty((res, res, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    for obj in scene.objects:
        pixels[object_mask(obj, res)] = PALETTE[obj.color]
    return Image.fromarray(pixels, "RGB")


def relations(a: Obj, b: Obj) -> set[str]:
    """GenEval's relations of A to B ("left of", "right of", "above", "below"), from their exact boxes."""
    from lvrpo.evals.geneval import relative_position

    return relative_position(np.asarray(a.box(), dtype=float), np.asarray(b.box(), dtype=float))
