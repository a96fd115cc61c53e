"""`group_advantages` and `grpo_loss` on hand-computed batches, per `scale_rewards` and `loss_type` (TRL's
formulas: Bessel std + 1e-4; clipped surrogate; k3 KL after clipping; grpo / bnpo / dr_grpo / dapo)."""

from __future__ import annotations

import math

import pytest
import torch

from lvrpo.grpo import group_advantages, grpo_loss


def test_group_advantages_per_scale_rewards():
    rewards = [1.0, 0.0, 0.0, 0.5, 0.5, 0.5]  # two groups of 3, the second without spread
    std1 = math.sqrt(((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2)  # Bessel: ÷ (n − 1)
    adv, stats = group_advantages(rewards, 3, "group")
    assert adv[:3].tolist() == pytest.approx([(2 / 3) / (std1 + 1e-4), (-1 / 3) / (std1 + 1e-4)] + [
        (-1 / 3) / (std1 + 1e-4)])
    assert adv[3:].tolist() == [0.0, 0.0, 0.0]
    assert stats["frac_reward_zero_std"] == 0.5
    none, _ = group_advantages(rewards, 3, "none")
    assert none.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0])
    batch, _ = group_advantages(rewards, 3, "batch")
    std_all = torch.tensor(rewards).std().item()  # torch's std is Bessel-corrected
    assert batch[0].item() == pytest.approx((2 / 3) / (std_all + 1e-4))
    assert group_advantages(rewards, 3, True)[0].tolist() == adv.tolist()  # True means "group"


def test_rewards_that_do_not_apply_get_advantage_zero_and_are_left_out_of_the_statistics():
    adv, _ = group_advantages([1.0, None, 0.0, None, None, 2.0], 3, "none")
    assert adv.tolist() == [0.5, 0.0, -0.5, 0.0, 0.0, 0.0]  # group 2: one scored, no spread


def test_bad_groups_are_refused():
    with pytest.raises(ValueError, match="num_generations"):
        group_advantages([1.0, 0.0, 1.0], 2)
    with pytest.raises(ValueError, match="≥ 2"):
        group_advantages([1.0, 0.0], 1)
    with pytest.raises(ValueError, match="scale_rewards"):
        group_advantages([1.0, 0.0], 2, "median")


LOGPS = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, -9.0]])
OLD = torch.tensor([[-1.2, -2.0, -2.5], [-0.5, -1.0, -9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
ADV = torch.tensor([1.0, -2.0])


def _per_token(eps_low=0.2, eps_high=0.2):
    out = []
    for i in range(2):
        row = []
        for t in range(3):
            rho = math.exp(LOGPS[i, t] - OLD[i, t])
            a = ADV[i].item()
            row.append(-min(rho * a, min(max(rho, 1 - eps_low), 1 + eps_high) * a))
        out.append(row)
    return out


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_grpo_loss_aggregations(loss_type):
    pt = _per_token()
    sums = [sum(pt[0]), pt[1][0] + pt[1][1]]
    expected = {"grpo": (sums[0] / 3 + sums[1] / 2) / 2, "bnpo": sum(sums) / 5, "dr_grpo": sum(sums) / (2 * 4),
                "dapo": sum(sums) / 10}[loss_type]
    loss, stats = grpo_loss(LOGPS, OLD, None, ADV, MASK, loss_type=loss_type, max_completion_length=4,
                            num_items_in_batch=10)
    assert loss.item() == pytest.approx(expected)
    # token (0, 0): ρ = e^0.2 > 1.2 with Â > 0 → high-clipped; token (1, 1): ρ = e^-0.5 < 0.8 with Â < 0 → low
    assert stats["clip_ratio/high_mean"] == pytest.approx(1 / 5)
    assert stats["clip_ratio/low_mean"] == pytest.approx(1 / 5)


def test_epsilon_high_and_on_policy_ratio_one():
    loss, stats = grpo_loss(LOGPS, OLD, None, ADV, MASK, loss_type="bnpo", epsilon_high=0.28)
    pt = _per_token(0.2, 0.28)
    assert loss.item() == pytest.approx((sum(pt[0]) + pt[1][0] + pt[1][1]) / 5)
    logps = LOGPS.clone().requires_grad_(True)
    loss, stats = grpo_loss(logps, None, None, ADV, MASK, loss_type="grpo")
    assert stats["ratio"] == 1.0 and stats["clip_ratio/region_mean"] == 0.0
    assert loss.item() == pytest.approx(-(1.0 - 2.0) / 2)  # −Â averaged per sequence, then over sequences
    loss.backward()  # a positive advantage raises its tokens' log-probs
    assert (logps.grad[0] < 0).all() and (logps.grad[1, :2] > 0).all() and logps.grad[1, 2] == 0


def test_k3_kl_is_added_after_clipping():
    ref = torch.tensor([[-1.1, -2.0, -3.5], [-0.4, -1.5, -9.0]])
    loss, stats = grpo_loss(LOGPS, OLD, ref, ADV, MASK, loss_type="bnpo", beta=0.1)
    pt = _per_token()
    kl = [[math.exp(r - lp) - (r - lp) - 1 for r, lp in zip(rr, ll, strict=True)]
          for rr, ll in zip(ref.tolist(), LOGPS.tolist(), strict=True)]
    active = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert loss.item() == pytest.approx(sum(pt[i][t] + 0.1 * kl[i][t] for i, t in active) / 5)
    assert stats["kl"] == pytest.approx(sum(kl[i][t] for i, t in active) / 5)
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(LOGPS, OLD, None, ADV, MASK, beta=0.1)
