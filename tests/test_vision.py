"""lvrpo.vision: tiny random Mask2Former / CLIP checkpoints loaded through the real from_pretrained path (shapes,
types, no crash — random weights, so no accuracy), masked crops, replay detections and make_detector errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from lvrpo.types import LvrpoError
from lvrpo.vision import make_detector
from lvrpo.vision.color import BACKGROUND, COLORS, ClipColorClassifier, masked_crops
from lvrpo.vision.detector import COCO_CLASSES, Detections, Mask2FormerDetector, ReplayDetector, mask_boxes


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP byte-level alphabet: the 256 base symbols of a byte-level BPE vocabulary."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(extra))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny COCO-80 Mask2Former and a tiny CLIP (with a byte-level tokenizer), saved and loaded back."""
    from transformers import (
        CLIPConfig,
        CLIPModel,
        CLIPTokenizer,
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        SwinConfig,
    )

    root = tmp_path_factory.mktemp("vision")
    swin = SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=4, image_size=64,
                      out_features=["stage1", "stage2", "stage3", "stage4"])
    m2f = Mask2FormerConfig(backbone_config=swin, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1, decoder_layers=2,
                            num_attention_heads=2, num_queries=8, num_labels=80)
    Mask2FormerForUniversalSegmentation(m2f).save_pretrained(root / "m2f")

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in _bytes_to_unicode():
            vocab[ch + suffix] = len(vocab)
    clip = CLIPConfig(text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                       bos_token_id=0, eos_token_id=1, pad_token_id=1),
                      vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=32, patch_size=8), projection_dim=16)
    CLIPModel(clip).save_pretrained(root / "clip")
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(root / "clip")
    return make_detector(f"mask2former:{root / 'm2f'},clip={root / 'clip'}")


def test_coco_classes_are_genevals_object_names(refdata):
    names = (refdata / "geneval/object_names.txt").read_text().splitlines()
    assert list(COCO_CLASSES) == names and len(names) == 80


def test_tiny_mask2former_detects_through_real_code_path(tiny):
    detector, classifier = tiny
    assert isinstance(detector, Mask2FormerDetector) and isinstance(classifier, ClipColorClassifier)
    # 60×3: resized to 1333×67 (long side capped), cheap on CPU
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3, 60, 3), dtype=np.uint8))
    dets = detector.detect(image)
    assert isinstance(dets, Detections)
    n = len(dets)
    assert n == 100  # mmdet keeps the top-100 (query, class) pairs: 8 queries × 80 classes ≥ 100
    assert dets.scores.shape == (n,) and dets.boxes.shape == (n, 4) and dets.masks.shape == (n, 3, 60)
    assert dets.masks.dtype == bool and set(dets.labels) <= set(COCO_CLASSES)
    assert ((dets.scores >= 0) & (dets.scores <= 1)).all()
    assert np.array_equal(dets.boxes, mask_boxes(dets.masks))  # boxes are the masks' tight boxes
    assert detector.describe()["checkpoint"].endswith("m2f")


def test_geneval_scores_odd_images_with_tiny_models(tiny, tmp_path):
    """1×1, RGBA, greyscale and a non-image through the real Mask2Former + CLIP path: scored, never a crash."""
    from lvrpo.evals.geneval import GenEval
    from lvrpo.types import Context, Output

    adapter = GenEval()
    sample = next(s for s in adapter.load("hub") if s.row["tag"] == "color_attr")
    Image.new("RGB", (1, 1), "red").save(tmp_path / "0.png")
    Image.new("RGBA", (40, 2), (0, 0, 255, 0)).save(tmp_path / "1.png")  # elongated: cheap at 1333 × 67
    Image.new("L", (2, 40), 200).save(tmp_path / "2.png")
    (tmp_path / "3.png").write_bytes(b"not an image at all")
    ctx = Context(detector=tiny[0], color_classifier=tiny[1])
    out = Output(id=sample.id, images=[str(tmp_path / f"{k}.png") for k in range(4)])
    score = adapter.score(sample, out, ctx)
    assert score.value is not None and 0.0 <= score.value <= 1.0
    assert [r["file"] for r in score.parsed] == out.images
    assert score.parsed[3]["correct"] is False and score.parsed[3]["reason"].startswith("unreadable image")
    assert score.meta["detector"]["detector"]["checkpoint"].endswith("m2f")
    assert score.meta["detector"]["color_classifier"]["checkpoint"].endswith("clip")
    assert 0.0 <= adapter.partial_reward(sample, Output(id=sample.id, images=out.images[1:2]), ctx) <= 1.0


