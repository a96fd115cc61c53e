"""WISE: 1,000 world-knowledge text-to-image prompts, one image each, graded by a VLM judge.

Two protocols from the official `PKU-YuanGroup/WISE` @eb51174 (specs/generation-benchmarks.md §2):

- `wise` (legacy, the paper's): `WISE_legacy/gpt_eval.py` asks the judge (gpt-4o-2024-05-13, temperature 0,
  max_tokens 2000) for Consistency / Realism / Aesthetic Quality in 0-2, at most 3 attempts; `WISE_legacy/Calculate.py`
  scores WiScore = (0.7 C + 0.2 R + 0.1 A) / 2 per image, means per category (by prompt-id range) and
  Overall = 0.4 Cultural + 0.167 Time + 0.133 Space + 0.1 (Biology + Physics + Chemistry).
- `wise:verified` (WISE_Verified): `vllm_eval.py` asks for one binary "Score: 0/1" (Qwen3.5-35B-A3B, temperature 0,
  max_tokens 500, thinking off, think tags stripped); `calculate_verified.py` weighs 0.40 Culture + 0.12 x each other.
  A different prompt set, id ranges and judge: its numbers are NOT comparable with legacy WISE (metric `WISE-verified`).

A judge failure or a reply that cannot be read after the attempts leaves the image unscored (the official script
drops it); a missing or unreadable generated image is scored 0 (the model's failure, not the judge's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from lvrpo.data import loads
from lvrpo.data.images import ImageError, decode_image
from lvrpo.evals.base import Adapter, fields_of, mean, safe_name, write_images
from lvrpo.judges.base import JudgeError
from lvrpo.types import Context, LvrpoError, Output, Request, Sample, Score, Summary

DATA_DIR = Path(__file__).resolve().parent / "data" / "wise"  # shipped copy of the official prompt files
COLUMNS = ("prompt_id", "Prompt", "Explanation", "Category", "Subcategory")  # the official JSON record
SEED = 42  # WISE fixes no seed or resolution; lvrpo re-seeds every prompt with this so reruns reproduce
MAX_ATTEMPTS = 3  # official MAX_EXTRACT_RETRIES (an API error also uses up an attempt)
MAX_REPLY_CHARS = 50_000  # far above a 2000-token reply; only this much of a reply is read
KEEP_MODES = ("RGB", "RGBA", "L", "LA")  # sent as decoded (the official sends the PNG file as is); others -> RGB
SHORT = {"CULTURE": "cultural", "TIME": "time", "SPACE": "space", "BIOLOGY": "biology", "PHYSICS": "physics",
         "CHEMISTRY": "chemistry"}  # metric sub-keys, as in leaderboards/published.yaml

# The judge's input, verbatim (any change of wording changes the scores): the system line, then the user text
# (official f-string text, kept as data files with {prompt}/{explanation} placeholders) with the image after it.
LEGACY_SYSTEM = ("You are a professional Vincennes image quality audit expert, please evaluate the image quality "
                 "strictly according to the protocol.")
LEGACY_TEMPLATE = (DATA_DIR / "judge" / "legacy_user.txt").read_text(encoding="utf-8")
VERIFIED_SYSTEM = ("You are a professional text-to-image quality auditor. Evaluate the image strictly according "
                   "to the protocol.")
VERIFIED_TEMPLATE = (DATA_DIR / "judge" / "verified_user.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Protocol:
    """One WISE protocol: prompt files, category id ranges and weights, judge messages and settings."""

    metric: str
    folder: str
    files: tuple[str, ...]
    ranges: tuple[tuple[str, int, int], ...]  # (category, first id, last id), the official calculator's
    weights: dict[str, float]
    system: str
    template: str
    max_tokens: int
    note: str


LEGACY = Protocol(
    metric="WISE", folder="legacy",
    files=("cultural_common_sense.json", "spatio-temporal_reasoning.json", "natural_science.json"),
    ranges=(("CULTURE", 1, 400), ("TIME", 401, 567), ("SPACE", 568, 700), ("BIOLOGY", 701, 800),
            ("PHYSICS", 801, 900), ("CHEMISTRY", 901, 1000)),
    weights={"CULTURE": 0.4, "TIME": 0.167, "SPACE": 0.133, "BIOLOGY": 0.1, "PHYSICS": 0.1, "CHEMISTRY": 0.1},
    system=LEGACY_SYSTEM, template=LEGACY_TEMPLATE, max_tokens=2000,
    note="legacy WISE (WiScore from 0-2 Consistency/Realism/Aesthetic; official judge gpt-4o-2024-05-13): "
         "comparable only with numbers from the same judge")
VERIFIED = Protocol(
    metric="WISE-verified", folder="verified",
    files=("cultural_common_sense_verified.json", "spatio-temporal_reasoning_verified.json",
           "natural_science_verified.json"),
    ranges=(("CULTURE", 1, 400), ("TIME", 401, 520), ("SPACE", 521, 640), ("BIOLOGY", 641, 760),
            ("PHYSICS", 761, 880), ("CHEMISTRY", 881, 1000)),
    weights={"CULTURE": 0.4, "TIME": 0.12, "SPACE": 0.12, "BIOLOGY": 0.12, "PHYSICS": 0.12, "CHEMISTRY": 0.12},
    system=VERIFIED_SYSTEM, template=VERIFIED_TEMPLATE, max_tokens=500,
    note="WISE_Verified protocol (binary 0/1 score, other prompts and id ranges; official judge Qwen3.5-35B-A3B "
         "with thinking off): NOT comparable with legacy WISE numbers")
PROTOCOLS = {"legacy": LEGACY, "verified": VERIFIED}


def wiscore(consistency: float, realism: float, aesthetic: float) -> float:
    """The legacy per-image WiScore in [0, 1] (Calculate.py: the weighted 0-2 scores, halved)."""
    return (0.7 * consistency + 0.2 * realism + 0.1 * aesthetic) / 2


def judge_text(protocol: Protocol, prompt: str, explanation: str) -> str:
    """The official user text of the judge call for one prompt (str.replace: the texts may hold braces)."""
    return protocol.template.replace("{prompt}", prompt).replace("{explanation}", explanation)


# Official reading (gpt_eval.py extract_scores): every "Name: digit" (bold, colon optional, case-insensitive),
# the last one per name winning; only when there is none, three bare lines 0-2. `\s*(?::\s*)?` accepts the
# same texts as the official `\s*[:]?\s*` without its quadratic backtracking on long runs of whitespace.
_LEGACY_NAMED = re.compile(r"\*{0,2}(consistency|realism|aesthetic quality)\*{0,2}\s*(?::\s*)?(\d)", re.IGNORECASE)
_VERIFIED_NAMED = re.compile(r"\*{0,2}score\*{0,2}\s*(?::\s*)?([01])\b", re.IGNORECASE)


def _bare_lines(text: str, allowed: str) -> list[str]:
    """Lines that are one allowed digit and whitespace: the official `(?m)^\\s*([..])\\s*$`, without a regex."""
    return [s for s in (line.strip() for line in text.split("\n")) if len(s) == 1 and s in allowed]


def parse_legacy(reply: str) -> dict[str, float] | None:
    """The three 0-2 scores of a legacy judge reply, or None when one is missing or out of range.

    The official reader accepts any digit (a WiScore above 1 follows); here a score outside 0-2 makes the reply
    unreadable, so it is asked again and, failing that, left unscored (spec §2.6, never a guess).
    """
    text = reply[:MAX_REPLY_CHARS]
    found = {name.lower().replace(" ", "_"): int(digit) for name, digit in _LEGACY_NAMED.findall(text)}
    if not found:
        nums = _bare_lines(text, "012")
        if len(nums) >= 3:
            found = {"consistency": int(nums[0]), "realism": int(nums[1]), "aesthetic_quality": int(nums[2])}
    keys = ("consistency", "realism", "aesthetic_quality")
    if not all(k in found and 0 <= found[k] <= 2 for k in keys):
        return None
    return {k: float(found[k]) for k in keys}


def strip_thinking(reply: str) -> str:
    """vllm_eval.py's clean-up: drop `<think>...</think>` blocks and stray `</think>` (each with the whitespace
    after it), then outer whitespace. Written with str.find, so linear on any input."""
    out, pos = [], 0
    while (start := reply.find("<think>", pos)) != -1 and (end := reply.find("</think>", start)) != -1:
        out.append(reply[pos:start])
        pos = end + len("</think>")
        while pos < len(reply) and reply[pos].isspace():
            pos += 1
    out.append(reply[pos:])
    parts = "".join(out).split("</think>")
    return (parts[0] + "".join(p.lstrip() for p in parts[1:])).strip()


def parse_verified(reply: str) -> float | None:
    """The binary score of a WISE_Verified reply: the first "Score: 0/1", else exactly one bare 0/1 line."""
    text = strip_thinking(reply[:MAX_REPLY_CHARS])
    if m := _VERIFIED_NAMED.search(text):
        return float(m.group(1))
    nums = _bare_lines(text, "01")
    return float(nums[0]) if len(nums) == 1 else None


def ask_judge(judge: Any, system: str, text: str, image: Image.Image, max_tokens: int, attempt: int = 0) -> str:
    """One official judge call: the system message as such, the user text and the image, temperature 0."""
    return judge.complete(text, [image], max_tokens=max_tokens, temperature=0.0, system=system, attempt=attempt)


def load_generated(path: str) -> Image.Image:
    """A generated image as the judge should see it; ImageError when the file is not a readable image."""
    img = decode_image(path, where=f"generated image {path}")
    return img if img.mode in KEEP_MODES else img.convert("RGB")


class WISE(Adapter):
    name = "wise"
    kind = "generate"
    hub_ids = ()  # no official HF dataset: `--data hub` reads the shipped official files (evals/data/wise)
    splits = ("test",)
    default_split = "test"
    id_column = "prompt_id"
    columns = COLUMNS
    answer_columns = ("Explanation", "Category", "Subcategory")  # the judge reads them, the model does not
    variants = ("legacy", "verified")
    needs_judge = True

    @property
    def protocol(self) -> Protocol:
        return PROTOCOLS[self.variant]

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        """`hub`: the shipped official files of this protocol; PATH: a JSON/JSONL prompt file in the official
        schema, or a folder holding the three official prompt files."""
        if split not in (None, *self.splits):
            raise LvrpoError(f"{self.name}: unknown split {split!r} (valid splits: {', '.join(self.splits)})")
        if source.startswith("hub:"):
            raise LvrpoError(f"{self.name}: WISE has no official Hugging Face dataset; use --data hub (the shipped "
                             "official prompt files) or --data PATH (prompts in the official JSON schema)")
        if source == "hub":
            return self._read_folder(DATA_DIR / self.protocol.folder)
        path = Path(source)
        if path.is_dir() and any((path / f).is_file() for f in self.protocol.files):
            return self._read_folder(path)
        return super().load(source, split, for_requests=for_requests)

    def _read_folder(self, folder: Path) -> list[Sample]:
        missing = [f for f in self.protocol.files if not (folder / f).is_file()]
        if missing:
            raise LvrpoError(f"{self.name}: {folder} lacks the official prompt files {', '.join(missing)}")
        samples, seen = [], set()
        for name in self.protocol.files:
            try:
                rows = loads((folder / name).read_text(encoding="utf-8"), folder / name)
            except (OSError, ValueError, LvrpoError) as e:
                raise LvrpoError(f"{self.name}: cannot read {folder / name}: {e}") from None
            if not isinstance(rows, list):
                raise LvrpoError(f"{self.name}: {folder / name} is not a JSON array of prompt records")
            for i, row in enumerate(rows):
                lacking = [c for c in COLUMNS if not isinstance(row, dict) or c not in row]
                if lacking:
                    raise LvrpoError(f"{self.name}: {folder / name} record {i} lacks {', '.join(lacking)}")
                sid = str(row["prompt_id"])
                if sid in seen:
                    raise LvrpoError(f"{self.name}: duplicate prompt_id {sid} in {folder}")
                seen.add(sid)
                samples.append(Sample(id=sid, row=row, base_dir=folder))
        return samples

    def category(self, prompt_id: Any) -> str | None:
        """The official category of a prompt id (the calculators go by id range, not the Category field)."""
        try:
            pid = int(prompt_id)
        except (TypeError, ValueError):
            return None
        return next((c for c, lo, hi in self.protocol.ranges if lo <= pid <= hi), None)

    def request(self, sample: Sample) -> Request:
        return Request(id=sample.id, kind="generate", prompt=str(sample.row["Prompt"]), num_images=1, seed=SEED,
                       options={"seed_policy": "lvrpo: same seed for every prompt (WISE fixes none)"},
                       bench=self.name)

    def save_images(self, sample: Sample, images: list[Image.Image], out_dir: Path) -> list[str]:
        """The official layout: `images/{prompt_id}.png` in one folder (extra images `{prompt_id}_{k}.png`)."""
        stem = safe_name(sample.row.get("prompt_id", sample.id))
        return write_images(images, out_dir, [f"images/{stem}.png" if k == 0 else f"images/{stem}_{k}.png"
                                              for k in range(len(images))])

    def read_predictions_dir(self, path: Path) -> list[Output]:
        """A folder of `{prompt_id}.png` (the official layout; other files are ignored, as officially)."""
        folder = path / "images" if not any(path.glob("*.png")) and (path / "images").is_dir() else path
        outs = [Output(id=str(int(f.stem)), images=[str(f.resolve())])
                for f in sorted(folder.iterdir()) if re.fullmatch(r"\d+\.png", f.name)]
        if not outs:
            raise LvrpoError(f"{self.name}: no {{prompt_id}}.png files in {folder}")
        return outs

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        row, p = sample.row, self.protocol
        category = self.category(row["prompt_id"])
        meta: dict[str, Any] = {"prompt_id": row["prompt_id"], "category": category,
                                "subcategory": row.get("Subcategory")}
        if category is None:
            return Score(id=sample.id, value=None, reason=f"unscored: prompt_id {row['prompt_id']!r} is outside the "
                         f"official id ranges 1-1000", meta=meta)
        if not output.images:
            return Score(id=sample.id, value=0.0, reason="unparsed: no generated image", meta=meta)
        try:
            image = load_generated(output.images[0])
        except ImageError as e:
            return Score(id=sample.id, value=0.0, reason=f"unparsed: {e}", meta=meta)
        meta["image_mode"] = image.mode
        if ctx.judge is None:
            return Score(id=sample.id, value=None, reason="unscored: no judge", meta=meta)
        text = judge_text(p, str(row["Prompt"]), str(row["Explanation"]))
        replies: list[str] = []
        meta["judge_replies"] = replies
        why = "judge reply unreadable"
        for attempt in range(MAX_ATTEMPTS):
            try:
                reply = ask_judge(ctx.judge, p.system, text, image, p.max_tokens, attempt)
            except JudgeError as e:  # officially an API error also uses up one attempt
                why = f"judge error: {e}"
                continue
            replies.append(reply[:MAX_REPLY_CHARS])
            if self.variant == "verified":
                binary = parse_verified(reply)
                if binary is not None:
                    return Score(id=sample.id, value=binary, parsed={"score": binary}, reason="ok", meta=meta)
            else:
                parts = parse_legacy(reply)
                if parts is not None:
                    meta.update(parts)
                    value = wiscore(parts["consistency"], parts["realism"], parts["aesthetic_quality"])
                    return Score(id=sample.id, value=value, parsed=parts, reason="ok", meta=meta)
            why = "judge reply unreadable"
        return Score(id=sample.id, value=None, parsed=replies[-1] if replies else None,
                     reason=f"unscored: {why} after {MAX_ATTEMPTS} attempts", meta=meta)

    def aggregate(self, scores: list[Score]) -> Summary:
        p = self.protocol
        by_cat = fields_of(scores, "category")
        present = [c for c, _, _ in p.ranges if c in by_cat]
        means = {c: mean([s.value for s in by_cat[c]]) for c in present}
        overall = sum(p.weights[c] * means[c] for c in present)
        notes = [p.note]
        if len(present) < len(p.ranges):  # a partial run: weights renormalised over the categories present
            overall /= sum(p.weights[c] for c in present)
            lacking = [c for c, _, _ in p.ranges if c not in by_cat]
            notes.append(f"no scored image in {', '.join(lacking)}: Overall re-weighted over the categories present "
                         "(not comparable with a full run)")
        ids = {int(s.meta["prompt_id"]) for s in scores}
        complete = set(range(1, 1001)) <= ids
        if not complete:
            notes.append(f"{len(ids & set(range(1, 1001)))} of 1000 prompt ids scored: the official calculator "
                         "prints no Overall unless all 1000 are scored")
        metrics = {p.metric: overall, **{f"{p.metric}/{SHORT[c]}": means[c] for c in present}}
        subs = fields_of(scores, "subcategory")
        breakdown: dict[str, Any] = {
            "categories": {c: {"score": means[c], "n": len(by_cat[c]), "weight": p.weights[c]} for c in present},
            "subcategories": {str(k): {"score": mean([s.value for s in v]), "n": len(v)} for k, v in subs.items()},
            "unweighted_category_mean": mean(list(means.values())),
            "complete": complete, "protocol": self.variant}
        if self.variant == "legacy":  # mean 0-2 judge scores over the images the judge scored
            judged = [s for s in scores if "consistency" in s.meta]
            breakdown["judge_means"] = {k: mean([s.meta[k] for s in judged])
                                        for k in ("consistency", "realism", "aesthetic_quality")}
        return Summary(bench=self.spec, metrics=metrics, headline=p.metric, breakdown=breakdown, n=len(scores),
                       n_scored=len(scores), notes=notes)


ADAPTER = WISE
