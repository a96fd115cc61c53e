"""MMBench: prompt, rule prefetch, static extractor, judge path, CircularEval, test-split submission file.

Every expected value below is worked by hand from the official rules (spec §1; lmms-eval mmbench_evals.py /
mcq_extract.py @ 75571cf), not computed with the adapter.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
import time

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.evals.mmbench import DECORATED, build_prompt, judge_prompt, prefetch, static_extract
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.runner import apply_limit, score, summarize
from lvrpo.types import Context, LvrpoError, Output, Sample
from tests.util import run_cli

OPTS = {"A": "cat", "B": "dog", "C": "bird", "D": "fish"}
ABCD = list("ABCD")


def _png_uri() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def mmb_row(index: int, texts: list[str], answer: str | None, category: str = "image_scene", l2: str = "CP",
            question: str = "What is in the image?", hint: str | None = None) -> dict:
    """A row in the HF schema (spec §1): index, question, hint, A-D, answer, category, L2-category, image, ..."""
    opts = {c: (texts[i] if i < len(texts) else None) for i, c in enumerate("ABCD")}
    return {"index": index, "question": question, "hint": hint, **opts, "answer": answer, "category": category,
            "L2-category": l2, "image": _png_uri(), "source": "fixture", "comment": None, "split": "dev"}


def rotations(base: int, texts: list[str], gold: int, **kw) -> list[dict]:
    """The circular unrolling: copy k has index base + k·1e6 and its options shifted k places."""
    out = []
    for k in range(len(texts)):
        rolled = texts[k:] + texts[:k]
        out.append(mmb_row(base + k * 1_000_000, rolled, "ABCD"[rolled.index(texts[gold])], **kw))
    return out


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


# Three questions: 1 (4 options), 2 (4 options), 3 (2 options); 10 rows, stored by index as in the TSV.
GROUPS = (rotations(1, ["cat", "dog", "bird", "fish"], 0)
          + rotations(2, ["red", "green", "blue", "black"], 2)
          + rotations(3, ["yes, it is", "no, it is not"], 1, category="attribute_recognition", l2="FP-S"))
ROWS = sorted(GROUPS, key=lambda r: r["index"])


def predictions(wrong: set[int] = frozenset()) -> dict[int, str]:
    """Right letter per row (question 3 answered by option text), except rows in `wrong` (a wrong letter)."""
    out = {}
    for r in ROWS:
        gold = r["answer"]
        if r["index"] in wrong:
            out[r["index"]] = "ABCD"[("ABCD".index(gold) + 1) % 2]
        elif r["index"] % 1_000_000 == 3:
            out[r["index"]] = f"I would say {r[gold]}."
        else:
            out[r["index"]] = gold
    return out


class StandInJudge(Judge):
    name = "stand-in"

    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def complete(self, prompt, images=None, *, max_tokens=512, temperature=0.0, attempt=0):
        self.calls.append(prompt)
        self.attempts = [*getattr(self, "attempts", []), attempt]
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply


def sample(row: dict) -> Sample:
    return Sample(id=str(row["index"]), row=row)


# ---- prompt -------------------------------------------------------------------------------------------------

def test_en_prompt_with_hint_and_only_present_options():
    row = mmb_row(7, ["cat", "dog", "bird"], "A", hint="Look closely.", question="Which animal?")
    row["D"] = "nan"
    assert build_prompt(row, "en") == ("Look closely. Which animal? There are several options:\nA. cat\nB. dog\n"
                                       "C. bird\n\nAnswer with the option's letter from the given choices directly.")
    for hint in (None, "nan", float("nan")):
        assert build_prompt({**row, "hint": hint}, "en").startswith("Which animal? There are several options:\n")


def test_cn_dev_request_prompt_tokens_and_image():
    a = get_adapter("mmbench:cn_dev")
    assert (a.hub_config, a.default_split, a.spec) == ("cn", "dev", "mmbench:cn_dev")
    req = a.request(sample(mmb_row(7, ["猫", "狗"], "B", question="图中是什么动物？")))
    assert req.prompt == "图中是什么动物？ 有如下几个选项：\nA. 猫\nB. 狗\n\n请直接使用所提供的选项字母作为答案回答。"
    assert req.max_new_tokens == 256 and req.images[0].size == (4, 4)
    en = get_adapter("mmbench").request(sample(mmb_row(7, ["cat", "dog"], "B")))
    assert en.max_new_tokens == 1024 and en.options["stop"] == ["ASSISTANT:"]


# ---- rule prefetch --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("B", "B"),
    ("The answer is B", "B"),  # one bare letter among 4 tokens, not "A"
    ("A is right", "A"),  # "A" with exactly 3 tokens is still a letter
    ("A is the answer", None),  # "A" with more than 3 tokens may be an article: skipped, nothing else decides
    ("A dog is shown here", "B"),  # article skipped, then the option text "dog"
    ("B C", None),  # two bare letters
    ("E", "E"),  # A-E are always looked for, even when the question has 4 options (then it is simply wrong)
    ("(A) versus B.", "B"),  # "X." is tried before "(X)"
    ("B. or C.", None),  # two letters in the same decorated form and nothing else
    ("It is a dog", "B"),  # rule (c): one option text occurs
    ("a cat and a dog", None),  # two option texts
    ("answer:D", None),  # ":D" needs a whitespace before the colon
    ("answer :D", "D"),
])
def test_prefetch_hand_cases(text, expected):
    assert prefetch(text, dict(OPTS)) == expected


@pytest.mark.parametrize("before, after", DECORATED)
def test_prefetch_each_decorated_form(before, after):
    assert prefetch(f"I pick {before}C{after} here", dict(OPTS)) == "C"
    assert prefetch(f"{before}A{after} {before}C{after}", dict(OPTS)) is None  # two letters: ambiguous
    assert len(DECORATED) == 12


# ---- static extractor -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, why", [
    ("B, or maybe D", "B", "start beats end"),
    ("The answer is C (not B). C", "C", "end beats answer phrase"),
    ("The answer is C (not B)", "B", "phrase: the latest letter after the phrase wins"),
    ("(C) is tempting but the answer is B for sure", "B", "answer phrase beats (X)"),
    ("Not B. but (C) instead", "C", "(X) beats X."),
    ("Option C: no. Option B. yes", "B", "X. beats X:"),
    ("Pick B) hmm, C: yes", "C", "X: beats X)"),
    ("Maybe D is fine, or B) instead", "B", "X) beats 'X '"),
    ("(A) or (C)", "C", "latest occurrence within a format"),
    ("theBestChoice", "C", "any occurrence, latest, only when nothing else matched"),
    ("nothing here", "", "no letter"),
    ("答案是B", "B", "Chinese answer phrase"),
])
def test_static_extractor_ranking(text, expected, why):
    assert static_extract(text, ABCD) == expected, why


def test_static_extractor_only_offered_letters():
    assert static_extract("D", ["A", "B", "C"]) == ""
    assert static_extract("The answer is D. So C", ["A", "B"]) == ""


def test_chinese_reply_scored_through_the_static_extractor():
    a = get_adapter("mmbench:cn_dev")
    row = mmb_row(9, ["猫", "狗", "鸟", "鱼"], "B")
    sc = a.score(sample(row), Output(id="9", text="答案是B"), Context())
    assert (sc.value, sc.parsed, sc.reason) == (1.0, "B", "static")  # prefetch cannot split "答案是B"


# ---- judge path ----------------------------------------------------------------------------------------------

def test_judge_resolves_what_the_rules_cannot():
    judge = StandInJudge(["B"])
    row = mmb_row(5, ["cat", "dog", "bird", "fish"], "B", question="Which animal barks")
    sc = get_adapter("mmbench").score(sample(row), Output(id="5", text="the one that barks"), Context(judge=judge))
    assert (sc.value, sc.parsed, sc.reason) == (1.0, "B", "judge") and len(judge.calls) == 1
    assert judge.calls[0] == judge_prompt("Which animal barks", row_options(row), "the one that barks")
    assert "Question: Which animal barks?\nOptions: There are several options: \nA. cat\nB. dog\nC. bird\nD. fish\n" \
           "\nAnswer: the one that barks\nYour output: " in judge.calls[0]
    assert "Answer: Spider\nYour output: E\n" in judge.calls[0]


def row_options(row):
    return {c: row[c] for c in "ABCD" if row[c]}


def test_judge_not_called_when_rules_decide():
    judge = StandInJudge(["C"])
    sc = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog"], "B")), Output(id="5", text="B"),
                                      Context(judge=judge))
    assert sc.value == 1.0 and sc.reason == "rule" and judge.calls == []


def test_judge_no_match_E_is_wrong_not_unscored():
    judge = StandInJudge(["E"])
    sc = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog"], "B")), Output(id="5", text="a spider"),
                                      Context(judge=judge))
    assert (sc.value, sc.parsed) == (0.0, "E")


@pytest.mark.parametrize("replies", [["I cannot tell", "hmm", "A or B"], [JudgeError("down")] * 3,
                                     ["no idea", JudgeError("down"), "none"]])
def test_judge_failing_three_times_is_unscored_never_random(replies):
    judge = StandInJudge(replies)
    sc = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog", "bird"], "B")),
                                      Output(id="5", text="the one that barks"), Context(judge=judge))
    assert sc.value is None and sc.reason.startswith("unscored:") and len(judge.calls) == 3


def test_garbage_then_good_reply_uses_the_retry():
    judge = StandInJudge(["I cannot tell", "The best match is B"])
    sc = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog"], "B")), Output(id="5", text="barks"),
                                      Context(judge=judge))
    assert (sc.value, sc.parsed, len(judge.calls)) == (1.0, "B", 2)
    assert judge.attempts == [0, 1]


def test_re_asks_through_the_cached_http_judge_are_fresh_calls(tmp_path, monkeypatch):
    """With the real OpenAI-compatible client and its disk cache, try 2 must not be try 1's cached reply."""
    from lvrpo.judges import make_judge
    from tests.util import JudgeServer

    monkeypatch.setenv("LVRPO_CACHE_DIR", str(tmp_path))
    replies = iter(["I cannot tell", "The best match is B"])
    with JudgeServer(lambda system, text, images, body: next(replies)) as server:
        judge = make_judge(server.spec)
        sc = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog"], "B")), Output(id="5", text="barks"),
                                          Context(judge=judge))
        assert (sc.value, sc.parsed, len(server.requests)) == (1.0, "B", 2)
        # a rerun is answered from the cache: same score, no new call
        again = get_adapter("mmbench").score(sample(mmb_row(5, ["cat", "dog"], "B")),
                                             Output(id="5", text="barks"), Context(judge=make_judge(server.spec)))
        assert again.parsed == "B" and len(server.requests) == 2


