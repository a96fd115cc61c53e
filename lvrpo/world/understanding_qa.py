"""Question content for the perception benchmarks of the ShapesWorld generators: MME, MMBench, MMVP.

Each `*_item(rng, index)` draws one item from the item's own RNG; `lvrpo.world.understanding` turns items into rows
of the benchmark's official schema. Kinds cycle with `index`, so any run of consecutive indices is balanced.
"""

from __future__ import annotations

import random
from dataclasses import replace

from lvrpo.world.phrases import (
    LOCATIONS,
    OPPOSITE,
    PLURAL,
    REL_PHRASE,
    WORDS,
    Item,
    absent_names,
    article,
    choice_set,
    clear_pairs,
    clear_relations,
    color_unique,
    count_scene,
    draw,
    location,
    name,
    other,
    referable,
    shape_unique,
)
from lvrpo.world.scenes import COLORS, SHAPES, SIZES, Obj, Scene, random_scene

# ------------------------------------------------------------------------------------------------ MME

MME_CATEGORIES = ("existence", "count", "position", "color")  # MME's perception subtasks a shapes scene can pose
MME_SUFFIX = " Please answer yes or no."  # every official MME question ends so


def _mme_existence(rng: random.Random) -> tuple[Scene, str, str]:
    scene = random_scene(rng)
    o = rng.choice(scene.objects)
    absent_shapes = [s for s in SHAPES if not scene.count(s)]
    if absent_shapes and rng.random() < 0.3:  # shape only: "Is there a cross ...?"
        yes, no = o.shape, rng.choice(absent_shapes)
    else:  # a near miss: the "no" object shares the colour or the shape of one that is drawn
        yes, no = name(o), rng.choice(absent_names(scene, near=o))
    template = rng.choice(("Is there {} in this image?", "Is there {} in the image?", "Does this image contain {}?"))
    return scene, template.format(article(yes)), template.format(article(no))


def _mme_count(rng: random.Random) -> tuple[Scene, str, str]:
    shape, k = rng.choice(SHAPES), rng.randint(1, 3)
    scene = count_scene(rng, shape, k, rng.randint(0, 4 - k))
    if rng.random() < 0.25:  # all objects
        k, noun = len(scene.objects), ("object", "objects")
    else:
        noun = (shape, PLURAL[shape])
    wrong = k + 1 if k == 1 or rng.random() < 0.5 else k - 1
    by_number = rng.random() < 0.5

    def ask(j: int) -> str:
        if by_number:
            return f"Is the number of {noun[1]} in this image {WORDS[j]}?"
        return (f"Is there only one {noun[0]}" if j == 1 else f"Are there {WORDS[j]} {noun[1]}") + " in the image?"

    return scene, ask(k), ask(wrong)


def _mme_position(rng: random.Random) -> tuple[Scene, str, str]:
    scene, (a, b) = draw(rng, clear_pairs, n=(2, 4))
    if rng.random() < 0.5:
        rel = rng.choice(sorted(clear_relations(a, b)))
        ask = f"Is the {name(a)} {{}} the {name(b)}?"
        return scene, ask.format(REL_PHRASE[rel]), ask.format(REL_PHRASE[OPPOSITE[rel]])
    ask = rng.choice(("Is the {} in the {} part of the image?", "Is the {} located in the {} of the image?"))
    wrong = other(rng, LOCATIONS, location(a))
    return scene, ask.format(name(a), location(a)), ask.format(name(a), wrong)


def _mme_color(rng: random.Random) -> tuple[Scene, str, str]:
    scene, o = draw(rng, shape_unique, n=(1, 3))
    ask = rng.choice(("Is the {} in the image {}?", "Is the {} {}?", "Is the color of the {} {}?"))
    return scene, ask.format(o.shape, o.color), ask.format(o.shape, other(rng, COLORS, o.color))


MME_MAKERS = {"existence": _mme_existence, "count": _mme_count, "position": _mme_position, "color": _mme_color}


def mme_item(rng: random.Random, index: int) -> Item:
    """One image and its official question pair: (yes question, no question)."""
    category = MME_CATEGORIES[index % len(MME_CATEGORIES)]
    scene, yes, no = MME_MAKERS[category](rng)
    return Item((scene,), {"category": category, "questions": (yes + MME_SUFFIX, no + MME_SUFFIX)})


