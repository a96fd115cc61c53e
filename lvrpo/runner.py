"""The eval loop: Samples -> Requests -> model -> Outputs -> Scores -> Summary, resumable per sample."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lvrpo.data.fingerprint import data_fingerprint, input_digest, score_key
from lvrpo.data.images import ImageError
from lvrpo.evals.base import Adapter
from lvrpo.models.base import Backend, SampleError
from lvrpo.store import JsonlLog, write_json
from lvrpo.types import Context, LvrpoError, NothingScored, Output, Request, Sample, Score, Summary

Advance = Callable[[int], None]


class Bars:
    """Rich progress bars (with ETA) on stderr, one per task, or nothing when quiet."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    @contextmanager
    def task(self, description: str, total: int, done: int = 0) -> Iterator[Advance]:
        if self.quiet or total == 0:
            yield lambda n: None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True)) as progress:
            tid = progress.add_task(description, total=total, completed=done)
            yield lambda n: progress.advance(tid, n)


def apply_limit(samples: list[Sample], limit: int | None, group: Callable[[Sample], str | None]) -> list[Sample]:
    """The first `limit` samples, extended so that no group (an image's question pair...) is cut."""
    if limit is None or limit >= len(samples):
        return samples
    if limit < 1:
        raise LvrpoError("--limit must be at least 1")
    cut = limit
    last = group(samples[limit - 1])
    while last is not None and cut < len(samples) and group(samples[cut]) == last:
        cut += 1
    return samples[:cut]


AUTO_BATCH = 16  # where `--batch-size auto` starts; it halves on out-of-memory


def predict(adapter: Adapter, backend: Backend, samples: list[Sample], log: JsonlLog, *, batch_size: int | None,
            bars: Bars, notes: list[str] | None = None) -> dict[str, Output]:
    """Outputs for every sample, asking the model only for those not already in `log` (resume). A stored
    prediction counts only if it was made from the sample's current content (its `input` digest); one made from
    other content is made again (and said in `notes`).

    `batch_size` None means auto: start at AUTO_BATCH and halve (reported once) whenever a batch runs out of memory.
    """
    base = log.path.parent  # image paths in the log are relative to it
    digests = {s.id: input_digest(s, adapter.answer_columns) for s in samples}
    stored = {str(r["id"]): r for r in log.read()}  # later lines win
    done = {i: _resolved(Output.from_json(r), base) for i, r in stored.items() if r.get("input") == digests.get(i)}
    pending = [s for s in samples if s.id not in done]
    if changed := sum(s.id in stored for s in pending):
        (notes if notes is not None else []).append(f"{changed} samples changed since their prediction was made: "
                                                    "predicted again")
    size, auto = batch_size or AUTO_BATCH, batch_size is None
    with bars.task(f"{adapter.spec} predict", len(samples), len(samples) - len(pending)) as advance:
        start = 0
        while start < len(pending):
            batch = pending[start:start + size]
            try:
                rows = _predict_batch(adapter, backend, batch, base)
            except Exception as e:
                if not (auto and size > 1 and is_out_of_memory(e)):
                    raise
                if size == (batch_size or AUTO_BATCH):  # report once, not at every halving
                    Console(stderr=True).print(f"{adapter.spec}: out of memory at batch size {size}; halving until "
                                               "it fits")
                size //= 2
                _free_memory()
                continue
            log.append([{**o.to_json(), "input": digests[o.id]} for o in rows])
            done.update((o.id, _resolved(o, base)) for o in rows)
            advance(len(batch))
            start += len(batch)
    log.sync()
    return done


def _predict_batch(adapter: Adapter, backend: Backend, batch: list[Sample], base: Path) -> list[Output]:
    outputs, requests = {}, []
    for s in batch:
        try:
            requests.append(adapter.request(s))
        except ImageError as e:  # a defect of the benchmark data: that sample is unscored, the run goes on
            outputs[s.id] = Output(id=s.id, text="", data_error=str(e))
    by_id = {s.id: s for s in batch}
    try:
        outputs.update(_ask(adapter, backend, requests, by_id, base) if requests else {})
    except SampleError:  # one request cannot run: find it (one by one), fail it alone, keep the others
        for req in requests:
            try:
                outputs.update(_ask(adapter, backend, [req], by_id, base))
            except SampleError as e:
                outputs[req.id] = Output(id=req.id, text="", error=str(e))
    return [outputs[s.id] for s in batch]