# ---- CircularEval ---------------------------------------------------------------------------------------------

def load(tmp_path, rows=ROWS, bench="mmbench"):
    data = tmp_path / "mmbench.jsonl"
    write_jsonl(data, rows)
    adapter = get_adapter(bench)
    return adapter, adapter.load(str(data), for_requests=False)


def test_circular_eval_one_wrong_rotation_fails_its_group(tmp_path):
    adapter, samples = load(tmp_path)
    preds = predictions(wrong={2_000_002})
    outputs = {s.id: Output(id=s.id, text=preds[int(s.id)]) for s in samples}
    summary = summarize(adapter, score(adapter, samples, outputs, Context()))
    # groups 1 and 3 right, group 2 has one wrong rotation: 2 of 3 questions; 9 of 10 rows
    assert summary.headline == "MMBench" and summary.metrics["MMBench"] == pytest.approx(200 / 3)
    assert summary.breakdown["row_accuracy"] == pytest.approx(90.0)
    assert summary.breakdown["category"] == {"attribute_recognition": {"acc": 100.0, "n": 1},
                                             "image_scene": {"acc": 50.0, "n": 2}}
    assert summary.breakdown["l2_category"]["CP"] == {"acc": 50.0, "n": 2}
    assert summary.n == 10 and summary.notes == []