# -------------------------------------------------------------------------------------------- MMBench

# MMBench leaf abilities a shapes scene can pose, with their official L2 categories.
MMBENCH_CATEGORIES = {"attribute_recognition": "FP-S", "object_localization": "FP-S",
                      "spatial_relationship": "FP-C", "attribute_comparison": "FP-C"}


def _mmb_attribute(rng: random.Random) -> tuple[Scene, str, list[str], int]:
    if rng.random() < 0.5:
        scene, o = draw(rng, shape_unique)
        q = rng.choice(("What color is the {} in the image?", "Which color is the {}?", "The {} is which color?"))
        return scene, q.format(o.shape), *choice_set(rng, o.color, other(rng, COLORS, o.color, k=3))
    scene, o = draw(rng, color_unique)
    q = rng.choice(("What shape is the {} object?", "Which shape is drawn in {}?", "The {} object is which shape?"))
    return scene, q.format(o.color), *choice_set(rng, o.shape, other(rng, SHAPES, o.shape, k=3))


def _mmb_localization(rng: random.Random) -> tuple[Scene, str, list[str], int]:
    scene, o = draw(rng, referable)
    if rng.random() < 0.5:
        q = rng.choice(("Where is the {} located in the image?", "In which part of the image is the {}?"))
        return scene, q.format(name(o)), *choice_set(rng, location(o), other(rng, LOCATIONS, location(o), k=3))
    q = rng.choice(("Which object is in the {} of the image?", "What is drawn in the {} part of the image?"))
    k = rng.randint(2, 3)  # distractors: the other objects drawn first, then objects not drawn
    distractors = list(dict.fromkeys(name(p) for p in scene.objects if p is not o))[:k]
    distractors += rng.sample(absent_names(scene), k - len(distractors))
    return scene, q.format(location(o)), *choice_set(rng, article(name(o)), [article(d) for d in distractors])


def _statement(a: Obj, b: Obj, rel: str) -> str:
    return f"The {name(a)} is {REL_PHRASE[rel]} the {name(b)}."


def _mmb_spatial(rng: random.Random) -> tuple[Scene, str, list[str], int]:
    if rng.random() < 0.5:
        scene, (a, b) = draw(rng, lambda s: clear_pairs(s, single=True), n=(2, 4))
        (rel,) = clear_relations(a, b)
        q = rng.choice(("Where is the {} relative to the {}?", "What is the position of the {} relative to the {}?"))
        options = [f"{REL_PHRASE[r]} the {name(b)}".capitalize() for r in REL_PHRASE]
        correct = options[list(REL_PHRASE).index(rel)]
        return scene, q.format(name(a), name(b)), *choice_set(rng, correct, [t for t in options if t != correct])
    scene, (a, b) = draw(rng, clear_pairs, n=(2, 4))
    true = _statement(a, b, rng.choice(sorted(clear_relations(a, b))))
    false = sorted({_statement(p, q, r) for p, q in clear_pairs(scene) for r in REL_PHRASE
                    if r not in clear_relations(p, q)})
    q = rng.choice(("Which statement about the image is true?", "Which of the following statements is correct?"))
    return scene, q, *choice_set(rng, true, rng.sample(false, rng.randint(2, 3)))


def _mmb_comparison(rng: random.Random) -> tuple[Scene, str, list[str], int]:
    if rng.random() < 0.5:  # the largest / smallest of 2-4 objects, each named
        pick = rng.choice((max, min))

        def unique_extreme(s: Scene) -> list:
            if len(referable(s)) < len(s.objects):
                return []
            sizes = [SIZES[o.size] for o in s.objects]
            return [o for o in s.objects if SIZES[o.size] == pick(sizes) and sizes.count(pick(sizes)) == 1]

        scene, o = draw(rng, unique_extreme, n=(2, 4))
        q = f"Which object is the {'largest' if pick is max else 'smallest'}?"
        return scene, q, *choice_set(rng, f"The {name(o)}", [f"The {name(p)}" for p in scene.objects if p is not o])
    attr, same = rng.choice(("color", "size")), rng.random() < 0.5  # yes and no equally often
    # a colour question names objects by shape alone, else the names would give the answer away
    label = (lambda o: o.shape) if attr == "color" else name

    def pairs(s: Scene) -> list:
        named = shape_unique(s) if attr == "color" else referable(s)
        return [(a, b) for i, a in enumerate(named) for b in named[i + 1:]
                if (getattr(a, attr) == getattr(b, attr)) == same]

    scene, (a, b) = draw(rng, pairs, n=(2, 4))
    q = f"Are the {label(a)} and the {label(b)} the same {attr}?"
    return scene, q, *choice_set(rng, "Yes" if same else "No", ["No" if same else "Yes"])


