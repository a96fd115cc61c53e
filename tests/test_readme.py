"""The README's worked example reproduces: its conversion snippet, `lvrpo score` and `lvrpo leaderboard` print
what the README shows."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from tests.util import ROOT, run_cli

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    """The body of the first fenced block that starts right after `marker`'s line."""
    start = README.index(marker)
    body = README[README.index("\n", start) + 1:]
    return body[:body.index("```")]


def test_lavin_example_reproduces_the_printed_tables(tmp_path):
    snippet = README[README.index("python - <<'PY'\n") + len("python - <<'PY'\n"):README.index("\nPY\n")]
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the snippet reads tests/data/... relative to the checkout
    subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, check=True)

    score_line = next(line for line in README.splitlines() if line.startswith("lvrpo score --bench mme --predictions "
                                                                              "lavin_preds.jsonl"))
    res = run_cli(*shlex.split(score_line)[1:], cwd=tmp_path, env={"COLUMNS": "100"}, check=True)
    table = README[README.index("                   lvrpo results", README.index(score_line)):]
    table = table[:table.index("```")]
    assert [line.strip() for line in res.stdout.strip().splitlines()] == \
        [line.strip() for line in table.strip().splitlines()]

    board = _block_after("$ lvrpo leaderboard runs/lavin --published").replace("...\n", "")
    res = run_cli("leaderboard", "runs/lavin", "--published", cwd=tmp_path, check=True)
    printed = res.stdout.splitlines()
    shown_lines = board.strip().splitlines()
    assert printed[:len(shown_lines)] == shown_lines
    assert re.search(r"\| lavin \| 963\.61 \| 249\.64 \| 1213\.25 \|", res.stdout)


def test_the_id_table_matches_the_adapters():
    """README "Predictions files and ids": the documented id column of every benchmark is the adapter's."""
    from lvrpo.evals import BENCHMARKS, get_adapter

    rows = {}
    for line in README[README.index("| benchmark | prediction `id` | note |"):].splitlines()[2:]:
        if not line.startswith("| `"):
            break
        bench, ident = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[bench.strip("`")] = ident
    assert set(rows) == set(BENCHMARKS)
    for bench, ident in rows.items():
        column = get_adapter(bench).id_column
        if column is None:  # row index (MME, GenEval) or assigned after loading (GEdit's key)
            assert "index" in ident or ident == "`key`", (bench, ident)
        else:
            assert ident.startswith(f"`{column}`"), (bench, ident, column)


def test_the_architecture_document_is_in_the_repository():
    assert "(ARCHITECTURE.md)" in README and "shared/DESIGN" not in README
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for folder in ("lvrpo/evals", "lvrpo/models", "lvrpo/judges", "lvrpo/leaderboards"):
        assert (ROOT / folder).is_dir() and folder.split("/")[1] + "/" in text
