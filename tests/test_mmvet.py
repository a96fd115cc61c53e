"""MM-Vet: the official grader prompt and reply reading, retries, unscored samples, and the breakdowns."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lvrpo.evals import get_adapter
from lvrpo.evals.mmvet import (
    CAPABILITIES,
    GRADER_PROMPT,
    MAX_TRIES,
    RETRY_SUFFIX,
    grader_prompt,
    integration_name,
    official_round,
    parse_grade,
)
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.runner import score, summarize
from lvrpo.types import Context, Output, Sample
from tests.util import run_cli


class StandInJudge(Judge):
    """Deterministic replies: a fixed list (the last one repeats), or a function of the prompt."""

    name = "stand-in"

    def __init__(self, replies):
        self.replies, self.calls = replies, []

    def complete(self, prompt, images=None, *, max_tokens=512, **_):
        self.calls.append((prompt, max_tokens))
        if callable(self.replies):
            return self.replies(prompt)
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply


def row(qid: str, capability: str = "rec", question: str = "What is x in the equation?",
        answer: str = "-1<AND>-5") -> dict:
    """A row in the HF schema (spec §4): question_id, image, question, answer, capability (comma list)."""
    return {"question_id": qid, "image": None, "question": question, "answer": answer, "capability": capability}


def test_grader_prompt_is_the_official_layout():
    p = grader_prompt("What is x in the equation?", "-1<AND>-5", "x = 3")
    assert p.startswith("Compare the ground truth and prediction from AI models, to give a correctness score")
    assert "Just complete the last space of the correctness score.\n\nQuestion | Ground truth | Prediction | " \
           "Correctness\n--- | --- | --- | ---\n" in p
    assert GRADER_PROMPT.count(" | 0.5\n") == 3 and GRADER_PROMPT.count(" | 1.0\n") == 2
    assert " | 0.4\n" in GRADER_PROMPT and " | 0.0\n" in GRADER_PROMPT
    # the few-shot table, a blank line, then the row to grade with its last cell left open; <AND>/<OR> padded
    assert p.endswith("| 1.0\n\nWhat is x in the equation? | -1 <AND> -5 | x = 3 | ")
    assert grader_prompt("Q", "a<OR>b", "p").endswith("\nQ | a <OR> b | p | ")


@pytest.mark.parametrize("reply, expected", [
    ("0.5", 0.5), ("1.0", 1.0), ("0", 0.0), ("1", 1.0), ("0.3 because", 0.3), ("0.8\n", 0.8), ("\n0.2", 0.2),
    ("1.1", None), ("-0.1", None), ("nan", None), ("inf", None), ("", None), ("Correctness: 0.5", None),
    (" 0.5", None),  # the official split on " " leaves an empty first token
    ("0.3\nbecause", None),  # ... and no split on newlines
])
def test_parse_grade_hand_cases(reply, expected):
    assert parse_grade(reply) == expected


def test_judge_number_first_try():
    judge = StandInJudge(["0.7"])
    sc = get_adapter("mmvet").score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x = -1"),
                                    Context(judge=judge))
    assert sc.value == pytest.approx(0.7) and sc.reason == "ok" and sc.parsed == "0.7"
    assert len(judge.calls) == 1
    prompt, max_tokens = judge.calls[0]
    assert prompt == grader_prompt("What is x in the equation?", "-1<AND>-5", "x = -1") and max_tokens == 3


def test_non_number_then_number_reasks_with_the_digit_suffix():
    judge = StandInJudge(["Sure", "0.4"])
    sc = get_adapter("mmvet").score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x = -1"),
                                    Context(judge=judge))
    assert sc.value == pytest.approx(0.4)
    assert [len(c[0]) for c in judge.calls][1] == len(judge.calls[0][0]) + len(RETRY_SUFFIX)
    assert judge.calls[1][0].endswith(" | x = -1 | \nPredict the correctness of the answer (digit): ")
    assert sc.meta["judge_replies"] == ["Sure", "0.4"]


def test_garbage_forever_is_unscored_never_zero():
    judge = StandInJudge(["I think it is right"])
    adapter = get_adapter("mmvet")
    sc = adapter.score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x = -1"), Context(judge=judge))
    assert sc.value is None and sc.reason.startswith("unscored: ")
    assert len(judge.calls) == MAX_TRIES == 5
    assert adapter.reward(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x = -1"),
                          Context(judge=StandInJudge(["??"]))) is None


def test_reasks_follow_the_official_temperature_schedule():
    """Official loop: first ask and first re-ask at 0, then +0.5 per re-ask; sent only to judges that take it."""
    seen = []

    class TemperatureJudge(StandInJudge):
        def complete(self, prompt, images=None, *, max_tokens=512, temperature=0.0, **_):
            seen.append(temperature)
            return super().complete(prompt, images, max_tokens=max_tokens)

    sc = get_adapter("mmvet").score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x"),
                                    Context(judge=TemperatureJudge(["no idea"])))
    assert sc.value is None and seen == [0.0, 0.0, 0.5, 1.0, 1.5]


def test_judge_error_is_unscored():
    judge = StandInJudge([JudgeError("HTTP 500 after 3 retries")])
    sc = get_adapter("mmvet").score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text="x"),
                                    Context(judge=judge))
    assert sc.value is None and sc.reason == "unscored: judge error: HTTP 500 after 3 retries"


def test_unscored_samples_lower_coverage_in_summarize():
    """Three samples, the judge never gives a number for v1_2: it is left out of the score, not counted 0."""
    adapter = get_adapter("mmvet")
    samples = [Sample(id=q, row=row(q)) for q in ("v1_0", "v1_1", "v1_2")]
    outputs = {s.id: Output(id=s.id, text=f"answer {s.id}") for s in samples}
    judge = StandInJudge(lambda p: "banana" if "answer v1_2" in p else ("1.0" if "answer v1_0" in p else "0.5"))
    summary = summarize(adapter, score(adapter, samples, outputs, Context(judge=judge)))
    assert summary.n == 3 and summary.n_scored == 2 and summary.coverage == pytest.approx(2 / 3)
    assert summary.metrics["MM-Vet"] == 75.0  # (1.0 + 0.5) / 2 x 100
    assert any(n.startswith("unscored: 1 × unscored: judge reply not a score") for n in summary.notes)


def test_capability_and_integration_breakdown_hand_worked():
    """Per capability: mean over items holding it (an item counts in each of its capabilities); per
    integration: exact set match; both x100 to 1 decimal. Hand-worked:
      v1_0 rec,know,gen 1.0 | v1_1 rec 0.0 | v1_2 rec 0.0 | v1_3 ocr,math 0.0 | v1_4 ocr 1.0 | v1_5 math,ocr 0.5
    total 2.5/6 = 41.666.. -> 41.7; rec 1/3 -> 33.3; ocr 1.5/3 -> 50.0; know 100; gen 100; math 0.5/2 -> 25.0;
    integrations: rec 0/2 -> 0.0, ocr_math 0.5/2 -> 25.0, rec_know_gen 100.0, ocr 100.0."""
    adapter = get_adapter("mmvet")
    items = [("v1_0", "rec,know,gen", "1.0"), ("v1_1", "rec", "0.0"), ("v1_2", "rec", "0"),
             ("v1_3", "ocr,math", "0.0"), ("v1_4", "ocr", "1"), ("v1_5", "math, ocr", "0.5")]
    scores = [adapter.score(Sample(id=q, row=row(q, capability=c)), Output(id=q, text="p"),
                            Context(judge=StandInJudge([g]))) for q, c, g in items]
    s = adapter.aggregate(scores)
    assert s.headline == "MM-Vet" and s.metrics == {"MM-Vet": 41.7}
    assert s.breakdown["capabilities"] == {"rec": 33.3, "ocr": 50.0, "know": 100.0, "gen": 100.0, "math": 25.0}
    assert list(s.breakdown["capabilities"]) == ["rec", "ocr", "know", "gen", "math"]  # official column order
    assert s.breakdown["integrations"] == {"rec": 0.0, "ocr_math": 25.0, "rec_know_gen": 100.0, "ocr": 100.0}
    assert list(s.breakdown["integrations"])[:2] == ["rec", "ocr_math"]  # most items first, as the official
    assert s.breakdown["n_per_capability"] == {"rec": 3, "ocr": 3, "know": 1, "gen": 1, "math": 2}


def test_official_rounding_and_names():
    # The official tables print round(np.float64, 1), i.e. NumPy rounding, which differs from Python's
    # correctly rounded round() at values such as 0.35 (stored as 0.34999999999999997780; NumPy scales it by 10
    # to exactly 3.5 and rounds half to even).
    assert official_round(0.35) == 0.4 and round(0.35, 1) == 0.3
    assert official_round(0.05) == 0.0 and round(0.05, 1) == 0.1
    for x in (33.349999, 33.35, 0.05, 99.95, 41.666666):
        assert official_round(x) == float(round(np.float64(x), 1))
    # integration names as the official notebook printed them; capability columns in its order
    assert integration_name(["rec", "ocr"]) == "ocr_rec"
    assert integration_name(["know", "rec", "gen"]) == "rec_know_gen"
    assert integration_name(["math", "gen"]) == "gen_math"  # not among the 16: canonical order


def test_reference_output_file_matches_the_adapter_conventions(refdata):
    """The official example input (llava_llama2_13b_chat.json, 218 outputs keyed by question_id) and its stored
    notebook result (capability columns rec, ocr, know, gen, spat, math; total 33.3)."""
    preds = json.loads((refdata / "mmvet/llava_llama2_13b_chat.json").read_text())
    assert sorted(preds, key=lambda k: int(k[3:])) == [f"v1_{i}" for i in range(218)]
    expected = json.loads((refdata / "expected_scores.json").read_text())["mmvet"]
    table = expected["notebook_single_run_gpt-4-0613"]
    assert tuple(k for k in table if k not in ("total", "std", "runs")) == CAPABILITIES
    # every real output goes into the grader prompt verbatim, as the last row's prediction cell
    adapter, judge = get_adapter("mmvet"), StandInJudge(["1.0"])
    samples = [Sample(id=q, row=row(q)) for q in preds]
    scores = score(adapter, samples, {q: Output(id=q, text=t) for q, t in preds.items()}, Context(judge=judge))
    graded = [p for p, _ in judge.calls]
    assert len(graded) == sum(bool(t.strip()) for t in preds.values())
    asked = [q for q in preds if preds[q].strip()]
    assert all(p.endswith(f" | {preds[q]} | ") for p, q in zip(graded, asked, strict=True))
    assert summarize(adapter, scores).coverage == 1.0


@pytest.mark.parametrize("text", ["", " \n ", "y" * 1_000_000, bytes(range(256)).decode("latin-1") * 4000],
                         ids=["empty", "blank", "1MB", "binary"])
def test_bad_outputs_no_crash_fast(text):
    adapter, judge = get_adapter("mmvet"), StandInJudge(["0.0"])
    start = time.perf_counter()
    sc = adapter.score(Sample(id="v1_0", row=row("v1_0")), Output(id="v1_0", text=text), Context(judge=judge))
    assert time.perf_counter() - start < 2.0
    assert sc.value == 0.0
    if not text.strip():
        assert sc.reason.startswith("unparsed") and judge.calls == []  # nothing to grade: no judge call
    else:
        assert len(judge.calls) == 1 and len(judge.calls[0][0]) < len(GRADER_PROMPT) + 25_000


def test_score_cli_without_judge_fails_clearly(tmp_path):
    data = tmp_path / "mmvet.jsonl"
    data.write_text(json.dumps(row("v1_0")) + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "v1_0", "output": "x = -1"}) + "\n")
    res = run_cli("score", "--bench", "mmvet", "--predictions", str(preds), "--data", str(data), "--json")
    assert res.returncode != 0
    assert "mmvet needs a judge" in res.stderr and "--judge" in res.stderr
    assert res.stdout.strip() == ""


def test_local_copy_loads_in_the_official_schema(tmp_path):
    data = tmp_path / "mmvet.jsonl"
    data.write_text("".join(json.dumps(row(f"v1_{i}", capability="ocr,spat")) + "\n" for i in range(3)))
    samples = get_adapter("mmvet").load(str(data), for_requests=False)
    assert [s.id for s in samples] == ["v1_0", "v1_1", "v1_2"]
    req = get_adapter("mmvet").request(samples[0])
    assert req.prompt == "What is x in the equation?" and req.images == []  # the raw question, no pre-prompt
