"""A small client for OpenAI-compatible `/chat/completions` endpoints, shared by the `openai` judge and backend.

It builds the request (text plus base64 images), retries what is worth retrying (429, 5xx, timeouts, connection
errors, a 200 whose body holds no reply) with bounded exponential backoff and jitter, honours `Retry-After`
(bounded), and bounds how many requests are in flight at once and how long one call may take, retries included
(`ChatClient.deadline`). Bodies go out as ASCII-escaped JSON, so any Python string (a model's reply with a lone
surrogate too) can be sent. A 401/403 is never retried: the key is wrong (or
missing), and every later call through the same client fails at once with the same error, unsent. The API key only
ever lives in the `Authorization` header of a request: never in `repr`, logs or error messages (those are redacted).

Environment:
- `OPENAI_API_KEY`: the key. When unset none is sent (a local server may need none), except to api.openai.com
  itself: that fails before any request (`require_key`).
- `LVRPO_JUDGE_API_KEY_ENV`: the name of another variable that holds the key (e.g. `GROQ_API_KEY`).
- `OPENAI_BASE_URL`: the default base URL (else https://api.openai.com/v1).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from PIL import Image

from lvrpo.types import LvrpoError

log = logging.getLogger("lvrpo.http")

OPENAI_URL = "https://api.openai.com/v1"
KEY_ENV_VAR = "LVRPO_JUDGE_API_KEY_ENV"
T = TypeVar("T")
R = TypeVar("R")


class ApiError(LvrpoError):
    """A chat-completion call that gave no reply (after its retries, for retryable failures)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class AuthError(ApiError):
    """The server refused the key (HTTP 401/403), or none was sent: no call through that client can succeed."""


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts: `backoff * 2**i` seconds, capped at `backoff_max`, times a jitter in [0.5, 1].

    A server's `Retry-After` replaces the computed wait, capped at `retry_after_max`. The defaults wait about
    0.5-1 + 1-2 + 2-4 + 4-8 + 8-16 s over 6 attempts (at most ~31 s plus the request timeouts).
    """

    max_retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 60.0

    def deadline(self, timeout: float) -> float:
        """The most seconds one call may take with a per-attempt `timeout`: `timeout × (max_retries + 1) +
        backoff_max` (every attempt's timeout plus room for the waits between them)."""
        return timeout * (self.max_retries + 1) + self.backoff_max

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return min(self.backoff * 2**attempt, self.backoff_max) * random.uniform(0.5, 1.0)


def resolve_api_key(env: dict[str, str] | None = None) -> str | None:
    """The key from the variable named by `LVRPO_JUDGE_API_KEY_ENV`, else `OPENAI_API_KEY`, else None."""
    env = os.environ if env is None else env
    named = env.get(KEY_ENV_VAR)
    if named:
        if not env.get(named):
            raise LvrpoError(f"{KEY_ENV_VAR} names {named}, which is not set")
        return env[named]
    return env.get("OPENAI_API_KEY") or None


def api_key_var(env: dict[str, str] | None = None) -> str:
    """The variable `resolve_api_key` reads the key from."""
    return (os.environ if env is None else env).get(KEY_ENV_VAR) or "OPENAI_API_KEY"


def require_key(who: str, base_url: str, key: str | None, key_var: str, key_help: str = "") -> None:
    """No key for the OpenAI API itself: one line now, instead of retried calls that can only be refused. Other
    servers (a local vLLM...) may need no key, so they are sent none."""
    if not key and urlsplit(base_url).hostname == "api.openai.com":
        raise LvrpoError(f"{who}: no API key for {redact_url(base_url)}: set {key_var}{key_help}")


def normalize_base_url(base_url: str | None) -> str:
    """`base_url` (default `OPENAI_BASE_URL`, else the OpenAI API) without a trailing `/` or `/chat/completions`."""
    url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).strip().rstrip("/")
    url = url.removesuffix("/chat/completions")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LvrpoError(f"not an http(s) base URL: {redact_url(url)!r}")
    return url


