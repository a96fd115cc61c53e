"""ShapesWorld edits for GEdit-Bench: one edit per item, written in English and in Chinese, and its inverse parser.

The task types are the official ones (`lvrpo.evals.gedit.TASKS`) whose meaning a scene of flat shapes on a fixed
grey canvas can carry:

- `color_alter`: recolour one object ("Make the red circle blue." / "把红色的圆形改成蓝色").
- `motion_change`: move one object to a free named cell ("the upper left of the image") or to the free cell right
  next to another object ("immediately to the left of the blue square").
- `subject-add`: add an object of a stated size, colour and shape at a free named cell or next to another object.
- `subject-remove`: remove one object (the source keeps at least one other).
- `subject-replace`: replace one object by another shape (and colour) in its place, at its size.

Not used: `background_change` and `tone_transfer` (the background and lighting are fixed), `material_alter`,
`style_change` and `ps_human` (flat shapes have no material, style or people), `text_change` (no text is drawn).

Every instruction names objects by colour and shape, and only objects no other object shares both with, so it
means exactly one object of the source; a named cell or the cell next to an object is always free. The edited
scene never has intersecting boxes (`phrases.overlapping`). `edit_target` reads an instruction back: with the
same templates as regular expressions, so the generated text and the parser cannot drift apart.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from lvrpo.world.phrases import LOCATIONS, overlapping, referable
from lvrpo.world.scenes import COLORS, GRID, SHAPES, SIZES, SPLITS, Obj, Scene, random_scene, render, scene_rng

EDIT_TASKS = ("color_alter", "motion_change", "subject-add", "subject-remove", "subject-replace")
LANGUAGES = ("en", "cn")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "above": (0, -1), "below": (0, 1)}  # (column, row) steps
COLOR_CN = {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色", "blue": "蓝色", "purple": "紫色",
            "pink": "粉色", "brown": "棕色", "black": "黑色", "white": "白色"}
SHAPE_CN = {"circle": "圆形", "square": "正方形", "triangle": "三角形", "cross": "十字形"}
SIZE_CN = {"small": "小的", "medium": "中等大小的", "large": "大的"}
LOCATION_CN = ("左上角", "顶部中间", "右上角", "左侧中间", "正中央", "右侧中间", "左下角", "底部中间", "右下角")
# The words each placeholder stands for, per language: a(c|s) the edited object, b(c|s) the object a place is
# next to, n(c|s) the new colour / shape, size, loc (a LOCATIONS cell), rel (a DIRECTIONS key); art an article.
VOCAB: dict[str, dict[str, dict[str, str]]] = {
    "en": {"color": {c: c for c in COLORS}, "shape": {s: s for s in SHAPES}, "size": {s: s for s in SIZES},
           "loc": {loc: loc for loc in LOCATIONS},
           "rel": {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}},
    "cn": {"color": COLOR_CN, "shape": SHAPE_CN, "size": SIZE_CN, "loc": dict(zip(LOCATIONS, LOCATION_CN, strict=True)),
           "rel": {"left": "左边", "right": "右边", "above": "上方", "below": "下方"}},
}
KINDS = {"ac": "color", "bc": "color", "nc": "color", "as": "shape", "bs": "shape", "ns": "shape", "size": "size",
         "loc": "loc", "rel": "rel"}
# (task, placement) -> per language, the instruction wordings (English ones end with a full stop when written).
TEMPLATES: dict[tuple[str, str | None], dict[str, tuple[str, ...]]] = {
    ("color_alter", None): {"en": ("Change the colour of the {ac} {as} to {nc}", "Make the {ac} {as} {nc}"),
                            "cn": ("把{ac}的{as}改成{nc}", "将{ac}{as}的颜色改为{nc}")},
    ("subject-remove", None): {"en": ("Remove the {ac} {as}", "Delete the {ac} {as} from the image"),
                               "cn": ("删除{ac}的{as}", "把{ac}的{as}去掉")},
    ("subject-replace", None): {"en": ("Replace the {ac} {as} with {art} {nc} {ns}",
                                       "Swap the {ac} {as} for {art} {nc} {ns}"),
                                "cn": ("把{ac}的{as}换成{nc}的{ns}", "将{ac}的{as}替换为一个{nc}的{ns}")},
    ("subject-add", "loc"): {"en": ("Add {art} {size} {nc} {ns} in the {loc} of the image",),
                             "cn": ("在画面的{loc}添加一个{size}{nc}{ns}",)},
    ("subject-add", "rel"): {"en": ("Add {art} {size} {nc} {ns} immediately {rel} the {bc} {bs}",),
                             "cn": ("在{bc}{bs}的{rel}紧挨着它添加一个{size}{nc}{ns}",)},
    ("motion_change", "loc"): {"en": ("Move the {ac} {as} to the {loc} of the image",),
                               "cn": ("把{ac}的{as}移到画面的{loc}",)},
    ("motion_change", "rel"): {"en": ("Move the {ac} {as} so that it is immediately {rel} the {bc} {bs}",),
                               "cn": ("把{ac}的{as}移到{bc}{bs}的{rel}，紧挨着它",)},
}


@dataclass(frozen=True)
class Edit:
    """One world edit, independent of its wording. `obj`/`anchor` are (colour, shape) names of source objects."""

    task: str
    obj: tuple[str, str] | None = None  # the object edited (all but subject-add)
    color: str | None = None  # new colour (color_alter, subject-replace, subject-add)
    shape: str | None = None  # new shape (subject-replace, subject-add)
    size: str | None = None  # size of the added object
    loc: str | None = None  # a LOCATIONS cell (motion_change, subject-add) ...
    rel: str | None = None  # ... or the cell next to `anchor` in this DIRECTIONS direction
    anchor: tuple[str, str] | None = None

    @property
    def placement(self) -> str | None:
        return "loc" if self.loc else "rel" if self.rel else None


def _cell(o: Obj) -> tuple[int, int]:
    """(column, row) of the grid cell nearest the object's centre (tolerant of centres read off an image)."""
    return (min(range(3), key=lambda k: abs(GRID[k] - o.x)), min(range(3), key=lambda k: abs(GRID[k] - o.y)))


