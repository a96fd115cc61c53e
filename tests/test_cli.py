"""End to end: the real `lvrpo` command in a subprocess — eval (with resume after a kill), score, leaderboard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.util import lvrpo_cmd, make_mme_fixture, run_cli, write_jsonl


@pytest.fixture(scope="module")
def mme(tmp_path_factory) -> tuple[Path, Path]:
    return make_mme_fixture(tmp_path_factory.mktemp("mme"), images_per_task=3)


def _eval(data: Path, preds: Path, out: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data), "--out", str(out),
                   "--quiet", *extra, **kw)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_help_lists_the_verbs():
    res = run_cli("--help", check=True)
    for verb in ("eval", "score", "leaderboard"):
        assert verb in res.stdout


def test_eval_writes_a_complete_run_directory(mme, tmp_path):
    data, preds = mme
    res = _eval(data, preds, tmp_path / "run", "--seed", "3", check=True)
    assert "MME-P" in res.stdout and "mme" in res.stdout
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["model"] == f"replay:{preds}" and manifest["config"]["seed"] == 3
    assert manifest["benchmarks"] == ["mme"] and manifest["seeds"] == {"global": 3}
    assert {"torch", "transformers", "datasets", "lvrpo"} <= set(manifest["versions"])
    assert "git_sha" in manifest and manifest["python"]
    bench = tmp_path / "run" / "mme"
    assert len(_lines(bench / "predictions.jsonl")) == len(_lines(bench / "scores.jsonl")) == 14 * 3 * 2
    summary = json.loads((bench / "summary.json").read_text())
    # The same predictions rescored by `lvrpo score` give the same summary.
    rescored = run_cli("score", "--bench", "mme", "--predictions", str(bench / "predictions.jsonl"), "--data",
                       str(data), "--json", check=True)
    assert json.loads(rescored.stdout) == summary


def test_rerun_resumes_without_recomputing(mme, tmp_path):
    data, preds = mme
    _eval(data, preds, tmp_path / "run", check=True)
    files = {p: p.read_bytes() for p in (tmp_path / "run" / "mme").glob("*.jsonl")}
    res = _eval(data, preds, tmp_path / "run", check=True)
    assert "MME-P" in res.stdout
    assert {p: p.read_bytes() for p in files} == files  # nothing appended, nothing rewritten


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, "run ended before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError("run made no progress")


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGINT, 130)])
def test_killed_run_resumes_to_the_same_summary(mme, tmp_path, sig, code):
    data, preds = mme
    _eval(data, preds, tmp_path / "clean", check=True)
    out = tmp_path / "killed"
    cmd = [*lvrpo_cmd(), "eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data), "--out",
           str(out), "--quiet"]
    env = {**os.environ, "LVRPO_REPLAY_DELAY": "0.05", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_lines(out / "mme" / "predictions.jsonl", 10, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code
    if sig == signal.SIGINT:
        assert "run the same command again to resume" in stderr
    done = _lines(out / "mme" / "predictions.jsonl")
    assert 10 <= len(done) < 84 and not (out / "mme" / "summary.json").exists()

    _eval(data, preds, out, check=True)
    ids = [r["id"] for r in _lines(out / "mme" / "predictions.jsonl")]
    assert len(ids) == len(set(ids)) == 84
    assert ids[:len(done)] == [r["id"] for r in done]  # what was done before the kill was kept, not redone
    clean = json.loads((tmp_path / "clean" / "mme" / "summary.json").read_text())
    assert json.loads((out / "mme" / "summary.json").read_text()) == clean


def test_a_torn_last_line_is_dropped_and_redone(mme, tmp_path):
    data, preds = mme
    _eval(data, preds, tmp_path / "run", "--limit", "6", check=True)
    log = tmp_path / "run" / "mme" / "predictions.jsonl"
    log.write_text(log.read_text() + '{"id": "6", "outp')  # a kill in the middle of a write
    _eval(data, preds, tmp_path / "run", "--limit", "8", check=True)
    assert [r["id"] for r in _lines(log)] == [str(i) for i in range(8)]


def test_limit_keeps_question_pairs_whole(mme, tmp_path):
    data, preds = mme
    _eval(data, preds, tmp_path / "run", "--limit", "3", check=True)
    rows = _lines(tmp_path / "run" / "mme" / "predictions.jsonl")
    assert len(rows) == 4  # 3 would cut the second image's pair


def test_a_different_config_is_refused_unless_overwrite(mme, tmp_path):
    data, preds = mme
    _eval(data, preds, tmp_path / "run", check=True)
    res = _eval(data, preds, tmp_path / "run", "--seed", "7")
    assert res.returncode == 1 and "different config" in res.stderr and "seed" in res.stderr
    _eval(data, preds, tmp_path / "run", "--seed", "7", "--overwrite", check=True)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["seed"] == 7


def test_no_secret_reaches_the_run_directory(mme, tmp_path):
    data, preds = mme
    env = {"OPENAI_API_KEY": "sk-SENTINEL-123", "HF_TOKEN": "hf_SENTINEL"}
    _eval(data, preds, tmp_path / "run", "--judge", "openai:gpt-4o@https://user:pw-SENTINEL@example.org/v1",
          env=env, check=True)
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert "SENTINEL" not in path.read_text(errors="replace"), path
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["judge"] == "openai:gpt-4o"
    assert manifest["judge_spec"] == "openai:gpt-4o@https://example.org/v1"


@pytest.mark.parametrize("args, message", [
    (["--suite", "mmee"], "unknown benchmark or suite 'mmee' (suites: all, understanding, generation"),
    (["--suite", "mme:en"], "mme: unknown variant 'en' (valid variants: none)"),
    (["--model", "./no/such/ckpt"], "model path not found: ./no/such/ckpt"),
    (["--model", "replay:missing.jsonl"], "predictions file not found"),
    (["--batch-size", "0"], "--batch-size '0': expected a positive integer or auto"),
    (["--model-args", "steps"], "--model-args: expected k=v pairs"),
    (["--backend", "tgi"], "unknown backend 'tgi' (valid: hf, janus, diffusers, openai, vllm, replay)"),
])
def test_eval_errors_are_one_clear_line(mme, tmp_path, args, message):
    data, preds = mme
    base = {"--model": f"replay:{preds}", "--suite": "mme"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    res = run_cli("eval", *[x for kv in base.items() for x in kv], "--data", str(data), "--out", str(tmp_path / "r"))
    assert res.returncode == 1
    assert message in res.stderr.replace("\n", " ")
    assert "Traceback" not in res.stderr


def test_replay_without_a_needed_prediction_is_an_error(mme, tmp_path):
    data, preds = mme
    short = write_jsonl(tmp_path / "short.jsonl", _lines(preds)[:5])
    res = run_cli("eval", "--model", f"replay:{short}", "--suite", "mme", "--data", str(data), "--out",
                  str(tmp_path / "r"), "--quiet")
    assert res.returncode == 1 and "no prediction for mme id '5'" in res.stderr


@pytest.mark.parametrize("line, message", [
    ("{not json", "p.jsonl:2: not valid JSON"),
    ('{"output": "yes"}', "p.jsonl:2: prediction has no 'id'"),
    ('["id", 1]', "p.jsonl:2: prediction has no 'id'"),
    ('{"id": "0", "output": "no"}', "p.jsonl:2: id '0' appears twice"),
])
def test_bad_prediction_lines_name_file_and_line(mme, tmp_path, line, message):
    data, _ = mme
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "0", "output": "yes"}\n' + line + "\n")
    res = run_cli("score", "--bench", "mme", "--predictions", str(path), "--data", str(data))
    assert res.returncode == 1 and message in res.stderr


def test_unknown_prediction_ids_are_counted_not_dropped_silently(mme, tmp_path):
    data, preds = mme
    rows = _lines(preds) + [{"id": "9999", "output": "yes"}, {"id": "abc", "output": "no"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    res = run_cli("score", "--bench", "mme", "--predictions", str(path), "--data", str(data), "--json", check=True)
    summary = json.loads(res.stdout)  # stdout holds the JSON and nothing else
    assert summary["breakdown"]["counts"]["unmatched"] == 2
    assert "2 predictions had ids not in the data" in res.stderr


def test_missing_predictions_are_reported(mme, tmp_path):
    data, preds = mme
    path = write_jsonl(tmp_path / "p.jsonl", _lines(preds)[:10])
    res = run_cli("score", "--bench", "mme", "--predictions", str(path), "--data", str(data), "--json", "--out",
                  str(tmp_path / "o"), check=True)
    summary = json.loads(res.stdout)
    # n counts the data rows: samples without a prediction lower the coverage, and --strict fails on them
    assert summary["n"] == 84 and summary["n_scored"] == 10 and summary["breakdown"]["counts"]["missing"] == 74
    assert summary["coverage"] == round(10 / 84, 6)
    assert "74 samples had no prediction" in res.stderr
    assert json.loads((tmp_path / "o" / "summary.json").read_text()) == summary
    assert len(_lines(tmp_path / "o" / "scores.jsonl")) == 10
    strict = run_cli("score", "--bench", "mme", "--predictions", str(path), "--data", str(data), "--strict")
    assert strict.returncode == 1 and "--strict: unscored samples in mme (74)" in strict.stderr


def test_score_unknown_bench_names_the_valid_ones(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": "0", "output": "x"}])
    res = run_cli("score", "--bench", "nope", "--predictions", str(path))
    assert res.returncode == 1
    assert "unknown benchmark 'nope' (valid: mme, mmbench, mmmu, mathvista, mmvet, mmvp, geneval, wise, gedit)" \
        in res.stderr.replace("\n", " ")


def test_a_data_path_containing_an_equals_sign_is_a_path(mme, tmp_path):
    data, preds = mme
    odd = tmp_path / "a=b"
    odd.mkdir()
    (odd / "mme.jsonl").write_text(data.read_text())
    for png in (data.parent / "images").iterdir():
        (odd / "images").mkdir(exist_ok=True)
        (odd / "images" / png.name).write_bytes(png.read_bytes())
    _eval(odd / "mme.jsonl", preds, tmp_path / "run", check=True)


def test_strict_ignores_hidden_answer_splits():
    from lvrpo.cli import check_strict
    from lvrpo.types import LvrpoError, Summary

    hidden = Summary(bench="mmbench:en_test", metrics={}, headline="", n=5, n_scored=0)
    check_strict(True, [hidden])  # nothing can be scored locally there: not a failure
    partial = Summary(bench="mmvet", metrics={"MM-Vet": 1.0}, headline="MM-Vet", n=5, n_scored=4)
    check_strict(False, [partial])
    with pytest.raises(LvrpoError, match=r"mmvet \(1\)"):
        check_strict(True, [hidden, partial])


def test_progress_bars_go_to_stderr_unless_quiet(mme, tmp_path):
    data, preds = mme
    loud = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", str(data), "--out",
                   str(tmp_path / "a"), check=True)
    assert "mme predict" in loud.stderr and "84/84" in loud.stderr and "ETA" in loud.stderr
    assert loud.stderr.count("mme predict") == 1 and "mme score" in loud.stderr
    assert "predict" not in loud.stdout  # stdout keeps the results table only
    quiet = _eval(data, preds, tmp_path / "b", check=True)
    assert "predict" not in quiet.stderr
