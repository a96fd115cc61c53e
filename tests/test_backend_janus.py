"""The `janus` backend on a tiny random Janus saved to disk and loaded back with `from_pretrained`: batched greedy
understanding, seeded text-to-image with CFG, the teacher-forced guided log-probs a GRPO trainer reuses, bad
checkpoints, an all-black model, and `lvrpo eval` end to end (MME understanding, GenEval generation)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.models import detect_backend, load_backend
from lvrpo.models.base import BackendOptions
from lvrpo.models.janus import (
    JanusBackend,
    decode_images,
    image_prompts,
    image_token_log_probs,
    image_token_logits,
    sample_image_tokens,
    unconditional_ids,
)
from lvrpo.runner import Bars, run_benchmark
from lvrpo.testing.janus import tiny_janus
from lvrpo.types import Context, LvrpoError, Request
from lvrpo.vision import make_detector
from tests.util import make_mme_fixture, run_cli


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_janus(tmp_path_factory.mktemp("janus") / "tiny-janus")


@pytest.fixture(scope="module")
def janus(ckpt):
    return load_backend(str(ckpt), options=BackendOptions(device="cpu"))


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img)


def ask(prompt, color, size=(24, 32), **kw):
    return Request(id=prompt, kind="understand", prompt=prompt, images=[Image.new("RGB", size, color)], **kw)


def test_loads_as_janus_with_both_capabilities(ckpt, janus):
    assert detect_backend(str(ckpt)) == "janus" and isinstance(janus, JanusBackend)
    assert janus.capabilities == {"understand", "generate"}
    assert janus.describe()["cfg_weight"] == 5.0 and janus.describe()["temperature"] == 1.0


def test_understanding_batched_equals_one_by_one(janus):
    reqs = [ask("Is the square red? Answer yes or no.", (255, 0, 0), max_new_tokens=6),
            ask("The answer is", (0, 0, 255), size=(40, 20), max_new_tokens=3),
            Request(id="text only", kind="understand", prompt="Rate the edit from 0 to 10.", max_new_tokens=4)]
    batched = janus.understand(reqs)
    # left padding changes nothing, and each row cut at its own max_new_tokens equals running it alone
    assert batched == [janus.understand([r])[0] for r in reqs]
    assert len(set(batched)) == 3 and all(isinstance(a, str) for a in batched)
    # a stop string from the benchmark cuts the answer
    full = batched[0]
    assert len(full) > 3
    stop = full[1:3]
    cut = janus.understand([ask(reqs[0].prompt, (255, 0, 0), max_new_tokens=6, options={"stop": [stop]})])[0]
    assert cut == full.split(stop, 1)[0].strip() and len(cut) < len(full)


def test_generation_is_seeded_per_image_and_independent_of_the_batch(janus):
    """What the seed controls, the sampled image tokens, is compared exactly; pixels only within one intensity
    level, because the VQ decoder run on a different batch size may round a float differently (seen: 1 pixel in
    1024 off by one level, torch 2.14.1 / transformers 5.24.0)."""
    model, proc = janus.model, janus.processor
    a, b = "a photo of a red square", "two blue circles"

    def tokens(prompts: list[str], seeds: list[int]) -> torch.Tensor:
        return sample_image_tokens(model, image_prompts(proc, prompts), seeds, cfg_weight=5.0, temperature=1.0)

    together = tokens([a, a, b], [3, 4, 3])  # request a with 2 images (seed 3, 3 + 1) batched with request b
    alone = tokens([a, a], [3, 4])
    assert torch.equal(together[:2], alone)
    assert not torch.equal(alone[0], alone[1])  # image k draws with seed + k
    assert torch.equal(tokens([a], [4])[0], alone[1])
    assert not torch.equal(tokens([a], [99])[0], alone[0])

    # the backend turns requests into exactly those rows, and decodes them to 32×32 RGB
    ra = Request(id="a", kind="generate", prompt=a, num_images=2, seed=3)
    rb = Request(id="b", kind="generate", prompt=b, num_images=1, seed=3)
    images = janus.generate([ra, rb])
    assert [len(x) for x in images] == [2, 1] and all(i.size == (32, 32) and i.mode == "RGB" for x in images
                                                      for i in x)
    for img, ref in zip([*images[0], *images[1]], decode_images(model, proc, together), strict=True):
        diff = np.abs(pixels(img).astype(int) - pixels(ref).astype(int))
        assert diff.max() <= 1
    alone_images = janus.generate([ra])[0]
    for x, y in zip(images[0], alone_images, strict=True):
        assert np.abs(pixels(x).astype(int) - pixels(y).astype(int)).max() <= 1


def test_unconditional_branch_keeps_only_bos_and_begin_of_image():
    ids = torch.tensor([[0, 0, 1, 7, 8, 6], [1, 9, 9, 9, 9, 6]])  # pad 0, bos 1, boi 6, left padding
    assert unconditional_ids(ids, bos_id=1, boi_id=6, pad_id=0).tolist() == [[0, 0, 1, 0, 0, 6], [1, 0, 0, 0, 0, 6]]


def test_teacher_forced_guided_logits_reproduce_generate(janus):
    """shared/specs/grpo-trainers.md §2.3: the argmax of teacher-forced guided logits at positions P−1+t equals
    greedy CFG `generate`, left-padded batch included; conditional-only logits do not."""
    model, proc = janus.model, janus.processor
    inputs = image_prompts(proc, ["a photo of a blue circle left of a green triangle", "two", "The answer is B."])
    assert (inputs["attention_mask"][:, 0] == 0).any()  # the batch really is left-padded
    greedy = sample_image_tokens(model, inputs, [0, 1, 2], cfg_weight=5.0, temperature=0.0)
    assert greedy.shape == (3, 16)
    with torch.no_grad():
        guided = image_token_logits(model, inputs["input_ids"], inputs["attention_mask"], greedy, 5.0)
        cond_only = image_token_logits(model, inputs["input_ids"], inputs["attention_mask"], greedy, 1.0)
        assert torch.equal(guided.argmax(-1), greedy)
        assert not torch.equal(cond_only.argmax(-1), greedy)
        sampled = sample_image_tokens(model, inputs, [5, 6, 7], cfg_weight=5.0, temperature=1.0)
        logp = image_token_log_probs(model, inputs["input_ids"], inputs["attention_mask"], sampled, 5.0, 1.0)
    assert logp.shape == (3, 16) and torch.isfinite(logp).all() and (logp <= 0).all()


def test_model_args_override_hints_and_bad_args_fail(ckpt, janus):
    hinted = Request(id="h", kind="generate", prompt="p", options={"cfg_weight": 2.0, "temperature": 0.5})
    assert janus._sampling(hinted) == (2.0, 0.5)
    assert janus._sampling(Request(id="d", kind="generate", prompt="p")) == (5.0, 1.0)  # official defaults
    forced = JanusBackend(str(ckpt), BackendOptions(device="cpu", extra={"cfg_weight": "3", "temperature": "0"}))
    assert forced._sampling(hinted) == (3.0, 0.0)
    greedy = [forced.generate([Request(id="g", kind="generate", prompt="p", seed=s)])[0][0] for s in (1, 2)]
    assert np.array_equal(pixels(greedy[0]), pixels(greedy[1]))  # temperature 0: the seed no longer matters
    with pytest.raises(LvrpoError, match="unknown --model-args steps"):
        JanusBackend(str(ckpt), BackendOptions(extra={"steps": "3"}))
    with pytest.raises(LvrpoError, match="cfg_weight='high' is not a number"):
        JanusBackend(str(ckpt), BackendOptions(extra={"cfg_weight": "high"}))


def test_missing_or_corrupt_weights_name_the_file(ckpt, tmp_path):
    missing = shutil.copytree(ckpt, tmp_path / "missing")
    (missing / "model.safetensors").unlink()
    with pytest.raises(LvrpoError, match="no weights file"):
        load_backend(str(missing))
    corrupt = shutil.copytree(ckpt, tmp_path / "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(LvrpoError, match=r"corrupt/model\.safetensors: corrupt weights file"):
        load_backend(str(corrupt))


def geneval_data(path, n=2):
    rows = [{"tag": "single_object", "include": [{"class": c, "count": 1}], "prompt": f"a photo of a {c}"}
            for c in ("bench", "cow")[:n]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_all_black_images_are_saved_and_scored(tmp_path):
    black = JanusBackend(str(tiny_janus(tmp_path / "black", black=True)), BackendOptions(device="cpu"))
    run = tmp_path / "run"
    dets = {f"run/images/{p:05d}/samples/{k:04d}.png": [] for p in range(2) for k in range(4)}  # nothing found
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    detector, colors = make_detector(f"replay:{tmp_path / 'dets.json'}")
    summary = run_benchmark(get_adapter("geneval"), black, run, source=str(geneval_data(tmp_path / "g.jsonl")),
                            split=None, limit=None, batch_size=2, ctx=Context(detector=detector,
                                                                              color_classifier=colors),
                            bars=Bars(quiet=True))
    saved = sorted(run.glob("images/*/samples/*.png"))
    assert len(saved) == 8 and all(not pixels(Image.open(p)).any() for p in saved)  # black, kept
    assert summary.n_scored == 2 and summary.metrics["GenEval"] == 0.0


def test_cli_eval_mme_end_to_end(ckpt, janus, tmp_path):
    data, _ = make_mme_fixture(tmp_path / "mme", images_per_task=1)
    res = run_cli("eval", "--model", str(ckpt), "--suite", "mme", "--data", str(data), "--out", str(tmp_path / "run"),
                  "--batch-size", "8", "--device", "cpu", "--quiet")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run/mme/summary.json").read_text())
    assert summary["n"] == 28 and "MME-P" in summary["metrics"]
    manifest = json.loads((tmp_path / "run/manifest.json").read_text())
    assert "janus" in json.dumps(manifest)
    lines = [json.loads(x) for x in (tmp_path / "run/mme/predictions.jsonl").read_text().splitlines()]
    # the subprocess answered exactly what the in-process backend answers (greedy, fp32)
    mme = get_adapter("mme")
    samples = {s.id: s for s in mme.load(str(data))}
    some = lines[:6]
    expected = janus.understand([mme.request(samples[line["id"]]) for line in some])
    assert [line["output"] for line in some] == expected


def test_cli_eval_geneval_end_to_end(ckpt, tmp_path):
    """GenEval's official rule (evaluate_images.py): a single_object image is correct when the class has a
    detection with score > 0.3. Prompt 0: images 0 and 3 pass (0.95, 0.5), 1 fails (0.2), 2 fails (nothing);
    prompt 1: all four pass. single_object = 6/8, and GenEval = the mean over tasks present = 0.75."""
    data = geneval_data(tmp_path / "geneval.jsonl")
    bench = {0: [0.95, 0.2, None, 0.5], 1: [0.9, 0.8, 0.7, 0.6]}
    dets = {f"run/geneval/images/{p:05d}/samples/{k:04d}.png":
            [] if s is None else [{"label": ("bench", "cow")[p], "score": s, "box": [2, 2, 20, 20]}]
            for p, scores in bench.items() for k, s in enumerate(scores)}
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    res = run_cli("eval", "--model", str(ckpt), "--suite", "geneval", "--data", str(data), "--limit", "2",
                  "--detector", f"replay:{tmp_path / 'dets.json'}", "--out", str(tmp_path / "run"),
                  "--batch-size", "2", "--model-args", "cfg_weight=5,temperature=1", "--device", "cpu", "--quiet")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run/geneval/summary.json").read_text())
    assert summary["metrics"]["GenEval"] == pytest.approx(0.75) and summary["n"] == 2
    images = sorted((tmp_path / "run/geneval/images").glob("*/samples/*.png"))
    assert len(images) == 8 and {Image.open(p).size for p in images} == {(32, 32)}
    # reproducible: GenEval seeds prompt i with 42 + i, image k with + k — the same pixels in-process
    again = JanusBackend(str(ckpt), BackendOptions(device="cpu")).generate(
        [Request(id="0", kind="generate", prompt="a photo of a bench", num_images=4, seed=42)])[0]
    assert all(np.array_equal(pixels(a), pixels(Image.open(p))) for a, p in zip(again, images[:4], strict=True))
