"""Question content for the reasoning benchmarks of the ShapesWorld generators: MMMU, MathVista, MM-Vet.

Each `*_item(rng, index)` draws one item from the item's own RNG; `lvrpo.world.understanding` turns items into rows
of the benchmark's official schema. Kinds cycle with `index`, so any run of consecutive indices is balanced.
"""

from __future__ import annotations

import random

from lvrpo.world.phrases import (
    CELL_ROWS,
    PLURAL,
    REL_PHRASE,
    WORDS,
    Item,
    choice_set,
    clear_relations,
    color_unique,
    compose,
    count_scene,
    draw,
    location,
    location_alternatives,
    name,
    other,
    referable,
    shape_unique,
)
from lvrpo.world.scenes import COLORS, RESOLUTION, SHAPES, Obj, Scene, random_scene


def _pair_scene(rng: random.Random, s1: str, k1: int, s2: str, k2: int, extra: int = 0) -> Scene:
    """k1 objects of shape s1, k2 of s2, `extra` of neither (random colours, distinct cells)."""
    rest = tuple(s for s in SHAPES if s not in (s1, s2))
    return compose(rng, [{"shape": s1}] * k1 + [{"shape": s2}] * k2 + [{"shape": rest}] * extra)


# ----------------------------------------------------------------------------------------------- MMMU

def _numbers(rng: random.Random, k: int) -> list[str]:
    """Four consecutive counts holding k (never below 0)."""
    lo = rng.randint(max(0, k - 3), k)
    return [str(v) for v in range(lo, lo + 4)]


def mmmu_item(rng: random.Random, index: int) -> Item:
    """One MMMU question: subject, subfield, question with `<image k>` tags, options, answer, question type."""
    kind = index % 6
    if kind == 0:  # multiple choice, counting
        shape, k = rng.choice(SHAPES), rng.randint(1, 4)
        scene = count_scene(rng, shape, k, rng.randint(0, 4 - k))
        q = rng.choice((f"<image 1> How many {PLURAL[shape]} are there in the figure?",
                        f"How many {PLURAL[shape]} does <image 1> show?"))
        options = _numbers(rng, k)
        return _mmmu(("Math", "Counting"), (scene,), q, options, options.index(str(k)))
    if kind == 1:  # multiple choice, colour
        scene, o = draw(rng, shape_unique)
        q = rng.choice((f"Which color is the {o.shape} in <image 1>?",
                        f"<image 1> What is the color of the {o.shape}?"))
        options, answer = choice_set(rng, o.color, other(rng, COLORS, o.color, k=3))
        return _mmmu(("Design", "Color Theory"), (scene,), q, options, answer)
    if kind == 2:  # open, arithmetic on counts
        s1, s2 = rng.sample(SHAPES, 2)
        k1 = rng.randint(1, 3)
        k2 = rng.randint(0, 4 - k1)
        scene = _pair_scene(rng, s1, k1, s2, k2, rng.randint(0, 4 - k1 - k2))
        if rng.random() < 0.5:
            q, gold = f"<image 1> How many {PLURAL[s1]} and {PLURAL[s2]} are there in total?", k1 + k2
        else:
            q, gold = f"How many objects in <image 1> are not {PLURAL[s1]}?", len(scene.objects) - k1
        return _mmmu(("Math", "Arithmetic"), (scene,), q, [], str(gold))
    if kind == 3:  # open, composition
        scene, o = draw(rng, lambda s: s.objects, n=(1, 4))
        q = rng.choice((f"What shape is drawn in the {location(o)} part of <image 1>?",
                        f"<image 1> Which shape occupies the {location(o)} of the figure?"))
        return _mmmu(("Design", "Composition"), (scene,), q, [], o.shape)
    shape = rng.choice(SHAPES)
    k1, k2 = rng.randint(0, 3), rng.randint(0, 3)
    scenes = tuple(count_scene(rng, shape, k, rng.randint(0 if k else 1, 4 - k)) for k in (k1, k2))
    if kind == 4:  # multiple choice over two images
        q = f"Which image contains more {PLURAL[shape]}, <image 1> or <image 2>?"
        options = ["<image 1>", "<image 2>", "Both contain the same number"]
        return _mmmu(("Math", "Counting"), scenes, q, options, 2 if k1 == k2 else int(k2 > k1))
    q = rng.choice((f"How many {PLURAL[shape]} are there in <image 1> and <image 2> altogether?",
                    f"<image 1> <image 2> Count the {PLURAL[shape]} in both figures. How many are there?"))
    return _mmmu(("Math", "Arithmetic"), scenes, q, [], str(k1 + k2))


