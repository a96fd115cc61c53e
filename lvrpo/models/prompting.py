"""Prompt and image preparation shared by the `hf` and `vllm` backends (and the part order of `openai`).

A Request becomes one user turn: the images first, then the text — unless the request asks for interleaving
(`options["interleave"]` non-empty and `options["image_tag"]`, as MMMU's adapter sets): then each image is placed
where its `<image k>` tag is first cited, the tag replaced by the image, the way lmms-eval's chat-model path
(`mmmu_doc_to_messages`, lmms-eval `tasks/mmmu/utils.py`) and VLMEvalKit's `split_MMMU` do. Unlike lmms-eval,
which pairs text segments with images in k order, each image goes at ITS tag, so a question citing
`<image 2>` before `<image 1>` is shown in citation order. A later citation of the same image stays as text.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from lvrpo.types import LvrpoError, Request

Piece = str | Image.Image


def layout(request: Request, interleave: bool = True) -> list[Piece]:
    """The user turn as text segments and images in the order the model sees them (no empty text segments)."""
    images, prompt, opts = list(request.images), request.prompt, request.options
    tag = opts.get("image_tag")
    if not (interleave and images and opts.get("interleave") and tag):
        return [*images, *([prompt] if prompt else [])]
    keys = list(opts.get("image_keys") or range(1, len(images) + 1))
    if len(keys) != len(images):
        raise LvrpoError(f"request {request.id}: {len(images)} images but image_keys {keys}")
    by_tag = {str(tag).format(k=k): (k, im) for k, im in zip(keys, images, strict=True)}
    # fixed strings, longest first: linear scan, and "<image 1>" never shadows "<image 12>"-like tags
    pattern = re.compile("|".join(re.escape(t) for t in sorted(by_tag, key=len, reverse=True)))
    pieces: list[Piece] = []
    placed: set[Any] = set()
    pos = 0
    for m in pattern.finditer(prompt):
        k, im = by_tag[m.group(0)]
        if k in placed:
            continue
        pieces += [prompt[pos:m.start()], im]
        placed.add(k)
        pos = m.end()
    pieces.append(prompt[pos:])
    uncited = [im for k, im in by_tag.values() if k not in placed]  # no tag in the text: shown first
    return [*uncited, *(p for p in pieces if not (isinstance(p, str) and p == ""))]


def chat_messages(request: Request, interleave: bool = True) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """HF-style chat messages (`{"type": "image"}` placeholders, `{"type": "text", ...}` parts) and the images in
    placeholder order — what `processor.apply_chat_template` and `processor(text, images)` expect."""
    content: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    for piece in layout(request, interleave):
        if isinstance(piece, str):
            content.append({"type": "text", "text": piece})
        else:
            content.append({"type": "image"})
            images.append(piece.convert("RGB"))  # processors expect RGB (palette/RGBA/16-bit inputs exist)
    return [{"role": "user", "content": content}], images


def render(processor: Any, request: Request, interleave: bool = True) -> tuple[str, list[Image.Image]]:
    """The prompt text from the model's own chat template (with the generation prompt) and its images in order."""
    if getattr(processor, "chat_template", None) is None:
        raise LvrpoError("the model's processor has no chat template: lvrpo prompts image-text-to-text models "
                         "through it (add one to the checkpoint's processor/tokenizer config)")
    messages, images = chat_messages(request, interleave)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text, images


def finish(text: str, request: Request) -> str:
    """The answer as recorded: cut at the first of the request's `options["stop"]` strings, outer space stripped.

    Under greedy decoding, cutting afterwards gives the same text as stopping the generation there.
    """
    for stop in request.options.get("stop") or ():
        if stop:
            text = text.split(stop, 1)[0]
    return text.strip()


def flag(value: str | None, default: bool, name: str) -> bool:
    """A `--model-args` boolean (`true/false/1/0/yes/no`)."""
    if value is None:
        return default
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise LvrpoError(f"--model-args {name}={value!r}: expected true or false")


def number(value: str | None, default: float, name: str, cast: type = float) -> Any:
    """A numeric `--model-args` value."""
    if value is None:
        return default
    try:
        return cast(value)
    except ValueError:
        raise LvrpoError(f"--model-args {name}={value!r}: expected a {cast.__name__}") from None
