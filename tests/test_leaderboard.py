"""`lvrpo leaderboard`, end to end: run directories from a real `lvrpo eval` / `lvrpo score`, or summary.json files
written here (fast), through the real command; the plot's figure is checked in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.util import make_mme_fixture, run_cli, write_jsonl

# a LaTeX special character of every kind, in a run name and a metric name
SPECIAL = "a&b%c$d#e_f{g}h~i^j\\k"
SPECIAL_TEX = r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _eval(data: Path, preds: Path, out: Path) -> None:
    run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data), "--out", str(out),
            "--quiet", check=True)


def summary(run: Path, bench: str, metrics: dict[str, float], n: int = 100, n_scored: int | None = None) -> Path:
    """A summary.json as `lvrpo eval` writes it, in the bench directory it would use."""
    n_scored = n if n_scored is None else n_scored
    path = run / bench.replace(":", "_") / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bench": bench, "metrics": metrics, "headline": next(iter(metrics), ""),
                                "breakdown": {}, "n": n, "n_scored": n_scored, "notes": [], "coverage": n_scored / n}))
    return path


def table(stdout: str) -> dict[str, dict[str, str]]:
    """A Markdown table as {model: {column: cell}}."""
    header, _, *rows = stdout.strip().splitlines()
    cols = [c.strip() for c in header.strip("|").split("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return {r[0]: dict(zip(cols[1:], r[1:], strict=True)) for r in cells}


@pytest.fixture(scope="module")
def mme(tmp_path_factory) -> tuple[Path, Path]:
    return make_mme_fixture(tmp_path_factory.mktemp("mme"), images_per_task=3)


@pytest.fixture(scope="module")
def two_runs(mme, tmp_path_factory) -> tuple[Path, Path]:
    data, preds = mme
    root = tmp_path_factory.mktemp("runs")
    good = write_jsonl(root / "good.jsonl", [{**r, "output": row["answer"]} for r, row in
                                             zip(_lines(preds), _lines(data), strict=True)])
    _eval(data, preds, root / "model-a")
    _eval(data, good, root / "model-b")
    return root / "model-a", root / "model-b"


def test_leaderboard_markdown_marks_the_best(two_runs):
    a, b = two_runs
    res = run_cli("leaderboard", str(a), str(b), check=True)
    lines = res.stdout.splitlines()
    assert lines[0] == "| model | MME-P | MME-C | MME-sum |"
    row_b = next(line for line in lines if line.startswith("| model-b"))
    assert row_b == "| model-b | **2000.00** | **800.00** | **2800.00** |"  # every answer right: the maxima
    assert "**" not in next(line for line in lines if line.startswith("| model-a"))
    assert res.stderr == ""


@pytest.mark.parametrize("fmt, marker", [("csv", "best,,model-b,model-b,model-b"), ("latex", r"\textbf{2000.00}"),
                                         ("html", "<b>2000.00</b>")])
def test_leaderboard_formats(two_runs, tmp_path, fmt, marker):
    out = tmp_path / f"table.{fmt}"
    run_cli("leaderboard", *map(str, two_runs), "--format", fmt, "--out", str(out), check=True)
    assert marker in out.read_text()


def test_leaderboard_with_published_numbers_and_plot(two_runs, tmp_path):
    res = run_cli("leaderboard", *map(str, two_runs), "--published", "--plot", str(tmp_path / "p.png"), check=True)
    assert "Janus-Pro-7B [published] | 1567.10 |" in res.stdout
    assert "MMMU" not in res.stdout  # columns: only what the runs measured
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_leaderboard_errors(tmp_path):
    res = run_cli("leaderboard", str(tmp_path))
    assert res.returncode == 1 and "has no benchmark summaries" in res.stderr
    res = run_cli("leaderboard", "--published", "--format", "xls")
    assert res.returncode == 1 and "unknown format 'xls'" in res.stderr
    res = run_cli("leaderboard")
    assert res.returncode == 1 and "give at least one run directory or --published" in res.stderr


# ------------------------------------------------------------------------------------- 12. failed runs


def test_leaderboard_skips_a_failed_run_with_a_warning(two_runs, tmp_path):
    failed = tmp_path / "model-failed"  # what a run that died before its first summary leaves
    failed.mkdir()
    (failed / "manifest.json").write_text("{}")
    res = run_cli("leaderboard", str(two_runs[0]), str(failed), str(two_runs[1]), check=True)
    assert set(table(res.stdout)) == {"model-a", "model-b"}
    [warning] = res.stderr.splitlines()
    assert str(failed) in warning and "no benchmark summaries" in warning and "manifest.json only" in warning
    # with --published too: the published rows still follow the runs that are left
    res = run_cli("leaderboard", str(failed), str(two_runs[0]), "--published", check=True)
    assert "Janus-Pro-7B [published] | 1567.10 |" in res.stdout and len(res.stderr.splitlines()) == 1


def test_leaderboard_skips_an_unreadable_summary_but_keeps_the_rest_of_the_run(tmp_path):
    summary(tmp_path / "run", "mmmu", {"MMMU": 50.0})
    (tmp_path / "run" / "mme").mkdir()
    (tmp_path / "run" / "mme" / "summary.json").write_text('{"bench": "mme", "metr')  # torn by a full disk
    res = run_cli("leaderboard", str(tmp_path / "run"), check=True)
    assert table(res.stdout) == {"run": {"MMMU": "**50.0**"}}
    [warning] = res.stderr.splitlines()
    assert str(tmp_path / "run" / "mme" / "summary.json") in warning and "unreadable summary" in warning


def test_a_run_of_hidden_answer_splits_only_is_skipped_with_its_reason(two_runs, tmp_path):
    summary(tmp_path / "submit", "mmbench:en_test", {})  # answers are hidden: a submission file, no score
    res = run_cli("leaderboard", str(two_runs[0]), str(tmp_path / "submit"), check=True)
    assert set(table(res.stdout)) == {"model-a"}
    assert res.stderr.splitlines() == [f"warning: leaderboard: skipping {tmp_path / 'submit'}: no local scores "
                                       "(hidden-answer splits only)"]


def test_leaderboard_with_no_run_left_is_one_error_line(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
    res = run_cli("leaderboard", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "nope"), "--published")
    assert res.returncode == 1 and res.stdout == ""
    [line] = res.stderr.splitlines()
    assert line.startswith("error: leaderboard: no results to show: ")
    assert all(str(tmp_path / n) in line for n in ("a", "b", "nope")) and "not a run directory" in line


# ------------------------------------------------------------------------------------- 13. variants


def test_leaderboard_variants_get_their_own_columns(tmp_path):
    run, old = tmp_path / "run", tmp_path / "old"
    summary(run, "mmbench", {"MMBench": 75.0})
    summary(run, "mmbench:cn_dev", {"MMBench": 70.0})
    summary(run, "geneval:n8", {"GenEval": 0.5, "GenEval/position": 0.1})
    # GEdit and WISE name their variants in the metric already: no second label
    summary(run, "gedit", {"GEdit-EN G_O": 6.0})
    summary(run, "gedit:cn", {"GEdit-CN G_O": 5.0})
    summary(run, "gedit:cn_intersection", {"GEdit-CN-Intersection G_O": 5.5})
    summary(run, "wise:verified", {"WISE-verified": 0.4})
    summary(old, "mmbench:en_dev", {"MMBench": 80.0})  # the default variant spelled out: the same column
    summary(old, "mmbench", {"MMBench": 81.0})  # ... so a second copy of it is a clash, said out loud
    res = run_cli("leaderboard", str(run), str(old), "--published", check=True)
    assert res.stderr.splitlines() == [f"warning: leaderboard: {old}: MMBench is in both mmbench and mmbench_en_dev; "
                                       "showing mmbench"]
    rows = table(res.stdout)
    assert list(rows["run"]) == ["MMBench", "MMBench (cn_dev)", "GenEval (n8)", "WISE-verified", "GEdit-EN G_O",
                                 "GEdit-CN G_O", "GEdit-CN-Intersection G_O"]  # each beside its benchmark
    assert rows["run"]["MMBench"] == "75.0" and rows["run"]["MMBench (cn_dev)"] == "**70.0**"
    assert rows["old"]["MMBench"] == "81.0" and rows["old"]["MMBench (cn_dev)"] == "—"
    # published numbers are for the default variants: they sit in the plain columns only
    assert rows["Janus-Pro-7B [published]"]["MMBench"] == "79.2?"
    assert all(r["MMBench (cn_dev)"] == "—" and r["GenEval (n8)"] == "—" for name, r in rows.items()
               if name.endswith("[published]"))
    assert rows["BAGEL-7B-MoT [published]"]["GEdit-CN G_O"] == "6.500"


def test_every_default_variant_keeps_the_plain_column():
    from lvrpo.evals import BENCHMARKS, get_adapter
    from lvrpo.leaderboard import column_key

    for name in BENCHMARKS:
        adapter = get_adapter(name)
        if adapter.variant:
            assert column_key(f"{name}:{adapter.variant}", "X") == "X", name
            assert column_key(adapter.spec, "X") == "X", name


# ------------------------------------------------------------------------------------- 14. LaTeX


def test_latex_escapes_every_special_character(tmp_path):
    summary(tmp_path / SPECIAL, "mmmu", {"MMMU": 50.0, f"M{SPECIAL}": 1.0})
    summary(tmp_path / "other", "mmmu", {"MMMU": 40.0})
    res = run_cli("leaderboard", str(tmp_path / SPECIAL), str(tmp_path / "other"), "--format", "latex", check=True)
    lines = res.stdout.splitlines()
    assert lines[2] == rf"Model & MMMU & M{SPECIAL_TEX} \\"
    assert lines[4] == rf"{{}}{SPECIAL_TEX} & \textbf{{50.0}} & \textbf{{1.0}} \\"
    assert lines[5] == r"{}other & 40.0 & --- \\"


def test_tex_escapes_each_character_once():
    from lvrpo.leaderboard import tex

    assert tex(SPECIAL) == SPECIAL_TEX
    assert tex("\\textbf{x}") == r"\textbackslash{}textbf\{x\}"  # a backslash's own escape is not escaped again


# ------------------------------------------------------------------------------------- 15. coverage


def test_partial_runs_show_their_coverage_and_are_never_best(tmp_path):
    summary(tmp_path / "full", "mmmu", {"MMMU": 50.0}, n=84)
    summary(tmp_path / "part", "mmmu", {"MMMU": 61.2}, n=84, n_scored=40)  # higher, but over 40 samples only
    dirs = [str(tmp_path / "full"), str(tmp_path / "part")]
    rows = table(run_cli("leaderboard", *dirs, check=True).stdout)
    assert rows == {"full": {"MMMU": "**50.0**"}, "part": {"MMMU": "61.2 (n=40/84)"}}
    out = {f: run_cli("leaderboard", *dirs, "--format", f, check=True).stdout for f in ("csv", "latex", "html")}
    assert "part,0,61.2 (n=40/84)" in out["csv"] and "best,,full" in out["csv"]
    assert r"{}part & 61.2 (n=40/84) \\" in out["latex"] and r"\textbf{50.0}" in out["latex"]
    assert "<td>61.2 (n=40/84)</td>" in out["html"] and "<b>50.0</b>" in out["html"]


def test_predictions_missing_from_a_real_score_count_against_coverage(mme, tmp_path):
    data, preds = mme
    path = write_jsonl(tmp_path / "p.jsonl", _lines(preds)[:10])  # 10 of 84 answered
    run_cli("score", "--bench", "mme", "--predictions", str(path), "--data", str(data), "--out",
            str(tmp_path / "run" / "mme"), check=True)
    rows = table(run_cli("leaderboard", str(tmp_path / "run"), check=True).stdout)
    assert all(cell.endswith(" (n=10/84)") and "**" not in cell for cell in rows["run"].values()), rows


# ------------------------------------------------------------------------------------- 16. plot


def _sixteen_columns(root: Path) -> list[Path]:
    runs = [root / f"run-{i}" for i in range(3)]
    for i, run in enumerate(runs):
        summary(run, "mme", {"MME-P": 1500 + 50 * i, "MME-C": 500.0, "MME-sum": 2000.0 + 50 * i})
        for bench, metric, value in [("mmbench", "MMBench", 75), ("mmmu", "MMMU", 50), ("mathvista", "MathVista", 60),
                                     ("mmvet", "MM-Vet", 55), ("mmvp", "MMVP", 60), ("geneval", "GenEval", 0.8),
                                     ("wise", "WISE", 0.5)]:
            summary(run, bench, {metric: value + i}, n_scored=50 if (i, bench) == (0, "mmmu") else None)
        for spec, lang in (("gedit", "EN"), ("gedit:cn", "CN")):
            summary(run, spec, {f"GEdit-{lang} {k}": 6.0 + i for k in ("G_SC", "G_PQ", "G_O")})
    return runs


def test_plot_is_a_readable_grid_with_values_and_a_legend(tmp_path):
    from lvrpo import leaderboard as lb
    from lvrpo.leaderboard_plot import figure, pyplot

    rows = [lb.run_row(r)[0] for r in _sixteen_columns(tmp_path)] + lb.published_rows()
    cols = lb.columns_of(rows)
    assert len(cols) == 16
    fig = figure(rows)
    try:
        axes = fig.axes
        assert len(axes) == 16 and {ax.get_subplotspec().get_geometry()[:2] for ax in axes} == {(4, 4)}
        for ax, c in zip(axes, cols, strict=True):
            names = [t.get_text() for t in ax.get_yticklabels()]  # every panel names its bars
            assert ax.get_title(loc="left") == c and len(names) == len(ax.patches) > 0
            values = [t.get_text() for t in ax.texts]
            assert len(values) == len(names)  # a value on every bar
        mme_p = axes[0]
        labels = dict(zip([t.get_text() for t in mme_p.get_yticklabels()], [t.get_text() for t in mme_p.texts],
                          strict=True))
        assert labels["LVRPO"] == "1700.00?" and labels["run-2"] == "1600.00"
        hatched = {t.get_text() for t, p in zip(mme_p.get_yticklabels(), mme_p.patches, strict=True) if p.get_hatch()}
        assert hatched == {"LVRPO"}  # the uncertain published number
        mmmu = axes[cols.index("MMMU")]
        part = next(t for t in mmmu.texts if "(n=" in t.get_text())
        assert part.get_text() == "50.0 (n=50/100)" and part.get_fontweight() != "bold"
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == ["run", "published", "partial run (n=scored/total)", "published, uncertain (?)"]
    finally:
        pyplot().close(fig)


def test_plot_without_matplotlib_is_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from lvrpo.cli import app

    summary(tmp_path / "run", "mmmu", {"MMMU": 50.0})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails, as when not installed
    res = CliRunner().invoke(app, ["leaderboard", str(tmp_path / "run"), "--out", str(tmp_path / "t.md"),
                                   "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 1
    assert res.stderr.splitlines() == ["error: --plot needs matplotlib: pip install 'lvrpo[plot]'"]
    assert not (tmp_path / "t.md").exists() and not (tmp_path / "p.png").exists()  # failed before any output
