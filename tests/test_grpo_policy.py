"""GRPO policies on a tiny random Janus: groups sampled, log-probs recomputed under the sampling distribution
(ratio 1 on the first pass), and one optimiser step on `grpo_loss` raises the log-prob of the completion with the
positive advantage (spec grpo-trainers.md §6.12)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from lvrpo.grpo import group_advantages, grpo_loss
from lvrpo.grpo.policy import JanusImagePolicy, JanusTextPolicy
from lvrpo.testing.janus import tiny_janus


@pytest.fixture(scope="module")
def janus(tmp_path_factory):
    from transformers import AutoProcessor, JanusForConditionalGeneration

    path = tiny_janus(tmp_path_factory.mktemp("janus") / "ckpt")
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    return JanusForConditionalGeneration.from_pretrained(path), processor


def _step_raises_the_rewarded_sample(policy, rollouts, rewards, num_generations):
    advantages, _ = group_advantages(rewards, num_generations, "group")
    before = policy.log_probs(rollouts).detach()
    mask = rollouts.completion_mask
    seq = lambda lp: (lp * mask).sum(-1) / mask.sum(-1)  # noqa: E731
    optim = torch.optim.SGD(policy.model.parameters(), lr=1e-3)  # small: the first-order effect
    loss, stats = grpo_loss(policy.log_probs(rollouts), None, None, advantages, mask, loss_type="grpo")
    assert stats["ratio"] == pytest.approx(1.0) and stats["clip_ratio/region_mean"] == 0.0
    loss.backward()
    optim.step()
    optim.zero_grad()
    after = policy.log_probs(rollouts).detach()
    best = int(torch.tensor(rewards).argmax())
    assert seq(after)[best] > seq(before)[best]


def test_image_policy(janus):
    model, processor = janus
    policy = JanusImagePolicy(model, processor, cfg_weight=3.0, temperature=1.0)
    r = policy.rollout(["a photo of a red circle", "two"], num_generations=3, seed=0)
    assert r.completions.shape == (6, 16) and len(r.images) == 6 and r.input_ids.shape[0] == 6
    again = policy.rollout(["a photo of a red circle", "two"], num_generations=3, seed=0)
    assert torch.equal(r.completions, again.completions)  # seeded
    with torch.no_grad():
        lp = policy.log_probs(r)
    assert lp.shape == (6, 16) and (lp <= 0).all()
    _step_raises_the_rewarded_sample(policy, r, [1.0, 0.0, 0.0, 0.2, 0.5, 0.9], 3)


def test_text_policy(janus):
    model, processor = janus
    policy = JanusTextPolicy(model, processor, temperature=1.0, max_new_tokens=6)
    chat = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {
        "type": "text", "text": "Is the square red? Answer yes or no."}]}], add_generation_prompt=True)
    images = [Image.new("RGB", (32, 32), (200, 30, 30)), Image.new("RGB", (32, 32), (30, 30, 200))]
    r = policy.rollout([chat, chat], images, num_generations=2, seed=1)
    assert r.completions.shape[0] == 4 and len(r.texts) == 4
    image_token = processor.tokenizer.convert_tokens_to_ids("<image_placeholder>")
    assert not (r.completions == image_token).any()  # special tokens are never sampled
    _step_raises_the_rewarded_sample(policy, r, [1.0, 0.0, 0.0, 1.0], 2)
