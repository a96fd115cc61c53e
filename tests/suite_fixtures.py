"""Fixture writers for the suite-level end-to-end tests (tests/test_suites.py).

Each `write_<bench>` writes a handful of rows in that benchmark's OFFICIAL schema (the columns of
specs/understanding-benchmarks.md / generation-benchmarks.md, images as tiny real PNG files with paths relative to
the jsonl) and returns the data path plus replay prediction lines (`{"bench", "id", "output"|"images"}`) whose
outcome is hand-worked in the test docstrings. The judge server lives in tests/util.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from tests.util import write_jsonl

Preds = list[dict[str, Any]]


def png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _shade(i: int) -> tuple[int, int, int]:
    return ((53 * i) % 256, (97 * i + 40) % 256, (31 * i + 90) % 256)


def _preds(bench: str, answers: dict[str, str]) -> Preds:
    return [{"bench": bench, "id": sid, "output": text} for sid, text in answers.items()]


# ------------------------------------------------------------------------------------------- understanding


def write_mme(root: Path) -> tuple[Path, Preds]:
    """lmms-lab/MME schema (question_id = image path shared by its yes/no pair, image, question, answer, category);
    no id column, so ids are row indices 0..7."""
    images = [("existence", "000.png"), ("existence", "001.png"), ("count", "000.png"), ("code_reasoning", "000.png")]
    rows = []
    for i, (task, name) in enumerate(images):
        png(root / "mme" / task / name, _shade(i))
        for gt in ("Yes", "No"):
            rows.append({"question_id": f"{task}/{name}", "image": f"{task}/{name}", "category": task, "answer": gt,
                         "question": f"Is there a {gt.lower()}-thing in picture {i}? Please answer yes or no."})
    answers = ["Yes", "No", "yes", "Yes, it is.", "Maybe", "no", "Yes", "Not at all"]
    return write_jsonl(root / "mme" / "mme.jsonl", rows), _preds("mme", {str(i): a for i, a in enumerate(answers)})


def _mmbench_row(index: int, options: list[str], answer: str, image: str) -> dict[str, Any]:
    letters = dict(zip("ABCD", options + [None] * (4 - len(options)), strict=True))
    return {"index": index, "question": "Which animal is shown?", "hint": None, **letters, "answer": answer,
            "category": "image_topic", "L2-category": "CP", "image": image, "source": "lvrpo-test",
            "comment": None, "split": "dev"}


def write_mmbench(root: Path) -> tuple[Path, Preds]:
    """lmms-lab/MMBench (en, dev) schema; two complete circular groups, rotations at index + k·1e6, stored apart."""
    png(root / "mmbench" / "1.png", _shade(11))
    png(root / "mmbench" / "2.png", _shade(12))
    rows = [_mmbench_row(1, ["cat", "dog"], "A", "1.png"),
            _mmbench_row(2, ["cat", "dog", "cow"], "C", "2.png"),
            _mmbench_row(1_000_001, ["dog", "cat"], "B", "1.png"),
            _mmbench_row(1_000_002, ["dog", "cow", "cat"], "B", "2.png"),
            _mmbench_row(2_000_002, ["cow", "cat", "dog"], "A", "2.png")]
    answers = {"1": "A", "1000001": "The answer is B", "2": "C", "1000002": "cow", "2000002": "B"}
    return write_jsonl(root / "mmbench" / "mmbench.jsonl", rows), _preds("mmbench", answers)


def _mmmu_row(sid: str, question: str, options: str, answer: str, qtype: str) -> dict[str, Any]:
    return {"id": sid, "question": question, "options": options, "explanation": "", "image_1": "img.png",
            **{f"image_{k}": None for k in range(2, 8)}, "img_type": "['Photographs']", "answer": answer,
            "topic_difficulty": "Easy", "question_type": qtype, "subfield": "test"}


def write_mmmu(root: Path) -> tuple[Path, Preds]:
    """lmms-lab/MMMU validation schema (`options` a string holding a Python list): two multiple-choice questions
    and one open question, each citing `<image 1>`."""
    png(root / "mmmu" / "img.png", _shade(21))
    rows = [_mmmu_row("validation_Art_Theory_1", "<image 1> Which colour dominates?", "['red', 'blue', 'green']",
                      "B", "multiple-choice"),
            _mmmu_row("validation_Art_Theory_2", "<image 1> Which shape is drawn?", "['circle', 'square']", "B",
                      "multiple-choice"),
            _mmmu_row("validation_Math_1", "<image 1> How many pixels wide is the image?", "[]", "12", "open")]
    answers = {"validation_Art_Theory_1": "B", "validation_Art_Theory_2": "A", "validation_Math_1": "The width is 12."}
    return write_jsonl(root / "mmmu" / "mmmu.jsonl", rows), _preds("mmmu", answers)


def _mathvista_row(pid: str, question: str, choices: list[str] | None, answer: str, qtype: str,
                   atype: str, query: str) -> dict[str, Any]:
    metadata = {"category": "math-targeted-vqa", "context": "synthetic scene", "grade": "elementary school",
                "img_height": 8, "img_width": 8, "language": "english", "skills": ["arithmetic reasoning"],
                "source": "lvrpo-test", "split": "testmini", "task": "math word problem"}
    return {"pid": pid, "question": question, "image": f"images/{pid}.png", "decoded_image": f"images/{pid}.png",
            "choices": choices, "unit": None, "precision": None, "answer": answer, "question_type": qtype,
            "answer_type": atype, "metadata": metadata, "query": query}


def write_mathvista(root: Path) -> tuple[Path, Preds]:
    """AI4Math/MathVista testmini schema (`query` with the hint first, `metadata` a struct)."""
    for i in (1, 2, 3):
        png(root / "mathvista" / "images" / f"{i}.png", _shade(30 + i))
    mc = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."
    integer = ("Hint: Please answer the question requiring an integer answer and provide the final value, e.g., "
               "1, 2, 3, at the end.")
    rows = [_mathvista_row("1", "How many dots?", ["3", "5"], "5", "multi_choice", "text",
                           f"{mc}\nQuestion: How many dots?\nChoices:\n(A) 3\n(B) 5"),
            _mathvista_row("2", "What is 3 + 4?", None, "7", "free_form", "integer",
                           f"{integer}\nQuestion: What is 3 + 4?"),
            _mathvista_row("3", "Which animal barks?", ["cat", "dog", "cow"], "dog", "multi_choice", "text",
                           f"{mc}\nQuestion: Which animal barks?\nChoices:\n(A) cat\n(B) dog\n(C) cow")]
    answers = {"1": "5", "2": "8", "3": 'The answer is "B".'}
    return write_jsonl(root / "mathvista" / "mathvista.jsonl", rows), _preds("mathvista", answers)


MMVET_GRADES = {"zebra-alpha": "1.0", "zebra-beta": "0.5", "zebra-gamma": "0.3"}  # the judge's canned grades


def write_mmvet(root: Path, garbage: bool = False) -> tuple[Path, Preds]:
    """lmms-lab/MMVet schema (question_id v1_k, image, question, answer with <AND>/<OR>, capability comma list).
    `garbage=True` makes v1_1's prediction one the judge answers with garbage (left unscored)."""
    caps = ["rec", "ocr,math", "rec,know,gen", "ocr"]
    rows = []
    for k, cap in enumerate(caps):
        png(root / "mmvet" / "images" / f"v1_{k}.png", _shade(40 + k))
        rows.append({"question_id": f"v1_{k}", "image": f"images/v1_{k}.png", "question": f"What is item {k}?",
                     "answer": f"thing {k}<OR>object {k}", "capability": cap})
    answers = {"v1_0": "zebra-alpha", "v1_1": "zebra-garbage" if garbage else "zebra-beta", "v1_2": "zebra-gamma",
               "v1_3": ""}
    return write_jsonl(root / "mmvet" / "mmvet.jsonl", rows), _preds("mmvet", answers)