def _find(scene: Scene, name: tuple[str, str] | None) -> int | None:
    """The index of the one object with this (colour, shape), or None when there is none or several."""
    hits = [k for k, o in enumerate(scene.objects) if (o.color, o.shape) == name]
    return hits[0] if len(hits) == 1 else None


def apply_edit(edit: Edit, source: Scene) -> Scene | None:
    """The scene `edit` makes of `source`, or None when it does not apply (a named object missing or not unique,
    the place taken or off the grid, or nothing would change)."""
    objects = list(source.objects)
    k = _find(source, edit.obj) if edit.task != "subject-add" else None
    if edit.task != "subject-add" and k is None:
        return None
    if edit.task == "color_alter":
        if edit.color == objects[k].color:
            return None
        objects[k] = replace(objects[k], color=edit.color)
    elif edit.task == "subject-remove":
        del objects[k]
    elif edit.task == "subject-replace":
        if (edit.color, edit.shape) == (objects[k].color, objects[k].shape):
            return None
        objects[k] = replace(objects[k], color=edit.color, shape=edit.shape)
    elif edit.task in ("motion_change", "subject-add"):
        if edit.loc:
            col, row = LOCATIONS.index(edit.loc) % 3, LOCATIONS.index(edit.loc) // 3
        else:
            b = _find(source, edit.anchor)
            if b is None or b == k:
                return None
            (bc, br), (dc, dr) = _cell(objects[b]), DIRECTIONS[edit.rel]
            col, row = bc + dc, br + dr
        if not (0 <= col < 3 and 0 <= row < 3):
            return None
        if any(_cell(o) == (col, row) for j, o in enumerate(objects) if j != k):
            return None
        if k is None:
            objects.append(Obj(edit.shape, edit.color, edit.size, GRID[col], GRID[row]))
        elif _cell(objects[k]) == (col, row):
            return None
        else:
            objects[k] = replace(objects[k], x=GRID[col], y=GRID[row])
    else:
        return None
    return source.with_objects(objects)


