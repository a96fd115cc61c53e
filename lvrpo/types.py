"""The few dataclasses everything speaks: Sample -> Request -> Output -> Score -> Summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image

Kind = Literal["understand", "generate", "edit"]


class LvrpoError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero."""


class NothingScored(LvrpoError):
    """No number can be given for a benchmark (every sample unscored, or no complete group). Its scores are kept;
    in a suite the other benchmarks still run, and the command fails at the end."""


@dataclass
class Sample:
    """One benchmark row in the official schema. `row` holds the official columns as loaded."""

    id: str
    row: dict[str, Any]
    base_dir: Path | None = None  # where relative image paths in `row` are resolved

    def image(self, column: str = "image") -> Image.Image:
        """The decoded image in `column` (HF `Image` value, bytes, or a path relative to the file)."""
        from lvrpo.data.images import decode_image

        return decode_image(self.row.get(column), self.base_dir, where=f"sample {self.id}, column {column!r}")


@dataclass
class Request:
    """What a model is asked: the official prompt plus the images it refers to, in order."""

    id: str
    kind: Kind
    prompt: str
    images: list[Image.Image] = field(default_factory=list)
    max_new_tokens: int = 16
    num_images: int = 1  # images wanted per prompt (generate/edit)
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # benchmark defaults a backend may honour
    bench: str = ""  # which benchmark asked (replay keys, per-benchmark generation settings)


@dataclass
class Output:
    """What a model answered: text (understand) or image paths (generate/edit), or why it failed."""

    id: str
    text: str | None = None
    images: list[str] = field(default_factory=list)  # paths relative to the predictions file
    error: str | None = None  # the model could not answer (scored as the benchmark scores a failed answer)
    data_error: str | None = None  # the benchmark row itself is defective (unscored, never a wrong answer)
    extra: dict[str, Any] = field(default_factory=dict)  # other fields of a predictions line, kept as given

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {**self.extra, "id": self.id}
        if self.text is not None:
            d["output"] = self.text
        if self.images:
            d["images"] = list(self.images)
        if self.error is not None:
            d["error"] = self.error
        if self.data_error is not None:
            d["data_error"] = self.data_error
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Output:
        images = d.get("images")
        if images is None and d.get("image") is not None:
            images = [d["image"]]
        extra = {k: v for k, v in d.items()
                 if k not in ("id", "output", "image", "images", "error", "data_error", "bench", "input")}
        return cls(id=str(d["id"]), text=d.get("output"), images=list(images or []), error=d.get("error"),
                   data_error=d.get("data_error"), extra=extra)


@dataclass
class Score:
    """One sample's score. `value` is None when the sample could not be scored (then `reason` says why).

    `meta` carries what `aggregate` needs (category, image group, ...), so a summary can be rebuilt
    from stored scores alone.
    """

    id: str
    value: float | None
    parsed: Any = None
    target: Any = None
    reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Score:
        return cls(**{k: d.get(k) for k in ("id", "value", "parsed", "target", "reason")}, meta=d.get("meta") or {})


@dataclass
class Summary:
    """A benchmark's result on the official scale: headline metrics plus breakdown and coverage."""

    bench: str
    metrics: dict[str, float]  # leaderboard columns, e.g. {"MME-P": 963.61, "MME-C": 249.64}
    headline: str  # the key in `metrics` papers quote first
    breakdown: dict[str, Any] = field(default_factory=dict)
    n: int = 0
    n_scored: int = 0
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # what was scored: rows, content fingerprint, scorer

    @property
    def coverage(self) -> float:
        return self.n_scored / self.n if self.n else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["coverage"] = round(self.coverage, 6)
        return d


@dataclass
class Context:
    """What scoring may need beyond text parsing: a judge, a detector, a seed."""

    judge: Any = None
    detector: Any = None
    color_classifier: Any = None
    seed: int = 0

    def for_bench(self, bench: str) -> Context:
        """This context as `bench` sees it: a judge that serves only some benchmarks (`serves`, as the world
        oracle does) is absent for the others, which then use their rules (MathVista, MMBench)."""
        serves = getattr(self.judge, "serves", None)
        return self if serves is None or bench in serves else replace(self, judge=None)
