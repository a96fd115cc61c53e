"""MMVP: reply parsing, the official answer key, pair accuracy, and `lvrpo score` end to end."""

from __future__ import annotations

import json
import time

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.mmvp import official_answer, parse_answer, parse_options
from lvrpo.types import Context, LvrpoError, Output, Sample, Score
from tests.util import run_cli

OPEN_CLOSED = parse_options("(a) Open (b) Closed")


def row(index: int, question: str = "Are the butterfly's wings closer to being open or closed?",
        options: str = "(a) Open (b) Closed", answer: str = "(a)") -> dict:
    """A row in the schema of the HF copy (spec §5): Index, Question, Options, Correct Answer, image."""
    return {"Index": index, "Question": question, "Options": options, "Correct Answer": answer, "image": None}


ELEPHANT = dict(question="Does the elephant have long or short tusks?", options="(a) Long (b) Short")
ELDERLY = dict(question="Is the elderly person standing or sitting in the picture?",
               options="(a) Standing (b) Sitting")


def test_parse_options():
    assert OPEN_CLOSED == {"a": "open", "b": "closed"}
    assert parse_options("(a) Facing  left (b) Facing right") == {"a": "facing left", "b": "facing right"}


@pytest.mark.parametrize("reply, expected", [
    ("a", "a"), ("(b)", "b"), ("B.", "b"), ("A", "a"), ("A. Open", "a"), ("b) Closed", "b"), ("(a) Open", "a"),
    ("The answer is B", "b"), ("Answer: b.", "b"), ("option (a)", "a"),
    ("(a) Open (b) Closed. The answer is (b).", "b"),  # options echoed, then a stated answer
    ("The wings are closed.", "b"),  # the option's text, as the official GPT grader accepts
    ("Open", "a"),  # lmms-eval reads no letter here and marks it wrong
    ("A butterfly with closed wings", "b"),  # article "A" is not option (a)
    ("the answer is a butterfly with closed wings", "b"),
    ("The wings are open or closed.", None),  # names both: no answer
    ("Closed, not open", None),
    ("I cannot tell.", None),
])
def test_parse_answer(reply, expected):
    assert parse_answer(reply, OPEN_CLOSED) == expected


def test_article_is_not_option_a():
    """Spec §5: lmms-eval's "any standalone A/B" rule reads the article in this reply as (a)."""
    options = parse_options("(a) Short (b) Long")
    assert parse_answer("The elephant has a long tusk", options) == "b"


def test_longer_option_wins_over_contained_one():
    assert parse_answer("The door is not open.", parse_options("(a) Open (b) Not open")) == "b"


@pytest.mark.parametrize("text", ["", "   \n", "x" * 1_000_000, "open " * 200_000 + "closed",
                                  bytes(range(256)).decode("latin-1") * 4000, "(a" * 300_000, "answer " * 200_000],
                         ids=["empty", "blank", "1MB", "1MB-both-options", "binary", "open-parens", "answer-words"])
def test_bad_outputs_are_unparsed_fast(text):
    adapter = get_adapter("mmvp")
    start = time.perf_counter()
    sc = adapter.score(Sample(id="1", row=row(1)), Output(id="1", text=text), Context())
    assert time.perf_counter() - start < 2.0
    assert sc.value == 0.0 and sc.parsed is None and sc.reason == "unparsed"


def test_answer_key_correction_only_for_the_known_bad_copy():
    # The lmms-lab-eval copy: 99 (b), 100 (a), 279 (b), 280 (a); official Questions.csv: (a), (b), (a), (b)
    # (tsb0601/MMVP issue #14 quotes rows 279/280 of Questions.csv; lmms-eval tasks/mmvp README lists all four).
    bad = {99: "(b)", 100: "(a)", 279: "(b)", 280: "(a)"}
    official = {99: "a", 100: "b", 279: "a", 280: "b"}
    for index, answer in bad.items():
        fields = ELEPHANT if index < 200 else ELDERLY
        assert official_answer(row(index, answer=answer, **fields)) == (official[index], True)
        # a copy that already holds the official key is left alone
        assert official_answer(row(index, answer=f"({official[index]})", **fields)) == (official[index], False)
    # other rows, and a row 99 that is not the elephant question, are never touched
    assert official_answer(row(98, answer="(b)", **ELEPHANT)) == ("b", False)
    assert official_answer(row(99, answer="(b)")) == ("b", False)


def test_group_is_the_pair():
    adapter = get_adapter("mmvp")
    groups = [adapter.group(Sample(id=str(i), row=row(i))) for i in (1, 2, 3, 99, 100, 299, 300)]
    assert groups == ["0", "0", "1", "49", "49", "149", "149"]