def _values(edit: Edit) -> dict[str, str | None]:
    return {"ac": edit.obj and edit.obj[0], "as": edit.obj and edit.obj[1], "bc": edit.anchor and edit.anchor[0],
            "bs": edit.anchor and edit.anchor[1], "nc": edit.color, "ns": edit.shape, "size": edit.size,
            "loc": edit.loc, "rel": edit.rel}


def instruction(edit: Edit, language: str, variant: int = 0) -> str:
    """The edit in words: wording number `variant` (modulo the wordings there are) of `language` ("en"/"cn")."""
    wordings = TEMPLATES[edit.task, edit.placement][language]
    words = {key: VOCAB[language][KINDS[key]][v] for key, v in _values(edit).items() if v is not None}
    text = wordings[variant % len(wordings)]
    for key, word in words.items():
        text = text.replace("{" + key + "}", word)
    if "{art}" in text:
        after = text.split("{art} ", 1)[1]
        text = text.replace("{art}", "an" if after[0] in "aeiou" else "a")
    return text + "." if language == "en" else text


@cache
def _patterns(language: str) -> list[tuple[str, str | None, re.Pattern[str]]]:
    """Every wording of `language` as a regular expression with one named group per placeholder."""
    out = []
    for (task, placement), wordings in TEMPLATES.items():
        for text in wordings[language]:
            pattern = re.escape(text)
            for key, kind in KINDS.items():
                words = sorted(VOCAB[language][kind].values(), key=len, reverse=True)
                pattern = pattern.replace(re.escape("{" + key + "}"), f"(?P<{key}>{'|'.join(map(re.escape, words))})")
            pattern = pattern.replace(re.escape("{art}"), "an?")
            out.append((task, placement, re.compile(pattern, re.IGNORECASE)))
    return out


def parse_instruction(text: str, language: str = "en") -> Edit | None:
    """The Edit an instruction of `language` states, or None when it is not one of the world's wordings."""
    if language not in LANGUAGES:
        return None
    text = text.strip().rstrip(".。!！").strip()
    for task, _, pattern in _patterns(language):
        m = pattern.fullmatch(text)
        if not m:
            continue
        back = {kind: {w.lower(): k for k, w in VOCAB[language][kind].items()} for kind in set(KINDS.values())}
        got = {key: back[KINDS[key]][v.lower()] for key, v in m.groupdict().items() if v is not None}
        obj, anchor = ((got[c], got[s]) if c in got else None for c, s in (("ac", "as"), ("bc", "bs")))
        return Edit(task, obj=obj, color=got.get("nc"), shape=got.get("ns"), size=got.get("size"),
                    loc=got.get("loc"), rel=got.get("rel"), anchor=anchor)
    return None


def edit_target(instruction: str, source: Scene, language: str = "en") -> Scene | None:
    """The scene the instruction asks for, applied to `source` (objects in source order, an added one last); None
    when the text is not a world instruction of `language` or does not apply to this source."""
    edit = parse_instruction(instruction, language)
    return None if edit is None else apply_edit(edit, source)


# ------------------------------------------------------------------------------------------------ sampling

SOURCE_SIZES = {"subject-add": (1, 3), "subject-remove": (2, 4)}  # objects in the source, default (1, 4)


