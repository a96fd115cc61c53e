"""The GRPO loop for Janus-class models (`lvrpo train`): rollouts per task, benchmark rewards, per-task advantages
and losses, checkpoints and resume, benchmark evaluation on the test split every `eval_every` steps.

Each step draws `prompts_per_task` training prompts for every benchmark of the reward suite (never its test split:
with world data, the world's train split), samples `num_generations` completions each (images for GenEval/WISE,
answers for the understanding benchmarks), rewards them with the adapters' scorers (`lvrpo.rewards`), normalises
advantages within each group, and averages the clipped-surrogate loss **per task** before summing the tasks, so 64
image tokens per rollout do not drown a one-letter answer (spec grpo-trainers.md §6.5). Rollouts are used once
(`num_iterations` 1: the old log-probs are the detached current ones, ratio 1, as TRL does). `metrics.jsonl` gets a
line per step; a checkpoint (weights as safetensors + optimizer + RNG + step) every `save_every` steps and at the
end, and rerunning the same command resumes from the last one. A step whose loss is not finite is skipped and
logged; three in a row stop the run with the last good checkpoint kept.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lvrpo.grpo.loss import group_advantages, grpo_loss
from lvrpo.grpo.policy import JanusImagePolicy, JanusTextPolicy
from lvrpo.rewards import RewardSuite
from lvrpo.types import LvrpoError, Output, Sample


@dataclass
class GRPOConfig:
    """TRL's names where TRL has the knob (`num_generations`, `learning_rate`, `beta`, `epsilon`, `epsilon_high`,
    `loss_type`, `scale_rewards`, `max_completion_length`), plus the image-token ones of spec §6.4."""

    steps: int = 100
    num_generations: int = 8
    prompts_per_task: int = 4
    learning_rate: float = 1e-5
    beta: float = 0.0
    epsilon: float = 0.2
    epsilon_high: float | None = None
    loss_type: str = "grpo"
    scale_rewards: str = "group"
    max_completion_length: int = 32
    temperature: float = 1.0
    cfg_weight: float = 3.0
    image_temperature: float = 1.0
    detach_uncond: bool = True
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    save_every: int = 50
    eval_every: int = 0
    seed: int = 0

    def check(self) -> None:
        if self.num_generations < 2:
            raise LvrpoError(f"--num-generations {self.num_generations}: GRPO needs at least 2 completions per prompt")
        if self.steps < 1 or self.prompts_per_task < 1 or self.gradient_accumulation_steps < 1:
            raise LvrpoError("--steps, --prompts-per-task and --gradient-accumulation-steps must be at least 1")


class Trainer:
    def __init__(self, model, processor, rewards: RewardSuite, train: dict[str, list[Sample]], out: Path,
                 config: GRPOConfig, *, evaluate: Callable[[Path, int], dict[str, float]] | None = None,
                 log: Callable[[dict[str, Any]], None] | None = None):
        from lvrpo.evals import get_adapter

        config.check()
        self.model, self.processor, self.rewards, self.out, self.config = model, processor, rewards, out, config
        self.train_samples, self.evaluate, self.log = train, evaluate, log or (lambda _: None)
        self.adapters = {b: get_adapter(b) for b in train}
        self.image = JanusImagePolicy(model, processor, cfg_weight=config.cfg_weight,
                                      temperature=config.image_temperature, detach_uncond=config.detach_uncond)
        self.text = JanusTextPolicy(model, processor, temperature=config.temperature,
                                    max_new_tokens=config.max_completion_length)
        self.reference = None
        if config.beta != 0.0:  # a frozen copy of the starting model, only when the KL term is on (TRL's rule)
            import copy

            ref = copy.deepcopy(model).eval().requires_grad_(False)
            self.reference = {"image": JanusImagePolicy(ref, processor, cfg_weight=config.cfg_weight,
                                                        temperature=config.image_temperature),
                              "text": JanusTextPolicy(ref, processor, temperature=config.temperature,
                                                      max_new_tokens=config.max_completion_length)}
        trainable = [p for n, p in model.named_parameters() if not n.startswith("model.vqmodel")]
        for p in model.model.vqmodel.parameters():  # the VQ stays frozen (spec §6.10)
            p.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
        self.step, self.rng = 0, random.Random(config.seed)

    # ---------------------------------------------------------------------------------------------- rollouts

    def _rollout(self, bench: str, samples: list[Sample], seed: int):
        from lvrpo.models.prompting import render

        adapter, g = self.adapters[bench], self.config.num_generations
        requests = [adapter.request(s) for s in samples]
        if adapter.kind == "generate":
            policy, r = self.image, self.image.rollout([q.prompt for q in requests], g, seed)
            outputs = [Output(id=s.id, images=[img]) for s, img in zip(_repeat(samples, g), r.images, strict=True)]
        elif adapter.kind == "understand":
            rendered = [render(self.processor, q) for q in requests]
            policy = self.text
            r = policy.rollout([t for t, _ in rendered], [im for _, ims in rendered for im in ims], g, seed)
            outputs = [Output(id=s.id, text=t) for s, t in zip(_repeat(samples, g), r.texts, strict=True)]
        else:
            raise LvrpoError(f"lvrpo train: {bench} ({adapter.kind}) cannot be trained yet (text-to-image and "
                             "understanding benchmarks can)")
        rewards = self.rewards([(bench, s, o) for s, o in zip(_repeat(samples, g), outputs, strict=True)])
        return policy, r, rewards

    # ---------------------------------------------------------------------------------------------- one step

    def train_step(self) -> dict[str, Any]:
        """One optimiser step over `gradient_accumulation_steps` rollout batches (each backpropagated as it is
        made, so memory holds one); logged numbers are the means over those batches."""
        c, started = self.config, time.perf_counter()
        self.model.train()
        k, finite, micro = c.gradient_accumulation_steps, True, []
        for i in range(k):
            total, stats = self._micro_loss(seed=c.seed * 1_000_003 + (self.step * k + i) * 7919)
            micro.append(stats)
            finite = math.isfinite(float(total.detach()))
            if not finite:  # the step is skipped: no point in drawing the remaining batches
                break
            (total / k).backward()
        stats = {"step": self.step + 1, **{key: sum(m[key] for m in micro) / len(micro) for key in micro[0]}}
        if not finite:
            self.optimizer.zero_grad()
            stats["skipped"] = "loss not finite"
        else:
            stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], c.max_grad_norm))
            self.optimizer.step()
            self.optimizer.zero_grad()
        self.model.eval()
        self.step += 1
        stats["seconds"] = round(time.perf_counter() - started, 3)
        if self.rewards.failures:
            stats["reward_failures"] = self.rewards.failures[:]
            self.rewards.failures.clear()
        return stats

    def _micro_loss(self, seed: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Rollouts for every task of the suite, rewarded; the sum of the per-task losses and their stats."""
        c = self.config
        total, stats = torch.zeros(()), {}
        for bench, pool in self.train_samples.items():
            samples = self.rng.sample(pool, min(c.prompts_per_task, len(pool)))
            policy, r, rewards = self._rollout(bench, samples, seed)
            advantages, adv_stats = group_advantages(rewards, c.num_generations, c.scale_rewards)
            ref = None
            if self.reference is not None:
                with torch.no_grad():
                    ref = self.reference[policy.kind].log_probs(r)
            loss, loss_stats = grpo_loss(policy.log_probs(r), None, ref, advantages, r.completion_mask,
                                         loss_type=c.loss_type, epsilon=c.epsilon, epsilon_high=c.epsilon_high,
                                         beta=c.beta, max_completion_length=r.completions.shape[1])
            total = total + loss
            values = {**adv_stats, **loss_stats, "loss": loss.item()}
            stats.update({f"{bench}/{k}": float(v) for k, v in values.items()})
        return total, stats

    # ---------------------------------------------------------------------------------------------- the run

    def run(self) -> Path:
        """Train to `config.steps` (resuming from the last checkpoint in `out`); returns the final checkpoint."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._resume()
        bad = 0
        with (self.out / "metrics.jsonl").open("a", encoding="utf-8") as metrics:
            while self.step < self.config.steps:
                stats = self.train_step()
                bad = bad + 1 if "skipped" in stats else 0
                if self.evaluate and self.config.eval_every and self.step % self.config.eval_every == 0:
                    stats["eval"] = self.evaluate(self.save("eval"), self.step)
                metrics.write(json.dumps(stats) + "\n")
                metrics.flush()
                self.log(stats)
                if bad >= 3:
                    raise LvrpoError(f"lvrpo train: the loss was not finite 3 steps in a row (step {self.step}); the "
                                     f"last good checkpoint is kept in {self.out}")
                if self.step % self.config.save_every == 0 or self.step == self.config.steps:
                    self.save("last")
        return self.out / "last"

    def save(self, name: str) -> Path:
        """Weights (safetensors) + processor + optimizer + RNG + step in `out/name`, written then renamed."""
        final, tmp = self.out / name, self.out / f".{name}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.processor.save_pretrained(tmp)
        torch.save({"optimizer": self.optimizer.state_dict(), "step": self.step, "rng": self.rng.getstate(),
                    "torch_rng": torch.get_rng_state(), "config": asdict(self.config)}, tmp / "trainer_state.pt")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        return final

    def _resume(self) -> None:
        state_file = self.out / "last" / "trainer_state.pt"
        if not state_file.exists():
            return
        from safetensors.torch import load_file

        state = torch.load(state_file, weights_only=True)
        if state["config"] != asdict(self.config):
            raise LvrpoError(f"{self.out}: a run with another configuration is there (pass --overwrite to start "
                             "afresh)")
        self.model.load_state_dict(load_file(str(self.out / "last" / "model.safetensors")))
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, _ = state["step"], self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])


def _repeat(items: list, g: int) -> list:
    return [x for x in items for _ in range(g)]
