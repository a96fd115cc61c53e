"""`lvrpo world …`: look at, export and train on ShapesWorld (the offline world)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lvrpo.types import LvrpoError

world_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="ShapesWorld: the offline world (export, show, train the nano model).")
err = Console(stderr=True)


def _adapter(bench: str):
    from lvrpo.evals import get_adapter
    from lvrpo.world.data import check_variant

    adapter = get_adapter(bench)
    check_variant(adapter)
    return adapter


def _errors(fn):
    from lvrpo.cli import handles_errors

    return handles_errors(fn)


@world_app.command("export")
@_errors
def export_cmd(
    bench: str = typer.Argument(..., help="Benchmark name[:variant], e.g. mme, geneval, gedit:cn."),
    split: str = typer.Option("test", help="World split: test (fixed, versioned) or train."),
    out: Path = typer.Option(..., help="Folder to write (refused when not empty, unless --overwrite)."),
    reference: bool = typer.Option(False, help="Also write reference.jsonl: outputs that score the maximum."),
    overwrite: bool = typer.Option(False, help="Replace what the folder holds."),
) -> None:
    """Write a world split in the benchmark's official schema (what `--data world` reads)."""
    from lvrpo.world.data import world_split
    from lvrpo.world.export import export

    world_split(f"world:{split}")  # an unknown split fails here, before anything is written
    adapter = _adapter(bench)
    data = export(adapter, split, out, reference=reference, overwrite=overwrite)
    err.print(f"wrote {adapter.spec} ({split}) to {out}; use --data {data}", highlight=False, soft_wrap=True)
    if reference:
        oracles = (" --judge world" if adapter.needs_judge else "") + (" --detector world" if adapter.needs_detector
                                                                        else "")
        err.print(f"score the reference: lvrpo score --bench {adapter.spec} --predictions {out / 'reference.jsonl'} "
                  f"--data {data}{oracles}", highlight=False, soft_wrap=True)


@world_app.command("show")
@_errors
def show_cmd(
    bench: str = typer.Argument(..., help="Benchmark name[:variant]."),
    split: str = typer.Option("test", help="World split: test or train."),
    n: int = typer.Option(8, help="Rows to print and draw."),
    out: Path | None = typer.Option(None, help="Contact sheet PNG (default world-<bench>.png)."),
) -> None:
    """Print a few rows of a world benchmark and save a contact sheet of their images."""
    from lvrpo.world.data import world_rows, world_split
    from lvrpo.world.show import contact_sheet, row_text

    world_split(f"world:{split}")
    if n < 1:
        raise LvrpoError("--n must be at least 1")
    adapter = _adapter(bench)
    rows = world_rows(adapter, split)[:n]
    table = Table(title=f"{adapter.spec} — ShapesWorld {split}")
    table.add_column("#", justify="right")
    table.add_column("asks")
    table.add_column("expects")
    for i, row in enumerate(rows):
        asks, expects = row_text(adapter.name, row)
        table.add_row(str(i), escape(asks), escape(expects))
    Console().print(table)
    path = out or Path(f"world-{adapter.spec.replace(':', '_')}.png")
    contact_sheet(adapter.name, rows).save(path)
    err.print(f"contact sheet: {path}", highlight=False)


@world_app.command("train-nano")
@_errors
def train_nano_cmd(
    out: Path = typer.Option(..., help="Folder for the checkpoint (safetensors, config, tokenizer, manifest)."),
    seed: int = typer.Option(0, help="Seed: the same seed reproduces the same losses and weights."),
    vq_steps: int = typer.Option(1200, help="VQ training steps."),
    vision_steps: int = typer.Option(0, help="Vision-tower steps first (per-token shape, colour, size)."),
    lm_steps: int = typer.Option(2500, help="Language-model steps (understanding, captions, text-to-image, edit)."),
    batch: int = typer.Option(16, help="Sequences per task per step."),
    captions: int = typer.Option(4000, help="Caption examples (random train scenes)."),
    max_examples: int | None = typer.Option(None, help="At most this many rows per benchmark (quick trials)."),
    overwrite: bool = typer.Option(False, help="Replace a checkpoint already in --out."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train the nano Janus on the world's train split (about an hour on 2 CPU cores at the defaults)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from lvrpo.world.train_nano import Recipe, train

    if (out / "model.safetensors").exists() and not overwrite:
        raise LvrpoError(f"{out} already holds a checkpoint (pass --overwrite to replace it)")
    if min(vq_steps, lm_steps, batch, captions) < 1 or (max_examples is not None and max_examples < 1):
        raise LvrpoError("train-nano: steps, batch, captions and max-examples must be at least 1")
    if vision_steps < 0:
        raise LvrpoError("train-nano: --vision-steps must be 0 or more")
    recipe = Recipe(seed=seed, vq_steps=vq_steps, vision_steps=vision_steps, lm_steps=lm_steps, batch=batch,
                    captions=captions, max_examples=max_examples)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(), console=err,
                  disable=quiet) as bar:
        bars: dict[str, int] = {}

        def progress(task: str, step: int, total: int, loss: float) -> None:
            stage = {"vq": "VQ", "vision": "vision"}.get(task, "LM")
            if stage not in bars:
                bars[stage] = bar.add_task(stage, total=total, loss=loss)
            if task in ("vq", "vision", "vqa"):  # one tick per step (the LM step logs every task)
                bar.update(bars[stage], completed=step + 1, loss=loss)

        manifest = train(out, recipe, progress)
    losses = ", ".join(f"{k} {v:.3f}" for k, v in manifest["final_losses"].items())
    err.print(f"nano model written to {out} in {manifest['seconds']} s ({manifest['parameters']:,} parameters; "
              f"final losses: {losses}); use --model {out}", highlight=False, soft_wrap=True)
