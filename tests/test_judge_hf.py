"""The `hf:` judge through the real from_pretrained path, on a tiny random LLaVA built here (facts:
shared/specs/tiny-models.md): a byte-level BPE tokenizer trained on the spot, a CLIP tower at 32 px / patch 8
(16 image tokens), a 2-layer Llama."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from lvrpo.judges import make_judge
from lvrpo.judges.hf import HFJudge
from lvrpo.types import LvrpoError

# Renders `{"type": "image"}` parts as the processor's image token, the way real VLM templates do.
TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
            "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
            "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny-llava")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<image>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(["Is the square red? Answer yes or no. Rate the edit from 0 to 10."], trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  extra_special_tokens={"image_token": "<image>"})
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                  crop_size={"height": 32, "width": 32}),
                               tokenizer=tok, patch_size=8, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default", chat_template=TEMPLATE)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"),
                         image_seq_length=16, vision_feature_select_strategy="default", vision_feature_layer=-2)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out


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
