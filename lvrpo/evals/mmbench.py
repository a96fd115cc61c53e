"""MMBench (v1.0) dev/test, EN and CN: single-choice questions, scored with CircularEval.

Every question is stored several times with its options rotated (rows `index + k·1e6`); a question counts only
if every rotation is answered right. Sources (restated, not copied): specs/understanding-benchmarks.md §1 and §7;
lmms-eval @ 75571cf `lmms_eval/tasks/mmbench/{en_utils,cn_utils,mmbench_evals}.py` (prompt, rule prefetch,
judge prompt and retries, group scoring) and `lmms_eval/tasks/_task_utils/mcq_extract.py` (the static extractor
of PR #1276); VLMEvalKit `vlmeval/dataset/utils/multiple_choice.py` (circular groups, submission columns).

Per row: (1) rule prefetch (`prefetch`); (2) if unresolved and a judge is given, the OpenCompass matching prompt,
up to 3 tries, each reply read with the same rules -- all failing leaves the row unscored (the official code
draws a random letter instead; we never guess); (3) without a judge, the static extractor (`static_extract`).
Test splits hide the answers: no local score, a submission TSV is written instead.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter

from lvrpo.evals.base import Adapter, fields_of, mean
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.types import Context, LvrpoError, NothingScored, Output, Request, Sample, Score, Summary

ROTATION = 1_000_000  # rotated copies of question q have index q + k·ROTATION
LETTERS = "ABCDE"  # the rule prefetch looks for these whatever the row's options are (lmms-eval num_choice=5)
JUDGE_TRIES = 3

# (header before the options, instruction after a blank line, max_new_tokens); spec §1 "Prompt".
PROMPTS = {
    "en": ("There are several options:", "Answer with the option's letter from the given choices directly.", 1024),
    "cn": ("有如下几个选项：", "请直接使用所提供的选项字母作为答案回答。", 256),
}

# Rule (b): the decorated forms, tried in this order; the first with exactly one letter decides.
DECORATED = (("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
             (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."))

# The classic OpenCompass choice-matching prompt (two few-shot examples, "E" = no option matches), as lmms-eval
# sends it for EN and CN alike. Filled with: question, option block, model reply.
JUDGE_PROMPT = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice "
    "question. You are provided with a question, several options, and an answer, and you need to find which "
    "option is most similar to the answer. If the meaning of all options are significantly different from the "
    "answer, output E. Your should output a single uppercase character in A, B, C, D (if they are valid "
    "options), and E. \n"
    "Example 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: E\n"
    "Example 3: \nQuestion: {question}?\nOptions: {options}\nAnswer: {answer}\nYour output: "
)

# Static extractor (PR #1276): answer phrases (matched lower-cased) and the rank of each format.
ANSWER_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is", "best option is",
    "the choice is", "choice is", "the correct choice is", "correct choice is", "i choose", "i select", "i pick",
    "my answer is", "my choice is", "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは",
)
RANK = {"start": 10, "end": 9, "phrase": 7, "(X)": 6, "X.": 5, "X:": 4, "X)": 3, "X ": 2, "any": 0}


def _null(value: object) -> bool:
    """Null, NaN or the string "nan" (how missing cells arrive from the TSV-derived HF data)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "nan"


def _blank(value: object) -> bool:
    return _null(value) or str(value) == ""


def options_of(row: dict) -> dict[str, str]:
    """The row's non-empty options A-E as {letter: text}, in letter order."""
    return {c: str(row[c]) for c in LETTERS if not _blank(row.get(c))}


def build_prompt(row: dict, lang: str = "en") -> str:
    """lmms-eval's prompt: "{hint} {question} {header}\\nA. ..\\nB. ..", a blank line, the instruction."""
    header, instruction, _ = PROMPTS[lang]
    block = "\n".join([header] + [f"{c}. {t}" for c, t in options_of(row).items()])
    hint = row.get("hint")  # dropped only when null/"nan" (lmms-eval's test), as the spec says
    lead = str(row["question"]) if _null(hint) else f"{hint} {row['question']}"
    return f"{lead} {block}\n\n{instruction}"


def prefetch(text: str, options: dict[str, str]) -> str | None:
    """The rule prefetch (spec §1 step 1), or None when it cannot decide.

    (a) exactly one of A-E as a whitespace-separated token -- unless that letter is "A" and the reply has more
    than 3 tokens ("A" may be an article); (b) else the first decorated form (`DECORATED` order) that exactly one
    letter takes; (c) else the one option whose lower-cased text occurs in the lower-cased reply. Linear time.
    """
    tokens = text.split()
    present = set(tokens)
    bare = [c for c in LETTERS if c in present]
    if len(bare) == 1 and not (bare[0] == "A" and len(tokens) > 3):
        return bare[0]
    for before, after in DECORATED:
        hits = [c for c in LETTERS if before + c + after in present]
        if len(hits) == 1:
            return hits[0]
    low = text.lower()
    named = [c for c, t in options.items() if t.lower() in low]
    return named[0] if len(named) == 1 else None


