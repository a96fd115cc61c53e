"""Numbers you can trust: a run knows what it scored (data changes are re-scored, never a stale summary), coverage
counts what is missing, typed columns are normalised or refused, data defects are unscored (not wrong answers),
image paths stay in the data folder, and judge failures are re-judged on resume."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from tests.suite_fixtures import MMVET_GRADES, data_arg, understanding_fixture
from tests.test_suites import mmvet_judge
from tests.util import JudgeServer, make_mme_fixture, run_cli, write_jsonl


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _eval(model: str, suite: str, data: str, out: Path, *extra: str, **kw):
    return run_cli("eval", "--model", model, "--suite", suite, "--data", data, "--out", str(out), "--quiet", *extra,
                   **kw)


def _score_json(bench: str, preds: Path, data: Path) -> dict:
    return json.loads(run_cli("score", "--bench", bench, "--predictions", str(preds), "--data", str(data), "--json",
                              check=True).stdout)


def test_changed_answers_are_rescored_never_a_stale_summary(tmp_path):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    out = tmp_path / "run"
    _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    before = json.loads((out / "mme" / "summary.json").read_text())
    predictions = (out / "mme" / "predictions.jsonl").read_bytes()

    flipped = [{**r, "answer": "No" if r["answer"] == "Yes" else "Yes"} for r in _rows(data)]
    write_jsonl(data, flipped)  # same path, other answers
    res = _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    after = json.loads((out / "mme" / "summary.json").read_text())
    rescored = _score_json("mme", preds, data)
    assert after["metrics"] == rescored["metrics"] != before["metrics"]
    assert after["data"]["fingerprint"] != before["data"]["fingerprint"]
    assert (out / "mme" / "predictions.jsonl").read_bytes() == predictions  # only answers changed: no re-predict
    assert f"{len(flipped)} samples whose data, prediction or scorer changed were re-scored" in res.stderr

    # a changed question is a changed input: that sample is predicted again (and the same command says so)
    changed = [dict(r) for r in flipped]
    changed[0]["question"] = "Is this a different question? Please answer yes or no."
    write_jsonl(data, changed)
    res = _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    assert "1 samples changed since their prediction was made: predicted again" in res.stderr
    assert len(_rows(out / "mme" / "predictions.jsonl")) == len(changed) + 1
    # an unchanged rerun recomputes nothing
    files = {p: p.read_bytes() for p in (out / "mme").glob("*.jsonl")}
    _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    assert {p: p.read_bytes() for p in files} == files


def test_a_changed_image_file_is_a_changed_input(tmp_path):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    out = tmp_path / "run"
    _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    first = _rows(data)[0]["image"]
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / first)  # same path, other pixels
    res = _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    assert "2 samples changed since their prediction was made" in res.stderr  # the image's two questions


def test_typed_columns_are_normalised_or_refused(tmp_path):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    rows = _rows(data)
    rows[3]["answer"] = 1
    write_jsonl(tmp_path / "int.jsonl", rows)
    res = run_cli("score", "--bench", "mme", "--predictions", str(preds), "--data", str(tmp_path / "int.jsonl"))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "mme: column 'answer'" in res.stderr and "row 3" in res.stderr \
        and "found int 1" in res.stderr

    sources, mv_preds = understanding_fixture(tmp_path / "mv", benches=("mathvista",))
    plain = _score_json("mathvista", mv_preds, sources["mathvista"])
    typed = []
    for r in _rows(sources["mathvista"]):
        if r["answer_type"] == "integer":
            r["answer"] = int(r["answer"])
        if r["choices"]:
            r["choices"] = str(r["choices"])  # "['3', '5']", as a CSV/parquet export may store it
        typed.append(r)
    write_jsonl(tmp_path / "typed.jsonl", typed)
    assert _score_json("mathvista", mv_preds, tmp_path / "typed.jsonl")["metrics"] == plain["metrics"]
    typed[0]["choices"] = "__import__('os').system('true')"  # never evaluated: not a literal
    write_jsonl(tmp_path / "bad.jsonl", typed)
    res = run_cli("score", "--bench", "mathvista", "--predictions", str(mv_preds), "--data",
                  str(tmp_path / "bad.jsonl"))
    assert res.returncode == 1 and "mathvista: column 'choices'" in res.stderr and "expected a list" in res.stderr


def test_a_corrupt_benchmark_image_is_unscored_not_a_wrong_answer(tmp_path):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    rows = _rows(data)
    (tmp_path / rows[0]["image"]).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows[2]["image"] = "../../../../../../etc/passwd"  # must never be opened
    write_jsonl(data, rows)
    out = tmp_path / "run"
    res = _eval(f"replay:{preds}", "mme", str(data), out)
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "mme" / "summary.json").read_text())
    assert summary["n"] == len(rows) and summary["n_scored"] == len(rows) - 3  # 2 questions + 1 question
    assert "3 samples have unreadable benchmark data (a data defect, not a model error)" in res.stderr
    scores = {s["id"]: s for s in _rows(out / "mme" / "scores.jsonl")}
    assert scores["0"]["value"] is None and scores["0"]["reason"].startswith("data error:")
    assert scores["2"]["value"] is None and "outside the data folder" in scores["2"]["reason"]
    strict = _eval(f"replay:{preds}", "mme", str(data), out, "--strict")
    assert strict.returncode == 1 and "unscored samples in mme (3)" in strict.stderr


def test_judge_failures_are_judged_again_on_rerun(tmp_path):
    sources, preds = understanding_fixture(tmp_path, benches=("mmvet",))
    failing = {"on": True}

    def judge(system, text, images, body):
        if failing["on"] and "| zebra-beta | " in text:
            return None  # a 400: the sample is left unscored
        return mmvet_judge(system, text, images, body)

    out = tmp_path / "run"
    with JudgeServer(judge) as server:
        first = _eval(f"replay:{preds}", "mmvet", data_arg(sources), out, "--judge", server.spec, check=True)
        assert "unscored" in first.stderr
        calls = len(server.requests)
        failing["on"] = False
        res = _eval(f"replay:{preds}", "mmvet", data_arg(sources), out, "--judge", server.spec, check=True)
        assert len(server.requests) == calls + 1  # exactly the one unscored sample was asked again
    assert "1 sample unscored last time was scored again" in res.stderr
    summary = json.loads((out / "mmvet" / "summary.json").read_text())
    assert summary["n_scored"] == summary["n"] == 4
    assert float(MMVET_GRADES["zebra-beta"]) in [s["value"] for s in _rows(out / "mmvet" / "scores.jsonl")]


@pytest.mark.parametrize("content", [b"", b'{"config": {"model": ', b"[1, 2]", b'{"config": 3}', b"\xff\xfe{}"])
def test_a_corrupt_manifest_is_one_line_and_overwrite_replaces_it(tmp_path, content):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    out = tmp_path / "run"
    _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    (out / "manifest.json").write_bytes(content)
    res = _eval(f"replay:{preds}", "mme", str(data), out)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "corrupt manifest" in res.stderr and "--overwrite" in res.stderr and "Traceback" not in res.stderr
    _eval(f"replay:{preds}", "mme", str(data), out, "--overwrite", check=True)
    assert json.loads((out / "manifest.json").read_text())["benchmarks"] == ["mme"]


def test_out_pointing_at_a_file_is_one_line(tmp_path):
    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    (tmp_path / "file").write_text("x")
    res = _eval(f"replay:{preds}", "mme", str(data), tmp_path / "file")
    assert res.returncode == 1 and "is a file, not a run directory" in res.stderr and res.stderr.count("\n") == 1


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_names_the_path_and_keeps_what_was_stored(tmp_path, monkeypatch, code):
    """In-process (the real CLI app through typer's runner) so the disk can fail after the first batch."""
    from typer.testing import CliRunner

    from lvrpo.cli import app
    from lvrpo.store import JsonlLog

    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    out = tmp_path / "run"
    real_append, calls = JsonlLog.append, []

    def failing_append(self, rows):
        calls.append(len(rows))
        if len(calls) > 1:
            raise OSError(code, os.strerror(code), str(self.path))
        real_append(self, rows)

    monkeypatch.setattr(JsonlLog, "append", failing_append)
    res = CliRunner().invoke(app, ["eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data),
                                   "--out", str(out), "--quiet", "--batch-size", "4"])
    assert res.exit_code == 1 and not isinstance(res.exception, OSError), res.output
    line = next(x for x in res.output.splitlines() if x.startswith("error:"))
    assert str(out / "mme" / "predictions.jsonl") in line and os.strerror(code) in line and "kept" in line
    monkeypatch.setattr(JsonlLog, "append", real_append)
    assert len(_rows(out / "mme" / "predictions.jsonl")) == 4  # the first batch is intact; a rerun resumes
    _eval(f"replay:{preds}", "mme", str(data), out, check=True)
    assert len(_rows(out / "mme" / "predictions.jsonl")) == len(_rows(data))


def test_a_changed_chat_template_or_replay_file_is_another_run(tmp_path):
    """What renders the prompts is part of the run's identity: the same command on a checkpoint whose chat template
    changed (or a replay file whose content changed) is refused with the key that differs, never resumed."""
    from lvrpo.testing import tiny_llava

    data, preds = make_mme_fixture(tmp_path, images_per_task=1)
    ckpt = tiny_llava(tmp_path / "tiny-llava")
    out = tmp_path / "run"
    run_cli("eval", "--model", str(ckpt), "--suite", "mme", "--data", str(data), "--out", str(out), "--limit", "2",
            "--quiet", "--device", "cpu", check=True)
    assert len(json.loads((out / "manifest.json").read_text())["config"]["chat_template"]) == 16
    template = ckpt / "chat_template.jinja"
    template.write_text(template.read_text() + "{# edited #}")
    res = run_cli("eval", "--model", str(ckpt), "--suite", "mme", "--data", str(data), "--out", str(out), "--limit",
                  "2", "--quiet", "--device", "cpu")
    assert res.returncode == 1 and "differs in: chat_template" in res.stderr

    _eval(f"replay:{preds}", "mme", str(data), tmp_path / "replay", check=True)
    write_jsonl(preds, [{**r, "output": "No"} for r in _rows(preds)])
    res = _eval(f"replay:{preds}", "mme", str(data), tmp_path / "replay")
    assert res.returncode == 1 and "differs in: sha256" in res.stderr