def test_unscored_rotation_leaves_its_group_out(tmp_path):
    adapter, samples = load(tmp_path)
    preds = predictions(wrong={1_000_002})
    preds[3_000_001] = "the animal that is not listed"  # rules fail -> judge garbage -> unscored
    outputs = {s.id: Output(id=s.id, text=preds[int(s.id)]) for s in samples}
    scores = score(adapter, samples, outputs, Context(judge=StandInJudge(["no idea"])))
    summary = summarize(adapter, scores)
    # group 1 unscored rotation and no wrong one -> out; group 2 wrong -> 0; group 3 right -> 1 of 2
    assert summary.metrics["MMBench"] == pytest.approx(50.0) and summary.n_scored == 9
    assert summary.breakdown["groups_incomplete"] == 1
    assert any("1 circular groups left out" in n for n in summary.notes)
    assert any(n.startswith("unscored: 1 × unscored: judge") for n in summary.notes)


def test_limit_keeps_circular_groups_whole(tmp_path):
    adapter, samples = load(tmp_path)
    kept = apply_limit(samples, 1, adapter.group)
    assert sorted(int(s.id) for s in kept) == [1, 1_000_001, 2_000_001, 3_000_001]
    assert adapter.group(kept[0]) == "1"


def test_reward_is_single_row_correctness():
    a, row = get_adapter("mmbench"), mmb_row(4, ["cat", "dog"], "A")
    assert a.reward(sample(row), Output(id="4", text="A"), Context()) == 1.0
    assert a.reward(sample(row), Output(id="4", text="B"), Context()) == 0.0