def _mmmu(topic: tuple[str, str], scenes: tuple[Scene, ...], question: str, options: list[str],
          answer: int | str) -> Item:
    mc = bool(options)
    return Item(scenes, {"subject": topic[0], "subfield": topic[1], "question": question, "options": options,
                         "answer": "ABCDEFGHI"[answer] if mc else answer,
                         "question_type": "multiple-choice" if mc else "open",
                         "difficulty": "Medium" if len(scenes) > 1 else "Easy"})


# ------------------------------------------------------------------------------------------ MathVista

def mathvista_item(rng: random.Random, index: int) -> Item:
    """One MathVista problem: question, choices, unit, precision, answer, types, and metadata fields."""
    kind = index % 6
    if kind == 0:  # counting, CLEVR-Math style subtraction
        shape, k = rng.choice(SHAPES), rng.randint(1, 3)
        scene = count_scene(rng, shape, k, rng.randint(0, 4 - k))
        if rng.random() < 0.5:
            return _mv(scene, f"How many {PLURAL[shape]} are there in the image?", k, skills=["numeric commonsense"],
                       task="visual question answering", category="general-vqa")
        return _mv(scene, f"Subtract all {PLURAL[shape]}. How many objects are left?", len(scene.objects) - k)
    if kind == 1:  # sums of counts
        s1, s2 = rng.sample(SHAPES, 2)
        k1 = rng.randint(1, 3)
        scene = _pair_scene(rng, s1, k1, s2, rng.randint(1, 4 - k1))
        if rng.random() < 0.5:
            return _mv(scene, f"How many {PLURAL[s1]} and {PLURAL[s2]} are there in total?",
                       scene.count(s1) + scene.count(s2))
        m, color = rng.randint(1, 3), rng.choice(COLORS)
        return _mv(scene, f"Add {WORDS[m]} {color} {s1 if m == 1 else PLURAL[s1]}. How many objects exist?",
                   len(scene.objects) + m)
    if kind == 2:  # comparisons, multiple choice
        s1, s2 = rng.sample(SHAPES, 2)
        k1, k2 = rng.choice([(a, b) for a in range(4) for b in range(4) if 0 < a + b <= 4])  # ties are allowed
        scene = _pair_scene(rng, s1, k1, s2, k2, rng.randint(0, 4 - k1 - k2))
        more = rng.random() < 0.5
        q = f"Are there {'more' if more else 'fewer'} {PLURAL[s1]} than {PLURAL[s2]}?"
        yes = k1 > k2 if more else k1 < k2
        return _mv(scene, q, "Yes" if yes else "No", choices=["Yes", "No"], skills=["logical reasoning"],
                   category="general-vqa", task="visual question answering")
    if kind == 3:  # a square's side or area in pixels
        scene, o = draw(rng, _named_squares)
        side = _side(o)
        lead = f"The image is {RESOLUTION} pixels wide and {RESOLUTION} pixels tall. "
        if rng.random() < 0.5:
            return _mv(scene, lead + f"What is the side length of the {o.color} square?", side, unit="pixels",
                       skills=["geometry reasoning"], task="geometry problem solving", grade="high school")
        return _mv(scene, lead + f"What is the area of the {o.color} square?", side * side, unit="square pixels",
                   skills=["geometry reasoning", "arithmetic reasoning"], task="geometry problem solving",
                   grade="high school")
    if kind == 4:  # fractions, two decimals
        if rng.random() < 0.5:
            shape, k = rng.choice(SHAPES), rng.randint(1, 3)
            scene = count_scene(rng, shape, k, rng.randint(1, 4 - k))
            return _mv(scene, f"What fraction of the objects in the image are {PLURAL[shape]}?",
                       k / len(scene.objects), precision=2, skills=["arithmetic reasoning", "statistical reasoning"])
        scene, o = draw(rng, _named_squares)
        return _mv(scene, f"What fraction of the image's width does the {o.color} square span?",
                   _side(o) / RESOLUTION, precision=2, skills=["geometry reasoning"], task="geometry problem solving",
                   grade="high school")
    s1, s2 = rng.sample(SHAPES, 2)  # ratios, one decimal
    k1, k2 = rng.choice([(a, b) for a in range(1, 4) for b in range(1, 4) if a + b <= 4])
    scene = _pair_scene(rng, s1, k1, s2, k2)
    return _mv(scene, f"What is the ratio of the number of {PLURAL[s1]} to the number of {PLURAL[s2]}?", k1 / k2,
               precision=1, skills=["arithmetic reasoning", "algebraic reasoning"])


def _named_squares(scene: Scene) -> list[Obj]:
    return [o for o in referable(scene) if o.shape == "square"]  # "the red square" names exactly one


