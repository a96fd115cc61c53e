"""GenEval: object-focused text-to-image alignment — 553 prompts × 4 images, detector + colour rules, 6 tasks.

Rules restated from the official `evaluation/evaluate_images.py` and `evaluation/summary_scores.py`
(djghosh13/geneval @ af4902f) and specs/generation-benchmarks.md §1:
- Detections per class sorted by score, kept if score > 0.3 (> 0.9 for every class when the prompt is tagged
  `counting`), at most 16 per class, class-wise NMS off (max_overlap 1.0). Scores and boxes are compared in
  float32, as mmdet's result arrays are.
- Include clauses (AND), in order: the top-`count` detections of the class must exist; with a colour, at least
  `count` of them must have it (CLIP on masked crops, `lvrpo.vision.color`); with a position, the referenced clause
  must have matched and every chosen instance must stand in the relation to every instance chosen there
  (`relative_position`). Exclude clauses (OR): fail if the class has ≥ `count` kept detections in total.
- An image is correct or not; a task score is the mean over its images; **GenEval = the unweighted mean of the
  task scores** (not the mean over images).

Images per prompt: 4 (official); the variant `geneval:nK` asks for K instead. A variant rather than an option
because it changes the protocol: the run directory key and the manifest's benchmark list then say `geneval:n8`,
and a 4-image run is never resumed into an 8-image one. Prompt folders with fewer images than required are
refused (LvrpoError naming the folder/prompt), never scored as a partial set. Bad images never crash a run: RGBA,
greyscale or palette images are converted to RGB (alpha dropped, as OpenCV's colour read in mmcv does), a file that
is not an image is a wrong image (reason "unreadable image: ..."), and a detector crash leaves that prompt
unscored. `results.jsonl` in the official evaluator's format is written beside summary.json.

Rewards for GRPO: `reward()` is strict correctness, the mean over the images in the Output (pass one image per
rollout for a per-image reward); `partial_reward()` is the fraction of checks satisfied — per include clause one
for the count, one for the colour and one for the position when present, one per exclude clause — in [0, 1],
unlike Flow-GRPO's partial score, which can go negative.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from lvrpo.data import loads
from lvrpo.data.images import ImageError, decode_image
from lvrpo.evals.base import Adapter, mean, safe_name, write_images
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary
from lvrpo.vision.color import COLORS

TASKS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
RELATIONS = ("left of", "right of", "above", "below")
DATA = Path(__file__).resolve().parent / "data" / "geneval"
N_PROMPTS, N_IMAGES = 553, 4
THRESHOLD, COUNTING_THRESHOLD, MAX_OBJECTS, MAX_OVERLAP, POSITION_THRESHOLD = 0.3, 0.9, 16, 1.0, 0.1
SEED = 42  # the reference generation script's seed; prompt i is sampled with SEED + i
SAMPLE_FILE = re.compile(r"\d+\.png")  # the official filter, applied with re.match (anchored at the start only)


@dataclass
class Instance:
    box: np.ndarray  # float32 [x1, y1, x2, y2]
    score: float
    mask: np.ndarray | None = None
    color: str | None = None  # known colour (replay), else the colour classifier decides


@dataclass
class Verdict:
    correct: bool
    reasons: list[str] = field(default_factory=list)
    passed: int = 0  # checks satisfied (partial credit)
    total: int = 0


def keep(dets, tag: str) -> dict[str, list[Instance]]:
    """The official per-class filter: best first, score > threshold (float32), at most 16, optional NMS.

    Within a class, candidates are ordered as `np.argsort(scores)[::-1]` over the detector's output order, as the
    official code does, so exact score ties resolve the same way (later candidate first)."""
    threshold = np.float32(COUNTING_THRESHOLD if tag == "counting" else THRESHOLD)
    scores = np.asarray(dets.scores, dtype=np.float32).reshape(-1)
    boxes = np.asarray(dets.boxes, dtype=np.float32).reshape(-1, 4)
    masks = dets.masks if dets.masks is not None else [None] * len(scores)
    colors = dets.colors or [None] * len(scores)
    kept = {}
    for cls in dict.fromkeys(dets.labels):
        idx = np.array([i for i, label in enumerate(dets.labels) if label == cls])
        order = idx[np.argsort(scores[idx])[::-1]]
        order = list(order[scores[order] > threshold][:MAX_OBJECTS])
        out: list[Instance] = []
        while order:  # NMS only when max_overlap < 1 (off in GenEval)
            best = order.pop(0)
            out.append(Instance(boxes[best], float(scores[best]), masks[best], colors[best]))
            order = [i for i in order if MAX_OVERLAP == 1 or iou(boxes[best], boxes[i]) < MAX_OVERLAP]
        if out:
            kept[cls] = out
    return kept


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Box IoU with the inclusive-pixel (+1) convention the official NMS uses."""
    def area(x1, y1, x2, y2):
        return max(x2 - x1 + 1, 0) * max(y2 - y1 + 1, 0)
    inter = area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    union = area(*a[:4]) + area(*b[:4]) - inter
    return float(inter / union) if union else 0.0