def _placement(rng: random.Random, scene: Scene, mover: Obj | None) -> dict[str, str | tuple[str, str]] | None:
    """A free named cell, or (half the time, where one exists) the free cell next to another referable object."""
    taken = {_cell(o) for o in scene.objects if o is not mover}
    if mover is not None:
        taken.add(_cell(mover))  # moving onto its own cell is no move
    options = []
    for b in referable(scene):
        if b is mover:
            continue
        for rel, (dc, dr) in DIRECTIONS.items():
            col, row = _cell(b)[0] + dc, _cell(b)[1] + dr
            if 0 <= col < 3 and 0 <= row < 3 and (col, row) not in taken:
                options.append({"rel": rel, "anchor": (b.color, b.shape)})
    free = [loc for k, loc in enumerate(LOCATIONS) if (k % 3, k // 3) not in taken]
    if options and (not free or rng.random() < 0.5):
        return rng.choice(options)
    return {"loc": rng.choice(free)} if free else None


def _propose(rng: random.Random, task: str, scene: Scene) -> Edit | None:
    names = {(o.color, o.shape) for o in scene.objects}
    if task == "subject-add":
        color, shape = rng.choice([(c, s) for c in COLORS for s in SHAPES if (c, s) not in names])
        where = _placement(rng, scene, None)
        return where and Edit(task, color=color, shape=shape, size=rng.choice(list(SIZES)), **where)
    o = rng.choice(referable(scene))
    name = (o.color, o.shape)
    if task == "color_alter":
        return Edit(task, obj=name, color=rng.choice([c for c in COLORS if (c, o.shape) not in names]))
    if task == "subject-remove":
        return Edit(task, obj=name)
    if task == "subject-replace":
        color, shape = rng.choice([(c, s) for c in COLORS for s in SHAPES if s != o.shape and (c, s) not in names])
        return Edit(task, obj=name, color=color, shape=shape)
    where = _placement(rng, scene, o)
    return where and Edit(task, obj=name, **where)


def edit_item(rng: random.Random, index: int) -> tuple[Edit, Scene, Scene, dict[str, str]]:
    """Item `index`: its edit (task types cycle with the index), source and target scenes, and the instruction
    in each language."""
    task = EDIT_TASKS[index % len(EDIT_TASKS)]
    for _ in range(10_000):
        source = random_scene(rng, rng.randint(*SOURCE_SIZES.get(task, (1, 4))))
        if overlapping(source) or not referable(source):
            continue
        edit = _propose(rng, task, source)
        target = apply_edit(edit, source) if edit else None
        if target is None or overlapping(target):
            continue
        texts = {lang: instruction(edit, lang, rng.randrange(2)) for lang in LANGUAGES}
        return edit, source, target, texts
    raise RuntimeError("no edit met the constraints in 10000 draws")  # a generator bug, never bad luck


# ------------------------------------------------------------------------------------------------ rows

GEDIT_N = 30  # default number of items of the test split


def gedit_rows(split: str, n: int) -> list[dict]:
    """GEdit-Bench rows: per item an "en" and a "cn" row with the same key (f"{i:04d}"), task type and edit;
    `input_image` the rendered source (PIL), `world` {"source": scene, "target": scene}. `Intersection_exist` is
    True throughout: no world model refuses an edit, so the intersection subset is the full set."""
    rows = []
    for i, (edit, source, target, texts) in _edits(split, n):
        world, image = json.dumps({"source": source.to_dict(), "target": target.to_dict()}), render(source)
        for lang in LANGUAGES:
            rows.append({"key": f"{i:04d}", "task_type": edit.task, "instruction": texts[lang],
                         "instruction_language": lang, "input_image": image, "Intersection_exist": True,
                         "world": world})
    return rows


def _edits(split: str, n: int) -> list[tuple[int, tuple[Edit, Scene, Scene, dict[str, str]]]]:
    """(index, item) for the first `n` items of `split`: no two show the same source; train skips an item whose
    source or target scene a test item (at the default size) shows."""
    if split not in SPLITS:
        raise ValueError(f"unknown world split {split!r} (have: {', '.join(SPLITS)})")
    banned = _test_keys() if split == "train" else frozenset()
    out, seen, i = [], set(), 0
    while len(out) < n:
        item = edit_item(scene_rng(split, i, salt="gedit"), i)
        keys = {item[1].key(), item[2].key()}
        if banned.isdisjoint(keys) and item[1].key() not in seen:
            seen.add(item[1].key())
            out.append((i, item))
        i += 1
    return out


@lru_cache(maxsize=1)
def _test_keys() -> frozenset[str]:
    return frozenset(s.key() for _, item in _edits("test", GEDIT_N) for s in item[1:3])
