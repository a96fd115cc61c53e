"""Judge clients (VLM/LLM-as-judge) behind one protocol, chosen with `--judge SPEC`.

- `openai:MODEL[@BASE_URL]`: an OpenAI-compatible endpoint (see judges/openai.py for the environment variables).
- `hf:PATH`: a local transformers image-text-to-text model.

Adapters that grade many items at once call `complete_many(ctx.judge, items)`: it uses the judge's own
bounded-concurrency `complete_many` when it has one, else calls `complete` in a loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from lvrpo.judges.base import Judge, JudgeError
from lvrpo.types import LvrpoError

KINDS = ("openai", "hf")


def check_judge_spec(spec: str | None) -> str | None:
    """Validate `openai:MODEL[@BASE_URL]` or `hf:PATH` early, before any model work."""
    if spec is None:
        return None
    kind, _, rest = spec.partition(":")
    if kind not in KINDS or not rest:
        raise LvrpoError(f"--judge {spec!r}: expected openai:MODEL[@BASE_URL] or hf:PATH")
    if kind == "openai":  # a missing key fails here, before the model runs, not at the first judge call
        from lvrpo.judges.openai import check_openai_spec

        check_openai_spec(rest)
    return spec


def make_judge(spec: str | None) -> Judge | None:
    """The judge client for `spec`, or None when no judge was asked for. Bad spec or setup: LvrpoError."""
    if check_judge_spec(spec) is None:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        from lvrpo.judges.openai import OpenAIJudge, parse_openai_spec

        model, base_url = parse_openai_spec(rest)
        if not model:
            raise LvrpoError(f"--judge {spec!r}: expected openai:MODEL[@BASE_URL]")
        return OpenAIJudge(model, base_url)
    from lvrpo.judges.hf import HFJudge

    return HFJudge(rest)


def complete_many(judge: Judge, items: Sequence[str | tuple[str, Sequence[Image.Image] | None]], *,
                  max_tokens: int = 512, **kwargs) -> list[str | JudgeError]:
    """One reply or JudgeError per item (a prompt or a `(prompt, images)` pair), in input order; never raises
    JudgeError. Works with any Judge: those without their own `complete_many` are called one by one."""
    if hasattr(judge, "complete_many"):
        return judge.complete_many(items, max_tokens=max_tokens, **kwargs)
    results: list[str | JudgeError] = []
    for item in items:
        prompt, images = (item, None) if isinstance(item, str) else item
        try:
            results.append(judge.complete(prompt, list(images or []), max_tokens=max_tokens, **kwargs))
        except JudgeError as e:
            results.append(e)
    return results


__all__ = ["Judge", "JudgeError", "check_judge_spec", "complete_many", "make_judge"]
