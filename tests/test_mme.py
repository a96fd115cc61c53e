"""MME: the official yes/no rule, acc + acc+ per subtask, totals — and the published LaVIN totals, exactly."""

from __future__ import annotations

import json

import pytest

from lvrpo.evals.mme import MME, parse_yes_no
from lvrpo.types import Context, Output, Sample, Score
from tests.util import lavin_to_official_schema, run_cli


@pytest.mark.parametrize("text, parsed", [
    ("yes", "yes"), ("No", "no"), ("Yes.", "yes"), ("  no\n", "no"),
    ("Not at all", "no"),  # prefix rule: "not..." reads as no
    ("None of them", "no"),
    ("nope", "no"),
    ("yes, no", "yes"),  # "yes" is checked before "no"
    ("y", "other"),  # lmms-eval maps y/n; the official tool does not
    ("The answer is yes", "other"),  # only the first 4 characters count
    ("I think so", "other"),
    ("", "other"),
])
def test_official_yes_no_rule(text, parsed):
    assert parse_yes_no(text) == parsed


def _score(qid: str, category: str, answer: str, output: str, sid: str) -> Score:
    sample = Sample(id=sid, row={"question_id": qid, "question": "q", "answer": answer, "category": category})
    return MME().score(sample, Output(id=sid, text=output), Context())


def test_acc_plus_needs_both_questions_of_an_image():
    # existence: image a both right, image b one right -> acc 3/4 = 75, acc+ 1/2 = 50, score 125.
    # OCR: one image, yes right, no answered "other" -> acc 50, acc+ 0, score 50.
    # code_reasoning: both wrong -> 0.
    scores = [
        _score("existence/a.png", "existence", "Yes", "yes", "0"),
        _score("existence/a.png", "existence", "No", "no", "1"),
        _score("existence/b.png", "existence", "Yes", "yes", "2"),
        _score("existence/b.png", "existence", "No", "yes", "3"),
        _score("OCR/c.png", "OCR", "Yes", "Yes", "4"),
        _score("OCR/c.png", "OCR", "No", "maybe", "5"),
        _score("code_reasoning/d.png", "code_reasoning", "Yes", "no", "6"),
        _score("code_reasoning/d.png", "code_reasoning", "No", "yes", "7"),
    ]
    summary = MME().aggregate(scores)
    sub = summary.breakdown["subtasks"]
    assert (sub["existence"]["acc"], sub["existence"]["acc_plus"], sub["existence"]["score"]) == (75, 50, 125)
    assert (sub["OCR"]["acc"], sub["OCR"]["acc_plus"], sub["OCR"]["other"]) == (50, 0, 1)
    assert sub["code_reasoning"]["score"] == 0
    assert summary.metrics == {"MME-P": 175, "MME-C": 0, "MME-sum": 175}
    assert summary.headline == "MME-P"
    assert any("missing subtasks" in n for n in summary.notes)  # a partial set never passes silently


def test_request_uses_the_official_prompt(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    sample = Sample(id="0", row={"question_id": "color/x.png", "question": "Is it red? Please answer yes or no.",
                                 "answer": "Yes", "category": "color", "image": "x.png"}, base_dir=tmp_path)
    req = MME().request(sample)
    assert req.prompt == "Is it red?\nAnswer the question using a single word or phrase."
    assert len(req.images) == 1 and req.max_new_tokens == 16 and req.kind == "understand"


def test_reward_is_one_for_a_correct_answer():
    sample = Sample(id="0", row={"question_id": "a", "question": "q", "answer": "No", "category": "count"})
    assert MME().reward(sample, Output(id="0", text="No."), Context()) == 1.0
    assert MME().reward(sample, Output(id="0", text="Yes"), Context()) == 0.0


def test_published_lavin_outputs_reproduce_the_official_totals(refdata, tmp_path):
    expected = json.loads((refdata / "expected_scores.json").read_text())["mme"]
    data, preds = lavin_to_official_schema(refdata / "mme" / "eval_tool" / "LaVIN", tmp_path)
    res = run_cli("score", "--bench", "mme", "--predictions", str(preds), "--data", str(data), "--json", check=True)
    summary = json.loads(res.stdout)
    assert round(summary["metrics"]["MME-P"], 4) == expected["perception_total"] == 963.6114
    assert round(summary["metrics"]["MME-C"], 4) == expected["cognition_total"] == 249.6429
    assert round(summary["metrics"]["MME-P"], 1) == expected["perception_total_stated"]
    assert round(summary["metrics"]["MME-C"], 2) == expected["cognition_total_stated"]
    got = {task: round(v["score"], 2) for task, v in summary["breakdown"]["subtasks"].items()}
    assert got == expected["subtasks"]
    assert summary["n"] == 2374 and summary["coverage"] == 1.0
