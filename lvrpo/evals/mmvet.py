"""MM-Vet: 218 open questions graded 0.0-1.0 by an LLM against the gold answer; total = mean score x 100.

Rules from the official `yuweihao/MM-Vet` (`mm-vet_evaluator.py` and `mm-vet_evaluator.ipynb` @acde843):
the few-shot grader prompt, the judge settings (max 3 tokens), the reply read as the float of its first
space-separated token in [0, 1], the re-ask with a "(digit)" suffix for at most 5 readings, and the breakdown
by capability and by capability integration, rounded to 1 decimal. See specs/understanding-benchmarks.md §4.
"""

from __future__ import annotations

import math

import numpy as np

from lvrpo.evals.base import Adapter, fields_of
from lvrpo.judges.base import JudgeError
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

# The grader prompt, verbatim: it is the judge's input, so any change of wording changes the scores.
GRADER_PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""  # noqa: E501
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "  # appended on every re-ask (official)
MAX_TRIES = 5  # readings of a reply before giving up (official: the 5th failed reading ends the loop)
JUDGE_MAX_TOKENS = 3  # official gpt-4-0613 setting
# Official temperature of each call: 0 for the first ask and the first re-ask, then +0.5 per re-ask.
TEMPERATURES = (0.0, 0.0, 0.5, 1.0, 1.5)
MAX_PREDICTION_CHARS = 20_000  # far above a 1024-token answer; a longer one is cut, not sent whole to the judge

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")  # the official column order (most common first)
# Integration column names exactly as the official notebook printed them (their order came from Python set
# iteration, so no sort rule reproduces all 16); any other combination is joined in CAPABILITIES order.
OFFICIAL_INTEGRATIONS = {frozenset(n.split("_")): n for n in (
    "rec_know_gen", "rec", "ocr_spat", "ocr_spat_math", "rec_spat", "ocr", "ocr_math", "rec_know",
    "ocr_rec_know_gen", "ocr_rec_spat_gen", "ocr_rec_spat", "ocr_rec", "ocr_spat_know", "rec_spat_know",
    "ocr_spat_gen", "ocr_rec_spat_math")}


def grader_prompt(question: str, answer: str, prediction: str) -> str:
    """The official grading prompt: the few-shot table, a blank line, then `question | gold | prediction | `."""
    gold = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    return GRADER_PROMPT + "\n" + " | ".join([question, gold, prediction, ""])


def parse_grade(reply: str) -> float | None:
    """The official reading: the float of the reply's first space-separated token, if it lies in [0, 1].

    Only " " separates tokens, as in the official code, so a reply with a leading space does not parse.
    NaN and infinities (which `float` accepts) are rejected.
    """
    token = str(reply).split(" ", 1)[0].strip()
    try:
        value = float(token)
    except ValueError:
        return None
    return value + 0.0 if math.isfinite(value) and 0.0 <= value <= 1.0 else None  # -0.0 reads as 0.0


def capabilities(row: dict) -> list[str]:
    """The row's capability set, from "rec,know,gen" (HF copy) or a list (official json)."""
    raw = row["capability"]
    items = raw if isinstance(raw, (list, tuple)) else str(raw or "").split(",")
    caps = list(dict.fromkeys(str(c).strip() for c in items if str(c).strip()))
    if not caps:
        raise LvrpoError(f"mmvet: question {row.get('question_id')!r}: empty capability {raw!r}")
    return caps


def integration_name(caps: list[str]) -> str:
    """The official column name of a capability combination."""
    key = frozenset(caps)
    order = {c: i for i, c in enumerate(CAPABILITIES)}
    return OFFICIAL_INTEGRATIONS.get(key) or "_".join(sorted(key, key=lambda c: (order.get(c, len(order)), c)))


def official_round(x: float) -> float:
    """Rounded to 1 decimal as the official table does (NumPy rounding of a float64)."""
    return float(np.round(np.float64(x), 1))


