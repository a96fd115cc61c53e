"""MMMU: college-level multimodal questions in 30 subjects (validation 900, dev 150, test 10,500 hidden).

Prompt and images as lmms-eval's `mmmu_val` default; parsing and scoring as the OFFICIAL scripts of
`MMMU-Benchmark/MMMU` (`mmmu/utils/eval_utils.py`, `mmmu/main_parse_and_eval.py`, `mmmu/main_eval_only.py`,
subject/discipline tables in `mmmu/utils/data_utils.py`), restated here, not copied. See
specs/understanding-benchmarks.md §2. Where lmms-eval departs (its `X␠` rule, its extra `X.` rule, its open-question
bug that scores every open answer wrong), the official behaviour wins.

A predictions line may carry `parsed_pred` (the official eval-only stage, as `total_val_output.json`): a letter is
then used as given and an open answer re-parsed, as `main_eval_only.py` does.
"""

from __future__ import annotations

import ast
import json
import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from lvrpo.evals.base import Adapter, fields_of
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

# The official subject order (CAT_SHORT2LONG): the order the official script parses in, hence its RNG order.
DISCIPLINES: dict[str, tuple[str, ...]] = {  # DOMAIN_CAT2SUB_CAT
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
SUBJECTS = tuple(sorted(s for subs in DISCIPLINES.values() for s in subs))  # == CAT_SHORT2LONG's order

MC_PROMPT = "Answer with the option's letter from the given choices directly."
OPEN_PROMPT = "Answer the question using a single word or phrase."
FALLBACK_SEED = 42  # eval_utils.py seeds the global RNG with 42 at import
MAX_CHARS = 100_000  # ~25k tokens; longer text is a degenerate output (128 new tokens are asked for)
IMAGE_TAG = re.compile(r"<image (\d+)>")

# ----------------------------------------------------------------------------------------------- data


def parse_options(raw: Any, sid: str) -> list[str]:
    """The `options` column: a string holding a Python list literal (HF), or an actual list (local JSON)."""
    value = raw
    if isinstance(raw, str):
        try:
            value = ast.literal_eval(raw)  # dataset text, never model output
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise LvrpoError(f"mmmu: sample {sid}: `options` is not a Python list literal ({type(e).__name__}): "
                             f"{raw[:80]!r}") from None
    if not isinstance(value, (list, tuple)):
        raise LvrpoError(f"mmmu: sample {sid}: `options` must hold a list, got {type(value).__name__}")
    return [str(o) for o in value]


def parse_gold(raw: Any) -> str | list[str]:
    """The `answer` column. Three validation open answers are list literals in the string, e.g.
    `"['$MgS$', 'MgS']"` (official answer_dict_val.json has them as lists): any member is accepted."""
    if isinstance(raw, (list, tuple)):
        return [str(a) for a in raw]
    text = str(raw)
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return text  # looks like a list but is not one, e.g. an interval "[0, 5]"-like text
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return text


def subject_of(sid: str) -> str:
    """`validation_Art_Theory_12` -> `Art_Theory` (main_eval_only.py groups by the same split)."""
    return "_".join(sid.split("_")[1:-1]) or "unknown"


def is_multiple_choice(row: dict[str, Any]) -> bool:
    return row.get("question_type") == "multiple-choice"  # official: anything else is open ("open", "short-answer")


def degenerate(text: str) -> bool:
    """Empty, absurdly long, or mostly control/replacement characters (binary garbage): no answer to parse."""
    if not text.strip() or len(text) > MAX_CHARS:
        return True
    junk = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and not ch.isspace()))
    return junk > 0.1 * len(text)


# ---------------------------------------------------------------------------- multiple-choice parsing


def mc_pick(response: str, choices: list[str], index2ans: dict[str, str]) -> str | None:
    """The official rules, first that yields candidates: `(X)`; ` X ` (spaces both sides: "DNA " is no "A");
    option text (case-insensitive) when the response has more than 5 tokens. Several candidates: the one
    found latest in the response (first in option order on a tie, as numpy argmax). None: no candidate
    (the caller applies the official random fallback)."""
    for ch in (",", ".", "!", "?", ";", ":", "'"):  # one character at a time, in this order, as the original
        response = response.strip(ch)
    padded = f" {response} "
    cands = [c for c in choices if f"({c})" in padded]
    if cands:
        pos = [padded.rfind(f"({c})") for c in cands]
    else:
        cands = [c for c in choices if f" {c} " in padded]
        pos = [padded.rfind(f" {c} ") for c in cands]
    if not cands and len(padded.split()) > 5:
        low = padded.lower()
        cands = [k for k, ans in index2ans.items() if ans.lower() in low]
        pos = [low.rfind(index2ans[k].lower()) for k in cands]
    if not cands:
        return None
    return cands[pos.index(max(pos))]


def eval_mc(gold: str | list[str], pred: Any) -> bool:
    return pred in gold if isinstance(gold, list) else pred == gold


