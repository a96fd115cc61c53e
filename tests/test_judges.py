"""The `openai:` judge against a real HTTP server on 127.0.0.1: request shape, key handling, retries, cache,
bounded concurrency. The server's behaviour per request is scripted by each test."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from lvrpo.http import RetryPolicy
from lvrpo.judges import Judge, JudgeError, complete_many, make_judge
from lvrpo.judges.openai import OpenAIJudge
from lvrpo.types import LvrpoError

FAST = RetryPolicy(max_retries=3, backoff=0.01, backoff_max=0.05, retry_after_max=2.0)


def ok(text: str) -> tuple[int, dict, bytes, float]:
    body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "stop",
                                                                   "message": {"role": "assistant", "content": text}}]}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0.0


def prompt_of(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


class FakeAPI:
    """Counts hits and the most requests seen at once; `behave(n, body, headers)` scripts each answer."""

    def __init__(self):
        self.hits = 0
        self.requests: list[tuple[str, dict, dict]] = []  # (path, headers, parsed body)
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.behave = lambda n, body, headers: ok(f"reply to: {prompt_of(body)}")
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with api.lock:
                    api.hits += 1
                    n = api.hits
                    api.in_flight += 1
                    api.max_in_flight = max(api.max_in_flight, api.in_flight)
                    body = json.loads(raw)
                    api.requests.append((self.path, dict(self.headers), body))
                try:
                    status, headers, payload, delay = api.behave(n, body, dict(self.headers))
                    time.sleep(delay)
                    self.send_response(status)
                    for k, v in {**headers, "Content-Length": str(len(payload))}.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left
                finally:
                    with api.lock:
                        api.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    for var in ("OPENAI_API_KEY", "LVRPO_JUDGE_API_KEY_ENV", "OPENAI_BASE_URL", "LVRPO_JUDGE_CONCURRENCY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LVRPO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def api():
    fake = FakeAPI()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def judge(api: FakeAPI, **kw) -> OpenAIJudge:
    return OpenAIJudge("judge-model", api.url, retry=kw.pop("retry", FAST), **kw)


def square(color: str = "red") -> Image.Image:
    im = Image.new("RGB", (12, 8), "white")
    im.paste(Image.new("RGB", (4, 4), color), (2, 2))
    return im


def test_request_body_image_part_and_no_key(api):
    j = make_judge(f"openai:judge-model@{api.url}/")
    img = square()
    assert j.complete("Is the square red?", [img], max_tokens=7) == "reply to: Is the square red?"
    path, headers, body = api.requests[0]
    assert path == "/v1/chat/completions"
    assert "Authorization" not in headers  # no key set: none sent (a local server may need none)
    assert body["model"] == "judge-model" and body["temperature"] == 0 and body["max_tokens"] == 7
    (msg,) = body["messages"]
    assert msg["role"] == "user"
    text, image = msg["content"]
    assert text == {"type": "text", "text": "Is the square red?"}
    url = image["image_url"]["url"]
    assert image["type"] == "image_url" and url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.format == "PNG" and sent.convert("RGB").tobytes() == img.tobytes()  # lossless
    assert j.describe() == {"judge": "openai:judge-model", "model": "judge-model", "base_url": api.url,
                            "temperature": 0}


def test_key_from_openai_env_or_named_variable(api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plain")
    make_judge(f"openai:m@{api.url}").complete("a")
    monkeypatch.setenv("LVRPO_JUDGE_API_KEY_ENV", "MY_JUDGE_KEY")
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-named")
    make_judge(f"openai:m@{api.url}").complete("b")
    assert [h.get("Authorization") for _, h, _ in api.requests] == ["Bearer sk-plain", "Bearer sk-named"]
    monkeypatch.delenv("MY_JUDGE_KEY")
    with pytest.raises(LvrpoError, match="MY_JUDGE_KEY"):
        make_judge(f"openai:m@{api.url}")


def test_specs_and_base_urls(monkeypatch):
    assert OpenAIJudge("m").base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1/")
    assert OpenAIJudge("m").base_url == "http://localhost:8000/v1"
    assert make_judge("openai:gpt-4o@http://h:1/v1/chat/completions").base_url == "http://h:1/v1"
    assert make_judge(None) is None
    monkeypatch.setenv("LVRPO_JUDGE_CONCURRENCY", "2")
    assert make_judge("openai:m").client.max_concurrency == 2
    monkeypatch.setenv("LVRPO_JUDGE_CONCURRENCY", "many")
    with pytest.raises(LvrpoError, match="LVRPO_JUDGE_CONCURRENCY"):
        make_judge("openai:m")
    monkeypatch.delenv("LVRPO_JUDGE_CONCURRENCY")
    for bad in ("openai:", "openai:@http://h/v1", "openai:m@ftp://h", "gpt:4o", "hf:/no/such/dir"):
        with pytest.raises(LvrpoError):
            make_judge(bad)


def test_read_timeout_is_retried(api):
    api.behave = lambda n, body, h: (*ok("late")[:3], 1.5) if n == 1 else ok("on time")
    t0 = time.monotonic()
    assert judge(api, read_timeout=0.3).complete("q") == "on time"
    assert api.hits == 2 and time.monotonic() - t0 < 1.4  # gave up on the slow answer, did not wait for it


def test_429_honours_retry_after(api):
    api.behave = lambda n, body, h: (429, {"Retry-After": "1"}, b"slow down", 0.0) if n == 1 else ok("fine")
    t0 = time.monotonic()
    assert judge(api).complete("q") == "fine"
    assert api.hits == 2 and time.monotonic() - t0 >= 0.95  # waited as told, not the 0.01 s backoff


def test_retry_after_is_bounded(api):
    api.behave = lambda n, body, h: (429, {"Retry-After": "3600"}, b"", 0.0) if n == 1 else ok("fine")
    t0 = time.monotonic()
    retry = RetryPolicy(max_retries=2, backoff=0.01, retry_after_max=0.2)
    assert judge(api, retry=retry).complete("q") == "fine"
    assert time.monotonic() - t0 < 2


def test_backoff_is_exponential_jittered_and_bounded():
    policy = RetryPolicy(backoff=1.0, backoff_max=30.0, retry_after_max=60.0)
    for attempt, full in enumerate([1, 2, 4, 8, 16, 30, 30]):
        waits = [policy.wait(attempt) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits) and len(set(waits)) > 1
    assert policy.wait(0, retry_after=7) == 7 and policy.wait(0, retry_after=1e6) == 60 and policy.wait(0, -5) == 0


def test_500_forever_gives_judge_error_after_retries(api):
    api.behave = lambda n, body, h: (500, {}, b"internal error", 0.0)
    with pytest.raises(JudgeError, match=r"HTTP 500.*after 4 attempts"):
        judge(api).complete("q")
    assert api.hits == 4


@pytest.mark.parametrize("payload", [b"<html>bad gateway</html>", b'{"foo": 1}', b'{"choices": []}',
                                     b'{"choices": [{"message": {"content": null}}]}'])
def test_garbage_body_is_a_failed_call(api, payload):
    api.behave = lambda n, body, h: (200, {"Content-Type": "application/json"}, payload, 0.0)
    with pytest.raises(JudgeError, match="bad response body.*after 4 attempts"):
        judge(api).complete("q")
    assert api.hits == 4
    api.hits = 0
    api.behave = lambda n, body, h: (200, {}, payload, 0.0) if n == 1 else ok("recovered")
    assert judge(api).complete("q2") == "recovered" and api.hits == 2


@pytest.mark.parametrize("status,hint,error", [(400, "HTTP 400", JudgeError), (404, "HTTP 404", JudgeError),
                                               # a refused key stops the run (LvrpoError), instead of leaving
                                               # every sample unscored one by one
                                               (401, "OPENAI_API_KEY", LvrpoError)])
def test_client_errors_are_not_retried(api, status, hint, error):
    api.behave = lambda n, body, h: (status, {}, b'{"error": {"message": "nope"}}', 0.0)
    with pytest.raises(error, match=hint) as caught:
        judge(api).complete("q")
    assert isinstance(caught.value, JudgeError) == (error is JudgeError) and api.hits == 1


def test_connection_refused_is_retried_then_judge_error():
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(JudgeError, match="ConnectError.*after 4 attempts"):
        OpenAIJudge("m", f"http://127.0.0.1:{port}/v1", retry=FAST).complete("q")


def test_cache_skips_repeat_calls_and_never_stores_failures(api, tmp_path):
    assert judge(api).complete("same", [square()]) == "reply to: same"
    assert judge(api).complete("same", [square()]) == "reply to: same"  # a rerun: new client, same cache
    assert api.hits == 1
    judge(api).complete("same", [square("blue")])
    judge(api).complete("same", [square()], max_tokens=9)
    judge(api).complete("other", [square()])
    judge(api, use_cache=False).complete("same", [square()])
    assert api.hits == 5
    files = sorted((tmp_path / "cache" / "judge").rglob("*.json"))
    assert len(files) == 4 and json.loads(files[0].read_text())["model"] == "judge-model"

    api.behave = lambda n, body, h: (400, {}, b"bad", 0.0) if n == 6 else ok("later")
    with pytest.raises(JudgeError):
        judge(api).complete("fails first")
    assert len(list((tmp_path / "cache" / "judge").rglob("*.json"))) == 4
    assert judge(api).complete("fails first") == "later" and api.hits == 7


def test_reasks_get_fresh_replies_and_reruns_reuse_them(api):
    """An adapter re-asking after an unreadable reply passes `attempt`: a new request, not the cached bad reply;
    a rerun of the whole run then answers every attempt from the cache."""
    api.behave = lambda n, body, h: ok("garbage" if n == 1 else "8")
    assert judge(api).complete("grade", attempt=0) == "garbage"
    assert judge(api).complete("grade", attempt=1) == "8"
    assert api.hits == 2
    assert [judge(api).complete("grade", attempt=k) for k in (0, 1)] == ["garbage", "8"] and api.hits == 2


def test_system_message_and_extra_body_are_sent(api):
    judge(api).complete("rate", system="You are a strict grader.", extra_body={"chat_template_kwargs": {"x": 1}})
    body = api.requests[-1][2]
    assert body["messages"][0] == {"role": "system", "content": "You are a strict grader."}
    assert body["messages"][1]["role"] == "user" and body["chat_template_kwargs"] == {"x": 1}


def test_key_is_never_written_or_shown(api, monkeypatch, tmp_path, caplog):
    sentinel = "sk-SENTINEL-7f3a9c"
    monkeypatch.setenv("OPENAI_API_KEY", sentinel)

    def echo_auth(n, body, headers):  # a server that echoes the key back in its errors
        auth = headers.get("Authorization", "").encode()
        if "retry" in prompt_of(body):
            return 503, {}, b"overloaded for " + auth, 0.0
        if "reject" in prompt_of(body):
            return 400, {}, b"invalid key " + auth, 0.0
        return ok("fine")

    api.behave = echo_auth
    caplog.set_level(logging.DEBUG)
    j = make_judge(f"openai:judge-model@{api.url}")
    j.client.retry = FAST
    errors = []
    assert j.complete("ok", [square()]) == "fine"
    for prompt in ("retry", "reject"):
        with pytest.raises(JudgeError) as e:
            j.complete(prompt)
        errors.append(e.value)
    assert api.requests[0][1]["Authorization"] == f"Bearer {sentinel}"  # it was really in play
    shown = [repr(j), repr(j.client), json.dumps(j.describe()), caplog.text, *map(str, errors), *map(repr, errors)]
    assert "retrying" in caplog.text and "***" in str(errors[1]) and all(sentinel not in s for s in shown)
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert files and all(sentinel.encode() not in p.read_bytes() for p in files)


def test_complete_many_keeps_order_and_bounds_concurrency(api):
    def slow(n, body, h):
        p = prompt_of(body)
        return (400, {}, b"bad item", 0.2) if "bad" in p else (*ok(f"reply to: {p}")[:3], 0.2)

    api.behave = slow
    j = judge(api, max_concurrency=3)
    items = [f"p{i}" for i in range(9)] + ["bad one", ("with image", [square()])]
    t0 = time.monotonic()
    out = j.complete_many(items)
    assert out[:9] == [f"reply to: p{i}" for i in range(9)] and out[10] == "reply to: with image"
    assert isinstance(out[9], JudgeError) and "HTTP 400" in str(out[9])
    assert 2 <= api.max_in_flight <= 3  # really concurrent, never above the bound
    assert time.monotonic() - t0 < 11 * 0.2  # faster than one at a time
    assert complete_many(j, ["p0", "p1"]) == ["reply to: p0", "reply to: p1"]  # cached: no new hits
    assert api.hits == 11


def test_complete_many_falls_back_to_complete_for_any_judge():
    class Echo(Judge):
        def complete(self, prompt, images=None, *, max_tokens=512):
            if prompt == "x":
                raise JudgeError("no")
            return f"{prompt}:{len(images or [])}:{max_tokens}"

    out = complete_many(Echo(), ["a", ("b", [square(), square()]), "x"], max_tokens=3)
    assert out[:2] == ["a:0:3", "b:2:3"] and isinstance(out[2], JudgeError)


# ------------------------------------------------------------------ bounded calls (--judge-timeout/-retries)


def test_hung_server_costs_timeout_times_attempts(api):
    api.behave = lambda n, body, h: (*ok("too late")[:3], 5.0)
    t0 = time.monotonic()
    with pytest.raises(JudgeError, match=r"ReadTimeout.*after 2 attempts"):
        judge(api, read_timeout=0.3, retry=RetryPolicy(max_retries=1, backoff=0.01)).complete("q")
    assert api.hits == 2 and time.monotonic() - t0 < 1.5  # 2 × 0.3 s, not 2 × 5 s


def test_deadline_bounds_retries_and_waits(api):
    """Retry-After waits and retries stop at the call's deadline: it gives up before a wait would pass it."""
    api.behave = lambda n, body, h: (429, {"Retry-After": "0.4"}, b"slow down", 0.0)
    j = judge(api, retry=RetryPolicy(max_retries=50, retry_after_max=5.0))
    j.client.deadline = 1.0
    t0 = time.monotonic()
    with pytest.raises(JudgeError, match=r"HTTP 429.*1 s deadline"):
        j.complete("q")
    assert time.monotonic() - t0 < 1.2 and 2 <= api.hits <= 3


