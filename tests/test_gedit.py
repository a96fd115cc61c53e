"""GEdit-Bench: the official VIEScore prompts and reply reading, SC/PQ/O per sample, per-task then 11-task means
(full and Intersection, EN and CN), unscored replies, bad edited images, and `lvrpo score` against a real HTTP judge
on 127.0.0.1 over a local data file in the official schema."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.gedit import (
    JUDGE_SETTINGS,
    MAX_ROUNDS,
    PQ_PROMPT,
    TASKS,
    judge_protocol,
    parse_scores,
    sc_prompt,
    target_size,
)
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.models.base import Backend
from lvrpo.runner import Bars, run_benchmark, score, summarize
from lvrpo.types import Context, LvrpoError, Output
from tests.util import JudgeServer, run_cli, write_jsonl

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
# Canned SC replies (by sample letter) and PQ replies (by the edited image's colour), each in a format the official
# reader accepts: plain JSON, delimited JSON, a bare list, a fenced block, a lone number as score.
SC_REPLY = {"a": '{"score": [8, 4], "reasoning": "partly done"}',  # SC = min = 4
            "b": '||V^=^V||\n{\n"score" : [9, 10],\n"reasoning" : "done"\n}\n||V^=^V||',  # 9
            "c": "[0, 10]"}  # 0
PQ_REPLY = {RED: '```json\n{"score": [9, 10], "reasoning": "natural"}\n```',  # PQ = 9
            GREEN: '{"score": [1, 1], "reasoning": "broken"}',  # 1
            BLUE: '{"score" : 10, "reasoning": "clean"}'}  # 10
EDIT_COLOR = {"a": RED, "b": GREEN, "c": BLUE}


def png(path, color=(120, 120, 120), size=(16, 12), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return str(path)


def nearest(color) -> tuple[int, int, int]:
    return min(EDIT_COLOR.values(), key=lambda c: sum((a - b) ** 2 for a, b in zip(c, color, strict=True)))


def instruction(key: str, lang: str) -> str:
    return f"Please edit {key} nicely" if lang == "en" else f"请把 {key} 编辑一下"


def make_fixture(root, tasks=TASKS, cn=True):
    """A GEdit-schema jsonl (spec §3.1 columns; images as files relative to it) and the edits for it.

    Per task and language: sample `a` (in the Intersection) and `b` (not); EN text_change also has `c` (in it).
    The CN rows reuse the EN keys, as two languages of one source image would.
    """
    rows, preds = [], {"en": [], "cn": []}
    for t in tasks:
        letters = "abc" if t == "text_change" else "ab"
        for lang in ("en", "cn") if cn else ("en",):
            for letter in letters if lang == "en" else "ab":
                key = f"{t}_{letter}"
                src = png(root / "src" / f"{key}.png", (30, 60, 90), size=(16, 12))
                raw = png(root / "raw" / f"{key}.png", (30, 60, 90), size=(64, 48))
                rows.append({"task_type": t, "key": key, "instruction": instruction(key, lang),
                             "instruction_language": lang, "input_image": "src/" + src.rsplit("/", 1)[1],
                             "input_image_raw": "raw/" + raw.rsplit("/", 1)[1], "Intersection_exist": letter != "b"})
                png(root / "edits" / lang / f"{key}.png", EDIT_COLOR[letter], size=(20, 20))
                preds[lang].append(Output(id=key, images=[str(root / "edits" / lang / f"{key}.png")]))
    return write_jsonl(root / "gedit.jsonl", rows), preds


class StandInJudge(Judge):
    """SC replies keyed by the instruction in the prompt, PQ replies by the edited image's colour; records calls."""

    name = "stand-in"

    def __init__(self, sc=None, pq=None):
        self.sc, self.pq, self.calls = sc or {}, pq or PQ_REPLY, []

    def complete(self, prompt, images=None, *, max_tokens=512, **settings):
        images = list(images or [])
        self.calls.append({"prompt": prompt, "images": images, "max_tokens": max_tokens, **settings})
        if prompt == PQ_PROMPT:
            reply = self.pq(images) if callable(self.pq) else self.pq[nearest(images[0].getpixel((0, 0)))]
        else:
            reply = self.sc(prompt) if callable(self.sc) else self.sc[prompt.rsplit("Editing instruction: ", 1)[1]]
        if isinstance(reply, Exception):
            raise reply
        return reply


def sc_by_instruction(lang: str, letter_reply=SC_REPLY) -> dict[str, str]:
    return {instruction(f"{t}_{x}", lang) + "\n": r for t in TASKS for x, r in letter_reply.items()}


