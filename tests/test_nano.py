"""The nano model: `lvrpo world train-nano` is reproducible given its seed, its checkpoint loads with plain
transformers and through `--model DIR` (understanding, text-to-image and editing), and bad weights are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lvrpo.models.janus import JanusBackend
from lvrpo.types import LvrpoError
from lvrpo.world import nano
from tests.util import run_cli

TINY = ["--vq-steps", "3", "--vision-steps", "2", "--lm-steps", "3", "--batch", "2", "--captions", "8",
        "--max-examples", "3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nano") / "ckpt"
    res = run_cli("world", "train-nano", "--out", str(out), "--seed", "3", "--quiet", *TINY, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "nano model written to" in res.stderr
    return out


def test_same_seed_reproduces_the_logged_losses(trained, tmp_path):
    from lvrpo.world.train_nano import Recipe, train

    first = json.loads((trained / "nano_manifest.json").read_text())
    recipe = Recipe(seed=3, vq_steps=3, vision_steps=2, lm_steps=3, batch=2, captions=8, max_examples=3)
    again = train(tmp_path / "again", recipe)
    assert again["first_losses"] == first["first_losses"]  # every task's first logged losses, exactly
    assert set(first["first_losses"]) == {"vq", "vision", "vqa", "caption", "t2i", "edit"}
    assert first["command"].startswith("lvrpo world train-nano") and first["recipe"]["seed"] == 3
    assert first["world_version"] and first["parameters"] > 1_000_000


def test_checkpoint_loads_with_plain_transformers(trained):
    from transformers import JanusForConditionalGeneration, JanusProcessor

    model = JanusForConditionalGeneration.from_pretrained(trained)
    processor = JanusProcessor.from_pretrained(trained)
    assert model.config.lvrpo_capabilities == ["understand", "generate", "edit"]
    assert processor.num_image_tokens == nano.GRID ** 2


def test_eval_with_the_checkpoint_understands_generates_and_edits(trained, tmp_path):
    res = run_cli("eval", "--model", str(trained), "--suite", "mme,geneval,gedit", "--data", "world", "--limit", "2",
                  "--out", str(tmp_path / "run"), "--quiet", timeout=600)
    assert res.returncode == 0, res.stderr
    for bench in ("mme", "geneval", "gedit"):
        summary = json.loads((tmp_path / "run" / bench / "summary.json").read_text())
        assert summary["n"] >= 2 and summary["coverage"] == 1.0
    edits = list((tmp_path / "run" / "gedit").rglob("*.png"))
    assert any(not p.stem.endswith("_SRCIMG") for p in edits)


def test_only_checkpoints_that_declare_it_can_edit():
    assert JanusBackend.capabilities_for({"model_type": "janus"}) == {"understand", "generate"}  # Janus-Pro
    declared = {"model_type": "janus", "lvrpo_capabilities": ["understand", "generate", "edit"]}
    assert JanusBackend.capabilities_for(declared) == {"understand", "generate", "edit"}


def test_missing_or_corrupt_nano_weights_are_one_line(trained, tmp_path):
    with pytest.raises(LvrpoError, match=r"empty/config\.json is missing; rebuild it with: lvrpo world train-nano"):
        nano.checkpoint(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in trained.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    assert nano.checkpoint(bad) == str(bad)
    (bad / "model.safetensors").unlink()
    with pytest.raises(LvrpoError, match=r"bad/model\.safetensors is missing"):
        nano.checkpoint(bad)
    (bad / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LvrpoError, match=r"bad/model\.safetensors is corrupt.*lvrpo world train-nano"):
        nano.checkpoint(bad)
    (bad / "config.json").write_text("{")
    with pytest.raises(LvrpoError, match=r"config\.json is corrupt"):
        nano.checkpoint(bad)


def test_the_main_command_runs_the_packaged_nano_on_all_nine(tmp_path):
    """`lvrpo eval --model nano --suite all --data world` (cut to a few samples each): nine headlines, one table,
    the packaged checkpoint found without a path, its training recorded in the run's identity."""
    res = run_cli("eval", "--model", "nano", "--suite", "all", "--data", "world", "--limit", "2", "--out",
                  str(tmp_path / "run"), "--quiet", timeout=900)
    assert res.returncode == 0, res.stderr
    for bench in ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp", "geneval", "wise", "gedit"):
        assert bench in res.stdout
        assert json.loads((tmp_path / "run" / bench / "summary.json").read_text())["coverage"] == 1.0
    config = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]
    assert config["model"].endswith("lvrpo/world/nano") and config["trained"] and config["judge"] == "world"
    made = json.loads((nano.PACKAGED / "nano_manifest.json").read_text())
    assert made["command"].startswith("lvrpo world train-nano") and "test_split" in made


def test_vision_stage_labels_each_token_with_the_object_under_its_patch_centre():
    from lvrpo.world.scenes import COLORS, SHAPES, Obj, Scene
    from lvrpo.world.train_nano import token_labels

    # A large (0.28 × 32 ≈ 9 px) red cross centred at (0.2, 0.2) → box [2, 11): patch centres 2, 6, 10 are inside.
    scene = Scene((Obj("cross", "red", "large", 0.2, 0.2),))
    labels = token_labels(scene).view(3, nano.GRID, nano.GRID)
    inside = labels[0] > 0
    assert inside.sum() == 9 and inside[:3, :3].all()  # the 3 × 3 top-left tokens, nothing else
    assert (labels[0][inside] == 1 + SHAPES.index("cross")).all()
    assert (labels[1][inside] == 1 + COLORS.index("red")).all()
    assert (labels[:, ~inside] == 0).all()
