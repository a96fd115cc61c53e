"""`lvrpo train`: GRPO on a Janus-class checkpoint with benchmark scorers as rewards (see `lvrpo.grpo.trainer`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from lvrpo.types import LvrpoError

err = Console(stderr=True)
TRAINABLE = {"generate", "understand"}  # what the trainer's policies can learn today (editing: not yet)


def train_cmd(
    model: str = typer.Option(..., help="nano or a Janus-class checkpoint directory."),
    reward_suite: str = typer.Option(..., help="Benchmarks whose scorers are the rewards: geneval,mathvista or "
                                     "geneval=1.0,mathvista=0.5."),
    data: str = typer.Option("world", help="Training prompts: world (the world's train split)."),
    steps: int = typer.Option(100, help="Optimiser steps."),
    num_generations: int = typer.Option(8, help="Completions per prompt (G)."),
    prompts_per_task: int = typer.Option(4, help="Prompts per benchmark per step."),
    learning_rate: float = typer.Option(1e-5, help="AdamW learning rate."),
    beta: float = typer.Option(0.0, help="k3 KL weight to the frozen starting model (0: no reference loaded)."),
    epsilon: float = typer.Option(0.2, help="Lower clip range."),
    epsilon_high: float | None = typer.Option(None, help="Upper clip range (default: epsilon; DAPO uses 0.28)."),
    loss_type: str = typer.Option("grpo", help="grpo | bnpo | dr_grpo | dapo (per task, then summed)."),
    scale_rewards: str = typer.Option("group", help="group | batch | none."),
    cfg_weight: float = typer.Option(3.0, help="Classifier-free guidance of image rollouts."),
    gradient_accumulation_steps: int = typer.Option(1, help="Rollout batches per optimiser step."),
    eval_every: int = typer.Option(0, help="Evaluate the reward benchmarks on their test split every N steps."),
    save_every: int = typer.Option(50, help="Checkpoint every N steps (and at the end)."),
    out: Path = typer.Option(Path("runs/train"), help="Run directory (metrics.jsonl, checkpoints)."),
    seed: int = typer.Option(0, help="Seed of prompt draws and rollouts."),
    overwrite: bool = typer.Option(False, help="Start afresh where another run's checkpoint is."),
    quiet: bool = typer.Option(False, help="No per-step lines."),
) -> None:
    """Train with GRPO, the benchmark scorers as rewards; the result is a normal `--model` for `lvrpo eval`."""
    import shutil

    from lvrpo.evals import get_adapter
    from lvrpo.grpo.trainer import GRPOConfig, Trainer
    from lvrpo.models import checkpoint_config
    from lvrpo.models.janus import JanusBackend
    from lvrpo.rewards import RewardSuite, parse_reward_suite
    from lvrpo.world.data import world_split

    weights = parse_reward_suite(reward_suite)
    config = GRPOConfig(steps=steps, num_generations=num_generations, prompts_per_task=prompts_per_task,
                        learning_rate=learning_rate, beta=beta, epsilon=epsilon, epsilon_high=epsilon_high,
                        loss_type=loss_type, scale_rewards=scale_rewards, cfg_weight=cfg_weight,
                        gradient_accumulation_steps=gradient_accumulation_steps, eval_every=eval_every,
                        save_every=save_every, seed=seed)
    config.check()
    if world_split(data) is None:
        raise LvrpoError(f"--data {data}: lvrpo train reads the world's train split for now (--data world)")
    if model == "nano":
        from lvrpo.world.nano import checkpoint

        model = checkpoint()
    filename, found = checkpoint_config(model)
    can = JanusBackend.capabilities_for(found) if found.get("model_type") == "janus" else set()
    if not can:
        raise LvrpoError(f"--model {model}: lvrpo train takes Janus-class checkpoints (model_type janus) for now")
    adapters = {spec: get_adapter(spec) for spec in weights}
    for spec, a in adapters.items():  # decided from config.json, before any weights load
        if a.kind not in can:
            raise LvrpoError(f"--reward-suite {spec}: the model cannot {a.kind} ({', '.join(sorted(can))} only)")
        if a.kind not in TRAINABLE:
            raise LvrpoError(f"--reward-suite {spec}: training for {a.kind} benchmarks is not supported yet")
    train = {spec: a.load("world:train") for spec, a in adapters.items()}
    if empty := [s for s, rows in train.items() if not rows]:
        raise LvrpoError(f"--data world: the world's train split holds no {', '.join(empty)} prompts")
    if overwrite and out.exists():
        shutil.rmtree(out)

    from transformers import AutoProcessor, JanusForConditionalGeneration

    from lvrpo.cli import make_context

    ctx = make_context("world", "world", seed)  # the world's judge and detector, as `lvrpo eval --data world`
    net = JanusForConditionalGeneration.from_pretrained(model)
    processor = AutoProcessor.from_pretrained(model)
    processor.tokenizer.padding_side = "left"

    def show(stats: dict) -> None:
        if not quiet:
            rewards = ", ".join(f"{b} {stats[f'{b}/reward']:.3f}" for b in weights if f"{b}/reward" in stats)
            err.print(f"step {stats['step']}/{steps}: reward {rewards} ({stats['seconds']:.1f} s)", highlight=False)

    def evaluate(path: Path, step: int) -> dict[str, float]:
        return evaluate_checkpoint(path, list(weights), out / f"eval-{step:05d}")

    trainer = Trainer(net, processor, RewardSuite(weights, ctx), train, out, config,
                      evaluate=evaluate if eval_every else None, log=show)
    last = trainer.run()
    err.print(f"trained checkpoint: {last} (metrics in {out / 'metrics.jsonl'}); evaluate it with: "
              f"lvrpo eval --model {last} --suite {','.join(weights)} --data world", highlight=False, soft_wrap=True)


def evaluate_checkpoint(path: Path, benches: list[str], out: Path) -> dict[str, float]:
    """Headlines of `lvrpo eval` on the world test split for a checkpoint (the curve a user watches)."""
    from lvrpo.cli import make_context
    from lvrpo.evals import get_adapter
    from lvrpo.models import load_backend
    from lvrpo.runner import Bars, run_benchmark

    backend = load_backend(str(path), "janus")
    ctx = make_context("world", "world", 0)
    heads = {}
    for spec in benches:
        adapter = get_adapter(spec)
        summary = run_benchmark(adapter, backend, out / spec.replace(":", "_"), source="world", split=None,
                                limit=None, batch_size=16, ctx=ctx, bars=Bars(True))
        heads[spec] = summary.metrics[summary.headline]
    (out / "headlines.json").write_text(json.dumps(heads))
    return heads
