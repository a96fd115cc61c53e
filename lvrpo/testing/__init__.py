"""Tiny random checkpoints for offline tests and demos, saved with `save_pretrained` so that tests exercise the
real `from_pretrained` loading path. Facts that save time: shared/specs/tiny-models.md.

`train_tokenizer` and `tiny_llava` live here; Janus and diffusers builders sit beside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

# Renders `{"type": "image"}` parts as the processor's image token, the way real VLM chat templates do.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}")

CORPUS = ("Is the square red? Answer yes or no. Rate the edit from 0 to 10. A photo of a blue circle left of a "
          "green triangle. The answer is B. 0 1 2 3 4 5 6 7 8 9")


def train_tokenizer(texts: Iterable[str] = (CORPUS,), special_tokens: Iterable[str] = ("<pad>", "<s>", "</s>"),
                    vocab_size: int = 300, **named_special: str):
    """A byte-level BPE trained on the spot, wrapped as `PreTrainedTokenizerFast` (bos `<s>`, eos `</s>`, pad
    `<pad>`). `named_special` declares extra special tokens by role, e.g. `image_token="<image>"`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys([*special_tokens, *named_special.values()]))
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   extra_special_tokens=dict(named_special))


def tiny_llava(out: Path, *, init_std: float = 0.02, seed: int = 0) -> Path:
    """A tiny random LLaVA (CLIP tower 32 px / patch 8 → 16 image tokens, 2-layer Llama) saved to `out`.

    A larger `init_std` (≈0.2) makes greedy answers vary between inputs (batching comparisons mean something).
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = train_tokenizer(image_token="<image>")
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                                  crop_size={"height": 32, "width": 32}),
                               tokenizer=tok, patch_size=8, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default", chat_template=CHAT_TEMPLATE)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, initializer_range=init_std)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       initializer_range=init_std)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"),
                         image_seq_length=16, vision_feature_select_strategy="default", vision_feature_layer=-2,
                         initializer_range=init_std)
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out