def test_trickled_reply_is_cut_at_the_deadline():
    """A server that sends a byte every 0.1 s never trips a 0.5 s read timeout; the deadline still ends the call."""

    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads, server.block_on_close = True, False
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        j = OpenAIJudge("m", f"http://127.0.0.1:{server.server_address[1]}/v1", read_timeout=0.5, retry=FAST)
        j.client.deadline = 1.0
        t0 = time.monotonic()
        with pytest.raises(JudgeError, match="still arriving"):
            j.complete("q")
        assert time.monotonic() - t0 < 1.6
    finally:
        server.shutdown()
        server.server_close()


def test_lone_surrogates_are_sent_replied_and_cached(api, tmp_path):
    """A model reply cut mid-character ("Yes \\ud83d") goes out as ASCII-escaped JSON; a reply holding one is
    cached and read back."""
    content_types: list[str] = []
    api.behave = lambda n, body, h: ok(f"0.5 {prompt_of(body)}")
    real_post = api.server.RequestHandlerClass.do_POST

    def spy(handler):
        content_types.append(handler.headers.get("Content-Type"))
        real_post(handler)

    api.server.RequestHandlerClass.do_POST = spy
    j = judge(api)
    assert j.complete("grade: Yes \ud83d", [square()]) == "0.5 grade: Yes \ud83d"
    assert judge(api).complete("grade: Yes \ud83d", [square()]) == "0.5 grade: Yes \ud83d" and api.hits == 1
    assert content_types == ["application/json"] and prompt_of(api.requests[0][2]) == "grade: Yes \ud83d"
    (cached,) = (tmp_path / "cache" / "judge").rglob("*.json")
    assert cached.read_bytes().isascii()


