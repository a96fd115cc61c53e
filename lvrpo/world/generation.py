"""ShapesWorld rows for the three generation benchmarks (GenEval, WISE, GEdit-Bench), each in its official schema.

`<bench>_rows(split, n)` returns rows the unchanged adapters in `lvrpo/evals/` load and score, plus `world`: the
JSON of the scene a correct image shows (GEdit: `{"source": ..., "target": ...}`); `reference_images` renders it.

- GenEval: metadata rows (tag, include, exclude for counting, prompt) worded exactly as the official
  `evaluation_metadata.jsonl`, GenEval's classes being `SHAPES`: "a photo of a circle", "... of a circle and a
  square", "... of three circles" (exclude count + 1), "... of a red circle", "... of a circle left of a square"
  (include: the square, then the circle with `["left of", 0]`), "... of a red circle and a blue square". Counts
  are 2-4 (a scene holds at most 4 objects); two classes always differ, as do the two colours of color_attr. The
  reference scene holds exactly the prompt's objects (unnamed colours random), and for position prompts the
  relation holds by GenEval's rule and agrees with the grid (`phrases.clear_relations`).
- WISE: world-knowledge prompts whose answer is a scene, from fact tables per official category: "A circle in the
  colour of a ripe banana" (one yellow circle), "As many red squares as a violin has strings" (four red squares),
  "As many triangles as Mars has moons, each in the colour of the planet Neptune" (two blue triangles). Records
  carry the official Category / Subcategory names and prompt ids inside the protocol's id range of the category
  (legacy and verified differ), `wise_files` lays them out as the protocol's three prompt files.
  `wise_expected` reads a prompt back into its objects.
- GEdit: see `lvrpo.world.generation_edit` (task types, wordings, `edit_target`); every item gives an "en" and a
  "cn" row with the same key and edit. `Intersection_exist` is True on every row: no world model refuses an edit,
  so the intersection subset is the full set.

Prompts are drawn without replacement: tags (GenEval) and categories (WISE) take turns, item i's prompt and scene
come from `scene_rng(split, i, salt=bench)`, and a tag whose prompts are used up leaves the rotation (GenEval has
only 4 single_object, 12 two_object and 12 counting prompts in all). So no prompt repeats within a split and
`rows(split, m)` is the first m rows of `rows(split, n)` for m ≤ n. Train skips every prompt and scene the test
split holds at the default sizes (`GENERATION`), so the test split at those sizes takes its pick first; no two
rows of a split show the same scene either.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import permutations
from typing import Any

from PIL import Image

from lvrpo.evals.geneval import N_IMAGES, RELATIONS
from lvrpo.evals.geneval import TASKS as GENEVAL_TAGS
from lvrpo.evals.wise import PROTOCOLS
from lvrpo.types import LvrpoError
from lvrpo.world.generation_edit import GEDIT_N, edit_target, gedit_rows
from lvrpo.world.phrases import CELLS, PLURAL, WORDS, article, clear_relations, overlapping
from lvrpo.world.scenes import COLORS, SHAPES, SPLITS, Scene, random_object, render, scene_rng
from lvrpo.world.wise_facts import CATEGORIES, COLOUR_FACTS, COUNT_FACTS, ColourFact, CountFact

__all__ = ["GENERATION", "edit_target", "gedit_rows", "geneval_rows", "reference_images", "wise_expected",
           "wise_files", "wise_rows"]


@dataclass
class Spec:
    """One prompt: its text, the objects a correct image holds ((shape, colour or None for any)), an optional
    relation (objects[a] stands `rel` to objects[b]) and the bench's own fields."""

    prompt: str
    objects: tuple[tuple[str, str | None], ...]
    relation: tuple[int, str, int] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _place(rng: random.Random, spec: Spec) -> Scene:
    """A scene of exactly the spec's objects on random cells, none intersecting, the relation clear."""
    for _ in range(10_000):
        cells = rng.sample(CELLS, len(spec.objects))
        objs = [random_object(rng, cell, shape=shape, color=color)
                for cell, (shape, color) in zip(cells, spec.objects, strict=True)]
        scene = Scene(tuple(objs))
        if overlapping(scene):
            continue
        if spec.relation and spec.relation[1] not in clear_relations(objs[spec.relation[0]], objs[spec.relation[2]]):
            continue
        return scene
    raise RuntimeError(f"no scene for {spec.prompt!r} in 10000 draws")  # a generator bug, never bad luck