def relative_position(a: np.ndarray, b: np.ndarray, margin: float = POSITION_THRESHOLD) -> set[str]:
    """Relations of box A to box B: the centre offset, each axis shrunk by margin × (sum of extents), normalised
    by the unshrunk offset's length; > 0.5 along an axis is a relation (y grows down). float32 as official."""
    boxes = np.asarray([a[:4], b[:4]], dtype=np.float32).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dims = np.abs(boxes[:, 1] - boxes[:, 0])
    offset = center_a - center_b
    shrunk = np.maximum(np.abs(offset) - np.float32(margin) * (dims[0] + dims[1]), 0) * np.sign(offset)
    if np.all(np.abs(shrunk) < 1e-3):
        return set()
    dx, dy = shrunk / np.linalg.norm(offset)
    rels = {"left of": dx < -0.5, "right of": dx > 0.5, "above": dy < -0.5, "below": dy > 0.5}
    return {r for r, holds in rels.items() if holds}


def judge(objects: dict[str, list[Instance]], metadata: dict[str, Any], colours) -> Verdict:
    """One image against its prompt's clauses. `colours(instances, classname)` gives each instance's colour."""
    v = Verdict(correct=True)
    groups: list[list[Instance] | None] = []
    for req in metadata.get("include", []):
        cls, n = req["class"], int(req["count"])
        found = objects.get(cls, [])[:n]
        matched = len(found) >= n
        v.total += 1
        v.passed += matched
        if not matched:
            v.reasons.append(f"expected {cls}>={n}, found {len(found)}")
        if "color" in req:
            v.total += 1
            if matched:
                got = colours(found, cls)
                hits = got.count(req["color"])
                matched = hits >= n
                v.passed += matched
                if not matched:
                    seen = ", ".join(f"{got.count(c)} {c}" for c in COLORS if c in got)
                    v.reasons.append(f"expected {req['color']} {cls}>={n}, found {hits} {req['color']}; and {seen}")
        if "position" in req:
            v.total += 1
            if matched:
                rel, target = req["position"]
                ref = groups[target] if 0 <= target < len(groups) else None
                if ref is None:
                    matched = False
                    v.reasons.append(f"no target for {cls} to be {rel}")
                else:
                    bad = next((rels for a in found for b in ref
                                if rel not in (rels := relative_position(a.box, b.box))), None)
                    matched = bad is None
                    v.passed += matched
                    if bad is not None:
                        v.reasons.append(f"expected {cls} {rel} target, found {' and '.join(sorted(bad))} target")
        v.correct &= matched
        groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        cls, n = req["class"], int(req["count"])
        v.total += 1
        if len(objects.get(cls, [])) >= n:
            v.correct = False
            v.reasons.append(f"expected {cls}<{n}, found {len(objects[cls])}")
        else:
            v.passed += 1
    return v


def n_checks(row: dict[str, Any]) -> int:
    """How many partial-credit checks a prompt has (see `judge`)."""
    return sum(1 + ("color" in r) + ("position" in r) for r in row["include"]) + len(row.get("exclude", ()))


