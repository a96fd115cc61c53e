"""Leaderboard tables: one row per run (and per published model), one column per benchmark headline.

Columns are the summaries' metric names; a benchmark run with a non-default variant gets its own columns,
`MMBench (cn_dev)`, unless its metric names already say which variant it is (`GEdit-CN G_O`, `WISE-verified`).
Published numbers use the plain names, so they line up with the default-variant columns only.

Cell notation, the same in every format (md, csv, latex, html):
  `61.2`            a run's value over the whole benchmark
  `61.2 (n=40/84)`  a partial run: 40 of 84 samples scored (unscored ones, or predictions missing when scored);
                    `eval --limit` is not seen as partial: summary.json does not record the benchmark's full size
  `1567.10?`        a published number whose value or scale is uncertain
  `—` (csv: empty)  not measured
The best value per column is bold (csv: a last `best` row names its model); a partial or uncertain value is never
the best, since it is not comparable with complete, exact ones.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lvrpo.types import LvrpoError

PUBLISHED = Path(__file__).resolve().parent / "leaderboards" / "published.yaml"
COLUMNS = ("MME-P", "MME-C", "MME-sum", "MMBench", "MMMU", "MathVista", "MM-Vet", "MMVP", "GenEval", "WISE",
           "GEdit-EN G_SC", "GEdit-EN G_PQ", "GEdit-EN G_O", "GEdit-CN G_SC", "GEdit-CN G_PQ", "GEdit-CN G_O")
FORMATS = ("md", "csv", "latex", "html")
VARIANT = re.compile(r"^(.*) \(([^()]+)\)$")  # `MMBench (cn_dev)` -> base metric, variant


@dataclass
class Row:
    name: str
    values: dict[str, float]
    uncertain: set[str] = field(default_factory=set)
    published: bool = False
    partial: dict[str, tuple[int, int]] = field(default_factory=dict)  # column -> (scored, total), partial only


def canonical_spec(bench: str) -> str:
    """`mmbench:en_dev` -> `mmbench` (the default variant is left out, as run directories name it)."""
    if ":" not in bench:
        return bench
    from lvrpo.evals import get_adapter

    try:
        return get_adapter(bench).spec
    except (LvrpoError, ImportError):  # a benchmark this version does not know: keep the spec as written
        return bench


def _words(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def column_key(bench: str, metric: str) -> str:
    """The column of `metric` from a summary of `bench`: the variant is added unless it is the default or the
    metric's name already carries it (GEdit-CN..., GEdit-EN-Intersection..., WISE-verified)."""
    variant = canonical_spec(bench).partition(":")[2]
    return f"{metric} ({variant})" if variant and not _words(variant) <= _words(metric) else metric


def coverage(summary: dict[str, Any]) -> tuple[int, int]:
    """(scored, total): `n` counts every data row of the benchmark, samples without a prediction included."""
    return int(summary.get("n_scored", 0)), int(summary.get("n", 0))


