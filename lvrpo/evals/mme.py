"""MME: 14 yes/no subtasks, two questions per image; score = acc + acc+ per subtask, summed.

Rules from the official `eval_tool/calculation.py` (BradyFU/Awesome-Multimodal-Large-Language-Models,
branch Evaluation) and the HF dataset `lmms-lab/MME`; see specs/understanding-benchmarks.md §6.
"""

from __future__ import annotations

from lvrpo.evals.base import Adapter, bad_cell, fields_of
from lvrpo.types import Context, Output, Request, Sample, Score, Summary

PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
              "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")

# lmms-eval's default (LLaVA-1.5 style): drop the dataset's suffix, ask for a short answer.
DATASET_SUFFIX = " Please answer yes or no."
POST_PROMPT = "\nAnswer the question using a single word or phrase."


def parse_yes_no(text: str) -> str:
    """The official rule: exactly "yes"/"no", else "yes" if in the first 4 characters, else "no" if there,
    else "other" (always wrong). So "not..." and "none..." read as no.

    Lower-cased as the official tool does; outer whitespace is stripped because the official results
    file holds one answer per line (lmms-eval also deletes periods and maps "y"/"n"; the official does not).
    """
    pred = text.strip().lower()
    if pred in ("yes", "no"):
        return pred
    head = pred[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


class MME(Adapter):
    name = "mme"
    kind = "understand"
    hub_ids = ("lmms-lab/MME", "lmms-lab-encoder/MME")  # moved on 2026-07-30; content presumed identical
    splits = ("test",)
    default_split = "test"
    id_column = None  # no unique column: the row index is the id
    columns = ("question_id", "question", "answer", "category")
    request_columns = ("image",)
    answer_columns = ("answer", "category")

    def normalise(self, row: dict, where: str) -> dict:
        answer = row.get("answer")
        if not isinstance(answer, str) or answer.strip().lower() not in ("yes", "no"):
            raise bad_cell(self.name, "answer", where, answer, "the string 'Yes' or 'No'")
        if not isinstance(row.get("category"), str):  # the subtask name keys the breakdown
            raise bad_cell(self.name, "category", where, row.get("category"), "a subtask name (string)")
        return row

    def group(self, sample: Sample) -> str:
        return str(sample.row["question_id"])  # the image path, shared by its two questions

    def request(self, sample: Sample) -> Request:
        question = str(sample.row["question"]).replace(DATASET_SUFFIX, "")
        return Request(id=sample.id, kind="understand", prompt=question + POST_PROMPT,
                       images=[sample.image("image")], max_new_tokens=16, bench=self.name)

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        parsed = parse_yes_no(output.text or "")
        target = str(sample.row["answer"]).strip().lower()
        reason = "ok" if parsed != "other" else "unparsed"
        return Score(id=sample.id, value=float(parsed == target), parsed=parsed, target=target, reason=reason,
                     meta={"category": sample.row["category"], "image": str(sample.row["question_id"])})

    def aggregate(self, scores: list[Score]) -> Summary:
        per_task = {}
        by_task = fields_of(scores, "category")
        known = PERCEPTION + COGNITION
        order = [t for t in known if t in by_task] + [t for t in by_task if t not in known]
        for task in order:
            rows = by_task[task]
            images = fields_of(rows, "image")
            acc = sum(s.value for s in rows) / len(rows)
            acc_plus = sum(all(s.value == 1 for s in img) for img in images.values()) / len(images)
            per_task[task] = {"acc": 100 * acc, "acc_plus": 100 * acc_plus, "score": 100 * acc + 100 * acc_plus,
                              "n": len(rows), "other": sum(s.parsed == "other" for s in rows)}
        p = sum(per_task[t]["score"] for t in PERCEPTION if t in per_task)
        c = sum(per_task[t]["score"] for t in COGNITION if t in per_task)
        notes = [f"missing subtasks: {', '.join(missing)}"
                 for missing in [[t for t in PERCEPTION + COGNITION if t not in per_task]] if missing]
        unknown = [t for t in per_task if t not in PERCEPTION + COGNITION]
        if unknown:
            notes.append(f"categories outside MME's 14 subtasks (not in totals): {', '.join(map(str, unknown))}")
        return Summary(bench=self.name, metrics={"MME-P": p, "MME-C": c, "MME-sum": p + c}, headline="MME-P",
                       breakdown={"subtasks": per_task}, n=len(scores), n_scored=len(scores), notes=notes)


ADAPTER = MME
