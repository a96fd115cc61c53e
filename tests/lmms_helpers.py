"""Both harnesses for the parity tests: lmms-eval 0.7.3 at the function level (spec §0.4), lvrpo's adapters
through `load`/`score`/`summarize`, one canned judge for both, and docs in the HF schemas lmms-eval reads.

`load()` imports the task `utils` modules of the six benchmarks with a dummy API key and HF offline, and replaces
every network entry point of their judges with a function that records the call and raises, so a test can
never reach an API: tests install canned judges on top (see `canned`), and check `Lmms.blocked` stays empty.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

from lvrpo.evals import get_adapter
from lvrpo.evals.mathvista import build_query
from lvrpo.evals.mmmu import SUBJECTS
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.runner import summarize
from lvrpo.types import Context, Output, Score, Summary
from tests.test_mmmu import mc_row, open_row

TASKS = {"mme": "mme.utils", "mmmu": "mmmu.utils", "mathvista": "mathvista.utils", "mmvp": "mmvp.utils",
         "mmvet": "mmvet.utils", "mmbench": "mmbench.en_utils"}
ENV = {"OPENAI_API_KEY": "dummy-no-network", "API_TYPE": "openai", "HF_HUB_OFFLINE": "1",
       "HF_DATASETS_OFFLINE": "1", "OPENAI_API_URL": "http://127.0.0.1:9/v1/chat/completions"}


class Lmms(SimpleNamespace):
    """The task modules by benchmark name, plus `blocked`: judge calls that tried to leave the machine."""

    blocked: list

    def run(self, bench: str, docs: list[dict], preds: list[str], *, seed: int = 0) -> dict[str, list]:
        """`process_results(doc, [pred.strip()])` per doc (lmms-eval strips every response first), the values
        collected per metric key. The global RNG is seeded as lmms-eval's CLI does (Python random 0)."""
        process = getattr(getattr(self, bench), f"{bench}_process_results")  # the YAML's process_results
        random.seed(seed)
        values: dict[str, list] = {}
        for doc, pred in zip(docs, preds, strict=True):
            for key, value in process(doc, [pred.strip()]).items():
                values.setdefault(key, []).append(value)
        return values


def task_kwargs(module: ModuleType, yaml_name: str) -> dict[str, Any]:
    """The task YAML's `lmms_eval_specific_kwargs["default"]`, read as lmms-eval's utils read their YAMLs
    (lines holding a `!function` tag dropped)."""
    lines = (Path(module.__file__).parent / yaml_name).read_text().splitlines(keepends=True)
    return yaml.safe_load("".join(x for x in lines if "!function" not in x))["lmms_eval_specific_kwargs"]["default"]


