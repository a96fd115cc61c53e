"""Data sources: local jsonl/parquet/save_to_disk copies in the official schema, hub ids with fallback, ids."""

from __future__ import annotations

import io

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lvrpo.data import load_samples
from lvrpo.data.images import ImageError, decode_image
from lvrpo.evals.mme import MME
from lvrpo.types import LvrpoError
from tests.util import make_mme_fixture, write_jsonl


def _png_bytes(color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (5, 3), color).save(buf, format="PNG")
    return buf.getvalue()


ROW = {"question_id": "color/a.png", "question": "Red? Please answer yes or no.", "answer": "Yes", "category": "color"}


def test_jsonl_with_relative_image_paths(tmp_path):
    data, _ = make_mme_fixture(tmp_path / "d", images_per_task=1)
    samples = MME().load(str(data))
    assert [s.id for s in samples[:3]] == ["0", "1", "2"]  # MME has no unique column: row index
    assert samples[0].image().size == (8, 8)
    assert samples[0].base_dir == data.parent


@pytest.mark.parametrize("image", [{"bytes": _png_bytes(), "path": None}, _png_bytes()])
def test_parquet_with_image_bytes(tmp_path, image):
    path = tmp_path / "mme.parquet"
    pq.write_table(pa.Table.from_pylist([{**ROW, "image": image}, {**ROW, "answer": "No", "image": image}]), path)
    samples = MME().load(str(path))
    assert [s.image().size for s in samples] == [(5, 3), (5, 3)]


def test_save_to_disk_directory_with_image_feature(tmp_path):
    ds = datasets.Dataset.from_list([{**ROW, "image": Image.open(io.BytesIO(_png_bytes((0, 9, 0))))}])
    ds = ds.cast_column("image", datasets.Image())
    datasets.DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "saved"))
    [sample] = MME().load(str(tmp_path / "saved"))
    assert sample.image().convert("RGB").getpixel((0, 0)) == (0, 9, 0)
    with pytest.raises(LvrpoError, match="no split 'dev'"):
        load_samples(MME(), str(tmp_path / "saved"), "dev", for_requests=True)


def test_local_id_column_wins(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{**ROW, "id": "q-7"}, {**ROW, "id": "q-9", "answer": "No"}])
    assert [s.id for s in MME().load(str(path), for_requests=False)] == ["q-7", "q-9"]


def test_duplicate_ids_are_refused(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{**ROW, "id": "x"}, {**ROW, "id": "x"}])
    with pytest.raises(LvrpoError, match="duplicate sample id 'x'"):
        MME().load(str(path), for_requests=False)


def test_missing_required_column_names_benchmark_column_and_file(tmp_path):
    bad = {k: v for k, v in ROW.items() if k != "category"}
    path = write_jsonl(tmp_path / "m.jsonl", [bad])
    with pytest.raises(LvrpoError) as e:
        MME().load(str(path), for_requests=False)
    assert "mme" in str(e.value) and "'category'" in str(e.value) and str(path) in str(e.value)
    # images are needed only to ask a model, not to score stored predictions
    path = write_jsonl(tmp_path / "n.jsonl", [ROW])
    assert len(MME().load(str(path), for_requests=False)) == 1
    with pytest.raises(LvrpoError, match="'image'"):
        MME().load(str(path), for_requests=True)


def test_bad_sources_give_clear_errors(tmp_path):
    with pytest.raises(LvrpoError, match="no such file"):
        MME().load(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(LvrpoError, match="unsupported file type"):
        MME().load(str(tmp_path / "x.csv"))
    (tmp_path / "broken.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(LvrpoError, match=r"broken.jsonl:2"):
        MME().load(str(tmp_path / "broken.jsonl"))
    with pytest.raises(LvrpoError, match="the world has no split 'dev'"):
        MME().load("world:dev")
    with pytest.raises(LvrpoError, match="unknown split 'dev'"):
        MME().load("hub", "dev")


def test_hub_tries_the_official_id_then_the_moved_one(monkeypatch):
    calls = []
    local = datasets.Dataset.from_list([ROW, {**ROW, "answer": "No"}])

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        if path == "lmms-lab/MME":
            raise FileNotFoundError("Dataset 'lmms-lab/MME' doesn't exist on the Hub")
        return local

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("lvrpo.hub.ensure_hub", lambda *a, **k: True)  # the hub "answers" (tests/test_offline.py)
    samples = MME().load("hub", for_requests=False)
    assert calls == [("lmms-lab/MME", None, "test"), ("lmms-lab-encoder/MME", None, "test")]
    assert [s.id for s in samples] == ["0", "1"]
    calls.clear()
    MME().load("hub:me/my-mme-copy", for_requests=False)
    assert calls == [("me/my-mme-copy", None, "test")]


def test_hub_failure_lists_every_id_tried(monkeypatch):
    def offline(path, name=None, split=None):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr("lvrpo.hub.ensure_hub", lambda *a, **k: True)
    with pytest.raises(LvrpoError, match="lmms-lab/MME.*lmms-lab-encoder/MME"):
        MME().load("hub")


@pytest.mark.parametrize("value, message", [
    (b"not an image", "not a readable image"),
    ("missing.png", "image file not found"),
    (None, "no image"),
    ("data:image/png;base64,@@@", "bad base64"),
])
def test_unreadable_images_raise_image_error(tmp_path, value, message):
    with pytest.raises(ImageError, match=message):
        decode_image(value, tmp_path)


def test_data_uri_and_truncated_png(tmp_path):
    import base64

    uri = "data:image/png;base64," + base64.b64encode(_png_bytes()).decode()
    assert decode_image(uri).size == (5, 3)
    with pytest.raises(ImageError):
        decode_image(_png_bytes()[:40])


def test_revision_reaches_load_dataset_and_the_run_identity(monkeypatch, tmp_path):
    """`--revision REV` (or `hub@REV`) pins the hub dataset; it is part of what the run records."""
    from lvrpo.cli import with_revision

    calls = []

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, kw.get("revision")))
        return datasets.Dataset.from_list([ROW, {**ROW, "answer": "No"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr("lvrpo.hub.ensure_hub", lambda *a, **k: True)
    MME().load("hub@abc123", for_requests=False)
    MME().load("hub:me/mme@v2", for_requests=False)
    assert calls == [("lmms-lab/MME", "abc123"), ("me/mme", "v2")]
    assert with_revision("hub", "abc123") == "hub@abc123"
    assert with_revision("mme=hub:me/mme,mmmu=/x.jsonl", "r1") == "mme=hub:me/mme@r1,mmmu=/x.jsonl"
    with pytest.raises(LvrpoError, match="--revision"):
        with_revision("hub", "a,b")
