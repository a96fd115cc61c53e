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
