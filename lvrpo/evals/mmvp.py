"""MMVP: 150 "CLIP-blind" image pairs, one two-option question per image; a pair counts only if both are right.

Rules from the official repo `tsb0601/MMVP` (`scripts/evaluate_mllm.py`: prompt "{Question} {Options}";
`scripts/gpt_grader.py`: one verdict per question, rows taken two at a time, pair accuracy = pairs with both
verdicts "yes" / pairs) and specs/understanding-benchmarks.md §5. The data is the lmms-eval copy
`lmms-lab-eval/MMVP` (HF `MMVP/MMVP` holds only the images), with its answer key put back to the official one.
"""

from __future__ import annotations

import re

from lvrpo.evals.base import Adapter, fields_of, mean
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

# The lmms-eval copy `lmms-lab-eval/MMVP` "corrects" two pairs by swapping their gold answers, so it no longer
# matches the official Questions.csv that every published MMVP number was scored with (lmms-eval README of
# tasks/mmvp and issue #1018; tsb0601/MMVP issues #14 and #30; spec §5). Index -> (answer in that copy,
# answer in the official Questions.csv, words its question must contain). Applied per row, only when the row
# shows exactly the copy's answer, so a copy that already holds the official key is left untouched.
LMMS_LAB_SWAPPED = {
    99: ("b", "a", "tusks"),
    100: ("a", "b", "tusks"),
    279: ("b", "a", "standing or sitting"),
    280: ("a", "b", "standing or sitting"),
}

_OPTION = re.compile(r"\(([a-z])\)", re.I)
_WHOLE_LETTER = re.compile(r"\(?([a-z])\)?[.:]?", re.I)
_LEADING_LETTER = re.compile(r"([a-z])[).:](?:\s|$)", re.I)
# "the answer is B" / "option (b)" / "Answer: b." -- a lower-case letter must be closed by punctuation or the
# end, so that "the answer is a bird" does not read as option (a) (the article trap of lmms-eval's parser).
_STATED = re.compile(r"(?i:answer|option|choice)(?:\s+(?i:is))?\s*:?\s*"
                     r"(?:\(([A-Za-z])\)|([A-Z])(?![A-Za-z0-9])|([a-z])(?=$|[.,;:!?)]))")


def parse_options(options: str) -> dict[str, str]:
    """`"(a) Open (b) Closed"` -> `{"a": "open", "b": "closed"}` (texts lower-cased, spaces collapsed)."""
    parts = _OPTION.split(str(options))
    return {parts[i].lower(): " ".join(parts[i + 1].split()).lower() for i in range(1, len(parts) - 1, 2)}


def parse_answer(text: str, options: dict[str, str]) -> str | None:
    """The option letter a free-form reply chooses, or None when it names none or both.

    The official grader asks GPT-4 whether the reply answers like the gold "(a)"/"(b)", so a reply may give
    the letter or the option's text. Without a judge this reads, first rule with one answer wins: a stated
    "answer is B" / "option (b)"; the reply is just a letter; exactly one "(x)" in it; it starts with "b.",
    "b)" or "b:" (and names no "(x)"); exactly one option text as a whole phrase. Every pattern is linear, so
    any reply, however long, is read in bounded time.
    """
    t = " ".join(str(text).split())
    letters = set(options)
    stated = {next(g for g in m.groups() if g).lower() for m in _STATED.finditer(t)} & letters
    if len(stated) == 1:
        return stated.pop()
    m = _WHOLE_LETTER.fullmatch(t)
    if m and m.group(1).lower() in letters:
        return m.group(1).lower()
    marked = {x.lower() for x in _OPTION.findall(t)} & letters
    if len(marked) == 1:
        return marked.pop()
    m = _LEADING_LETTER.match(t)
    if m and m.group(1).lower() in letters and not marked:
        return m.group(1).lower()
    low, named = t.lower(), set()
    for letter, opt in sorted(options.items(), key=lambda kv: -len(kv[1])):  # longest first: "not open" > "open"
        if not opt:
            continue
        pattern = re.compile(r"(?<![a-z0-9])" + re.escape(opt) + r"(?![a-z0-9])")
        low, n = pattern.subn(" ", low)
        if n:
            named.add(letter)
    return named.pop() if len(named) == 1 else None


