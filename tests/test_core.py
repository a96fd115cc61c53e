"""Registry, suites, run store and published numbers."""

from __future__ import annotations

import json

import pytest
import yaml

from lvrpo.evals import BENCHMARKS, SUITES, get_adapter, resolve_suite
from lvrpo.leaderboard import COLUMNS, PUBLISHED
from lvrpo.runner import apply_limit
from lvrpo.store import JsonlLog, RunStore, redact
from lvrpo.types import LvrpoError, Sample


def test_registry_knows_the_nine_benchmarks_and_the_suites():
    assert BENCHMARKS == ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp", "geneval", "wise", "gedit")
    assert set(SUITES["understanding"]) | set(SUITES["generation"]) == set(SUITES["all"])
    assert [a.name for a in resolve_suite(" mme ")] == ["mme"]
    assert get_adapter("mme").spec == "mme"


@pytest.mark.parametrize("suite, message", [
    ("", "empty suite"),
    ("mme,foo", "unknown benchmark or suite 'foo'"),
    ("mme,mme", "names a benchmark twice"),
])
def test_bad_suites(suite, message):
    with pytest.raises(LvrpoError, match=message):
        resolve_suite(suite)


def test_unknown_benchmark_lists_the_valid_ones():
    with pytest.raises(LvrpoError, match="valid: mme, mmbench, mmmu, mathvista, mmvet, mmvp, geneval, wise, gedit"):
        get_adapter("mmlu")


def test_limit_rounds_up_to_whole_groups():
    samples = [Sample(id=str(i), row={"g": i // 3}) for i in range(9)]
    group = lambda s: s.row["g"]  # noqa: E731
    assert [s.id for s in apply_limit(samples, 4, group)] == ["0", "1", "2", "3", "4", "5"]
    assert len(apply_limit(samples, 3, group)) == 3
    assert len(apply_limit(samples, 4, lambda s: None)) == 4
    assert apply_limit(samples, 100, group) == samples
    with pytest.raises(LvrpoError):
        apply_limit(samples, 0, group)


def test_jsonl_log_drops_a_torn_last_line(tmp_path):
    log = JsonlLog(tmp_path / "x.jsonl")
    log.append([{"id": "a"}, {"id": "b"}])
    with log.path.open("a") as f:
        f.write('{"id": "c", "val')
    assert [r["id"] for r in log.read()] == ["a", "b"]
    log.append([{"id": "c"}])
    assert [r["id"] for r in log.read()] == ["a", "b", "c"]


def test_jsonl_log_refuses_corruption_in_the_middle(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "a"}\ngarbage\n{"id": "b"}\n')
    with pytest.raises(LvrpoError, match="x.jsonl:2: corrupt line"):
        JsonlLog(path).read()


def test_run_store_identity(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open({"model": "m", "seed": 0}, {"benchmarks": ["mme"]})
    store.open({"model": "m", "seed": 0}, {"benchmarks": ["mmmu"]})  # same config: resume, benchmarks merged
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["benchmarks"] == ["mme", "mmmu"]
    with pytest.raises(LvrpoError, match="differs in: model"):
        store.open({"model": "other", "seed": 0}, {})
    (store.bench_dir("mme") / "predictions.jsonl").write_text("{}\n")
    store.open({"model": "other", "seed": 0}, {}, overwrite=True)
    assert not (tmp_path / "run" / "mme").exists()


def test_redact_drops_secrets():
    cfg = {"judge": "openai:m@https://u:p@host/v1", "api_key": "sk-1", "nested": {"HF_TOKEN": "x", "ok": [1]}}
    assert redact(cfg) == {"judge": "openai:m@https://host/v1", "nested": {"ok": [1]}}


def test_published_numbers_have_sources_and_known_columns():
    data = yaml.safe_load(PUBLISHED.read_text())
    sub = {"GenEval", "WISE"}
    for model in data["models"]:
        for metric, entry in model["scores"].items():
            assert metric in COLUMNS or metric.split("/")[0] in sub, (model["model"], metric)
            assert isinstance(entry["value"], (int, float)), (model["model"], metric)
            for tag in str(entry["source"]).split(", "):
                assert tag in data["sources"], (model["model"], metric, tag)
    lvrpo = next(m for m in data["models"] if m["model"] == "LVRPO")
    assert lvrpo["scores"]["MathVista"]["value"] == 76.2 and lvrpo["scores"]["WISE"]["uncertain"] is True