def static_extract(text: str, letters: list[str]) -> str:
    """The rule-based extractor of lmms-eval PR #1276 ("" when no letter is found).

    Candidates by format, best first: reply starts with a letter (not followed by a letter) > ends with one
    (not preceded by a letter) > a letter after an answer phrase > "(X)" > "X." > "X:" > "X)" > "X " > any
    occurrence (only when nothing else matched). Within a format the latest position wins. Only str.find
    scans, so a reply of any size is read in linear time.
    """
    text = text.strip()
    for ch in ",.!?;:'\"":  # one character at a time, in this order, as the original strips
        text = text.strip(ch)
    padded = f" {text} "
    found: list[tuple[int, int, str]] = []  # (rank, position, letter)
    for fmt in ("(X)", "X.", "X:", "X)", "X "):
        for c in letters:
            pos = padded.rfind(fmt.replace("X", c))
            if pos >= 0:
                found.append((RANK[fmt], pos, c))
    low = padded.lower()
    for phrase in ANSWER_PHRASES:
        at = low.find(phrase)
        if at >= 0:  # the first letter of each kind after the phrase's first occurrence
            found += [(RANK["phrase"], p, c) for c in letters if (p := padded.find(c, at + len(phrase))) >= 0]
    core = padded.strip()
    for c in letters:
        if core.startswith(c) and (len(core) == 1 or not core[1].isalpha()):
            found.append((RANK["start"], 0, c))
        if core.endswith(c) and (len(core) == 1 or not core[-2].isalpha()):
            found.append((RANK["end"], len(padded) - 1, c))
    if not found:
        found = [(RANK["any"], p, c) for c in letters if (p := padded.rfind(c)) >= 0]
    return max(found)[2] if found else ""


def judge_prompt(question: str, options: dict[str, str], answer: str) -> str:
    """The matching prompt for one reply; options listed from A up to the first missing one."""
    block = "There are several options: \n"
    for c in "ABCD":
        if c not in options:
            break
        block += f"{c}. {options[c]}\n"
    return JUDGE_PROMPT.format(question=question, options=block, answer=answer)


def _index(row: dict) -> int:
    try:
        return int(row["index"])
    except (TypeError, ValueError, KeyError):
        raise LvrpoError(f"mmbench: row with index {row.get('index')!r}: index is not an integer") from None


