"""`lvrpo eval --suite generation` (GenEval, WISE, GEdit) end to end on ONE model: a tiny random FluxKontext
pipeline (`lvrpo.testing.diffusion.tiny_flux_kontext`), which generates without a source image and edits with one,
loaded through the diffusers backend. A random model makes whatever pixels it makes, so the replay detector says
what is in each saved GenEval file and a judge stand-in on 127.0.0.1 gives canned WISE / GEdit grades; every
expected number is worked by hand from the official rules (restated in each adapter's docstring).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from lvrpo.evals.gedit import PQ_PROMPT
from lvrpo.evals.wise import LEGACY_SYSTEM
from lvrpo.models import load_backend
from lvrpo.models.base import BackendOptions, SampleError
from lvrpo.testing.diffusion import tiny_flux_kontext
from lvrpo.types import Request
from tests.suite_fixtures import GEDIT_EDITS, png, write_detections, write_gedit
from tests.util import JudgeServer, run_cli

KONTEXT_SIDE = 1024  # FluxKontext rescales every request to max_area = 1024² (square when no size is asked)
WISE_REPLY = "Consistency: 2\nRealism: 1\nAesthetic Quality: 1"  # WiScore (0.7·2 + 0.2·1 + 0.1·1) / 2 = 0.85
GEDIT_SC = '{"score": [7, 9], "reasoning": "fine"}'  # SC = min(success, over-editing) = 7
GEDIT_PQ = '||V^=^V||{\n"score" : [4, 5],\n"reasoning" : "blurry"\n}||V^=^V||'  # PQ = min(naturalness, artifacts) = 4


@pytest.fixture(scope="module")
def kontext_dir(tmp_path_factory):
    return tiny_flux_kontext(tmp_path_factory.mktemp("kontext") / "tiny-flux-kontext")


def judge_answer(system, text, images, body):
    """WISE legacy by its system line; GEdit PQ (the edited image alone) and SC (source + edit, k1's instruction)."""
    if system == LEGACY_SYSTEM and len(images) == 1:
        return WISE_REPLY
    if text == PQ_PROMPT and len(images) == 1:
        return GEDIT_PQ
    if len(images) == 2 and text.endswith("Editing instruction: make edit k1\n"):
        return GEDIT_SC
    return None  # anything else: a 400, so the sample would show up unscored


def summary(run, bench: str) -> dict:
    return json.loads((run / bench / "summary.json").read_text(encoding="utf-8"))


def test_generation_suite_with_one_tiny_flux_kontext(tmp_path, kontext_dir):
    """--limit 1 keeps GenEval prompt 0 ("a photo of a bench", single_object, 4 images), WISE prompt 1 (Cultural)
    and GEdit's first EN row k1 (background_change).
    GenEval (evaluate_images.py: single_object is right when the class has a detection scored > 0.3): a bench at
    0.8 right, nothing wrong, a bench at 0.25 wrong, only a cow wrong -> 1/4; the mean over the one task present
    -> 0.25. WISE (Calculate.py): WiScore 0.85, the only category present -> Overall 0.85 (re-weighted).
    GEdit (VIEScore): SC 7, PQ 4 -> O = sqrt(28); one task, so G_SC 7, G_PQ 4, G_O sqrt(28)."""
    gedit = write_gedit(tmp_path)
    for key in GEDIT_EDITS:  # FluxKontext floors source sides to multiples of 32 here (16 for the real model):
        png(tmp_path / "gedit" / "src" / f"{key}.png", (70, 140, 210), size=(64, 48))  # 16×12 would be 0 px
    dets = write_detections(tmp_path, "run/geneval", {0: [("bench", 0.8), None, ("bench", 0.25), ("cow", 0.9)]})
    with JudgeServer(judge_answer) as judge:
        res = run_cli("eval", "--model", str(kontext_dir), "--suite", "generation", "--limit", "1", "--device", "cpu",
                      "--data", f"gedit={gedit}", "--detector", f"replay:{dets}", "--judge", judge.spec,
                      "--out", str(tmp_path / "run"), "--quiet", "--model-args", "steps=2",
                      env={"LVRPO_CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["suite"] == "generation" and manifest["benchmarks"] == ["geneval", "wise", "gedit"]
    assert manifest["config"]["backend"] == "diffusers"

    geneval, wise, edit = (summary(run, b) for b in ("geneval", "wise", "gedit"))
    assert geneval["headline"] == "GenEval" and geneval["metrics"]["GenEval"] == pytest.approx(0.25)
    assert geneval["breakdown"]["single_object"]["correct"] == 1 and geneval["n"] == geneval["n_scored"] == 1
    assert wise["headline"] == "WISE" and wise["metrics"]["WISE"] == pytest.approx(0.85)
    assert wise["metrics"]["WISE/cultural"] == pytest.approx(0.85) and wise["n"] == wise["n_scored"] == 1
    assert edit["headline"] == "GEdit-EN G_O" and edit["n"] == edit["n_scored"] == 1
    assert edit["metrics"]["GEdit-EN G_O"] == pytest.approx(math.sqrt(28))
    assert edit["metrics"]["GEdit-EN G_SC"] == pytest.approx(7.0)
    assert edit["metrics"]["GEdit-EN G_PQ"] == pytest.approx(4.0)
    assert len(judge.requests) == 3  # WISE once, GEdit SC + PQ once: every reply was read on the first round

    # the official layouts, holding what the model made (Kontext's ~1 MP, not a stored fixture)
    samples = run / "geneval/images/00000/samples"
    assert sorted(p.name for p in samples.iterdir()) == [f"{k:04d}.png" for k in range(4)]
    assert {Image.open(p).size for p in samples.iterdir()} == {(KONTEXT_SIDE, KONTEXT_SIDE)}
    assert json.loads((run / "geneval/images/00000/metadata.jsonl").read_text())["prompt"] == "a photo of a bench"
    assert [p.name for p in (run / "wise/images").iterdir()] == ["1.png"]
    assert Image.open(run / "wise/images/1.png").size == (KONTEXT_SIDE, KONTEXT_SIDE)
    assert {p.relative_to(run / "gedit").as_posix() for p in (run / "gedit").rglob("*.png")} == {
        "fullset/background_change/en/k1.png", "fullset/background_change/en/k1_SRCIMG.png"}
    w, h = Image.open(run / "gedit/fullset/background_change/en/k1.png").size
    assert w > h and w * h <= KONTEXT_SIDE**2  # landscape like the source, at most 1 MP


def test_same_seed_same_pixels_for_generation_and_editing(kontext_dir):
    """Through the backend the CLI uses: one model, both capabilities; image k is drawn with seed + k on its own
    CPU generator, so a repeat gives identical pixels, while another seed or another source gives others."""
    backend = load_backend(str(kontext_dir), options=BackendOptions(device="cpu", extra={"steps": "2"}))
    assert backend.capabilities == {"generate", "edit"} and backend.describe()["pipeline"] == "FluxKontextPipeline"

    def t2i(seed: int) -> list[np.ndarray]:
        req = Request(id="p", kind="generate", prompt="a photo of a bench", num_images=2, seed=seed)
        return [np.asarray(img) for img in backend.generate([req])[0]]

    def edit(color: tuple[int, int, int]) -> np.ndarray:
        req = Request(id="e", kind="edit", prompt="make it red", images=[Image.new("RGB", (64, 48), color)], seed=7)
        return np.asarray(backend.edit([req])[0][0])

    first, again, other = t2i(7), t2i(7), t2i(8)
    assert first[0].shape == (KONTEXT_SIDE, KONTEXT_SIDE, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], first[1])  # image 1 is drawn with seed 8: it equals seed 8's image 0
    assert np.array_equal(first[1], other[0])
    blue, blue_again, red = edit((10, 10, 250)), edit((10, 10, 250)), edit((250, 10, 10))
    assert np.array_equal(blue, blue_again)
    assert not np.array_equal(blue, red)  # the source image conditions the edit


def test_size_hints_and_too_small_sources(kontext_dir):
    """A GEdit-style size hint reaches Kontext as `max_area` (it keeps only the aspect ratio of height × width);
    a source smaller than the pipeline can floor to its latent grid fails that one request, not the run."""
    backend = load_backend(str(kontext_dir), options=BackendOptions(device="cpu", extra={"steps": "2"}))
    hinted = Request(id="h", kind="edit", prompt="make it red", images=[Image.new("RGB", (64, 48), "blue")], seed=1,
                     options={"target_size": [64, 48]})
    [[edited]] = backend.edit([hinted])
    assert edited.size[0] * edited.size[1] <= 64 * 48 * 1.5 and edited.size[0] > edited.size[1]
    tiny = Request(id="t", kind="edit", prompt="make it red", images=[Image.new("RGB", (16, 12), "blue")], seed=1)
    with pytest.raises(SampleError, match="request 't' is 16×12"):
        backend.edit([tiny])
