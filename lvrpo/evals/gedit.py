"""GEdit-Bench: 606 real-world edit requests per language (EN, CN) in 11 task types, graded by VIEScore.

Rules from the official `stepfun-ai/Step1X-Edit` @570eba6, folder `GEdit-Bench/` (specs/generation-benchmarks.md §3):
`viescore/__init__.py` (task "tie": an SC call with the source and the edited image, a PQ call with the edited
image; SC = min(success, over-editing), PQ = min(naturalness, artifacts), O = sqrt(SC * PQ)),
`viescore/vie_prompts.py` (the zero-shot prompts), `viescore/utils.py` (`mllm_output_to_dict`: how a reply is read),
`test_gedit_score.py` (edited image converted to RGB and resized to the source size) and `calculate_statistics.py`
(per-task means of the per-sample values, then the unweighted mean over the 11 tasks; Intersection = the same over
samples with `Intersection_exist`). Judge settings: `viescore/mllm_tools/openai.py` (GPT-4.1: text then JPEG images,
max_tokens 1400, API-default temperature) and `qwen25vl_eval.py` (Qwen2.5-VL-72B: PNG, greedy, 512 new tokens).

Where this departs from the official code, on purpose: a reply still unreadable after the one official re-ask
leaves the sample unscored (the official substitutes a random integer 0-10); a missing or unreadable edited image
is scored 0 (the official skips it), so a model cannot gain by failing.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from lvrpo.data.images import ImageError, decode_image
from lvrpo.evals.base import Adapter, fields_of, mean, safe_name, write_images
from lvrpo.judges.base import JudgeError
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

TASKS = ("background_change", "color_alter", "material_alter", "motion_change", "ps_human", "style_change",
         "subject-add", "subject-remove", "subject-replace", "text_change", "tone_transfer")  # official GROUPS order
COLUMNS = ("key", "task_type", "instruction", "instruction_language", "input_image", "Intersection_exist")
DELIMITER = "||V^=^V||"
MAX_ROUNDS = 2  # VIEScore asks both calls, and once more (both again) when either reply cannot be read
MAX_REPLY_CHARS = 50_000  # far above a 1400-token reply; only this much of a reply is read
TARGET_AREA = 512 * 512  # generate_image_example.py: the edit is made at about 512x512 pixels
SEED = 42  # GEdit fixes no seed; lvrpo re-seeds every request with this so reruns reproduce

# The judge's input, verbatim from vie_prompts.py (any change of wording changes the scores).
CONTEXT = """You are a professional digital artist. You will have to evaluate the effectiveness of the AI-generated image(s) based on given rules.
All the input images are AI-generated. All human in the images are AI-generated too. so you need not worry about the privacy confidentials.

You will have to give your output in this way (Keep your reasoning concise and short.):
{
"score" : [...],
"reasoning" : "..."
}"""  # noqa: E501

TWO_IMAGE_EDIT_RULE = """RULES:

Two images will be provided: The first being the original AI-generated image and the second being an edited version of the first.
The objective is to evaluate how successfully the editing instruction has been executed in the second image.

Note that sometimes the two images might look identical due to the failure of image edit.
"""  # noqa: E501

TIE_SC_RULE = """
From scale 0 to 10: 
A score from 0 to 10 will be given based on the success of the editing. (0 indicates that the scene in the edited image does not follow the editing instruction at all. 10 indicates that the scene in the edited image follow the editing instruction text perfectly.)
A second score from 0 to 10 will rate the degree of overediting in the second image. (0 indicates that the scene in the edited image is completely different from the original. 10 indicates that the edited image can be recognized as a minimal edited yet effective version of original.)
Put the score in a list such that output score = [score1, score2], where 'score1' evaluates the editing success and 'score2' evaluates the degree of overediting.

Editing instruction: <instruction>
"""  # noqa: E501, W291

PQ_RULE = """RULES:

The image is an AI-generated image.
The objective is to evaluate how successfully the image has been generated.

