"""Tiny random diffusers pipelines saved with `save_pretrained`, so tests load them back through
`DiffusionPipeline.from_pretrained` like a real SD3.5 or InstructPix2Pix checkpoint.

- `tiny_sd3`: a `StableDiffusion3Pipeline` (flow matching) making 32×32 images: SD3 transformer on 16×16 latents,
  two CLIP text encoders with projection and a T5 encoder (a pipeline saved without T5 does not load back;
  `joint_attention_dim` = T5 width ≥ the two CLIP widths together; shared/specs/tiny-models.md).
- `tiny_instruct_pix2pix`: a `StableDiffusionInstructPix2PixPipeline` (8-channel UNet: noise + source latents)
  that edits 32×32 images.
- `tiny_flux_kontext`: a `FluxKontextPipeline`, which both generates (no `image`) and edits (with one), so one
  model runs the whole generation suite (GenEval, WISE, GEdit).

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


def _t5(tok, width: int):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=len(tok), d_model=width, d_kv=8, d_ff=width, num_layers=1, num_heads=2,
                                   pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id))


def _vae(black: bool, levels: int = 2, width: int = 8, **scaling):
    """An AutoencoderKL with 4 latent channels that shrinks each side 2**(levels - 1) times."""
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(width,) * levels, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * levels,
                        up_block_types=("UpDecoderBlock2D",) * levels, latent_channels=4, norm_num_groups=width,
                        sample_size=SIDE, **scaling)
    if black:  # decoder output far below -1: every pixel clips to 0, as a broken checkpoint would give
        with torch.no_grad():
            vae.decoder.conv_out.weight.zero_()
            vae.decoder.conv_out.bias.fill_(-10.0)
    return vae


def tiny_sd3(out: Path, *, seed: int = 0, black: bool = False) -> Path:
    """A random `StableDiffusion3Pipeline` (~0.3M parameters, 32 px by default) saved to `out`."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(seed)
    tok, tok_2, tok_3 = _clip_tokenizer(), _clip_tokenizer(), train_tokenizer([CORPUS])
    transformer = SD3Transformer2DModel(sample_size=SIDE // 2, patch_size=2, in_channels=4, out_channels=4,
                                        num_layers=1, attention_head_dim=8, num_attention_heads=4,
                                        joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64)
    t5 = _t5(tok_3, 64)
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


def tiny_flux_kontext(out: Path, *, seed: int = 0) -> Path:
    """A random `FluxKontextPipeline` (~0.13M parameters) saved to `out`: text-to-image without an `image`,
    editing with one.

    FluxKontext always works at about 1 megapixel: `__call__` rescales height × width to `max_area` (1024² by
    default; the backend passes no `max_area`) keeping only their aspect ratio, and resizes a source to the nearest
    of Kontext's preferred ~1 MP resolutions. So this model shrinks 16× per side instead of making small images: a
    5-level VAE (vae_scale_factor 16) and Flux's 2×2 latent packing give 32×32 = 1024 image tokens for a 1024×1024
    image (2048 when editing), and a 1024² image costs well under a second on one CPU core. Because sides are
    floored to multiples of 2 × vae_scale_factor = 32, a source image must be at least 32 px on each side
    (smaller ones make the pipeline divide by zero). Transformer sizes as in diffusers'
    tests/pipelines/flux/test_pipeline_flux_kontext.py (which stays small by passing `max_area` and
    `_auto_resize=False` instead); the constraints: transformer in_channels = 4 × the VAE's latent channels (2×2
    packing), rope axes summing to attention_head_dim, CLIP width = pooled_projection_dim, T5 width =
    joint_attention_dim, and a VAE shift_factor (Flux normalises latents with it).
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    tok, tok_2 = _clip_tokenizer(), train_tokenizer([CORPUS])
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 6, 6))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)  # FLUX.1's values
    pipe = FluxKontextPipeline(transformer=transformer, scheduler=scheduler,
                               vae=_vae(False, levels=5, width=4, scaling_factor=0.3611, shift_factor=0.1159),
                               text_encoder=_clip_text(tok, projection=False), tokenizer=tok,
                               text_encoder_2=_t5(tok_2, 32), tokenizer_2=tok_2)
    pipe.save_pretrained(out)
    return out
