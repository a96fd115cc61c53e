"""Policies GRPO trains, each able to sample a group and give per-token log-probs of what it sampled.

- `JanusImagePolicy`: text-to-image over Janus image tokens. Rollouts are sampled by the janus backend's own
  sampler (CFG with `cfg_weight`, temperature, a generator per image) and their log-probs recomputed by teacher
  forcing under **the same guided, temperature-scaled distribution** (`image_token_log_probs`; spec
  grpo-trainers.md §2.3, §6.2) — conditional-only log-probs would make ratio, clipping and KL refer to a policy
  that never sampled. The unconditional branch is detached by default (`detach_uncond`).
- `JanusTextPolicy`: answers through the understanding path (the prompt as the janus backend renders it),
  sampled at `temperature` with image/special tokens suppressed (a sampled `<image_placeholder>` would break the
  teacher-forced pass), log-probs from `lm_head` logits divided by the temperature, as TRL does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from lvrpo.models.janus import (
    decode_images,
    image_prompts,
    image_token_log_probs,
    sample_image_tokens,
)


@dataclass
class Rollouts:
    """G completions per prompt, prompts repeated group by group: prompt ids/mask (B·G, P), completion tokens
    and their mask (B·G, T), and what the reward reads (images or texts)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completions: torch.Tensor
    completion_mask: torch.Tensor
    images: list[Image.Image] | None = None
    texts: list[str] | None = None
    pixel_values: torch.Tensor | None = None


def _repeat(t: torch.Tensor, g: int) -> torch.Tensor:
    return t.repeat_interleave(g, dim=0)


class JanusImagePolicy:
    kind = "image"

    def __init__(self, model, processor, *, cfg_weight: float = 5.0, temperature: float = 1.0,
                 detach_uncond: bool = True):
        self.model, self.processor = model, processor
        self.cfg_weight, self.temperature, self.detach_uncond = cfg_weight, temperature, detach_uncond

    @torch.no_grad()
    def rollout(self, prompts: list[str], num_generations: int, seed: int) -> Rollouts:
        inputs = image_prompts(self.processor, prompts)
        ids, mask = _repeat(inputs["input_ids"], num_generations), _repeat(inputs["attention_mask"], num_generations)
        seeds = [seed + k for k in range(len(ids))]
        tokens = sample_image_tokens(self.model, {"input_ids": ids, "attention_mask": mask}, seeds, self.cfg_weight,
                                     self.temperature)
        return Rollouts(ids, mask, tokens, torch.ones_like(tokens), images=decode_images(self.model, self.processor,
                                                                                          tokens))

    def log_probs(self, r: Rollouts) -> torch.Tensor:
        return image_token_log_probs(self.model, r.input_ids, r.attention_mask, r.completions, self.cfg_weight,
                                     self.temperature, detach_uncond=self.detach_uncond)


class JanusTextPolicy:
    kind = "text"

    def __init__(self, model, processor, *, temperature: float = 1.0, max_new_tokens: int = 16):
        self.model, self.processor = model, processor
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        tok = processor.tokenizer
        self.suppress = sorted({i for i in (tok.convert_tokens_to_ids(t) for t in tok.all_special_tokens)
                                if i is not None} - {tok.eos_token_id})

    @torch.no_grad()
    def rollout(self, texts: list[str], images: list[Image.Image], num_generations: int, seed: int) -> Rollouts:
        """`texts` rendered by the chat template (one image placeholder per entry of `images`, in order)."""
        from transformers import GenerationMixin

        tok = self.processor.tokenizer
        enc = self.processor(text=texts, images=images or None, generation_mode="text", padding=True,
                             return_tensors="pt")
        ids, mask = _repeat(enc["input_ids"], num_generations), _repeat(enc["attention_mask"], num_generations)
        pixels = _repeat(enc["pixel_values"], num_generations) if "pixel_values" in enc else None
        torch.manual_seed(seed)  # generate draws from the global generator: one seed per rollout batch
        out = GenerationMixin.generate(self.model, input_ids=ids, attention_mask=mask, pixel_values=pixels,
                                       do_sample=True, temperature=self.temperature, top_k=0, top_p=1.0,
                                       guidance_scale=None, max_new_tokens=self.max_new_tokens,
                                       suppress_tokens=self.suppress, pad_token_id=tok.pad_token_id,
                                       eos_token_id=tok.eos_token_id)
        completions = out[:, ids.shape[1]:]
        # tokens up to and including the first end-of-sequence count; the padding after it does not
        ended = (completions == tok.eos_token_id).long().cumsum(-1)
        cmask = ((ended == 0) | ((ended == 1) & (completions == tok.eos_token_id))).long()
        texts_out = tok.batch_decode(completions * cmask + tok.pad_token_id * (1 - cmask), skip_special_tokens=True)
        return Rollouts(ids, mask, completions, cmask, texts=[t.strip() for t in texts_out], pixel_values=pixels)

    def log_probs(self, r: Rollouts) -> torch.Tensor:
        ids = torch.cat([r.input_ids, r.completions], 1)
        mask = torch.cat([r.attention_mask, r.completion_mask], 1)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, pixel_values=r.pixel_values)
        p = r.input_ids.shape[1]
        logits = out.logits[:, p - 1:-1].float() / self.temperature
        return torch.log_softmax(logits, -1).gather(-1, r.completions.unsqueeze(-1)).squeeze(-1)
