"""Bad input files through the real CLI: exit 1 with one `error:` line naming the file (and line), no traceback.

Each case damages line 2 of a valid MME predictions or data file (make_mme_fixture), or replaces the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.util import make_mme_fixture, run_cli


@pytest.fixture(scope="module")
def mme(tmp_path_factory) -> tuple[Path, Path]:
    return make_mme_fixture(tmp_path_factory.mktemp("mme"), images_per_task=1)


def score(preds: Path, data: Path):
    return run_cli("score", "--bench", "mme", "--predictions", str(preds), "--data", str(data))


def one_error(res, *needles: str) -> str:
    """The single `error:` line, after checking exit 1, no traceback, and that it holds every needle."""
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 1, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert all(n in errors[0] for n in needles), errors[0]
    return errors[0]


def with_line2(src: Path, dst: Path, line: bytes) -> Path:
    """`src` with its second line replaced by `line` (raw bytes, so that it may be invalid UTF-8)."""
    lines = src.read_bytes().split(b"\n")
    dst.write_bytes(b"\n".join([lines[0], line, *lines[2:]]))
    return dst


@pytest.mark.parametrize("output, kind", [(3, "a number"), (["yes"], "an array"), ({"text": "yes"}, "an object")],
                         ids=["number", "list", "object"])
def test_prediction_output_that_is_not_a_string(mme, tmp_path, output, kind):
    data, preds = mme
    bad = with_line2(preds, tmp_path / "p.jsonl", json.dumps({"id": "1", "output": output}).encode())
    one_error(score(bad, data), "p.jsonl:2:", "'output' must be a string or null", kind)


def test_non_utf8_predictions_file(mme, tmp_path):
    data, preds = mme
    bad = with_line2(preds, tmp_path / "p.jsonl", b'{"id": "1", "output": "\xff\xfeyes"}')
    one_error(score(bad, data), "p.jsonl:2:", "not UTF-8", "0xff")


def test_non_utf8_data_file(mme, tmp_path):
    data, preds = mme
    line = data.read_bytes().split(b"\n")[1].replace(b'"Yes"', b'"Y\xe9s"').replace(b'"No"', b'"N\xe9"')
    one_error(score(preds, with_line2(data, tmp_path / "d.jsonl", line)), "d.jsonl:2:", "not UTF-8")


def test_deeply_nested_prediction_line(mme, tmp_path):
    data, preds = mme
    bad = with_line2(preds, tmp_path / "p.jsonl", b"[" * 100_000)
    one_error(score(bad, data), "p.jsonl:2:", "nested too deeply")


def test_deeply_nested_value_that_still_decodes(mme, tmp_path):
    """900 levels still decode, but would recurse later (copying, writing scores): refused at the line."""
    data, preds = mme
    line = b'{"id": "1", "output": "yes", "x": ' + b"[" * 900 + b"]" * 900 + b"}"
    bad = with_line2(preds, tmp_path / "p.jsonl", line)
    one_error(score(bad, data), "p.jsonl:2:", "nested too deeply")


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_deeply_nested_data(mme, tmp_path, suffix):
    data, preds = mme
    bad = tmp_path / f"d{suffix}"
    if suffix == ".jsonl":
        with_line2(data, bad, b"[" * 100_000)
    else:  # the .json array form: one document, no lines to name
        bad.write_bytes(b"[" * 100_000)
    one_error(score(preds, bad), str(bad) + (":2:" if suffix == ".jsonl" else ":"), "nested too deeply")


def test_csv_named_parquet_as_data(mme, tmp_path):
    _, preds = mme
    bad = tmp_path / "d.parquet"
    bad.write_text("question_id,question,answer,category\na.png,Red?,Yes,color\n")
    one_error(score(preds, bad), "d.parquet:", "not a readable parquet file")


def test_empty_predictions_file(mme, tmp_path):
    data, _ = mme
    (tmp_path / "p.jsonl").write_bytes(b"")
    one_error(score(tmp_path / "p.jsonl", data), "p.jsonl:", "no predictions")


@pytest.mark.parametrize("name", ["d.jsonl", "d.json", "d.parquet"])
def test_empty_data_file(mme, tmp_path, name):
    _, preds = mme
    (tmp_path / name).write_bytes(b"" if name != "d.json" else b"[]")
    one_error(score(preds, tmp_path / name), f"{name}:")


@pytest.mark.parametrize("line", [b'["id", "1"]', b'"yes"', b"3", b"null"], ids=["array", "string", "number", "null"])
def test_prediction_line_that_is_not_an_object(mme, tmp_path, line):
    data, preds = mme
    one_error(score(with_line2(preds, tmp_path / "p.jsonl", line), data), "p.jsonl:2:", "a JSON object")


@pytest.mark.parametrize("line", [b'["question_id", "q"]', b'"yes"', b"3"], ids=["array", "string", "number"])
def test_data_line_that_is_not_an_object(mme, tmp_path, line):
    data, preds = mme
    one_error(score(preds, with_line2(data, tmp_path / "d.jsonl", line)), "d.jsonl:2:", "a JSON object")


def test_data_json_array_with_a_non_object_item(mme, tmp_path):
    data, preds = mme
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    bad = tmp_path / "d.json"
    bad.write_text(json.dumps([rows[0], [1, 2], *rows[2:]]))
    one_error(score(preds, bad), "d.json: item 1:", "a JSON object")


def test_invalid_data_json_array_names_the_line(mme, tmp_path):
    data, preds = mme
    lines = data.read_text().splitlines()
    bad = tmp_path / "d.json"
    bad.write_text("[\n" + ",\n".join([lines[0], "{oops}", *lines[2:]]) + "\n]\n")
    one_error(score(preds, bad), "d.json:3:", "not valid JSON")


def test_integer_too_long_to_read(mme, tmp_path):
    data, preds = mme
    bad = with_line2(preds, tmp_path / "p.jsonl", b'{"id": "1", "output": "yes", "n": ' + b"1" * 5000 + b"}")
    one_error(score(bad, data), "p.jsonl:2:", "not valid JSON")


@pytest.mark.parametrize("images, needle", [("5", "'images' must be a list"), ('["a\\u0000b.png"]', "file name"),
                                            ('["a\\ud83d.png"]', "file name")], ids=["number", "nul", "surrogate"])
def test_unusable_image_paths(mme, tmp_path, images, needle):
    data, preds = mme
    line = b'{"id": "1", "output": "yes", "images": ' + images.encode() + b"}"
    one_error(score(with_line2(preds, tmp_path / "p.jsonl", line), data), "p.jsonl:2:", needle)


def test_odd_but_valid_files_are_read(mme, tmp_path):
    """A UTF-8 BOM, a U+2028 inside a string (str.splitlines would cut the line there), CRLF line ends and an
    answer holding a lone surrogate are all read and scored."""
    data, preds = mme
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[1]["question"] += "\u2028(see above)"
    odd = tmp_path / "d.jsonl"
    odd.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r, ensure_ascii=False).encode() for r in rows))
    answers = tmp_path / "p.jsonl"
    answers.write_bytes(with_line2(preds, tmp_path / "p0.jsonl", b'{"id": "1", "output": "yes\\ud83d"}').read_bytes())
    res = run_cli("score", "--bench", "mme", "--predictions", str(answers), "--data", str(odd), "--json",
                  "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_scored"] == len(rows)


# Four crashes the fuzz campaign found in the readers: each now a one-line error naming file and row.


def test_data_row_lacking_a_column_the_others_have(mme, tmp_path):
    data, preds = mme
    row = json.loads(data.read_text().splitlines()[1])
    del row["answer"]
    one_error(score(preds, with_line2(data, tmp_path / "d.jsonl", json.dumps(row).encode())),
              "d.jsonl", "row 1", "no 'answer' column")


def test_mme_category_that_is_not_a_name(mme, tmp_path):
    data, preds = mme
    row = json.loads(data.read_text().splitlines()[1])
    row["category"] = ["existence"]  # unhashable: the breakdown is keyed by it
    one_error(score(preds, with_line2(data, tmp_path / "d.jsonl", json.dumps(row).encode())),
              "mme", "column 'category'", "row 1")


def test_deeply_nested_metadata_is_a_one_line_error(tmp_path):
    from lvrpo.evals.geneval import GenEval
    from lvrpo.evals.mathvista import MathVista, _metadata
    from lvrpo.evals.wise import WISE
    from lvrpo.types import LvrpoError, Sample

    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(LvrpoError, match="'metadata' is not a struct"):  # was a RecursionError
        _metadata(Sample(id="1", row={"metadata": deep}))
    assert MathVista  # the adapter that calls it
    folder = tmp_path / "00000"
    (folder / "samples").mkdir(parents=True)
    (folder / "metadata.jsonl").write_text(deep)
    with pytest.raises(LvrpoError, match="nested too deeply") as e:
        GenEval().read_predictions_dir(tmp_path)
    assert "\n" not in str(e.value)
    wise = WISE()
    for name in wise.protocol.files:
        (tmp_path / "wise" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "wise" / name).write_text(deep)
    with pytest.raises(LvrpoError, match="nested too deeply"):
        wise._read_folder(tmp_path / "wise")
