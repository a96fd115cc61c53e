"""The `hf` backend on a tiny random LLaVA loaded back with `from_pretrained`, and the shared prompt preparation."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from lvrpo.evals.mme import MME
from lvrpo.evals.mmmu import MMMU
from lvrpo.models import load_backend
from lvrpo.models.base import BackendOptions
from lvrpo.models.hf import HFBackend
from lvrpo.models.prompting import chat_messages, finish, layout, render
from lvrpo.runner import Bars, predict, score
from lvrpo.store import JsonlLog
from lvrpo.testing import tiny_llava
from lvrpo.types import Context, LvrpoError, Request, Sample
from tests.util import make_mme_fixture, run_cli

FP32_CPU = BackendOptions(dtype="float32", device="cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava", init_std=0.2)


@pytest.fixture(scope="module")
def backend(tiny):
    return HFBackend(str(tiny), FP32_CPU)


@pytest.fixture(scope="module")
def mme(tmp_path_factory):
    data, _ = make_mme_fixture(tmp_path_factory.mktemp("mme"), images_per_task=1)
    return data, MME().load(str(data))


def mmmu_request(first: Image.Image, second: Image.Image) -> Request:
    """A real MMMU adapter request whose question cites image 2 before image 1."""
    row = {"id": "validation_Art_1", "question": "Compare <image 2> with <image 1>. Which is brighter?",
           "options": "['the first', 'the second']", "question_type": "multiple-choice", "answer": "A",
           "image_1": first, "image_2": second}
    return MMMU().request(Sample(id=row["id"], row=row))


def test_images_go_first_or_at_their_tags():
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("RGB", (8, 8), "blue")
    req = mmmu_request(red, blue)
    assert req.images == [red, blue]  # the adapter sends them sorted by k
    tail = ". Which is brighter?\nA. the first\nB. the second\n\nAnswer with the option's letter from the given " \
           "choices directly."
    assert layout(req) == ["Compare ", blue, " with ", red, tail]  # each image where it is first cited
    assert layout(req, interleave=False) == [red, blue, req.prompt]
    plain = Request(id="p", kind="understand", prompt="Is it red?", images=[red, blue])
    assert layout(plain) == [red, blue, "Is it red?"]
    twice = Request(id="t", kind="understand", prompt="<image 1> then <image 1> again", images=[red],
                    options={"interleave": [1], "image_tag": "<image {k}>", "image_keys": [1]})
    assert layout(twice) == [red, " then <image 1> again"]  # a repeated citation stays text
    messages, images = chat_messages(req)
    assert [p["type"] for p in messages[0]["content"]] == ["text", "image", "text", "image", "text"]
    assert [im.getpixel((0, 0)) for im in images] == [(0, 0, 255), (255, 0, 0)]


def test_prompt_comes_from_the_models_chat_template(backend):
    req = mmmu_request(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)))
    text, images = render(backend.processor, req)
    # the tiny model's template: "user: " + parts (images as <image>) + newline + "assistant:"
    assert text.startswith("user: Compare <image> with <image>. Which is brighter?")
    assert text.rstrip().endswith("assistant:") and text.count("<image>") == len(images) == 2
    stop = Request(id="s", kind="understand", prompt="", options={"stop": ["ASSISTANT:"]})
    assert finish("  B\nASSISTANT: more", stop) == "B"


def test_batched_generation_matches_batch_size_one(backend, mme):
    """Greedy, fp32: a left-padded batch of 4 gives the answers of one-by-one generation, each cut at its own
    max_new_tokens, with single- and multi-image requests mixed in one batch."""
    _, samples = mme
    colours = [Image.new("RGB", (16, 12), (40 * i, 200 - 30 * i, 90)) for i in range(4)]
    requests = [MME().request(s) for s in samples[:6]]
    requests += [mmmu_request(colours[0], colours[1]), mmmu_request(colours[2], colours[3])]
    for i, r in enumerate(requests):
        r.max_new_tokens = 3 + 2 * i
    one = [backend.understand([r])[0] for r in requests]
    four = backend.understand(requests[:4]) + backend.understand(requests[4:])
    assert len(set(one)) > 1, f"the tiny model gives one answer to everything: {one}"
    assert four == one


def test_eval_cli_end_to_end(tiny, backend, mme, tmp_path):
    data, samples = mme
    out = tmp_path / "run"
    res = run_cli("eval", "--model", str(tiny), "--suite", "mme", "--data", str(data), "--quiet", "--out", str(out),
                  "--batch-size", "4", "--dtype", "float32", "--device", "cpu", timeout=120)
    assert res.returncode == 0, res.stderr
    preds = [json.loads(line) for line in (out / "mme" / "predictions.jsonl").read_text().splitlines()]
    assert [p["id"] for p in preds] == [s.id for s in samples]
    expected = backend.understand([MME().request(s) for s in samples])  # the same backend, in process
    assert [p["output"] for p in preds] == expected
    summary = json.loads((out / "mme" / "summary.json").read_text())
    assert summary["headline"] == "MME-P" and summary["n"] == len(samples) and summary["coverage"] == 1.0
    config = json.loads((out / "manifest.json").read_text())["config"]
    assert config["backend"] == "hf" and config["architecture"] == "LlavaForConditionalGeneration"


def test_empty_answers_are_recorded_and_scored_unparsed(tiny, mme, tmp_path):
    silent = HFBackend(str(tiny), FP32_CPU)
    silent.model.get_output_embeddings().weight.data.zero_()  # equal logits: greedy picks id 0, <pad> (special)
    _, samples = mme
    log = JsonlLog(tmp_path / "predictions.jsonl")
    outputs = predict(MME(), silent, samples[:4], log, batch_size=2, bars=Bars(quiet=True))
    assert [r["output"] for r in log.read()] == ["", "", "", ""]
    scores = score(MME(), samples[:4], outputs, Context())
    assert all(s.value == 0.0 and s.reason == "unparsed" for s in scores)


def test_broken_checkpoints_fail_naming_the_file(tiny, tmp_path):
    broken = shutil.copytree(tiny, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\x00\x01 not safetensors")
    with pytest.raises(LvrpoError, match=r"model\.safetensors: corrupt weights file"):
        HFBackend(str(broken), FP32_CPU)
    (broken / "model.safetensors").unlink()
    with pytest.raises(LvrpoError, match="no weights file"):
        HFBackend(str(broken), FP32_CPU)


def test_an_unprocessable_request_is_named(backend):
    good = [Request(id=f"ok{i}", kind="understand", prompt="Is it red?", images=[Image.new("RGB", (8, 8))])
            for i in range(3)]
    bad = Request(id="zero-size", kind="understand", prompt="Is it red?", images=[Image.new("RGB", (0, 0))],
                  bench="mme")
    with pytest.raises(LvrpoError, match="cannot prepare request 'zero-size' \\(mme\\)"):
        backend.understand([good[0], good[1], bad, good[2]])


def test_loading_options_are_honoured(tiny, monkeypatch):
    from transformers import AutoModelForImageTextToText

    seen = {}
    real = AutoModelForImageTextToText.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", spy)
    b = load_backend(str(tiny), options=BackendOptions(dtype="bfloat16", device="cpu", attn_implementation="eager",
                                                       extra={"interleave": "false"}))
    assert isinstance(b, HFBackend) and b.model.dtype == torch.bfloat16 and not b.interleave
    assert seen["trust_remote_code"] is False and seen["attn_implementation"] == "eager"
    assert b.model.config._attn_implementation == "eager"
    with pytest.raises(LvrpoError, match="interleave='maybe'"):
        HFBackend(str(tiny), BackendOptions(extra={"interleave": "maybe"}))
