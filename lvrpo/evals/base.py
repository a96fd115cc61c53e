"""The benchmark adapter protocol. One small object per benchmark; see evals/mme.py for a complete one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PIL import Image

from lvrpo.types import Context, Kind, LvrpoError, Output, Request, Sample, Score, Summary


class Adapter:
    """Reads the official data, builds the official prompt, scores and aggregates as the official scorer.

    Subclasses set the class attributes and implement `request`, `score` and `aggregate`.
    """

    name: str = ""
    kind: Kind = "understand"
    hub_ids: tuple[str, ...] = ()  # official HF id first, then moved/mirror ids
    hub_config: str | None = None
    splits: tuple[str, ...] = ("test",)
    default_split: str = "test"
    id_column: str | None = None  # the official unique id column; None: the row index
    columns: tuple[str, ...] = ()  # needed to score
    request_columns: tuple[str, ...] = ()  # needed only to build requests (images)
    # gold-only columns: when only these change, stored predictions stay valid and are re-scored (any other
    # change re-predicts the sample; see lvrpo/data/fingerprint.py)
    answer_columns: tuple[str, ...] = ()
    scorer_version: str = "1"  # bump when the scoring rules change: stored scores are then recomputed
    variants: tuple[str, ...] = ()
    needs_judge: bool = False
    needs_detector: bool = False  # GenEval-style checks: ctx.detector / ctx.color_classifier from --detector
    local_score: bool = True  # False for hidden-answer splits: predictions go to a submission file instead
    require_complete: bool = False  # `lvrpo score` refuses a predictions set that leaves samples out (GenEval)

    def __init__(self, variant: str | None = None):
        if variant is not None and variant not in self.variants:
            valid = ", ".join(self.variants) if self.variants else "none"
            raise LvrpoError(f"{self.name}: unknown variant {variant!r} (valid variants: {valid})")
        self.variant = variant or (self.variants[0] if self.variants else None)

    @property
    def spec(self) -> str:
        """`name` or `name:variant`: the key of this benchmark in a run directory."""
        return f"{self.name}:{self.variant}" if self.variant and self.variant != self.variants[0] else self.name

    def load(self, source: str, split: str | None = None, *, for_requests: bool = True) -> list[Sample]:
        from lvrpo.data import load_samples

        split = split or self.default_split
        if split not in self.splits:
            raise LvrpoError(f"{self.name}: unknown split {split!r} (valid splits: {', '.join(self.splits)})")
        return load_samples(self, source, split, for_requests=for_requests)

    def normalise(self, row: dict[str, Any], where: str) -> dict[str, Any]:
        """The row with its cells in the types the official data has (e.g. a stringified list made a list), or an
        LvrpoError (see `bad_cell`) for a value the official data cannot have. Called once per loaded row."""
        return row

    def group(self, sample: Sample) -> str | None:
        """Samples that are only meaningful together (an image's question pair); `--limit` keeps groups whole."""
        return None

    def request(self, sample: Sample) -> Request:
        raise NotImplementedError

    def score(self, sample: Sample, output: Output, ctx: Context) -> Score:
        raise NotImplementedError

    def aggregate(self, scores: list[Score]) -> Summary:
        raise NotImplementedError

    def save_images(self, sample: Sample, images: list[Image.Image], out_dir: Path) -> list[str]:
        """Save a sample's generated images as PNG under `out_dir`; paths returned relative to it.

        Default layout `images/<id>/<k>.png`; adapters whose official scorer reads another layout override this.
        """
        folder = Path("images") / safe_name(sample.id)
        return write_images(images, out_dir, [folder / f"{k:04d}.png" for k in range(len(images))])

    def read_predictions_dir(self, path: Path) -> list[Output]:
        """Outputs from a directory of predictions in the benchmark's official layout (e.g. GenEval's folders)."""
        raise LvrpoError(f"{self.name}: --predictions must be a JSONL file ({path} is a directory)")

    def artifacts(self, scores: list[Score]) -> dict[str, str | bytes]:
        """Extra files written beside summary.json (e.g. an official submission file), by file name."""
        return {}

    def reward(self, sample: Sample, output: Output, ctx: Context) -> float | None:
        """Per-sample reward in [0, 1] for GRPO; None when the sample cannot be scored."""
        value = self.score(sample, output, ctx).value
        return None if value is None else min(1.0, max(0.0, float(value)))


def safe_name(value: Any) -> str:
    """`value` as a file or folder name: every run of other characters than `A-Za-z0-9._-` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))


def write_images(images: list[Image.Image], out_dir: Path, paths: list[Path | str]) -> list[str]:
    """Save `images[k]` as PNG at `out_dir / paths[k]` (folders made as needed); the relative paths as strings."""
    for img, rel in zip(images, paths, strict=True):
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(out_dir / rel)
    return [str(rel) for rel in paths]


def bad_cell(bench: str, column: str, where: str, value: Any, expected: str) -> LvrpoError:
    """One line naming benchmark, column, row and the type found, for a cell the official data cannot hold."""
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return LvrpoError(f"{bench}: column {column!r} in {where}: expected {expected}, found {type(value).__name__} "
                      f"{shown}")


def literal_list(bench: str, column: str, where: str, value: Any) -> list | None:
    """A list cell that may come stringified (`"['a', 'b']"`, as HF parquet exports store it): read it with
    `ast.literal_eval` (a literal parser, never `eval`). None and "" stay None."""
    import ast

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            raise bad_cell(bench, column, where, value, "a list") from None
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise bad_cell(bench, column, where, value, "a list")
    return list(value)


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def fields_of(scores: list[Score], key: str) -> dict[Any, list[Score]]:
    """Scores grouped by `meta[key]`, in first-seen order."""
    out: dict[Any, list[Score]] = {}
    for s in scores:
        out.setdefault(s.meta.get(key), []).append(s)
    return out
