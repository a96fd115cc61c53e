"""Backend resolution, capability checks, and the runner's `--batch-size auto` back-off."""

from __future__ import annotations

import json
import sys

import pytest

from lvrpo.evals.mme import MME
from lvrpo.models import check_capabilities, detect_backend, load_backend
from lvrpo.models.base import Backend, BackendOptions, SampleError, explain_load_error
from lvrpo.runner import AUTO_BATCH, Bars, predict
from lvrpo.store import JsonlLog
from lvrpo.types import LvrpoError
from tests.util import make_mme_fixture, run_cli


def _ckpt(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for fname, content in files.items():
        (d / fname).write_text(json.dumps(content))
    return str(d)


def test_backend_is_detected_from_the_checkpoint(tmp_path):
    assert detect_backend(_ckpt(tmp_path, "sd", {"model_index.json": {"_class_name": "X"}})) == "diffusers"
    assert detect_backend(_ckpt(tmp_path, "janus", {"config.json": {"model_type": "janus"}})) == "janus"
    assert detect_backend(_ckpt(tmp_path, "llava", {"config.json": {"model_type": "llava"}})) == "hf"
    with pytest.raises(LvrpoError, match="deepseek-community/Janus-Pro-7B"):
        detect_backend(_ckpt(tmp_path, "orig", {"config.json": {"model_type": "multi_modality"}}))
    with pytest.raises(LvrpoError, match="no config.json or model_index.json"):
        detect_backend(_ckpt(tmp_path, "empty", {}))
    with pytest.raises(LvrpoError, match="model path not found"):
        detect_backend(str(tmp_path / "nope"))


def test_hub_ids_fail_clearly_offline():
    with pytest.raises(LvrpoError, match="someone/some-model: offline mode .* not in the local HF cache"):
        detect_backend("someone/some-model")


def test_unknown_backend_and_the_nano_name():
    with pytest.raises(LvrpoError, match="unknown backend 'tgi'"):
        load_backend("x", backend="tgi")
    nano = load_backend("nano", options=BackendOptions(device="cpu"))  # the packaged checkpoint, janus backend
    assert nano.name == "janus" and nano.capabilities == {"understand", "generate", "edit"}


def test_capabilities_are_checked_with_one_message():
    class TextOnly(Backend):
        name = "t"
        capabilities = frozenset({"understand"})

    check_capabilities(TextOnly(), ["understand"])
    with pytest.raises(LvrpoError, match="cannot do what the suite needs: edit, generate"):
        check_capabilities(TextOnly(), ["understand", "generate", "edit"])


def test_load_errors_name_the_corrupt_weights_file(tmp_path):
    d = tmp_path / "ckpt"
    d.mkdir()
    assert "no weights file" in str(explain_load_error(str(d), OSError("x")))
    (d / "model.safetensors").write_bytes(b"\x00\x01garbage")
    msg = str(explain_load_error(str(d), OSError("x")))
    assert "model.safetensors: corrupt weights file" in msg


class OOMBackend(Backend):
    """Runs out of memory for batches larger than `fits`; answers "yes" otherwise."""

    name = "oom"
    capabilities = frozenset({"understand"})

    def __init__(self, fits: int):
        self.fits, self.sizes = fits, []

    def understand(self, requests):
        self.sizes.append(len(requests))
        if len(requests) > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return ["yes"] * len(requests)


def test_auto_batch_size_halves_on_out_of_memory(tmp_path, capsys):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=2)
    samples = MME().load(str(data))
    backend = OOMBackend(fits=5)
    out = predict(MME(), backend, samples, JsonlLog(tmp_path / "p.jsonl"), batch_size=None, bars=Bars(quiet=True))
    assert len(out) == len(samples) and all(o.text == "yes" for o in out.values())
    assert backend.sizes[:3] == [AUTO_BATCH, AUTO_BATCH // 2, AUTO_BATCH // 4] and max(backend.sizes[3:]) == 4
    assert capsys.readouterr().err.count("out of memory") == 1  # reported once


def test_fixed_batch_size_does_not_hide_out_of_memory(tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    with pytest.raises(RuntimeError, match="out of memory"):
        predict(MME(), OOMBackend(fits=1), MME().load(str(data)), JsonlLog(tmp_path / "p.jsonl"), batch_size=4,
                bars=Bars(quiet=True))


class PickyBackend(Backend):
    """Cannot run request "3" (as a processor rejecting its image would); answers "no" otherwise."""

    name = "picky"
    capabilities = frozenset({"understand"})

    def understand(self, requests):
        for r in requests:
            if r.id == "3":
                raise SampleError(r.id, "processor cannot prepare request '3'")
        return ["no"] * len(requests)


def test_a_sample_the_backend_cannot_run_fails_alone(tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    samples = MME().load(str(data))[:6]
    out = predict(MME(), PickyBackend(), samples, JsonlLog(tmp_path / "p.jsonl"), batch_size=4, bars=Bars(True))
    assert out["3"].error == "processor cannot prepare request '3'" and out["3"].text == ""
    assert [out[str(i)].text for i in (0, 1, 2, 4, 5)] == ["no"] * 5
    assert all(out[str(i)].error is None for i in (0, 1, 2, 4, 5))


# ---- capabilities come from the checkpoint's config, before any weights load ----------------------------------

@pytest.fixture(scope="module")
def weightless(tmp_path_factory):
    """Tiny hf / text-to-image / editing checkpoints with every weights file removed: loading any would fail."""
    from lvrpo.testing import tiny_llava
    from lvrpo.testing.diffusion import tiny_instruct_pix2pix, tiny_sd3

    root = tmp_path_factory.mktemp("weightless")
    made = {"hf": tiny_llava(root / "llava"), "t2i": tiny_sd3(root / "sd3"),
            "edit": tiny_instruct_pix2pix(root / "ip2p")}
    for path in made.values():
        for weights in path.rglob("*.safetensors"):
            weights.unlink()
    return {k: str(v) for k, v in made.items()}


@pytest.mark.parametrize("ckpt,suite,message", [
    ("hf", "geneval", "model backend 'hf' cannot do what the suite needs: generate (it can: understand)"),
    ("t2i", "mme", "model backend 'diffusers' cannot do what the suite needs: understand (it can: generate)"),
    ("t2i", "gedit", "model backend 'diffusers' cannot do what the suite needs: edit (it can: generate)"),
    ("edit", "geneval", "model backend 'diffusers' cannot do what the suite needs: generate (it can: edit)"),
])
def test_the_suite_is_checked_before_the_weights_load(weightless, ckpt, suite, message, tmp_path):
    judge = ["--judge", "openai:j@http://127.0.0.1:1/v1"] if suite == "gedit" else []  # gedit needs one (unused)
    res = run_cli("eval", "--model", weightless[ckpt], "--suite", suite, *judge, "--out", str(tmp_path / "run"),
                  timeout=120)
    assert res.returncode == 1 and res.stderr.strip() == f"error: {message}", res.stderr  # not a weights error


def test_capabilities_for_a_config():
    from lvrpo.models.diffusers import DiffusersBackend
    from lvrpo.models.hf import HFBackend
    from lvrpo.models.janus import JanusBackend

    assert DiffusersBackend.capabilities_for({"_class_name": "StableDiffusion3Pipeline"}) == {"generate"}
    assert DiffusersBackend.capabilities_for({"_class_name": "FluxKontextPipeline"}) == {"generate", "edit"}
    assert DiffusersBackend.capabilities_for({"_class_name": "QwenImageEditPipeline"}) == {"edit"}
    assert DiffusersBackend.capabilities_for({"_class_name": "FluxFillPipeline"}) == set()
    # custom pipeline code: only loading tells, so nothing is ruled out before (check_capabilities runs after)
    assert DiffusersBackend.capabilities_for({"_class_name": "MyOwnPipeline"}) == {"generate", "edit"}
    assert HFBackend.capabilities_for({"model_type": "llava"}) == {"understand"}
    assert JanusBackend.capabilities_for({"model_type": "janus"}) == {"understand", "generate"}


def test_load_backend_checks_needs_before_loading(weightless):
    with pytest.raises(LvrpoError, match="'hf' cannot do what the suite needs: edit, generate"):
        load_backend(weightless["hf"], needs={"understand", "generate", "edit"})
    with pytest.raises(LvrpoError, match="'vllm' cannot do what the suite needs: generate"):
        load_backend(weightless["hf"], backend="vllm", needs={"generate"})  # before vLLM is even imported


def test_a_forced_backend_needs_no_detectable_checkpoint(tmp_path, monkeypatch):
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "0", "output": "yes"}\n')
    assert load_backend(str(preds), backend="replay", needs={"understand"}).name == "replay"
    assert load_backend("m@http://127.0.0.1:1/v1", backend="openai").name == "openai"
    gguf = tmp_path / "model.gguf"  # vLLM takes a GGUF file, which has no config.json to detect from
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "vllm", None)  # so the backend stops at its import
    with pytest.raises(LvrpoError, match="needs vLLM"):
        load_backend(str(gguf), backend="vllm", needs={"understand"})
