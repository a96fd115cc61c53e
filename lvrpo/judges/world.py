"""The ShapesWorld judge: answers the MM-Vet, WISE and GEdit judge prompts exactly, from the scenes.

It receives what an LLM/VLM judge receives — the adapter's official prompt text and images — and replies in the
format that judge would use ("0.7"; "Consistency: 2 …"; `{"score": [a, b], …}`), so the adapters' own judge path
(prompt building, reply parsing, retries, aggregation) is what runs. What it reads:

- MM-Vet (text only): question, gold and prediction from the last row of the grader table. Per gold alternative
  (`<OR>`), the share of its `<AND>` parts the prediction names (whole words; digits and number words alike),
  halved when the prediction also names a colour, shape or number the alternative does not (a reply listing every
  colour is not "totally right"); the best alternative, to one decimal.
- WISE (`legacy`: Consistency/Realism/Aesthetic 0-2; `verified`: Score 0/1): the objects the prompt asks for
  (`lvrpo.world.generation.wise_expected`) against the objects the detector reads off the image
  (`lvrpo.world.detect.read_scene`): all and only them → 2, some of them → 1, none → 0. Realism and aesthetic
  quality come from how clean the image is (`image_quality`: flat background and clean shapes; 0 for an image
  with no object at all).
- GEdit (VIEScore SC and PQ calls): the target scene is the instruction applied to the scene read off the source
  image (`edit_target`). Success = the share of the instruction's changes present in the edit; over-editing = the
  share of untouched objects left as they were, less any stray object; PQ = image cleanliness, all on 0-10.

A prompt that is not one of the world's raises JudgeError, so the sample is unscored with the reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from PIL import Image

from lvrpo.judges.base import Judge, JudgeError

CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _world():
    # Imported lazily: the detector and generators are only needed once a world prompt arrives.
    from lvrpo.world import detect, generation

    return detect, generation


class WorldJudge(Judge):
    """Deterministic oracle judge for ShapesWorld data (`--judge world`, the default with `--data world`)."""

    name = "world"
    serves = ("mmvet", "wise", "gedit")  # MathVista and MMBench then score by their rules (`Context.for_bench`)

    def describe(self) -> dict:
        from lvrpo.world.scenes import WORLD_VERSION

        return {"judge": self.name, "world_version": WORLD_VERSION}

    def complete(self, prompt: str, images: list[Image.Image] | None = None, *, max_tokens: int = 512,
                 temperature: float | None = 0.0, system: str | None = None, image_format: str = "png",
                 attempt: int = 0, extra_body: dict | None = None) -> str:
        from lvrpo.evals import gedit, mmvet, wise

        images = list(images or [])
        if prompt.startswith(mmvet.GRADER_PROMPT):
            return grade_mmvet(prompt[len(mmvet.GRADER_PROMPT):])
        if system in (wise.LEGACY_SYSTEM, wise.VERIFIED_SYSTEM) and len(images) == 1:
            return grade_wise(prompt, images[0], verified=system == wise.VERIFIED_SYSTEM)
        head = gedit.SC_TEMPLATE.split("<instruction>")[0]
        if prompt.startswith(head) and len(images) == 2:
            return grade_edit(prompt[len(head):].strip(), images[0], images[1])
        if prompt == gedit.PQ_PROMPT and len(images) == 1:
            quality = _world()[0].image_quality(images[0])
            score = round(10 * quality)
            return json.dumps({"score": [score, score], "reasoning": f"{quality:.0%} of the image is clean"})
        raise JudgeError("world judge: not a ShapesWorld judge prompt (MM-Vet, WISE or GEdit) it can answer")


# ------------------------------------------------------------------------------------------------ MM-Vet

def _terms(text: str) -> list[str]:
    """Lower-case words, number words as digits (so "three" and "3" match)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [str(NUMBER_WORDS.index(w)) if w in NUMBER_WORDS else w for w in words]


def _contains(words: list[str], part: list[str]) -> bool:
    n = len(part)
    return n > 0 and any(words[i:i + n] == part for i in range(len(words) - n + 1))