def run(adapter, samples, outputs, judge):
    scores = score(adapter, samples, {o.id: o for o in outputs}, Context(judge=judge))
    return scores, summarize(adapter, scores)


# ---------------------------------------------------------------- prompts, reading, sizes


def test_prompts_are_verbatim():
    # SHA-256 of the official VIEScore "tie" prompts (vie_prompts.py @570eba6, joined as viescore/__init__.py does)
    assert hashlib.sha256(sc_prompt("Change the sky to a sunset").encode()).hexdigest() == \
        "4c9ae2d39d7f9399b819cd18b783ae1e525dba371fa0ee312e74e4f3c76a3f3a"
    assert hashlib.sha256(PQ_PROMPT.encode()).hexdigest() == \
        "2473ff2c7406e06545c5c039ceb039ff2604ebacf150868a48f0bf07c9e733b0"
    assert sc_prompt("把天空换成日落").endswith("\nEditing instruction: 把天空换成日落\n")


@pytest.mark.parametrize("reply, expected", [
    ('{"score": [8, 4], "reasoning": "x"}', [8, 4]),
    ('||V^=^V||\n{\n"score" : [9, 10],\n"reasoning" : "a\nb"\n}\n||V^=^V||', [9, 10]),  # newlines dropped
    ('Sure! ```json\n{"score": [7.5, 6], "reasoning": "ok"}\n``` done', [7.5, 6]),
    ('{"score": 7, "reasoning": "one"}', [7]), ("[6, 0]", [6, 0]), ("[6,0]", [6, 0]), (" 7 ", [7]), ("10", [10]),
    ("[6, 0, 1]", None), ("11", None), ('{"score": [11, 5]}', None), ('{"score": [true, 5]}', None),
    ('{"score": [], "reasoning": ""}', None), ('{"reasoning": "no score"}', None), ('{"score": [8, 4', None),
    ('{"score": [8, 4]', [8, 4]),  # no closing brace: the official falls back to the bare [a, b] list
    ("{not json}", None), ("rate_limit_exceeded", None), ("", None), ("The edit looks good: 8/10", None),
])
def test_parse_scores(reply, expected):
    assert parse_scores(reply) == expected


def test_hostile_replies_are_read_in_bounded_time():
    start = time.perf_counter()
    for text in ["[" * 300_000, "{" + " " * 300_000, "9" * 5000, bytes(range(256)).decode("latin-1") * 4000,
                 "||V^=^V||" * 3 + "{" * 100_000, '{"score": ' + "[" * 20_000 + "]" * 20_000 + "}"]:
        assert parse_scores(text) is None
    assert time.perf_counter() - start < 2.0


def test_target_size_hand_worked():
    # 1024x768: w = sqrt(262144 * 4/3) = 591.2 -> 18*32 = 576; h = 443.4 -> 14*32 = 448; 576*448 < 262144 -> w + 32
    assert target_size(1024, 768) == (608, 448)
    assert target_size(2048, 2048) == (512, 512)  # exactly the target area: unchanged
    # 768x1024: w = 443.4 -> 448, h = 591.2 -> 576, area 258048 < 262144 -> w + 32
    assert target_size(768, 1024) == (480, 576)


# ---------------------------------------------------------------- data, requests, layout


def test_load_variants_filter_language_and_intersection(tmp_path):
    data, _ = make_fixture(tmp_path)
    en = get_adapter("gedit").load(str(data))
    assert len(en) == 23 and {s.row["instruction_language"] for s in en} == {"en"}
    assert en[0].id == "background_change_a"  # id = key, although the CN rows repeat the keys
    assert len(get_adapter("gedit:cn").load(str(data))) == 22
    assert len(get_adapter("gedit:en_intersection").load(str(data))) == 12
    assert len(get_adapter("gedit:cn_intersection").load(str(data))) == 11
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    write_jsonl(tmp_path / "dup.jsonl", [rows[0], rows[0]])
    with pytest.raises(LvrpoError, match="duplicate key"):
        get_adapter("gedit").load(str(tmp_path / "dup.jsonl"))
    write_jsonl(tmp_path / "bad.jsonl", [{**rows[0], "Intersection_exist": "maybe"}])
    with pytest.raises(LvrpoError, match="Intersection_exist"):
        get_adapter("gedit:en_intersection").load(str(tmp_path / "bad.jsonl"))
    write_jsonl(tmp_path / "en_only.jsonl", [r for r in rows if r["instruction_language"] == "en"])
    with pytest.raises(LvrpoError, match="no rows with instruction_language 'cn'"):
        get_adapter("gedit:cn").load(str(tmp_path / "en_only.jsonl"))
    write_jsonl(tmp_path / "nocol.jsonl", [{k: v for k, v in rows[0].items() if k != "input_image"}])
    with pytest.raises(LvrpoError, match="input_image"):
        get_adapter("gedit").load(str(tmp_path / "nocol.jsonl"), for_requests=False)  # needed to score too