def test_preprocess_follows_mmdet_test_pipeline(tiny):
    detector, _ = tiny
    # 512×512 → scale min(1333/512, 800/512) = 1.5625 → 800×800, already a multiple of 32
    x, resized, orig = detector._preprocess(Image.new("RGB", (512, 512), (123, 116, 103)))
    assert tuple(x.shape) == (1, 3, 800, 800) and resized == (800, 800) and orig == (512, 512)
    # 300 wide × 200 high → min(1333/300, 800/200) = 4.0 → 1200×800; padded to 1216 (multiple of 32) with zeros
    x, resized, _ = detector._preprocess(Image.new("RGB", (300, 200), (255, 255, 255)))
    assert resized == (800, 1200) and tuple(x.shape) == (1, 3, 800, 1216)
    assert float(x[0, 0, 0, 1215]) == 0.0  # padding after normalisation
    assert abs(float(x[0, 0, 0, 0]) - (255 - 123.675) / 58.395) < 1e-5  # (v - mean) / std, RGB order


def test_clip_classifier_returns_one_colour_per_instance(tiny):
    _, clf = tiny
    image = Image.new("RGB", (20, 16), (200, 30, 30))
    mask = np.zeros((16, 20), dtype=bool)
    mask[2:10, 3:12] = True
    got = clf.classify(image, [[3, 2, 12, 10], [0, 0, 20, 16], [5, 5, 5, 5]], [mask, None, None], "apple")
    assert len(got) == 3 and all(c in COLORS for c in got)
    assert clf.classify(image, [], [], "apple") == []
    assert tuple(clf._colour_embeddings("apple").shape) == (16, 10)  # (projection dim, 10 colours), cached
    assert tuple(clf.preprocess(Image.new("RGB", (50, 20))).shape) == (3, 32, 32)


def test_clip_preprocess_is_open_clip_eval_transform(tiny):
    _, clf = tiny
    x = clf.preprocess(Image.new("RGB", (64, 40), (153, 153, 153)))
    # uniform #999: every value is (0.6 - mean) / std per channel (OpenAI mean/std)
    assert abs(float(x[0, 5, 5]) - (0.6 - 0.48145466) / 0.26862954) < 1e-5
    assert abs(float(x[2, 5, 5]) - (0.6 - 0.40821073) / 0.27577711) < 1e-5


def test_masked_crops_paste_on_grey_and_crop_to_box():
    image = Image.new("RGB", (10, 8), (255, 0, 0))
    mask = np.zeros((8, 10), dtype=bool)
    mask[2:4, 2:5] = True
    crop, plain, empty = masked_crops(image, [[1, 1, 6, 5], [0, 0, 4, 4], [3, 3, 3, 3]], [mask, None, None])
    assert crop.size == (5, 4) and plain.size == (4, 4) and empty.size == (1, 1)
    assert crop.getpixel((0, 0)) == (0x99, 0x99, 0x99) == Image.new("RGB", (1, 1), BACKGROUND).getpixel((0, 0))
    assert crop.getpixel((1, 1)) == (255, 0, 0)  # image pixel (2, 2) is inside the mask
    assert plain.getpixel((0, 0)) == (255, 0, 0)  # no mask: the box itself
    with pytest.raises(LvrpoError, match="mask shape"):
        masked_crops(image, [[0, 0, 2, 2]], [np.zeros((3, 3), dtype=bool)])


