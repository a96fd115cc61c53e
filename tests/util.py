"""Test helpers: where the reference data lives, and running the real `lvrpo` command in a subprocess."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REFDATA = ROOT / "tests" / "data"  # copied real public files; see SOURCES.md there


def lvrpo_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "lvrpo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lvrpo"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
    """Run `lvrpo ARGS...` as a user would; never touches the network (HF offline)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    res = subprocess.run([*lvrpo_cmd(), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"lvrpo {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def make_mme_fixture(root: Path, images_per_task: int = 2) -> tuple[Path, Path]:
    """A small MME-schema jsonl (real PNGs, paths relative to the file) and a replay file answering it.

    The answers follow a fixed pattern so that some images get both questions right, some one, some none.
    """
    from PIL import Image

    from lvrpo.evals.mme import COGNITION, PERCEPTION

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows, preds = [], []
    answers = ["Yes", "yes.", "No", "Yes", "no", "nope", "I don't know", "No"]
    for t, task in enumerate(PERCEPTION + COGNITION):
        for k in range(images_per_task):
            name = f"{task}_{k:03d}.png"
            Image.new("RGB", (8, 8), ((37 * t) % 256, (91 * k) % 256, 128)).save(root / "images" / name)
            for gt in ("Yes", "No"):
                question = f"Is this {task} {k}? Please answer yes or no."
                rows.append({"question_id": f"{task}/{name}", "question": question, "answer": gt, "category": task,
                             "image": f"images/{name}"})
                preds.append({"id": str(len(preds)), "output": answers[(len(preds) + t) % len(answers)]})
    return write_jsonl(root / "mme.jsonl", rows), write_jsonl(root / "preds.jsonl", preds)


def lavin_to_official_schema(lavin_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Convert the official MME eval_tool results format (image \\t question \\t gt \\t response per line, one
    file per subtask) into an HF-schema data jsonl (no images: scoring needs none) and a predictions jsonl."""
    rows, preds = [], []
    for f in sorted(lavin_dir.glob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            name, question, gt, response = line.split("\t")
            preds.append({"id": str(len(rows)), "output": response})
            rows.append({"question_id": f"{f.stem}/{name}", "question": question, "answer": gt, "category": f.stem})
    return write_jsonl(out_dir / "mme.jsonl", rows), write_jsonl(out_dir / "preds.jsonl", preds)


Answer = Callable[[str, str, list[Image.Image], dict[str, Any]], str | None]


# What a misbehaving server does instead of answering (tests/reliability/judge_faults.py picks them).
FAULTS = ("429 Retry-After", "429", "500", "hang", "truncated JSON", "wrong schema", "empty choices",
          "non-numeric grade")


class JudgeServer:
    """OpenAI-compatible `/v1/chat/completions` on 127.0.0.1. `answer(system, text, images, body)` gives the reply;
    None gives a 400 (not retried), so an unexpected judge call shows up as an unscored sample, never a guess.
    Every request body is kept in `requests`, with its decoded images' formats in `formats`.

    `fault(body)` (optional) names one of FAULTS to serve instead of the answer, or None; a "hang" sleeps `hang`
    seconds before answering (longer than the client's timeout)."""

    def __init__(self, answer: Answer, fault: Callable[[dict[str, Any]], str | None] | None = None,
                 hang: float = 3.0):
        self.requests: list[dict[str, Any]] = []
        self.formats: list[list[str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
                content = body["messages"][-1]["content"]
                parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
                text = "".join(p["text"] for p in parts if p["type"] == "text")
                images = [Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])))
                          for p in parts if p["type"] == "image_url"]
                server.requests.append(body)
                server.formats.append([im.format for im in images])
                kind = fault(body) if fault else None
                if kind == "hang":
                    time.sleep(hang)
                reply = "I cannot grade this." if kind == "non-numeric grade" else answer(system, text, images, body)
                status, payload = (200, {"choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": reply}}]}) if reply is not None else \
                    (400, {"error": {"message": "unexpected judge prompt"}})
                if kind in ("429 Retry-After", "429", "500"):
                    status, payload = int(kind[:3]), {"error": {"message": f"injected {kind}"}}
                elif kind == "wrong schema":
                    payload = {"result": reply}
                elif kind == "empty choices":
                    payload = {"choices": []}
                data = json.dumps(payload).encode()
                if kind == "truncated JSON":
                    data = data[: len(data) // 2]
                self.send_response(status)
                if kind == "429 Retry-After":
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up on a hang: as a real server
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.spec = f"openai:test@{self.url}"

    def __enter__(self) -> JudgeServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