def grade_mmvet(table_row: str) -> str:
    """The grade of `question | gold | prediction | ` (the grader table's last row), as "0.0"-"1.0"."""
    from lvrpo.evals.mmvet import RETRY_SUFFIX
    from lvrpo.world.scenes import COLORS, SHAPES

    row = table_row.removesuffix(RETRY_SUFFIX).lstrip("\n")
    fields = row.split(" | ", 2)
    if len(fields) != 3:
        raise JudgeError("world judge: MM-Vet prompt without a question | ground truth | prediction row")
    gold, prediction = fields[1], fields[2].removesuffix(" | ").removesuffix(" |")
    said = _terms(prediction)
    vocab = set(COLORS) | set(SHAPES) | {str(i) for i in range(len(NUMBER_WORDS))}
    best = 0.0
    for alternative in gold.split("<OR>"):
        parts = [_terms(p) for p in alternative.split("<AND>") if _terms(p)]
        if not parts:
            continue
        share = sum(_contains(said, p) for p in parts) / len(parts)
        allowed = {w for p in parts for w in p}
        if any(w in vocab and w not in allowed for w in said):
            share /= 2
        best = max(best, share)
    return f"{round(best, 1):.1f}"


# ------------------------------------------------------------------------------------------------ WISE

def grade_wise(text: str, image: Image.Image, *, verified: bool) -> str:
    """A legacy (three 0-2 lines) or verified ("Score: 0/1") reply for one WISE world prompt."""
    detect, generation = _world()
    m = re.search(r'PROMPT: "(.*)"\s*\nEXPLANATION: "', text, re.S)
    expected = generation.wise_expected(m.group(1)) if m else None
    if not expected:
        raise JudgeError("world judge: WISE prompt that is not a ShapesWorld prompt")
    want = Counter(expected)
    seen = Counter((o.shape, o.color) for o in detect.read_scene(image).objects)
    consistency = 2 if seen == want else 1 if seen & want else 0
    quality = detect.image_quality(image) if seen else 0.0  # an empty canvas is neither realistic nor pleasing
    clean = 2 if quality >= 0.97 else 1 if quality >= 0.85 else 0
    if verified:
        return f"Score: {int(consistency == 2 and clean >= 1)}"
    return f"Consistency: {consistency}\nRealism: {clean}\nAesthetic Quality: {clean}"


# ------------------------------------------------------------------------------------------------ GEdit

def grade_edit(instruction: str, source: Image.Image, edited: Image.Image) -> str:
    """The VIEScore SC reply `{"score": [success, over-editing], ...}` for one world edit."""
    detect, generation = _world()
    language = "cn" if CJK.search(instruction) else "en"
    before = detect.read_scene(source)
    target = generation.edit_target(instruction, before, language)
    if target is None:
        raise JudgeError("world judge: GEdit instruction that is not a ShapesWorld edit of this source image")
    after = detect.read_scene(edited)
    # Objects compare by shape, colour and grid cell; by size too when the edit is about size.
    sized = Counter(map(_key, before.objects)) != Counter(map(_key, target.objects)) and \
        Counter(_key(o, False) for o in before.objects) == Counter(_key(o, False) for o in target.objects)
    src, tgt, out = (Counter(_key(o, sized) for o in s.objects) for s in (before, target, after))
    changes = [(k, True) for k in tgt - src] + [(k, False) for k in src - tgt]  # (object, should be present)
    success = sum((out[k] > 0) == present for k, present in changes) / len(changes) if changes else 1.0
    kept, extras = tgt & src, out - tgt
    over = sum((kept & out).values()) / (sum(kept.values()) + sum(extras.values())) if kept or extras else 1.0
    return json.dumps({"score": [round(10 * success), round(10 * over)],
                       "reasoning": f"{sum((out & tgt).values())} of {sum(tgt.values())} target objects present"})


def _key(o, with_size: bool = True) -> tuple:
    return (o.shape, o.color, o.x, o.y) + ((o.size,) if with_size else ())
