"""Whole suites through the real `lvrpo` command: per-benchmark `--data`, one replay file for many benchmarks,
an HTTP judge on 127.0.0.1, the replay detector, a tiny Janus, the leaderboard, and `--strict`.

Every expected number below is worked by hand from the official rules (restated in each adapter's docstring)
over the fixture rows of tests/suite_fixtures.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from unittest.mock import ANY

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.gedit import PQ_PROMPT
from lvrpo.evals.mmvet import GRADER_PROMPT
from lvrpo.evals.wise import LEGACY_SYSTEM
from tests.suite_fixtures import (
    MMVET_GRADES,
    data_arg,
    generation_replay,
    understanding_fixture,
    write_detections,
    write_gedit,
)
from tests.util import JudgeServer, run_cli

UNDERSTANDING = ["mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp"]


def mmvet_judge(system, text, images, body):
    """MM-Vet grades by prediction (first ask or re-ask); "zebra-garbage" always gets an unreadable reply."""
    if not text.startswith(GRADER_PROMPT):
        return None
    if "| zebra-garbage | " in text:
        return "banana"
    return next((grade for pred, grade in MMVET_GRADES.items() if f"| {pred} | " in text), None)


def summary(run: Path, bench: str) -> dict:
    return json.loads((run / bench / "summary.json").read_text(encoding="utf-8"))


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------------------- 1. understanding suite


@pytest.fixture(scope="module")
def understanding_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("understanding")
    sources, preds = understanding_fixture(root)
    with JudgeServer(mmvet_judge) as judge:
        res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "understanding", "--data", data_arg(sources),
                      "--judge", judge.spec, "--out", str(root / "run"), "--quiet",
                      env={"LVRPO_CACHE_DIR": str(root / "cache")})
    assert res.returncode == 0, res.stderr
    return root / "run", judge, res


def test_understanding_suite_headlines_hand_worked(understanding_run):
    """MME (official calculation.py): per subtask acc + acc+ (both questions of an image right), in percent.
    existence: answers Yes/No right, Yes right, "Yes, it is." wrong -> acc 3/4, acc+ 1/2 -> 125;
    count: "Maybe" is "other" (wrong), "no" right -> 50 + 0 = 50; MME-P = 175. code_reasoning: "Yes" and
    "Not at all" (reads "no") both right -> 200 = MME-C.
    MMBench CircularEval: group 1 (2 rotations) "A", "The answer is B" -> both right; group 2 (3 rotations) "C",
    "cow" (option text -> B) right, "B" wrong (gold A) -> group wrong: 1 of 2 groups = 50.
    MMMU: MC "B" right, MC "A" wrong (gold B), open "The width is 12." -> key answer "12" = gold 12 -> 2/3.
    MathVista: "5" is a choice text (= gold 5), "8" for integer gold 7 wrong, 'The answer is "B".' -> (B) dog
    right -> 2/3. MM-Vet: judge grades 1.0, 0.5, 0.3 and an empty answer 0 (no call) -> 1.8 / 4 = 45.0.
    MMVP: pairs (a,Closed)=(a,b) right; (The answer is (b), b) vs gold (b,a): second wrong; ("I can't tell",
    (b)) first unparsed -> 1 of 3 pairs = 33.3..."""
    run, _, _ = understanding_run
    expected = {"mme": ("MME-P", 175.0), "mmbench": ("MMBench", 50.0), "mmmu": ("MMMU", 200 / 3),
                "mathvista": ("MathVista", 200 / 3), "mmvet": ("MM-Vet", 45.0), "mmvp": ("MMVP", 100 / 3)}
    for bench, (metric, value) in expected.items():
        s = summary(run, bench)
        assert s["headline"] == metric, bench
        assert s["metrics"][metric] == pytest.approx(value, abs=1e-9), bench
        assert s["n_scored"] == s["n"] and s["coverage"] == 1.0, bench
    mme = summary(run, "mme")
    assert mme["metrics"]["MME-C"] == pytest.approx(200.0) and mme["metrics"]["MME-sum"] == pytest.approx(375.0)
    assert mme["breakdown"]["subtasks"]["existence"]["score"] == pytest.approx(125.0)
    assert summary(run, "mmbench")["breakdown"]["groups"] == 2
    assert summary(run, "mmvp")["breakdown"]["pairs"] == 3
    assert [s["n"] for s in map(lambda b: summary(run, b), UNDERSTANDING)] == [8, 5, 3, 3, 4, 6]


def test_understanding_suite_run_directory_and_judge_calls(understanding_run):
    run, judge, res = understanding_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["suite"] == "understanding" and manifest["benchmarks"] == UNDERSTANDING
    assert all(f"{b}=" in manifest["config"]["data"] for b in UNDERSTANDING)
    # ids repeat across benchmarks ("1" is in mmbench, mathvista, mme, mmvp): each got its own replayed answer
    # (each stored prediction also carries `input`, the digest of the row it was made from)
    assert lines(run / "mmvp" / "predictions.jsonl")[1] == {"id": "2", "output": "Closed", "input": ANY}
    assert lines(run / "mathvista" / "predictions.jsonl")[1] == {"id": "2", "output": "8", "input": ANY}
    # only MM-Vet asked the judge (rules resolved every MMBench and MathVista answer), once per non-empty answer,
    # with the official settings (max 3 tokens, temperature 0)
    assert len(judge.requests) == 3
    assert all(b["max_tokens"] == 3 and b["temperature"] == 0 for b in judge.requests)
    scores = lines(run / "mmvet" / "scores.jsonl")
    assert [s["value"] for s in scores] == [1.0, 0.5, 0.3, 0.0]
    assert "run directory:" in res.stderr


def test_leaderboard_shows_all_six_headlines(understanding_run):
    run, _, _ = understanding_run
    res = run_cli("leaderboard", str(run), check=True)
    header, _, row = res.stdout.strip().splitlines()
    cells = dict(zip([c.strip() for c in header.strip("|").split("|")],
                     [c.strip().strip("*") for c in row.strip("|").split("|")], strict=True))
    assert cells["model"] == "run"
    assert {k: cells[k] for k in ("MME-P", "MMBench", "MMMU", "MathVista", "MM-Vet", "MMVP")} == {
        "MME-P": "175.00", "MMBench": "50.0", "MMMU": "66.7", "MathVista": "66.7", "MM-Vet": "45.0", "MMVP": "33.3"}


# ---------------------------------------------------------------------------------- 2. generation suite

WISE_REPLIES = ("Consistency: 2\nRealism: 1\nAesthetic Quality: 0",  # (1.4 + 0.2 + 0) / 2 = 0.8
                "**Consistency**: 1\n**Realism**: 1\n**Aesthetic Quality**: 1")  # (0.7 + 0.2 + 0.1) / 2 = 0.5
GEDIT_SC = {"make edit k1": '{"score": [6, 8], "reasoning": "fine"}',  # SC = min = 6
            "make edit k2": '||V^=^V||{\n"score" : [9, 10],\n"reasoning" : "good"\n}||V^=^V||'}  # SC = 9
GEDIT_PQ = {0: '{"score": [8, 9], "reasoning": "ok"}', 2: "[10, 6]"}  # by the edit's main channel: red 8, blue 6


def generation_judge(wise_prompts: dict[str, str]):
    def answer(system, text, images, body):
        if system == LEGACY_SYSTEM:  # WISE legacy: by the prompt under evaluation
            return next((r for p, r in wise_prompts.items() if p in text), None)
        if text == PQ_PROMPT and len(images) == 1:  # GEdit PQ: the edited image only
            pixel = images[0].convert("RGB").getpixel((0, 0))
            return GEDIT_PQ.get(pixel.index(max(pixel)))
        if len(images) == 2:  # GEdit SC: source and edit, the instruction in the text
            return next((r for i, r in GEDIT_SC.items() if text.endswith(f"Editing instruction: {i}\n")), None)
        return None
    return answer


def test_generation_suite_end_to_end(tmp_path):
    """GenEval (evaluate_images.py: single_object is right when the class has a detection with score > 0.3 in
    float32; summary_scores.py: GenEval = mean over tasks present): prompt 0 (bench) images score 0.95 right,
    0.2 wrong, only a cow wrong, 0.31 right; prompt 1 (cow) 0.9, 0.31 right, 0.3 wrong (not > 0.3), 0.5 right ->
    5/8 = 0.625. WISE (Calculate.py): WiScores 0.8 and 0.5, both Cultural -> 0.65. GEdit (VIEScore, O =
    sqrt(SC·PQ), per-task means then the mean over tasks): k1 background_change SC 6 PQ 8, k2 color_alter SC 9
    PQ 6 -> G_SC 7.5, G_PQ 7, G_O (sqrt 48 + sqrt 54) / 2; k3 is cut by --limit 2, the CN row is not EN."""
    wise = get_adapter("wise").load("hub")[:2]
    replay = generation_replay(tmp_path)
    dets = write_detections(tmp_path, "run/geneval", {0: [("bench", 0.95), ("bench", 0.2), ("cow", 0.99),
                                                          ("bench", 0.31)],
                                                      1: [("cow", 0.9), ("cow", 0.31), ("cow", 0.3), ("cow", 0.5)]})
    judge = JudgeServer(generation_judge({s.row["Prompt"]: r for s, r in zip(wise, WISE_REPLIES, strict=True)}))
    with judge:
        res = run_cli("eval", "--model", f"replay:{replay}", "--suite", "generation", "--limit", "2",
                      "--data", f"gedit={write_gedit(tmp_path)}", "--detector", f"replay:{dets}",
                      "--judge", judge.spec, "--out", str(tmp_path / "run"), "--quiet",
                      env={"LVRPO_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    run = tmp_path / "run"
    geneval, wise_s, gedit = (summary(run, b) for b in ("geneval", "wise", "gedit"))
    assert geneval["headline"] == "GenEval" and geneval["metrics"]["GenEval"] == pytest.approx(0.625)
    assert geneval["breakdown"]["single_object"]["correct"] == 5 and geneval["n_scored"] == 2
    assert wise_s["headline"] == "WISE" and wise_s["metrics"]["WISE"] == pytest.approx(0.65)
    assert wise_s["metrics"]["WISE/cultural"] == pytest.approx(0.65) and wise_s["n_scored"] == 2
    assert gedit["headline"] == "GEdit-EN G_O" and gedit["n"] == gedit["n_scored"] == 2
    assert gedit["metrics"]["GEdit-EN G_O"] == pytest.approx((math.sqrt(48) + math.sqrt(54)) / 2)
    assert gedit["metrics"]["GEdit-EN G_SC"] == pytest.approx(7.5)
    assert gedit["metrics"]["GEdit-EN G_PQ"] == pytest.approx(7.0)
    # official layouts in the run directory
    assert sorted(p.relative_to(run / "geneval/images").as_posix() for p in (run / "geneval/images").rglob("*.*")) \
        == [f"{p:05d}/{f}" for p in (0, 1) for f in ("metadata.jsonl", *(f"samples/{k:04d}.png" for k in range(4)))]
    assert sorted(p.name for p in (run / "wise/images").iterdir()) == ["1.png", "2.png"]
    assert {p.relative_to(run / "gedit").as_posix() for p in (run / "gedit").rglob("*.png")} == {
        "fullset/background_change/en/k1.png", "fullset/background_change/en/k1_SRCIMG.png",
        "fullset/color_alter/en/k2.png", "fullset/color_alter/en/k2_SRCIMG.png"}
    assert len(lines(run / "geneval/results.jsonl")) == 8
    # judge calls: 2 WISE (system + PNG image), 2 × (SC with two JPEG images + PQ with one) for GEdit, GPT-4.1 style
    assert len(judge.requests) == 6
    gedit_calls = [(b, f) for b, f in zip(judge.requests, judge.formats, strict=True) if b["max_tokens"] == 1400]
    assert len(gedit_calls) == 4 and all(set(f) == {"JPEG"} and "temperature" not in b for b, f in gedit_calls)
    assert sorted(len(f) for _, f in gedit_calls) == [1, 1, 2, 2]


# ------------------------------------------------------------------------------------ 3. tiny Janus model


def test_generation_with_a_tiny_janus(tmp_path):
    """A random Janus makes whatever images it makes; the replay detector says what is in each saved file:
    prompt 0 (bench), image 0 a bench at 0.9 (right), image 1 nothing (wrong) -> GenEval 1/2. WISE prompt 1 is
    graded Consistency 0, Realism 2, Aesthetic 1 -> (0 + 0.4 + 0.1) / 2 = 0.25."""
    from lvrpo.testing.janus import SIDE, tiny_janus

    ckpt = tiny_janus(tmp_path / "tiny-janus")
    dets = write_detections(tmp_path, "jrun/geneval_n2", {0: [("bench", 0.9), None]})
    judge = JudgeServer(lambda system, text, images, body: "Consistency: 0\nRealism: 2\nAesthetic Quality: 1"
                        if system == LEGACY_SYSTEM and len(images) == 1 else None)
    with judge:
        res = run_cli("eval", "--model", str(ckpt), "--suite", "geneval:n2,wise", "--limit", "1", "--device", "cpu",
                      "--detector", f"replay:{dets}", "--judge", judge.spec, "--out", str(tmp_path / "jrun"),
                      "--quiet", env={"LVRPO_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    run = tmp_path / "jrun"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["benchmarks"] == ["geneval:n2", "wise"] and manifest["config"]["backend"] == "janus"
    saved = sorted((run / "geneval_n2/images/00000/samples").iterdir())
    assert [p.name for p in saved] == ["0000.png", "0001.png"]
    assert {Image.open(p).size for p in saved} == {(SIDE, SIDE)}
    assert json.loads((run / "geneval_n2/images/00000/metadata.jsonl").read_text())["prompt"] == "a photo of a bench"
    assert [p.name for p in (run / "wise/images").iterdir()] == ["1.png"]
    geneval, wise = summary(run, "geneval_n2"), summary(run, "wise")
    assert geneval["bench"] == "geneval:n2" and geneval["n"] == 1
    assert geneval["metrics"]["GenEval"] == pytest.approx(0.5)
    assert geneval["breakdown"]["images_per_prompt"] == 2 and geneval["breakdown"]["images"] == 2
    assert wise["metrics"]["WISE"] == pytest.approx(0.25) and wise["n_scored"] == 1 and len(judge.requests) == 1


# -------------------------------------------------------------------------------- 4. --strict and --data


def test_strict_fails_on_unscored_samples_after_writing_results(tmp_path):
    """MM-Vet v1_1 gets "banana" from the judge on all 5 official readings -> unscored; the rest grade 1.0, 0.3
    and 0 (empty) -> 1.3 / 3 = 43.3. --strict turns that into exit 1, after summary.json is written."""
    sources, preds = understanding_fixture(tmp_path, ("mme", "mmvet"), garbage=True)
    env = {"LVRPO_CACHE_DIR": str(tmp_path / "cache")}
    with JudgeServer(mmvet_judge) as judge:
        base = ("eval", "--model", f"replay:{preds}", "--suite", "mme,mmvet", "--data", data_arg(sources),
                "--judge", judge.spec, "--quiet")
        strict = run_cli(*base, "--out", str(tmp_path / "strict"), "--strict", env=env)
        lenient = run_cli(*base, "--out", str(tmp_path / "lenient"), env=env)
        stored = tmp_path / "strict" / "mmvet" / "predictions.jsonl"
        rescored = run_cli("score", "--bench", "mmvet", "--predictions", str(stored), "--data", str(sources["mmvet"]),
                           "--judge", judge.spec, "--json", "--strict", env=env)
    assert strict.returncode == 1
    assert "--strict: unscored samples in mmvet (1)" in strict.stderr
    assert lenient.returncode == 0, lenient.stderr
    for run in ("strict", "lenient"):
        s = summary(tmp_path / run, "mmvet")
        assert (s["n"], s["n_scored"]) == (4, 3) and s["metrics"]["MM-Vet"] == pytest.approx(43.3)
        assert summary(tmp_path / run, "mme")["metrics"]["MME-P"] == pytest.approx(175.0)
    assert rescored.returncode == 1 and "--strict: unscored samples in mmvet (1)" in rescored.stderr
    assert json.loads(rescored.stdout)["n_scored"] == 3  # the summary is still printed first


@pytest.mark.parametrize("data, named", [("foo=x", "foo"), ("mme={mme},mmvet={mme}", "mmvet")])
def test_data_naming_a_benchmark_outside_the_suite_is_an_error(tmp_path, data, named):
    sources, preds = understanding_fixture(tmp_path, ("mme",))
    res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", data.format(mme=sources["mme"]),
                  "--out", str(tmp_path / "run"), "--quiet")
    assert res.returncode == 1
    assert f"--data names benchmarks not in the suite: {named}" in res.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_single_data_source_still_works(tmp_path):
    sources, preds = understanding_fixture(tmp_path, ("mme",))
    res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(sources["mme"]),
                  "--out", str(tmp_path / "run"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert summary(tmp_path / "run", "mme")["metrics"]["MME-P"] == pytest.approx(175.0)
