"""The `hf:` judge through the real from_pretrained path, on a tiny random LLaVA built here (facts:
shared/specs/tiny-models.md): a byte-level BPE tokenizer trained on the spot, a CLIP tower at 32 px / patch 8
(16 image tokens), a 2-layer Llama."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lvrpo.judges import make_judge
from lvrpo.judges.hf import HFJudge
from lvrpo.testing import tiny_llava as build_tiny_llava
from lvrpo.types import LvrpoError


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def test_hf_judge_answers_through_from_pretrained(tiny_llava):
    judge = make_judge(f"hf:{tiny_llava}")
    assert isinstance(judge, HFJudge) and judge.describe()["model_type"] == "llava"
    img = Image.new("RGB", (40, 30), "red")
    reply = judge.complete("Is the square red?", [img], max_tokens=6)
    assert isinstance(reply, str)
    assert judge.complete("Is the square red?", [img], max_tokens=6) == reply  # greedy: deterministic
    assert isinstance(judge.complete("Rate the edit.", None, max_tokens=3), str)  # text-only prompt


def test_hf_judge_bad_paths(tmp_path):
    with pytest.raises(LvrpoError, match="not a local model directory"):
        make_judge(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(LvrpoError, match="cannot load"):
        make_judge(f"hf:{tmp_path}")  # a directory without a checkpoint