def check_row(row: dict[str, Any], where: str) -> None:
    """A metadata row in the official shape, or an LvrpoError naming it."""
    def bad(why: str):
        raise LvrpoError(f"geneval: {where}: {why}")
    if not isinstance(row.get("prompt"), str) or not isinstance(row.get("tag"), str):
        bad("needs string 'tag' and 'prompt'")
    include, exclude = row.get("include"), row.get("exclude", [])
    if not isinstance(include, list) or not include or not isinstance(exclude, list):
        bad("'include' must be a non-empty list (and 'exclude' a list)")
    for k, req in enumerate(include + exclude):
        if not isinstance(req, dict) or not isinstance(req.get("class"), str) or type(req.get("count")) is not int \
                or req["count"] < 1:
            bad(f"clause {req!r} needs 'class' (string) and 'count' (integer ≥ 1)")
        if "color" in req and req["color"] not in COLORS:
            bad(f"unknown colour {req['color']!r} (valid: {', '.join(COLORS)})")
        pos = req.get("position")
        if pos is not None and not (isinstance(pos, list) and len(pos) == 2 and pos[0] in RELATIONS
                                    and type(pos[1]) is int and 0 <= pos[1] < k):
            bad(f"position {pos!r} must be [relation, index of an earlier include clause]")


def to_rgb(img: Image.Image) -> Image.Image:
    """EXIF-upright RGB; alpha is dropped without compositing, as OpenCV's colour read (mmcv) does."""
    return ImageOps.exif_transpose(img).convert("RGB")