# ------------------------------------------------------------------------------------------------ GenEval

def _clause(shape: str, count: int = 1, color: str | None = None) -> dict[str, Any]:
    return {"class": shape, "count": count, **({"color": color} if color else {})}


@lru_cache(maxsize=1)
def _geneval_specs() -> dict[str, tuple[Spec, ...]]:
    """Every GenEval prompt the world can pose, per tag, in the official wording and clause structure."""
    pairs = list(permutations(SHAPES, 2))
    specs: dict[str, list[Spec]] = {t: [] for t in GENEVAL_TAGS}
    for s in SHAPES:
        specs["single_object"].append(Spec(f"a photo of {article(s)}", ((s, None),), info={"include": [_clause(s)]}))
        for k in (2, 3, 4):
            specs["counting"].append(Spec(f"a photo of {WORDS[k]} {PLURAL[s]}", ((s, None),) * k, info={
                "include": [_clause(s, k)], "exclude": [_clause(s, k + 1)]}))
        for c in COLORS:
            specs["colors"].append(Spec(f"a photo of {article(f'{c} {s}')}", ((s, c),),
                                        info={"include": [_clause(s, 1, c)]}))
    for a, b in pairs:
        specs["two_object"].append(Spec(f"a photo of {article(a)} and {article(b)}", ((a, None), (b, None)),
                                        info={"include": [_clause(a), _clause(b)]}))
        for rel in RELATIONS:  # "a photo of a dog right of a teddy bear": the reference (b) is clause 0
            specs["position"].append(Spec(f"a photo of {article(a)} {rel} {article(b)}", ((b, None), (a, None)),
                                          relation=(1, rel, 0), info={"include": [
                                              _clause(b), {**_clause(a), "position": [rel, 0]}]}))
        for ca in COLORS:
            for cb in COLORS:
                if ca != cb:
                    specs["color_attr"].append(Spec(
                        f"a photo of {article(f'{ca} {a}')} and {article(f'{cb} {b}')}", ((a, ca), (b, cb)),
                        info={"include": [_clause(a, 1, ca), _clause(b, 1, cb)]}))
    return {t: tuple(v) for t, v in specs.items()}


def geneval_rows(split: str, n: int) -> list[dict]:
    """GenEval metadata rows (tag, include, exclude, prompt, as the official jsonl) with the reference `world`."""
    rows = []
    for _, tag, spec, scene in _drawn("geneval", split, n):
        rows.append({"tag": tag, **spec.info, "prompt": spec.prompt, "world": json.dumps(scene.to_dict())})
    return rows


# ------------------------------------------------------------------------------------------------ WISE rows

WISE_FORMS = {"colour": 2, "count": 1, "both": 1}  # how often each prompt form is drawn (while it has prompts)


def _wise_text(form: str, shape: str, colour_fact: ColourFact | None, count_fact: CountFact | None,
               color: str | None) -> str:
    if form == "colour":
        return f"A {shape} in the colour of {colour_fact.subject}"
    if form == "count":
        return f"As many {color} {PLURAL[shape]} as {count_fact.phrase}"
    return f"As many {PLURAL[shape]} as {count_fact.phrase}, each in the colour of {colour_fact.subject}"


@lru_cache(maxsize=1)
def _wise_specs() -> dict[str, tuple[Spec, ...]]:
    """Every WISE world prompt, per category (the adapter's names: CULTURE, TIME, ...)."""
    out: dict[str, tuple[Spec, ...]] = {}
    for cat in CATEGORIES:
        specs = []
        for shape in SHAPES:
            for cf in COLOUR_FACTS[cat]:
                specs.append(_wise_spec("colour", shape, cf, None, cf.color, 1, cf.subcategory, [cf.statement]))
            for kf in COUNT_FACTS[cat]:
                for c in COLORS:
                    specs.append(_wise_spec("count", shape, None, kf, c, kf.count, kf.subcategory, [kf.statement]))
                for cf in COLOUR_FACTS[cat]:
                    specs.append(_wise_spec("both", shape, cf, kf, cf.color, kf.count, cf.subcategory,
                                            [cf.statement, kf.statement]))
        out[cat] = tuple(specs)
    return out


