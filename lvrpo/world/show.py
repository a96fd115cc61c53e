"""What a person needs to see a world benchmark: a row in one line, and a contact sheet of its images."""

from __future__ import annotations

import json
from typing import Any

from PIL import Image, ImageDraw

from lvrpo.world.scenes import Scene, render

CELL = 128  # pixels per image on the sheet


def row_text(bench: str, row: dict[str, Any]) -> tuple[str, str]:
    """(what the row asks, what it expects), short."""
    ask = {"mme": "question", "mmbench": "question", "mmmu": "question", "mathvista": "question", "mmvet": "question",
           "mmvp": "Question", "geneval": "prompt", "wise": "Prompt", "gedit": "instruction"}[bench]
    expect = {"mme": "answer", "mmbench": "answer", "mmmu": "answer", "mathvista": "answer", "mmvet": "answer",
              "mmvp": "Correct Answer", "wise": "Explanation", "geneval": "tag", "gedit": "task_type"}[bench]
    options = "  " + " ".join(f"{c}. {row[c]}" for c in "ABCD" if row.get(c)) if bench == "mmbench" else ""
    return str(row[ask]) + options, str(row[expect])


def _images(bench: str, row: dict[str, Any]) -> list[Image.Image]:
    """The row's input images, then (generation benchmarks) a render of what it asks for."""
    images = [v for v in row.values() if isinstance(v, Image.Image)]
    world = json.loads(row["world"]) if isinstance(row.get("world"), str) else row.get("world")
    if bench in ("geneval", "wise"):
        images.append(render(Scene.from_dict(world)))
    elif bench == "gedit":
        images.append(render(Scene.from_dict(world["target"])))
    return images


def contact_sheet(bench: str, rows: list[dict[str, Any]]) -> Image.Image:
    """One line per row: its images side by side (for GEdit: source then target), numbered as `row_text`'s."""
    lines = [_images(bench, r) for r in rows]
    width = max(1, max(len(x) for x in lines)) * CELL + 24
    sheet = Image.new("RGB", (width, CELL * len(lines)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, images in enumerate(lines):
        draw.text((4, i * CELL + 4), str(i), fill=(0, 0, 0))
        for k, img in enumerate(images):
            sheet.paste(img.convert("RGB").resize((CELL - 4, CELL - 4), Image.NEAREST), (24 + k * CELL, i * CELL + 2))
    return sheet