class GenEval(Adapter):
    name = "geneval"
    kind = "generate"
    splits = ("test",)
    default_split = "test"
    columns = ("tag", "include", "prompt")
    answer_columns = ("tag", "include", "exclude")
    variants = ("n4",)  # any nK (1 ≤ K ≤ 64) is accepted: K images per prompt
    needs_detector = True
    require_complete = True  # the official scorer asserts all 553 prompts × 4 images

    def __init__(self, variant: str | None = None):
        m = re.fullmatch(r"n(\d+)", variant or "n4")
        if not m or not 1 <= int(m.group(1)) <= 64:
            raise LvrpoError(f"geneval: unknown variant {variant!r} (valid: nK, K images per prompt, 1 ≤ K ≤ 64; "
                             f"official: n4)")
        self.num_images = int(m.group(1))
        self.variant = f"n{self.num_images}"

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        """`hub` reads the shipped official prompts (GenEval has no HF dataset); PATH another metadata jsonl."""
        if source.startswith("hub:"):
            raise LvrpoError("geneval has no Hugging Face dataset: use --data hub (the shipped official "
                             "evaluation_metadata.jsonl) or --data PATH to another metadata jsonl")
        if source == "hub":
            source = str(DATA / "evaluation_metadata.jsonl")
        samples = super().load(source, split, for_requests=for_requests)
        for s in samples:
            check_row(s.row, f"{source} row {s.id}")
        return samples

    def request(self, sample: Sample) -> Request:
        # GenEval fixes no resolution: the reference script leaves height/width to the model (None = native).
        return Request(id=sample.id, kind="generate", prompt=sample.row["prompt"], num_images=self.num_images,
                       seed=SEED + _index(sample.id), options={"height": None, "width": None}, bench=self.name)

    def save_images(self, sample: Sample, images: list[Image.Image], out_dir: Path) -> list[str]:
        """The official layout under `images/`: `<index:05d>/metadata.jsonl` + `samples/<k:04d>.png` (RGB)."""
        folder = Path("images") / _folder(sample.id)
        (out_dir / folder / "samples").mkdir(parents=True, exist_ok=True)
        (out_dir / folder / "metadata.jsonl").write_text(json.dumps(sample.row) + "\n", encoding="utf-8")
        return write_images([img if img.mode == "RGB" else img.convert("RGB") for img in images], out_dir,
                            [folder / "samples" / f"{k:04d}.png" for k in range(len(images))])

    def read_predictions_dir(self, path: Path) -> list[Output]:
        """Official-layout folders (`00000/metadata.jsonl`, `00000/samples/0000.png`…), made by lvrpo or anyone's
        official-style script. Like the official evaluator, only `samples/` files matching digits + `.png` count."""
        folders = sorted((p for p in path.iterdir() if p.is_dir() and p.name.isascii() and p.name.isdigit()),
                         key=lambda p: int(p.name))
        if not folders:
            raise LvrpoError(f"geneval: {path} has no prompt folders (00000/, 00001/, … with metadata.jsonl and "
                             "samples/)")
        outputs, seen = [], set()
        for f in folders:
            sid = str(int(f.name))
            if sid in seen:
                raise LvrpoError(f"geneval: {f}: a second folder for prompt {sid}")
            seen.add(sid)
            try:
                meta = loads((f / "metadata.jsonl").read_text(encoding="utf-8"), f / "metadata.jsonl")
            except FileNotFoundError:
                raise LvrpoError(f"geneval: {f}: no metadata.jsonl") from None
            except (LvrpoError, UnicodeDecodeError) as e:
                raise LvrpoError(f"geneval: {f / 'metadata.jsonl'}: not one JSON object ({e})") from None
            if not isinstance(meta, dict):
                raise LvrpoError(f"geneval: {f / 'metadata.jsonl'}: not a JSON object")
            samples = f / "samples"
            files = [p for p in samples.iterdir() if p.is_file() and SAMPLE_FILE.match(p.name)] \
                if samples.is_dir() else []
            if len(files) < self.num_images:
                raise LvrpoError(f"geneval: {f} has {len(files)} images in samples/ (digits + .png), "
                                 f"{self.num_images} required per prompt: refusing to score a partial set")
            files.sort(key=lambda p: (int(re.match(r"\d+", p.name).group()), p.name))
            outputs.append(Output(id=sid, images=[str(p.resolve()) for p in files], extra={"metadata": meta}))
        return outputs

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        n = len(output.images)
        if n < self.num_images:
            raise LvrpoError(f"geneval: prompt {sample.id} ({sample.row['prompt']!r}) has {n} images, "
                             f"{self.num_images} required: refusing to score a partial set")
        meta = output.extra.get("metadata")
        if meta is not None and {k: meta.get(k) for k in ("prompt", "include", "exclude")} != \
                {k: sample.row.get(k) for k in ("prompt", "include", "exclude")}:
            raise LvrpoError(f"geneval: folder {_folder(sample.id)}: its metadata.jsonl ({meta.get('prompt')!r}) "
                             f"is not prompt {sample.id} of the data ({sample.row['prompt']!r}); pass the "
                             "matching --data")
        results = self._judge_images(sample, output.images, ctx)
        info = {"tag": sample.row["tag"], "prompt": sample.row["prompt"], "metadata": json.dumps(sample.row),
                "detector": _describe(ctx)}
        if isinstance(results, str):
            return Score(id=sample.id, value=None, reason=f"unscored: {results}", meta=info)
        correct = [int(r["correct"]) for r in results]
        reasons = list(dict.fromkeys(r["reason"] for r in results if r["reason"]))
        return Score(id=sample.id, value=mean(correct), parsed=results, target=sample.row["prompt"],
                     reason="; ".join(reasons)[:500] or "ok", meta={**info, "correct": correct})

    def reward(self, sample: Sample, output: Output, ctx: Context) -> float | None:
        """Strict GenEval correctness, averaged over the Output's images (any number ≥ 1; paths or PIL images)."""
        results = self._judge_images(sample, output.images, ctx) if output.images else None
        return None if results is None or isinstance(results, str) else mean([float(r["correct"]) for r in results])

    def partial_reward(self, sample: Sample, output: Output, ctx: Context) -> float | None:
        """Fraction of checks satisfied (count, colour, position per include clause; each exclude), in [0, 1]."""
        results = self._judge_images(sample, output.images, ctx) if output.images else None
        if results is None or isinstance(results, str):
            return None
        return mean([r["passed"] / r["total"] if r["total"] else float(r["correct"]) for r in results])

    def _judge_images(self, sample: Sample, images: list, ctx: Context) -> list[dict] | str:
        """Per-image verdicts, or why the sample cannot be scored (the detector failed). An unreadable image is
        a wrong image (the model's output), not an unscored one."""
        if ctx.detector is None:
            raise LvrpoError("geneval needs a detector: --detector mask2former[:ID] or replay:FILE")
        row, out = sample.row, []
        for item in images:
            path = None if isinstance(item, Image.Image) else str(item)
            try:
                image = to_rgb(decode_image(item, where=f"geneval prompt {sample.id}"))
            except (ImageError, OSError, ValueError, Image.DecompressionBombError) as e:
                out.append({"file": path, "correct": False, "reason": f"unreadable image: {e}", "passed": 0,
                            "total": n_checks(row), "detected": {}})
                continue
            try:
                objects = keep(ctx.detector.detect(image, path), row["tag"])
                verdict = judge(objects, row, lambda objs, cls, image=image, path=path: self._colours(
                    image, objs, cls, ctx, path))
            except LvrpoError:
                raise  # configuration problems (replay file without this image, no colour classifier): stop
            except Exception as e:  # a detector/classifier crash on one image must not end the run
                return f"detector error on {path or 'image'}: {type(e).__name__}: {e}"
            out.append({"file": path, "correct": verdict.correct, "reason": "\n".join(verdict.reasons),
                        "passed": verdict.passed, "total": verdict.total,
                        "detected": {c: [[*map(float, o.box), o.score] for o in objs] for c, objs in objects.items()}})
        return out

    def _colours(self, image: Image.Image, objs: list[Instance], cls: str, ctx: Context, path: str | None):
        todo = [o for o in objs if o.color is None]
        if todo and ctx.color_classifier is None:
            raise LvrpoError(f"geneval: no colour for {cls} in {path or 'an image'}: the replay detections have no "
                             "'color' and no colour classifier is configured (add ,clip=ID_OR_PATH to --detector)")
        found = iter(ctx.color_classifier.classify(image, [o.box for o in todo], [o.mask for o in todo], cls)
                     if todo else [])
        return [o.color if o.color is not None else next(found) for o in objs]

    def aggregate(self, scores: list[Score]) -> Summary:
        by_task: dict[str, list[list[int]]] = {}
        for s in scores:
            by_task.setdefault(s.meta["tag"], []).append(s.meta["correct"])
        order = [t for t in TASKS if t in by_task] + [t for t in by_task if t not in TASKS]
        breakdown: dict[str, Any] = {}
        for t in order:
            flat = [c for prompt in by_task[t] for c in prompt]
            breakdown[t] = {"score": mean(flat), "correct": sum(flat), "images": len(flat), "prompts": len(by_task[t])}
        overall = mean([breakdown[t]["score"] for t in order])
        images = [c for s in scores for c in s.meta["correct"]]
        breakdown.update(images=len(images), prompts=len(scores), correct_images=mean(images),
                         correct_prompts=mean([float(any(s.meta["correct"])) for s in scores]),
                         images_per_prompt=self.num_images, detector=scores[0].meta.get("detector"))
        notes = []
        if missing := [t for t in TASKS if t not in by_task]:
            notes.append(f"tasks missing: {', '.join(missing)}; GenEval here is the mean of the tasks present")
        if len(scores) < N_PROMPTS or self.num_images != N_IMAGES:
            notes.append(f"{len(scores)} prompts × {self.num_images} images scored; official GenEval is "
                         f"{N_PROMPTS} × {N_IMAGES} — not comparable with published numbers")
        if any(len(s.meta["correct"]) > self.num_images for s in scores):
            notes.append(f"some prompts have more than {self.num_images} images; all were scored, as the official "
                         "evaluator does")
        metrics = {"GenEval": overall, **{f"GenEval/{t}": breakdown[t]["score"] for t in order}}
        return Summary(bench=self.name, metrics=metrics, headline="GenEval", breakdown=breakdown, n=len(scores),
                       n_scored=len(scores), notes=notes)

    def artifacts(self, scores: list[Score]) -> dict[str, str | bytes]:
        """`results.jsonl` in the official evaluator's format, so `summary_scores.py` can read it."""
        lines = []
        for s in scores:
            for r in s.parsed or []:
                lines.append(json.dumps({"filename": r["file"], "tag": s.meta["tag"], "prompt": s.meta["prompt"],
                                         "correct": bool(r["correct"]), "reason": r["reason"],
                                         "metadata": s.meta["metadata"], "details": json.dumps(
                                             {c: boxes for c, boxes in r["detected"].items()})}))
        return {"results.jsonl": "".join(line + "\n" for line in lines)} if lines else {}


def _index(sid: str) -> int:
    return int(sid) if sid.isascii() and sid.isdigit() else zlib.crc32(sid.encode()) % 100_000


def _folder(sid: str) -> str:
    return f"{int(sid):05d}" if sid.isascii() and sid.isdigit() else safe_name(sid)


def _describe(ctx: Context) -> dict[str, Any]:
    """Which detector and colour classifier scored (named next to the number, spec §4)."""
    parts = {"detector": ctx.detector, "color_classifier": ctx.color_classifier}
    return {k: p.describe() if hasattr(p, "describe") else type(p).__name__ for k, p in parts.items() if p is not None}


ADAPTER = GenEval
