"""ShapesWorld understanding rows: official schemas the real adapters load, request and score; the reference reply
scores the maximum and a blank reply the minimum; determinism; train/test disjointness; whole MMBench groups."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import astuple

import pytest

import lvrpo.data
from lvrpo.data import _to_samples
from lvrpo.evals import get_adapter
from lvrpo.evals.mmbench import ROTATION
from lvrpo.types import Context, LvrpoError, Output
from lvrpo.world.phrases import overlapping
from lvrpo.world.scenes import render
from lvrpo.world.understanding import UNDERSTANDING, held_out_keys, reference_output, world_scenes

BENCHES = tuple(UNDERSTANDING)
HEADLINE_RANGE = {"mme": (0.0, 800.0), "mmbench": (0.0, 100.0), "mmmu": (0.0, 100.0), "mathvista": (0.0, 100.0),
                  "mmvet": (0.0, 100.0), "mmvp": (0.0, 100.0)}  # MME-P: 4 perception subtasks of 200 each
OFFICIAL_COLUMNS = {
    "mme": {"question_id", "image", "question", "answer", "category"},
    "mmbench": {"index", "question", "hint", "A", "B", "C", "D", "answer", "category", "L2-category", "image",
                "source", "comment", "split"},
    "mmmu": {"id", "question", "options", "explanation", *(f"image_{k}" for k in range(1, 8)), "img_type", "answer",
             "topic_difficulty", "question_type", "subfield"},
    "mathvista": {"pid", "question", "image", "decoded_image", "choices", "unit", "precision", "answer",
                  "question_type", "answer_type", "metadata", "query"},
    "mmvet": {"question_id", "image", "question", "answer", "capability"},
    "mmvp": {"Index", "Question", "Options", "Correct Answer", "image"},
}


class GradeOne:
    """MM-Vet's judge stand-in: every graded reply is fully right."""

    def __init__(self):
        self.prompts: list[str] = []

    def complete(self, prompt, images=None, **kw):
        self.prompts.append(prompt)
        return "1.0"


@pytest.fixture(scope="module")
def test_rows() -> dict[str, list[dict]]:
    return {bench: rows_fn("test", n) for bench, (rows_fn, n) in UNDERSTANDING.items()}


def load(bench: str, rows: list[dict], monkeypatch):
    """The adapter and its samples, loaded through the adapter's own `load` and the real row loader."""
    adapter = get_adapter(bench)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    required = [*adapter.columns, *adapter.request_columns]
    monkeypatch.setattr(lvrpo.data, "load_samples", lambda a, source, split, for_requests: _to_samples(
        a, rows, columns, "world", None, required))
    return adapter, adapter.load("world")


def score_all(adapter, samples, reply, ctx):
    return adapter.aggregate([adapter.score(s, Output(id=s.id, text=reply(s)), ctx) for s in samples])


@pytest.mark.parametrize("bench", BENCHES)
def test_rows_load_request_and_score_max_and_min(bench, test_rows, monkeypatch):
    rows = test_rows[bench]
    assert {k for r in rows for k in r} == OFFICIAL_COLUMNS[bench] | {"world"}
    adapter, samples = load(bench, rows, monkeypatch)
    assert len(samples) == len(rows)
    for s in samples:
        req = adapter.request(s)
        assert req.images and all(img.size == (64, 64) for img in req.images) and req.prompt
        assert len(req.images) == len(world_scenes(s.row))  # every scene shown is cited, none more
    judge = GradeOne()
    ctx = Context(judge=judge)
    best = score_all(adapter, samples, lambda s: reference_output(bench, s.row), ctx)
    low, high = HEADLINE_RANGE[bench]
    assert best.metrics[best.headline] == pytest.approx(high)
    assert best.n_scored == len(samples) and not [n for n in best.notes if "left out" in n]
    graded = len(judge.prompts)
    blank = score_all(adapter, samples, lambda s: "", ctx)
    assert blank.metrics[blank.headline] == pytest.approx(low)
    assert len(judge.prompts) == graded  # MM-Vet scores an empty reply 0 without asking the judge
    assert graded == (len(samples) if bench == "mmvet" else 0)


def test_reference_reply_is_read_by_the_rules_not_a_fallback(test_rows, monkeypatch):
    """No reference reply needs a judge or MMMU's random fallback, so the maximum above is earned."""
    for bench in ("mmbench", "mmmu", "mathvista", "mme", "mmvp"):
        adapter, samples = load(bench, test_rows[bench], monkeypatch)
        scores = [adapter.score(s, Output(id=s.id, text=reference_output(bench, s.row)), Context()) for s in samples]
        assert {sc.reason for sc in scores} <= {"ok", "rule"}, bench
        assert not any(sc.meta.get("fallback") or sc.meta.get("via") == "none" for sc in scores)


