"""A tiny random `JanusForConditionalGeneration` (text understanding + image tokens + VQ decoder) saved with
`save_pretrained`, so tests load it back through the same `from_pretrained` path as Janus-Pro-1B/7B.

Constraints (shared/specs/tiny-models.md, grpo-trainers.md §5): VQ channels are multiples of 32 (GroupNorm with
32 groups); `JanusConfig` sets `vq_config.num_patches = image_size // patch_size`, and the decoded side is
`num_patches * 2**(len(channel_multiplier) - 1)`; the image-token count (grid²) is written consistently into the
vision config, the processor and `generation_config.generation_kwargs`; `tie_word_embeddings=False` (tied, a random
Janus only repeats the last prompt token).
"""

from __future__ import annotations

from pathlib import Path

from lvrpo.testing import CORPUS, train_tokenizer

# Janus-Pro's role layout ("<|User|>: ...\n\n<|Assistant|>:"), images as the processor's image token.
JANUS_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|User|>: {% elif m['role'] == 'assistant' %}<|Assistant|>: "
    "{% else %}{{ m['role'] }}: {% endif %}{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for p in m['content'] %}{% if p['type'] == 'image' %}<image_placeholder>{{ '\\n' }}{% else %}"
    "{{ p['text'] }}{% endif %}{% endfor %}{% endif %}{{ '\\n\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|Assistant|>:{% endif %}")

GRID = 4  # image tokens per side: 32 px / patch 8
SIDE = 32  # pixels per side, in and out


def tiny_janus(out: Path, *, init_std: float = 0.2, seed: int = 0, black: bool = False) -> Path:
    """A ~0.3M-parameter random Janus saved to `out`: 32 px images, 16 image tokens, a 64-entry VQ codebook.

    `black=True` makes the VQ decoder emit pure black (its output conv a constant far below -1), the way a broken
    checkpoint would. A large `init_std` makes answers and images vary with the input.
    """
    import torch
    from transformers import (
        GenerationConfig,
        JanusConfig,
        JanusForConditionalGeneration,
        JanusImageProcessor,
        JanusProcessor,
        JanusVisionConfig,
        JanusVQVAEConfig,
        LlamaConfig,
    )

    tok = train_tokenizer([CORPUS], special_tokens=("<pad>", "<s>", "</s>", "<|User|>", "<|Assistant|>"),
                          image_token="<image_placeholder>", boi_token="<begin_of_image>", eoi_token="<end_of_image>")
    prepend_bos(tok)
    hidden, n_tokens = 32, GRID * GRID
    text = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       initializer_range=init_std, tie_word_embeddings=False)
    vision = JanusVisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=SIDE,
                               patch_size=SIDE // GRID, projection_dim=hidden, num_image_tokens=n_tokens, depth=1,
                               initializer_range=init_std)
    vq = JanusVQVAEConfig(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32,
                          channel_multiplier=[1, 1, 1, 1], num_res_blocks=1, projection_dim=hidden,
                          image_token_embed_dim=hidden, num_hidden_layers=1, initializer_range=init_std)
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq, tie_word_embeddings=False,
                         image_token_id=tok.convert_tokens_to_ids("<image_placeholder>"))
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(config)
    if black:
        with torch.no_grad():  # a constant far below -1 out of the last conv: every pixel clips to 0
            model.model.vqmodel.decoder.conv_out.weight.zero_()
            model.model.vqmodel.decoder.conv_out.bias.fill_(-10.0)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        generation_kwargs={"boi_token_id": tok.convert_tokens_to_ids("<begin_of_image>"), "num_image_tokens": n_tokens})
    model.save_pretrained(out)
    image_processor = JanusImageProcessor(size={"height": SIDE, "width": SIDE}, min_size=4,
                                          image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    JanusProcessor(image_processor=image_processor, tokenizer=tok, chat_template=JANUS_TEMPLATE,
                   num_image_tokens=n_tokens).save_pretrained(out)
    return out


def prepend_bos(tok) -> None:
    """Janus-Pro's Llama tokenizer starts every sequence with BOS (image-mode CFG keeps BOS in the unconditional
    branch); do the same here."""
    from tokenizers import processors

    bos = tok.bos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.bos_token_id)])
