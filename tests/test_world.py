"""`--data world` end to end: the nine benchmarks' world splits load through the unchanged adapters, the world's
oracles are the default judge and detector, the reference outputs score each benchmark's maximum and blank outputs
its minimum, `world export` writes what `--data world` reads, and bad input is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.types import LvrpoError
from lvrpo.world.data import with_world_split, world_split
from lvrpo.world.export import export
from tests.util import run_cli, write_jsonl

BENCHES = ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp", "geneval", "wise", "gedit")
# headline at the reference outputs (MME-P over the world's 4 perception subtasks: 4 × 200)
MAXIMUM = {"mme": 800.0, "mmbench": 100.0, "mmmu": 100.0, "mathvista": 100.0, "mmvet": 100.0, "mmvp": 100.0,
           "geneval": 1.0, "wise": 1.0, "gedit": 10.0}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """bench -> (data path, reference.jsonl) of the world test split."""
    root = tmp_path_factory.mktemp("world")
    return {b: (export(get_adapter(b), "test", root / b, reference=True), root / b / "reference.jsonl")
            for b in BENCHES}


def replay_file(path: Path, exported: dict, blank: bool = False) -> Path:
    """One replay file for all nine benchmarks: the reference outputs, or blank ones: empty text, an empty canvas
    for text-to-image, the unedited source for GEdit (a blank canvas is the right edit when the instruction
    removes a scene's only object)."""
    grey = path.parent / "grey.png"
    Image.new("RGB", (64, 64), (128, 128, 128)).save(grey)
    sources = {s.id: str(exported["gedit"][0].parent / s.row["input_image"])
               for s in get_adapter("gedit").load(str(exported["gedit"][0]))}
    lines = []
    for bench, (_, ref) in exported.items():
        for line in map(json.loads, ref.read_text().splitlines()):
            if "images" in line:
                images = [str(ref.parent / p) for p in line["images"]]
                if blank:
                    images = [sources[line["id"]] if bench == "gedit" else str(grey)] * len(images)
                lines.append({"bench": bench, "id": line["id"], "images": images})
            else:
                lines.append({"bench": bench, "id": line["id"], "output": "" if blank else line["output"]})
    return write_jsonl(path, lines)


def headlines(stdout: str) -> dict[str, float]:
    return {b: s["metrics"][s["headline"]] for b, s in json.loads(stdout).items()}


def test_reference_outputs_score_every_maximum_with_the_default_oracles(exported, tmp_path):
    """The main command's shape, with a replay model: `--data world` needs no --judge and no --detector."""
    replay = replay_file(tmp_path / "reference.jsonl", exported)
    res = run_cli("eval", "--model", f"replay:{replay}", "--suite", "all", "--data", "world", "--out",
                  str(tmp_path / "run"), "--quiet", "--strict")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["judge"] == "world" and manifest["config"]["detector"] == "world"
    assert manifest["config"]["world_version"]
    scored = run_cli("score", "--run", str(tmp_path / "run"), "--json", check=True)
    got = headlines(scored.stdout)
    assert got == pytest.approx(MAXIMUM)


def test_blank_outputs_score_every_minimum(exported, tmp_path):
    replay = replay_file(tmp_path / "blank.jsonl", exported, blank=True)
    res = run_cli("eval", "--model", f"replay:{replay}", "--suite", "all", "--data", "world", "--out",
                  str(tmp_path / "run"), "--quiet")
    assert res.returncode == 0, res.stderr
    got = headlines(run_cli("score", "--run", str(tmp_path / "run"), "--json", check=True).stdout)
    assert got == pytest.approx({b: 0.0 for b in BENCHES})


@pytest.mark.parametrize("bench", ["mmbench", "wise", "gedit"])
def test_export_is_what_data_world_reads(exported, bench):
    """Same ids, same rows (images compared as pixels) from the exported files as from the generator."""
    adapter = get_adapter(bench)
    from_files = adapter.load(str(exported[bench][0]))
    generated = adapter.load("world")
    assert sorted(s.id for s in from_files) == sorted(s.id for s in generated)  # WISE: file by file
    by_id = {s.id: s for s in from_files}
    for b in generated:
        a = by_id[b.id]
        for column, value in b.row.items():
            if isinstance(value, Image.Image):
                assert a.image(column).convert("RGB").tobytes() == value.convert("RGB").tobytes()
            else:
                assert a.row[column] == value, column


def test_world_splits_and_variants():
    assert world_split("world") == "test" and world_split("world:train") == "train" and world_split("hub") is None
    with pytest.raises(LvrpoError, match="no split 'val'"):
        world_split("world:val")
    with pytest.raises(LvrpoError, match="mmbench:cn_dev"):
        get_adapter("mmbench:cn_dev").load("world")
    assert with_world_split({"mme": "world"}, "train") == ({"mme": "world:train"}, None)
    with pytest.raises(LvrpoError, match="--data world has the splits train, test"):
        with_world_split({"mme": "world"}, "validation")
    train, test = get_adapter("mme").load("world:train"), get_adapter("mme").load("world")
    assert len(train) == 10 * len(test)
    assert not {s.row["question"] + s.row["world"] for s in train} & {s.row["question"] + s.row["world"] for s in test}


def test_bad_world_input_is_one_line(tmp_path):
    res = run_cli("eval", "--model", "replay:none.jsonl", "--suite", "mme", "--data", "world", "--split", "dev")
    assert res.returncode == 1 and "--data world has the splits train, test" in res.stderr
    assert "Traceback" not in res.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    res = run_cli("world", "export", "mme", "--out", str(tmp_path / "full"))
    assert res.returncode == 1 and "not empty" in res.stderr and (tmp_path / "full" / "x.txt").exists()
    res = run_cli("world", "export", "mmbench:cn_dev", "--out", str(tmp_path / "cn"))
    assert res.returncode == 1 and "no mmbench:cn_dev in the world" in res.stderr


def test_limit_beyond_the_world_split_says_all_are_used(exported, tmp_path):
    replay = replay_file(tmp_path / "reference.jsonl", exported)
    res = run_cli("eval", "--model", f"replay:{replay}", "--suite", "mmvp", "--data", "world", "--limit", "500",
                  "--out", str(tmp_path / "run"), "--quiet", check=True)
    assert "--limit 500 is more than the 60 samples the data holds: all are used" in res.stderr.replace("\n", " ")
    assert json.loads((tmp_path / "run" / "mmvp" / "summary.json").read_text())["n"] == 60


def test_world_show_prints_rows_and_saves_a_contact_sheet(tmp_path):
    res = run_cli("world", "show", "gedit", "--n", "3", "--out", str(tmp_path / "sheet.png"), check=True)
    assert "instruction" not in res.stdout and "color_alter" in res.stdout or "subject" in res.stdout
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size[1] == 3 * 128 and sheet.size[0] >= 2 * 128  # 3 rows: source and target side by side


def test_world_export_cli_and_score_of_its_reference(tmp_path):
    out = tmp_path / "mmvp"
    res = run_cli("world", "export", "mmvp", "--out", str(out), "--reference", check=True)
    assert f"--data {out / 'data.jsonl'}" in res.stderr
    scored = run_cli("score", "--bench", "mmvp", "--predictions", str(out / "reference.jsonl"), "--data",
                     str(out / "data.jsonl"), "--json", check=True)
    assert json.loads(scored.stdout)["metrics"]["MMVP"] == 100.0
    res = run_cli("world", "export", "mmvp", "--out", str(out), "--overwrite", check=True)
    assert not (out / "reference.jsonl").exists()  # replaced, not merged
