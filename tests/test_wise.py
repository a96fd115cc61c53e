"""WISE: shipped official prompts, the official judge messages and reply reading, WiScore and the weighted Overall
(checked against the published leaderboards), unscored replies, bad images, and `lvrpo score` against a real HTTP
judge on 127.0.0.1."""

from __future__ import annotations

import csv
import hashlib
import json
import time

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.wise import (
    DATA_DIR,
    LEGACY,
    LEGACY_SYSTEM,
    MAX_ATTEMPTS,
    VERIFIED,
    VERIFIED_SYSTEM,
    judge_text,
    parse_legacy,
    parse_verified,
)
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.models.base import Backend
from lvrpo.runner import Bars, run_benchmark, score, summarize
from lvrpo.types import Context, LvrpoError, Output, Score
from tests.util import JudgeServer, run_cli, write_jsonl

CATEGORY_OF = {"Cultural knowledge": "CULTURE", "time": "TIME", "Space": "SPACE", "Biology": "BIOLOGY",
               "Physical Knowledge": "PHYSICS", "Chemistry": "CHEMISTRY"}  # the Category field's spellings


def prompt_in(text: str) -> str:
    """The prompt a judge text is about (its last `PROMPT: "..."` line; the template names PROMPT earlier too)."""
    return text.rsplit('\nPROMPT: "', 1)[1].split('"\nEXPLANATION: "', 1)[0]


class StandInJudge(Judge):
    """Canned replies keyed by the prompt the judge text is about; records every call."""

    name = "stand-in"

    def __init__(self, reply):
        self.reply, self.calls = reply, []

    def complete(self, prompt, images=None, *, max_tokens=512, temperature=None, system=None, attempt=0, **_):
        self.calls.append({"prompt": prompt, "images": list(images or []), "max_tokens": max_tokens,
                           "temperature": temperature, "system": system, "attempt": attempt})
        out = self.reply(prompt) if callable(self.reply) else self.reply
        if isinstance(out, Exception):
            raise out
        return out


