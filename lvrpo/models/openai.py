"""`openai:MODEL[@URL]`: any OpenAI-compatible endpoint as the model under test.

- understand: `/chat/completions`, one user turn with the images as base64 PNG `image_url` parts in the same order
  as the local backends (images first, or at their `<image k>` tags: prompting.py), temperature 0,
  `max_tokens` = the request's `max_new_tokens`, `stop` from the request.
- generate / edit: the images API (`/images/generations`, `/images/edits` multipart), base64 (`b64_json`) replies.
  A server without those endpoints fails with a clear error on first use.

Key: the variable named by `--model-args api_key_env=NAME`, else as the judges (`OPENAI_API_KEY`, or the variable
named in `LVRPO_JUDGE_API_KEY_ENV`); it is held in memory only, never written (describe() has model + redacted URL).
No key for api.openai.com fails before any request; other servers are sent none. A refused key (HTTP 401/403)
stops the run at once, never retried.
Retries, backoff, timeouts and concurrency are lvrpo/http.py's, shared with the judges (chat completions only:
images calls are single attempts until http.py offers a generic retrying POST). `--model-args`: `max_concurrency`
(8; requests of one batch in flight at once, so pair it with `--batch-size`), `timeout` (read timeout, 120 s),
`max_retries` (5), `api_key_env`, `interleave=false`, `size` (e.g. 1024x1024), `response_format` (`b64_json`;
`none` leaves it out, for servers such as gpt-image-1 that always answer base64 and reject the field).
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from PIL import Image

from lvrpo.http import (
    ApiError,
    AuthError,
    ChatClient,
    RetryPolicy,
    api_key_var,
    chat_body,
    image_data_uri,
    map_bounded,
    normalize_base_url,
    redact_url,
    require_key,
    resolve_api_key,
)
from lvrpo.models.base import Backend, BackendOptions, check_model_args
from lvrpo.models.prompting import finish, flag, layout, number
from lvrpo.types import LvrpoError, Request

MODEL_ARGS = ("max_concurrency", "timeout", "max_retries", "api_key_env", "interleave", "size", "response_format")
KEY_HELP = " (or --model-args api_key_env=NAME to read it from another variable)"


class OpenAIBackend(Backend):
    """A remote model: chat completions for questions, the images API for generation and editing."""

    name = "openai"
    capabilities = frozenset({"understand", "generate", "edit"})

    def __init__(self, model: str, options: BackendOptions | None = None):
        options = options or BackendOptions()
        extra = options.extra
        check_model_args(self.name, extra, MODEL_ARGS)
        name, _, url = model.partition("@")  # the first "@": a URL may hold one (user@host)
        self.model = name.strip()
        if not self.model:
            raise LvrpoError(f"--model openai:{redact_url(model)}: expected openai:MODEL[@URL]")
        url = normalize_base_url(url.strip() or None)
        key_var = extra.get("api_key_env") or api_key_var()
        key_help = "" if extra.get("api_key_env") else KEY_HELP
        self._key = _api_key(extra.get("api_key_env"))
        require_key(f"--model openai:{self.model}", url, self._key, key_var, key_help)
        self.interleave = flag(extra.get("interleave"), True, "interleave")
        self.size = extra.get("size") or None
        fmt = extra.get("response_format", "b64_json")
        self.response_format = None if fmt.lower() == "none" else fmt
        self.timeout = number(extra.get("timeout"), 120.0, "timeout")
        self.client = ChatClient(url, api_key=self._key, read_timeout=self.timeout, key_var=key_var, key_help=key_help,
                                 max_concurrency=number(extra.get("max_concurrency"), 8, "max_concurrency", int),
                                 retry=RetryPolicy(max_retries=number(extra.get("max_retries"), 5, "max_retries", int)))
        self.base_url = self.client.base_url

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, {redact_url(self.base_url)!r})"

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": redact_url(self.base_url)}

    # understanding -------------------------------------------------------------------------------------------

    def body(self, request: Request) -> dict[str, Any]:
        """The chat-completion body for one request (greedy: temperature 0)."""
        parts = [{"type": "text", "text": p} if isinstance(p, str) else
                 {"type": "image_url", "image_url": {"url": image_data_uri(p)}}
                 for p in layout(request, self.interleave)]
        content: Any = parts[0]["text"] if len(parts) == 1 and parts[0]["type"] == "text" else parts
        extra = {"stop": list(request.options["stop"])} if request.options.get("stop") else {}
        return chat_body(self.model, [{"role": "user", "content": content}], max_tokens=request.max_new_tokens,
                         temperature=0.0, **extra)

    def understand(self, requests: list[Request]) -> list[str]:
        """One reply per request, up to `max_concurrency` in flight. A request that fails for good (after the
        shared retries) stops the batch with an error naming it."""
        replies = map_bounded(lambda r: self.client.complete(self.body(r)), requests, self.client.max_concurrency)
        return [finish(_raise_failed(reply, r, "chat completion"), r)
                for reply, r in zip(replies, requests, strict=True)]

    # images API ----------------------------------------------------------------------------------------------

    def generate(self, requests: list[Request]) -> list[list[Image.Image]]:
        """`num_images` images per request from `/images/generations`."""
        return self._images(requests, "generations")

    def edit(self, requests: list[Request]) -> list[list[Image.Image]]:
        """`num_images` edits of `request.images[0]` per request from `/images/edits`."""
        return self._images(requests, "edits")

    def _images(self, requests: list[Request], endpoint: str) -> list[list[Image.Image]]:
        results = map_bounded(lambda r: self._images_one(r, endpoint), requests, self.client.max_concurrency)
        return [_raise_failed(res, r, f"images/{endpoint}") for res, r in zip(results, requests, strict=True)]

    def _images_one(self, request: Request, endpoint: str) -> list[Image.Image]:
        """Asks again for the rest when a server returns fewer than `n` images (some cap `n` at 1)."""
        images: list[Image.Image] = []
        for _ in range(max(request.num_images, 1)):
            images += self._images_call(request, endpoint, request.num_images - len(images))
            if len(images) >= request.num_images:
                return images[:request.num_images]
        raise LvrpoError(f"openai {self.model}: images/{endpoint} returned {len(images)} of {request.num_images} "
                         "images")

    def images_fields(self, request: Request, n: int) -> dict[str, Any]:
        """The form/JSON fields of an images-API call (the source image travels separately for edits)."""
        fields: dict[str, Any] = {"model": self.model, "prompt": request.prompt, "n": n}
        size = self.size or _size_hint(request.options)
        if size:
            fields["size"] = size
        if self.response_format:
            fields["response_format"] = self.response_format
        return fields

    def _images_call(self, request: Request, endpoint: str, n: int) -> list[Image.Image]:
        fields = self.images_fields(request, n)
        if endpoint == "edits":
            if not request.images:
                raise LvrpoError(f"request {request.id}: an edit needs a source image")
            payload = {"data": {k: str(v) for k, v in fields.items()},
                       "files": {"image": ("image.png", _png(request.images[0]), "image/png")}}
        else:
            payload = {"json": fields}
        try:
            return self.client.post(f"/images/{endpoint}", _decode_images, **payload)
        except AuthError:
            raise
        except ApiError as e:
            if e.status in (404, 405, 501):
                raise LvrpoError(f"openai {self.model}: {redact_url(self.base_url)} does not offer the images API "
                                 f"(/images/{endpoint} answered HTTP {e.status}), so this model cannot "
                                 f"{'edit' if endpoint == 'edits' else 'generate'} images there") from None
            raise LvrpoError(f"openai {self.model}: images/{endpoint}: {e}") from None

    def close(self) -> None:
        self.client.close()


def _api_key(env_name: str | None) -> str | None:
    if not env_name:
        return resolve_api_key()
    if not os.environ.get(env_name):
        raise LvrpoError(f"--model-args api_key_env={env_name}: that variable is not set")
    return os.environ[env_name]


def _raise_failed(result: Any, request: Request, what: str) -> Any:
    if isinstance(result, AuthError):  # about the server, not the request
        raise LvrpoError(f"openai backend: {result}") from None
    if isinstance(result, BaseException):
        raise LvrpoError(f"request {request.id!r} ({request.bench or 'no bench'}): {what} failed: {result}") from None
    return result


def _size_hint(options: dict[str, Any]) -> str | None:
    """`WxH` from a request's `width`/`height` or square `resolution` hint, if it has one."""
    if options.get("width") and options.get("height"):
        return f"{int(options['width'])}x{int(options['height'])}"
    if options.get("resolution"):
        return f"{int(options['resolution'])}x{int(options['resolution'])}"
    return None


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _decode_images(data: Any) -> list[Image.Image]:
    """The images of an images-API reply (`data[].b64_json`); ValueError/KeyError for any other reply."""
    blobs = [item["b64_json"] for item in data["data"]]
    images = []
    for blob in blobs:
        try:
            im = Image.open(io.BytesIO(base64.b64decode(blob)))
            im.load()
        except Exception as e:
            raise ValueError(f"an image in the reply cannot be decoded ({type(e).__name__})") from None
        images.append(im)
    return images
