"""Wording and scene sampling shared by the ShapesWorld understanding generators (`lvrpo.world.understanding`).

Every question names objects so that exactly one object fits ("the red circle" only when no other red circle is
drawn), and asks about spatial relations only where GenEval's rule (`relations`) agrees with the 3×3 grid on both
axes: a pair a knight's move apart is left out, since the rule calls it only "left of" where a viewer sees
"left of and above" too. So every answer can be read off the image alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any, TypeVar

from lvrpo.world.scenes import COLORS, GRID, SHAPES, Obj, Scene, random_object, random_scene, relations

T = TypeVar("T")
CELLS = [(x, y) for y in GRID for x in GRID]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")
ROW_NAMES = dict(zip(GRID, ("upper", "middle", "lower"), strict=True))
COL_NAMES = dict(zip(GRID, ("left", "middle", "right"), strict=True))
CELL_ROWS = dict(zip(GRID, range(3), strict=True))  # grid coordinate -> row (or column) number, top (left) first
LOCATIONS = tuple("center" if (x, y) == (0.5, 0.5) else f"{ROW_NAMES[y]} {COL_NAMES[x]}" for x, y in CELLS)
REL_PHRASE = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@dataclass(frozen=True)
class Item:
    """One generated question (or question set): the scenes it shows, in image order, and its bench fields."""

    scenes: tuple[Scene, ...]
    fields: dict[str, Any] = field(default_factory=dict)


def article(words: str) -> str:
    """ "a red circle" / "an orange cross"."""
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def name(o: Obj) -> str:
    """The colour-and-shape name ("red circle"); unique in a scene for the objects `referable` returns."""
    return f"{o.color} {o.shape}"


def location(o: Obj) -> str:
    """The object's grid cell in words: "upper left", "middle right", "center", ..."""
    return LOCATIONS[CELLS.index((o.x, o.y))]


def location_alternatives(o: Obj) -> list[str]:
    """Equivalent wordings of `location(o)` (upper = top, lower = bottom, center = middle)."""
    loc = location(o)
    alt = "middle" if loc == "center" else loc.replace("upper", "top").replace("lower", "bottom")
    return list(dict.fromkeys([loc, alt]))


def referable(scene: Scene) -> list[Obj]:
    """Objects no other object shares colour and shape with: "the red circle" names exactly one."""
    return [o for o in scene.objects if sum(p.color == o.color and p.shape == o.shape for p in scene.objects) == 1]


def shape_unique(scene: Scene) -> list[Obj]:
    """Objects that are the only one of their shape: "the circle" names exactly one."""
    return [o for o in scene.objects if scene.count(o.shape) == 1]


def color_unique(scene: Scene) -> list[Obj]:
    """Objects that are the only one of their colour: "the red object" names exactly one."""
    return [o for o in scene.objects if sum(p.color == o.color for p in scene.objects) == 1]


def grid_relations(a: Obj, b: Obj) -> set[str]:
    """The relations of a to b the grid cells alone give (a diagonal neighbour: two)."""
    rels = {"left of": a.x < b.x, "right of": a.x > b.x, "above": a.y < b.y, "below": a.y > b.y}
    return {r for r, holds in rels.items() if holds}


def clear_relations(a: Obj, b: Obj) -> set[str]:
    """GenEval's relations of a to b where they agree with the grid on both axes, else none (see module doc)."""
    rels = relations(a, b)
    return rels if rels == grid_relations(a, b) else set()


def clear_pairs(scene: Scene, single: bool = False) -> list[tuple[Obj, Obj]]:
    """Ordered pairs of referable objects with clear relations (`single`: exactly one, i.e. same row or column)."""
    return [(a, b) for a, b in permutations(referable(scene), 2)
            if clear_relations(a, b) and (not single or len(clear_relations(a, b)) == 1)]


def other(rng: random.Random, pool: Sequence[T], *exclude: T, k: int | None = None) -> Any:
    """A random member of `pool` outside `exclude` (or `k` distinct ones, as a list)."""
    rest = [p for p in pool if p not in exclude]
    return rng.choice(rest) if k is None else rng.sample(rest, k)


def overlapping(scene: Scene) -> bool:
    """Whether two objects' boxes intersect: two large objects on neighbouring cells do (22 px boxes on a 19.2 px
    pitch at 64 px), and then the later one hides part of the earlier, so counts and sizes could not be read."""
    boxes = [o.box() for o in scene.objects]
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
               for i, a in enumerate(boxes) for b in boxes[i + 1:])


def draw(rng: random.Random, candidates: Callable[[Scene], Sequence[T]], n: tuple[int, int] = (1, 4),
         **fixed: Any) -> tuple[Scene, T]:
    """A random scene of n[0]..n[1] objects for which `candidates` offers something, and one of those things.

    Rejection sampling from the item's own RNG, so the result is as deterministic as the RNG."""
    for _ in range(10_000):
        scene = random_scene(rng, rng.randint(*n), **fixed)
        found = candidates(scene)
        if found:
            return scene, rng.choice(list(found))
    raise RuntimeError("no scene met the constraints in 10000 draws")  # a generator bug, never bad luck


def compose(rng: random.Random, specs: Sequence[dict[str, Any]]) -> Scene:
    """A scene with one object per spec on distinct random cells; a spec pins attributes, a tuple value is a choice
    among its members (e.g. `{"shape": ("square", "cross")}`)."""
    cells = rng.sample(CELLS, len(specs))
    objs = [random_object(rng, cell, **{k: rng.choice(v) if isinstance(v, tuple) else v for k, v in spec.items()})
            for cell, spec in zip(cells, specs, strict=True)]
    return Scene(tuple(objs))


def count_scene(rng: random.Random, shape: str, k: int, extra: int, **fixed: Any) -> Scene:
    """`k` objects of `shape` (random colours) and `extra` objects of other shapes."""
    others = tuple(s for s in SHAPES if s != shape)
    return compose(rng, [{"shape": shape, **fixed}] * k + [{"shape": others}] * extra)


def choice_set(rng: random.Random, correct: str, distractors: Sequence[str]) -> tuple[list[str], int]:
    """The correct option and the distractors in a random order, and the correct option's position."""
    options = list(dict.fromkeys([correct, *distractors]))
    rng.shuffle(options)
    return options, options.index(correct)


def absent_names(scene: Scene, near: Obj | None = None) -> list[str]:
    """Colour-and-shape names no object in the scene has; with `near`, only those sharing its colour or shape."""
    present = {name(o) for o in scene.objects}
    pool = ([f"{c} {near.shape}" for c in COLORS] + [f"{near.color} {s}" for s in SHAPES] if near
            else [f"{c} {s}" for c in COLORS for s in SHAPES])
    return [p for p in dict.fromkeys(pool) if p not in present]
