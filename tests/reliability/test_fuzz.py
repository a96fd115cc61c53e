"""Fuzzing: every answer and judge-reply parser returns its documented type, in bounded time, on any string a model
can produce (lone surrogates, NULs, megabytes of one character); the predictions and data readers return rows or
raise LvrpoError, never another exception.

`LVRPO_FUZZ_EXAMPLES` (default 200) sets hypothesis' random examples per test; a campaign runs with 1000 or more.
Every parser test also runs the fixed ADVERSARIAL inputs first (hypothesis `@example`s).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from lvrpo.data import _from_path
from lvrpo.evals import gedit, mathvista, mmbench, mme, mmmu, mmvet, mmvp, wise
from lvrpo.judges.base import Judge
from lvrpo.predictions import read_predictions
from lvrpo.types import Context, LvrpoError, Output, Sample, Score

N = int(os.environ.get("LVRPO_FUZZ_EXAMPLES", "200"))
# No example database and no explain phase: nothing is written under .hypothesis/ in the checkout.
FUZZ = settings(max_examples=N, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink])
LIMIT_S = 1.0  # per call: linear parsers take milliseconds on 100k characters; backtracking takes seconds

# ------------------------------------------------------------------------------------------------- inputs

SPECIAL = ("\x00\ud83d\udc00\ufffd\u2028\u0085\x1c\r\n\t \u00a0\u3000٣۴७१０¹½Ⅻİß"
           "ABCDEabcde()[]{}.,:;!?\"'*<>/=-+_eE0123456789")
TOKENS = ('The answer is "', '".', "answer", "Answer:", "option", " is ", "(A)", "(b)", "A.", "B)", "C:", " D ", "E",
          "yes", "no", "Yes", "not", "Score: 1", "**score**", "Consistency: 2", "Realism:", "aesthetic quality",
          "<think>", "</think>", "||V^=^V||", '{"score": [', "[3, 7]", "]", "}", "{", "1,000", "3.5e10", "-0.0",
          "nan", "Infinity", "1e999", "0.5 ", "so ", "therefore ", "=", "答案是", "选", "정답은", "\n", " ", "\x00",
          "\ud83d", "8/11", "open", "closed", "DNA", "MgS")
UNITS = ("(", "[", "{", 'The answer is "', "1", "1,", "1.", ".1", "a", " ", "\n", "answer ", "(A)", "A ", "<think>",
         "</think>", "||V^=^V||", "\x00", "\ud83d", "\\", '"', "consistency ", "Score:", "٣", "e", "-", "1e1")
ADVERSARIAL = ("", " ", "\ud83d", "\x00", "\ufffd" * 1000, "(" * 50_000, 'The answer is "' * 5000,
               'The answer is "' * 5000 + '".', "1" * 100_000, "1," * 50_000, "1." * 50_000, "-" * 100_000,
               " " * 100_000, "\n" * 100_000, "[" * 100_000, "{" * 50_000 + "}" * 50_000, "A " * 50_000,
               "<think>" * 10_000, "||V^=^V||" * 3, "consistency" + " " * 50_000, "answer" + " " * 50_000 + "is",
               "٣" * 1000, "x" * 1_000_000)


def _repeat(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


small = st.one_of(st.text(max_size=40), st.text(st.sampled_from(SPECIAL), max_size=40),
                  st.lists(st.sampled_from(TOKENS), max_size=12).map("".join))
huge = st.builds(_repeat, st.sampled_from(UNITS) | st.text(st.sampled_from(SPECIAL), min_size=1, max_size=4),
                 st.integers(1_000, 60_000))
TEXT = st.one_of(small, small, huge, st.tuples(small, huge, small).map("".join))


def adversarial(test):
    """Run the fixed ADVERSARIAL inputs before the random ones."""
    for text in reversed(ADVERSARIAL):
        test = example(text=text)(test)
    return test


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    took = time.perf_counter() - start
    assert took < LIMIT_S, f"took {took:.2f}s on {sum(len(a) for a in args if isinstance(a, str))} characters"
    return result


# ---------------------------------------------------------------------------------------- the parsers

MMB_OPTIONS = {"A": "teddy bear", "B": "rabbit", "C": "cat", "D": "dog"}
MMMU_CHOICES = ["A", "B", "C", "D"]
MMMU_INDEX = dict(zip(MMMU_CHOICES, ["DNA", "RNA", "protein", "a lipid"], strict=True))
MMVP_OPTIONS = {"a": "open", "b": "closed"}
MV_CHOICES = ["3/11", "8/11", "6/11", "3/5"]
MV_ROWS = {"multi_choice": {"question_type": "multi_choice", "answer_type": "text", "choices": MV_CHOICES,
                            "precision": None},
           **{t: {"question_type": "free_form", "answer_type": t, "choices": None, "precision": p}
              for t, p in (("integer", None), ("float", 2.0), ("text", None), ("list", None))}}
LEGACY_KEYS = {"consistency", "realism", "aesthetic_quality"}


def _opt(*allowed):
    return lambda r: r is None or r in allowed


def _is(*types):
    return lambda r: isinstance(r, types)


def _mv_normalized(row):
    return lambda r: r is None or (r in MV_CHOICES if row["question_type"] == "multi_choice" else isinstance(r, str))


# name -> (call on the fuzzed text, property of the result)
PARSERS = {
    "mme.parse_yes_no": (mme.parse_yes_no, lambda r: r in ("yes", "no", "other")),
    "mmbench.prefetch": (lambda t: mmbench.prefetch(t, MMB_OPTIONS), _opt(*mmbench.LETTERS)),
    "mmbench.static_extract": (lambda t: mmbench.static_extract(t, sorted(MMB_OPTIONS)), _opt("", *MMB_OPTIONS)),
    "mmbench.judge_prompt": (lambda t: mmbench.judge_prompt("What?", MMB_OPTIONS, t), _is(str)),
    "mmmu.mc_pick": (lambda t: mmmu.mc_pick(t, MMMU_CHOICES, MMMU_INDEX), _opt(*MMMU_CHOICES)),
    "mmmu.parse_open": (mmmu.parse_open, lambda r: isinstance(r, list) and all(isinstance(v, (str, float)) for v in r)),
    "mmmu.eval_open": (lambda t: mmmu.eval_open(["1.5", "MgS"], mmmu.parse_open(t)), _is(bool)),
    "mmmu.degenerate": (mmmu.degenerate, _is(bool)),
    "mmmu.extract_numbers": (mmmu.extract_numbers, lambda r: all(isinstance(v, str) for v in r)),
    "mmmu.parse_gold": (mmmu.parse_gold, lambda r: isinstance(r, str) or all(isinstance(v, str) for v in r)),
    **{f"mathvista.rule_extract[{k}]": (lambda t, row=row: mathvista.rule_extract(t, row), _is(str, type(None)))
       for k, row in MV_ROWS.items()},
    **{f"mathvista.normalize[{k}]": (lambda t, row=row: mathvista.normalize(t, row), _mv_normalized(row))
       for k, row in MV_ROWS.items()},
    "mathvista.levenshtein": (lambda t: mathvista.levenshtein(t, "8/11"), lambda r: isinstance(r, int) and r >= 0),
    "mathvista.extraction_prompt": (lambda t: mathvista.extraction_prompt("Question: x?", t), _is(str)),
    "mmvet.parse_grade": (mmvet.parse_grade, lambda r: r is None or (isinstance(r, float) and 0.0 <= r <= 1.0)),
    "mmvet.grader_prompt": (lambda t: mmvet.grader_prompt("What?", "a <OR> b", t), _is(str)),
    "mmvp.parse_answer": (lambda t: mmvp.parse_answer(t, MMVP_OPTIONS), _opt(*MMVP_OPTIONS)),
    "mmvp.parse_options": (mmvp.parse_options,
                           lambda r: all(isinstance(k, str) and isinstance(v, str) for k, v in r.items())),
    "wise.parse_legacy": (wise.parse_legacy, lambda r: r is None or (
        set(r) == LEGACY_KEYS and all(v in (0.0, 1.0, 2.0) for v in r.values()))),
    "wise.parse_verified": (wise.parse_verified, _opt(0.0, 1.0)),
    "wise.strip_thinking": (wise.strip_thinking, _is(str)),
    "gedit.parse_scores": (gedit.parse_scores, lambda r: r is None or (
        len(r) > 0 and all(isinstance(v, float) and 0.0 <= v <= 10.0 for v in r))),
    "gedit.sc_prompt": (gedit.sc_prompt, _is(str)),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(text=TEXT)
@adversarial
def test_parser_returns_its_type_in_bounded_time(name, text):
    call, ok = PARSERS[name]
    result = timed(call, text)
    assert ok(result), f"{name} returned {result!r:.200}"


@FUZZ
@given(text=TEXT)
@adversarial
def test_mmmu_options_cell_is_a_list_or_a_one_line_error(text):
    try:
        options = timed(mmmu.parse_options, text, "validation_Art_1")
    except LvrpoError as e:
        assert "\n" not in str(e)
        return
    assert all(isinstance(o, str) for o in options)


@FUZZ
@given(text=TEXT, options=st.dictionaries(st.sampled_from("ABCDE"), small, max_size=5))
def test_mmbench_rules_with_any_options(text, options):
    assert timed(mmbench.prefetch, text, options) in (None, *mmbench.LETTERS)
    assert timed(mmbench.static_extract, text, sorted(options)) in ("", *options)


@FUZZ
@given(text=TEXT, options=st.dictionaries(st.sampled_from("ab"), small, max_size=2))
def test_mmvp_parser_with_any_options(text, options):
    assert timed(mmvp.parse_answer, text, options) in (None, *options)


@FUZZ
@given(a=small, b=small)
def test_levenshtein_matches_the_textbook_distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    assert mathvista.levenshtein(a, b) == row[-1]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | small,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(small, inner, max_size=4),
                    max_leaves=12)


@FUZZ
@given(given_=JSON, row=st.sampled_from(sorted(MV_ROWS)))
def test_mathvista_normalize_takes_any_given_extraction(given_, row):
    """A predictions line may carry `extraction` of any JSON type (the official extract_answer.py output)."""
    assert _mv_normalized(MV_ROWS[row])(timed(mathvista.normalize, given_, MV_ROWS[row]))


# ------------------------------------------------------------------------------- through the adapters


class FuzzJudge(Judge):
    """Answers every call with the fuzzed reply."""

    name = "openai:fuzz"

    def __init__(self, reply: str):
        self.reply = reply

    def complete(self, prompt, images=None, **kwargs) -> str:
        return self.reply


_IMAGE = Path(tempfile.mkdtemp(prefix="lvrpo-fuzz-")) / "img.png"
atexit.register(shutil.rmtree, _IMAGE.parent, ignore_errors=True)
Image.new("RGB", (8, 8), (10, 20, 30)).save(_IMAGE)

# bench -> (adapter, row); the text is the model's answer, or (judged benchmarks) the judge's reply
ADAPTERS = {
    "mme": (mme.MME(), {"question_id": "a.png", "question": "Red?", "answer": "Yes", "category": "color"}),
    "mmbench": (mmbench.MMBench(), {"index": 1, "question": "What?", "answer": "B", "category": "c",
                                    "L2-category": "l", **MMB_OPTIONS}),
    "mmmu-mc": (mmmu.MMMU(), {"question_type": "multiple-choice", "options": str(list(MMMU_INDEX.values())),
                              "answer": "B"}),
    "mmmu-open": (mmmu.MMMU(), {"question_type": "open", "options": "[]", "answer": "['$MgS$', 'MgS']"}),
    **{f"mathvista-{k}": (mathvista.MathVista(), {**row, "answer": "8/11" if k == "multi_choice" else "2",
                                                   "question": "x?", "unit": None, "metadata": {}})
       for k, row in MV_ROWS.items()},
    "mmvp": (mmvp.MMVP(), {"Index": 1, "Question": "Open?", "Options": "(a) Open (b) Closed", "Correct Answer": "(a)"}),
    "mmvet": (mmvet.MMVet(), {"question_id": "v1_0", "question": "What?", "answer": "2<OR>two", "capability": "ocr"}),
    "wise": (wise.WISE(), {"prompt_id": 1, "Prompt": "p", "Explanation": "e", "Category": "c", "Subcategory": "s"}),
    "wise-verified": (wise.WISE("verified"), {"prompt_id": 1, "Prompt": "p", "Explanation": "e", "Category": "c",
                                              "Subcategory": "s"}),
    "gedit": (gedit.GEdit(), {"key": "k", "task_type": "color_alter", "instruction": "make it red",
                              "instruction_language": "en", "input_image": str(_IMAGE), "Intersection_exist": True}),
}
JUDGED = {"mmvet", "wise", "wise-verified", "gedit"}


@pytest.mark.parametrize("bench", sorted(ADAPTERS))
@FUZZ
@given(text=TEXT)
@adversarial
def test_any_answer_or_judge_reply_is_scored(bench, text):
    """The adapter's whole `score` (not only its parser) takes any answer, and any judge reply (a judge is given to
    the benchmarks that can use one, so MMBench and MathVista fuzz their judge path too)."""
    adapter, row = ADAPTERS[bench]
    sample = Sample(id="validation_Art_1" if bench.startswith("mmmu") else "1", row=dict(row))
    if bench in JUDGED:
        output, judge = Output(id=sample.id, text="an answer", images=[str(_IMAGE)]), FuzzJudge(text)
    else:
        output, judge = Output(id=sample.id, text=text), FuzzJudge(text)
    score = timed(adapter.score, sample, output, Context(judge=judge))
    assert isinstance(score, Score) and (score.value is None or math.isfinite(score.value))
    json.dumps(score.to_json())  # what scores.jsonl stores


# ----------------------------------------------------------------------------------------- the readers

PRED_KEYS = ("id", "output", "images", "image", "error", "data_error", "bench", "extraction", "parsed_pred")
PRED_ROW = st.dictionaries(st.sampled_from(PRED_KEYS) | small, JSON, max_size=5)
DATA_ROW = st.dictionaries(st.sampled_from(("question_id", "question", "answer", "category", "id")) | small,
                           JSON | st.sampled_from(("Yes", "No", "yes")), max_size=6)


def _dump(value, ascii_: bool) -> bytes:
    # surrogatepass: a lone surrogate, written raw, makes the invalid UTF-8 a broken writer would produce
    return json.dumps(value, ensure_ascii=ascii_).encode("utf-8", "surrogatepass")


def _lines(rows):
    return st.builds(lambda vals, ascii_, sep, tail: sep.join(_dump(v, ascii_) for v in vals) + tail,
                     st.lists(rows | JSON, max_size=6), st.booleans(), st.sampled_from((b"\n", b"\r\n", b"\n\n")),
                     st.sampled_from((b"", b"\n", b"[" * 100_000, b"\xff\xfe", b"\xef\xbb\xbf", b"{\"id\": 1")))


def _file_bytes(rows):
    """Random bytes, JSON lines (sometimes with a bad last line), or JSON lines with bytes spliced in."""
    noise = st.binary(max_size=300)
    return st.one_of(noise, _lines(rows), st.tuples(_lines(rows), noise, st.integers(0, 400)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:]))


def _tmp(suffix: str, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return Path(name)


@FUZZ
@given(data=_file_bytes(PRED_ROW))
def test_predictions_reader_returns_outputs_or_a_one_line_error(data):
    path = _tmp(".jsonl", data)
    try:
        rows = timed(read_predictions, path)
    except LvrpoError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    finally:
        path.unlink()
    for _, out in rows:
        assert isinstance(out.id, str) and isinstance(out.text, (str, type(None)))
        assert all(isinstance(p, str) for p in out.images)


@FUZZ
@given(data=_file_bytes(DATA_ROW), suffix=st.sampled_from((".jsonl", ".json", ".parquet")),
       array=st.booleans())
def test_data_reader_returns_rows_or_a_one_line_error(data, suffix, array):
    if suffix == ".json" and array:  # the .json array form: the lines as one array
        data = b"[" + b",".join(data.split(b"\n")) + b"]"
    path = _tmp(suffix, data)
    try:
        rows, columns = timed(_from_path, path, "test")
    except LvrpoError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    finally:
        path.unlink()
    assert rows and all(isinstance(r, dict) and set(r) <= set(columns) for r in rows)


@FUZZ
@given(rows=st.lists(DATA_ROW, min_size=1, max_size=4), cut=st.integers(0, 2000), flip=st.integers(0, 255))
def test_parquet_reader_takes_real_and_damaged_files(rows, cut, flip):
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return  # rows pyarrow cannot hold as a table: no parquet file to read
    path = _tmp(".parquet", b"")
    try:
        try:
            pq.write_table(table, path)
        except (pa.ArrowException, OSError):
            return  # a table parquet cannot store (a struct with no fields)
        data = bytearray(path.read_bytes())
        if cut < len(data):  # damage one byte (a flip of 0 leaves the file intact)
            data[cut] ^= flip
        path.write_bytes(bytes(data))
        try:
            got, columns = timed(_from_path, path, "test")
        except LvrpoError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            return
        assert all(isinstance(r, dict) and list(r) == columns for r in got)
    finally:
        path.unlink(missing_ok=True)
