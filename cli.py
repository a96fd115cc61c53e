"""The `lvrpo` command: parse, call the library, print. Errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import json
import random
import re
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lvrpo.types import LvrpoError, Summary

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Official-grade evaluation and GRPO training for unified multimodal models.")
err = Console(stderr=True)


DETECTOR_HELP = "GenEval detector: mask2former[:HF_ID_OR_PATH] or replay:FILE, optionally ,clip=ID_OR_PATH."


def handles_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LvrpoError as e:
            err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished samples are saved; run the same command again to resume")
            raise typer.Exit(130) from None
    return wrapper


def print_summaries(summaries: list[Summary]) -> None:
    table = Table(title="lvrpo results")
    for col in ("benchmark", "metric", "value", "n", "coverage"):
        table.add_column(col, justify="left" if col in ("benchmark", "metric") else "right")
    for s in summaries:
        for i, (metric, value) in enumerate(s.metrics.items()):
            headline = "*" if metric == s.headline else ""
            table.add_row(s.bench if i == 0 else "", metric + headline, f"{value:.4g}" if abs(value) < 10 else
                          f"{value:.2f}", str(s.n) if i == 0 else "", f"{s.coverage:.0%}" if i == 0 else "")
    Console().print(table)
    for s in summaries:
        for note in s.notes:
            err.print(f"[yellow]{s.bench}:[/yellow] {escape(note)}", highlight=False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def make_context(judge: str | None, detector: str | None, seed: int):
    """The scoring context: judge client, GenEval detector and colour classifier (only when needed)."""
    from lvrpo.judges import make_judge
    from lvrpo.types import Context

    ctx = Context(judge=make_judge(judge), seed=seed)
    if detector is not None:
        from lvrpo.vision import make_detector

        ctx.detector, ctx.color_classifier = make_detector(detector)
    return ctx


def data_sources(data: str, adapters) -> dict[str, str]:
    """One source per benchmark: the same for all, or `name[:variant]=SOURCE,...` (unnamed ones: hub)."""
    if "=" not in data or Path(data).exists():
        return {a.spec: data for a in adapters}
    given = parse_pairs(data, "--data")
    if empty := [name for name, source in given.items() if not source]:
        raise LvrpoError(f"--data: no source given for {', '.join(empty)}")
    specs = {a.spec for a in adapters} | {a.name for a in adapters}
    if unknown := sorted(set(given) - specs):
        raise LvrpoError(f"--data names benchmarks not in the suite: {', '.join(unknown)}")
    return {a.spec: given.get(a.spec, given.get(a.name, "hub")) for a in adapters}


def check_strict(strict: bool, summaries: list[Summary]) -> None:
    """With --strict, any unscored sample is a failure (after the results are written and shown)."""
    # a hidden-answer split (no headline) has nothing to score locally: that is not a failure
    unscored = {s.bench: s.n - s.n_scored for s in summaries if s.headline and s.n_scored < s.n}
    if strict and unscored:
        raise LvrpoError("--strict: unscored samples in " + ", ".join(f"{b} ({n})" for b, n in unscored.items()))


def parse_pairs(text: str, option: str) -> dict[str, str]:
    """`k=v,k=v` -> dict of stripped strings (`--model-args` values are converted by each backend)."""
    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise LvrpoError(f"{option}: expected k=v pairs separated by commas, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def parse_batch_size(text: str) -> int | None:
    """A positive int, or None for `auto`."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise LvrpoError(f"--batch-size {text!r}: expected a positive integer or auto")
    return int(text)


