"""The `openai` backend against a small OpenAI-compatible server started on 127.0.0.1 by the test."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image, ImageChops

from lvrpo.evals.mme import MME
from lvrpo.judges.base import JudgeError
from lvrpo.judges.openai import OpenAIJudge
from lvrpo.models import load_backend
from lvrpo.models.base import BackendOptions
from lvrpo.models.openai import OpenAIBackend
from lvrpo.types import LvrpoError, Request
from tests.util import make_mme_fixture, run_cli

KEY = "sk-test-secret-123"


def png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def from_data_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def answer_for(image: Image.Image, text: str) -> str:
    """The server's rule: "" for OCR questions, else Yes when the image's red channel is high."""
    if "OCR" in text:
        return ""
    return "Yes" if image.getpixel((0, 0))[0] >= 128 else "No"


class Server:
    """Chat completions + images API (b64 PNG), recording what it was sent. `images=False`: no images API."""

    def __init__(self, images: bool = True, max_n: int = 10):
        self.calls: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                call = {"path": self.path, "auth": self.headers.get("Authorization"),
                        "type": self.headers.get("Content-Type", "")}
                outer.calls.append(call)
                if self.path == "/v1/chat/completions":
                    body = call["json"] = json.loads(raw)
                    content = body["messages"][0]["content"]
                    text = "".join(p["text"] for p in content if p["type"] == "text")
                    images = [from_data_uri(p["image_url"]["url"]) for p in content if p["type"] == "image_url"]
                    if "FAIL" in text:
                        return self.reply(400, {"error": {"message": "bad request"}})
                    reply = answer_for(images[0], text)
                    return self.reply(200, {"choices": [{"message": {"role": "assistant", "content": reply}}]})
                if not outer.images or not self.path.startswith("/v1/images/"):
                    return self.reply(404, {"error": "not found"})
                if self.path == "/v1/images/generations":
                    fields = call["json"] = json.loads(raw)
                    colour = (len(fields["prompt"]) * 10 % 256, 0, 0)
                    made = [Image.new("RGB", (4, 4), colour) for _ in range(min(fields["n"], outer.max_n))]
                else:  # multipart edit: invert the uploaded image
                    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + call["type"].encode() + b"\r\n\r\n"
                                                               + raw)
                    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
                    fields = call["form"] = {k: p.get_content() for k, p in parts.items() if k != "image"}
                    source = Image.open(io.BytesIO(parts["image"].get_content())).convert("RGB")
                    made = [ImageChops.invert(source) for _ in range(min(int(fields["n"]), outer.max_n))]
                self.reply(200, {"data": [{"b64_json": png_b64(im)} for im in made]})

            def reply(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.images, self.max_n = images, max_n
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_eval_cli_against_a_local_server(server, tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    out = tmp_path / "run"
    res = run_cli("eval", "--model", f"openai:test@{server.url}", "--suite", "mme", "--data", str(data), "--quiet",
                  "--out", str(out), "--batch-size", "4", env={"OPENAI_API_KEY": KEY}, timeout=60)
    assert res.returncode == 0, res.stderr
    samples = MME().load(str(data))
    lines = (out / "mme" / "predictions.jsonl").read_text().splitlines()
    preds = {p["id"]: p["output"] for p in map(json.loads, lines)}
    expected = {s.id: answer_for(s.image().convert("RGB"), s.row["category"]) for s in samples}
    assert preds == expected and "" in preds.values() and "Yes" in preds.values() and "No" in preds.values()
    chats = [c for c in server.calls if c["path"] == "/v1/chat/completions"]
    assert len(chats) == len(samples) and all(c["auth"] == f"Bearer {KEY}" for c in chats)
    first = chats[0]["json"]  # the order the runner asked in is not the order calls arrived: check one fully
    assert (first["model"], first["temperature"], first["max_tokens"]) == ("test", 0.0, 16)
    parts = first["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]  # images first, as the local backends
    assert parts[1]["text"] in {MME().request(s).prompt for s in samples}
    scores = [json.loads(line) for line in (out / "mme" / "scores.jsonl").read_text().splitlines()]
    assert {s["reason"] for s in scores if preds[s["id"]] == ""} == {"unparsed"}
    manifest = (out / "manifest.json").read_text()
    assert KEY not in manifest and json.loads(manifest)["config"]["base_url"] == server.url


def test_images_api_generate_and_edit(server):
    b = load_backend(f"openai:painter@{server.url}", options=BackendOptions(extra={"size": "64x64"}))
    assert b.capabilities == {"understand", "generate", "edit"}
    made = b.generate([Request(id="g1", kind="generate", prompt="a red cube", num_images=3),
                       Request(id="g2", kind="generate", prompt="cube", num_images=1)])
    assert [len(x) for x in made] == [3, 1]
    assert made[0][0].convert("RGB").getpixel((0, 0)) == (100, 0, 0) and made[1][0].getpixel((0, 0))[0] == 40
    gen = [c for c in server.calls if c["path"] == "/v1/images/generations"]
    assert {c["json"]["prompt"]: c["json"] for c in gen}["a red cube"] == {
        "model": "painter", "prompt": "a red cube", "n": 3, "size": "64x64", "response_format": "b64_json"}

    server.max_n = 1  # a server that returns one image per call: the backend asks again for the rest
    source = Image.new("RGB", (6, 6), (10, 20, 30))
    edited = b.edit([Request(id="e1", kind="edit", prompt="invert it", images=[source], num_images=2)])
    assert len(edited[0]) == 2 and all(im.convert("RGB").getpixel((0, 0)) == (245, 235, 225) for im in edited[0])
    edits = [c for c in server.calls if c["path"] == "/v1/images/edits"]
    assert len(edits) == 2 and edits[0]["type"].startswith("multipart/form-data")
    assert edits[0]["form"]["prompt"] == "invert it" and edits[0]["form"]["model"] == "painter"
    assert [c["form"]["n"] for c in edits] == ["2", "1"]


def test_a_server_without_the_images_api_says_so():
    s = Server(images=False)
    try:
        b = OpenAIBackend(f"m@{s.url}", BackendOptions())
        with pytest.raises(LvrpoError, match=r"does not offer the images API \(/images/generations answered HTTP "
                                             r"404\), so this model cannot generate images"):
            b.generate([Request(id="g", kind="generate", prompt="x")])
        with pytest.raises(LvrpoError, match="cannot edit images"):
            b.edit([Request(id="e", kind="edit", prompt="x", images=[Image.new("RGB", (2, 2))])])
    finally:
        s.close()


def test_interleaved_parts_and_failures_name_the_request(server):
    b = OpenAIBackend(f"m@{server.url}", BackendOptions(extra={"max_retries": "0"}))
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    mmmu = Request(id="v1", kind="understand", prompt="Compare <image 2> with <image 1>.", images=[red, blue],
                   options={"image_keys": [1, 2], "interleave": [2, 1], "image_tag": "<image {k}>"})  # as MMMU sets
    parts = b.body(mmmu)["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "image_url", "text"]
    assert [p["text"] for p in parts if p["type"] == "text"] == ["Compare ", " with ", "."]
    assert [from_data_uri(p["image_url"]["url"]).getpixel((0, 0)) for p in parts if p["type"] == "image_url"] == \
        [(0, 0, 255), (255, 0, 0)]  # image 2 where it is cited first
    stop = Request(id="s", kind="understand", prompt="q", options={"stop": ["ASSISTANT:"]}, max_new_tokens=7)
    assert b.body(stop) == {"model": "m", "messages": [{"role": "user", "content": "q"}], "max_tokens": 7,
                            "stop": ["ASSISTANT:"], "temperature": 0.0}
    ok = Request(id="ok", kind="understand", prompt="Is it?", images=[red])
    assert b.understand([ok]) == ["Yes"]
    bad = Request(id="bad-1", kind="understand", prompt="FAIL", images=[red], bench="mme")
    with pytest.raises(LvrpoError, match=r"request 'bad-1' \(mme\): chat completion failed: HTTP 400"):
        b.understand([ok, bad])


def test_the_key_is_never_described(monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    b = OpenAIBackend("gpt-x@https://user:pw@example.com/v1?token=abc", BackendOptions(extra={"api_key_env": "MY_KEY"}))
    assert b.describe() == {"backend": "openai", "model": "gpt-x", "base_url": "https://example.com/v1"}
    assert KEY not in repr(b) and "pw" not in repr(b)
    with pytest.raises(LvrpoError, match="api_key_env=NOPE: that variable is not set"):
        OpenAIBackend("m@http://127.0.0.1:1/v1", BackendOptions(extra={"api_key_env": "NOPE"}))
    with pytest.raises(LvrpoError, match="expected openai:MODEL"):
        load_backend("openai:@http://127.0.0.1:1/v1")


# ---- keys: none for api.openai.com fails before any request; a refused key stops the run at once -----------

NO_KEY = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "LVRPO_JUDGE_API_KEY_ENV": ""}  # empty reads as unset


def one_error(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


class Refusing:
    """Answers every POST with HTTP 401, counting them."""

    def __init__(self):
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                data = b'{"error": {"message": "Incorrect API key provided"}}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def refusing():
    s = Refusing()
    yield s
    s.close()


def test_no_key_for_the_openai_api_fails_before_any_request(tmp_path, monkeypatch):
    data, preds = make_mme_fixture(tmp_path / "d", images_per_task=1)
    t0 = time.monotonic()
    line = one_error(run_cli("eval", "--model", "openai:gpt-4o", "--suite", "mme", "--data", str(data), "--out",
                             str(tmp_path / "a"), env=NO_KEY, timeout=60))
    assert "--model openai:gpt-4o: no API key for https://api.openai.com/v1: set OPENAI_API_KEY" in line
    assert "api_key_env" in line
    line = one_error(run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data), "--judge",
                             "openai:gpt-4o", "--out", str(tmp_path / "b"), env=NO_KEY, timeout=60))
    assert "--judge openai:gpt-4o: no API key for https://api.openai.com/v1: set OPENAI_API_KEY" in line
    assert "LVRPO_JUDGE_API_KEY_ENV" in line
    assert time.monotonic() - t0 < 20  # a generous bound: ~23 s of retries each before
    for name in NO_KEY:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LvrpoError, match="no API key for https://api.openai.com/v1: set OPENAI_API_KEY"):
        OpenAIJudge("gpt-4o").complete("q")  # a judge made in code: checked before its first request too
    OpenAIBackend("m@http://127.0.0.1:1/v1", BackendOptions())  # another server may need no key: none is sent


def test_a_refused_key_stops_the_run_at_once(refusing, tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    args = ("eval", "--model", f"openai:test@{refusing.url}", "--suite", "mme", "--data", str(data), "--batch-size",
            "4", "--quiet")
    line = one_error(run_cli(*args, "--out", str(tmp_path / "a"), env={**NO_KEY, "OPENAI_API_KEY": KEY}, timeout=60))
    assert f"{refusing.url} refused the API key from OPENAI_API_KEY (HTTP 401" in line and KEY not in line
    assert refusing.hits <= 4  # one batch at most, never retried
    refusing.hits = 0
    line = one_error(run_cli(*args, "--out", str(tmp_path / "b"), env=NO_KEY, timeout=60))
    assert "answered HTTP 401" in line and "no API key was sent; set OPENAI_API_KEY" in line
    assert refusing.hits <= 4


def test_a_refused_judge_key_stops_the_run_at_once(refusing, tmp_path):
    from tests.suite_fixtures import write_mmvet
    from tests.util import write_jsonl

    data, preds = write_mmvet(tmp_path)
    line = one_error(run_cli("eval", "--model", f"replay:{write_jsonl(tmp_path / 'p.jsonl', preds)}", "--suite",
                             "mmvet", "--data", str(data), "--judge", f"openai:j@{refusing.url}", "--quiet", "--out",
                             str(tmp_path / "run"), env={**NO_KEY, "OPENAI_API_KEY": KEY,
                                                         "LVRPO_CACHE_DIR": str(tmp_path / "cache")}, timeout=60))
    assert f"judge openai:j: {refusing.url} refused the API key from OPENAI_API_KEY (HTTP 401" in line
    assert refusing.hits == 1  # not once per sample
    judge = OpenAIJudge("j", refusing.url, api_key=KEY, use_cache=False)
    with pytest.raises(LvrpoError, match="refused the API key") as caught:
        judge.complete_many(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
    assert not isinstance(caught.value, JudgeError) and refusing.hits <= 1 + judge.client.max_concurrency
