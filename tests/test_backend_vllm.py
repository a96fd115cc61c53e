"""The `vllm` backend with a plain stand-in for the engine: the request it builds must follow vLLM's documented
offline multi-modal format (vLLM docs/features/multimodal_inputs.md):
`LLM.generate([{"prompt": str, "multi_modal_data": {"image": PIL | [PIL, ...]}}], [SamplingParams, ...])`.
No real vLLM engine runs here."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from PIL import Image

from lvrpo.models import load_backend
from lvrpo.models.base import BackendOptions
from lvrpo.models.prompting import render
from lvrpo.models.vllm import VLLMBackend
from lvrpo.testing import tiny_llava
from lvrpo.types import LvrpoError, Request


class SamplingParams:
    """Records its keyword arguments, as vllm.SamplingParams takes them."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


class LLM:
    """Records the engine arguments and each generate call; answers with text that needs finishing."""

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True):
        self.calls.append((prompts, sampling_params, use_tqdm))
        return [SimpleNamespace(outputs=[SimpleNamespace(text=f" answer {i}\nASSISTANT: more")])
                for i in range(len(prompts))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_llava(tmp_path_factory.mktemp("llava") / "m")


@pytest.fixture
def fake_vllm(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))


def test_requests_follow_vllms_multimodal_input_format(tiny, fake_vllm):
    b = load_backend(str(tiny), backend="vllm", options=BackendOptions(
        dtype="bf16", extra={"max_images": "4", "tensor_parallel_size": "2"}))
    assert isinstance(b, VLLMBackend) and isinstance(b.llm, LLM)
    assert b.llm.kwargs == {"model": str(tiny), "dtype": "bfloat16", "trust_remote_code": False,
                            "limit_mm_per_prompt": {"image": 4}, "tensor_parallel_size": 2}
    red, blue = Image.new("RGB", (8, 8), "red"), Image.new("P", (8, 8))
    one = Request(id="a", kind="understand", prompt="Is it red?", images=[red], max_new_tokens=16,
                  options={"stop": ["ASSISTANT:"]})
    two = Request(id="b", kind="understand", prompt="Compare <image 2> with <image 1>.", images=[red, blue],
                  max_new_tokens=128, options={"image_keys": [1, 2], "interleave": [2, 1], "image_tag": "<image {k}>"})
    none = Request(id="c", kind="understand", prompt="Say hi.", max_new_tokens=4)
    answers = b.understand([one, two, none])
    (prompts, params, use_tqdm), = b.llm.calls  # the whole batch in one engine call
    assert use_tqdm is False and len(prompts) == len(params) == 3
    # the prompt text is the hf backend's: the model's chat template, one placeholder per image
    assert [p["prompt"] for p in prompts] == [render(b.processor, r)[0] for r in (one, two, none)]
    assert prompts[1]["prompt"].startswith("user: Compare <image> with <image>.")
    single = prompts[0]["multi_modal_data"]["image"]
    assert isinstance(single, Image.Image) and single.getpixel((0, 0)) == (255, 0, 0)
    pair = prompts[1]["multi_modal_data"]["image"]
    assert [im.mode for im in pair] == ["RGB", "RGB"] and pair[1].getpixel((0, 0)) == (255, 0, 0)  # citation order
    assert "multi_modal_data" not in prompts[2]
    assert [p.kwargs for p in params] == [
        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 16, "stop": ["ASSISTANT:"]},
        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 128, "stop": None},
        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 4, "stop": None}]
    assert answers == ["answer 0", "answer 1\nASSISTANT: more", "answer 2\nASSISTANT: more"]  # cut at ITS stops
    assert b.describe()["backend"] == "vllm"


def test_missing_vllm_says_how_to_install(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(LvrpoError, match=r"pip install lvrpo\[vllm\]"):
        load_backend(str(tiny), backend="vllm")