def test_default_sizes_and_balance(test_rows):
    mme = test_rows["mme"]
    assert len(mme) == 80 and Counter(r["category"] for r in mme[::2]) == dict.fromkeys(
        ("existence", "count", "position", "color"), 10)
    for qid in {r["question_id"] for r in mme}:  # the official pair: one yes and one no question per image
        assert sorted(r["answer"] for r in mme if r["question_id"] == qid) == ["No", "Yes"]
    assert len({r["index"] % ROTATION for r in test_rows["mmbench"]}) == 60
    assert len(test_rows["mmmu"]) == 40 and len(test_rows["mathvista"]) == 60 and len(test_rows["mmvet"]) == 40
    assert [r["Index"] for r in test_rows["mmvp"]] == list(range(1, 61))
    mmmu = test_rows["mmmu"]
    assert {r["question_type"] for r in mmmu} == {"multiple-choice", "open"}
    assert any(r["image_2"] is not None for r in mmmu) and all("<image 1>" in r["question"] for r in mmmu)
    mv = test_rows["mathvista"]
    assert {(r["question_type"], r["answer_type"]) for r in mv} == {
        ("multi_choice", "text"), ("free_form", "integer"), ("free_form", "float")}
    assert {r["precision"] for r in mv if r["answer_type"] == "float"} == {1.0, 2.0}
    assert any("<AND>" in r["answer"] for r in test_rows["mmvet"]) and any(
        "<OR>" in r["answer"] for r in test_rows["mmvet"])
    assert len(Counter(r["answer"] for r in test_rows["mmbench"])) > 1  # the right letter moves around


def test_mmbench_circular_groups_are_complete(test_rows):
    groups: dict[int, list[dict]] = {}
    for r in test_rows["mmbench"]:
        groups.setdefault(r["index"] % ROTATION, []).append(r)
    for base, rows in groups.items():
        options = [rows[0][c] for c in "ABCD" if rows[0][c] is not None]
        assert sorted(r["index"] for r in rows) == [base + k * ROTATION for k in range(len(options))]
        right = {r[r["answer"]] for r in rows}
        assert len(right) == 1 and len(set(options)) == len(options)  # the same right text in every rotation
        for r in rows:
            k = r["index"] // ROTATION
            assert [r[c] for c in "ABCD" if r[c] is not None] == options[k:] + options[:k]


def test_mmvp_pairs_differ_in_one_attribute_of_one_object(test_rows):
    rows = test_rows["mmvp"]
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        assert first["Question"] == second["Question"] and first["Options"] == second["Options"]
        assert first["Correct Answer"] != second["Correct Answer"]
        (a,), (b,) = world_scenes(first), world_scenes(second)
        changed = [(o, p) for o, p in zip(a.objects, b.objects, strict=True) if o != p]
        assert len(changed) == 1
        o, p = changed[0]
        diffs = {f for f, u, v in zip(("shape", "color", "size"), astuple(o)[:3], astuple(p)[:3], strict=True)
                 if u != v} | ({"position"} if (o.x, o.y) != (p.x, p.y) else set())
        assert len(diffs) == 1


def assert_prefix(bench: str, small: list[dict], big: list[dict]) -> None:
    """The rows of the first items are the same whatever else is generated (MMBench orders rows by index)."""
    key = {"mmbench": "index", "mmvp": "Index"}.get(bench)
    if key:
        ids = {r[key] for r in small}
        assert small == [r for r in big if r[key] in ids]
    else:
        assert small == big[:len(small)]


@pytest.mark.parametrize("bench", BENCHES)
def test_deterministic_and_index_stable(bench, test_rows):
    rows_fn, n = UNDERSTANDING[bench]
    assert rows_fn("test", n) == test_rows[bench]  # PIL images compare by pixels
    assert_prefix(bench, rows_fn("test", 5), test_rows[bench])


@pytest.mark.parametrize("bench", BENCHES)
def test_train_never_shows_a_test_scene(bench, test_rows):
    rows_fn, _ = UNDERSTANDING[bench]
    train = rows_fn("train", 200)
    train_keys = {s.key() for r in train for s in world_scenes(r)}
    test_keys = {s.key() for rows in test_rows.values() for r in rows for s in world_scenes(r)}
    assert test_keys <= held_out_keys() and not train_keys & held_out_keys()
    assert len(train_keys) > 100
    assert_prefix(bench, rows_fn("train", 3), train)


@pytest.mark.parametrize("bench", BENCHES)
def test_images_show_exactly_their_world_scenes(bench, test_rows):
    columns = {"mmmu": [f"image_{k}" for k in range(1, 8)], "mathvista": ["decoded_image"]}.get(bench, ["image"])
    for r in test_rows[bench]:
        images = [r[c] for c in columns if r[c] is not None]
        scenes = world_scenes(r)
        assert images == [render(s) for s in scenes] and not any(overlapping(s) for s in scenes)


def test_world_column_and_errors(test_rows):
    row = test_rows["mmmu"][0]
    assert isinstance(row["world"], str) and json.loads(row["world"])
    with pytest.raises(ValueError, match="unknown world split"):
        UNDERSTANDING["mme"][0]("validation", 1)
    with pytest.raises(LvrpoError, match="no ShapesWorld generator"):
        reference_output("geneval", row)