def redact_url(url: str) -> str:
    """`url` without user:password (which may hold a secret) and without its query string."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def image_data_uri(image: Image.Image, fmt: str = "png", quality: int = 75) -> str:
    """The image as a base64 data URI (`png`, lossless; or `jpeg` at `quality`, as some official judges send)."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=quality)
    elif fmt == "png":
        image.save(buf, format="PNG")
    else:
        raise LvrpoError(f"unsupported image format for the API: {fmt!r}")
    return f"data:image/{fmt};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def user_message(prompt: str, images: Sequence[Image.Image] = (), fmt: str = "png") -> dict[str, Any]:
    """One user turn: the text part, then one `image_url` part per image, in order."""
    if not images:
        return {"role": "user", "content": prompt}
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": image_data_uri(im, fmt)}} for im in images]
    return {"role": "user", "content": parts}


def chat_body(model: str, messages: list[dict[str, Any]], *, max_tokens: int,
              temperature: float | None = 0.0, **extra: Any) -> dict[str, Any]:
    """The JSON body of a chat-completion request; `temperature=None` leaves the API default."""
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens, **extra}
    if temperature is not None:
        body["temperature"] = temperature
    return body


def reply_text(data: Any) -> str:
    """The first choice's message text; ValueError when the body holds none."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("response has no choices[0].message.content") from None
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise ValueError("response message content is not text")
    return content


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # an HTTP date
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


class _DeadlinePassed(Exception):
    """The call's deadline passed while a reply was still arriving."""


