"""ShapesWorld rows for the six understanding benchmarks, each in that benchmark's own official schema.

`<bench>_rows(split, n)` returns rows the unchanged adapters in `lvrpo/evals/` load and score: the official columns
(images as PIL values) plus `world`, the JSON of the scene dict an image shows (a list of dicts for a row citing
several images), for oracles. `n` counts items: MME images (two rows each, the official yes/no pair), MMBench
questions (one row per circular rotation, index q + k·1e6), MMMU / MathVista / MM-Vet questions, MMVP image pairs
(two rows each). Item i of a split is drawn from `scene_rng(split, i, salt=bench)`, so a row depends only on
(split, index). Train items whose scene any test item (at the default sizes in `UNDERSTANDING`) shows are skipped,
so the splits never share a scene, nor therefore a question about one. Scenes whose objects' boxes intersect are
redrawn (see `phrases.overlapping`), so every object is fully visible.

Question content lives in `understanding_qa` (MME, MMBench, MMVP) and `understanding_math` (MMMU, MathVista,
MM-Vet); this module only lays items out in the official schemas.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lvrpo.evals.mathvista import build_query
from lvrpo.evals.mmbench import ROTATION
from lvrpo.types import LvrpoError
from lvrpo.world.phrases import Item, overlapping
from lvrpo.world.scenes import RESOLUTION, SPLITS, Scene, render, scene_rng
from lvrpo.world.understanding_math import mathvista_item, mmmu_item, mmvet_item
from lvrpo.world.understanding_qa import mmbench_item, mme_item, mmvp_item

ITEMS: dict[str, Callable[[random.Random, int], Item]] = {
    "mme": mme_item, "mmbench": mmbench_item, "mmmu": mmmu_item, "mathvista": mathvista_item,
    "mmvet": mmvet_item, "mmvp": mmvp_item,
}
SOURCE = "ShapesWorld"


def _items(bench: str, split: str, n: int) -> list[tuple[int, Item]]:
    """(index, item) for the first `n` items of `split`; train skips indices showing a test scene."""
    if split not in SPLITS:
        raise ValueError(f"unknown world split {split!r} (have: {', '.join(SPLITS)})")
    banned = _test_keys() if split == "train" else frozenset()
    out, i = [], 0
    while len(out) < n:
        rng = scene_rng(split, i, salt=bench)
        item = ITEMS[bench](rng, i)
        while any(overlapping(s) for s in item.scenes):  # redrawn from the same stream: still one item per index
            item = ITEMS[bench](rng, i)
        if banned.isdisjoint(s.key() for s in item.scenes):
            out.append((i, item))
        i += 1
    return out


@lru_cache(maxsize=1)
def _test_keys() -> frozenset[str]:
    """Keys of every scene the test split shows, over all six benchmarks at their default sizes."""
    return frozenset(s.key() for bench, (_, n) in UNDERSTANDING.items() for _, item in _items(bench, "test", n)
                     for s in item.scenes)


def held_out_keys() -> frozenset[str]:
    """The scene keys train items never show (the test split's, at the default sizes)."""
    return _test_keys()


def _world(scenes: tuple[Scene, ...] | list[Scene]) -> str:
    data = [s.to_dict() for s in scenes]
    return json.dumps(data[0] if len(data) == 1 else data)


def world_scenes(row: dict[str, Any]) -> list[Scene]:
    """The scenes a row's `world` column holds, in image order."""
    data = json.loads(row["world"])
    return [Scene.from_dict(d) for d in (data if isinstance(data, list) else [data])]


def mme_rows(split: str, n: int) -> list[dict]:
    """lmms-lab/MME rows: per image, its yes question then its no question; question_id = the image path."""
    rows = []
    for i, item in _items("mme", split, n):
        category, image = item.fields["category"], render(item.scenes[0])
        for question, answer in zip(item.fields["questions"], ("Yes", "No"), strict=True):
            rows.append({"question_id": f"{category}/{i:04d}.png", "image": image, "question": question,
                         "answer": answer, "category": category, "world": _world(item.scenes)})
    return rows


def mmbench_rows(split: str, n: int) -> list[dict]:
    """lmms-lab/MMBench (en, dev) rows: every question circularly unrolled (copy k: options shifted k places,
    index + k·1e6, answer letter remapped), ordered by index as the official TSV."""
    rows = []
    for i, item in _items("mmbench", split, n):
        f, image = item.fields, render(item.scenes[0])
        options, right = f["options"], f["options"][f["answer"]]
        for k in range(len(options)):
            rolled = options[k:] + options[:k]
            letters = {c: rolled[j] if j < len(rolled) else None for j, c in enumerate("ABCD")}
            rows.append({"index": i + k * ROTATION, "question": f["question"], "hint": None, **letters,
                         "answer": "ABCD"[rolled.index(right)], "category": f["category"], "L2-category": f["l2"],
                         "image": image, "source": SOURCE, "comment": None,
                         "split": "dev" if split == "test" else split, "world": _world(item.scenes)})
    return sorted(rows, key=lambda r: r["index"])


def mmmu_rows(split: str, n: int) -> list[dict]:
    """lmms-lab/MMMU rows: id `<split>_<Subject>_<k>` (the test split is MMMU's scored "validation"), options a
    stringified list ("[]" for open questions), images in image_1..image_7 as the question's tags cite them."""
    prefix = "validation" if split == "test" else split
    rows = []
    for i, item in _items("mmmu", split, n):
        f = item.fields
        images = {f"image_{k}": render(item.scenes[k - 1]) if k <= len(item.scenes) else None for k in range(1, 8)}
        rows.append({"id": f"{prefix}_{f['subject']}_{i + 1}", "question": f["question"], "options": str(f["options"]),
                     "explanation": "", **images, "img_type": "['Geometric Shapes']", "answer": f["answer"],
                     "topic_difficulty": f["difficulty"], "question_type": f["question_type"],
                     "subfield": f["subfield"], "world": _world(item.scenes)})
    return rows


def mathvista_rows(split: str, n: int) -> list[dict]:
    """AI4Math/MathVista (testmini) rows: `metadata` a struct, `precision` a float on float items, `query` the
    official zero-shot prompt built from the row."""
    rows = []
    for i, item in _items("mathvista", split, n):
        f, pid = item.fields, str(i + 1)
        metadata = {"category": f["category"], "context": "synthetic scene", "grade": f["grade"],
                    "img_height": RESOLUTION, "img_width": RESOLUTION, "language": "english", "skills": f["skills"],
                    "source": SOURCE, "split": "testmini" if split == "test" else split, "task": f["task"]}
        row = {"pid": pid, "question": f["question"], "image": f"images/{pid}.png",
               "decoded_image": render(item.scenes[0]), "choices": f["choices"], "unit": f["unit"],
               "precision": f["precision"], "answer": f["answer"], "question_type": f["question_type"],
               "answer_type": f["answer_type"], "metadata": metadata}
        rows.append({**row, "query": build_query(row), "world": _world(item.scenes)})
    return rows


def mmvet_rows(split: str, n: int) -> list[dict]:
    """lmms-lab/MMVet rows: question_id v1_<k>, answers with <AND>/<OR>, capability a comma list."""
    return [{"question_id": f"v1_{i}", "image": render(item.scenes[0]), "question": item.fields["question"],
             "answer": item.fields["answer"], "capability": item.fields["capability"], "world": _world(item.scenes)}
            for i, item in _items("mmvet", split, n)]


def mmvp_rows(split: str, n: int) -> list[dict]:
    """lmms-lab-eval/MMVP rows: pair i is Index 2i+1 and 2i+2, the same question and options on two images."""
    rows = []
    for i, item in _items("mmvp", split, n):
        f = item.fields
        for k, (scene, letter) in enumerate(zip(item.scenes, f["answers"], strict=True)):
            rows.append({"Index": 2 * i + k + 1, "Question": f["question"], "Options": f["options"],
                         "Correct Answer": f"({letter})", "image": render(scene), "world": _world([scene])})
    return rows


# bench -> (rows function, default number of items of the test split)
UNDERSTANDING: dict[str, tuple[Callable[[str, int], list[dict]], int]] = {
    "mme": (mme_rows, 40), "mmbench": (mmbench_rows, 60), "mmmu": (mmmu_rows, 40),
    "mathvista": (mathvista_rows, 60), "mmvet": (mmvet_rows, 40), "mmvp": (mmvp_rows, 30),
}


def reference_output(bench: str, row: dict) -> str:
    """A reply the benchmark's adapter scores as fully correct (an MM-Vet judge still has to agree)."""
    if bench in ("mme", "mmbench", "mmmu", "mathvista"):
        return str(row["answer"])  # the word, letter, choice text or number, as each official rule reads it
    if bench == "mmvet":
        return ", ".join(row["answer"].split("<OR>")[0].split("<AND>"))  # one alternative, every required part
    if bench == "mmvp":
        return row["Correct Answer"]
    raise LvrpoError(f"no ShapesWorld generator for benchmark {bench!r} (have: {', '.join(UNDERSTANDING)})")