def test_request_and_official_layout(tmp_path):
    data, _ = make_fixture(tmp_path / "d", tasks=("color_alter",), cn=False)
    gedit = get_adapter("gedit")
    sample = gedit.load(str(data))[0]
    req = gedit.request(sample)
    assert (req.kind, req.prompt, req.num_images, req.seed) == ("edit", "Please edit color_alter_a nicely", 1, 42)
    assert len(req.images) == 1 and req.images[0].size == (16, 12) and req.images[0].mode == "RGB"
    assert req.options["target_size"] == [608, 448]  # raw 64x48 is 4:3, as 1024x768 in test_target_size_hand_worked
    out = tmp_path / "run"
    assert gedit.save_images(sample, [Image.new("RGB", (8, 8))], out) == ["fullset/color_alter/en/color_alter_a.png"]
    assert (out / "fullset/color_alter/en/color_alter_a_SRCIMG.png").is_file()
    png(out / "fullset/color_alter/cn/color_alter_a.png")
    assert [o.id for o in gedit.read_predictions_dir(out)] == ["color_alter_a"]  # EN only, SRCIMG skipped
    assert [o.id for o in get_adapter("gedit:cn").read_predictions_dir(out)] == ["color_alter_a"]


# ---------------------------------------------------------------- scoring and aggregation


def test_full_and_intersection_hand_worked(tmp_path):
    """Per sample: a -> SC 4, PQ 9, O 6; b -> SC 9, PQ 1, O 3; c -> SC 0, PQ 10, O 0 (EN text_change only).
    Ten tasks: SC 6.5, PQ 5, O 4.5; text_change: SC 13/3, PQ 20/3, O 3. Then the plain mean of the 11 tasks."""
    data, preds = make_fixture(tmp_path)
    expected = {
        "en": {"G_SC": (10 * 6.5 + 13 / 3) / 11, "G_PQ": (10 * 5 + 20 / 3) / 11, "G_O": (10 * 4.5 + 3) / 11},
        # only a and c: ten tasks SC 4, PQ 9, O 6; text_change SC 2, PQ 9.5, O 3
        "en_intersection": {"G_SC": (40 + 2) / 11, "G_PQ": (90 + 9.5) / 11, "G_O": (60 + 3) / 11},
        # CN: every SC reply [4, 4] -> 4; per task PQ (9 + 1) / 2 = 5, O (6 + 2) / 2 = 4
        "cn": {"G_SC": 4.0, "G_PQ": 5.0, "G_O": 4.0},
    }
    for variant, want in expected.items():
        lang = variant[:2]
        adapter = get_adapter(f"gedit:{variant}")
        sc = sc_by_instruction("en") if lang == "en" else {
            instruction(f"{t}_{x}", "cn") + "\n": "[4, 4]" for t in TASKS for x in "ab"}
        scores, summary = run(adapter, adapter.load(str(data)), preds[lang], StandInJudge(sc))
        prefix = {"en": "GEdit-EN", "cn": "GEdit-CN", "en_intersection": "GEdit-EN-Intersection"}[variant]
        assert summary.headline == f"{prefix} G_O"
        assert summary.metrics == pytest.approx({f"{prefix} {k}": v for k, v in want.items()}, abs=1e-12)
        assert summary.n == summary.n_scored == len(scores)
    # one task by hand, and the per-sample O average (not sqrt of the means: sqrt(6.5 * 5) = 5.70)
    scores, summary = run(get_adapter("gedit"), get_adapter("gedit").load(str(data)), preds["en"],
                          StandInJudge(sc_by_instruction("en")))
    assert summary.breakdown["tasks"]["ps_human"] == {"G_SC": 6.5, "G_PQ": 5.0, "G_O": 4.5, "n": 2}
    first = next(s for s in scores if s.id == "ps_human_a")
    assert first.value == 6.0 and first.parsed == {"SC": [8.0, 4.0], "PQ": [9.0, 10.0]}
    assert get_adapter("gedit").reward(get_adapter("gedit").load(str(data))[0], preds["en"][0],
                                       Context(judge=StandInJudge(sc_by_instruction("en")))) == pytest.approx(0.6)