# ------------------------------------------------------------------------------------- open parsing

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
# The official three number patterns, each with `(?<!\d)` before a leading \d: a start inside a digit run can
# never match where the run's start did not (nor is it reached when it did), so the matches are the same, but
# findall no longer rescans every suffix of a long digit run (quadratic on "1111...").
_NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCI = re.compile(r"-?(?<!\d)\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_SIMPLE = re.compile(r"-?(?:(?<!\d)\d+\.\d+|\.\d+|(?<!\d)\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def extract_numbers(text: str) -> list[str]:
    """Comma-grouped, scientific and plain numbers in `text` (official `extract_numbers`)."""
    return _NUM_COMMAS.findall(text) + _NUM_SCI.findall(text) + _NUM_SIMPLE.findall(text)


def normalize(text: str) -> list[Any]:
    """Official `normalize_str`: a number (commas dropped, Python float syntax) -> [float rounded to 2];
    else lower-cased; a single character c -> [" c", "c "] so it only matches as a word edge."""
    text = text.strip()
    try:
        return [round(float(text.replace(",", "")), 2)]
    except ValueError:
        pass
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


def key_answers(response: str) -> list[str]:
    """Per line, the shortest tail after an answer indicator ("is ", "so ", "answer ", ...; "=" on the last
    line too); the whole lower-cased response when no line has one. Official `get_key_subresponses`:
    its sentence split on ". " before a capital never fires after lower-casing, so only newlines split."""
    text = response.strip().strip(".").lower()
    lines = text.split("\n")
    tails = []
    for i, line in enumerate(lines):
        keys = _INDICATORS + ("=",) if i == len(lines) - 1 else _INDICATORS
        best: str | None = None
        for key in keys:
            if key in line:
                tail = line.rsplit(key, 1)[-1].strip()
                if not best or len(tail) < len(best):  # an empty tail is replaced by any later one, as official
                    best = tail
        if best and best not in _TRIVIAL:
            tails.append(best)
    return tails or [text]


def parse_open(response: str) -> list[Any]:
    """Official `parse_open_response`: key answers plus every number in them, normalised, de-duplicated."""
    tails = key_answers(response)
    raw = tails + [n for t in tails for n in extract_numbers(t)]
    return list(dict.fromkeys(v for r in raw for v in normalize(r)))


def eval_open(gold: str | list[str], preds: list[Any]) -> bool:
    """Official `eval_open`: a float candidate equal to a normalised gold number, or a string candidate that
    contains a normalised gold string; a list gold is matched on any member."""
    answers = [a for g in (gold if isinstance(gold, list) else [gold]) for a in normalize(str(g))]
    for p in preds:
        if isinstance(p, str):
            if any(isinstance(a, str) and a in p for a in answers):
                return True
        elif p in answers:
            return True
    return False


# -------------------------------------------------------------------------------------------- adapter

Draw = Callable[[list[str]], str]


class MMMU(Adapter):
    """Per-sample scores are official except one documented point: the official random fallback draws from
    ONE RNG seeded 42 in scoring order. `lvrpo score` over the full split in the HF order (subjects in
    CAT_SHORT2LONG order, ids ascending) reproduces the official script's draws exactly; a resumed run draws
    a fresh (still deterministic) sequence for the samples scored after the resume."""

    name = "mmmu"
    kind = "understand"
    hub_ids = ("lmms-lab/MMMU", "lmms-lab-encoder/MMMU")  # moved on 2026-07-30; content presumed identical
    splits = ("validation", "dev", "test")
    default_split = "validation"
    id_column = "id"
    columns = ("question_type", "options", "answer")
    request_columns = ("question",)
    answer_columns = ("answer",)

    def __init__(self, variant: str | None = None):
        super().__init__(variant)
        self.split = self.default_split
        self._rng = random.Random(FALLBACK_SEED)
        self._draws = 0

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        samples = super().load(source, split, for_requests=for_requests)
        self.split = split or self.default_split
        self.local_score = self.split != "test"  # test answers are hidden: EvalAI submission file instead
        return samples

    def request(self, sample: Sample) -> Request:
        """lmms-eval `mmmu_val` default prompt; images: every `image_k` cited by an `<image k>` tag in the question
        or the options, sorted by k (tags stay in the text). `options["interleave"]` lists the k in order of first
        citation so a chat backend can place each image at its tag."""
        row = sample.row
        question = str(row["question"])
        if is_multiple_choice(row):
            options = parse_options(row["options"], sample.id)
            lettered = "\n".join(f"{chr(ord('A') + i)}. {o}" for i, o in enumerate(options))
            prompt = f"{question}\n{lettered}\n\n{MC_PROMPT}"
        else:
            prompt = f"{question}\n\n{OPEN_PROMPT}"
        cited = [int(k) for k in IMAGE_TAG.findall(prompt)]  # lmms-eval scans the built prompt: question+options
        interleave = list(dict.fromkeys(cited))
        keys = sorted(interleave)
        images = [sample.image(f"image_{k}").convert("RGB") for k in keys]
        return Request(id=sample.id, kind="understand", prompt=prompt, images=images, max_new_tokens=128,
                       options={"image_keys": keys, "interleave": interleave, "image_tag": "<image {k}>"},
                       bench=self.name)

    def _draw(self, choices: list[str]) -> str:
        self._draws += 1
        return self._rng.choice(choices)

    def _judge(self, sample: Sample, output: Output, draw: Draw | None) -> Score:
        row, sid = sample.row, sample.id
        mc = is_multiple_choice(row)
        meta: dict[str, Any] = {"subject": subject_of(sid), "question_type": "multiple-choice" if mc else "open"}
        reason = "ok"
        if "parsed_pred" in output.extra:  # an already-parsed prediction: the official eval-only stage
            given = output.extra["parsed_pred"]
            meta["submit"] = given
            if mc:
                parsed: Any = given
            else:  # main_eval_only re-parses open answers; a list (lmms-eval logs) is parsed member by member
                parsed = list(dict.fromkeys(v for g in (given if isinstance(given, list) else [given])
                                            for v in parse_open(str(g))))
        else:
            text = output.text or ""
            bad = degenerate(text)
            if mc:
                options = parse_options(row["options"], sid)
                if not options:
                    raise LvrpoError(f"mmmu: sample {sid}: multiple-choice question with no options")
                choices = [chr(ord("A") + i) for i in range(len(options))]
                parsed = None if bad else mc_pick(text, choices, dict(zip(choices, options, strict=True)))
                if parsed is None:
                    reason = "unparsed"
                    meta.update(fallback=True, seed=FALLBACK_SEED)
                    if draw is not None:
                        guess = draw(choices)  # drawn even for degenerate output, so later draws stay official
                        meta["draw"] = self._draws
                        # empty/garbage output is wrong, never credited by luck; otherwise the official guess
                        parsed = None if bad else guess
                meta["submit"] = parsed
            else:
                parsed = [] if bad else parse_open(text)
                reason = "unparsed" if bad else "ok"
                meta["submit"] = "" if bad else text
        if not self.local_score:
            return Score(id=sid, value=None, parsed=parsed, reason="answer hidden (test split): submit the file",
                         meta=meta)
        gold = parse_gold(row["answer"])
        if mc:
            correct = parsed is not None and eval_mc(gold, parsed)
        else:
            correct = eval_open(gold, parsed)
        return Score(id=sid, value=float(correct), parsed=parsed, target=gold, reason=reason, meta=meta)

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        return self._judge(sample, output, self._draw)

    def reward(self, sample: Sample, output: Output, ctx: Context) -> float | None:
        """1.0 when the model's own answer is correct. An unparsed multiple-choice answer earns 0.0 instead of the
        official random guess: a training signal should not pay for luck (and this keeps the scoring RNG intact)."""
        value = self._judge(sample, output, None).value
        return None if value is None else float(value)

    def aggregate(self, scores: list[Score]) -> Summary:
        by_subject = fields_of(scores, "subject")
        order = [s for s in SUBJECTS if s in by_subject] + [s for s in by_subject if s not in SUBJECTS]

        def cell(rows: list[Score]) -> dict[str, Any]:
            correct = int(sum(s.value for s in rows))
            return {"acc": 100 * correct / len(rows), "correct": correct, "n": len(rows)}

        subjects = {s: cell(by_subject[s]) for s in order}
        disciplines = {}
        for name, subs in DISCIPLINES.items():  # sample-weighted (official calculate_ins_level_acc)
            rows = [r for s in subs if s in by_subject for r in by_subject[s]]
            if rows:
                disciplines[name] = cell(rows)
        overall = cell(scores)
        types = {t: cell(rows) for t, rows in fields_of(scores, "question_type").items()}
        fallbacks = sum(bool(s.meta.get("fallback")) for s in scores)
        notes = []
        if fallbacks:
            notes.append(f"{fallbacks} multiple-choice answers matched no rule: the official random fallback chose "
                         f"them (one RNG seeded {FALLBACK_SEED}, in scoring order)")
        unknown = [s for s in order if s not in SUBJECTS]
        if unknown:
            notes.append(f"subjects outside MMMU's 30 (in the overall only): {', '.join(map(str, unknown))}")
        breakdown = {"MMMU_display": f"{overall['acc']:.1f}", "fraction": overall["correct"] / overall["n"],
                     "correct": overall["correct"], "disciplines": disciplines, "subjects": subjects,
                     "question_types": types, "random_fallbacks": fallbacks, "fallback_seed": FALLBACK_SEED}
        return Summary(bench=self.name, metrics={"MMMU": overall["acc"]}, headline="MMMU", breakdown=breakdown,
                       n=len(scores), n_scored=len(scores), notes=notes)

    def artifacts(self, scores: list[Score]) -> dict[str, str | bytes]:
        """`{id: prediction}` as the official eval-only script and the EvalAI server read it: the letter for a
        multiple-choice question, the response text for an open one (the server parses it)."""
        preds = {s.id: s.meta.get("submit") for s in scores if "submit" in s.meta}
        return {f"mmmu_{self.split}_submission.json": json.dumps(preds, ensure_ascii=False, indent=1)}


ADAPTER = MMMU