def is_out_of_memory(e: BaseException) -> bool:
    """torch's CUDA OOM, or the RuntimeError CPU/other allocators raise."""
    return type(e).__name__ == "OutOfMemoryError" or (isinstance(e, RuntimeError) and "out of memory" in str(e))


def _free_memory() -> None:
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _ask(adapter: Adapter, backend: Backend, requests: list[Request], samples: dict[str, Sample],
         out_dir: Path) -> dict[str, Output]:
    """One model call for a batch; generated images are saved (as the adapter lays them out) right away."""
    if adapter.kind == "understand":
        texts = backend.understand(requests)
        return {r.id: Output(id=r.id, text=t) for r, t in zip(requests, texts, strict=True)}
    made = backend.generate(requests) if adapter.kind == "generate" else backend.edit(requests)
    return {r.id: Output(id=r.id, images=adapter.save_images(samples[r.id], images, out_dir))
            for r, images in zip(requests, made, strict=True)}


def _resolved(out: Output, base: Path) -> Output:
    out.images = [str(base / p) for p in out.images]
    return out


def score(adapter: Adapter, samples: list[Sample], outputs: dict[str, Output], ctx: Context, *,
          log: JsonlLog | None = None, bars: Bars | None = None, notes: list[str] | None = None) -> list[Score]:
    """Scores for the samples that have an output. A score stored in `log` is reused only when it was made from
    the same row, prediction and scorer (its `key`) and is not unscored (those are retried); new ones appended."""
    ctx = ctx.for_bench(adapter.name)
    base = log.path.parent if log else None
    scorer = f"{adapter.spec}@{adapter.scorer_version}"
    keys = {s.id: score_key(s, outputs[s.id], scorer, base) for s in samples if s.id in outputs}
    stored = {str(r["id"]): r for r in log.read()} if log else {}
    done = {i: Score.from_json(r) for i, r in stored.items()
            if r.get("key") == keys.get(i) and r.get("value") is not None}
    todo = [s for s in samples if s.id in outputs and s.id not in done]
    if retried := sum(s.id in stored and stored[s.id].get("value") is None for s in todo):
        were = "samples unscored last time were" if retried != 1 else "sample unscored last time was"
        (notes if notes is not None else []).append(f"{retried} {were} scored again")
    if changed := sum(s.id in stored and stored[s.id].get("value") is not None for s in todo):
        (notes if notes is not None else []).append(f"{changed} samples whose data, prediction or scorer changed "
                                                    "were re-scored")
    with (bars or Bars(quiet=True)).task(f"{adapter.spec} score", len(todo)) as advance:
        for s in todo:
            out = outputs[s.id]
            if out.data_error:  # the benchmark's own data is defective: not the model's fault, not a wrong answer
                sc = Score(id=s.id, value=None, reason=f"data error: {out.data_error}")
            else:
                sc = adapter.score(s, out, ctx)
                if out.error:
                    sc.reason = f"model error: {out.error}; {sc.reason}"
            done[s.id] = sc
            if log:
                log.append([{**sc.to_json(), "key": keys[s.id]}])
            advance(1)
    if log:
        log.sync()
    return [done[s.id] for s in samples if s.id in done]


def summarize(adapter: Adapter, scores: list[Score], *, n_missing: int = 0, n_unmatched: int = 0) -> Summary:
    """The adapter's official aggregate over scored samples, with coverage and what was left out: `n` counts
    every data row (samples without a prediction included), `n_scored` those with a score."""
    scored = [s for s in scores if s.value is not None]
    if not adapter.local_score:
        summary = Summary(bench=adapter.spec, metrics={}, headline="",
                          notes=["no local score for this split (answers are hidden): submit the file written "
                                 "beside summary.json to the official server"])
    elif not scored:
        why = unscored_reasons(scores) or (f"{n_missing} samples had no prediction" if n_missing else "no samples")
        raise NothingScored(f"{adapter.spec}: no sample could be scored: {why}")
    else:
        summary = adapter.aggregate(scored)
    summary.bench = adapter.spec
    summary.n, summary.n_scored = len(scores) + n_missing, len(scored)
    if defects := sum(s.value is None and s.reason.startswith("data error") for s in scores):
        summary.notes.append(f"{defects} samples have unreadable benchmark data (a data defect, not a model "
                             "error): they are unscored")
    if adapter.local_score and len(scored) < len(scores):
        summary.notes.append("unscored: " + unscored_reasons(scores))
    if n_missing:
        summary.notes.append(f"{n_missing} samples had no prediction and are not in the score")
    if n_unmatched:
        summary.notes.append(f"{n_unmatched} predictions had ids not in the data and were ignored")
    summary.breakdown.setdefault("counts", {}).update(missing=n_missing, unmatched=n_unmatched)
    return summary


