"""The flow-matching policy: GRPO on diffusers SD3-style pipelines through Flow-GRPO's SDE sampler.

The pipeline's deterministic Euler sampler gives no likelihood. Flow-GRPO (spec grpo-trainers.md §2.1; Liu et al.
2025, "Flow-GRPO") swaps each step for an SDE step with the same marginals, whose transition is Gaussian:

    s  = a · √(σ / (1 − σ))            (a = `noise_level`; at σ = 1 the denominator is 1 − σ₁, the next sigma)
    μ  = x + [v + s² / (2σ) · (x + (1 − σ) · v)] · dt,   dt = σ_next − σ < 0,   v = the (guided) velocity
    x' = μ + s · √(−dt) · ε

so every denoising step is one "token" with log-prob log N(x' | μ, (s√(−dt))²), averaged (not summed) over the
latent's dimensions and computed in float32. A rollout keeps the trajectory; `log_probs` recomputes the per-step
log-probs with gradient from it, shaped `[B, K]` like a token log-prob matrix, so `grpo_loss` applies unchanged.
With a = 0 the step is the pipeline's own Euler step (a test checks that sampling then equals the pipeline).
Classifier-free guidance is applied in sampling and in the recomputed log-prob; the unconditional branch is
detached, as in Flow-GRPO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image


def sde_step(x: torch.Tensor, v: torch.Tensor, sigma: float, sigma_next: float, *, noise_level: float,
             sigma_max: float, x_next: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """One SDE step from `x` (velocity `v`): (x_next, log-prob per sample [B], mean, std). `x_next` given:
    its log-prob under the step (nothing sampled)."""
    x, v = x.float(), v.float()
    dt = sigma_next - sigma
    s = noise_level * math.sqrt(sigma / (1 - (sigma_max if sigma >= 1 else sigma)))
    mean = x + (v + s ** 2 / (2 * sigma) * (x + (1 - sigma) * v)) * dt
    std = s * math.sqrt(-dt)
    if x_next is None:
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
        x_next = mean + std * noise
    if std == 0:
        return x_next, torch.zeros(x.shape[0]), mean, std
    logp = -((x_next.detach().float() - mean) ** 2) / (2 * std ** 2) - math.log(std) - 0.5 * math.log(2 * math.pi)
    return x_next, logp.flatten(1).mean(1), mean, std


@dataclass
class FlowRollout:
    """`num_generations` trajectories per prompt: latents x₀ (noise) … x_K, per-step log-probs at sampling time."""

    latents: torch.Tensor  # (B, K + 1, C, H, W)
    old_logps: torch.Tensor  # (B, K)
    embeds: tuple[torch.Tensor | None, ...]  # prompt, pooled, negative, negative pooled (None: no CFG)
    images: list[Image.Image]

    @property
    def completion_mask(self) -> torch.Tensor:
        return torch.ones_like(self.old_logps)

    @property
    def completions(self) -> torch.Tensor:  # one "token" per denoising step (grpo_loss's max_completion_length)
        return self.old_logps


class FlowPolicy:
    """Flow-GRPO sampling and log-probs for a `StableDiffusion3Pipeline` (its transformer is what trains)."""

    kind = "image"

    def __init__(self, pipe: Any, *, num_steps: int = 10, guidance_scale: float = 4.5, noise_level: float = 0.7,
                 height: int | None = None, width: int | None = None):
        self.pipe, self.num_steps, self.guidance, self.noise_level = pipe, num_steps, guidance_scale, noise_level
        scale = pipe.vae_scale_factor
        size = pipe.transformer.config.sample_size * scale
        self.shape = (pipe.transformer.config.in_channels, (height or size) // scale, (width or size) // scale)

    def _sigmas(self) -> tuple[torch.Tensor, torch.Tensor]:
        sched = self.pipe.scheduler
        sched.set_timesteps(self.num_steps)
        return sched.timesteps.clone(), sched.sigmas.clone().float()

    def _step(self, x: torch.Tensor, k: int, timesteps: torch.Tensor, sigmas: torch.Tensor,
              embeds: tuple[torch.Tensor | None, ...], noise_level: float,
              **kw: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoising step `k` from `x`: (x_next, log-prob [B]); `kw` is sde_step's `x_next` or `generator`."""
        v = self._velocity(x, timesteps[k], embeds)
        x_next, logp, _, _ = sde_step(x, v, float(sigmas[k]), float(sigmas[k + 1]), noise_level=noise_level,
                                      sigma_max=float(sigmas[1]), **kw)
        return x_next, logp

    def _velocity(self, x: torch.Tensor, t: torch.Tensor, embeds: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
        prompt, pooled, neg, neg_pooled = embeds
        tr = self.pipe.transformer
        cond = tr(hidden_states=x, timestep=t.expand(x.shape[0]), encoder_hidden_states=prompt,
                  pooled_projections=pooled, return_dict=False)[0]
        if self.guidance <= 1:
            return cond
        uncond = tr(hidden_states=x, timestep=t.expand(x.shape[0]), encoder_hidden_states=neg,
                    pooled_projections=neg_pooled, return_dict=False)[0].detach()
        return uncond + self.guidance * (cond - uncond)

    @torch.no_grad()
    def rollout(self, prompts: list[str], num_generations: int, seed: int,
                noise_level: float | None = None) -> FlowRollout:
        """Sample `num_generations` images per prompt (in order: prompt 0's group first)."""
        a = self.noise_level if noise_level is None else noise_level
        flat = [p for p in prompts for _ in range(num_generations)]
        embeds = tuple(None if e is None else e.detach() for e in self.pipe.encode_prompt(
            prompt=flat, prompt_2=None, prompt_3=None, do_classifier_free_guidance=self.guidance > 1,
            negative_prompt=[""] * len(flat)))
        embeds = (embeds[0], embeds[2], embeds[1], embeds[3])  # (prompt, pooled, negative, negative pooled)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn((len(flat), *self.shape), generator=gen)
        timesteps, sigmas = self._sigmas()
        path, logps = [x], []
        for k in range(len(timesteps)):
            x, logp = self._step(x, k, timesteps, sigmas, embeds, a, generator=gen)
            path.append(x)
            logps.append(logp)
        return FlowRollout(torch.stack(path, 1), torch.stack(logps, 1), embeds, self.decode(x))

    def log_probs(self, r: FlowRollout) -> torch.Tensor:
        """Per-step log-probs `[B, K]` of the stored trajectory under the current transformer, with gradient."""
        timesteps, sigmas = self._sigmas()
        return torch.stack([self._step(r.latents[:, k], k, timesteps, sigmas, r.embeds, self.noise_level,
                                       x_next=r.latents[:, k + 1])[1] for k in range(len(timesteps))], 1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> list[Image.Image]:
        vae = self.pipe.vae
        z = latents / vae.config.scaling_factor + (vae.config.shift_factor or 0.0)
        return self.pipe.image_processor.postprocess(vae.decode(z, return_dict=False)[0], output_type="pil")