def test_unreadable_replies_are_asked_again_then_unscored(tmp_path):
    data, preds = make_fixture(tmp_path, tasks=("style_change",), cn=False)
    gedit = get_adapter("gedit")
    sample, out = gedit.load(str(data))[0], preds["en"][0]
    judge = StandInJudge(sc=lambda p: '{"score": [8, 4')  # never valid: two rounds of both calls, then unscored
    sc = gedit.score(sample, out, Context(judge=judge))
    assert sc.value is None and "unreadable in 2 rounds" in sc.reason
    assert [c["prompt"] == PQ_PROMPT for c in judge.calls] == [False, True] * MAX_ROUNDS
    replies = iter(["garbage", '{"score": [6, 6]}'])
    judge = StandInJudge(sc=lambda p: next(replies))  # the re-ask succeeds: scored from the second round
    assert gedit.score(sample, out, Context(judge=judge)).value == pytest.approx(6 ** 0.5 * 9 ** 0.5)
    assert len(judge.calls) == 4
    judge = StandInJudge(sc=lambda p: JudgeError("HTTP 400 content filter"))
    sc = gedit.score(sample, out, Context(judge=judge))
    assert sc.value is None and sc.reason == "unscored: judge error: HTTP 400 content filter" and len(judge.calls) == 1
    # coverage: the unscored sample is counted, not averaged in
    scores, summary = run(gedit, gedit.load(str(data)), preds["en"],
                          StandInJudge(sc={instruction("style_change_a", "en") + "\n": "no idea",
                                           instruction("style_change_b", "en") + "\n": SC_REPLY["b"]}))
    assert (summary.n, summary.n_scored) == (2, 1) and summary.metrics["GEdit-EN G_O"] == pytest.approx(3.0)
    assert any("unscored: 1 ×" in n for n in summary.notes) and any("over the 1 tasks present" in n
                                                                    for n in summary.notes)


def test_bad_edited_images(tmp_path):
    data, _ = make_fixture(tmp_path, tasks=("tone_transfer",), cn=False)
    gedit = get_adapter("gedit")
    sample = gedit.load(str(data))[0]
    judge = StandInJudge(sc=lambda p: "[5, 5]", pq=lambda images: "[5, 5]")
    (tmp_path / "text.png").write_text("not an image")
    for out in (Output(id=sample.id, images=[str(tmp_path / "text.png")]), Output(id=sample.id, error="refused"),
                Output(id=sample.id, images=[str(tmp_path / "missing.png")])):
        sc = gedit.score(sample, out, Context(judge=judge))
        assert sc.value == 0.0 and sc.reason.startswith("unparsed:") and (sc.meta["sc"], sc.meta["pq"]) == (0, 0)
    assert judge.calls == []
    broken = type(sample)(id=sample.id, row={**sample.row, "input_image": "src/gone.png"}, base_dir=sample.base_dir)
    sc = gedit.score(broken, Output(id=sample.id, error="refused"), Context(judge=judge))
    assert sc.value is None and sc.reason.startswith("unscored: source image")  # the data's fault, not the model's
    for path in (png(tmp_path / "rgba.png", (1, 2, 3, 0), size=(40, 30), mode="RGBA"),
                 png(tmp_path / "l.png", 200, size=(7, 9), mode="L"), png(tmp_path / "one.png", size=(1, 1))):
        sc = gedit.score(sample, Output(id=sample.id, images=[path]), Context(judge=judge))
        assert sc.value == pytest.approx(5.0)
        sc_call, pq_call = judge.calls[-2:]
        # SC sees source then edit, PQ the edit alone; the edit in RGB at the source's size (16x12)
        assert [(im.mode, im.size) for im in sc_call["images"]] == [("RGB", (16, 12))] * 2
        assert [(im.mode, im.size) for im in pq_call["images"]] == [("RGB", (16, 12))]


def test_judge_settings_follow_the_official_judge():
    class Recorder(Judge):
        def __init__(self, name):
            self.name, self.kwargs = name, []

        def complete(self, prompt, images=None, *, max_tokens=512, temperature=0.0, image_format="png", **_):
            self.kwargs.append((max_tokens, temperature, image_format))
            return '{"score": [7, 7], "reasoning": "ok"}'

    sample_images = [Image.new("RGB", (4, 4))]
    for name, want in (("openai:gpt-4.1", (1400, None, "jpeg")), ("hf:/models/Qwen2.5-VL-72B", (512, 0.0, "png")),
                       ("openai:qwen2.5-vl-72b-awq", (512, 0.0, "png"))):
        judge = Recorder(name)
        judge.complete("x", sample_images, **JUDGE_SETTINGS[judge_protocol(judge)])
        assert judge.kwargs == [want], name