MMBENCH_MAKERS = {"attribute_recognition": _mmb_attribute, "object_localization": _mmb_localization,
                  "spatial_relationship": _mmb_spatial, "attribute_comparison": _mmb_comparison}


def mmbench_item(rng: random.Random, index: int) -> Item:
    """One single-choice question: its options in base order and the index of the right one."""
    category = list(MMBENCH_CATEGORIES)[index % len(MMBENCH_CATEGORIES)]
    scene, question, options, answer = MMBENCH_MAKERS[category](rng)
    return Item((scene,), {"category": category, "l2": MMBENCH_CATEGORIES[category], "question": question,
                           "options": options, "answer": answer})


# ----------------------------------------------------------------------------------------------- MMVP

MMVP_KINDS = ("color", "shape", "size", "position")  # the one attribute of one object the two images differ in


def mmvp_item(rng: random.Random, index: int) -> Item:
    """Two scenes differing in one attribute of one object, one two-option question, each image's answer."""
    kind = MMVP_KINDS[index % len(MMVP_KINDS)]
    if kind == "color":
        scene, o = draw(rng, shape_unique, n=(1, 3))
        new = replace(o, color=other(rng, COLORS, o.color))
        q = rng.choice((f"What color is the {o.shape}?", f"Is the {o.shape} {o.color} or {new.color}?"))
        texts = (o.color, new.color)
    elif kind == "shape":
        scene, o = draw(rng, color_unique, n=(1, 3))
        new = replace(o, shape=other(rng, SHAPES, o.shape))
        q = rng.choice((f"What shape is the {o.color} object?", f"Is the {o.color} object a {o.shape} or a "
                        f"{new.shape}?"))
        texts = (o.shape, new.shape)
    elif kind == "size":
        scene, o = draw(rng, lambda s: [p for p in referable(s) if p.size != "medium"], n=(1, 3))
        new = replace(o, size="large" if o.size == "small" else "small")
        q = rng.choice((f"Is the {name(o)} small or large?", f"Is the {name(o)} large or small?"))
        texts = (o.size, new.size)
    else:  # moved to the mirror cell across the image, left-right or top-bottom
        def movable(s: Scene) -> list:
            taken = {(p.x, p.y) for p in s.objects}
            return [(p, axis) for p in referable(s) for axis in ("x", "y")
                    if getattr(p, axis) != 0.5 and _mirror(p, axis) not in taken]

        scene, (o, axis) = draw(rng, movable, n=(1, 3))
        x, y = _mirror(o, axis)
        new = replace(o, x=x, y=y)
        sides = ("left", "right") if axis == "x" else ("top", "bottom")
        side = lambda p: sides[getattr(p, axis) > 0.5]  # noqa: E731
        q = (f"Is the {name(o)} on the left or the right side of the image?" if axis == "x"
             else f"Is the {name(o)} in the top or the bottom half of the image?")
        texts = (side(o), side(new))
    twin = scene.with_objects([new if p is o else p for p in scene.objects])
    order = list(texts) if rng.random() < 0.5 else list(reversed(texts))  # which image is "(a)" varies
    options = f"(a) {order[0].capitalize()} (b) {order[1].capitalize()}"
    answers = tuple("ab"[order.index(t)] for t in texts)
    return Item((scene, twin), {"kind": kind, "question": q, "options": options, "answers": answers})


def _mirror(o: Obj, axis: str) -> tuple[float, float]:
    # GRID is symmetric about 0.5, so the mirror of a cell is a cell
    return (round(1 - o.x, 3), o.y) if axis == "x" else (o.x, round(1 - o.y, 3))