def _wise_spec(form: str, shape: str, cf: ColourFact | None, kf: CountFact | None, color: str, count: int,
               subcategory: str | tuple[str, str], statements: list[str]) -> Spec:
    noun = shape if count == 1 else PLURAL[shape]
    want = f"{WORDS[count]} {color} {noun}"
    explanation = (f"{statements[0]}, so the image should show {want}." if len(statements) == 1
                   else f"{'. '.join(statements)}. So the image should show {want}.")
    return Spec(_wise_text(form, shape, cf, kf, color), ((shape, color),) * count,
                info={"form": form, "Explanation": explanation, "Subcategory": subcategory})


def wise_rows(split: str, n: int, variant: str = "legacy") -> list[dict]:
    """WISE prompt records of protocol `variant` ("legacy" / "verified"): category k-th record of a category
    gets the id first + k of the protocol's range for it; `world` is the scene a correct image shows."""
    if variant not in PROTOCOLS:
        raise LvrpoError(f"wise: unknown variant {variant!r} (valid: {', '.join(PROTOCOLS)})")
    protocol = PROTOCOLS[variant]
    ranges = {cat: (lo, hi) for cat, lo, hi in protocol.ranges}
    taken = dict.fromkeys(CATEGORIES, 0)
    rows = []
    for _, cat, spec, scene in _drawn("wise", split, n):
        lo, hi = ranges[cat]
        if lo + taken[cat] > hi:
            raise LvrpoError(f"wise: {variant} ids for {cat} run {lo}-{hi}: too many {cat} prompts asked for")
        sub = spec.info["Subcategory"]
        rows.append({"prompt_id": lo + taken[cat], "Prompt": spec.prompt, "Explanation": spec.info["Explanation"],
                     "Category": CATEGORIES[cat], "Subcategory": sub if isinstance(sub, str) else
                     sub[variant == "verified"], "world": json.dumps(scene.to_dict())})
        taken[cat] += 1
    return rows


def wise_files(split: str, n: int, variant: str = "legacy") -> dict[str, list[dict]]:
    """`wise_rows` as the protocol's three official prompt files (file name -> records by prompt id): cultural
    common sense (CULTURE), spatio-temporal reasoning (TIME, SPACE), natural science (the rest)."""
    rows = sorted(wise_rows(split, n, variant), key=lambda r: r["prompt_id"])  # raises on an unknown variant
    protocol = PROTOCOLS[variant]
    groups = (("CULTURE",), ("TIME", "SPACE"), ("BIOLOGY", "PHYSICS", "CHEMISTRY"))
    ranges = {cat: (lo, hi) for cat, lo, hi in protocol.ranges}
    return {name: [r for r in rows if any(ranges[c][0] <= r["prompt_id"] <= ranges[c][1] for c in cats)]
            for name, cats in zip(protocol.files, groups, strict=True)}


_ALT = {"shape": "|".join(SHAPES), "plural": "|".join(PLURAL.values()), "color": "|".join(COLORS)}
_WISE_PATTERNS = (
    ("both", re.compile(rf"as many (?P<plural>{_ALT['plural']}) as (?P<phrase>.+), each in the colour of "
                        r"(?P<subject>.+)", re.IGNORECASE)),
    ("count", re.compile(rf"as many (?P<color>{_ALT['color']}) (?P<plural>{_ALT['plural']}) as (?P<phrase>.+)",
                         re.IGNORECASE)),
    ("colour", re.compile(rf"an? (?P<shape>{_ALT['shape']}) in the colour of (?P<subject>.+)", re.IGNORECASE)),
)


@lru_cache(maxsize=1)
def _fact_index() -> tuple[dict[str, ColourFact], dict[str, CountFact]]:
    colours = {f.subject.lower(): f for facts in COLOUR_FACTS.values() for f in facts}
    counts = {f.phrase.lower(): f for facts in COUNT_FACTS.values() for f in facts}
    return colours, counts