# ---------------------------------------------------------------- the real command against a real HTTP judge


def test_cli_score_against_http_judge(tmp_path):
    tasks = ("background_change", "color_alter", "subject-add", "text_change")
    data, _ = make_fixture(tmp_path, tasks=tasks)
    sc_replies = {"background_change_a": SC_REPLY["a"],  # SC 4 with a red edit (PQ 9): O 6
                  "color_alter_b": SC_REPLY["b"],  # SC 9 with a green edit (PQ 1): O 3
                  "text_change_a": "I cannot assess this."}  # never readable: unscored
    preds = [{"id": key, "image": f"edits/en/{key}.png"} for key in sc_replies]
    (tmp_path / "edits/en/subject-add_a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # garbage edit: 0
    preds.append({"id": "subject-add_a", "image": "edits/en/subject-add_a.png"})
    write_jsonl(tmp_path / "preds.jsonl", preds)

    def answer(system, text, images, body):
        if text == PQ_PROMPT:
            return PQ_REPLY[nearest(images[0].convert("RGB").getpixel((8, 6)))]
        return sc_replies[text.rsplit("Editing instruction: ", 1)[1].strip().split()[2]]

    with JudgeServer(answer) as server:
        res = run_cli("score", "--bench", "gedit", "--predictions", str(tmp_path / "preds.jsonl"), "--data",
                      str(data), "--judge", f"openai:gpt-4.1@{server.url}", "--json",
                      env={"LVRPO_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert (summary["n"], summary["n_scored"], summary["coverage"]) == (9, 3, round(3 / 9, 6))  # all EN rows
    # tasks present: background_change (4, 9, 6), color_alter (9, 1, 3), subject-add (0, 0, 0)
    assert summary["metrics"] == pytest.approx({"GEdit-EN G_SC": 13 / 3, "GEdit-EN G_PQ": 10 / 3,
                                                "GEdit-EN G_O": 3.0}, abs=1e-12)
    assert summary["headline"] == "GEdit-EN G_O" and summary["breakdown"]["failed_images"] == 1
    assert summary["breakdown"]["counts"]["missing"] == 5  # 9 EN rows (a, b per task; c in text_change), 4 predicted
    sc_body = next(b for b in server.requests if b["messages"][0]["content"][0]["text"] != PQ_PROMPT)
    pq_body = next(b for b in server.requests if b["messages"][0]["content"][0]["text"] == PQ_PROMPT)
    assert sc_body["max_tokens"] == 1400 and "temperature" not in sc_body  # GPT-4.1 path: the API default
    assert [p["type"] for p in sc_body["messages"][0]["content"]] == ["text", "image_url", "image_url"]
    assert len(pq_body["messages"][0]["content"]) == 2
    assert sc_body["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "unscored: 1 × unscored: judge reply unreadable in 2 rounds" in res.stderr


def test_eval_loop_edits_and_scores(tmp_path):
    class Recolour(Backend):
        name, capabilities = "recolour", frozenset({"edit"})

        def edit(self, requests):
            assert all(r.kind == "edit" and len(r.images) == 1 and r.options["target_size"] == [608, 448]
                       for r in requests)
            return [[Image.new("RGB", tuple(r.options["target_size"]), RED)] for r in requests]

    data, _ = make_fixture(tmp_path / "data", tasks=("material_alter",), cn=False)
    gedit = get_adapter("gedit")
    summary = run_benchmark(gedit, Recolour(), tmp_path / "run", source=str(data), split=None, limit=None,
                            batch_size=4, ctx=Context(judge=StandInJudge(sc_by_instruction("en"))),
                            bars=Bars(quiet=True))
    folder = tmp_path / "run/fullset/material_alter/en"
    assert sorted(p.name for p in folder.iterdir()) == ["material_alter_a.png", "material_alter_a_SRCIMG.png",
                                                        "material_alter_b.png", "material_alter_b_SRCIMG.png"]
    # both edits red (PQ 9); SC 4 (a) and 9 (b): O = 6 and sqrt(81) = 9
    assert summary.metrics["GEdit-EN G_O"] == pytest.approx(7.5) and summary.metrics["GEdit-EN G_PQ"] == 9.0