class MMBench(Adapter):
    name = "mmbench"
    kind = "understand"
    hub_ids = ("lmms-lab/MMBench", "lmms-lab-encoder/MMBench")  # moved on 2026-07-30; content presumed identical
    splits = ("dev", "test")
    default_split = "dev"
    variants = ("en_dev", "cn_dev", "en_test", "cn_test")
    id_column = "index"
    columns = ("index", "question", "answer", "category", "L2-category")
    request_columns = ("image",)
    answer_columns = ("answer", "category", "L2-category")

    def __init__(self, variant: str | None = None):
        super().__init__(variant)
        self.lang, split = self.variant.split("_")
        self.hub_config, self.default_split = self.lang, split  # the HF config is the language
        self.local_score = split == "dev"  # test answers are hidden: submission file only
        if not self.local_score:
            self.columns = ("index", "question")
        self._group_sizes: dict[str, int] = {}

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        """Rows of this variant's (config, split), validated, each circular group's rows kept together."""
        if split is not None and split in self.splits and split != self.default_split:
            raise LvrpoError(f"mmbench: variant {self.variant} reads split {self.default_split!r}; for {split!r} "
                             f"use --bench mmbench:{self.lang}_{split}")
        samples = super().load(source, split, for_requests=for_requests)
        for s in samples:
            self._check(s.row)
        # Rotations are index + k·1e6, far apart in the file: sorting by group keeps them adjacent for --limit.
        samples.sort(key=lambda s: (_index(s.row) % ROTATION, _index(s.row)))
        self._group_sizes = {}
        for s in samples:
            g = self.group(s)
            self._group_sizes[g] = self._group_sizes.get(g, 0) + 1
        return samples

    def _check(self, row: dict) -> dict[str, str]:
        options = options_of(row)
        if not options:
            raise LvrpoError(f"mmbench: row index {row.get('index')!r} has no options (A-E all empty)")
        if self.local_score and str(row.get("answer")) not in options:
            raise LvrpoError(f"mmbench: row index {row.get('index')!r}: answer {row.get('answer')!r} is not one of "
                             f"its options {', '.join(options)}")
        return options

    def group(self, sample: Sample) -> str:
        return str(_index(sample.row) % ROTATION)

    def request(self, sample: Sample) -> Request:
        self._check(sample.row)
        options = {"stop": ["ASSISTANT:"]} if self.lang == "en" else {}
        return Request(id=sample.id, kind="understand", prompt=build_prompt(sample.row, self.lang),
                       images=[sample.image("image")], max_new_tokens=PROMPTS[self.lang][2], options=options,
                       bench=self.name)

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        row, options = sample.row, self._check(sample.row)
        text = (output.text or "").strip()
        g = self.group(sample)
        meta = {"group": g, "index": _index(row), "category": row.get("category"), "l2": row.get("L2-category"),
                "group_size": self._group_sizes.get(g)}
        if not self.local_score:  # the server matches answers itself; our reading is only informative
            meta["submission"] = self._submission_row(row, text)
            parsed = (prefetch(text, options) or static_extract(text, sorted(options)) or None) if text else None
            return Score(id=sample.id, value=None, parsed=parsed, reason="answer hidden (test split)", meta=meta)
        target = str(row["answer"])
        parsed, reason = (prefetch(text, options), "rule") if text else (None, "unparsed")
        if parsed is None and text and ctx.judge is not None:
            parsed, meta["judge_reply"] = self._ask_judge(ctx.judge, str(row["question"]), options, text)
            if parsed is None:
                return Score(id=sample.id, value=None, target=target, meta=meta,
                             reason=f"unscored: judge gave no option letter in {JUDGE_TRIES} tries")
            reason = "judge"
        elif parsed is None and text:
            parsed, reason = static_extract(text, sorted(options)) or None, "static"
        if parsed is None:
            reason = "unparsed"
        return Score(id=sample.id, value=float(parsed == target), parsed=parsed, target=target, reason=reason,
                     meta=meta)

    def _ask_judge(self, judge: Judge, question: str, options: dict[str, str], text: str) -> tuple[str | None, str]:
        """(letter, last reply or error): up to 3 calls, each reply read with the prefetch rules ("E" included)."""
        prompt, last = judge_prompt(question, options, text), ""
        for attempt in range(JUDGE_TRIES):
            try:  # `attempt` makes each try a fresh call (and its own cache entry), not the first reply again
                reply = judge.complete(prompt, None, max_tokens=256, attempt=attempt)
            except JudgeError as e:  # the official loop counts a failed call as a used try
                last = f"judge error: {e}"
                continue
            letter = prefetch(reply, options)
            if letter is not None:
                return letter, reply
            last = f"reply {reply[:200]!r}"
        return None, last

    def aggregate(self, scores: list[Score]) -> Summary:
        """CircularEval: a group is right iff all its rotations are; MMBench = % of groups right.

        A group with a wrong rotation is wrong whatever else happened to it (as officially: the first wrong
        rotation ends the group). A group with no wrong rotation but fewer scored rows than the data holds (a
        rotation unscored, or without a prediction) is left out and counted in the notes.
        """
        hits: dict[str, float] = {}
        info: dict[str, tuple] = {}
        incomplete = 0
        for g, rows in fields_of(scores, "group").items():
            base = min(rows, key=lambda s: s.meta.get("index", 0))  # categories as on the base question
            info[g] = (base.meta.get("category"), base.meta.get("l2"))
            if any(s.value != 1 for s in rows):
                hits[g] = 0.0
            elif len(rows) < (rows[0].meta.get("group_size") or len(rows)):
                incomplete += 1
            else:
                hits[g] = 1.0
        if not hits:
            raise NothingScored(f"mmbench: no complete circular group to score ({incomplete} groups miss a rotation)")
        breakdown = {"groups": len(hits), "groups_correct": int(sum(hits.values())), "groups_incomplete": incomplete,
                     "rows": len(scores), "row_accuracy": 100 * mean([s.value for s in scores]),
                     "parsed_by": dict(Counter(s.reason for s in scores))}
        for key, pos in (("category", 0), ("l2_category", 1)):
            per: dict[str, list[float]] = {}
            for g, hit in hits.items():
                per.setdefault(str(info[g][pos]), []).append(hit)
            breakdown[key] = {k: {"acc": 100 * mean(v), "n": len(v)} for k, v in sorted(per.items())}
        notes = [f"{incomplete} circular groups left out: a rotation was unscored or had no prediction"] \
            if incomplete else []
        return Summary(bench=self.name, metrics={"MMBench": 100 * mean(list(hits.values()))}, headline="MMBench",
                       breakdown=breakdown, n=len(scores), n_scored=len(scores), notes=notes)

    @staticmethod
    def _submission_row(row: dict, prediction: str) -> dict[str, str]:
        cols = ["index", "question", "hint", *[c for c in LETTERS if c in row], "category", "l2-category",
                "source", "split"]
        values = {**row, "l2-category": row.get("L2-category", row.get("l2-category"))}
        out = {c: "" if _blank(values.get(c)) else str(values[c]) for c in cols}
        out["prediction"] = prediction
        return out

    def artifacts(self, scores: list[Score]) -> dict[str, str | bytes]:
        """Test splits: `mmbench_<lang>_test_submission.tsv`, the official submission columns (VLMEvalKit's
        prediction file: the data columns plus `prediction`, the raw reply), one row per answered row, by index.
        The MMBench server takes .xlsx; convert with pandas (`read_csv(sep="\\t", keep_default_na=False)`)."""
        if self.local_score:
            return {}
        rows = sorted((s for s in scores if "submission" in s.meta), key=lambda s: s.meta["index"])
        if not rows:
            return {}
        fields = list(dict.fromkeys(k for s in rows for k in s.meta["submission"]))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, delimiter="\t", lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(s.meta["submission"] for s in rows)
        return {f"mmbench_{self.lang}_test_submission.tsv": buf.getvalue()}


ADAPTER = MMBench
