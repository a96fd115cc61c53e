"""Judge clients (VLM/LLM-as-judge) behind one protocol, chosen with `--judge SPEC`.

- `openai:MODEL[@BASE_URL]`: an OpenAI-compatible endpoint (see judges/openai.py for the environment variables).
- `hf:PATH`: a local transformers image-text-to-text model.
- `world`: the ShapesWorld oracle (judges/world.py), the default with `--data world`; it grades MM-Vet, WISE and
  GEdit only.

How long an `openai:` judge call may take: `--judge-timeout SECONDS` (env `LVRPO_JUDGE_TIMEOUT`, default 120) per
attempt and `--judge-retries N` (env `LVRPO_JUDGE_RETRIES`, default 5) retries after the first; one call, retries and
waits included, ends within `timeout × (retries + 1) + 30` s and then fails as JudgeError (the sample is unscored
with the reason). They shape no reply, so they are not part of a run's identity.

Adapters that grade many items at once call `complete_many(ctx.judge, items)`: it uses the judge's own
bounded-concurrency `complete_many` when it has one, else calls `complete` in a loop.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from PIL import Image

from lvrpo.judges.base import Judge, JudgeError
from lvrpo.types import LvrpoError

KINDS = ("openai", "hf", "world")
TIMEOUT_ENV, RETRIES_ENV = "LVRPO_JUDGE_TIMEOUT", "LVRPO_JUDGE_RETRIES"


def judge_limits(timeout: str | float | None = None, retries: str | int | None = None,
                 env: Mapping[str, str] | None = None) -> tuple[float | None, int | None]:
    """(seconds per attempt, retries) from the options, else `LVRPO_JUDGE_TIMEOUT` / `LVRPO_JUDGE_RETRIES`, else
    None (the client's defaults). A bad value is an LvrpoError naming where it came from."""
    env = os.environ if env is None else env

    def pick(value, option: str, var: str):
        if value is not None and value != "":
            return value, f"{option} {value!r}"
        raw = env.get(var, "").strip()
        return (raw, f"{var}={raw!r}") if raw else (None, "")

    raw_t, where_t = pick(timeout, "--judge-timeout", TIMEOUT_ENV)
    raw_r, where_r = pick(retries, "--judge-retries", RETRIES_ENV)
    seconds = count = None
    if raw_t is not None:
        try:
            seconds = float(raw_t)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise LvrpoError(f"{where_t}: expected a positive number of seconds")
    if raw_r is not None:
        if not str(raw_r).strip().isdigit():
            raise LvrpoError(f"{where_r}: expected a whole number of retries (0 or more)")
        count = int(str(raw_r).strip())
    return seconds, count


def check_judge_spec(spec: str | None) -> str | None:
    """Validate `openai:MODEL[@BASE_URL]` or `hf:PATH` early, before any model work."""
    if spec is None or spec == "world":
        return spec
    kind, _, rest = spec.partition(":")
    if kind not in KINDS or not rest:
        raise LvrpoError(f"--judge {spec!r}: expected openai:MODEL[@BASE_URL], hf:PATH or world")
    if kind == "openai":  # a missing key fails here, before the model runs, not at the first judge call
        from lvrpo.judges.openai import check_openai_spec

        check_openai_spec(rest)
    return spec


def make_judge(spec: str | None, *, timeout: str | float | None = None,
               retries: str | int | None = None) -> Judge | None:
    """The judge client for `spec`, or None when no judge was asked for. Bad spec, limits or setup: LvrpoError.
    `timeout`/`retries` (see `judge_limits`) bound an HTTP judge's calls; a local `hf:` judge has no use for them."""
    seconds, count = judge_limits(timeout, retries)  # checked even without a judge: a typo is never ignored
    if check_judge_spec(spec) is None:
        return None
    if spec == "world":
        from lvrpo.judges.world import WorldJudge

        return WorldJudge()
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        from lvrpo.judges.openai import OpenAIJudge, parse_openai_spec

        model, base_url = parse_openai_spec(rest)
        if not model:
            raise LvrpoError(f"--judge {spec!r}: expected openai:MODEL[@BASE_URL]")
        limits: dict = {}
        if seconds is not None:  # a hung server must not hold the connect phase longer than a reply either
            limits.update(read_timeout=seconds, connect_timeout=min(10.0, seconds))
        if count is not None:
            from lvrpo.http import RetryPolicy

            limits["retry"] = RetryPolicy(max_retries=count)
        return OpenAIJudge(model, base_url, **limits)
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


__all__ = ["Judge", "JudgeError", "check_judge_spec", "complete_many", "judge_limits", "make_judge"]
