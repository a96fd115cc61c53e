"""`--data world`: ShapesWorld rows for any of the nine benchmarks, as the unchanged adapters read them.

`world` is the test split (fixed, versioned by `WORLD_VERSION`), `world:train` the training split; `--split train`
or `--split test` with `--data world` picks the same. The adapter keeps its own official split name (MMMU
"validation", MathVista "testmini", …), so its scoring rules are the ones the official split uses.

Sizes are fixed per split: the test split holds each generator's default number of items (`UNDERSTANDING`,
`GENERATION`), the train split `TRAIN_FACTOR` times as many. `--limit N` takes the first N samples of that (all of
them when N is larger; the CLI says so). Variants the world does not generate (MMBench Chinese or test, …) are a
one-line error, as is an unknown split.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lvrpo.types import LvrpoError
from lvrpo.world.scenes import SPLITS, WORLD_VERSION

if TYPE_CHECKING:
    from lvrpo.evals.base import Adapter

TRAIN_FACTOR = 10
# Variants the world generates, per benchmark (GenEval's nK only changes images per prompt: all are fine).
VARIANTS: dict[str, tuple[str, ...] | None] = {
    "mme": None, "mmbench": ("en_dev",), "mmmu": None, "mathvista": None, "mmvet": None, "mmvp": None,
    "geneval": None, "wise": ("legacy", "verified"), "gedit": ("en", "cn", "en_intersection", "cn_intersection"),
}


def world_split(source: str) -> str | None:
    """The world split `source` names (`world` → test, `world:SPLIT`), or None when it is not the world."""
    if source == "world":
        return "test"
    if source.startswith("world:"):
        split = source[len("world:"):]
        if split not in SPLITS:
            raise LvrpoError(f"--data {source}: the world has no split {split!r} (valid: {', '.join(SPLITS)})")
        return split
    return None


def with_world_split(sources: dict[str, str], split: str | None) -> tuple[dict[str, str], str | None]:
    """`--split train|test` applied to world sources (as `world:SPLIT`); the split passed on to the adapters is
    then their own default. Another split with world data is an error."""
    if not any(world_split(s) for s in sources.values()):
        return sources, split
    if split is not None and split not in SPLITS:
        raise LvrpoError(f"--split {split!r}: --data world has the splits {', '.join(SPLITS)}")
    if split is None:
        return sources, None
    if any(world_split(s) is None for s in sources.values()):
        raise LvrpoError(f"--split {split!r} with --data world applies to every benchmark: give the other "
                         "benchmarks' data their own source or drop --split")
    return {b: f"world:{split}" for b in sources}, None


def generator(bench: str) -> tuple[Callable[..., list[dict]], int]:
    """(rows function, default number of test items) of `bench`'s world generator."""
    if bench in ("geneval", "wise", "gedit"):
        from lvrpo.world.generation import GENERATION as table
    else:
        from lvrpo.world.understanding import UNDERSTANDING as table
    if bench not in table:
        raise LvrpoError(f"--data world: no world generator for {bench}")
    return table[bench]


def check_variant(adapter: Adapter) -> None:
    allowed = VARIANTS.get(adapter.name, ())
    if allowed is not None and adapter.variant not in allowed:
        have = ", ".join(allowed) if allowed else "none"
        raise LvrpoError(f"--data world: no {adapter.spec} in the world (world variants of {adapter.name}: {have})")


def world_rows(adapter: Adapter, split: str) -> list[dict[str, Any]]:
    """The rows of `adapter`'s benchmark in the world's `split`, in the benchmark's official schema."""
    check_variant(adapter)
    variant = adapter.variant if adapter.name == "wise" else None
    return [dict(r) for r in _rows(adapter.name, split, variant)]


@lru_cache(maxsize=32)
def _rows(bench: str, split: str, variant: str | None) -> tuple[dict[str, Any], ...]:
    fn, n = generator(bench)
    n = n if split == "test" else n * TRAIN_FACTOR
    return tuple(fn(split, n, variant) if variant else fn(split, n))


def origin(split: str) -> str:
    """How a world source is named in messages and manifests."""
    return f"ShapesWorld v{WORLD_VERSION} ({split})"


def default_oracles(sources: dict[str, str], adapters: list[Adapter], judge: str | None,
                    detector: str | None) -> tuple[str | None, str]:
    """`--judge` and `--detector` when not given: the world's oracles where the benchmarks that need one read
    world data (so `--data world` needs neither), else no judge and the official GenEval detector."""
    on_world = [a for a in adapters if world_split(sources[a.spec]) is not None]
    judged = [a for a in adapters if a.needs_judge]
    if judge is None and judged and all(a in on_world for a in judged):
        judge = "world"
    if detector is None:
        detector = "world" if any(a.needs_detector for a in on_world) else "mask2former"
    return judge, detector
