"""No network: a hub id fails within seconds in one line naming the fixes, or loads from the local HF cache; with
HF_HUB_OFFLINE only the cache is used. The hub is a local port that accepts connections and never answers (what a
machine without network sees, bounded and deterministic); the HF cache is an empty temporary HF_HOME."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from lvrpo.testing import tiny_llava
from lvrpo.types import LvrpoError
from lvrpo.vision.color import ClipColorClassifier
from lvrpo.vision.detector import Mask2FormerDetector
from tests.util import make_mme_fixture, run_cli


@pytest.fixture
def no_network(tmp_path):
    """`run_cli` env: offline mode off (huggingface_hub and datasets read an empty value as off), an empty HF cache,
    and HF_ENDPOINT at a listening socket nobody answers on (the kernel completes the connections)."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        hf = tmp_path / "hf"
        yield {"HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "", "TRANSFORMERS_OFFLINE": "", "HF_HOME": str(hf),
               "HF_HUB_CACHE": str(hf / "hub"), "HF_DATASETS_CACHE": str(hf / "datasets"),
               "HF_ENDPOINT": f"http://127.0.0.1:{hole.getsockname()[1]}"}


@pytest.fixture
def mme(tmp_path):
    return make_mme_fixture(tmp_path / "mme", images_per_task=1)


def error_line(res) -> str:
    """The one line the run printed: an `error:` and nothing else (no retry chatter)."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def timed(*args: str, env: dict) -> tuple[object, float]:
    t0 = time.monotonic()
    res = run_cli(*args, env=env, timeout=120)
    return res, time.monotonic() - t0


def test_a_hub_model_without_network_fails_fast_in_one_line(no_network, mme, tmp_path):
    data, _ = mme
    res, took = timed("eval", "--model", "someorg/somemodel", "--suite", "mme", "--data", str(data), "--out",
                      str(tmp_path / "run"), env=no_network)
    line = error_line(res)
    assert f"--model someorg/somemodel: the Hugging Face hub ({no_network['HF_ENDPOINT']}) could not be reached" in line
    assert "a local checkpoint directory" in line and "HF_HUB_OFFLINE=1" in line
    assert took < 20  # a generous bound (the probe gives up after 3 s), not a benchmark: it took ~50 s before


def test_hub_data_without_network_fails_fast_in_one_line(no_network, mme, tmp_path):
    _, preds = mme
    res, took = timed("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", "hub", "--out",
                      str(tmp_path / "run"), env=no_network)
    line = error_line(res)
    assert f"mme data lmms-lab/MME: the Hugging Face hub ({no_network['HF_ENDPOINT']}) could not be reached" in line
    assert "--data PATH" in line and "HF_HUB_OFFLINE=1" in line
    assert took < 20


def test_offline_mode_and_an_uncached_id_say_exactly_that(no_network, mme, tmp_path):
    data, preds = mme
    offline = {**no_network, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    line = error_line(run_cli("eval", "--model", "someorg/somemodel", "--suite", "mme", "--data", str(data),
                              "--out", str(tmp_path / "a"), env=offline))
    assert "--model someorg/somemodel: offline mode (HF_HUB_OFFLINE) is on and it is not in the local HF cache" in line
    assert "a local checkpoint directory" in line
    line = error_line(run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", "hub:someorg/data",
                              "--out", str(tmp_path / "b"), env=offline))
    assert "someorg/data: offline mode (HF_HUB_OFFLINE) is on and it is not in the local HF cache" in line
    assert "--data PATH" in line


def test_a_cached_model_loads_offline_when_the_hub_cannot_be_reached(no_network, mme, tmp_path):
    """The hub cache layout (refs/main -> snapshots/<commit>/files), as a download leaves it."""
    data, _ = mme
    repo = tmp_path / "hf" / "hub" / "models--someorg--tiny"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_llava(tmp_path / "tiny"), repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    res = run_cli("eval", "--model", "someorg/tiny", "--suite", "mme", "--data", str(data), "--out",
                  str(tmp_path / "run"), "--quiet", "--device", "cpu", "--dtype", "float32", env=no_network,
                  timeout=180)
    assert res.returncode == 0, res.stderr
    assert "cannot be reached: using someorg/tiny from the local HF cache" in res.stderr
    assert "Retry" not in res.stderr and (tmp_path / "run" / "mme" / "summary.json").is_file()


def test_geneval_detector_and_clip_ids_offline_and_uncached():
    # conftest sets HF_HUB_OFFLINE=1 for the tests themselves
    with pytest.raises(LvrpoError, match="--detector someorg/det: offline mode .* not in the local HF cache"):
        Mask2FormerDetector("someorg/det")
    with pytest.raises(LvrpoError, match="--detector clip= someorg/clip: offline mode .* not in the local HF cache"):
        ClipColorClassifier("someorg/clip")


def test_what_counts_as_cached(tmp_path, monkeypatch):
    import datasets
    from huggingface_hub import constants

    from lvrpo import hub

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    assert not hub.is_cached("org/Model") and not hub.is_cached("lmms-lab/MMVet", "dataset")
    (tmp_path / "hub" / "models--org--Model" / "snapshots").mkdir(parents=True)
    assert not hub.is_cached("org/Model")  # an interrupted download: no snapshot yet
    (tmp_path / "hub" / "models--org--Model" / "snapshots" / "abc").mkdir()
    assert hub.is_cached("org/Model") and not hub.is_cached("org/Model", "dataset")
    (tmp_path / "hub" / "datasets--lmms-lab--MMVet" / "snapshots" / "abc").mkdir(parents=True)
    assert not hub.is_cached("lmms-lab/MMVet", "dataset")  # raw files: datasets does not load those offline
    (tmp_path / "datasets" / "lmms-lab___mm_vet" / "default" / "0.0.0" / "abc").mkdir(parents=True)  # load_dataset's
    assert hub.is_cached("lmms-lab/MMVet", "dataset")
    assert hub.is_hub_id("org/name") and not hub.is_hub_id("./org/name") and not hub.is_hub_id("a/b/c")
