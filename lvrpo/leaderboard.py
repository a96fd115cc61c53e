"""Leaderboard tables: one row per run (and per published model), one column per benchmark headline."""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lvrpo.types import LvrpoError

PUBLISHED = Path(__file__).resolve().parent.parent / "leaderboards" / "published.yaml"
COLUMNS = ("MME-P", "MME-C", "MME-sum", "MMBench", "MMMU", "MathVista", "MM-Vet", "MMVP", "GenEval", "WISE",
           "GEdit-EN G_SC", "GEdit-EN G_PQ", "GEdit-EN G_O", "GEdit-CN G_SC", "GEdit-CN G_PQ", "GEdit-CN G_O")
FORMATS = ("md", "csv", "latex", "html")


@dataclass
class Row:
    name: str
    values: dict[str, float]
    uncertain: set[str] = field(default_factory=set)
    published: bool = False


def run_row(run_dir: Path) -> Row:
    """A run directory's headline metrics, read from each benchmark's summary.json."""
    if not run_dir.is_dir():
        raise LvrpoError(f"leaderboard: not a run directory: {run_dir}")
    values: dict[str, float] = {}
    for summary in sorted(run_dir.glob("*/summary.json")):
        values.update(json.loads(summary.read_text())["metrics"])
    if not values:
        raise LvrpoError(f"leaderboard: {run_dir} has no benchmark summaries (*/summary.json)")
    return Row(name=run_dir.name, values=values)


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


def columns_of(rows: list[Row]) -> list[str]:
    present = {k for r in rows for k in r.values if "/" not in k}
    return [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))


def fmt(metric: str, value: float) -> str:
    if metric.startswith("MME"):
        return f"{value:.2f}"
    if metric.startswith(("GenEval", "WISE", "GEdit")):
        return f"{value:.3f}"
    return f"{value:.1f}"


def render(rows: list[Row], fmt_name: str = "md") -> str:
    """The table in Markdown, CSV, LaTeX or HTML; the best value per column is marked."""
    if fmt_name not in FORMATS:
        raise LvrpoError(f"leaderboard: unknown format {fmt_name!r} (valid: {', '.join(FORMATS)})")
    cols = columns_of(rows)
    # uncertain published numbers (approximate, unclear scale) are shown but never marked best
    best = {c: max((r.values[c] for r in rows if c in r.values and c not in r.uncertain), default=None)
            for c in cols}

    def cell(r: Row, c: str, mark: tuple[str, str]) -> str:
        if c not in r.values:
            return "—"
        text = fmt(c, r.values[c]) + ("?" if c in r.uncertain else "")
        return f"{mark[0]}{text}{mark[1]}" if r.values[c] == best[c] and c not in r.uncertain else text

    def label(r: Row) -> str:
        return r.name + (" [published]" if r.published else "")

    if fmt_name == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["model", "published", *cols])
        for r in rows:
            w.writerow([r.name, int(r.published), *(cell(r, c, ("", "")) if c in r.values else "" for c in cols)])
        w.writerow(["best", "", *(next((r.name for r in rows if r.values.get(c) == best[c] and c not in r.uncertain),
                                        "") for c in cols)])
        return buf.getvalue()
    if fmt_name == "md":
        lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        lines += [f"| {label(r)} | " + " | ".join(cell(r, c, ("**", "**")) for c in cols) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt_name == "latex":
        esc = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#"}
        tex = lambda s: "".join(esc.get(ch, ch) for ch in s)  # noqa: E731
        lines = [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
                 "Model & " + " & ".join(tex(c) for c in cols) + r" \\", r"\midrule"]
        lines += [tex(label(r)) + " & " + " & ".join(cell(r, c, (r"\textbf{", "}")) for c in cols) + r" \\"
                  for r in rows]
        return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr><td>" + html.escape(label(r)) + "</td>"
                   + "".join(f"<td>{cell(r, c, ('<b>', '</b>'))}</td>" for c in cols) + "</tr>\n" for r in rows)
    return f"<table>\n<thead><tr><th>model</th>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def plot(rows: list[Row], out: Path) -> None:
    """One horizontal bar panel per column (scales differ: MME sums, percentages, 0–1, 0–10)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = columns_of(rows)
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 0.45 * len(rows) + 1.5), squeeze=False)
    for ax, c in zip(axes[0], cols, strict=True):
        have = [r for r in rows if c in r.values]
        ax.barh([r.name for r in have], [r.values[c] for r in have],
                color=["#9aa" if r.published else "#d62" for r in have])
        ax.set_title(c)
        ax.invert_yaxis()
        if ax is not axes[0][0]:
            ax.set_yticks(range(len(have)), [r.name for r in have], fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
