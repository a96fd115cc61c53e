"""Compact GRPO: group advantages and the clipped surrogate loss, with TRL semantics (the loop: `lvrpo train`)."""

from lvrpo.grpo.loss import LOSS_TYPES, SCALE_REWARDS, group_advantages, grpo_loss

__all__ = ["LOSS_TYPES", "SCALE_REWARDS", "group_advantages", "grpo_loss"]
