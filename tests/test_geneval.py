"""GenEval: shipped data, the official rules with injected detections (every clause kind, each task, position and
threshold edges), aggregation against the README's published rows, official folder layout, bad images, and the
real `lvrpo score` / `lvrpo eval` commands with a replay detector and small PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.geneval import DATA, TASKS, GenEval, Instance, judge, keep, relative_position
from lvrpo.types import Context, LvrpoError, Output, Score
from lvrpo.vision.detector import Detections, ReplayDetector
from tests.util import run_cli, write_jsonl

ROWS = [json.loads(line) for line in (DATA / "evaluation_metadata.jsonl").read_text().splitlines()]
FIRST = {tag: next(i for i, r in enumerate(ROWS) if r["tag"] == tag) for tag in TASKS}


def objs(*specs) -> list[Instance]:
    """Instances from (box, score[, colour]) tuples."""
    return [Instance(np.array(s[0], dtype=np.float32), s[1], None, s[2] if len(s) > 2 else None) for s in specs]


def given_colours(found, cls):
    return [o.color for o in found]


def test_shipped_data_is_the_official_file(refdata):
    for name in ("evaluation_metadata.jsonl", "object_names.txt"):
        assert (DATA / name).read_bytes() == (refdata / "geneval" / name).read_bytes()
    assert (DATA / "LICENSE").read_text().startswith("MIT License") and (DATA / "README.md").is_file()
    samples = GenEval().load("hub")
    assert len(samples) == 553 and [s.id for s in samples[:3]] == ["0", "1", "2"]
    assert samples[0].row["prompt"] == "a photo of a bench"
    counts = {t: sum(s.row["tag"] == t for s in samples) for t in TASKS}
    assert counts == {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94, "position": 100,
                      "color_attr": 100}


def test_load_sources_and_bad_rows(tmp_path):
    with pytest.raises(LvrpoError, match="no Hugging Face dataset"):
        GenEval().load("hub:djghosh13/geneval")
    good = write_jsonl(tmp_path / "m.jsonl", ROWS[:2])
    assert [s.row for s in GenEval().load(str(good))] == ROWS[:2]
    bad_rows = [{"tag": "colors", "include": [{"class": "dog", "count": 1, "color": "grey"}], "prompt": "p"},
                {"tag": "position", "include": [{"class": "dog", "count": 1, "position": ["left of", 0]}],
                 "prompt": "p"},
                {"tag": "counting", "include": [{"class": "dog", "count": "2"}], "prompt": "p"},
                {"tag": "single_object", "include": [], "prompt": "p"}]
    for k, row in enumerate(bad_rows):
        path = write_jsonl(tmp_path / f"bad{k}.jsonl", [ROWS[0], row])
        with pytest.raises(LvrpoError, match="row 1"):
            GenEval().load(str(path))


def test_variants_and_requests():
    assert get_adapter("geneval").num_images == 4 and get_adapter("geneval").spec == "geneval"
    eight = get_adapter("geneval:n8")
    assert eight.num_images == 8 and eight.spec == "geneval:n8"
    for bad in ("n0", "n65", "eight", "4"):
        with pytest.raises(LvrpoError, match="unknown variant"):
            GenEval(bad)
    a = GenEval()
    samples = a.load("hub")
    r5, r5_again, r6 = a.request(samples[5]), a.request(samples[5]), a.request(samples[6])
    assert r5.kind == "generate" and r5.num_images == 4 and r5.prompt == ROWS[5]["prompt"] and r5.bench == "geneval"
    assert r5.seed == r5_again.seed != r6.seed  # deterministic, different per prompt
    assert "height" in r5.options and "width" in r5.options


# --- the rules, with injected detections -------------------------------------------------------------------------

def test_position_rule_hand_worked():
    # A centre 8, B centre 32: offset -24, margin 0.1·(16+16) = 3.2 → -20.8 / 24 = -0.87 → left of
    assert relative_position([0, 24, 16, 40], [24, 24, 40, 40]) == {"left of"}
    assert relative_position([48, 24, 64, 40], [24, 24, 40, 40]) == {"right of"}
    assert relative_position([24, 0, 40, 16], [24, 24, 40, 40]) == {"above"}  # y grows downward
    assert relative_position([24, 48, 40, 64], [24, 24, 40, 40]) == {"below"}
    # diagonal: offset (-20, -20), margins 0.2 each → (-19.8, -19.8) / 28.28 = -0.70 on both axes → two relations
    assert relative_position([0, 0, 1, 1], [20, 20, 21, 21]) == {"left of", "above"}
    # overlap: offset 2 is inside the margin 3.2 on x, 0 on y → shrunk offset 0 → no relation at all
    assert relative_position([26, 24, 42, 40], [24, 24, 40, 40]) == set()
    assert relative_position([0, 0, 10, 10], [0, 0, 10, 10]) == set()
    # the 0.5 threshold is strict: widths 25+25 → margin 5; offset -10 → shrunk -5 → -5/10 = -0.5 → not "left of"
    assert relative_position([0, 0, 25, 10], [10, 0, 35, 10]) == set()
    # offset -10.5 → shrunk -5.5 / 10.5 = -0.524 → left of
    assert relative_position([0, 0, 25, 10], [10.5, 0, 35.5, 10]) == {"left of"}
    # normalised by the *unshrunk* offset: (-30, 16), widths 100+100, heights 2+2 → shrunk (-10, 15.6);
    # / 34 = (-0.29, 0.46) → nothing (dividing by the shrunk length, 18.5, would give "below")
    assert relative_position([-40, 0, 60, 2], [-10, -16, 90, -14]) == set()


def test_thresholds_cap_and_float32_edges():
    def dets(scores, label="dog"):
        n = len(scores)
        return Detections(labels=[label] * n, scores=np.array(scores), boxes=np.tile([0.0, 0, 1, 1], (n, 1)))
    assert "dog" not in keep(dets([0.3, 0.1]), "single_object")  # strictly greater than 0.3
    assert len(keep(dets([0.3001, 0.31]), "single_object")["dog"]) == 2
    # 0.30000001 is float32(0.3): mmdet's float32 scores compare equal to the threshold → dropped
    assert "dog" not in keep(dets([0.30000001]), "two_object")
    assert len(keep(dets([0.9, 0.91, 0.5]), "counting")["dog"]) == 1  # > 0.9 for counting prompts
    assert len(keep(dets([0.5, 0.9]), "position")["dog"]) == 2
    kept = keep(dets([0.4 + 0.01 * k for k in range(20)]), "single_object")["dog"]
    assert len(kept) == 16 and kept[0].score == pytest.approx(0.59) and kept[-1].score == pytest.approx(0.44)
    # exact ties: official order is np.argsort(scores)[::-1] over the detector's order → the later one first
    row = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}]}
    tie = Detections(labels=["car", "car"], scores=np.array([0.9, 0.9]), boxes=np.zeros((2, 4)),
                     colors=["blue", "red"])
    assert [o.color for o in keep(tie, "colors")["car"]] == ["red", "blue"]
    assert judge(keep(tie, "colors"), row, given_colours).correct
    # classes are kept separately; NMS is off: two identical boxes both stay
    mixed = Detections(labels=["dog", "cat", "dog"], scores=np.array([0.5, 0.6, 0.7]),
                       boxes=np.array([[0, 0, 5, 5]] * 3, dtype=float))
    assert {c: len(v) for c, v in keep(mixed, "two_object").items()} == {"dog": 2, "cat": 1}


def test_single_and_two_object():
    row1 = {"tag": "single_object", "include": [{"class": "dog", "count": 1}]}
    assert judge({"dog": objs(([0, 0, 5, 5], 0.5))}, row1, given_colours).correct
    v = judge({"cat": objs(([0, 0, 5, 5], 0.9))}, row1, given_colours)
    assert not v.correct and v.reasons == ["expected dog>=1, found 0"] and (v.passed, v.total) == (0, 1)
    row2 = {"tag": "two_object", "include": [{"class": "dog", "count": 1}, {"class": "cat", "count": 1}]}
    extra = {"dog": objs(([0, 0, 5, 5], 0.5)), "cat": objs(([0, 0, 5, 5], 0.5)), "car": objs(([0, 0, 5, 5], 0.9))}
    assert judge(extra, row2, given_colours).correct  # extra objects are allowed
    v = judge({"dog": objs(([0, 0, 5, 5], 0.5))}, row2, given_colours)
    assert not v.correct and (v.passed, v.total) == (1, 2)


def test_counting_include_and_exclude():
    row = {"tag": "counting", "include": [{"class": "cup", "count": 3}], "exclude": [{"class": "cup", "count": 4}]}
    four = objs(*[([k, 0, k + 1, 1], 0.95) for k in range(4)])
    three = four[:3]
    assert judge({"cup": three}, row, given_colours).correct
    v = judge({"cup": four}, row, given_colours)  # include holds (≥3) but the exclude clause fires
    assert not v.correct and v.reasons == ["expected cup<4, found 4"] and (v.passed, v.total) == (1, 2)
    v = judge({"cup": three[:2]}, row, given_colours)
    assert not v.correct and (v.passed, v.total) == (1, 2)  # too few; the exclude check itself passes


def test_colors_use_only_the_top_count_instances():
    row = {"tag": "colors", "include": [{"class": "car", "count": 1, "color": "red"}]}
    assert judge({"car": objs(([0, 0, 5, 5], 0.9, "red"), ([0, 0, 5, 5], 0.8, "blue"))}, row, given_colours).correct
    v = judge({"car": objs(([0, 0, 5, 5], 0.9, "blue"), ([0, 0, 5, 5], 0.8, "red"))}, row, given_colours)
    assert not v.correct and v.reasons[0].startswith("expected red car>=1, found 0 red")
    assert (v.passed, v.total) == (1, 2)
    v = judge({}, row, given_colours)  # no car: the colour check is failed too, and the classifier is not asked
    assert not v.correct and (v.passed, v.total) == (0, 2)
    row2 = {"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "red"},
                                             {"class": "cup", "count": 1, "color": "white"}]}
    good = {"car": objs(([0, 0, 5, 5], 0.9, "red")), "cup": objs(([0, 0, 5, 5], 0.9, "white"))}
    assert judge(good, row2, given_colours).correct
    swapped = {"car": objs(([0, 0, 5, 5], 0.9, "white")), "cup": objs(([0, 0, 5, 5], 0.9, "red"))}
    v = judge(swapped, row2, given_colours)
    assert not v.correct and (v.passed, v.total) == (2, 4)


def test_position_clauses():
    row = {"tag": "position", "include": [{"class": "kite", "count": 1},
                                          {"class": "dog", "count": 1, "position": ["right of", 0]}]}
    kite = objs(([24, 24, 40, 40], 0.9))
    assert judge({"kite": kite, "dog": objs(([48, 24, 64, 40], 0.9))}, row, given_colours).correct
    v = judge({"kite": kite, "dog": objs(([0, 24, 16, 40], 0.9))}, row, given_colours)
    assert not v.correct and v.reasons == ["expected dog right of target, found left of target"]
    assert (v.passed, v.total) == (2, 3)
    v = judge({"dog": objs(([48, 24, 64, 40], 0.9))}, row, given_colours)  # the reference did not match
    assert not v.correct and v.reasons[-1] == "no target for dog to be right of" and (v.passed, v.total) == (1, 3)
    # only the top instance of each counts: a lower-scored dog on the right does not rescue the image
    two_dogs = objs(([0, 24, 16, 40], 0.9), ([48, 24, 64, 40], 0.8))
    assert not judge({"kite": kite, "dog": two_dogs}, row, given_colours).correct
    # count 2: every chosen A must be in the relation to every chosen B
    row2 = {"tag": "position", "include": [{"class": "kite", "count": 1},
                                           {"class": "dog", "count": 2, "position": ["right of", 0]}]}
    assert not judge({"kite": kite, "dog": two_dogs}, row2, given_colours).correct
    right2 = objs(([48, 24, 64, 40], 0.9), ([70, 24, 80, 40], 0.8))
    assert judge({"kite": kite, "dog": right2}, row2, given_colours).correct


# --- aggregation --------------------------------------------------------------------------------------------------

def scores_for(task_correct: dict[str, tuple[int, int]]) -> list[Score]:
    """Per-prompt Scores (4 images each) with the given (correct, images) per task."""
    out = []
    for task, (correct, images) in task_correct.items():
        flags = [1] * correct + [0] * (images - correct)
        for p in range(images // 4):
            c = flags[4 * p:4 * p + 4]
            out.append(Score(id=f"{task}{p}", value=sum(c) / 4, meta={"tag": task, "correct": c}))
    return out


@pytest.mark.parametrize("published, rates", [
    # djghosh13/geneval README "Main results": overall, then single / two / counting / colors / position / color attr
    (0.43, (0.97, 0.38, 0.35, 0.76, 0.04, 0.06)),  # Stable Diffusion v1.5
    (0.61, (0.97, 0.74, 0.66, 0.81, 0.13, 0.35)),  # IF-XL
])
def test_overall_is_the_unweighted_task_mean_as_published(published, rates):
    images = {"single_object": 320, "two_object": 396, "counting": 320, "colors": 376, "position": 400,
              "color_attr": 400}
    counts = {t: (round(r * images[t]), images[t]) for t, r in zip(TASKS, rates, strict=True)}
    summary = GenEval().aggregate(scores_for(counts))
    assert summary.headline == "GenEval" and round(summary.metrics["GenEval"], 2) == published
    for t, r in zip(TASKS, rates, strict=True):
        assert round(summary.metrics[f"GenEval/{t}"], 2) == r and round(summary.breakdown[t]["score"], 2) == r
    assert summary.breakdown["images"] == 2212 and summary.breakdown["prompts"] == 553 and not summary.notes
    image_mean = sum(c for c, _ in counts.values()) / 2212
    assert round(image_mean, 2) != published  # the mean over images is not GenEval


def test_aggregate_partial_and_notes():
    s = GenEval().aggregate(scores_for({"single_object": (8, 8), "counting": (1, 4)}))
    assert s.metrics["GenEval"] == pytest.approx((1.0 + 0.25) / 2)  # not 9/12
    assert set(s.metrics) == {"GenEval", "GenEval/single_object", "GenEval/counting"}
    assert s.breakdown["correct_prompts"] == pytest.approx(1.0) and s.breakdown["correct_images"] == 0.75
    assert any("tasks missing" in n for n in s.notes) and any("not comparable" in n for n in s.notes)


# --- folders, bad inputs, refusal -------------------------------------------------------------------------------

def make_folder(root: Path, index: int, n: int, size=(64, 64), row=None) -> list[Path]:
    folder = root / f"{index:05d}"
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    (folder / "metadata.jsonl").write_text(json.dumps(row or ROWS[index]))
    paths = []
    for k in range(n):
        Image.new("RGB", size, (40 * k, 90, 200)).save(folder / "samples" / f"{k:04d}.png")
        paths.append(folder / "samples" / f"{k:04d}.png")
    return paths


def test_read_predictions_dir(tmp_path):
    a = GenEval()
    make_folder(tmp_path, 0, 4)
    make_folder(tmp_path, 12, 5)
    (tmp_path / "00012" / "samples" / "0009.jpg").write_bytes(b"x")  # ignored: the evaluator reads only .png
    (tmp_path / "00012" / "grid.png").write_bytes(b"x")  # outside samples/: ignored
    (tmp_path / "notes").mkdir()
    outs = a.read_predictions_dir(tmp_path)
    assert [o.id for o in outs] == ["0", "12"] and [len(o.images) for o in outs] == [4, 5]
    assert outs[1].images[0].endswith("00012/samples/0000.png") and outs[0].extra["metadata"] == ROWS[0]
    make_folder(tmp_path, 3, 3)
    with pytest.raises(LvrpoError, match=r"00003 has 3 images.*4 required"):
        a.read_predictions_dir(tmp_path)
    assert len(GenEval("n3").read_predictions_dir(tmp_path)) == 3
    with pytest.raises(LvrpoError, match="no prompt folders"):
        a.read_predictions_dir(tmp_path / "notes")


def test_save_images_writes_the_official_layout(tmp_path):
    a = GenEval("n2")
    sample = a.load("hub")[7]
    paths = a.save_images(sample, [Image.new("RGBA", (8, 8)), Image.new("L", (8, 8))], tmp_path)
    assert paths == ["images/00007/samples/0000.png", "images/00007/samples/0001.png"]
    assert json.loads((tmp_path / "images/00007/metadata.jsonl").read_text()) == ROWS[7]
    assert Image.open(tmp_path / paths[0]).mode == "RGB"
    back = a.read_predictions_dir(tmp_path / "images")
    assert back[0].id == "7" and len(back[0].images) == 2


def replay_ctx(tmp_path: Path, detections: dict) -> Context:
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    return Context(detector=ReplayDetector(str(tmp_path / "dets.json")))


def test_bad_images_are_scored_and_missing_images_refused(tmp_path):
    a = GenEval()
    sample = a.load("hub")[FIRST["single_object"]]
    cls = sample.row["include"][0]["class"]
    d = tmp_path / "p"
    d.mkdir()
    Image.new("RGBA", (6, 6), (255, 0, 0, 0)).save(d / "rgba.png")
    Image.new("L", (6, 6)).save(d / "grey.png")
    Image.new("RGB", (1, 1)).save(d / "tiny.png")
    (d / "junk.png").write_bytes(b"\x00\xff" * 1000)
    det = [{"label": cls, "score": 0.9, "box": [0, 0, 1, 1]}]
    ctx = replay_ctx(tmp_path, {f"p/{n}.png": det for n in ("rgba", "grey", "tiny", "junk")})
    out = Output(id=sample.id, images=[str(d / f"{n}.png") for n in ("rgba", "grey", "tiny", "junk")])
    score = a.score(sample, out, ctx)
    assert [r["correct"] for r in score.parsed] == [True, True, True, False]
    assert score.value == 0.75 and score.parsed[3]["reason"].startswith("unreadable image")
    assert a.reward(sample, out, ctx) == 0.75 and a.partial_reward(sample, out, ctx) == 0.75
    with pytest.raises(LvrpoError, match=r"prompt 0 .* has 3 images, 4 required"):
        a.score(sample, Output(id=sample.id, images=out.images[:3]), ctx)
    # a folder's metadata that is not this prompt's: refused, naming the folder
    wrong = Output(id=sample.id, images=out.images, extra={"metadata": ROWS[1]})
    with pytest.raises(LvrpoError, match="folder 00000"):
        a.score(sample, wrong, ctx)


def test_rewards_and_unscored_detector_errors(tmp_path):
    a = GenEval()
    sample = a.load("hub")[FIRST["color_attr"]]
    (c1, k1), (c2, k2) = [(r["class"], r["color"]) for r in sample.row["include"]]
    Image.new("RGB", (8, 8)).save(tmp_path / "0.png")
    # first object present with its colour, second absent: checks = 2 of 4 passed, image wrong
    ctx = replay_ctx(tmp_path, {"0.png": [{"label": c1, "score": 0.8, "box": [0, 0, 4, 4], "color": k1}]})
    one = Output(id=sample.id, images=[str(tmp_path / "0.png")])
    assert a.reward(sample, one, ctx) == 0.0 and a.partial_reward(sample, one, ctx) == 0.5
    assert a.reward(sample, Output(id=sample.id), ctx) is None

    class Broken:
        def detect(self, image, path=None):
            raise RuntimeError("CUDA out of memory")
    s = a.score(sample, Output(id=sample.id, images=[str(tmp_path / "0.png")] * 4), Context(detector=Broken()))
    assert s.value is None and "detector error" in s.reason and "CUDA out of memory" in s.reason
    # a replay detection without a colour and no classifier: a configuration error, named
    ctx = replay_ctx(tmp_path, {"0.png": [{"label": c1, "score": 0.8, "box": [0, 0, 4, 4]}]})
    with pytest.raises(LvrpoError, match="no colour classifier"):
        a.reward(sample, one, ctx)
    with pytest.raises(LvrpoError, match="needs a detector"):
        a.reward(sample, one, Context())


def test_results_artifact_is_the_official_format(tmp_path):
    a = GenEval("n1")
    sample = a.load("hub")[0]
    Image.new("RGB", (8, 8)).save(tmp_path / "0.png")
    ctx = replay_ctx(tmp_path, {"0.png": [{"label": "bench", "score": 0.8, "box": [0, 0, 4, 4]}]})
    score = a.score(sample, Output(id="0", images=[str(tmp_path / "0.png")]), ctx)
    line = json.loads(a.artifacts([score])["results.jsonl"])
    assert set(line) == {"filename", "tag", "prompt", "correct", "reason", "metadata", "details"}
    assert line["correct"] is True and json.loads(line["metadata"]) == ROWS[0]
    assert json.loads(line["details"]) == {"bench": [[0, 0, 4, 4, pytest.approx(0.8)]]}


# --- the real commands ------------------------------------------------------------------------------------------

def designed_detections(root: Path, prefix: str) -> tuple[dict, dict[str, float]]:
    """Replay detections for 4 images of the first prompt of each task, with the outcome worked out by hand from
    the official rules; returns (detections keyed relative to `root`, expected task scores)."""
    def key(index, k):
        return f"{prefix}/{index:05d}/samples/{k:04d}.png"
    def det(cls, score, box=(8, 8, 24, 24), color=None):
        return {"label": cls, "score": score, "box": list(box), **({"color": color} if color else {})}
    dets = {}
    r = ROWS[FIRST["single_object"]]["include"][0]["class"]
    for k, s in enumerate((0.95, 0.95, 0.3, 0.31)):  # 0.3 is not > 0.3 → image 2 wrong: 3/4
        dets[key(FIRST["single_object"], k)] = [det(r, s)]
    a, b = (c["class"] for c in ROWS[FIRST["two_object"]]["include"])
    for k, present in enumerate(([a, b], [a], [a, b, "person"], [])):  # 2/4
        dets[key(FIRST["two_object"], k)] = [det(c, 0.8) for c in present]
    inc = ROWS[FIRST["counting"]]["include"][0]
    c, n = inc["class"], inc["count"]
    for k, scores in enumerate(([0.95] * n, [0.95] * (n + 1), [0.95] * n + [0.85], [0.95] * (n - 1))):  # 2/4
        dets[key(FIRST["counting"], k)] = [det(c, s, (4 * j, 0, 4 * j + 3, 3)) for j, s in enumerate(scores)]
    inc = ROWS[FIRST["colors"]]["include"][0]
    other = "green" if inc["color"] != "green" else "red"
    for k, colors in enumerate(([inc["color"]], [other, inc["color"]], [inc["color"]], [inc["color"]])):  # 3/4
        dets[key(FIRST["colors"], k)] = [det(inc["class"], 0.9 - 0.1 * j, color=col) for j, col in enumerate(colors)]
    ref, mover = ROWS[FIRST["position"]]["include"]
    rel = mover["position"][0]
    where = {"left of": (0, 24, 16, 40), "right of": (48, 24, 64, 40), "above": (24, 0, 40, 16),
             "below": (24, 48, 40, 64)}
    for k, box in enumerate((where[rel], (26, 24, 42, 40), where[rel], where[rel])):  # overlap → no relation: 3/4
        dets[key(FIRST["position"], k)] = [det(ref["class"], 0.9, (24, 24, 40, 40)), det(mover["class"], 0.9, box)]
    (c1, k1), (c2, k2) = [(x["class"], x["color"]) for x in ROWS[FIRST["color_attr"]]["include"]]
    assert k1 != k2
    for k, present in enumerate(([(c1, k1), (c2, k2)], [(c1, k2), (c2, k1)], [(c1, k1)], [(c2, k2)])):  # 1/4
        dets[key(FIRST["color_attr"], k)] = [det(cls, 0.9, color=col) for cls, col in present]
    expected = {"single_object": 0.75, "two_object": 0.5, "counting": 0.5, "colors": 0.75, "position": 0.75,
                "color_attr": 0.25}
    return dets, expected


def test_cli_score_folder_and_jsonl_with_replay_detector(tmp_path):
    preds = tmp_path / "preds"
    paths = {i: make_folder(preds, i, 4) for i in FIRST.values()}
    dets, expected = designed_detections(tmp_path, "preds")
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    # against the official 553 prompts, a set that leaves prompts out is refused...
    refused = run_cli("score", "--bench", "geneval", "--predictions", str(preds), "--detector",
                      f"replay:{tmp_path / 'dets.json'}", "--json")
    assert refused.returncode == 1 and "547 of 553 samples have no prediction" in refused.stderr
    # ...while an explicit subset of the metadata (ids = official prompt indices) is scored
    subset = write_jsonl(tmp_path / "subset.jsonl", [{**ROWS[i], "id": str(i)} for i in FIRST.values()])
    res = run_cli("score", "--bench", "geneval", "--predictions", str(preds), "--data", str(subset), "--detector",
                  f"replay:{tmp_path / 'dets.json'}", "--out", str(tmp_path / "out"), "--json", check=True)
    summary = json.loads(res.stdout)
    assert summary["headline"] == "GenEval" and summary["n"] == 6 == summary["n_scored"]
    for task, value in expected.items():
        assert summary["metrics"][f"GenEval/{task}"] == pytest.approx(value)
        assert summary["breakdown"][task]["images"] == 4
    assert summary["metrics"]["GenEval"] == pytest.approx(sum(expected.values()) / 6)
    assert summary["breakdown"]["counts"]["missing"] == 0 and "not comparable" in res.stderr
    results = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert len(results) == 24 and sum(json.loads(x)["correct"] for x in results) == 14

    # the JSONL form of the same predictions scores the same
    lines = [{"id": str(i), "images": [str(p.relative_to(tmp_path)) for p in ps]} for i, ps in paths.items()]
    write_jsonl(tmp_path / "preds.jsonl", lines)
    res2 = run_cli("score", "--bench", "geneval", "--predictions", str(tmp_path / "preds.jsonl"), "--data",
                   str(subset), "--detector", f"replay:{tmp_path / 'dets.json'}", "--json", check=True)
    assert json.loads(res2.stdout)["metrics"] == summary["metrics"]

    # one image missing from a prompt folder: refused, naming the folder
    paths[FIRST["counting"]][3].unlink()
    res3 = run_cli("score", "--bench", "geneval", "--predictions", str(preds), "--data", str(subset), "--detector",
                   f"replay:{tmp_path / 'dets.json'}", "--json")
    assert res3.returncode == 1 and f"{FIRST['counting']:05d} has 3 images" in res3.stderr
    res4 = run_cli("score", "--bench", "geneval", "--predictions", str(tmp_path / "preds.jsonl"), "--detector",
                   f"mask2former:{tmp_path / 'no-such-checkpoint'}", "--json")
    assert res4.returncode == 1 and "detector checkpoint not found" in res4.stderr


def test_cli_eval_generates_official_layout_and_rescores(tmp_path):
    src = tmp_path / "src"
    make_folder(src, 0, 2)
    make_folder(src, 1, 2)
    write_jsonl(tmp_path / "model.jsonl", [{"id": str(i), "images": [f"src/{i:05d}/samples/{k:04d}.png"
                                                                      for k in range(2)]} for i in (0, 1)])
    classes = [ROWS[i]["include"][0]["class"] for i in (0, 1)]
    dets = {f"run/geneval_n2/images/{i:05d}/samples/{k:04d}.png": [{"label": classes[i], "score": 0.2 + 0.5 * k,
                                                                   "box": [1, 1, 9, 9]}]
            for i in (0, 1) for k in range(2)}  # image 0 of each prompt below threshold, image 1 above
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    run_cli("eval", "--model", f"replay:{tmp_path / 'model.jsonl'}", "--suite", "geneval:n2", "--limit", "2",
            "--detector", f"replay:{tmp_path / 'dets.json'}", "--out", str(tmp_path / "run"), "--quiet",
            check=True)
    bench = tmp_path / "run" / "geneval_n2"
    assert json.loads((bench / "images/00001/metadata.jsonl").read_text()) == ROWS[1]
    assert sorted(p.name for p in (bench / "images/00000/samples").iterdir()) == ["0000.png", "0001.png"]
    assert "geneval:n2" in json.loads((tmp_path / "run" / "manifest.json").read_text())["benchmarks"]
    summary = json.loads((bench / "summary.json").read_text())
    assert summary["metrics"]["GenEval"] == 0.5 and summary["breakdown"]["images_per_prompt"] == 2
    first_two = write_jsonl(tmp_path / "first_two.jsonl", [{**ROWS[i], "id": str(i)} for i in (0, 1)])
    res = run_cli("score", "--bench", "geneval:n2", "--predictions", str(bench / "images"), "--data",
                  str(first_two), "--detector", f"replay:{tmp_path / 'dets.json'}", "--json", check=True)
    assert json.loads(res.stdout)["metrics"] == summary["metrics"]