def write_mmvp(root: Path) -> tuple[Path, Preds]:
    """lmms-lab-eval/MMVP schema (Index 1..6 = three image pairs, Question, Options, Correct Answer, image)."""
    pairs = [("Is the door open or closed?", "(a) Open (b) Closed"),
             ("Is the dog facing left or right?", "(a) Left (b) Right"),
             ("Are there two or three cups?", "(a) Two (b) Three")]
    gold = ["(a)", "(b)", "(b)", "(a)", "(a)", "(b)"]
    rows = []
    for i in range(6):
        png(root / "mmvp" / "images" / f"{i + 1}.png", _shade(60 + i))
        question, options = pairs[i // 2]
        rows.append({"Index": i + 1, "Question": question, "Options": options, "Correct Answer": gold[i],
                     "image": f"images/{i + 1}.png"})
    answers = {"1": "(a)", "2": "Closed", "3": "The answer is (b)", "4": "b", "5": "I can't tell", "6": "(b)"}
    return write_jsonl(root / "mmvp" / "mmvp.jsonl", rows), _preds("mmvp", answers)


WRITERS = {"mme": write_mme, "mmbench": write_mmbench, "mmmu": write_mmmu, "mathvista": write_mathvista,
           "mmvet": write_mmvet, "mmvp": write_mmvp}


def understanding_fixture(root: Path, benches=tuple(WRITERS), garbage: bool = False) -> tuple[dict[str, Path], Path]:
    """Data per benchmark and ONE replay file for all of them (ids repeat across benchmarks: `bench` tells apart)."""
    sources, preds = {}, []
    for bench in benches:
        path, lines = write_mmvet(root, garbage) if bench == "mmvet" else WRITERS[bench](root)
        sources[bench] = path
        preds += lines
    return sources, write_jsonl(root / "preds.jsonl", preds)


def data_arg(sources: dict[str, Path]) -> str:
    return ",".join(f"{b}={p}" for b, p in sources.items())


# ------------------------------------------------------------------------------------------ generation

GEDIT_EDITS = {"k1": ("background_change", (250, 10, 10)), "k2": ("color_alter", (10, 10, 250)),
               "k3": ("background_change", (10, 250, 10))}  # key -> (task_type, colour of the stored edited image)


def write_gedit(root: Path) -> Path:
    """stepfun-ai/GEdit-Bench schema (key, task_type, instruction, instruction_language, input_image,
    input_image_raw, Intersection_exist): a CN row first (the `gedit` (en) variant skips it), then three EN rows."""
    rows = []
    for n, (key, (task, _)) in enumerate([("k9", ("color_alter", None)), *GEDIT_EDITS.items()]):
        png(root / "gedit" / "src" / f"{key}.png", _shade(70 + n), size=(16, 12))
        png(root / "gedit" / "raw" / f"{key}.png", _shade(70 + n), size=(32, 24))
        lang = "cn" if key == "k9" else "en"
        rows.append({"key": key, "task_type": task, "instruction": f"make edit {key}" if lang == "en" else "把它变红",
                     "instruction_language": lang, "input_image": f"src/{key}.png",
                     "input_image_raw": f"raw/{key}.png", "Intersection_exist": n % 2 == 0})
    return write_jsonl(root / "gedit" / "gedit.jsonl", rows)


def generation_replay(root: Path, geneval_ids=("0", "1"), wise_ids=("1", "2"), geneval_images: int = 4) -> Path:
    """A replay file serving stored images: generate for GenEval (4 per prompt) and WISE, edit for GEdit."""
    lines: Preds = []
    for p in geneval_ids:
        files = [png(root / "stored" / f"geneval_{p}_{k}.png", _shade(80 + k), (16, 16)) for k in range(geneval_images)]
        lines.append({"bench": "geneval", "id": p, "images": [str(f.relative_to(root)) for f in files]})
    for w in wise_ids:
        f = png(root / "stored" / f"wise_{w}.png", _shade(90 + int(w)), (24, 16))
        lines.append({"bench": "wise", "id": w, "image": str(f.relative_to(root))})
    for key, (_, color) in GEDIT_EDITS.items():
        f = png(root / "stored" / f"gedit_{key}.png", color, (20, 20))
        lines.append({"bench": "gedit", "id": key, "images": [str(f.relative_to(root))]})
    return write_jsonl(root / "gen_preds.jsonl", lines)


def write_detections(root: Path, run_key: str, per_prompt: dict[int, list[tuple[str, float] | None]]) -> Path:
    """A replay-detector file keyed by the images the run will save (GenEval's official layout in the run dir):
    per prompt, per image k, one (label, score) detection or None for nothing found."""
    dets = {f"{run_key}/images/{p:05d}/samples/{k:04d}.png":
            [] if d is None else [{"label": d[0], "score": d[1], "box": [1, 1, 12, 12]}]
            for p, images in per_prompt.items() for k, d in enumerate(images)}
    path = root / f"dets_{run_key.replace('/', '_')}.json"
    path.write_text(json.dumps(dets), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------- judge



