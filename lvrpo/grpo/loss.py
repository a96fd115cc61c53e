"""GRPO's pure pieces, with TRL's names and semantics (trl `GRPOTrainer`; shared/specs/grpo-trainers.md §1.2-1.3).

- `group_advantages`: Â_i = (r_i − mean of i's group) / (std + 1e-4), std Bessel-corrected, over the group
  (`scale_rewards="group"`), the whole batch (`"batch"`) or not at all (`"none"`, Dr. GRPO). Rewards may be None
  (a reward that does not apply): means and stds skip them and such a completion gets advantage 0.
- `grpo_loss`: per token −min(ρÂ, clip(ρ, 1−ε, 1+ε_high)Â) with ρ = exp(log π − log π_old), plus β·k3 KL to the
  reference after clipping, aggregated by `loss_type`: `grpo` (mean per sequence, then over sequences), `bnpo`
  (token mean of the micro-batch), `dr_grpo` (token sum / (B × max_completion_length)), `dapo` (token sum / the
  active tokens of the whole accumulated batch, `num_items_in_batch`; one micro-batch: as `bnpo`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

SCALE_REWARDS = ("group", "batch", "none")
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
EPS = 1e-4  # TRL's std floor


def group_advantages(rewards: Sequence[float | None] | torch.Tensor, num_generations: int,
                     scale_rewards: str | bool = "group") -> tuple[torch.Tensor, dict[str, float]]:
    """Advantages (B,) of rewards laid out group by group (G = `num_generations` consecutive completions of one
    prompt), and stats: `frac_reward_zero_std` (groups whose scored rewards are all equal), reward mean/std."""
    if scale_rewards is True:
        scale_rewards = "group"
    if scale_rewards not in SCALE_REWARDS:
        raise ValueError(f"scale_rewards must be one of {SCALE_REWARDS}, got {scale_rewards!r}")
    r = rewards.float() if isinstance(rewards, torch.Tensor) else torch.tensor(
        [float("nan") if x is None else float(x) for x in rewards])
    if num_generations < 2 or r.numel() % num_generations:
        raise ValueError(f"{r.numel()} rewards do not split into groups of num_generations={num_generations} (≥ 2)")
    grouped = r.view(-1, num_generations)
    scored = ~torch.isnan(grouped)
    mean = _nanmean(grouped, 1, keepdim=True)
    std = _nanstd(grouped, 1, keepdim=True)
    if scale_rewards == "batch":
        std = _nanstd(r, 0).expand_as(std)
    advantages = grouped - mean
    if scale_rewards != "none":
        advantages = advantages / (std + EPS)
    # a group with one scored completion has no spread: its advantage is 0 (r − mean), not 0 / NaN
    advantages = torch.where(scored, torch.nan_to_num(advantages, nan=0.0), torch.zeros_like(advantages)).view(-1)
    zero_std = (torch.nan_to_num(std, nan=0.0) < 1e-8).float().mean().item()
    return advantages, {"frac_reward_zero_std": zero_std, "reward": _nanmean(r, 0).item(),
                        "reward_std": _nanstd(r, 0).item()}


def _nanmean(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    return torch.nanmean(x, dim=dim, keepdim=keepdim)


def _nanstd(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """Bessel-corrected std over the non-NaN entries (NaN where fewer than two)."""
    n = (~torch.isnan(x)).sum(dim=dim, keepdim=True).float()
    dev = torch.nan_to_num(x - torch.nanmean(x, dim=dim, keepdim=True), nan=0.0)
    var = (dev ** 2).sum(dim=dim, keepdim=True) / (n - 1)
    std = torch.where(n > 1, var.sqrt(), torch.full_like(var, float("nan")))
    return std if keepdim else std.squeeze(dim)


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor | None, ref_logps: torch.Tensor | None,
              advantages: torch.Tensor, mask: torch.Tensor, *, loss_type: str = "dapo", epsilon: float = 0.2,
              epsilon_high: float | None = None, beta: float = 0.0, max_completion_length: int | None = None,
              num_items_in_batch: int | float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of per-token log-probs `logps` (B, T) under the policy, with `old_logps` those that sampled them
    (None: on-policy, the detached current ones, so ρ = 1), `ref_logps` the reference's (needed when β ≠ 0),
    `advantages` (B,), `mask` (B, T) 1 on completion tokens. Stats: clip ratios (low, high, region), KL, ρ mean."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if beta != 0.0 and ref_logps is None:
        raise ValueError("beta ≠ 0 needs the reference model's log-probs")
    mask = mask.to(logps.dtype)
    old = logps.detach() if old_logps is None else old_logps
    high = epsilon if epsilon_high is None else epsilon_high
    ratio = torch.exp(logps - old)
    adv = advantages.to(logps.dtype).unsqueeze(1)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + high) * adv)
    kl = None
    if beta != 0.0:
        delta = ref_logps - logps
        kl = torch.exp(delta) - delta - 1
        per_token = per_token + beta * kl
    tokens = mask.sum().clamp(min=1.0)
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = (per_token * mask).sum() / tokens
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (logps.shape[0] * (max_completion_length or logps.shape[1]))
    else:
        loss = (per_token * mask).sum() / (num_items_in_batch if num_items_in_batch is not None else tokens)

    def share(flags: torch.Tensor) -> float:
        return ((flags.to(mask.dtype) * mask).sum() / tokens).item()

    low, up = (ratio < 1 - epsilon) & (adv < 0), (ratio > 1 + high) & (adv > 0)
    stats = {"clip_ratio/low_mean": share(low), "clip_ratio/high_mean": share(up),
             "clip_ratio/region_mean": share(low | up), "ratio": ((ratio * mask).sum() / tokens).item()}
    if kl is not None:
        stats["kl"] = ((kl * mask).sum() / tokens).item()
    return loss, stats
