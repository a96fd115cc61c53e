"""`openai:MODEL[@BASE_URL]`: any OpenAI-compatible chat-completions endpoint as judge (GPT-4o, vLLM, ...).

Key: `OPENAI_API_KEY`, or the variable named in `LVRPO_JUDGE_API_KEY_ENV`; none is sent when neither is set, except
to api.openai.com itself (`check_openai_spec` fails before any model work). A refused key (HTTP 401/403) stops the
run: no later call could succeed, and an unscored sample would stay unscored on resume.
Base URL: the one after `@`, else `OPENAI_BASE_URL`, else https://api.openai.com/v1.
Concurrency of `complete_many`: `LVRPO_JUDGE_CONCURRENCY` (default 8). Replies are cached (see cache.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PIL import Image

from lvrpo.http import (
    KEY_ENV_VAR,
    ApiError,
    AuthError,
    ChatClient,
    RetryPolicy,
    api_key_var,
    chat_body,
    map_bounded,
    normalize_base_url,
    redact_url,
    require_key,
    resolve_api_key,
    user_message,
)
from lvrpo.judges.base import Judge, JudgeError
from lvrpo.judges.cache import ReplyCache, cache_key, image_digest
from lvrpo.types import LvrpoError

Item = str | tuple[str, Sequence[Image.Image] | None]
KEY_HELP = f" (or name the variable that holds it in {KEY_ENV_VAR})"


class OpenAIJudge(Judge):
    """Chat-completions judge: temperature 0, images as base64 PNG `image_url` parts after the text."""

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str | None = None,
                 cache: ReplyCache | None = None, use_cache: bool = True, max_concurrency: int | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 120.0, retry: RetryPolicy | None = None):
        if not model:
            raise LvrpoError("openai judge: empty model name")
        self.model = model
        if max_concurrency is None:
            raw = os.environ.get("LVRPO_JUDGE_CONCURRENCY", "") or "8"
            if not raw.isdigit() or int(raw) < 1:
                raise LvrpoError(f"LVRPO_JUDGE_CONCURRENCY must be a positive integer, not {raw!r}")
            max_concurrency = int(raw)
        key = api_key if api_key is not None else resolve_api_key()
        self.client = ChatClient(base_url, api_key=key, connect_timeout=connect_timeout, read_timeout=read_timeout,
                                 retry=retry, max_concurrency=max_concurrency, key_var=api_key_var(),
                                 key_help=KEY_HELP)
        self.base_url = self.client.base_url
        self.name = f"openai:{model}"
        self.cache = (cache or ReplyCache()) if use_cache else None

    def __repr__(self) -> str:
        return f"OpenAIJudge({self.model!r}, {redact_url(self.base_url)!r})"

    def describe(self) -> dict:
        return {"judge": self.name, "model": self.model, "base_url": redact_url(self.base_url), "temperature": 0}

    def complete(self, prompt: str, images: list[Image.Image] | None = None, *, max_tokens: int = 512,
                 temperature: float | None = 0.0, system: str | None = None, image_format: str = "png",
                 attempt: int = 0, extra_body: dict | None = None) -> str:
        """The reply text (from the cache when this exact request was answered before). Raises JudgeError.
        The keyword arguments are those of `Judge.complete`; all of them are part of the cache key."""
        images = list(images or [])
        key = cache_key(model=self.model, base_url=self.base_url, prompt=prompt,
                        images=[image_digest(im) for im in images], max_tokens=max_tokens,
                        temperature=temperature, image_format=image_format, system=system, attempt=attempt,
                        extra_body=extra_body)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        messages = ([{"role": "system", "content": system}] if system else []) + [
            user_message(prompt, images, image_format)]
        body = {**chat_body(self.model, messages, max_tokens=max_tokens, temperature=temperature),
                **(extra_body or {})}
        try:
            reply = self.client.complete(body)
        except AuthError as e:  # not a JudgeError: that would only mark this sample unscored, and the next, ...
            raise LvrpoError(f"judge {self.name}: {e}") from None
        except ApiError as e:
            raise JudgeError(f"judge {self.name}: {e}") from None  # no chained request (it holds headers)
        if self.cache is not None:
            self.cache.put(key, reply, model=self.model)
        return reply

    def complete_many(self, items: Sequence[Item], *, max_tokens: int = 512, **kwargs) -> list[str | JudgeError]:
        """`complete` for each item (a prompt, or a `(prompt, images)` pair), at most `max_concurrency` in
        flight. Results come back in input order; an item whose call failed holds its JudgeError (not raised)."""

        def one(item: Item) -> str:
            prompt, images = (item, None) if isinstance(item, str) else item
            return self.complete(prompt, list(images or []), max_tokens=max_tokens, **kwargs)

        return map_bounded(one, items, self.client.max_concurrency, catch=JudgeError)


def check_openai_spec(rest: str) -> None:
    """`MODEL[@BASE_URL]` names a model, an http(s) URL, and a key where the URL needs one (api.openai.com)."""
    model, base_url = parse_openai_spec(rest)
    if not model:
        raise LvrpoError(f"--judge openai:{redact_url(rest)}: expected openai:MODEL[@BASE_URL]")
    require_key(f"--judge openai:{model}", normalize_base_url(base_url), resolve_api_key(), api_key_var(), KEY_HELP)


def parse_openai_spec(rest: str) -> tuple[str, str | None]:
    """`MODEL[@BASE_URL]` -> (model, base_url or None); split at the first `@` (a URL may hold one)."""
    model, _, base_url = rest.partition("@")
    return model.strip(), (base_url.strip() or None)
