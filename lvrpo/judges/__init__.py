"""Judge clients (VLM/LLM-as-judge) behind one protocol, chosen with `--judge SPEC`."""

from __future__ import annotations

from lvrpo.types import LvrpoError

KINDS = ("openai", "hf")


def check_judge_spec(spec: str | None) -> str | None:
    """Validate `openai:MODEL[@BASE_URL]` or `hf:PATH` early, before any model work."""
    if spec is None:
        return None
    kind, _, rest = spec.partition(":")
    if kind not in KINDS or not rest:
        raise LvrpoError(f"--judge {spec!r}: expected openai:MODEL[@BASE_URL] or hf:PATH")
    return spec


def make_judge(spec: str | None):
    """The judge client for `spec`, or None when no judge was asked for."""
    if check_judge_spec(spec) is None:
        return None
    raise LvrpoError(f"--judge {spec}: judge clients are not available yet")
