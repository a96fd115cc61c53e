"""The benchmark registry: names, suites, and `name:variant` specs."""

from __future__ import annotations

import importlib

from lvrpo.evals.base import Adapter
from lvrpo.types import LvrpoError

UNDERSTANDING = ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp")
GENERATION = ("geneval", "wise", "gedit")
BENCHMARKS = UNDERSTANDING + GENERATION
SUITES = {"all": BENCHMARKS, "understanding": UNDERSTANDING, "generation": GENERATION}


def get_adapter(spec: str) -> Adapter:
    """The adapter for `name` or `name:variant` (e.g. `mmbench:en_dev`, `gedit:cn`)."""
    name, _, variant = spec.strip().partition(":")
    if name not in BENCHMARKS:
        raise LvrpoError(f"unknown benchmark {name!r} (valid: {', '.join(BENCHMARKS)})")
    try:
        module = importlib.import_module(f"lvrpo.evals.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"lvrpo.evals.{name}":
            raise
        raise LvrpoError(f"benchmark {name!r} is not implemented yet") from None
    return module.ADAPTER(variant or None)


def resolve_suite(suite: str) -> list[Adapter]:
    """Adapters for `all`, `understanding`, `generation`, or a comma list of benchmark specs."""
    if suite in SUITES:
        specs = list(SUITES[suite])
    else:
        specs = [s.strip() for s in suite.split(",") if s.strip()]
        for s in specs:
            if s.partition(":")[0] not in BENCHMARKS:
                raise LvrpoError(
                    f"unknown benchmark or suite {s!r} (suites: {', '.join(SUITES)}; "
                    f"benchmarks: {', '.join(BENCHMARKS)})"
                )
    if not specs:
        raise LvrpoError(f"empty suite (suites: {', '.join(SUITES)}; benchmarks: {', '.join(BENCHMARKS)})")
    adapters = [get_adapter(s) for s in specs]
    keys = [a.spec for a in adapters]
    if len(set(keys)) != len(keys):
        raise LvrpoError(f"suite {suite!r} names a benchmark twice")
    return adapters