def default_out(model: str) -> Path:
    name = f"replay-{Path(model[7:]).stem}" if model.startswith("replay:") else model.rstrip("/").split("/")[-1]
    return Path("runs") / (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run")


@app.command("eval")
@handles_errors
def eval_cmd(
    model: str = typer.Option(..., help="Checkpoint dir, HF id, replay:FILE, openai:MODEL[@URL] or nano."),
    suite: str = typer.Option("all", help="all | understanding | generation | comma list of name[:variant]."),
    data: str = typer.Option("hub", help="hub | hub:ID | world | PATH (save_to_disk dir, parquet or jsonl), or "
                             "per benchmark: mme=PATH,mmmu=hub,..."),
    split: str | None = typer.Option(None, help="Dataset split (default: each benchmark's official one)."),
    limit: int | None = typer.Option(None, help="First N samples per benchmark (groups kept whole)."),
    out: Path | None = typer.Option(None, help="Run directory (default runs/<model name>)."),
    judge: str | None = typer.Option(None, help="openai:MODEL[@BASE_URL] or hf:PATH."),
    detector: str = typer.Option("mask2former", help=DETECTOR_HELP),
    batch_size: str = typer.Option("1", help="Requests per model call, or auto (halves on out-of-memory)."),
    seed: int = typer.Option(0, help="Seed for sampling and any randomised scoring step."),
    backend: str | None = typer.Option(None, help="Force a backend: hf, janus, diffusers, openai, vllm, replay."),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    attn_implementation: str | None = typer.Option(None, help="e.g. sdpa, eager, flash_attention_2."),
    trust_remote_code: bool = typer.Option(False, help="Run code shipped with the checkpoint (off by default)."),
    model_args: str = typer.Option("", help="Backend options k=v,k=v (e.g. cfg_weight=5,steps=28)."),
    overwrite: bool = typer.Option(False, help="Replace a run directory made with another config."),
    strict: bool = typer.Option(False, help="Fail (exit 1) when any sample is left unscored."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Evaluate a model on a suite; writes a resumable run directory and prints the headlines."""
    from evals import resolve_suite
    from lvrpo.judges import check_judge_spec
    from lvrpo.models import check_capabilities, load_backend
    from lvrpo.models.base import BackendOptions
    from lvrpo.runner import Bars, run_benchmark
    from lvrpo.store import RunStore

    adapters = resolve_suite(suite)
    sources = data_sources(data, adapters)
    check_judge_spec(judge)
    needs = [a.name for a in adapters if a.needs_judge]
    if needs and judge is None:
        raise LvrpoError(f"{', '.join(needs)} need a judge: pass --judge openai:MODEL[@URL] or hf:PATH")
    options = BackendOptions(dtype=dtype, device=device, attn_implementation=attn_implementation,
                             trust_remote_code=trust_remote_code, extra=parse_pairs(model_args, "--model-args"))
    batch = parse_batch_size(batch_size)
    model_backend = load_backend(model, backend, options)
    check_capabilities(model_backend, {a.kind for a in adapters})
    seed_everything(seed)
    # optional judges (MathVista, MMBench) are used when given; detectors are loaded before any generation
    detector_spec = detector if any(a.needs_detector for a in adapters) else None
    ctx = make_context(judge, detector_spec, seed)

    store = RunStore(out or default_out(model))
    config = {"model": model, **model_backend.describe(), "dtype": dtype, "model_args": options.extra,
              "data": data, "split": split, "judge": judge.split("@")[0] if judge else None,
              "detector": detector_spec, "seed": seed}
    # the judge's model is part of the run's identity; where it is served (URL, port) is recorded only
    store.open(config, {"suite": suite, "benchmarks": [a.spec for a in adapters], "seeds": {"global": seed},
                        "judge_spec": judge}, overwrite=overwrite)
    bars = Bars(quiet)
    summaries = [run_benchmark(a, model_backend, store.bench_dir(a.spec), source=sources[a.spec], split=split,
                               limit=limit,
                               batch_size=batch, ctx=ctx, bars=bars) for a in adapters]
    print_summaries(summaries)
    err.print(f"run directory: {store.root}", highlight=False)
    check_strict(strict, summaries)


@app.command("score")
@handles_errors
def score_cmd(
    bench: str = typer.Option(..., help="Benchmark name[:variant]."),
    predictions: Path = typer.Option(..., help='JSONL: {"id": ..., "output": "text"} or {"id": ..., "image": path}.'),
    data: str = typer.Option("hub", help="hub | hub:ID | world | PATH."),
    split: str | None = typer.Option(None, help="Dataset split (default: the benchmark's official one)."),
    judge: str | None = typer.Option(None, help="openai:MODEL[@BASE_URL] or hf:PATH."),
    detector: str = typer.Option("mask2former", help=DETECTOR_HELP),
    out: Path | None = typer.Option(None, help="Write scores.jsonl and summary.json here."),
    as_json: bool = typer.Option(False, "--json", help="Print only the summary JSON on stdout."),
    seed: int = typer.Option(0, help="Seed for any randomised scoring step."),
    strict: bool = typer.Option(False, help="Fail (exit 1) when any sample is left unscored."),
) -> None:
    """Score stored predictions without a model (rescore old runs with a fixed scorer)."""
    from evals import get_adapter
    from lvrpo.judges import check_judge_spec
    from lvrpo.predictions import read_predictions
    from lvrpo.runner import score, summarize, write_results
    from lvrpo.store import JsonlLog

    adapter = get_adapter(bench)
    check_judge_spec(judge)
    if adapter.needs_judge and judge is None:
        raise LvrpoError(f"{adapter.name} needs a judge: pass --judge openai:MODEL[@URL] or hf:PATH")
    seed_everything(seed)
    ctx = make_context(judge, detector if adapter.needs_detector else None, seed)  # bad judge/detector: fail first
    if predictions.is_dir():
        outputs = {o.id: o for o in adapter.read_predictions_dir(predictions)}
    else:
        outputs = {o.id: o for _, o in read_predictions(predictions)}
    samples = adapter.load(data, split, for_requests=False)
    ids = {s.id for s in samples}
    unmatched = sum(i not in ids for i in outputs)
    missing = [s.id for s in samples if s.id not in outputs]
    if adapter.require_complete and missing:
        raise LvrpoError(f"{adapter.spec}: {len(missing)} of {len(samples)} samples have no prediction (first: "
                         f"{', '.join(missing[:5])}); this benchmark is scored on the full set only")
    log = None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scores.jsonl").unlink(missing_ok=True)
        log = JsonlLog(out / "scores.jsonl")
    scores = score(adapter, samples, outputs, ctx, log=log)
    summary = summarize(adapter, scores, n_missing=len(missing), n_unmatched=unmatched)
    if out:
        write_results(adapter, out, scores, summary)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False))
        for note in summary.notes:
            err.print(f"{summary.bench}: {escape(note)}", highlight=False)
    else:
        print_summaries([summary])
    check_strict(strict, [summary])


@app.command("leaderboard")
@handles_errors
def leaderboard_cmd(
    run_dirs: list[Path] = typer.Argument(None, help="Run directories made by `lvrpo eval`."),
    published: bool = typer.Option(False, help="Add the published numbers (leaderboards/published.yaml)."),
    fmt: str = typer.Option("md", "--format", help="md | csv | latex | html."),
    out: Path | None = typer.Option(None, help="Write the table here instead of stdout."),
    plot: Path | None = typer.Option(None, help="Also write a bar chart (PNG)."),
) -> None:
    """One row per run (and per published model), one column per benchmark headline, best marked."""
    from lvrpo import leaderboard as lb

    rows = [lb.run_row(d) for d in run_dirs or []]
    if published:
        rows += lb.published_rows()
    if not rows:
        raise LvrpoError("leaderboard: give at least one run directory or --published")
    if published and run_dirs:  # keep the table about the benchmarks the runs measured
        cols = {k for r in rows if not r.published for k in r.values}
        rows = [r for r in rows if not r.published or cols & set(r.values)]
        for r in rows:
            r.values = {k: v for k, v in r.values.items() if k in cols}
    table = lb.render(rows, fmt)
    if out:
        out.write_text(table, encoding="utf-8")
    else:
        typer.echo(table, nl=False)
    if plot:
        lb.plot(rows, plot)


if __name__ == "__main__":
    app()
