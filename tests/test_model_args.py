"""`--model-args` keys a backend does not take are an error listing the valid ones, raised before anything loads
(a typo such as `max_concurency=16` used to be dropped silently, leaving the default in force)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from lvrpo.models.base import BackendOptions, check_model_args
from lvrpo.models.diffusers import DiffusersBackend
from lvrpo.models.hf import HFBackend
from lvrpo.models.janus import JanusBackend
from lvrpo.models.openai import OpenAIBackend
from lvrpo.models.vllm import VLLMBackend
from lvrpo.types import LvrpoError
from tests.util import make_mme_fixture, run_cli

TYPO = {"max_concurency": "16"}


@pytest.fixture
def stand_in_vllm(monkeypatch):
    """An engine that must never be built (as tests/test_backend_vllm.py's, minus the recording)."""

    def never(**kwargs):
        raise AssertionError("the engine was built despite a bad --model-args key")
    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=never, SamplingParams=dict))


@pytest.mark.parametrize("cls,model,valid", [
    (HFBackend, "/no/such/checkpoint", "interleave, temperature, top_p, device_map"),
    (VLLMBackend, "/no/such/checkpoint", "max_images, tensor_parallel_size, max_model_len, gpu_memory_utilization, "
                                         "interleave, temperature, top_p"),
    (OpenAIBackend, "m@http://127.0.0.1:1/v1", "max_concurrency, timeout, max_retries, api_key_env, interleave, "
                                               "size, response_format"),
    (JanusBackend, "/no/such/checkpoint", "cfg_weight, temperature"),
    (DiffusersBackend, "/no/such/checkpoint", "steps, guidance_scale, height, width, negative_prompt, "
                                              "image_guidance_scale, true_cfg_scale, cpu_offload"),
])
def test_unknown_keys_are_rejected_naming_the_valid_ones(cls, model, valid, stand_in_vllm):
    # the checkpoint does not exist: the key is checked before any loading is tried
    with pytest.raises(LvrpoError, match=rf"^{cls.name}: unknown --model-args max_concurency \(valid: {valid}\)$"):
        cls(model, BackendOptions(extra=dict(TYPO)))


def test_the_valid_keys_still_apply():
    b = OpenAIBackend("m@http://127.0.0.1:1/v1", BackendOptions(extra={"max_concurrency": "16", "timeout": "5"}))
    assert b.client.max_concurrency == 16 and b.timeout == 5.0
    check_model_args("x", {"a": "1"}, ("a", "b"))
    with pytest.raises(LvrpoError, match=r"x: unknown --model-args c, d \(valid: a, b\)"):
        check_model_args("x", {"d": "1", "a": "1", "c": "2"}, ("a", "b"))


def test_the_cli_reports_a_typo_in_one_line(tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    res = run_cli("eval", "--model", "openai:m@http://127.0.0.1:1/v1", "--suite", "mme", "--data", str(data),
                  "--model-args", "max_concurency=16", "--out", str(tmp_path / "run"), timeout=60)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1, res.stderr
    assert lines[0].startswith("error: openai: unknown --model-args max_concurency (valid: max_concurrency, ")
