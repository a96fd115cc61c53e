"""The GRPO loop on a tiny random Janus with world data: GenEval (images) and MME (answers) rewards, a metrics line
per step, checkpoints that load back with `from_pretrained`, resume, and refusal of a changed configuration."""

from __future__ import annotations

import json

import pytest
import torch

from lvrpo.evals import get_adapter
from lvrpo.grpo.trainer import GRPOConfig, Trainer
from lvrpo.rewards import RewardSuite
from lvrpo.testing.janus import tiny_janus
from lvrpo.types import Context, LvrpoError
from lvrpo.vision import make_detector


@pytest.fixture()
def parts(tmp_path):
    from transformers import AutoProcessor, JanusForConditionalGeneration

    path = tiny_janus(tmp_path / "ckpt")
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "left"
    ctx = Context()
    ctx.detector, ctx.color_classifier = make_detector("world")
    rewards = RewardSuite.parse("geneval,mme", ctx)
    train = {b: get_adapter(b).load("world:train")[:8] for b in ("geneval", "mme")}
    return (lambda: JanusForConditionalGeneration.from_pretrained(path)), processor, rewards, train


def test_steps_checkpoints_and_resume(parts, tmp_path):
    load, processor, rewards, train = parts
    config = GRPOConfig(steps=2, num_generations=2, prompts_per_task=2, learning_rate=1e-3, save_every=1,
                        max_completion_length=4)
    model = load()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    last = Trainer(model, processor, rewards, train, tmp_path / "run", config).run()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]
    assert {"geneval/reward", "mme/reward", "geneval/frac_reward_zero_std", "mme/clip_ratio/region_mean"} <= set(
        lines[0])
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed and not any(n.startswith("model.vqmodel") for n in changed)  # trained, VQ frozen

    from transformers import JanusForConditionalGeneration

    JanusForConditionalGeneration.from_pretrained(last)  # a normal checkpoint
    more = GRPOConfig(**{**config.__dict__, "steps": 3})
    with pytest.raises(LvrpoError, match="another configuration"):
        Trainer(load(), processor, rewards, train, tmp_path / "run", more).run()
    Trainer(load(), processor, rewards, train, tmp_path / "run", config).run()  # done: resumes at step 2, no step
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_config_errors(parts, tmp_path):
    load, processor, rewards, train = parts
    with pytest.raises(LvrpoError, match="at least 2 completions"):
        Trainer(load(), processor, rewards, train, tmp_path, GRPOConfig(num_generations=1))


def test_kl_to_the_frozen_start_is_logged_when_beta_is_on(parts, tmp_path):
    load, processor, rewards, train = parts
    config = GRPOConfig(steps=2, num_generations=2, prompts_per_task=1, learning_rate=1e-2, beta=0.1,
                        max_completion_length=3)
    trainer = Trainer(load(), processor, rewards, train, tmp_path / "run", config)
    first = trainer.train_step()
    assert first["geneval/kl"] == pytest.approx(0.0, abs=1e-6)  # the policy is still the reference
    with torch.no_grad():  # move the policy away from the reference, whatever the rewards did
        for p in trainer.model.model.generation_head.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert trainer.train_step()["geneval/kl"] > 0


def test_lvrpo_train_end_to_end_and_bad_input(tmp_path):
    from tests.util import run_cli

    ckpt = tiny_janus(tmp_path / "ckpt")
    out = tmp_path / "run"
    res = run_cli("train", "--model", str(ckpt), "--reward-suite", "geneval,mme=0.5", "--steps", "1",
                  "--num-generations", "2", "--prompts-per-task", "1", "--out", str(out), timeout=600)
    assert res.returncode == 0, res.stderr
    assert "step 1/1: reward geneval" in res.stderr and f"lvrpo eval --model {out / 'last'}" in res.stderr
    assert json.loads((out / "metrics.jsonl").read_text())["step"] == 1
    for args, needle in [(["--reward-suite", "gedit"], "the model cannot edit"),
                         (["--reward-suite", "mme", "--num-generations", "1"], "at least 2 completions"),
                         (["--reward-suite", "mme", "--data", "hub"], "world's train split"),
                         (["--reward-suite", "nope"], "nope")]:
        res = run_cli("train", "--model", str(ckpt), "--out", str(tmp_path / "bad"), *args)
        assert res.returncode == 1 and needle in res.stderr and "Traceback" not in res.stderr, (args, res.stderr)


def test_gradient_accumulation_averages_batches_into_one_step(parts, tmp_path):
    load, processor, rewards, train = parts
    config = GRPOConfig(steps=1, num_generations=2, prompts_per_task=1, learning_rate=1e-3,
                        max_completion_length=3, gradient_accumulation_steps=2)
    trainer = Trainer(load(), processor, rewards, train, tmp_path / "run", config)
    calls = []
    micro = trainer._micro_loss
    trainer._micro_loss = lambda seed: calls.append(seed) or micro(seed)
    stats = trainer.train_step()
    assert len(set(calls)) == 2 and trainer.step == 1  # two fresh rollout batches, one optimiser step
    assert 0.0 <= stats["mme/reward"] <= 1.0 and "grad_norm" in stats
    with pytest.raises(LvrpoError, match="gradient-accumulation-steps"):
        GRPOConfig(gradient_accumulation_steps=0).check()