def test_request_uses_the_official_prompt():
    adapter = get_adapter("mmvp")
    r = row(1)
    r["image"] = {"bytes": _png_bytes(), "path": None}
    req = adapter.request(Sample(id="1", row=r))
    assert req.prompt == "Are the butterfly's wings closer to being open or closed? (a) Open (b) Closed"
    assert len(req.images) == 1 and req.kind == "understand"


def test_pair_accuracy_hand_worked():
    """3 complete pairs: both right, one right, both right -> 2/3 pairs; 6/7 questions right. The lone 7th
    question counts for question accuracy but is left out of the pair metric (with a note)."""
    adapter = get_adapter("mmvp")
    replies = {1: "(a)", 2: "(b)", 3: "(a)", 4: "(a)", 5: "Open", 6: "Closed", 7: "(a)"}
    golds = {1: "(a)", 2: "(b)", 3: "(a)", 4: "(b)", 5: "(a)", 6: "(b)", 7: "(a)"}
    scores = [adapter.score(Sample(id=str(i), row=row(i, answer=golds[i])), Output(id=str(i), text=replies[i]),
                            Context()) for i in range(1, 8)]
    assert [s.value for s in scores] == [1, 1, 1, 0, 1, 1, 1]
    summary = adapter.aggregate(scores)
    assert summary.headline == "MMVP"
    assert summary.metrics["MMVP"] == pytest.approx(100 * 2 / 3)
    assert summary.breakdown["question_accuracy"] == pytest.approx(100 * 6 / 7)
    assert summary.breakdown["pairs"] == 3 and summary.breakdown["pairs_correct"] == 2
    assert any("1 pairs" in n for n in summary.notes)
    # the summary can be rebuilt from stored scores alone
    again = adapter.aggregate([Score.from_json(json.loads(json.dumps(s.to_json()))) for s in scores])
    assert again.metrics == summary.metrics


def test_reward_is_question_correctness():
    adapter = get_adapter("mmvp")
    sample = Sample(id="2", row=row(2, answer="(b)"))
    assert adapter.reward(sample, Output(id="2", text="Closed"), Context()) == 1.0
    assert adapter.reward(sample, Output(id="2", text="(a)"), Context()) == 0.0
    assert adapter.reward(sample, Output(id="2", text=""), Context()) == 0.0


def test_malformed_rows_raise_naming_the_row():
    adapter = get_adapter("mmvp")
    with pytest.raises(LvrpoError, match="Index 7"):
        adapter.score(Sample(id="7", row=row(7, answer="maybe")), Output(id="7", text="a"), Context())
    with pytest.raises(LvrpoError, match="Index 'x'"):
        adapter.group(Sample(id="x", row=row("x")))  # type: ignore[arg-type]
    with pytest.raises(LvrpoError, match="Index 8"):
        adapter.score(Sample(id="8", row=row(8, answer="(c)")), Output(id="8", text="a"), Context())


def _png_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_score_cli_end_to_end(tmp_path):
    """`lvrpo score` on a local jsonl copy (official columns) that holds the lmms-lab-eval answers for 99/100
    and 279/280. The model answers those four as the official key says, and gets question 2 of pair (1, 2)
    wrong: 2/3 pairs and 5/6 questions (the copy's key would give 0/3 pairs and 1/6 questions)."""
    (tmp_path / "img.png").write_bytes(_png_bytes())
    rows = [row(1, answer="(a)"), row(2, answer="(b)"),
            row(99, answer="(b)", **ELEPHANT), row(100, answer="(a)", **ELEPHANT),
            row(279, answer="(b)", **ELDERLY), row(280, answer="(a)", **ELDERLY)]
    for r in rows:
        r["image"] = "img.png"
    data = tmp_path / "mmvp.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    replies = {1: "(a) Open", 2: "Open", 99: "(a) Long", 100: "The tusks are short.", 279: "Standing", 280: "B"}
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": str(i), "output": t}) + "\n" for i, t in replies.items()))
    res = run_cli("score", "--bench", "mmvp", "--predictions", str(preds), "--data", str(data), "--json",
                  "--out", str(tmp_path / "out"), check=True)
    summary = json.loads(res.stdout)
    assert summary["headline"] == "MMVP"
    assert summary["metrics"]["MMVP"] == pytest.approx(100 * 2 / 3)
    assert summary["breakdown"]["question_accuracy"] == pytest.approx(100 * 5 / 6)
    assert summary["breakdown"]["corrected_index"] == [99, 100, 279, 280]
    assert summary["n"] == 6 and summary["coverage"] == 1.0
    assert "lmms-lab-eval copy swaps" in res.stderr
    stored = [json.loads(line) for line in (tmp_path / "out" / "scores.jsonl").read_text().splitlines()]
    assert {s["id"]: s["target"] for s in stored}["99"] == "a"