def test_mask_boxes_are_tight_with_exclusive_far_edges():
    m = np.zeros((2, 6, 8), dtype=bool)
    m[0, 2:4, 1:5] = True
    assert mask_boxes(m).tolist() == [[1, 2, 5, 4], [0, 0, 0, 0]]


def test_replay_detector(tmp_path):
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    Image.new("RGB", (4, 3)).save(img_dir / "a.png")
    data = {"imgs/a.png": [
        {"label": "dog", "score": 0.9, "box": [0, 0, 2, 2], "color": "red"},
        {"label": "cat", "score": 0.5, "box": [1, 0, 4, 3], "mask": [[0, 1, 1, 1]] * 3},
        {"label": "cat", "score": 0.4, "box": [0, 0, 1, 1], "mask": {"size": [3, 4], "counts": [3, 3, 6]}}]}
    (tmp_path / "dets.json").write_text(json.dumps(data))
    det, clf = make_detector(f"replay:{tmp_path / 'dets.json'}")
    assert isinstance(det, ReplayDetector) and clf is None
    d = det.detect(Image.new("RGB", (4, 3)), str(img_dir / "a.png"))
    assert d.labels == ["dog", "cat", "cat"] and d.colors == ["red", None, None]
    assert d.masks[0] is None and d.masks[1][:, 0].tolist() == [False] * 3 and d.masks[1][:, 1:].all()
    # uncompressed RLE is column-major: 3 off (column 0), 3 on (column 1), 6 off
    assert d.masks[2].tolist() == [[False, True, False, False]] * 3
    with pytest.raises(LvrpoError, match="no detections for image"):
        det.detect(Image.new("RGB", (4, 3)), str(img_dir / "b.png"))
    with pytest.raises(LvrpoError, match="is 4×3, image is 5×3"):
        det.detect(Image.new("RGB", (5, 3)), str(img_dir / "a.png"))


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ("[]", "JSON object keyed by image path"),
    ('{"a.png": {"label": "dog"}}', "must map to a list"),
    ('{"a.png": [{"label": "dog", "score": 0.5, "box": [1, 2, 3]}]}', "bad detection"),
    ('{"a.png": [{"label": "dog", "score": "high", "box": [1, 2, 3, 4]}]}', "bad detection"),
])
def test_replay_detector_rejects_bad_files(tmp_path, content, match):
    (tmp_path / "d.json").write_text(content)
    with pytest.raises(LvrpoError, match=match):
        make_detector(f"replay:{tmp_path / 'd.json'}")


def test_make_detector_errors(tmp_path):
    with pytest.raises(LvrpoError, match="detector checkpoint not found"):
        make_detector(f"mask2former:{tmp_path / 'nope'}")
    with pytest.raises(LvrpoError, match="detector checkpoint not found"):
        make_detector("mask2former:./no/such/dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LvrpoError, match="no weights file"):
        make_detector(f"mask2former:{tmp_path / 'empty'}")
    with pytest.raises(LvrpoError, match="file not found"):
        make_detector(f"replay:{tmp_path / 'none.json'}")
    with pytest.raises(LvrpoError, match="needs a file"):
        make_detector("replay:")
    with pytest.raises(LvrpoError, match="unknown --detector"):
        make_detector("yolo")
    with pytest.raises(LvrpoError, match="colour classifier checkpoint not found"):
        (tmp_path / "d.json").write_text("{}")
        make_detector(f"replay:{tmp_path / 'd.json'},clip={tmp_path / 'noclip'}")


def test_mask2former_without_opencv_says_which_extra(tiny, tmp_path, monkeypatch):
    """GenEval's mmdet pipeline resizes with OpenCV; without it the detector refuses (no silent other resize)."""
    detector, _ = tiny
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    with pytest.raises(LvrpoError, match=r"pip install 'lvrpo\[geneval\]'"):
        Mask2FormerDetector(detector.checkpoint, device="cpu")
    assert detector.describe()["resize"] == "cv2"