class ChatClient:
    """Posts chat-completion bodies to `base_url` with retries; thread-safe, at most `max_concurrency` in flight.

    One call (`post`/`complete`: all its attempts and the waits between them) ends within `deadline` seconds
    (default `retry.deadline(read_timeout)`, i.e. `read_timeout × (max_retries + 1) + backoff_max`), not counting
    time spent queued for one of the `max_concurrency` slots: each attempt's timeouts are cut to the time left, a
    reply still arriving at the deadline is dropped, and a wait that would end past it is not slept. The call then
    raises ApiError, as after its last retry.
    """

    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, connect_timeout: float = 10.0,
                 read_timeout: float = 120.0, retry: RetryPolicy | None = None, max_concurrency: int = 8,
                 key_var: str = "OPENAI_API_KEY", key_help: str = "", deadline: float | None = None):
        """`key_var` (+ `key_help`): where the key is read from, for the errors that say how to set it."""
        self.base_url = normalize_base_url(base_url)
        self._key, self.key_var, self.key_help = api_key, key_var, key_help
        self._refused: AuthError | None = None  # once refused, refused for good: later calls fail unsent
        self.retry = retry or RetryPolicy()
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.deadline = deadline if deadline is not None else self.retry.deadline(read_timeout)
        self.max_concurrency = max(1, int(max_concurrency))
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        self._http = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=connect_timeout), limits=limits,
                                  follow_redirects=True)

    def __repr__(self) -> str:
        return f"ChatClient({redact_url(self.base_url)!r}, key={'set' if self._key else 'none'})"

    def redact(self, text: str) -> str:
        """`text` with the key (should a server echo it back) replaced by `***`."""
        return text.replace(self._key, "***") if self._key else text

    def complete(self, body: dict[str, Any]) -> str:
        """The reply text for a chat-completions `body`. Raises ApiError when the call fails for good."""
        return self.post("/chat/completions", reply_text, json=body)

    def post(self, path: str, parse: Callable[[Any], R], **payload: Any) -> R:
        """POST `payload` (`json=` a body, or httpx's `data=` and `files=`) to `base_url + path`; `parse` the JSON
        of the 200 reply. 429, 5xx (not 501), timeouts, connection errors and replies `parse` rejects (ValueError,
        KeyError, TypeError) are retried with backoff, within the call's `deadline`; other failures, the last retry
        and the deadline raise ApiError."""
        require_key("openai", self.base_url, self._key, self.key_var, self.key_help)
        if self._refused is not None:
            raise self._refused
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        if "json" in payload:  # httpx's `json=` encodes as UTF-8, which fails on a lone surrogate: ASCII escapes
            payload["content"] = json.dumps(payload.pop("json")).encode("ascii")
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        attempts = self.retry.max_retries + 1
        end = time.monotonic() + self.deadline
        for attempt in range(attempts):
            retry_after, status = None, None
            try:
                queued = time.monotonic()
                with self._slots:
                    end += time.monotonic() - queued  # waiting for a slot is other calls' time, not this one's
                    status, resp_headers, raw = self._send(url, headers, payload, end)
                if status == 200:
                    return parse(json.loads(raw))
                text = raw.decode("utf-8", "replace")
                reason = f"HTTP {status}: {text[:300]!r}"
                if status in (401, 403):
                    raise self._refuse(status, text)
                if status != 429 and (status < 500 or status == 501):
                    raise ApiError(self.redact(reason), status)
                retry_after = _retry_after(resp_headers)
            except _DeadlinePassed as e:
                reason = f"timed out: {e} (the call's {self.deadline:g} s deadline)"
            except httpx.RequestError as e:  # timeouts, connection errors, broken responses
                reason = f"{type(e).__name__}: {e}"
            except (ValueError, KeyError, TypeError) as e:  # not JSON, or not the expected reply: worth a retry
                reason = f"bad response body: {type(e).__name__}: {e}"
            reason = self.redact(reason)
            if attempt + 1 == attempts:
                break
            wait = self.retry.wait(attempt, retry_after)
            if time.monotonic() + wait >= end:  # no time left for another try: give up now, not at the deadline
                raise ApiError(f"{reason} (gave up after {attempt + 1} attempts: the call's {self.deadline:g} s "
                               "deadline would pass before the next)", status)
            log.warning("%s: %s; retrying in %.1fs (%d/%d)", redact_url(url), reason, wait, attempt + 1,
                        self.retry.max_retries)
            time.sleep(wait)
        raise ApiError(f"{reason} (gave up after {attempts} attempts)", status)

    def _send(self, url: str, headers: dict[str, str], payload: dict[str, Any],
              end: float) -> tuple[int, httpx.Headers, bytes]:
        """One attempt: (status, headers, body), every timeout cut to the time left before `end`. The body is
        read in chunks so that a server trickling it cannot hold the call past `end` (by more than one read)."""
        left = end - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed("no time left for another attempt")
        timeout = httpx.Timeout(min(self.read_timeout, left), connect=min(self.connect_timeout, left))
        with self._http.stream("POST", url, headers=headers, timeout=timeout, **payload) as resp:
            chunks = []
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > end:
                    raise _DeadlinePassed("the reply was still arriving")
            return resp.status_code, resp.headers, b"".join(chunks)

    def _refuse(self, status: int, text: str) -> AuthError:
        where = redact_url(self.base_url)
        if self._key:
            why = f"{where} refused the API key from {self.key_var} (HTTP {status}: {text[:200]!r})"
        else:
            why = f"{where} answered HTTP {status} ({text[:200]!r}): no API key was sent; set {self.key_var}" + \
                self.key_help
        self._refused = AuthError(self.redact(why), status)
        return self._refused

    def close(self) -> None:
        self._http.close()


def map_bounded(fn: Callable[[T], R], items: Sequence[T], max_workers: int,
                catch: type[BaseException] = LvrpoError) -> list[R | BaseException]:
    """`fn` over `items` on up to `max_workers` threads, results in input order; an item whose call raises
    `catch` gets that exception in its slot instead of a result (other exceptions propagate)."""

    def one(item: T) -> R | BaseException:
        try:
            return fn(item)
        except catch as e:
            return e

    if len(items) <= 1 or max_workers <= 1:
        return [one(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        return list(pool.map(one, items))

