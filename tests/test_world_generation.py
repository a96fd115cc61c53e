"""ShapesWorld generation rows: official layouts the unchanged GenEval / WISE / GEdit adapters load; GenEval's rule
scores the reference renders fully correct; the inverse parsers give back every row's target; determinism,
prefix stability, train/test disjointness and balance."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lvrpo.evals.gedit import TASKS as GEDIT_TASKS
from lvrpo.evals.gedit import GEdit
from lvrpo.evals.geneval import DATA, TASKS, GenEval, judge, keep
from lvrpo.evals.wise import DATA_DIR, PROTOCOLS, WISE
from lvrpo.types import Context, LvrpoError, Output
from lvrpo.vision.detector import Detections
from lvrpo.world import generation
from lvrpo.world.generation import (
    CATEGORIES,
    GENERATION,
    edit_target,
    gedit_rows,
    geneval_rows,
    reference_images,
    wise_expected,
    wise_files,
    wise_rows,
    world_scene,
)
from lvrpo.world.generation_edit import EDIT_TASKS, Edit, apply_edit, instruction, parse_instruction
from lvrpo.world.phrases import overlapping, referable
from lvrpo.world.scenes import Obj, Scene, object_mask, relations, render

N = {bench: n for bench, (_, n) in GENERATION.items()}
TRAIN_N = {"geneval": 120, "wise": 60, "gedit": 30}
OFFICIAL = [json.loads(line) for line in (DATA / "evaluation_metadata.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str], list[dict]]:
    """Every bench's rows of both splits: test at the default sizes, train at TRAIN_N (WISE: legacy ids)."""
    out = {}
    for bench, (fn, n) in GENERATION.items():
        out[bench, "test"], out[bench, "train"] = fn("test", n), fn("train", TRAIN_N[bench])
    return out


def scene_of(row: dict, part: str | None = None) -> Scene:
    data = json.loads(row["world"])
    return Scene.from_dict(data[part] if part else data)


def exact_detections(scene: Scene) -> Detections:
    """What a perfect detector reports on a render of `scene`: exact boxes and masks, colours known, score 1."""
    objs = scene.objects
    return Detections(labels=[o.shape for o in objs], scores=np.ones(len(objs)),
                      boxes=np.array([o.box() for o in objs], dtype=float).reshape(-1, 4),
                      masks=[object_mask(o) for o in objs], colors=[o.color for o in objs])


def geneval_correct(row: dict, scene: Scene) -> bool:
    objects = keep(exact_detections(scene), row["tag"])
    return judge(objects, row, lambda found, cls: [o.color for o in found]).correct


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ GenEval

def test_geneval_rows_load_and_mirror_the_official_structure(rows, tmp_path):
    test = rows["geneval", "test"]
    samples = GenEval().load(str(write_jsonl(tmp_path / "evaluation_metadata.jsonl", test)))
    assert [s.row["prompt"] for s in samples] == [r["prompt"] for r in test] and len(samples) == N["geneval"]
    shape = {t: {(tuple(r), tuple(tuple(c) for c in r["include"]), tuple(tuple(c) for c in r.get("exclude", ())))
                 for r in OFFICIAL if r["tag"] == t} for t in TASKS}
    for row in test + rows["geneval", "train"]:
        official = {k: v for k, v in row.items() if k != "world"}
        assert (tuple(official), tuple(tuple(c) for c in row["include"]),
                tuple(tuple(c) for c in row.get("exclude", ()))) in shape[row["tag"]]
        inc = row["include"]
        if row["tag"] == "counting":
            assert row["exclude"] == [{"class": inc[0]["class"], "count": inc[0]["count"] + 1}]
            assert 2 <= inc[0]["count"] <= 4
        if row["tag"] == "position":
            rel = inc[1]["position"][0]
            assert inc[1]["position"] == [rel, 0]
            assert row["prompt"] == f"a photo of a {inc[1]['class']} {rel} a {inc[0]['class']}"
    by_prompt = {r["prompt"]: r for r in test}
    assert by_prompt.get("a photo of a circle", {}).get("include") == [{"class": "circle", "count": 1}]
    assert any(p.startswith("a photo of an orange ") for p in (r["prompt"] for r in rows["geneval", "train"]))


