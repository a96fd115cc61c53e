"""The nano model: a tiny `JanusForConditionalGeneration` for ShapesWorld, built, saved and found here.

Same class and code path as Janus-Pro (understanding through the SigLIP-style encoder, text-to-image through VQ
tokens with CFG), sized to train on 2 CPU cores: a 4-layer Llama (hidden 192), a 2-layer vision encoder at 32 px
with patch 4 (64 image tokens), a VQ with 512 codes on an 8×8 grid. Facts this relies on:
shared/specs/tiny-models.md (VQ channels multiples of 32, downsampling = vision patch size, projection dims = text
hidden, `tie_word_embeddings=False`, special tokens declared for `JanusProcessor`).

Editing: the checkpoint declares `lvrpo_capabilities` (["understand", "generate", "edit"]) in its config, so the
janus backend knows this Janus-class checkpoint can edit (source image through the understanding encoder +
instruction → target image tokens); Janus-Pro declares nothing and is not offered edits.

The trained weights ship inside the package (`lvrpo/world/nano/`, safetensors + config + tokenizer + the
manifest of the command that made them); `lvrpo world train-nano --out DIR --seed S` rebuilds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lvrpo.types import LvrpoError

PACKAGED = Path(__file__).resolve().parent / "nano"
SIDE, PATCH = 32, 4  # pixels per side in and out; vision patch = VQ downsampling
GRID = SIDE // PATCH  # 8 × 8 = 64 image tokens
CAPABILITIES = ["understand", "generate", "edit"]
FILES = ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json")
REBUILD = "lvrpo world train-nano --out DIR (then --model DIR), or reinstall lvrpo"

SPECIALS = ("<pad>", "<s>", "</s>", "<|User|>", "<|Assistant|>")


def build(texts: list[str], seed: int, vocab_size: int = 2000) -> tuple[Any, Any]:
    """A fresh (model, processor): tokenizer trained on `texts`, random weights from `seed`."""
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

    from lvrpo.testing import train_tokenizer
    from lvrpo.testing.janus import JANUS_TEMPLATE, prepend_bos

    tok = train_tokenizer(texts, special_tokens=SPECIALS, vocab_size=vocab_size, image_token="<image_placeholder>",
                          boi_token="<begin_of_image>", eoi_token="<end_of_image>")
    prepend_bos(tok)  # Janus-Pro's tokenizer starts every sequence with BOS (CFG keeps it unconditional)
    hidden, n_tokens = 192, GRID * GRID
    text = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=512, num_hidden_layers=4,
                       num_attention_heads=6, num_key_value_heads=6, max_position_embeddings=256,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                       tie_word_embeddings=False)
    vision = JanusVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                               image_size=SIDE, patch_size=PATCH, projection_dim=hidden, num_image_tokens=n_tokens,
                               depth=2)
    vq = JanusVQVAEConfig(embed_dim=16, num_embeddings=512, latent_channels=64, base_channels=32,
                          channel_multiplier=[1, 2, 2], num_res_blocks=1, projection_dim=hidden,
                          image_token_embed_dim=hidden, num_hidden_layers=1)
    config = JanusConfig(text_config=text, vision_config=vision, vq_config=vq, tie_word_embeddings=False,
                         image_token_id=tok.convert_tokens_to_ids("<image_placeholder>"))
    config.lvrpo_capabilities = CAPABILITIES
    torch.manual_seed(seed)
    model = JanusForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        generation_kwargs={"boi_token_id": tok.convert_tokens_to_ids("<begin_of_image>"), "num_image_tokens": n_tokens})
    image_processor = JanusImageProcessor(size={"height": SIDE, "width": SIDE}, min_size=4,
                                          image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor = JanusProcessor(image_processor=image_processor, tokenizer=tok, chat_template=JANUS_TEMPLATE,
                               num_image_tokens=n_tokens, use_default_system_prompt=False)
    return model, processor


def save(model: Any, processor: Any, out: Path, manifest: dict[str, Any]) -> None:
    """safetensors + config + tokenizer/processor + `nano_manifest.json` (how it was made, what it measured)."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    (out / "nano_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def checkpoint(folder: Path | None = None) -> str:
    """The nano checkpoint's folder (default: the packaged one), or an LvrpoError naming the missing or corrupt
    file and how to rebuild it. Only the safetensors header is read here; the backend loads the weights."""
    from safetensors import SafetensorError, safe_open

    folder = PACKAGED if folder is None else folder
    for name in FILES:
        if not (folder / name).is_file():
            raise LvrpoError(f"--model nano: {folder / name} is missing; rebuild it with: {REBUILD}")
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            f.keys()
    except (ValueError, OSError, SafetensorError) as e:  # JSONDecodeError is a ValueError
        bad = "config.json" if isinstance(e, json.JSONDecodeError) else "model.safetensors"
        raise LvrpoError(f"--model nano: {folder / bad} is corrupt ({str(e).splitlines()[0][:120]}); rebuild it "
                         f"with: {REBUILD}") from None
    return str(folder)