# ---- malformed rows, splits, bad outputs ----------------------------------------------------------------------

def test_malformed_rows_name_the_index(tmp_path):
    with pytest.raises(LvrpoError, match="row index 77 has no options"):
        load(tmp_path, [mmb_row(77, [], "A")])
    with pytest.raises(LvrpoError, match="row index 78: answer 'D' is not one of its options A, B, C"):
        load(tmp_path, [mmb_row(78, ["x", "y", "z"], "D")])


def test_split_must_match_the_variant(tmp_path):
    data = tmp_path / "d.jsonl"
    write_jsonl(data, ROWS)
    with pytest.raises(LvrpoError, match="mmbench:en_test"):
        get_adapter("mmbench").load(str(data), "test")
    with pytest.raises(LvrpoError, match="unknown split 'val'"):
        get_adapter("mmbench").load(str(data), "val")
    with pytest.raises(LvrpoError, match="unknown variant"):
        get_adapter("mmbench:cc_test")


@pytest.mark.parametrize("text", ["", "   ", None, "x" * 1_000_000, "B " * 500_000,
                                  "".join(map(chr, random.Random(0).choices(range(1, 0x3000), k=300_000)))])
def test_bad_outputs_no_crash_fast(text):
    row = mmb_row(6, ["cat", "dog", "bird", "fish"], "B")
    t0 = time.perf_counter()
    sc = get_adapter("mmbench").score(sample(row), Output(id="6", text=text), Context())
    assert time.perf_counter() - t0 < 2.0
    assert sc.value in (0.0, 1.0)
    if not (text or "").strip():
        assert (sc.value, sc.parsed, sc.reason) == (0.0, None, "unparsed")


# ---- CLI end to end --------------------------------------------------------------------------------------------

def test_score_cli_end_to_end(tmp_path):
    data, preds = tmp_path / "mmbench_dev.jsonl", tmp_path / "preds.jsonl"
    write_jsonl(data, ROWS)
    write_jsonl(preds, [{"id": str(i), "output": t} for i, t in predictions(wrong={3_000_002}).items()])
    res = run_cli("score", "--bench", "mmbench", "--predictions", str(preds), "--data", str(data), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["bench"] == "mmbench" and summary["n"] == 10 and summary["coverage"] == 1.0
    assert summary["metrics"]["MMBench"] == pytest.approx(200 / 3)  # question 2 fails on one rotation
    assert summary["breakdown"]["l2_category"]["FP-S"]["acc"] == 100.0


def test_en_test_writes_the_submission_file(tmp_path):
    rows = [{**r, "answer": None, "split": "test"} for r in ROWS]
    data, preds, out = tmp_path / "mmbench_test.jsonl", tmp_path / "preds.jsonl", tmp_path / "out"
    write_jsonl(data, rows)
    write_jsonl(preds, [{"id": str(i), "output": t} for i, t in predictions().items() if i != 2])
    res = run_cli("score", "--bench", "mmbench:en_test", "--predictions", str(preds), "--data", str(data),
                  "--out", str(out))
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == {} and any("submit" in n for n in summary["notes"])
    with (out / "mmbench_en_test_submission.tsv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    assert list(table[0]) == ["index", "question", "hint", "A", "B", "C", "D", "category", "l2-category", "source",
                              "split", "prediction"]
    assert [int(r["index"]) for r in table] == sorted(i for i in predictions() if i != 2)
    first = table[0]
    assert (first["index"], first["A"], first["D"], first["prediction"], first["hint"]) == ("1", "cat", "fish", "A", "")
    rot = {r["index"]: r for r in table}["1000003"]  # question 3's rotation: 2 options, prediction verbatim
    assert (rot["A"], rot["B"], rot["C"], rot["prediction"]) == ("no, it is not", "yes, it is", "",
                                                                 "I would say no, it is not.")