def test_geneval_reference_renders_are_correct_and_other_scenes_are_not(rows):
    for split in ("test", "train"):
        rs = rows["geneval", split]
        for row in rs:
            scene = scene_of(row)
            assert not overlapping(scene) and len(scene.objects) <= 4
            assert geneval_correct(row, scene), row["prompt"]
            if row["tag"] == "position":
                subject, ref = scene.objects[1], scene.objects[0]
                assert row["include"][1]["position"][0] in relations(subject, ref)
        wrong = sum(not geneval_correct(row, scene_of(rs[(i + 1) % len(rs)])) for i, row in enumerate(rs))
        assert wrong >= 0.8 * len(rs)
    images = reference_images("geneval", rows["geneval", "test"][0])
    assert len(images) == 4 and len({id(im) for im in images}) == 4
    assert all(im.tobytes() == render(scene_of(rows["geneval", "test"][0])).tobytes() for im in images)


class SceneDetector:
    """A perfect detector for known renders: looks the image up among the scenes it was given."""

    name = "scene-lookup"

    def __init__(self, scenes: list[Scene]):
        self.scenes = {render(s).tobytes(): s for s in scenes}

    def detect(self, image, path=None) -> Detections:
        return exact_detections(self.scenes[image.tobytes()])


def test_geneval_adapter_scores_the_references_fully_correct(rows, tmp_path):
    test = rows["geneval", "test"]
    adapter = GenEval()
    samples = adapter.load(str(write_jsonl(tmp_path / "meta.jsonl", test)))
    ctx = Context(detector=SceneDetector([scene_of(r) for r in test]))
    scores = [adapter.score(s, Output(id=s.id, images=reference_images("geneval", s.row)), ctx) for s in samples]
    assert all(sc.value == 1.0 for sc in scores), [sc.reason for sc in scores if sc.value != 1.0]
    summary = adapter.aggregate(scores)
    assert summary.metrics["GenEval"] == 1.0 and set(summary.breakdown) >= set(TASKS)


def test_geneval_balance_and_exhaustion(rows):
    tags = Counter(r["tag"] for r in rows["geneval", "test"])
    assert tags["single_object"] == 4  # all four single_object prompts the world has
    assert set(tags) == set(TASKS) and all(8 <= tags[t] <= 9 for t in TASKS if t != "single_object")
    train = Counter(r["tag"] for r in rows["geneval", "train"])
    assert train["single_object"] == 0 and train["two_object"] == train["counting"] == 3  # 12 - 9 left each
    with pytest.raises(LvrpoError, match="only"):
        geneval_rows("train", 1200)


# ------------------------------------------------------------------------------------------------ WISE

