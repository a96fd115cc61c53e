"""MathVista: math reasoning in visual contexts; accuracy of the extracted, normalised answer.

Rules restated (not copied) from the official lupantech/MathVista repository @53d5258:
`evaluation/extract_answer.py` (answer extraction), `evaluation/prompts/ext_ans.py` (the LLM extractor's
demo prompt), `evaluation/calculate_score.py` (normalisation, `safe_equal`, breakdowns) and
`evaluation/build_query.py` (the query); see specs/understanding-benchmarks.md §3.

Unlike lmms-eval, `precision` is cast with `int()` before rounding (as the official scorer does), so float
items can be right. An empty extraction counts as no answer (the official `--ignore_empty_extractions`),
and the official `--quick_extract` rule is on, so that a bare letter or number needs no judge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from lvrpo.data import loads
from lvrpo.evals.base import Adapter, bad_cell, literal_list
from lvrpo.judges.base import JudgeError
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

# The hint sentences of the official query, by item type (build_query.py, shot_type "solution").
HINTS = {
    "multi_choice": "Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "integer": "Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, "
               "at the end.",
    "float1": "Please answer the question requiring a floating-point number with one decimal place and provide the "
              "final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "float2": "Please answer the question requiring a floating-point number with two decimal places and provide the "
              "final value, e.g., 1.23, 1.34, 1.45, at the end.",
    "list": "Please answer the question requiring a Python list as an answer and provide the final list, e.g., "
            "[1, 2, 3], [1.2, 1.3, 1.4], at the end.",
}

# The official LLM extractor's five worked examples (evaluation/prompts/ext_ans.py, `demo_prompt`): a prompt
# template, reproduced verbatim because the judge must see exactly what the official extractor saw.
DEMO_PROMPT = "\n\n".join([
    "Please read the following example. Then extract the answer from the model response and type it at the end "
    "of the prompt.",
    f"Hint: {HINTS['integer']}\nQuestion: Which number is missing?\n\n"
    "Model response: The number missing in the sequence is 14.\n\nExtracted answer: 14",
    f"Hint: {HINTS['float1']}\nQuestion: What is the fraction of females facing the camera?\n\n"
    "Model response: The fraction of females facing the camera is 0.6, which means that six out of ten females in "
    "the group are facing the camera.\n\nExtracted answer: 0.6",
    f"Hint: {HINTS['float2']}\nQuestion: How much money does Luca need to buy a sour apple candy and a "
    "butterscotch candy? (Unit: $)\n\n"
    "Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.\n\nExtracted answer: 1.45",
    f"Hint: {HINTS['list']}\nQuestion: Between which two years does the line  graph saw its maximum peak?\n\n"
    "Model response: The line graph saw its maximum peak between 2007 and 2008.\n\nExtracted answer: [2007, 2008]",
    f"Hint: {HINTS['multi_choice']}\nQuestion: What fraction of the shape is blue?\nChoices:\n(A) 3/11\n(B) 8/11\n"
    "(C) 6/11\n(D) 3/5\n\nModel response: The correct answer is (B) 8/11.\n\nExtracted answer: B",
])

# Keys of the official scores_*.json breakdowns, in its order (calculate_score.py, `target_keys`).
QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("integer", "float", "text", "list")
BREAKDOWN_KEYS = ("question_type", "answer_type", "language", "source", "category", "task", "context", "grade",
                  "skills")
METADATA_KEYS = ("language", "source", "category", "task", "context", "grade", "skills")
ANSWER_IS = 'The answer is "'
MAX_STORED = 4096  # characters of an extraction kept in scores.jsonl (it can be anything a model wrote)


def build_query(row: dict[str, Any]) -> str:
    """The official zero-shot query as the dataset's `query` column holds it: hint first, then
    "Question: ..." (with " (Unit: u)"), then "Choices:" with "(A) ..." lines; stripped at the end."""
    if row["question_type"] == "multi_choice":
        hint = HINTS["multi_choice"]
    elif row["answer_type"] == "float":
        hint = HINTS.get(f"float{_int_or_none(row.get('precision'))}")  # the official has hints for 1 and 2 only
    else:
        hint = HINTS.get(row["answer_type"])
    parts = [f"Hint: {hint}"] if hint else []
    parts.append(f"Question: {row['question']}" + (f" (Unit: {row['unit']})" if row.get("unit") else ""))
    if row.get("choices"):
        parts.append("\n".join(["Choices:", *(f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(row["choices"]))]))
    return "\n".join(parts).strip()


def query_of(row: dict[str, Any]) -> str:
    """The dataset's `query` when it has one, else the same text built from the row."""
    return row["query"] if isinstance(row.get("query"), str) and row["query"] else build_query(row)


