"""The `diffusers` backend on tiny random pipelines saved to disk and loaded back with `from_pretrained`: an SD3
text-to-image pipeline and an InstructPix2Pix editing pipeline — capabilities from the pipeline class, per-image
seeds, settings precedence, bad checkpoints, an all-black model, and `lvrpo eval` on GEdit end to end against a
judge stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import shutil

import diffusers
import numpy as np
import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.models import check_capabilities, detect_backend, load_backend
from lvrpo.models.base import BackendOptions
from lvrpo.models.diffusers import DiffusersBackend, pipeline_capabilities
from lvrpo.runner import Bars, run_benchmark
from lvrpo.testing.diffusion import tiny_instruct_pix2pix, tiny_sd3
from lvrpo.types import Context, LvrpoError, Request
from lvrpo.vision import make_detector
from tests.util import JudgeServer, run_cli, write_jsonl

FAST = {"steps": "2"}


@pytest.fixture(scope="module")
def sd3_dir(tmp_path_factory):
    return tiny_sd3(tmp_path_factory.mktemp("sd3") / "tiny-sd3")


@pytest.fixture(scope="module")
def ip2p_dir(tmp_path_factory):
    return tiny_instruct_pix2pix(tmp_path_factory.mktemp("ip2p") / "tiny-ip2p")


@pytest.fixture(scope="module")
def sd3(sd3_dir):
    return load_backend(str(sd3_dir), options=BackendOptions(device="cpu", extra=dict(FAST)))


@pytest.fixture(scope="module")
def ip2p(ip2p_dir):
    return load_backend(str(ip2p_dir), options=BackendOptions(device="cpu", extra=dict(FAST)))


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img)


def same(a: Image.Image, b: Image.Image) -> bool:
    return np.array_equal(pixels(a), pixels(b))


def test_capabilities_follow_the_pipeline_class(sd3_dir, ip2p_dir, sd3, ip2p):
    assert detect_backend(str(sd3_dir)) == detect_backend(str(ip2p_dir)) == "diffusers"
    assert isinstance(sd3, DiffusersBackend) and sd3.capabilities == {"generate"}
    assert ip2p.capabilities == {"edit"}
    expected = {"FluxPipeline": {"generate"}, "SanaPipeline": {"generate"}, "PixArtSigmaPipeline": {"generate"},
                "FluxKontextPipeline": {"edit", "generate"}, "QwenImageEditPipeline": {"edit"},
                "StableDiffusionXLInstructPix2PixPipeline": {"edit"}, "FluxFillPipeline": set(),
                "StableDiffusionControlNetPipeline": set()}
    assert {name: set(pipeline_capabilities(getattr(diffusers, name))) for name in expected} == expected
    with pytest.raises(LvrpoError, match="cannot do what the suite needs: edit"):
        check_capabilities(sd3, ["generate", "edit"])
    with pytest.raises(LvrpoError, match="needs a source image"):
        ip2p.generate([Request(id="x", kind="generate", prompt="p")])
    with pytest.raises(LvrpoError, match="cannot edit"):
        sd3.edit([Request(id="x", kind="edit", prompt="p", images=[Image.new("RGB", (32, 32))])])


def test_generation_is_seeded_per_image_and_independent_of_the_batch(sd3):
    a = Request(id="a", kind="generate", prompt="a photo of a red square", num_images=2, seed=7)
    b = Request(id="b", kind="generate", prompt="two blue circles", num_images=1, seed=7)
    together = sd3.generate([a, b])
    assert [len(x) for x in together] == [2, 1]
    assert {i.size for x in together for i in x} == {(32, 32)}  # the pipeline's default: sample_size × VAE scale
    alone = sd3.generate([a])[0]
    assert all(same(x, y) for x, y in zip(together[0], alone, strict=True))
    assert not same(alone[0], alone[1])
    assert same(sd3.generate([Request(id="c", kind="generate", prompt=a.prompt, seed=8)])[0][0], alone[1])  # seed + k
    assert not same(sd3.generate([Request(id="d", kind="generate", prompt=a.prompt, seed=1)])[0][0], alone[0])


def test_settings_come_from_model_args_then_hints(sd3_dir, sd3):
    hinted = Request(id="h", kind="generate", prompt="p", seed=0, options={"resolution": 48, "guidance_scale": 3})
    assert sd3._settings(hinted) == {"num_inference_steps": 2, "height": 48, "width": 48, "guidance_scale": 3.0}
    assert sd3.generate([hinted])[0][0].size == (48, 48)
    geneval_like = Request(id="g", kind="generate", prompt="p", options={"height": None, "width": None})
    assert sd3._settings(geneval_like) == {"num_inference_steps": 2}  # None: the model's native size
    forced = DiffusersBackend(str(sd3_dir), BackendOptions(device="cpu", extra={"steps": "1", "width": "64"}))
    assert forced._settings(hinted) == {"num_inference_steps": 1, "height": 48, "width": 64, "guidance_scale": 3.0}
    assert forced.generate([hinted])[0][0].size == (64, 48)
    assert forced.describe()["pipeline"] == "StableDiffusion3Pipeline"


@pytest.mark.parametrize("extra, message", [
    ({"sampler": "ddim"}, "unknown --model-args sampler"),
    ({"steps": "2.5"}, "steps='2.5' is not a valid int"),
    ({"image_guidance_scale": "1.5"}, "StableDiffusion3Pipeline takes no image_guidance_scale"),
    ({"cpu_offload": "1"}, "cpu_offload=1 needs a GPU"),
    ({"cpu_offload": "maybe"}, "cpu_offload='maybe': expected true or false"),
])
def test_bad_model_args_fail_clearly(sd3_dir, extra, message):
    with pytest.raises(LvrpoError, match=message):
        DiffusersBackend(str(sd3_dir), BackendOptions(device="cpu", extra=extra))


def test_edit_is_seeded_and_keeps_the_source_size(ip2p):
    src = Image.new("RGB", (32, 24), (200, 30, 30))
    req = Request(id="e", kind="edit", prompt="make it blue", images=[src], num_images=2, seed=5,
                  options={"target_size": [512, 384]})  # GEdit's hint; InstructPix2Pix takes no size: dropped
    first, again = ip2p.edit([req])[0], ip2p.edit([req])[0]
    assert [i.size for i in first] == [(32, 24), (32, 24)]
    assert all(same(x, y) for x, y in zip(first, again, strict=True)) and not same(first[0], first[1])
    shifted = ip2p.edit([Request(id="f", kind="edit", prompt=req.prompt, images=[src], seed=6)])[0][0]
    assert same(shifted, first[1])
    with pytest.raises(LvrpoError, match="has no source image"):
        ip2p.edit([Request(id="g", kind="edit", prompt="p")])


def test_missing_or_corrupt_weights_name_the_file(sd3_dir, tmp_path):
    missing = shutil.copytree(sd3_dir, tmp_path / "missing")
    (missing / "transformer/diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(LvrpoError, match=r"missing/transformer: no weights file .* component 'transformer'"):
        load_backend(str(missing))
    corrupt = shutil.copytree(sd3_dir, tmp_path / "corrupt")
    (corrupt / "vae/diffusion_pytorch_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(LvrpoError, match=r"corrupt/vae/diffusion_pytorch_model\.safetensors: corrupt weights file"):
        load_backend(str(corrupt))


def test_all_black_images_are_saved_and_scored(tmp_path, caplog):
    black = DiffusersBackend(str(tiny_sd3(tmp_path / "black", black=True)), BackendOptions(device="cpu", extra=FAST))
    data = tmp_path / "geneval.jsonl"
    data.write_text(json.dumps({"tag": "single_object", "include": [{"class": "cow", "count": 1}],
                                "prompt": "a photo of a cow"}) + "\n")
    dets = {f"run/images/00000/samples/{k:04d}.png": [] for k in range(4)}
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    detector, colors = make_detector(f"replay:{tmp_path / 'dets.json'}")
    with caplog.at_level(logging.WARNING, logger="lvrpo"):
        summary = run_benchmark(get_adapter("geneval"), black, tmp_path / "run", source=str(data), split=None,
                                limit=None, batch_size=1, ctx=Context(detector=detector, color_classifier=colors),
                                bars=Bars(quiet=True))
    saved = sorted((tmp_path / "run").glob("images/*/samples/*.png"))
    assert len(saved) == 4 and all(not pixels(Image.open(p)).any() for p in saved)
    assert summary.n_scored == 1 and summary.metrics["GenEval"] == 0.0
    assert "4 of 4 images are all black" in caplog.text


def test_cli_eval_gedit_end_to_end(ip2p_dir, tmp_path):
    """VIEScore (Step1X-Edit GEdit-Bench/viescore): SC = min(success, over-editing) = min(7, 6) = 6,
    PQ = min(naturalness, artifacts) = 6, O = sqrt(SC·PQ) = 6 for every sample, so every task mean is 6."""
    rows = []
    for i, task in enumerate(("color_alter", "subject-add")):
        (tmp_path / "src").mkdir(exist_ok=True)
        Image.new("RGB", (32, 32), (40 * i, 90, 160)).save(tmp_path / f"src/{task}.png")
        rows.append({"key": f"{task}_0", "task_type": task, "instruction": f"Make the {task} look different",
                     "instruction_language": "en", "input_image": f"src/{task}.png", "Intersection_exist": True})
    data = write_jsonl(tmp_path / "gedit.jsonl", rows)
    with JudgeServer(lambda system, text, images, body: '{"score": [7, 6], "reasoning": "fine"}') as judge:
        res = run_cli("eval", "--model", str(ip2p_dir), "--suite", "gedit", "--data", str(data), "--judge",
                      f"openai:gpt-4.1@{judge.url}", "--model-args", "steps=2,image_guidance_scale=1.5",
                      "--out", str(tmp_path / "run"), "--device", "cpu", "--quiet",
                      env={"LVRPO_CACHE_DIR": str(tmp_path / "cache"), "OPENAI_API_KEY": "test"})
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run/gedit/summary.json").read_text())
    assert summary["metrics"] == pytest.approx({"GEdit-EN G_SC": 6.0, "GEdit-EN G_PQ": 6.0, "GEdit-EN G_O": 6.0})
    assert summary["n_scored"] == 2 and len(judge.requests) == 4  # one SC and one PQ call per sample
    edits = sorted(p for p in (tmp_path / "run/gedit").rglob("*.png") if not p.stem.endswith("_SRCIMG"))
    assert len(edits) == 2 and {Image.open(p).size for p in edits} == {(32, 32)}
    manifest = json.dumps(json.loads((tmp_path / "run/manifest.json").read_text()))
    assert "StableDiffusionInstructPix2PixPipeline" in manifest
