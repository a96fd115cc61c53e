"""Tiny random diffusers pipelines saved with `save_pretrained`, so tests load them back through
`DiffusionPipeline.from_pretrained` like a real SD3.5 or InstructPix2Pix checkpoint.

- `tiny_sd3`: a `StableDiffusion3Pipeline` (flow matching) making 32×32 images: SD3 transformer on 16×16 latents,
  two CLIP text encoders with projection and a T5 encoder (a pipeline saved without T5 does not load back;
  `joint_attention_dim` = T5 width ≥ the two CLIP widths together; shared/specs/tiny-models.md).
- `tiny_instruct_pix2pix`: a `StableDiffusionInstructPix2PixPipeline` (8-channel UNet: noise + source latents)
  that edits 32×32 images.

Tokenizers are byte-level BPEs trained on the spot (`lvrpo.testing.train_tokenizer`).
"""

from __future__ import annotations

from pathlib import Path

from lvrpo.testing import CORPUS, train_tokenizer

SIDE = 32  # output pixels per side


def _clip_tokenizer():
    tok = train_tokenizer([CORPUS])
    tok.model_max_length = 77  # CLIP's fixed context; the pipelines pad to it
    return tok


def _clip_text(tok, *, projection: bool):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=2, projection_dim=32, max_position_embeddings=77,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(black: bool, **scaling):
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 8), layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=8, sample_size=SIDE, **scaling)
    if black:  # decoder output far below -1: every pixel clips to 0, as a broken checkpoint would give
        with torch.no_grad():
            vae.decoder.conv_out.weight.zero_()
            vae.decoder.conv_out.bias.fill_(-10.0)
    return vae


def tiny_sd3(out: Path, *, seed: int = 0, black: bool = False) -> Path:
    """A random `StableDiffusion3Pipeline` (~0.3M parameters, 32 px by default) saved to `out`."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tok, tok_2, tok_3 = _clip_tokenizer(), _clip_tokenizer(), train_tokenizer([CORPUS])
    transformer = SD3Transformer2DModel(sample_size=SIDE // 2, patch_size=2, in_channels=4, out_channels=4,
                                        num_layers=1, attention_head_dim=8, num_attention_heads=4,
                                        joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64)
    t5 = T5EncoderModel(T5Config(vocab_size=len(tok_3), d_model=64, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
                                 pad_token_id=tok_3.pad_token_id, eos_token_id=tok_3.eos_token_id))
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=_vae(black, scaling_factor=1.5305, shift_factor=0.0609),  # SD3's values
                                    text_encoder=_clip_text(tok, projection=True), tokenizer=tok,
                                    text_encoder_2=_clip_text(tok_2, projection=True), tokenizer_2=tok_2,
                                    text_encoder_3=t5, tokenizer_3=tok_3)
    pipe.save_pretrained(out)
    return out


def tiny_instruct_pix2pix(out: Path, *, seed: int = 0) -> Path:
    """A random `StableDiffusionInstructPix2PixPipeline` (no safety checker) saved to `out`; output size = input."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tok = _clip_tokenizer()
    unet = UNet2DConditionModel(sample_size=SIDE // 2, in_channels=8, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, norm_num_groups=32)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=_vae(False), text_encoder=_clip_text(tok, projection=False), tokenizer=tok, unet=unet,
        scheduler=EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(out)
    return out