def extraction_prompt(query: str, response: str) -> str:
    """The official LLM extractor's prompt: demo examples, the query, the response, "Extracted answer: "."""
    return f"{DEMO_PROMPT}\n\n{query}\n\n{response}\n\nExtracted answer: "


def _answer_is(response: str) -> str | None:
    """The official quick rule `The answer is "(.*)"\\.` with re.search, in linear time.

    `.` stops at a newline and `.*` is greedy, so the match is: the first occurrence of the prefix whose line
    still holds a `".` after it, up to the last `".` on that line. A backtracking regex is quadratic on long
    lines; this scan is not.
    """
    start = response.find(ANSWER_IS)
    while start >= 0:
        body = start + len(ANSWER_IS)
        line_end = response.find("\n", body)
        line_end = len(response) if line_end < 0 else line_end
        close = response.rfind('".', body, line_end)
        if close >= 0:
            return response[body:close]
        start = response.find(ANSWER_IS, line_end)  # later starts on the same line cannot match either
    return None


def rule_extract(response: str, row: dict[str, Any]) -> str | None:
    """The official rule-based extraction (extract_answer.py): "" for an empty response, the response itself
    when it is exactly a choice, `int()`/`float()` of the whole response for integer/float items, then the
    quick rule `The answer is "..."`. None when no rule applies (the official then asks the LLM)."""
    if response == "":
        return ""
    if row["question_type"] == "multi_choice" and response in (row.get("choices") or []):
        return response
    if row["answer_type"] == "integer":
        try:
            return str(int(response))
        except (ValueError, OverflowError):
            pass
    if row["answer_type"] == "float":
        try:
            return str(float(response))
        except (ValueError, OverflowError):
            pass
    return _answer_is(response)