class MMVet(Adapter):
    name = "mmvet"
    kind = "understand"
    hub_ids = ("lmms-lab/MMVet", "lmms-lab-encoder/MMVet")  # moved on 2026-07-30; content presumed identical
    splits = ("test",)
    default_split = "test"
    id_column = "question_id"  # "v1_0".."v1_217", the keys of the official result files
    columns = ("question_id", "question", "answer", "capability")
    request_columns = ("image",)
    answer_columns = ("answer", "capability")
    needs_judge = True

    def request(self, sample: Sample) -> Request:
        images = [sample.image("image")] if sample.row.get("image") is not None else []
        # The raw question, as the official protocol (lmms-eval prepends a step-by-step pre-prompt).
        return Request(id=sample.id, kind="understand", prompt=str(sample.row["question"]), images=images,
                       max_new_tokens=1024, bench=self.name)

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        caps = capabilities(sample.row)
        answer = str(sample.row["answer"])
        meta = {"capabilities": caps, "integration": integration_name(caps)}
        prediction = output.text or ""
        if not prediction.strip():  # nothing to grade: no judge call, scored wrong
            return Score(id=sample.id, value=0.0, target=answer, reason="unparsed: empty output", meta=meta)
        if ctx.judge is None:
            return Score(id=sample.id, value=None, target=answer, reason="unscored: no judge", meta=meta)
        reason = "ok"
        if len(prediction) > MAX_PREDICTION_CHARS:
            prediction, reason = prediction[:MAX_PREDICTION_CHARS], f"ok (prediction cut to {MAX_PREDICTION_CHARS})"
        prompt = grader_prompt(str(sample.row["question"]), answer, prediction)
        replies: list[str] = []
        meta["judge_replies"] = replies
        for attempt in range(MAX_TRIES):
            try:
                reply = ctx.judge.complete(prompt if attempt == 0 else prompt + RETRY_SUFFIX,
                                           max_tokens=JUDGE_MAX_TOKENS, temperature=TEMPERATURES[attempt],
                                           attempt=attempt)
            except JudgeError as e:
                return Score(id=sample.id, value=None, target=answer, reason=f"unscored: judge error: {e}",
                             meta=meta)
            replies.append(reply)
            grade = parse_grade(reply)
            if grade is not None:
                return Score(id=sample.id, value=grade, parsed=reply, target=answer, reason=reason, meta=meta)
        return Score(id=sample.id, value=None, parsed=replies[-1], target=answer,
                     reason=f"unscored: judge reply not a score after {MAX_TRIES} tries", meta=meta)

    def aggregate(self, scores: list[Score]) -> Summary:
        total = sum(s.value for s in scores) / len(scores) * 100
        by_cap: dict[str, list[float]] = {}
        for s in scores:
            for c in s.meta["capabilities"]:
                by_cap.setdefault(c, []).append(s.value)
        order = [c for c in CAPABILITIES if c in by_cap] + sorted(c for c in by_cap if c not in CAPABILITIES)
        caps = {c: official_round(sum(by_cap[c]) / len(by_cap[c]) * 100) for c in order}
        groups = sorted(fields_of(scores, "integration").items(), key=lambda kv: -len(kv[1]))  # official: by count
        integrations = {name: official_round(sum(s.value for s in g) / len(g) * 100) for name, g in groups}
        breakdown = {"capabilities": caps, "integrations": integrations, "total_unrounded": total,
                     "n_per_capability": {c: len(by_cap[c]) for c in order},
                     "n_per_integration": {name: len(g) for name, g in groups}}
        return Summary(bench=self.name, metrics={"MM-Vet": official_round(total)}, headline="MM-Vet",
                       breakdown=breakdown, n=len(scores), n_scored=len(scores),
                       notes=["one grading run; the paper averages 5 (judge model must match to compare)"])


ADAPTER = MMVet