def test_judge_limits_flag_then_env_then_default():
    from lvrpo.judges import judge_limits

    assert judge_limits(env={}) == (None, None)
    env = {"LVRPO_JUDGE_TIMEOUT": "2.5", "LVRPO_JUDGE_RETRIES": "0"}
    assert judge_limits(env=env) == (2.5, 0)
    assert judge_limits("7", "3", env=env) == (7.0, 3)
    for timeout, retries, env, named in [("0", None, {}, "--judge-timeout '0'"), ("abc", None, {}, "--judge-timeout"),
                                         ("inf", None, {}, "--judge-timeout"), (None, "-1", {}, "--judge-retries"),
                                         (None, "1.5", {}, "--judge-retries '1.5'"),
                                         (None, None, {"LVRPO_JUDGE_TIMEOUT": "soon"}, "LVRPO_JUDGE_TIMEOUT='soon'"),
                                         (None, None, {"LVRPO_JUDGE_RETRIES": "x"}, "LVRPO_JUDGE_RETRIES='x'")]:
        with pytest.raises(LvrpoError, match=named):
            judge_limits(timeout, retries, env=env)


def test_make_judge_applies_the_limits(monkeypatch):
    j = make_judge("openai:m@http://127.0.0.1:9/v1", timeout="0.5", retries="1")
    c = j.client
    assert (c.read_timeout, c.connect_timeout, c.retry.max_retries) == (0.5, 0.5, 1)
    assert c.deadline == pytest.approx(0.5 * 2 + c.retry.backoff_max)
    monkeypatch.setenv("LVRPO_JUDGE_TIMEOUT", "300")
    c = make_judge("openai:m@http://127.0.0.1:9/v1").client
    assert (c.read_timeout, c.connect_timeout, c.retry.max_retries) == (300.0, 10.0, 5)
    default = OpenAIJudge("m", "http://127.0.0.1:9/v1").client
    assert default.deadline == pytest.approx(120 * 6 + 30)
    monkeypatch.setenv("LVRPO_JUDGE_RETRIES", "lots")
    with pytest.raises(LvrpoError, match="LVRPO_JUDGE_RETRIES"):
        make_judge(None)  # a bad setting is reported even when no judge is asked for