def official_answer(row: dict) -> tuple[str, bool]:
    """The gold letter of `row` under the official Questions.csv key, and whether it differs from the row's."""
    index, gold = _index(row), _letter(row)
    swapped = LMMS_LAB_SWAPPED.get(index)
    if swapped and gold == swapped[0] and swapped[2] in str(row["Question"]).lower():
        return swapped[1], True
    return gold, False


def _index(row: dict) -> int:
    try:
        return int(row["Index"])
    except (TypeError, ValueError):
        raise LvrpoError(f"mmvp: row with Index {row.get('Index')!r}: Index is not an integer") from None


def _letter(row: dict) -> str:
    m = re.fullmatch(r"\s*\(?([a-z])\)?\s*", str(row["Correct Answer"]), re.I)
    if not m:
        raise LvrpoError(f"mmvp: row Index {row.get('Index')!r}: unreadable Correct Answer {row['Correct Answer']!r}")
    return m.group(1).lower()


class MMVP(Adapter):
    name = "mmvp"
    kind = "understand"
    hub_ids = ("lmms-lab-eval/MMVP",)  # `MMVP/MMVP` loads as images only (no Question/Options columns)
    splits = ("train",)
    default_split = "train"
    id_column = "Index"
    columns = ("Index", "Question", "Options", "Correct Answer")
    request_columns = ("image",)
    answer_columns = ("Correct Answer",)

    def group(self, sample: Sample) -> str:
        return str((_index(sample.row) - 1) // 2)  # rows (1,2), (3,4), ...: the two images of one pair

    def request(self, sample: Sample) -> Request:
        prompt = f"{sample.row['Question']} {sample.row['Options']}"  # official: question, space, options
        return Request(id=sample.id, kind="understand", prompt=prompt, images=[sample.image("image")],
                       max_new_tokens=1024, bench=self.name)

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        target, corrected = official_answer(sample.row)
        options = parse_options(sample.row["Options"])
        if target not in options:
            raise LvrpoError(f"mmvp: row Index {sample.row['Index']!r}: answer ({target}) is not among the Options "
                             f"{sample.row['Options']!r}")
        parsed = parse_answer(output.text or "", options)
        meta = {"pair": self.group(sample), "index": _index(sample.row), "corrected": corrected}
        return Score(id=sample.id, value=float(parsed == target), parsed=parsed, target=target,
                     reason="ok" if parsed is not None else "unparsed", meta=meta)

    def aggregate(self, scores: list[Score]) -> Summary:
        pairs = fields_of(scores, "pair")
        complete = [p for p in pairs.values() if len(p) == 2]
        both = sum(all(s.value == 1 for s in p) for p in complete)
        notes = []
        if len(complete) < len(pairs):
            notes.append(f"{len(pairs) - len(complete)} pairs without both questions scored are left out of MMVP")
        fixed = sorted(s.meta["index"] for s in scores if s.meta.get("corrected"))
        if fixed:
            notes.append("official Questions.csv answers used for Index " + ", ".join(map(str, fixed))
                         + " (the lmms-lab-eval copy swaps them)")
        pair_acc = 100 * both / len(complete) if complete else 0.0
        breakdown = {"question_accuracy": 100 * mean([s.value for s in scores]), "pairs": len(complete),
                     "pairs_correct": both, "questions": len(scores),
                     "unparsed": sum(s.parsed is None for s in scores), "corrected_index": fixed}
        return Summary(bench=self.name, metrics={"MMVP": pair_acc}, headline="MMVP", breakdown=breakdown,
                       n=len(scores), n_scored=len(scores), notes=notes)


ADAPTER = MMVP