def run_row(run_dir: Path) -> tuple[Row, list[str]]:
    """A run directory's headline metrics, read from each benchmark's summary.json, and warnings about
    summaries it could not use. Raises LvrpoError when nothing in it can be shown."""
    if not run_dir.is_dir():
        raise LvrpoError(f"leaderboard: skipping {run_dir}: not a run directory")
    row, warnings, source = Row(name=run_dir.name, values={}), [], {}
    for path in sorted(run_dir.glob("*/summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            bench, metrics = str(summary["bench"]), dict(summary["metrics"])
            scored, total = coverage(summary)
        except (OSError, ValueError, KeyError, TypeError) as e:
            warnings.append(f"leaderboard: skipping {path}: unreadable summary ({type(e).__name__}: {e})")
            continue
        for metric, value in metrics.items():
            key = column_key(bench, metric)
            if key in source:  # e.g. `mmbench` and `mmbench_en_dev` both present: say so, never pick silently
                warnings.append(f"leaderboard: {run_dir}: {key} is in both {source[key]} and {path.parent.name}; "
                                f"showing {source[key]}")
                continue
            source[key], row.values[key] = path.parent.name, float(value)
            if scored < total:
                row.partial[key] = (scored, total)
    if not row.values:
        if warnings:  # every summary was unreadable: the reasons are the message
            why = "; ".join(w.removeprefix("leaderboard: ") for w in warnings)
        elif any(run_dir.glob("*/summary.json")):
            why = "no local scores (hidden-answer splits only)"
        else:
            why = "has no benchmark summaries (" + ("manifest.json only, a failed or unfinished run?" if
                                                     (run_dir / "manifest.json").exists() else "*/summary.json") + ")"
        raise LvrpoError(f"leaderboard: skipping {run_dir}: {why}")
    return row, warnings


def run_rows(run_dirs: list[Path]) -> tuple[list[Row], list[str]]:
    """Rows of the run directories that have results, and one warning line per thing left out."""
    rows, warnings = [], []
    for d in run_dirs:
        try:
            row, notes = run_row(d)
        except LvrpoError as e:
            warnings.append(str(e))
            continue
        rows.append(row)
        warnings += notes
    return rows, warnings


def published_rows(path: Path = PUBLISHED) -> list[Row]:
    """Published numbers; each carries a source in the file, uncertain ones are marked '?'."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = []
    for m in data["models"]:
        name = m["model"] + (f" ({m['label']})" if m.get("label") else "")
        scores = m.get("scores", {})
        rows.append(Row(name=name, values={k: float(v["value"]) for k, v in scores.items()},
                        uncertain={k for k, v in scores.items() if v.get("uncertain")}, published=True))
    return rows


def _family(metric: str) -> str:
    return re.split(r"[- /]", metric, maxsplit=1)[0]  # `GEdit-CN-Intersection G_O` -> GEdit


def columns_of(rows: list[Row]) -> list[str]:
    """Headline columns (sub-scores such as `GenEval/position` left out) in the order of COLUMNS; a variant's
    columns, and metrics not in COLUMNS (WISE-verified), follow their benchmark's, in the summaries' order."""
    seen = list(dict.fromkeys(k for r in rows for k in r.values if "/" not in k))

    def order(col: str) -> tuple[float, int]:
        m = VARIANT.match(col)
        base = m.group(1) if m else col
        if base in COLUMNS:
            return COLUMNS.index(base) + (0.5 if m else 0), seen.index(col)
        family = [i for i, c in enumerate(COLUMNS) if _family(c) == _family(base)]
        return (max(family) + 0.5 if family else len(COLUMNS)), seen.index(col)

    return sorted(seen, key=order)


def fmt(metric: str, value: float) -> str:
    if metric.startswith("MME"):
        return f"{value:.2f}"
    if metric.startswith(("GenEval", "WISE", "GEdit")):
        return f"{value:.3f}"
    return f"{value:.1f}"


def cell_text(r: Row, c: str) -> str:
    """The value with its markers (see the module docstring); '' when not measured."""
    if c not in r.values:
        return ""
    text = fmt(c, r.values[c]) + ("?" if c in r.uncertain else "")
    return text + (" (n={}/{})".format(*r.partial[c]) if c in r.partial else "")


def comparable(r: Row, c: str) -> bool:
    """Whether the value may be marked best: measured, complete and exact."""
    return c in r.values and c not in r.uncertain and c not in r.partial


def best_of(rows: list[Row], cols: list[str]) -> dict[str, float | None]:
    return {c: max((r.values[c] for r in rows if comparable(r, c)), default=None) for c in cols}


TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
       "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "—": "---"}


def tex(s: str) -> str:
    """LaTeX text with every special character escaped (one pass, so the escapes are not escaped again)."""
    return "".join(TEX.get(ch, ch) for ch in s)


def render(rows: list[Row], fmt_name: str = "md") -> str:
    """The table in Markdown, CSV, LaTeX or HTML; the best comparable value per column is marked."""
    if fmt_name not in FORMATS:
        raise LvrpoError(f"leaderboard: unknown format {fmt_name!r} (valid: {', '.join(FORMATS)})")
    cols = columns_of(rows)
    best = best_of(rows, cols)

    def is_best(r: Row, c: str) -> bool:
        return comparable(r, c) and r.values[c] == best[c]

    def cell(r: Row, c: str, mark: tuple[str, str], esc=lambda s: s) -> str:
        text = esc(cell_text(r, c) or "—")
        return f"{mark[0]}{text}{mark[1]}" if is_best(r, c) else text

    def label(r: Row) -> str:
        return r.name + (" [published]" if r.published else "")

    if fmt_name == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["model", "published", *cols])
        for r in rows:
            w.writerow([r.name, int(r.published), *(cell_text(r, c) for c in cols)])
        w.writerow(["best", "", *(next((r.name for r in rows if is_best(r, c)), "") for c in cols)])
        return buf.getvalue()
    if fmt_name == "md":
        md = lambda s: s.replace("|", r"\|")  # noqa: E731 - a `|` in a run name would split the cell
        lines = ["| model | " + " | ".join(map(md, cols)) + " |", "|---|" + "---:|" * len(cols)]
        lines += [f"| {md(label(r))} | " + " | ".join(cell(r, c, ("**", "**")) for c in cols) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt_name == "latex":
        lines = [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
                 "Model & " + " & ".join(map(tex, cols)) + r" \\", r"\midrule"]
        # `{}` first: a row starting with `[` would otherwise be read as the previous `\\`'s optional argument
        lines += ["{}" + tex(label(r)) + " & " + " & ".join(cell(r, c, (r"\textbf{", "}"), tex) for c in cols)
                  + r" \\" for r in rows]
        return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr><td>" + html.escape(label(r)) + "</td>"
                   + "".join(f"<td>{cell(r, c, ('<b>', '</b>'), html.escape)}</td>" for c in cols) + "</tr>\n"
                   for r in rows)
    return f"<table>\n<thead><tr><th>model</th>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def plot(rows: list[Row], out: Path) -> None:
    """A bar chart of the table (see lvrpo.leaderboard_plot); needs the `plot` extra."""
    from lvrpo.leaderboard_plot import plot as _plot

    _plot(rows, out)
