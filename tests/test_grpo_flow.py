"""The flow-matching policy (Flow-GRPO's SDE sampler) on a tiny random SD3 pipeline: the per-step log-prob is the
Gaussian density of the step, noise level 0 is the pipeline's own Euler sampler, recomputed log-probs equal the
sampled ones, and 30 GRPO steps on a brightness reward raise the reward."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lvrpo.grpo import group_advantages, grpo_loss
from lvrpo.grpo.flow import FlowPolicy, sde_step
from lvrpo.testing.diffusion import tiny_sd3


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from diffusers import StableDiffusion3Pipeline

    path = tiny_sd3(tmp_path_factory.mktemp("sd3") / "pipe")
    return StableDiffusion3Pipeline.from_pretrained(path)


def test_step_log_prob_is_the_gaussian_density_of_the_step():
    gen = torch.Generator().manual_seed(0)
    x, v = torch.randn(3, 4, 5, 5, generator=gen), torch.randn(3, 4, 5, 5, generator=gen)
    sigma, sigma_next, a = 0.6, 0.45, 0.7
    x_next, logp, mean, std = sde_step(x, v, sigma, sigma_next, noise_level=a, sigma_max=0.9, generator=gen)
    s = a * math.sqrt(sigma / (1 - sigma))  # hand-worked: spec grpo-trainers.md §2.1
    dt = sigma_next - sigma
    assert std == pytest.approx(s * math.sqrt(-dt))
    assert torch.allclose(mean, x + (v + s ** 2 / (2 * sigma) * (x + (1 - sigma) * v)) * dt)
    direct = torch.distributions.Normal(mean, std).log_prob(x_next).flatten(1).mean(1)  # mean over dimensions
    assert torch.allclose(logp, direct, atol=1e-5)
    _, again, _, _ = sde_step(x, v, sigma, sigma_next, noise_level=a, sigma_max=0.9, x_next=x_next)
    assert torch.allclose(again, logp)
    # At sigma 1 the denominator is 1 - sigma_max (the next sigma), not 0.
    _, _, _, std1 = sde_step(x, v, 1.0, 0.8, noise_level=a, sigma_max=0.8)
    assert std1 == pytest.approx(a * math.sqrt(1 / (1 - 0.8)) * math.sqrt(0.2))


def test_noise_level_zero_is_the_pipelines_euler_sampler(pipe):
    policy = FlowPolicy(pipe, num_steps=4, guidance_scale=2.0)
    r = policy.rollout(["a red circle"], num_generations=2, seed=5, noise_level=0.0)
    ours = r.latents[:, -1]
    theirs = pipe(["a red circle"] * 2, num_inference_steps=4, guidance_scale=2.0, latents=r.latents[:, 0].clone(),
                  output_type="latent").images
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_recomputed_log_probs_equal_the_sampled_ones(pipe):
    policy = FlowPolicy(pipe, num_steps=4, guidance_scale=2.0)
    r = policy.rollout(["a red circle", "two squares"], num_generations=3, seed=1)
    assert r.latents.shape[:2] == (6, 5) and r.old_logps.shape == (6, 4) and len(r.images) == 6
    with torch.no_grad():
        assert torch.allclose(policy.log_probs(r), r.old_logps, atol=1e-4)
    again = policy.rollout(["a red circle", "two squares"], num_generations=3, seed=1)
    assert torch.equal(again.latents, r.latents)  # seeded


def brightness(r) -> list[float]:
    """Mean value of each final latent: the brightness of the latent image. (The random tiny VAE decodes every latent
    to nearly the same grey, std 0.001 within a group, so decoded pixels give GRPO no signal to follow.)"""
    return r.latents[:, -1].flatten(1).mean(1).tolist()


def test_thirty_grpo_steps_raise_a_brightness_reward(pipe):
    torch.manual_seed(0)
    policy = FlowPolicy(pipe, num_steps=4, guidance_scale=1.0)
    prompts, g = ["a red circle", "two squares"], 4
    optim = torch.optim.AdamW(pipe.transformer.parameters(), lr=1e-3)

    def mean_reward() -> float:  # held-out seeds, so the comparison is not on the noise it trained on
        return float(np.mean([brightness(policy.rollout(prompts, 8, 10_000 + k)) for k in range(3)]))

    before, spread = mean_reward(), float(np.std(brightness(policy.rollout(prompts, 8, 10_000))))
    for step in range(30):
        r = policy.rollout(prompts, g, seed=step)
        advantages, _ = group_advantages(brightness(r), g, "group")
        loss, _ = grpo_loss(policy.log_probs(r), None, None, advantages, r.completion_mask, loss_type="grpo")
        loss.backward()
        optim.step()
        optim.zero_grad()
    after = mean_reward()
    assert after > before + 3 * spread, (before, after, spread)  # well beyond the spread of one batch