def png(path, color=(200, 30, 30), size=(8, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return str(path)


def run(adapter, samples, outputs, judge):
    scores = score(adapter, samples, {o.id: o for o in outputs}, Context(judge=judge))
    return scores, summarize(adapter, scores)


# ---------------------------------------------------------------- data


def test_shipped_prompt_files_are_the_official_ones(refdata):
    for folder, protocol in (("legacy", LEGACY), ("verified", VERIFIED)):
        for name in protocol.files:
            assert (DATA_DIR / folder / name).read_bytes() == (refdata / "wise" / folder / name).read_bytes()
    sizes = {"legacy": [400, 167, 133, 100, 100, 100], "verified": [400, 120, 120, 120, 120, 120]}  # spec §2.2
    for variant, expected in sizes.items():
        adapter = get_adapter(f"wise:{variant}")
        samples = adapter.load("hub")
        assert sorted(int(s.id) for s in samples) == list(range(1, 1001))
        by_range = [adapter.category(s.row["prompt_id"]) for s in samples]
        # the calculators' id ranges agree with the files' own Category field, prompt by prompt
        assert by_range == [CATEGORY_OF[s.row["Category"]] for s in samples]
        assert [by_range.count(c) for c, _, _ in adapter.protocol.ranges] == expected
    assert len({s.row["Subcategory"] for s in get_adapter("wise").load("hub")}) == 27  # spec: 27 labels


def test_load_sources(tmp_path):
    wise = get_adapter("wise")
    with pytest.raises(LvrpoError, match="no official Hugging Face dataset"):
        wise.load("hub:someone/WISE")
    rows = [{"Prompt": "A moon cake", "Explanation": "mooncake", "Category": "Cultural knowledge",
             "Subcategory": "Festival", "prompt_id": 7},
            {"Prompt": "Ice in the sun", "Explanation": "melting", "Category": "Chemistry",
             "Subcategory": "State", "prompt_id": 950}]
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert [(s.id, wise.category(s.row["prompt_id"])) for s in wise.load(str(path))] == [("7", "CULTURE"),
                                                                                      ("950", "CHEMISTRY")]
    folder = tmp_path / "official"
    folder.mkdir()
    for name in LEGACY.files:
        (folder / name).write_bytes((DATA_DIR / "legacy" / name).read_bytes())
    assert len(wise.load(str(folder))) == 1000
    path.write_text(json.dumps([{k: v for k, v in rows[0].items() if k != "Explanation"}]), encoding="utf-8")
    with pytest.raises(LvrpoError, match="Explanation"):
        wise.load(str(path))
    with pytest.raises(LvrpoError, match="unknown variant"):
        get_adapter("wise:v2")


def test_request_carries_the_generation_defaults():
    wise = get_adapter("wise")
    req = wise.request(wise.load("hub")[0])
    assert (req.kind, req.prompt, req.num_images, req.seed) == ("generate", "Traditional food of the Mid-Autumn "
                                                                "Festival", 1, 42)
    assert req.bench == "wise" and "seed_policy" in req.options


# ---------------------------------------------------------------- judge messages and reply reading


def test_judge_texts_are_verbatim():
    # SHA-256 of the official f-string texts (gpt_eval.py / vllm_eval.py @eb51174) rendered for this pair
    p, e = "Traditional food of the Mid-Autumn Festival", "This refers to mooncakes"
    assert hashlib.sha256(judge_text(LEGACY, p, e).encode()).hexdigest() == \
        "9271a020125e0e767f8994ee532fcc9ea1a528e38c9d92b1f21f8506a0f2e96a"
    assert hashlib.sha256(judge_text(VERIFIED, p, e).encode()).hexdigest() == \
        "9962353256a8a8b3a743bd2d9c31f4189d9a03d4cda77e83eb9e0f8fe653562c"
    assert judge_text(LEGACY, "a {b}", "c").endswith('PROMPT: "a {b}"\nEXPLANATION: "c"\nPlease strictly adhere '
                                                   'to the scoring criteria and follow the template format when '
                                                   'providing your results.')


def test_judge_call_shape(tmp_path):
    wise = get_adapter("wise")
    sample = wise.load("hub")[0]
    judge = StandInJudge("Consistency: 2\nRealism: 2\nAesthetic Quality: 2")
    sc = wise.score(sample, Output(id="1", images=[png(tmp_path / "1.png")]), Context(judge=judge))
    (call,) = judge.calls
    # the official system message travels as such; the image follows; official settings
    assert call["system"] == LEGACY_SYSTEM
    assert call["prompt"] == judge_text(LEGACY, sample.row["Prompt"], sample.row["Explanation"])
    assert len(call["images"]) == 1 and call["max_tokens"] == 2000 and call["temperature"] == 0.0
    assert sc.value == pytest.approx(1.0)

    verified = get_adapter("wise:verified")
    judge = StandInJudge("Score: 1")
    sc = verified.score(verified.load("hub")[0], Output(id="1", images=[png(tmp_path / "1.png")]),
                        Context(judge=judge))
    assert judge.calls[0]["system"] == VERIFIED_SYSTEM and judge.calls[0]["prompt"].startswith("Please evaluate this")
    assert judge.calls[0]["max_tokens"] == 500 and sc.value == 1.0


@pytest.mark.parametrize("reply, expected", [
    ("Consistency: 2\nRealism: 1\nAesthetic Quality: 0", (2, 1, 0)),
    ("**Consistency**: 1\n**Realism**: 2\n**Aesthetic Quality**: 2", (1, 2, 2)),
    ("consistency 0 REALISM:\n1 aesthetic quality : 2", (0, 1, 2)),  # colon optional, any case, spaces/newlines
    ("Consistency: 0\nConsistency: 2\nRealism: 1\nAesthetic Quality: 1", (2, 1, 1)),  # the last one wins
    ("Here you go:\n 2 \n1\n0\n", (2, 1, 0)),  # fallback: three bare 0-2 lines
    ("Consistency: 2\n1\n0", None),  # a named score disables the fallback; two are missing
    ("Consistency: 3\nRealism: 1\nAesthetic Quality: 0", None),  # outside 0-2 (official would take 3)
    ("2\n1", None), ("", None), ("I cannot evaluate this image.", None),
])
def test_parse_legacy(reply, expected):
    got = parse_legacy(reply)
    assert (None if got is None else (got["consistency"], got["realism"], got["aesthetic_quality"])) == expected


@pytest.mark.parametrize("reply, expected", [
    ("Score: 1", 1.0), ("**Score**: 0", 0.0), ("score 1", 1.0), ("1", 1.0), ("\n 0 \n", 0.0),
    ("<think>Score: 0 maybe</think>\n\nScore: 1", 1.0),  # thinking is stripped first
    ("</think> Score: 0", 0.0), ("Score: 10", None), ("Score: 2", None), ("0\n1", None), ("yes", None),
])
def test_parse_verified(reply, expected):
    assert parse_verified(reply) == expected


def test_hostile_replies_are_read_in_bounded_time():
    hostile = ["Realism" + " " * 200_000, "\n" * 200_000 + "x", "<think>" * 50_000, "Score" + "\t" * 200_000,
               bytes(range(256)).decode("latin-1") * 4000]
    start = time.perf_counter()
    for text in hostile:
        assert parse_legacy(text) is None and parse_verified(text) is None
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------- scoring and aggregation


def test_full_legacy_run_aggregates_per_the_official_formula(tmp_path):
    """All 1000 prompts judged with canned scores c, r, a that vary with the id; the Overall must be the spec's
    weighted sum of the category means and, since the weights are the category sizes / 1000, the plain mean."""
    wise = get_adapter("wise")
    samples = wise.load("hub")
    pid_of = {s.row["Prompt"]: int(s.id) for s in samples}
    parts = {i: (i % 3, (i // 3) % 3, (i // 9) % 3) for i in range(1, 1001)}

    def reply(text):
        c, r, a = parts[pid_of[prompt_in(text)]]
        return f"Consistency: {c}\nRealism: {r}\nAesthetic Quality: {a}"

    image = png(tmp_path / "x.png")
    scores, summary = run(wise, samples, [Output(id=s.id, images=[image]) for s in samples], StandInJudge(reply))
    per_image = {i: (0.7 * c + 0.2 * r + 0.1 * a) / 2 for i, (c, r, a) in parts.items()}  # spec §2.4
    assert all(s.value == pytest.approx(per_image[int(s.id)], abs=1e-15) for s in scores)
    ranges = {"cultural": (1, 400), "time": (401, 567), "space": (568, 700), "biology": (701, 800),
              "physics": (801, 900), "chemistry": (901, 1000)}
    means = {k: sum(per_image[i] for i in range(lo, hi + 1)) / (hi - lo + 1) for k, (lo, hi) in ranges.items()}
    weighted = (0.4 * means["cultural"] + 0.167 * means["time"] + 0.133 * means["space"]
                + 0.1 * (means["biology"] + means["physics"] + means["chemistry"]))
    assert summary.headline == "WISE" and summary.metrics["WISE"] == pytest.approx(weighted, abs=1e-12)
    assert summary.metrics["WISE"] == pytest.approx(sum(per_image.values()) / 1000, abs=1e-12)
    assert {k: summary.metrics[f"WISE/{k}"] for k in ranges} == pytest.approx(means, abs=1e-12)
    assert summary.breakdown["complete"] is True and (summary.n, summary.n_scored) == (1000, 1000)
    assert not any("of 1000 prompt ids" in n for n in summary.notes)


def test_small_run_hand_worked(tmp_path):
    wise = get_adapter("wise")
    samples = {s.id: s for s in wise.load("hub")}
    chosen = ["1", "401", "568", "701", "901"]  # culture, time, space, biology, chemistry
    replies = {"1": "Consistency: 2\nRealism: 1\nAesthetic Quality: 0",  # (1.4 + 0.2 + 0) / 2 = 0.8
               "401": "**Consistency**: 1\n**Realism**: 2\n**Aesthetic Quality**: 2",  # (0.7 + 0.4 + 0.2) / 2 = 0.65
               "701": "1\n1\n1",  # (0.7 + 0.2 + 0.1) / 2 = 0.5
               "901": "I am unable to rate this image."}  # never readable: unscored
    by_prompt = {samples[i].row["Prompt"]: r for i, r in replies.items()}
    judge = StandInJudge(lambda text: by_prompt[prompt_in(text)])
    garbage = tmp_path / "568.png"
    garbage.write_bytes(b"\x89PNG not really")  # the model wrote garbage: scored 0, no judge call
    outputs = [Output(id=i, images=[png(tmp_path / f"{i}.png")]) for i in chosen if i != "568"]
    scores, summary = run(wise, [samples[i] for i in chosen], outputs + [Output(id="568", images=[str(garbage)])],
                          judge)
    got = {s.id: s.value for s in scores}
    assert got["1"] == pytest.approx(0.8) and got["401"] == pytest.approx(0.65) and got["701"] == pytest.approx(0.5)
    assert got["568"] == 0.0 and got["901"] is None
    assert len(judge.calls) == 3 + MAX_ATTEMPTS  # 901 asked three times (official attempts), 568 never
    # Overall over the categories present, weights renormalised: (0.4*0.8 + 0.167*0.65 + 0.133*0 + 0.1*0.5) / 0.8
    assert summary.metrics["WISE"] == pytest.approx(0.5981875, abs=1e-12)
    assert "WISE/physics" not in summary.metrics and summary.metrics["WISE/space"] == 0.0
    assert (summary.n, summary.n_scored, round(summary.coverage, 2)) == (5, 4, 0.8)
    notes = " | ".join(summary.notes)
    assert "re-weighted" in notes and "4 of 1000 prompt ids scored" in notes and "unscored: 1 ×" in notes
    assert "judge reply unreadable after 3 attempts" in notes


def test_retries_and_judge_errors(tmp_path):
    wise = get_adapter("wise")
    sample = wise.load("hub")[0]
    out = Output(id="1", images=[png(tmp_path / "1.png")])
    seq = iter(["{not json", "Consistency: 1\nRealism: 1\nAesthetic Quality: 1"])
    judge = StandInJudge(lambda text: next(seq))
    assert wise.score(sample, out, Context(judge=judge)).value == pytest.approx(0.5) and len(judge.calls) == 2
    judge = StandInJudge(JudgeError("HTTP 503"))
    sc = wise.score(sample, out, Context(judge=judge))
    assert sc.value is None and "judge error: HTTP 503" in sc.reason and len(judge.calls) == MAX_ATTEMPTS
    errors = iter([JudgeError("timeout"), "Consistency: 2\nRealism: 0\nAesthetic Quality: 0"])
    assert wise.score(sample, out, Context(judge=StandInJudge(lambda t: next(errors)))).value == pytest.approx(0.7)
    assert wise.score(sample, out, Context()).reason == "unscored: no judge"


def test_bad_generated_images(tmp_path):
    wise = get_adapter("wise")
    sample = wise.load("hub")[0]
    judge = StandInJudge("Consistency: 1\nRealism: 0\nAesthetic Quality: 0")
    text_file = tmp_path / "t.png"
    text_file.write_text("this is text, not an image")
    cases = {
        "missing": Output(id="1", images=[str(tmp_path / "nope.png")]),
        "text": Output(id="1", images=[str(text_file)]),
        "none": Output(id="1", error="CUDA out of memory"),
    }
    for case, out in cases.items():
        sc = wise.score(sample, out, Context(judge=judge))
        assert sc.value == 0.0 and sc.reason.startswith("unparsed:"), case
    assert judge.calls == []
    jpeg = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(jpeg)
    for path, mode in [(png(tmp_path / "rgba.png", (10, 20, 30, 128), mode="RGBA"), "RGBA"),
                       (png(tmp_path / "l.png", 77, mode="L"), "L"), (png(tmp_path / "1x1.png", size=(1, 1)), "RGB"),
                       (str(jpeg), "RGB")]:
        sc = wise.score(sample, Output(id="1", images=[path]), Context(judge=judge))
        assert sc.value == pytest.approx(0.35) and judge.calls[-1]["images"][0].mode == mode, path


def test_verified_variant_is_labelled_and_weighted(tmp_path):
    verified = get_adapter("wise:verified")
    samples = {s.id: s for s in verified.load("hub")}
    replies = {"1": "Score: 1", "2": "Score: 0", "401": "Score: 1", "641": "<think>hmm</think>Score: 1"}
    by_prompt = {samples[i].row["Prompt"]: r for i, r in replies.items()}
    image = png(tmp_path / "x.png")
    scores, summary = run(verified, [samples[i] for i in replies], [Output(id=i, images=[image]) for i in replies],
                          StandInJudge(lambda text: by_prompt[prompt_in(text)]))
    assert verified.spec == "wise:verified" and summary.headline == "WISE-verified" and "WISE" not in summary.metrics
    assert [s.meta["category"] for s in scores] == ["CULTURE", "CULTURE", "TIME", "BIOLOGY"]  # 641: verified range
    # (0.40 * 0.5 + 0.12 * 1 + 0.12 * 1) / (0.40 + 0.12 + 0.12)
    assert summary.metrics["WISE-verified"] == pytest.approx(0.6875, abs=1e-12)
    assert summary.metrics["WISE-verified/cultural"] == 0.5
    assert any("NOT comparable with legacy WISE" in n for n in summary.notes)
    assert get_adapter("wise").category(641) == "SPACE"


@pytest.mark.parametrize("table, variant, tolerance, exceptions", [
    # rounding bound: 2-decimal table -> 0.005 (Overall) + 0.005 (the weighted parts) = 0.01; 4 decimals -> 1e-4
    ("leaderboard_legacy_gpt4o_wiscore.csv", "legacy", 0.01, {"BAGEL", "OpenUni-B-512"}),
    ("leaderboard_verified_qwen35_judge.csv", "verified", 1e-4, {"DeepGen 1.0"}),
])
def test_overall_formula_reproduces_the_published_leaderboards(refdata, table, variant, tolerance, exceptions):
    """Feed each model's published category scores through `aggregate`: the Overall must match the published one
    within rounding, except the rows SOURCES.md §2 documents as inconsistent, which must stay outside it."""
    adapter = get_adapter(f"wise:{variant}")
    cols = ["cultural", "time", "space", "biology", "physics", "chemistry"]
    rows = list(csv.DictReader((refdata / "wise" / table).open(encoding="utf-8")))
    assert len(rows) == {"legacy": 37, "verified": 23}[variant]
    off = set()
    for row in rows:
        values = [float(row[c if c in row else "culture"]) for c in cols]
        scores = [Score(id=str(lo), value=v, meta={"category": cat, "prompt_id": lo, "subcategory": cat})
                  for (cat, lo, _), v in zip(adapter.protocol.ranges, values, strict=True)]
        overall = adapter.aggregate(scores).metrics[adapter.protocol.metric]
        if abs(overall - float(row["overall"])) > tolerance:
            off.add(row["model"])
    assert off == exceptions


def test_save_images_and_official_folder_layout(tmp_path):
    wise = get_adapter("wise")
    sample = wise.load("hub")[41]
    assert wise.save_images(sample, [Image.new("RGB", (4, 4))], tmp_path) == ["images/42.png"]
    (tmp_path / "images" / "notes.txt").write_text("x")
    png(tmp_path / "images" / "7.jpg.png")
    outs = wise.read_predictions_dir(tmp_path)
    assert [(o.id, o.images) for o in outs] == [("42", [str((tmp_path / "images/42.png").resolve())])]
    assert wise.reward(sample, Output(id="42", images=[str(tmp_path / "images/42.png")]),
                       Context(judge=StandInJudge("Consistency: 2\nRealism: 1\nAesthetic Quality: 2"))) == \
        pytest.approx(0.9)


# ---------------------------------------------------------------- the real command against a real HTTP judge


def test_cli_score_against_http_judge(tmp_path):
    samples = {s.id: s for s in get_adapter("wise").load("hub")}
    replies = {"1": "Consistency: 2\nRealism: 1\nAesthetic Quality: 0",  # 0.8
               "401": "Consistency: 1\nRealism: 1\nAesthetic Quality: 1",  # 0.5
               "801": "**Consistency**: 2\n**Realism**: 2\n**Aesthetic Quality**: 1",  # (1.4 + 0.4 + 0.1) / 2 = 0.95
               "901": "Sorry, I can't help with that."}  # unreadable: unscored
    by_prompt = {samples[i].row["Prompt"]: r for i, r in replies.items()}
    seen_images = []

    def answer(system, text, images, body):
        seen_images.extend(images)
        return by_prompt[prompt_in(text)]

    preds = [{"id": i, "image": f"imgs/{i}.png"} for i in replies]
    for i in replies:
        png(tmp_path / "imgs" / f"{i}.png", (int(i) % 256, 90, 160), size=(24, 16))
    preds.append({"id": "568", "image": "imgs/568.png"})  # the model saved text instead of an image: scored 0
    (tmp_path / "imgs" / "568.png").write_text("oops")
    write_jsonl(tmp_path / "preds.jsonl", preds)
    with JudgeServer(answer) as server:
        res = run_cli("score", "--bench", "wise", "--predictions", str(tmp_path / "preds.jsonl"), "--judge",
                      f"openai:test@{server.url}", "--json", env={"LVRPO_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    # n counts every data row: the 995 prompts without a prediction lower the coverage too
    assert (summary["n"], summary["n_scored"], summary["coverage"]) == (1000, 4, 0.004)
    # (0.4*0.8 + 0.167*0.5 + 0.133*0.0 + 0.1*0.95) / (0.4 + 0.167 + 0.133 + 0.1) = 0.4985 / 0.8
    assert summary["metrics"]["WISE"] == pytest.approx(0.623125, abs=1e-12)
    assert summary["metrics"]["WISE/physics"] == pytest.approx(0.95) and summary["headline"] == "WISE"
    assert summary["breakdown"]["counts"]["missing"] == 995
    body = server.requests[0]
    assert body["model"] == "test" and body["temperature"] == 0 and body["max_tokens"] == 2000
    assert body["messages"][0] == {"role": "system", "content": LEGACY_SYSTEM}  # the official system message
    assert body["messages"][1]["content"][0]["text"].startswith("Please evaluate strictly")
    assert seen_images[0].format == "PNG" and seen_images[0].size == (24, 16)  # the image itself, losslessly
    assert "unscored: 1 × unscored: judge reply unreadable after 3 attempts" in res.stderr


def test_eval_loop_saves_the_official_layout_and_scores(tmp_path):
    class Painter(Backend):
        name, capabilities = "painter", frozenset({"generate"})

        def generate(self, requests):
            assert all(r.num_images == 1 and r.seed == 42 for r in requests)
            return [[Image.new("RGB", (12, 12), (len(r.prompt) % 256, 0, 0))] for r in requests]

    wise = get_adapter("wise")
    judge = StandInJudge("Consistency: 1\nRealism: 2\nAesthetic Quality: 0")  # (0.7 + 0.4) / 2 = 0.55
    summary = run_benchmark(wise, Painter(), tmp_path, source="hub", split=None, limit=3, batch_size=2,
                            ctx=Context(judge=judge), bars=Bars(quiet=True))
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["1.png", "2.png", "3.png"]
    assert summary.metrics["WISE"] == pytest.approx(0.55) and summary.n_scored == 3 and len(judge.calls) == 3
    assert [o.id for o in wise.read_predictions_dir(tmp_path)] == ["1", "2", "3"]
