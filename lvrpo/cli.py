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

from lvrpo.types import LvrpoError, NothingScored, Summary
from lvrpo.world.data import default_oracles, with_world_split, world_split

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Official-grade evaluation and GRPO training for unified multimodal models.")
err = Console(stderr=True)


def show_version(value: bool) -> None:
    if value:
        from lvrpo import __version__

        typer.echo(f"lvrpo {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", is_eager=True, callback=show_version,
                                      help="Print the version and exit.")) -> None:
    """Official-grade evaluation and GRPO training for unified multimodal models."""


JUDGE_TIMEOUT_HELP = "Seconds an HTTP judge may take per attempt (env LVRPO_JUDGE_TIMEOUT; default 120)."
JUDGE_RETRIES_HELP = ("Retries of a failed HTTP judge call (env LVRPO_JUDGE_RETRIES; default 5). A call, retries "
                      "included, ends within timeout x (N+1) + 30 s, then leaves its sample unscored.")
DETECTOR_HELP = ("GenEval detector: mask2former[:HF_ID_OR_PATH] or replay:FILE, optionally ,clip=ID_OR_PATH, or world "
                 "(default: world with --data world, else mask2former).")
JUDGE_HELP = "openai:MODEL[@BASE_URL], hf:PATH or world (default with --data world)."


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
        except OSError as e:  # a full disk, a read-only run directory: name the path, say nothing stored is lost
            if e.errno is None:
                raise
            where = f"{e.filename}: " if e.filename else ""
            err.print(f"[red]error:[/red] {escape(where + (e.strerror or str(e)))} (what was stored before is kept; "
                      "fix it and run the same command again to resume)", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
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


def make_context(judge: str | None, detector: str | None, seed: int,
                 judge_limits: tuple[str | None, str | None] = (None, None)):
    """The scoring context: judge client, GenEval detector and colour classifier (only when needed).
    `judge_limits`: the `--judge-timeout` and `--judge-retries` values (None: the environment's, else defaults)."""
    from lvrpo.judges import make_judge
    from lvrpo.types import Context

    ctx = Context(judge=make_judge(judge, timeout=judge_limits[0], retries=judge_limits[1]), seed=seed)
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


def world_facts(sources: dict[str, str]) -> dict[str, str]:
    """The world version, in the run's identity, when any benchmark reads world data."""
    from lvrpo.world.scenes import WORLD_VERSION

    return {"world_version": WORLD_VERSION} if any(world_split(s) for s in sources.values()) else {}


def check_strict(strict: bool, summaries: list[Summary]) -> None:
    """With --strict, any unscored sample is a failure (after the results are written and shown)."""
    # a hidden-answer split (no headline) has nothing to score locally: that is not a failure
    unscored = {s.bench: s.n - s.n_scored for s in summaries if s.headline and s.n_scored < s.n}
    if strict and unscored:
        raise LvrpoError("--strict: unscored samples in " + ", ".join(f"{b} ({n})" for b, n in unscored.items()))


def canonical_path(text: str) -> str:
    """An existing local path as an absolute, resolved one (so a run's identity does not depend on how the path
    was typed or where the command ran); anything else (hub ids, keywords) unchanged."""
    path = Path(text).expanduser()
    return str(path.resolve()) if text and path.exists() else text


def canonical_model(model: str) -> str:
    if model.startswith("replay:"):
        return "replay:" + canonical_path(model[len("replay:"):])
    return canonical_path(model)


def with_revision(data: str, revision: str | None) -> str:
    """`--revision REV` applied to every hub source (`hub` -> `hub@REV`, `hub:ID` -> `hub:ID@REV`)."""
    if not revision:
        return data
    if "@" in revision or "," in revision or not revision.strip():
        raise LvrpoError(f"--revision {revision!r}: expected a commit hash or tag")

    def one(source: str) -> str:
        if source.partition("@")[0] == "hub" or source.startswith("hub:"):
            return source.partition("@")[0] + "@" + revision
        return source
    if "=" not in data or Path(data).exists():
        return one(data)
    return ",".join(f"{k}={one(v)}" for k, v in parse_pairs(data, "--data").items())


def canonical_data(data: str) -> str:
    """`--data` with every local path made absolute, in both the single-source and the `name=SOURCE` forms."""
    if "=" not in data or Path(data).exists():
        return canonical_path(data)
    return ",".join(f"{k}={canonical_path(v)}" for k, v in parse_pairs(data, "--data").items())


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
    revision: str | None = typer.Option(None, help="Hub dataset revision (commit or tag) for hub data sources."),
    limit: int | None = typer.Option(None, help="First N samples per benchmark (groups kept whole)."),
    out: Path | None = typer.Option(None, help="Run directory (default runs/<model name>)."),
    judge: str | None = typer.Option(None, help=JUDGE_HELP),
    judge_timeout: str | None = typer.Option(None, metavar="SECONDS", help=JUDGE_TIMEOUT_HELP),
    judge_retries: str | None = typer.Option(None, metavar="N", help=JUDGE_RETRIES_HELP),
    detector: str | None = typer.Option(None, help=DETECTOR_HELP),
    batch_size: str | None = typer.Option(None, help="Requests per model call, or auto (halves on out-of-memory); "
                                          "default 1 (16 for --model nano)."),
    seed: int = typer.Option(0, help="Seed for sampling and any randomised scoring step."),
    backend: str | None = typer.Option(None, help="Force a backend: hf, janus, diffusers, openai, vllm, replay."),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    attn_implementation: str | None = typer.Option(None, help="e.g. sdpa, eager, flash_attention_2."),
    trust_remote_code: bool = typer.Option(False, help="Run code shipped with the checkpoint (off by default)."),
    model_args: str = typer.Option("", help="Backend options k=v,k=v (e.g. cfg_weight=5,steps=28)."),
    overwrite: bool = typer.Option(False, help="Replace a run directory made with another config."),
    strict: bool = typer.Option(False, help="Fail (exit 1) when any sample is left unscored."),
    predict_only: bool = typer.Option(False, help="Run the model and store predictions/images, score nothing (score "
                                      "later with `lvrpo score --run DIR --judge ...`)."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Evaluate a model on a suite; writes a resumable run directory and prints the headlines."""
    from lvrpo.evals import resolve_suite
    from lvrpo.judges import check_judge_spec
    from lvrpo.models import check_capabilities, load_backend
    from lvrpo.models.base import BackendOptions
    from lvrpo.runner import Bars, run_benchmark
    from lvrpo.store import RunStore

    adapters = resolve_suite(suite)
    model, data = canonical_model(model), with_revision(canonical_data(data), revision)
    sources, bench_split = with_world_split(data_sources(data, adapters), split)
    judge, detector = default_oracles(sources, adapters, judge, detector)
    check_judge_spec(judge)
    needs = [a.name for a in adapters if a.needs_judge]
    if needs and judge is None and not predict_only:
        raise LvrpoError(f"{', '.join(needs)} need a judge: pass --judge openai:MODEL[@URL] or hf:PATH, or "
                         "--predict-only to store predictions now and score them later")
    options = BackendOptions(dtype=dtype, device=device, attn_implementation=attn_implementation,
                             trust_remote_code=trust_remote_code, extra=parse_pairs(model_args, "--model-args"))
    batch = parse_batch_size(batch_size or ("16" if model == "nano" else "1"))
    # what the suite needs is checked from the checkpoint's config before any weights load, and again once loaded
    model_backend = load_backend(model, backend, options, needs={a.kind for a in adapters})
    check_capabilities(model_backend, {a.kind for a in adapters})
    seed_everything(seed)
    # optional judges (MathVista, MMBench) are used when given; detectors are loaded before any generation
    detector_spec = detector if any(a.needs_detector for a in adapters) and not predict_only else None
    ctx = make_context(None if predict_only else judge, detector_spec, seed, (judge_timeout, judge_retries))

    store = RunStore(out or default_out(model))
    config = {"model": model, **model_backend.describe(), "dtype": dtype, "model_args": options.extra,
              "data": data, "split": split, "judge": judge.split("@")[0] if judge else None,
              "detector": detector_spec, "seed": seed, **world_facts(sources)}
    # the judge's model is part of the run's identity; where it is served (URL, port) is recorded only
    store.open(config, {"suite": suite, "benchmarks": [a.spec for a in adapters], "seeds": {"global": seed},
                        "judge_spec": judge, "limits": {a.spec: limit for a in adapters}}, overwrite=overwrite)
    bars = Bars(quiet)
    summaries, failed = [], []
    for a in adapters:
        try:
            summaries.append(run_benchmark(a, model_backend, store.bench_dir(a.spec), source=sources[a.spec],
                                           split=bench_split, limit=limit, batch_size=batch, ctx=ctx, bars=bars,
                                           predict_only=predict_only))
        except NothingScored as e:  # no number for this one (its scores are kept); the others still run
            failed.append(str(e))
    if predict_only:
        err.print(f"predictions stored in {store.root} (nothing scored); score them with:\n"
                  f"  lvrpo score --run {store.root}" + (" --judge openai:MODEL[@URL]" if needs else ""),
                  highlight=False, soft_wrap=True)
        return
    print_summaries(summaries)
    err.print(f"run directory: {store.root}", highlight=False)
    if failed:  # rerunning the command re-asks what was left unscored
        raise LvrpoError("; ".join(failed))
    check_strict(strict, summaries)


@app.command("score")
@handles_errors
def score_cmd(
    bench: str | None = typer.Option(None, help="Benchmark name[:variant] (with --predictions)."),
    predictions: Path | None = typer.Option(None, help='JSONL: {"id": ..., "output": "text"} or {"id": ..., '
                                            '"image": path}.'),
    run: Path | None = typer.Option(None, help="Score every benchmark of this run directory in place (e.g. one made "
                                    "with `lvrpo eval --predict-only`)."),
    data: str = typer.Option("hub", help="hub | hub:ID | world | PATH (with --predictions)."),
    split: str | None = typer.Option(None, help="Dataset split (default: the benchmark's official one)."),
    revision: str | None = typer.Option(None, help="Hub dataset revision (commit or tag) for hub data sources."),
    judge: str | None = typer.Option(None, help=JUDGE_HELP),
    judge_timeout: str | None = typer.Option(None, metavar="SECONDS", help=JUDGE_TIMEOUT_HELP),
    judge_retries: str | None = typer.Option(None, metavar="N", help=JUDGE_RETRIES_HELP),
    detector: str | None = typer.Option(None, help=DETECTOR_HELP),
    out: Path | None = typer.Option(None, help="Write scores.jsonl and summary.json here."),
    as_json: bool = typer.Option(False, "--json", help="Print only the summary JSON on stdout."),
    seed: int = typer.Option(0, help="Seed for any randomised scoring step."),
    strict: bool = typer.Option(False, help="Fail (exit 1) when any sample is left unscored."),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Score stored predictions without a model (rescore old runs with a fixed scorer)."""
    from lvrpo.judges import check_judge_spec

    check_judge_spec(judge)
    if run is not None:
        if bench or predictions or out:
            raise LvrpoError("score: --run scores a run directory in place; it takes no --bench, --predictions "
                             "or --out")
        summaries = score_run(run, judge=judge, detector=detector, seed=seed, quiet=quiet,
                              judge_limits=(judge_timeout, judge_retries))
    else:
        if not bench or predictions is None:
            raise LvrpoError("score: give --bench and --predictions, or --run DIR")
        summaries = [score_file(bench, predictions, data=with_revision(data, revision), split=split, judge=judge,
                                detector=detector, out=out, seed=seed,
                                judge_limits=(judge_timeout, judge_retries))]
    if as_json:
        doc = summaries[0].to_json() if run is None else {s.bench: s.to_json() for s in summaries}
        typer.echo(json.dumps(doc, ensure_ascii=False))
        for s in summaries:
            for note in s.notes:
                err.print(f"{s.bench}: {escape(note)}", highlight=False)
    else:
        print_summaries(summaries)
    check_strict(strict, summaries)


def need_judge(adapters, judge: str | None) -> None:
    if needs := [a.spec for a in adapters if a.needs_judge and judge is None]:
        raise LvrpoError(f"{', '.join(needs)} need{'s' if len(needs) == 1 else ''} a judge: pass --judge "
                         "openai:MODEL[@URL] or hf:PATH")


def score_file(bench: str, predictions: Path, *, data: str, split: str | None, judge: str | None,
               detector: str | None, out: Path | None, seed: int,
               judge_limits: tuple[str | None, str | None] = (None, None)) -> Summary:
    """One benchmark's predictions file (or official prediction folder) against its data."""
    from lvrpo.evals import get_adapter
    from lvrpo.predictions import read_predictions
    from lvrpo.runner import data_facts, score, summarize, write_results
    from lvrpo.store import JsonlLog

    adapter = get_adapter(bench)
    sources, split = with_world_split({adapter.spec: data}, split)
    data = sources[adapter.spec]
    judge, detector = default_oracles(sources, [adapter], judge, detector)
    need_judge([adapter], judge)
    seed_everything(seed)
    # bad judge/detector: fail first
    ctx = make_context(judge, detector if adapter.needs_detector else None, seed, judge_limits)
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
    summary.data = data_facts(adapter, samples)
    if out:
        write_results(adapter, out, scores, summary)
    return summary


def score_run(run: Path, *, judge: str | None, detector: str | None, seed: int, quiet: bool,
              judge_limits: tuple[str | None, str | None] = (None, None)) -> list[Summary]:
    """Every benchmark of a run directory scored afresh from its stored predictions, with the data, split and
    limit the run was made with; summaries written where `eval` writes them."""
    from lvrpo.evals import get_adapter
    from lvrpo.runner import Bars, apply_limit, score_into, stored_outputs
    from lvrpo.store import read_manifest, write_json

    manifest = read_manifest(run)
    config, limits = manifest.get("config", {}), manifest.get("limits", {})
    adapters = [get_adapter(spec) for spec in manifest.get("benchmarks", [])]
    if not adapters:
        raise LvrpoError(f"{run}: the manifest names no benchmark")
    sources, split = with_world_split(data_sources(config.get("data", "hub"), adapters), config.get("split"))
    judge, detector = default_oracles(sources, adapters, judge, detector)
    need_judge(adapters, judge)
    seed_everything(seed)
    ctx = make_context(judge, detector if any(a.needs_detector for a in adapters) else None, seed, judge_limits)
    bars, summaries = Bars(quiet), []
    for a in adapters:
        bench_dir = run / a.spec.replace(":", "_")
        samples = apply_limit(a.load(sources[a.spec], split, for_requests=False),
                              limits.get(a.spec), a.group)
        outputs = stored_outputs(a, bench_dir, samples)
        if not outputs:
            raise LvrpoError(f"{bench_dir}: no predictions of the current data to score (run `lvrpo eval` first)")
        summaries.append(score_into(a, bench_dir, samples, outputs, ctx, bars=bars, fresh=True))
    # which judge/detector produced the stored scores (the model name, never the URL or a key)
    manifest["scored_with"] = {"judge": judge.split("@")[0] if judge else None,
                               "detector": detector if any(a.needs_detector for a in adapters) else None,
                               "seed": seed}
    write_json(run / "manifest.json", manifest)
    return summaries


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

    # both checked before any output, so a bad option never leaves a table without its plot
    if fmt not in lb.FORMATS:
        raise LvrpoError(f"leaderboard: unknown format {fmt!r} (valid: {', '.join(lb.FORMATS)})")
    if plot:
        from lvrpo.leaderboard_plot import pyplot

        pyplot()
    if not run_dirs and not published:
        raise LvrpoError("leaderboard: give at least one run directory or --published")
    # `runs/*` often holds a failed run (manifest.json only): skip it with a warning, show the others
    rows, warnings = lb.run_rows(run_dirs or [])
    if run_dirs and not rows:  # one line, naming every directory and why
        raise LvrpoError("leaderboard: no results to show: " + "; ".join(w.removeprefix("leaderboard: ")
                                                                         for w in warnings))
    for w in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False, soft_wrap=True)
    if published:
        rows += lb.published_rows()
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


# Verbs kept in their own modules (registered after handles_errors, which they use).
from lvrpo.grpo.cli import train_cmd  # noqa: E402
from lvrpo.world.cli import world_app  # noqa: E402

app.command("train")(handles_errors(train_cmd))
app.add_typer(world_app, name="world")

if __name__ == "__main__":
    app()