def unscored_reasons(scores: list[Score]) -> str:
    """Why samples went unscored, most frequent first: `3 × judge reply unreadable; 1 × ...`."""
    reasons = Counter(s.reason or "no reason given" for s in scores if s.value is None)
    return "; ".join(f"{n} × {r}" for r, n in reasons.most_common())


def run_benchmark(adapter: Adapter, backend: Backend, bench_dir: Path, *, source: str, split: str | None,
                  limit: int | None, batch_size: int | None, ctx: Context, bars: Bars,
                  predict_only: bool = False) -> Summary | None:
    """Predict, score and summarise one benchmark into `bench_dir`, resuming whatever is already there.
    With `predict_only`, stop after the predictions (None: nothing scored)."""
    loaded = adapter.load(source, split)
    samples = apply_limit(loaded, limit, adapter.group)
    notes: list[str] = [f"--limit {limit} is more than the {len(loaded)} samples the data holds: all are used"] \
        if limit is not None and limit > len(loaded) else []
    outputs = predict(adapter, backend, samples, JsonlLog(bench_dir / "predictions.jsonl"),
                      batch_size=batch_size, bars=bars, notes=notes)
    if predict_only:
        return None
    return score_into(adapter, bench_dir, samples, outputs, ctx, bars=bars, notes=notes)


def stored_outputs(adapter: Adapter, bench_dir: Path, samples: list[Sample]) -> dict[str, Output]:
    """The predictions a run directory holds for `samples`, made from their current content (paths resolved)."""
    digests = {s.id: input_digest(s, adapter.answer_columns) for s in samples}
    return {str(r["id"]): _resolved(Output.from_json(r), bench_dir)
            for r in JsonlLog(bench_dir / "predictions.jsonl").read() if r.get("input") == digests.get(str(r["id"]))}


def score_into(adapter: Adapter, bench_dir: Path, samples: list[Sample], outputs: dict[str, Output], ctx: Context,
               *, bars: Bars, fresh: bool = False, notes: list[str] | None = None) -> Summary:
    """Score `outputs` into `bench_dir` (scores.jsonl, summary.json, artifacts); `fresh` drops stored scores."""
    log = JsonlLog(bench_dir / "scores.jsonl")
    if fresh:
        log.path.unlink(missing_ok=True)
    notes = [] if notes is None else notes
    scores = score(adapter, samples, outputs, ctx, log=log, bars=bars, notes=notes)
    (bench_dir / "summary.json").unlink(missing_ok=True)  # an earlier summary would outlive a failure below
    summary = summarize(adapter, scores, n_missing=sum(s.id not in outputs for s in samples))
    summary.notes[:0] = notes
    summary.data = data_facts(adapter, samples)
    write_results(adapter, bench_dir, scores, summary)
    return summary


def data_facts(adapter: Adapter, samples: list[Sample]) -> dict[str, Any]:
    """What a summary was computed on: the row count, a content fingerprint of the rows, the scorer version."""
    return {"rows": len(samples), "fingerprint": data_fingerprint(samples),
            "scorer": f"{adapter.spec}@{adapter.scorer_version}"}


def write_results(adapter: Adapter, out_dir: Path, scores: list[Score], summary: Summary) -> None:
    """summary.json plus the adapter's extra files (submission files) into `out_dir`."""
    for name, content in adapter.artifacts(scores).items():
        path = out_dir / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    write_json(out_dir / "summary.json", summary.to_json())