@pytest.mark.parametrize("variant", ["legacy", "verified"])
def test_wise_files_load_with_official_ids_categories_and_names(variant, tmp_path):
    files = wise_files("test", N["wise"], variant)
    protocol = PROTOCOLS[variant]
    assert tuple(files) == protocol.files
    for name, records in files.items():
        (tmp_path / name).write_text(json.dumps(records), encoding="utf-8")
    adapter = WISE(variant)
    samples = adapter.load(str(tmp_path))
    assert len(samples) == N["wise"] and len({s.id for s in samples}) == N["wise"]
    official = {(r["Category"], r["Subcategory"]) for f in protocol.files
                for r in json.loads((DATA_DIR / protocol.folder / f).read_text(encoding="utf-8"))}
    back = {v: k for k, v in CATEGORIES.items()}
    cats = Counter()
    for s in samples:
        cat = adapter.category(s.row["prompt_id"])
        assert cat == back[s.row["Category"]] and (s.row["Category"], s.row["Subcategory"]) in official
        cats[cat] += 1
    assert cats == dict.fromkeys(CATEGORIES, N["wise"] // 6)
    groups = {protocol.files[0]: {"CULTURE"}, protocol.files[1]: {"TIME", "SPACE"}}
    for name, records in files.items():
        assert {back[r["Category"]] for r in records} <= groups.get(name, {"BIOLOGY", "PHYSICS", "CHEMISTRY"})
        assert [r["prompt_id"] for r in records] == sorted(r["prompt_id"] for r in records)
    legacy = {r["Prompt"]: r for r in wise_rows("test", N["wise"])}
    assert all(legacy[s.row["Prompt"]]["world"] == s.row["world"] for s in samples)  # same prompts, other ids


def test_wise_prompts_read_back_to_their_scene(rows):
    forms = Counter()
    for split in ("test", "train"):
        for row in rows["wise", split]:
            want = sorted((o.shape, o.color) for o in scene_of(row).objects)
            assert sorted(wise_expected(row["Prompt"]) or []) == want, row["Prompt"]
            assert not overlapping(scene_of(row))
            color = want[0][1]
            assert color in row["Explanation"] and row["Explanation"].endswith(".")
            forms["both" if ", each in" in row["Prompt"] else "count" if row["Prompt"].startswith("As") else "one"] += 1
    assert min(forms.values()) >= 10
    assert wise_expected("  A circle in the colour of a ripe banana. ") == [("circle", "yellow")]
    assert wise_expected("As many red squares as a violin has strings") == [("square", "red")] * 4
    assert wise_expected("As many triangles as Mars has moons, each in the colour of the planet Neptune") == \
        [("triangle", "blue")] * 2
    assert wise_expected("A circle in the colour of a ripe mango") is None
    assert wise_expected("As many red squares as a spider has legs") is None
    official = [r["Prompt"] for f in DATA_DIR.glob("*/*.json") for r in json.loads(f.read_text(encoding="utf-8"))]
    assert len(official) == 2000 and all(wise_expected(p) is None for p in official)


def test_wise_fact_tables():
    for cat in CATEGORIES:
        assert len(generation.COLOUR_FACTS[cat]) + len(generation.COUNT_FACTS[cat]) >= 8
        assert all(1 <= f.count <= 4 for f in generation.COUNT_FACTS[cat])
    assert len(generation.COLOUR_FACTS["CULTURE"]) > max(len(generation.COLOUR_FACTS[c]) for c in CATEGORIES
                                                         if c != "CULTURE")
    subjects = [f.subject.lower() for fs in generation.COLOUR_FACTS.values() for f in fs]
    phrases = [f.phrase.lower() for fs in generation.COUNT_FACTS.values() for f in fs]
    assert len(set(subjects)) == len(subjects) and len(set(phrases)) == len(phrases)
    with pytest.raises(LvrpoError, match="variant"):
        wise_rows("test", 6, "v2")
    with pytest.raises(LvrpoError, match="ids for"):
        wise_rows("train", 6 * 121, "verified")  # verified TIME has 120 ids


# ------------------------------------------------------------------------------------------------ GEdit

def test_gedit_rows_load_in_both_languages(rows, tmp_path):
    test = rows["gedit", "test"]
    records = []
    for row in test:
        path = tmp_path / "images" / f"{row['key']}.png"
        path.parent.mkdir(exist_ok=True)
        row["input_image"].save(path)
        records.append({**row, "input_image": f"images/{row['key']}.png"})
    data = write_jsonl(tmp_path / "gedit.jsonl", records)
    for lang in ("en", "cn"):
        samples = GEdit(lang).load(str(data))
        assert [s.id for s in samples] == [f"{i:04d}" for i in range(N["gedit"])]
        assert Counter(s.row["task_type"] for s in samples) == dict.fromkeys(EDIT_TASKS, N["gedit"] // 5)
        request = GEdit(lang).request(samples[0])
        assert request.prompt == test[0 if lang == "en" else 1]["instruction"]
        assert request.images[0].tobytes() == render(scene_of(test[0], "source")).tobytes()
        assert len(GEdit(f"{lang}_intersection").load(str(data))) == N["gedit"]
    assert set(EDIT_TASKS) <= set(GEDIT_TASKS)


def test_gedit_instructions_read_back_to_their_target(rows):
    for split in ("test", "train"):
        by_key: dict[str, list[dict]] = {}
        for row in rows["gedit", split]:
            by_key.setdefault(row["key"], []).append(row)
            source, target = scene_of(row, "source"), scene_of(row, "target")
            lang = row["instruction_language"]
            assert edit_target(row["instruction"], source, lang) == target, row["instruction"]
            assert edit_target(row["instruction"], source, "cn" if lang == "en" else "en") is None
            assert not overlapping(source) and not overlapping(target) and source != target
            assert world_scene(row) == target
            assert reference_images("gedit", row)[0].tobytes() == render(target).tobytes()
            edit = parse_instruction(row["instruction"], lang)
            assert edit.task == row["task_type"]
            named = [n for n in (edit.obj, edit.anchor) if n]
            assert all(any((o.color, o.shape) == n for o in referable(source)) for n in named)
            if lang == "cn":
                assert not any(c.isascii() and c.isalpha() for c in row["instruction"])
        assert all([r["instruction_language"] for r in pair] == ["en", "cn"] and
                   len({(r["task_type"], r["world"]) for r in pair}) == 1 for pair in by_key.values())


def test_edit_parser_hand_worked():
    red, blue = Obj("circle", "red", "small", 0.2, 0.2), Obj("square", "blue", "large", 0.5, 0.5)
    scene = Scene((red, blue))
    assert edit_target("把红色的圆形改成蓝色", scene, "cn") == Scene((Obj("circle", "blue", "small", 0.2, 0.2), blue))
    assert edit_target("make the RED circle green", scene) == Scene((Obj("circle", "green", "small", 0.2, 0.2), blue))
    moved = Scene((Obj("circle", "red", "small", 0.8, 0.5), blue))
    assert edit_target("Move the red circle so that it is immediately to the right of the blue square.", scene) == moved
    assert edit_target("把红色的圆形移到蓝色正方形的右边，紧挨着它", scene, "cn") == moved
    assert edit_target("Add a medium white cross in the lower right of the image.", scene) == \
        Scene((red, blue, Obj("cross", "white", "medium", 0.8, 0.8)))
    assert edit_target("在蓝色正方形的上方紧挨着它添加一个小的黑色三角形", scene, "cn") == \
        Scene((red, blue, Obj("triangle", "black", "small", 0.5, 0.2)))
    assert edit_target("Replace the blue square with an orange cross.", scene) == \
        Scene((red, Obj("cross", "orange", "large", 0.5, 0.5)))
    assert edit_target("删除蓝色的正方形", scene, "cn") == Scene((red,))
    for bad in ("Remove the green circle.", "Make the red circle red.", "Move the red circle to the center of the "
                "image.", "Add a small red cross in the upper left of the image.", "Paint the sky pink.",
                "Move the blue square so that it is immediately above the red circle."):
        assert edit_target(bad, scene) is None, bad
    twins = Scene((red, Obj("circle", "red", "small", 0.8, 0.8)))
    assert edit_target("Remove the red circle.", twins) is None  # ambiguous: two red circles
    edit = Edit("subject-add", color="orange", shape="circle", size="large", loc="center")
    assert instruction(edit, "en") == "Add a large orange circle in the center of the image."
    assert apply_edit(edit, Scene((red,))).objects[-1] == Obj("circle", "orange", "large", 0.5, 0.5)


# ------------------------------------------------------------------------------------------------ all three

def _comparable(bench: str, rs: list[dict]) -> list[dict]:
    return [{**r, "input_image": r["input_image"].tobytes()} if bench == "gedit" else r for r in rs]


def test_deterministic_prefix_stable_and_disjoint(rows):
    for bench, (fn, n) in GENERATION.items():
        assert _comparable(bench, fn("test", n)) == _comparable(bench, rows[bench, "test"])
        assert _comparable(bench, fn("train", 10)) == _comparable(bench, rows[bench, "train"][:20 if bench == "gedit"
                                                                                              else 10])
        keys = {}
        for split in ("test", "train"):
            worlds = [json.loads(r["world"]) for r in rows[bench, split]]
            keys[split] = {Scene.from_dict(w[p] if p else w).key() for w in worlds
                           for p in (("source", "target") if bench == "gedit" else (None,))}
        assert keys["test"].isdisjoint(keys["train"]), bench
    for bench, column in (("geneval", "prompt"), ("wise", "Prompt")):
        test, train = ([r[column] for r in rows[bench, s]] for s in ("test", "train"))
        assert len(set(test)) == len(test) and len(set(train)) == len(train) and set(test).isdisjoint(train)
        assert len({r["world"] for r in rows[bench, "test"]}) == len(test)
    with pytest.raises(ValueError, match="split"):
        geneval_rows("validation", 3)
    with pytest.raises(ValueError, match="split"):
        gedit_rows("dev", 3)
    with pytest.raises(LvrpoError, match="no ShapesWorld generator"):
        reference_images("mme", rows["wise", "test"][0])
    assert len(reference_images("wise", rows["wise", "test"][0])) == 1