From scale 0 to 10: 
A score from 0 to 10 will be given based on image naturalness. 
(
    0 indicates that the scene in the image does not look natural at all or give a unnatural feeling such as wrong sense of distance, or wrong shadow, or wrong lighting. 
    10 indicates that the image looks natural.
)
A second score from 0 to 10 will rate the image artifacts. 
(
    0 indicates that the image contains a large portion of distortion, or watermark, or scratches, or blurred faces, or unusual body parts, or subjects not harmonized. 
    10 indicates the image has no artifacts.
)
Put the score in a list such that output score = [naturalness, artifacts]
"""  # noqa: E501, W291

SC_TEMPLATE = "\n".join([CONTEXT, TWO_IMAGE_EDIT_RULE, TIE_SC_RULE])  # `<instruction>` is replaced verbatim
PQ_PROMPT = "\n".join([CONTEXT, PQ_RULE])

# Decoding per official judge: the OpenAI path sends JPEG (PIL default quality 75) and sets no temperature; the
# local Qwen2.5-VL path sends PNG and decodes greedily.
JUDGE_SETTINGS = {
    "gpt-4.1": {"max_tokens": 1400, "temperature": None, "image_format": "jpeg"},
    "qwen2.5-vl": {"max_tokens": 512, "temperature": 0.0, "image_format": "png"},
    "world": {"max_tokens": 512, "temperature": 0.0, "image_format": "png"},  # the ShapesWorld oracle (no image codec)
}


def sc_prompt(instruction: str) -> str:
    """The official SC prompt for one edit instruction (Chinese instructions stay Chinese)."""
    return SC_TEMPLATE.replace("<instruction>", instruction)


def _score_list(value: Any) -> list[float] | None:
    values = value if isinstance(value, list) else [value]  # official: a lone score becomes a one-item list
    ok = values and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 10 for v in values)
    return [float(v) for v in values] if ok else None


def parse_scores(reply: str) -> list[float] | None:
    """The score list of a VIEScore reply, read as `mllm_output_to_dict` does, or None when it cannot be read.

    In order: the JSON between exactly two `||V^=^V||` delimiters; else from the first `{` to the last `}`; else
    (no braces) a bare `[a, b]` list or a reply that is a single integer 0-10. The JSON's newlines are dropped
    before parsing and its "score" becomes a list. Not reproduced: the official regex repair of invalid JSON (it
    rescues only bare numbers under unquoted keys) and its random guess. Scores must be numbers in 0-10.
    """
    text = reply[:MAX_REPLY_CHARS]
    if text.count(DELIMITER) == 2:
        body = text[text.find(DELIMITER) + len(DELIMITER):text.rfind(DELIMITER)]
    else:
        start, end = text.find("{"), text.rfind("}") + 1
        if start == -1 or end == 0:
            lo, hi = text.find("["), text.rfind("]") + 1
            if lo != -1 and re.fullmatch(r"\[[0-9]+, ?[0-9]+\]", text[lo:hi]):
                return _score_list(json.loads(text[lo:hi]))
            try:
                number = int(text)  # official is_int_between_0_and_10: int() of the whole reply
            except ValueError:
                return None
            return _score_list(number)
        body = text[start:end]
    try:
        data = json.loads(body.strip().replace("\n", ""))
    except (ValueError, RecursionError):  # RecursionError: absurdly nested brackets
        return None
    return _score_list(data["score"]) if isinstance(data, dict) and "score" in data else None


def target_size(width: int, height: int, area: int = TARGET_AREA) -> tuple[int, int]:
    """generate_image_example.py's edit size: the source aspect ratio at about `area` pixels, sides multiples of 32
    (the width nudged by 32 towards the target area)."""
    ratio = width / height
    w = math.sqrt(area * ratio)
    w, h = round(w / 32) * 32, round(w / ratio / 32) * 32
    if w * h < area:
        w += 32
    elif w * h > area:
        w -= 32
    return w, h


def judge_protocol(judge: Any) -> str:
    """Which official judge path a judge follows: local (`hf:`) or Qwen-named judges the Qwen2.5-VL one,
    the ShapesWorld oracle its own, any other the GPT-4.1 one."""
    name = str(getattr(judge, "name", "") or "").lower()
    if name == "world":
        return "world"
    return "qwen2.5-vl" if name.startswith("hf:") or "qwen" in name else "gpt-4.1"


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise LvrpoError(f"gedit: {where}: Intersection_exist must be a boolean, not {value!r}")


class GEdit(Adapter):
    name = "gedit"
    kind = "edit"
    hub_ids = ("stepfun-ai/GEdit-Bench",)
    splits = ("train",)  # the only split; it is the test set
    default_split = "train"
    id_column = None  # ids are `key`, assigned after the language filter (a key may repeat across languages)
    columns = COLUMNS  # the source image is needed to score too (the SC call shows it)
    variants = ("en", "cn", "en_intersection", "cn_intersection")
    needs_judge = True

    @property
    def language(self) -> str:
        return self.variant.split("_")[0]

    @property
    def intersection(self) -> bool:
        return self.variant.endswith("_intersection")

    @property
    def prefix(self) -> str:
        """Metric prefix: `GEdit-EN`, `GEdit-CN`, or `GEdit-EN-Intersection` (never mixed with the full set)."""
        return f"GEdit-{self.language.upper()}" + ("-Intersection" if self.intersection else "")

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        """The rows of this variant's language (and, for `*_intersection`, with `Intersection_exist`), id = key."""
        rows = super().load(source, split, for_requests=for_requests)
        samples, seen = [], set()
        for s in rows:
            if str(s.row["instruction_language"]).strip().lower() != self.language:
                continue
            if self.intersection and not _flag(s.row["Intersection_exist"], f"row {s.id}"):
                continue
            if "id" not in s.row:
                s.id = str(s.row["key"])
            if s.id in seen:
                raise LvrpoError(f"gedit: duplicate key {s.id!r} for language {self.language!r}")
            seen.add(s.id)
            samples.append(s)
        if not samples:
            raise LvrpoError(f"gedit: no rows with instruction_language {self.language!r} in {source}")
        return samples

    def request(self, sample: Sample) -> Request:
        source = sample.image("input_image").convert("RGB")
        raw = sample.image("input_image_raw") if sample.row.get("input_image_raw") is not None else source
        w, h = target_size(*raw.size)
        return Request(id=sample.id, kind="edit", prompt=str(sample.row["instruction"]), images=[source],
                       num_images=1, seed=SEED, bench=self.name,
                       options={"target_size": [w, h], "target_area": TARGET_AREA, "language": self.language,
                                "seed_policy": "lvrpo: same seed for every request (GEdit fixes none)"})

    def _folder(self, sample: Sample) -> Path:
        return Path("fullset", safe_name(sample.row["task_type"]), safe_name(self.language))

    def save_images(self, sample: Sample, images: list[Image.Image], out_dir: Path) -> list[str]:
        """The official layout `fullset/{task_type}/{lang}/{key}.png`, with the source beside it as
        `{key}_SRCIMG.png` (what the official scorer reads), so the folder can be fed to the official scripts."""
        folder, key = self._folder(sample), safe_name(sample.row["key"])
        paths = write_images(images, out_dir, [folder / (f"{key}.png" if k == 0 else f"{key}_{k}.png")
                                               for k in range(len(images))])
        (out_dir / folder).mkdir(parents=True, exist_ok=True)  # for the source copy, even with no edit
        try:
            sample.image("input_image").save(out_dir / folder / f"{key}_SRCIMG.png")
        except (ImageError, OSError):
            pass  # a convenience copy only; scoring reads the source from the data
        return paths

    def read_predictions_dir(self, path: Path) -> list[Output]:
        """Edits in the official layout: `.../{task_type}/{lang}/{key}.png` for this variant's language."""
        found: dict[str, Output] = {}
        for f in sorted(path.rglob("*.png")):
            if f.parent.name != self.language or f.stem.endswith("_SRCIMG"):
                continue
            if f.stem in found:
                raise LvrpoError(f"gedit: key {f.stem!r} appears twice under {path}")
            found[f.stem] = Output(id=f.stem, images=[str(f.resolve())])
        if not found:
            raise LvrpoError(f"gedit: no {{task_type}}/{self.language}/{{key}}.png files under {path}")
        return list(found.values())

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        row = sample.row
        meta: dict[str, Any] = {"task_type": str(row["task_type"]), "language": self.language,
                                "intersection": _flag(row["Intersection_exist"], f"sample {sample.id}")}
        try:  # an unreadable source is the data's fault, not the model's: unscored, checked first
            source_raw = sample.image("input_image")
        except ImageError as e:
            return Score(id=sample.id, value=None, reason=f"unscored: source image: {e}", meta=meta)
        failed = {**meta, "sc": 0.0, "pq": 0.0, "failed_image": True}
        if not output.images:
            return Score(id=sample.id, value=0.0, reason="unparsed: no edited image", meta=failed)
        try:
            edited_raw = decode_image(output.images[0], where=f"edited image {output.images[0]}")
        except ImageError as e:
            return Score(id=sample.id, value=0.0, reason=f"unparsed: {e}", meta=failed)
        if ctx.judge is None:
            return Score(id=sample.id, value=None, reason="unscored: no judge", meta=meta)
        # test_gedit_score.py: the edit in RGB at the source's size (PIL's default BICUBIC); the judge tools then
        # load both through exif_transpose + RGB.
        edited = edited_raw.convert("RGB").resize(source_raw.size, Image.Resampling.BICUBIC)
        source = ImageOps.exif_transpose(source_raw).convert("RGB")
        protocol = judge_protocol(ctx.judge)
        settings = JUDGE_SETTINGS[protocol]
        meta.update(judge_protocol=protocol, edited_mode=edited_raw.mode, edited_size=list(edited_raw.size))
        sc_text = sc_prompt(str(row["instruction"]))
        replies: list[dict[str, str]] = []
        meta["judge_replies"] = replies
        for attempt in range(MAX_ROUNDS):
            try:
                sc_reply = ctx.judge.complete(sc_text, [source, edited], attempt=attempt, **settings)
                pq_reply = ctx.judge.complete(PQ_PROMPT, [edited], attempt=attempt, **settings)
            except JudgeError as e:
                return Score(id=sample.id, value=None, reason=f"unscored: judge error: {e}", meta=meta)
            replies.append({"SC": sc_reply[:MAX_REPLY_CHARS], "PQ": pq_reply[:MAX_REPLY_CHARS]})
            sc_scores, pq_scores = parse_scores(sc_reply), parse_scores(pq_reply)
            if sc_scores is not None and pq_scores is not None:
                sc, pq = min(sc_scores), min(pq_scores)
                meta.update(sc=sc, pq=pq)
                return Score(id=sample.id, value=math.sqrt(sc * pq), parsed={"SC": sc_scores, "PQ": pq_scores},
                             reason="ok", meta=meta)
        return Score(id=sample.id, value=None, reason=f"unscored: judge reply unreadable in {MAX_ROUNDS} rounds "
                     "(the official script would substitute a random score)", meta=meta)

    def aggregate(self, scores: list[Score]) -> Summary:
        by_task = fields_of(scores, "task_type")
        tasks = [t for t in TASKS if t in by_task]
        if not tasks:
            raise LvrpoError(f"gedit: no scored sample of the 11 official task types ({', '.join(TASKS)})")
        per_task = {t: {"G_SC": mean([s.meta["sc"] for s in by_task[t]]),
                        "G_PQ": mean([s.meta["pq"] for s in by_task[t]]),
                        "G_O": mean([s.value for s in by_task[t]]), "n": len(by_task[t])} for t in tasks}
        overall = {k: mean([per_task[t][k] for t in tasks]) for k in ("G_SC", "G_PQ", "G_O")}
        protocols = sorted({str(s.meta.get("judge_protocol")) for s in scores if s.meta.get("judge_protocol")})
        notes = [f"judge protocol: {', '.join(protocols) or 'none'}; name the judge next to every number "
                 f"({'Intersection subset' if self.intersection else 'full set'}, {self.language.upper()})"]
        missing = [t for t in TASKS if t not in by_task]
        if missing:
            notes.append(f"no scored sample in {', '.join(missing)}: the mean runs over the {len(tasks)} tasks present "
                         "(the official averages all 11)")
        unknown = [str(t) for t in by_task if t not in TASKS]
        if unknown:
            notes.append(f"task types outside the official 11 (not in the means): {', '.join(unknown)}")
        failed = sum(bool(s.meta.get("failed_image")) for s in scores)
        if failed:
            notes.append(f"{failed} samples had no readable edited image and were scored 0")
        metrics = {f"{self.prefix} {k}": v for k, v in overall.items()}
        breakdown = {"tasks": per_task, "language": self.language, "intersection": self.intersection,
                     "failed_images": failed}
        return Summary(bench=self.spec, metrics=metrics, headline=f"{self.prefix} G_O", breakdown=breakdown,
                       n=len(scores), n_scored=len(scores), notes=notes)

    def reward(self, sample: Sample, output: Output, ctx: Context) -> float | None:
        """O / 10 in [0, 1]; None when the sample could not be scored."""
        value = self.score(sample, output, ctx).value
        return None if value is None else min(1.0, max(0.0, value / 10))


ADAPTER = GEdit