def _side(o: Obj) -> int:
    x1, _, x2, _ = o.box()
    return x2 - x1  # a square fills its box exactly


def _mv(scene: Scene, question: str, answer: int | float | str, *, choices: list[str] | None = None,
        unit: str | None = None, precision: int | None = None, skills: list[str] | None = None,
        task: str = "math word problem", category: str = "math-targeted-vqa", grade: str = "elementary school") -> Item:
    if choices:
        qtype, atype, gold = "multi_choice", "text", str(answer)
    elif precision:
        # the official scorer compares str(round(float(x), precision)) with the answer text by ==
        qtype, atype, gold = "free_form", "float", str(round(float(answer), precision))
    else:
        qtype, atype, gold = "free_form", "integer", str(int(answer))
    return Item((scene,), {"question": question, "choices": choices, "unit": unit,
                           "precision": float(precision) if precision else None, "answer": gold,
                           "question_type": qtype, "answer_type": atype, "category": category, "task": task,
                           "grade": grade, "skills": skills or ["arithmetic reasoning"]})


# --------------------------------------------------------------------------------------------- MM-Vet

def mmvet_item(rng: random.Random, index: int) -> Item:
    """One open MM-Vet question: question, gold answer (with <AND>/<OR>), capability list."""
    kind = index % 6
    if kind == 0:  # recognise every shape / colour
        attr = rng.choice(("shape", "color"))

        def values(s: Scene) -> list:
            seen = sorted({getattr(o, attr) for o in s.objects})
            return [seen] if len(seen) > 1 else []

        scene, values = draw(rng, values, n=(2, 4))
        q = "What shapes can you see in the image?" if attr == "shape" else "Which colors appear in this image?"
        return _vet(scene, q, "<AND>".join(values), "rec")
    if kind == 1:
        if rng.random() < 0.5:
            scene, o = draw(rng, shape_unique)
            return _vet(scene, rng.choice((f"What color is the {o.shape}?", f"What is the color of the {o.shape}?")),
                        o.color, "rec")
        scene, o = draw(rng, color_unique)
        return _vet(scene, f"What shape is the {o.color} object?", o.shape, "rec")
    if kind == 2:
        scene, o = draw(rng, referable)
        q = rng.choice((f"Where is the {name(o)} in the image?", f"In which part of the image is the {name(o)}?"))
        return _vet(scene, q, "<OR>".join(location_alternatives(o)), "rec,spat")
    if kind == 3:  # the one object in a given relation to a named one

        def unique_neighbour(s: Scene) -> list:
            found = []
            for b in referable(s):
                rest = [p for p in s.objects if p is not b]
                if not all(clear_relations(p, b) for p in rest):
                    continue  # an unclear neighbour could be read either way
                for rel in REL_PHRASE:
                    hits = [p for p in rest if rel in clear_relations(p, b)]
                    found += [(hits[0], rel, b)] if len(hits) == 1 else []
            return found

        scene, (o, rel, b) = draw(rng, unique_neighbour, n=(2, 4))
        return _vet(scene, f"What is the color of the object {REL_PHRASE[rel]} the {name(b)}?", o.color, "rec,spat")
    if kind == 4:
        if rng.random() < 0.5:
            scene = random_scene(rng, rng.randint(1, 4))
            k = len(scene.objects)
            return _vet(scene, "How many objects are there in the image?", f"{k}<OR>{WORDS[k]}", "rec,math")
        s1, s2 = rng.sample(SHAPES, 2)
        k2 = rng.randint(0, 1)
        k1 = rng.randint(k2 + 1, 4 - k2)
        scene = _pair_scene(rng, s1, k1, s2, k2)
        return _vet(scene, f"How many more {PLURAL[s1]} than {PLURAL[s2]} are there?",
                    f"{k1 - k2}<OR>{WORDS[k1 - k2]}", "rec,math")
    scene = random_scene(rng, rng.randint(2, 4))  # counting in one row or column of the 3×3 layout
    axis, line = rng.choice(("row", "column")), rng.choice(range(3))
    k = sum(CELL_ROWS[(o.y if axis == "row" else o.x)] == line for o in scene.objects)
    where = (("top", "middle", "bottom") if axis == "row" else ("left", "middle", "right"))[line]
    answer = "<OR>".join([str(k), WORDS[k]] + (["none"] if k == 0 else []))
    return _vet(scene, f"How many objects are in the {where} {axis} of the image?", answer, "rec,spat,math")


def _vet(scene: Scene, question: str, answer: str, capability: str) -> Item:
    return Item((scene,), {"question": question, "answer": answer, "capability": capability})