def wise_expected(prompt: str) -> list[tuple[str, str]] | None:
    """The objects (shape, colour) a WISE world prompt asks for, one entry per object (so a count repeats it);
    None when the text is not one of the world's prompts. The world's prompts state no positions."""
    colours, counts = _fact_index()
    text = " ".join(prompt.split()).rstrip(".")
    for form, pattern in _WISE_PATTERNS:
        m = pattern.fullmatch(text)
        if not m:
            continue
        g = m.groupdict()
        shape = g["shape"].lower() if g.get("shape") else next(s for s, p in PLURAL.items() if p == g["plural"].lower())
        cf = colours.get(g["subject"].lower()) if g.get("subject") else None
        kf = counts.get(g["phrase"].lower()) if g.get("phrase") else None
        if (form != "count" and cf is None) or (form != "colour" and kf is None):
            return None
        color = g["color"].lower() if form == "count" else cf.color
        return [(shape, color)] * (1 if form == "colour" else kf.count)
    return None


# ------------------------------------------------------------------------------------------------ drawing

SPECS: dict[str, Callable[[], dict[str, tuple[Spec, ...]]]] = {"geneval": _geneval_specs, "wise": _wise_specs}


def _choose(bench: str, rng: random.Random, remaining: list[Spec]) -> int:
    """The index in `remaining` of the next prompt: uniform (GenEval); form first, then uniform (WISE)."""
    if bench == "wise":
        forms = [f for f in WISE_FORMS if any(s.info["form"] == f for s in remaining)]
        form = rng.choices(forms, weights=[WISE_FORMS[f] for f in forms])[0]
        return rng.choice([k for k, s in enumerate(remaining) if s.info["form"] == form])
    return rng.randrange(len(remaining))


def _drawn(bench: str, split: str, n: int) -> list[tuple[int, str, Spec, Scene]]:
    """(index, tag, prompt, scene) for the first `n` items of `split` (see the module doc for the rules)."""
    if split not in SPLITS:
        raise ValueError(f"unknown world split {split!r} (have: {', '.join(SPLITS)})")
    prompts, scenes = _held_out(bench) if split == "train" else (frozenset(), frozenset())
    pools = SPECS[bench]()
    tags = list(pools)
    remaining = {t: [s for s in pools[t] if s.prompt not in prompts] for t in tags}
    out: list[tuple[int, str, Spec, Scene]] = []
    seen: set[str] = set()
    i = turn = 0
    while len(out) < n:
        step = next((k for k in range(len(tags)) if remaining[tags[(turn + k) % len(tags)]]), None)
        if step is None:
            raise LvrpoError(f"{bench}: the world has only {len(out)} {split} prompts; {n} asked for")
        tag = tags[(turn + step) % len(tags)]
        rng = scene_rng(split, i, salt=bench)
        k = _choose(bench, rng, remaining[tag])
        scene = _place(rng, remaining[tag][k])
        if scene.key() not in scenes and scene.key() not in seen:
            seen.add(scene.key())
            out.append((i, tag, remaining[tag].pop(k), scene))
            turn = (turn + step + 1) % len(tags)
        i += 1
    return out


@cache
def _held_out(bench: str) -> tuple[frozenset[str], frozenset[str]]:
    """The prompts and scene keys of the test split at the default size: train never uses them."""
    drawn = _drawn(bench, "test", GENERATION[bench][1])
    return frozenset(s.prompt for _, _, s, _ in drawn), frozenset(scene.key() for *_, scene in drawn)


# bench -> (rows function, default number of items of the test split)
GENERATION: dict[str, tuple[Callable[..., list[dict]], int]] = {
    "geneval": (geneval_rows, 48), "wise": (wise_rows, 36), "gedit": (gedit_rows, GEDIT_N),
}


def world_scene(row: dict[str, Any]) -> Scene:
    """The scene a correct image of the row shows (GEdit: the target of the edit)."""
    data = json.loads(row["world"])
    return Scene.from_dict(data["target"] if "target" in data else data)


def reference_images(bench: str, row: dict[str, Any]) -> list[Image.Image]:
    """Renders of the row's target scene, as many as the benchmark asks per prompt (GenEval 4, WISE / GEdit 1)."""
    if bench not in GENERATION:
        raise LvrpoError(f"no ShapesWorld generator for benchmark {bench!r} (have: {', '.join(GENERATION)})")
    image = render(world_scene(row))
    return [image.copy() for _ in range(N_IMAGES)] if bench == "geneval" else [image]
