"""Rewards for GRPO: the benchmarks' own scorers, so the number training raises is the number `lvrpo eval` prints.

`--reward-suite geneval,mathvista` (optionally weighted, `geneval=1.0,mathvista=0.5`) builds a `RewardSuite`: per
rollout, the reward of the benchmark whose prompt it answers — the adapter's `partial_reward` where the benchmark
has structure (GenEval: the fraction of clauses satisfied; its strict 0/1 stays the eval metric), else its
`reward` — times the weight. None means "does not apply" (TRL's convention): another benchmark's sample, or one
that could not be scored. A reward that raises or returns NaN gives None too, and the failure is kept in
`RewardSuite.failures` with the sample id, so training goes on and the log says what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from lvrpo.types import Context, LvrpoError, Output, Sample


class Reward(Protocol):
    """A batch of (benchmark, sample, output) rollouts → one reward per rollout, None where it does not apply."""

    def __call__(self, rollouts: list[tuple[str, Sample, Output]]) -> list[float | None]: ...


def parse_reward_suite(text: str) -> dict[str, float]:
    """`geneval,mathvista` or `geneval=1.0,mathvista=0.5` → {benchmark spec: weight}; LvrpoError on bad input."""
    from lvrpo.evals import get_adapter

    weights: dict[str, float] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        name, eq, raw = item.partition("=")
        name = name.strip()
        try:
            weight = float(raw) if eq else 1.0
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight <= 0:
            raise LvrpoError(f"--reward-suite {item!r}: the weight must be a positive number")
        spec = get_adapter(name).spec  # unknown names fail here, with the list of benchmarks
        if spec in weights:
            raise LvrpoError(f"--reward-suite names {spec} twice")
        weights[spec] = weight
    if not weights:
        raise LvrpoError("--reward-suite is empty: name at least one benchmark (e.g. geneval,mathvista)")
    return weights


@dataclass
class RewardSuite:
    """Weighted benchmark rewards (see the module docstring)."""

    weights: dict[str, float]
    ctx: Context
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (benchmark, sample id, why)

    def __post_init__(self) -> None:
        from lvrpo.evals import get_adapter

        self.adapters = {spec: get_adapter(spec) for spec in self.weights}

    @classmethod
    def parse(cls, text: str, ctx: Context) -> RewardSuite:
        return cls(parse_reward_suite(text), ctx)

    def kinds(self) -> set[str]:
        """What the policy must do to earn these rewards (understand, generate, edit)."""
        return {a.kind for a in self.adapters.values()}

    def __call__(self, rollouts: list[tuple[str, Sample, Output]]) -> list[float | None]:
        return [self.one(bench, sample, output) for bench, sample, output in rollouts]

    def one(self, bench: str, sample: Sample, output: Output) -> float | None:
        adapter = self.adapters.get(bench)
        if adapter is None:
            return None
        ctx = self.ctx.for_bench(adapter.name)
        scorer = getattr(adapter, "partial_reward", adapter.reward)
        try:
            value = scorer(sample, output, ctx)
        except Exception as e:  # a crashing reward must not end a training run: logged, no reward
            self.failures.append((bench, sample.id, f"{type(e).__name__}: {e}"))
            return None
        if value is None:
            return None
        if not math.isfinite(value):
            self.failures.append((bench, sample.id, f"reward {value!r}"))
            return None
        return self.weights[bench] * float(value)