def levenshtein(a: str, b: str) -> int:
    """Edit distance with unit costs (python-Levenshtein's `distance`, which the official scorer uses).

    Bit-parallel (Myers 1999, in Hyyrö's 2003 form): the longer string becomes a bit-vector and the loop runs
    over the shorter one, so a megabyte of text against a short choice takes milliseconds.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(a)
    if not b:
        return m
    codes = np.frombuffer(a.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    peq = {c: int.from_bytes(np.packbits(codes == ord(c), bitorder="little").tobytes(), "little") for c in set(b)}
    full, top = (1 << m) - 1, 1 << (m - 1)
    vp, vn, dist = full, 0, m
    for c in b:
        x = peq[c]
        d0 = ((((x & vp) + vp) ^ vp) | x | vn) & full
        hp = vn | (~(d0 | vp) & full)
        hn = d0 & vp
        dist += 1 if hp & top else -1 if hn & top else 0
        hp = ((hp << 1) | 1) & full
        hn = (hn << 1) & full
        vp = hn | (~(d0 | hp) & full)
        vn = hp & d0
    return dist


def normalize(extraction: Any, row: dict[str, Any]) -> str | None:
    """The official `normalize_extracted_answer`: a choice text for multiple choice (a letter "B" or "(B)" maps
    to its choice, anything else to the choice at least edit distance, first on ties); `str(int(float(x)))`
    for integers; `str(round(float(x), int(precision)))` for floats; `str(x)` for lists. None: no answer."""
    if row["question_type"] == "multi_choice":
        text = extraction.strip() if isinstance(extraction, str) else str(extraction)
        choices = [str(c) for c in row.get("choices") or []]
        if not text or not choices:  # official --ignore_empty_extractions
            return None
        letter = re.search(r"\(([a-zA-Z])\)", text)
        if letter:
            text = letter.group(1).upper()
        letters = [chr(ord("A") + i) for i in range(len(choices))]
        if text in letters:
            return choices[letters.index(text)]
        distances = [levenshtein(text, c) for c in choices]
        return choices[distances.index(min(distances))]
    if isinstance(extraction, str) and not extraction.strip():
        return None
    try:
        if row["answer_type"] == "integer":
            return str(int(float(extraction)))
        if row["answer_type"] == "float":
            return str(round(float(extraction), int(row.get("precision"))))
        if row["answer_type"] == "list":
            return str(extraction)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def _int_or_none(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError, OverflowError):
        return None


def _metadata(sample: Sample) -> dict[str, Any]:
    meta = sample.row.get("metadata") or {}
    if isinstance(meta, str):  # a local copy may hold the struct as JSON text
        try:
            meta = loads(meta, Path("metadata"), None)  # bounded depth: a RecursionError is a one-line error
        except LvrpoError:
            meta = None
    if not isinstance(meta, dict):
        raise LvrpoError(f"mathvista: sample {sample.id}: column 'metadata' is not a struct")
    return meta


class MathVista(Adapter):
    name = "mathvista"
    kind = "understand"
    hub_ids = ("AI4Math/MathVista",)
    splits = ("testmini", "test")
    default_split = "testmini"
    id_column = "pid"
    columns = ("question", "choices", "unit", "precision", "answer", "question_type", "answer_type", "metadata")
    request_columns = ("decoded_image",)
    answer_columns = ("answer",)
    needs_judge = False  # the judge (LLM extractor) is used when given; rules alone otherwise

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        samples = super().load(source, split, for_requests=for_requests)
        # test: answers are hidden, predictions go to the official submission file instead of a score
        self.local_score = (split or self.default_split) != "test"
        return samples

    def normalise(self, row: dict, where: str) -> dict:
        """The HF schema's types: `choices` a list of strings (stringified lists are read as literals), `answer`
        a string (ints and floats as the official text writes them; None on the hidden test split), `precision` a
        number or None, and the official question/answer types."""
        for column, valid in (("question_type", QUESTION_TYPES), ("answer_type", ANSWER_TYPES)):
            if row.get(column) not in valid:
                raise bad_cell(self.name, column, where, row.get(column), " or ".join(map(repr, valid)))
        choices = literal_list(self.name, "choices", where, row.get("choices"))
        if choices is not None and not all(isinstance(c, (str, int, float)) and not isinstance(c, bool)
                                           for c in choices):
            raise bad_cell(self.name, "choices", where, row.get("choices"), "a list of strings")
        row["choices"] = None if choices is None else [str(c) for c in choices]
        answer = row.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float, type(None))):
            raise bad_cell(self.name, "answer", where, answer, "a string")
        if isinstance(answer, float) and answer.is_integer() and row["answer_type"] == "integer":
            answer = int(answer)
        row["answer"] = answer if answer is None or isinstance(answer, str) else str(answer)
        precision = row.get("precision")
        if isinstance(precision, str) and precision.strip():
            try:
                precision = float(precision)
            except ValueError:
                raise bad_cell(self.name, "precision", where, precision, "a number") from None
        if isinstance(precision, bool) or not isinstance(precision, (int, float, type(None), str)):
            raise bad_cell(self.name, "precision", where, precision, "a number")
        row["precision"] = None if isinstance(precision, str) else precision
        return row

    def request(self, sample: Sample) -> Request:
        # 512 new tokens: the official generate_response.py default for local models
        return Request(id=sample.id, kind="understand", prompt=query_of(sample.row),
                       images=[sample.image("decoded_image")], max_new_tokens=512, bench=self.name)

    def extract(self, sample: Sample, output: Output, ctx: Context) -> tuple[Any, str]:
        """(extraction, how): a given `extraction` field, the official rules, or the judge as LLM extractor.
        `how` is "given" | "rule" | "judge" | "none" (rules failed and no judge). Raises JudgeError."""
        given = output.extra.get("extraction")
        # the official extract_answer.py keeps an existing extraction unless it is empty
        if given is not None and not (isinstance(given, str) and not given.strip()):
            return given, "given"
        response = output.text or ""
        extraction = rule_extract(response, sample.row)
        if extraction is not None:
            return extraction, "rule"
        if ctx.judge is None:
            return "", "none"
        reply = ctx.judge.complete(extraction_prompt(query_of(sample.row), response))
        return str(reply or "").strip(), "judge"  # the official client strips the reply

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        row = sample.row
        meta: dict[str, Any] = {"question_type": row["question_type"], "answer_type": row["answer_type"]}
        meta.update({k: _metadata(sample).get(k) for k in METADATA_KEYS})
        try:
            extraction, how = self.extract(sample, output, ctx)
        except JudgeError as e:
            if self.local_score:
                return Score(id=sample.id, value=None, target=row["answer"], meta=meta,
                             reason=f"unscored: answer extraction by the judge failed: {e}")
            extraction, how = "", f"judge failed: {e}"  # still listed in the submission file, unanswered
        prediction = normalize(extraction, row)
        meta.update(extraction=str(extraction)[:MAX_STORED], via=how)
        reason = "unparsed" if prediction is None else "ok"
        if not self.local_score:
            meta["submission"] = {**{k: v for k, v in row.items() if k != "decoded_image"},
                                  "query": query_of(row), "response": output.text or "",
                                  "extraction": extraction, "prediction": prediction}
            return Score(id=sample.id, value=None, parsed=prediction, reason="answer hidden (test split)", meta=meta)
        correct = prediction is not None and prediction == row["answer"]  # official safe_equal: plain ==
        return Score(id=sample.id, value=float(correct), parsed=prediction, target=row["answer"], reason=reason,
                     meta=meta)

    def aggregate(self, scores: list[Score]) -> Summary:
        def cell(rows: list[Score]) -> dict[str, Any]:
            correct = sum(s.value == 1 for s in rows)
            return {"accuracy": 100 * correct / len(rows), "correct": correct, "total": len(rows)}

        breakdown: dict[str, Any] = {"average": cell(scores)}
        for key in BREAKDOWN_KEYS:
            buckets: dict[str, list[Score]] = {}
            for s in scores:
                value = s.meta.get(key)
                values = dict.fromkeys(value or []) if key == "skills" else [value]  # a skill counts once
                for v in values:
                    if v is not None:
                        buckets.setdefault(str(v), []).append(s)
            cells = {v: cell(rows) for v, rows in buckets.items()}
            # sorted by accuracy, best first, as the official file is
            breakdown[key] = dict(sorted(cells.items(), key=lambda kv: kv[1]["accuracy"], reverse=True))
        unparsed = sum(s.reason == "unparsed" for s in scores)
        no_judge = sum(s.meta.get("via") == "none" for s in scores)
        breakdown["counts"] = {"unparsed": unparsed, "needed_judge": no_judge}
        notes = [f"{no_judge} answers needed the official LLM extractor but no judge was given; scored wrong "
                 "(pass --judge to extract them)"] if no_judge else []
        return Summary(bench=self.name, metrics={"MathVista": breakdown["average"]["accuracy"]},
                       headline="MathVista", breakdown=breakdown, n=len(scores), n_scored=len(scores), notes=notes)

    def artifacts(self, scores: list[Score]) -> dict[str, str | bytes]:
        """For the hidden-answer test split: the official output file (problem fields plus query, response,
        extraction, prediction, keyed by pid) to send to the MathVista maintainers."""
        if self.local_score:
            return {}
        entries = {s.id: s.meta["submission"] for s in scores if "submission" in s.meta}
        return {"output_test_submission.json": json.dumps(entries, ensure_ascii=False, indent=2)}


ADAPTER = MathVista