def load() -> Lmms:
    """Import the six task modules (about 10 s); fail, never skip, when lmms-eval is missing."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in ENV.items():
            mp.setenv(k, v)
        try:
            mods = {b: importlib.import_module(f"lmms_eval.tasks.{m}") for b, m in TASKS.items()}
        except ImportError as e:
            pytest.fail(f"lmms-eval[metrics]==0.7.3 is required for the parity tests "
                        f"(pip install -e '.[dev,lmms]'): {e}")
    return Lmms(blocked=[], **mods)


@contextmanager
def cut_off(lmms: Lmms):
    """Every lmms-eval judge transport records the attempt and raises (lmms-eval swallows the error, so the
    record is what a test checks)."""

    def refuse(*args, **kwargs):
        lmms.blocked.append(args[:1])
        raise RuntimeError("network call blocked by the parity test")

    mathvista_evals = importlib.import_module("lmms_eval.tasks.mathvista.mathvista_evals")
    mmbench_evals = importlib.import_module("lmms_eval.tasks.mmbench.mmbench_evals")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mathvista_evals.MathVistaEvaluator.server, "evaluate", refuse)
        mp.setattr(lmms.mmvet.server, "evaluate", refuse)
        mp.setattr(mmbench_evals.MMBench_Evaluator, "_post_request", refuse)
        mp.setattr(lmms.mmvet, "time", SimpleNamespace(sleep=lambda s: None))  # its retry loop sleeps 5 s
        yield


# -------------------------------------------------------------------------------------------------- lvrpo

def ours(bench: str, rows: list[dict], preds: list[str], tmp: Path, judge: Judge | None = None
         ) -> tuple[list[Score], Callable[[list[Score]], Summary]]:
    """lvrpo's scores for `preds` (in `rows` order) and the runner's summary for any subset of them. The rows
    go through `adapter.load` from a local JSONL copy, as `lvrpo score --data PATH` reads them (an `id`
    column, when absent, is the row's position, so that each prediction finds its row)."""
    adapter = get_adapter(bench)
    data = tmp / f"{bench}-{len(list(tmp.glob('*.jsonl')))}.jsonl"
    ids = [str(r.get("id", i)) for i, r in enumerate(rows)]
    data.write_text("".join(json.dumps({**r, "id": i}) + "\n" for i, r in zip(ids, rows, strict=True)))
    samples = {s.id: s for s in adapter.load(str(data), for_requests=False)}
    scores = [adapter.score(samples[i], Output(i, text=p), Context(judge=judge))
              for i, p in zip(ids, preds, strict=True)]
    return scores, lambda subset: summarize(adapter, subset)


class Canned(Judge):
    """One judge for both harnesses: `reply(prompt, temperature) -> str`, or None for a failed call."""

    name = "canned"

    def __init__(self, reply: Callable[[str, float], str | None]):
        self.reply, self.prompts = reply, []

    def complete(self, prompt, images=None, *, max_tokens=512, temperature=0.0, **options):
        self.prompts.append(prompt)
        out = self.reply(prompt, temperature or 0.0)
        if out is None:
            raise JudgeError("canned failure")
        return out


# ------------------------------------------------------------------ docs in the HF schemas lmms-eval reads

def mmmu_example(refdata: Path, model: str) -> tuple[list[dict], list[str]]:
    """HF-schema rows (options as a list's string form) and responses from the official example outputs."""
    rows, preds = [], []
    for subject in SUBJECTS:
        for r in json.loads((refdata / f"mmmu/example_outputs/{model}/{subject}/output.json").read_text()):
            if r["question_type"] == "multiple-choice":
                rows.append(mc_row(r["id"], list(r["index2ans"].values()), r["answer"]))
            else:
                rows.append(open_row(r["id"], r["answer"] if isinstance(r["answer"], str) else str(r["answer"])))
            preds.append(r["response"])
    return rows, preds


def looser_rule_only(response: str, n_options: int) -> bool:
    """True when the official MCQ rules `(X)` and ` X ` find nothing but lmms-eval's `X␠` (no leading space:
    "DNA " holds "A ") or its extra `X.` rule does (spec §2, lmms-eval steps 2-3)."""
    for ch in ",.!?;:'":
        response = response.strip(ch)
    padded, letters = f" {response} ", [chr(ord("A") + i) for i in range(n_options)]
    official = any(f"({c})" in padded or f" {c} " in padded for c in letters)
    return not official and any(f"{c} " in padded or f"{c}." in padded for c in letters)


def mathvista_lmms_acc(lmms, results: list[dict]) -> float | None:
    """lmms-eval's aggregation (it pops each result's metadata, so it gets copies)."""
    return lmms.mathvista.mathvista_aggregate_results([{**x, "metadata": dict(x["metadata"])} for x in results],
                                                      None)


def mathvista_row(pid: str, **kw) -> dict:
    """A testmini row in the HF schema (`query` built as the official column holds it)."""
    meta = {"split": "testmini", "language": "english", "source": "IconQA", "category": "math-targeted-vqa",
            "task": "math word problem", "context": "abstract scene", "grade": "elementary school",
            "skills": ["arithmetic reasoning"], "img_width": 8, "img_height": 8}
    row = {"pid": pid, "question": "What fraction is blue?", "image": f"images/{pid}.jpg", "choices": None,
           "unit": None, "precision": None, "answer": "14", "question_type": "free_form", "answer_type": "integer",
           "metadata": meta, **kw}
    return {**row, "query": build_query(row)}


def mmvp_row(index: int, answer: str, question: str = "Are the butterfly's wings open or closed?",
             options: str = "(a) Open (b) Closed") -> dict:
    """A row of the lmms-lab-eval/MMVP copy (spec §5): Index, Question, Options, Correct Answer, image."""
    return {"Index": index, "Question": question, "Options": options, "Correct Answer": answer, "image": None}


def mmvet_row(qid: str, question: str, answer: str, capability: str) -> dict:
    """A row of lmms-lab/MMVet (spec §4): question_id, image, question, answer, capability (comma list)."""
    return {"question_id": qid, "image": None, "question": question, "answer": answer, "capability": capability}


def mmbench_group(base: int, question: str, options: list[str], answer: str) -> list[dict]:
    """A circular group: the base row and its rotations (index + k·1e6), options shifted, answer remapped."""
    rows, n = [], len(options)
    for k in range(n):
        order = [(i + k) % n for i in range(n)]
        row = {"index": base + k * 1_000_000, "question": question, "hint": None,
               "answer": "ABCD"[order.index("ABCD".index(answer))], "category": "object_localization",
               "L2-category": "FP-S", "source": "hand", "split": "dev", "comment": None}
        row.update({c: options[order[i]] if i < n else None for i, c in enumerate("ABCD")})
        rows.append(row)
    return rows
