"""`lvrpo world export`: a world split written to disk in the benchmark's official layout, and its reference
predictions, so `lvrpo eval/score --data PATH` reads exactly the rows `--data world` generates.

Layouts (images as PNG files under `images/`, referenced by relative path as the adapters read them):
- understanding benchmarks and GEdit: `data.jsonl`, one official-schema row per line;
- GenEval: `evaluation_metadata.jsonl` (the official metadata file's schema);
- WISE: the protocol's three official prompt files (`cultural_common_sense.json`, ...).
Every row keeps its `world` column (the scene JSON), which the adapters ignore and the oracles may read.

`--reference` adds `reference.jsonl`: for the understanding benchmarks the gold answers as replies, for GenEval and
WISE renders of the prompt's scene, for GEdit the target scene (images under `reference/`). Scored with
`lvrpo score`, they give each benchmark's maximum.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from lvrpo.evals.base import Adapter, safe_name
from lvrpo.types import LvrpoError
from lvrpo.world.data import world_rows

WISE_FILES = {"CULTURE": 0, "TIME": 1, "SPACE": 1, "BIOLOGY": 2, "PHYSICS": 2, "CHEMISTRY": 2}  # Protocol.files


def data_path(adapter: Adapter, out: Path) -> Path:
    """What `--data` should name for an export of `adapter`'s benchmark in `out`."""
    return out if adapter.name == "wise" else out / ("evaluation_metadata.jsonl" if adapter.name == "geneval"
                                                     else "data.jsonl")


def export(adapter: Adapter, split: str, out: Path, *, reference: bool = False, overwrite: bool = False) -> Path:
    """Write the world `split` of `adapter`'s benchmark into `out` (refused when `out` holds files, unless
    `overwrite`); returns the path to pass as `--data`."""
    if out.exists() and not out.is_dir():
        raise LvrpoError(f"world export: {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise LvrpoError(f"world export: {out} is not empty (pass --overwrite to replace what is there)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_with_files(row, out, f"{i:05d}") for i, row in enumerate(world_rows(adapter, split))]
    target = data_path(adapter, out)
    if adapter.name == "wise":
        files: list[list[dict]] = [[] for _ in adapter.protocol.files]
        for row in rows:
            files[WISE_FILES[adapter.category(row["prompt_id"])]].append(row)
        for name, records in zip(adapter.protocol.files, files, strict=True):
            (out / name).write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    if reference:
        write_reference(adapter, target, out)
    return target


def _with_files(row: dict[str, Any], out: Path, stem: str) -> dict[str, Any]:
    """The row with every image value saved as `images/<column>/<stem>.png` and replaced by that relative path."""
    done = dict(row)
    for column, value in row.items():
        if isinstance(value, Image.Image):
            rel = Path("images") / column / f"{stem}.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            value.save(out / rel)
            done[column] = rel.as_posix()
    if "decoded_image" in done and "image" in done:  # MathVista: `image` names the file `decoded_image` holds
        done["image"] = done["decoded_image"]
    return done


def write_reference(adapter: Adapter, data: Path, out: Path) -> Path:
    """`reference.jsonl` of reference outputs for every sample of the exported data, ids as the adapter gives."""
    from lvrpo.world.understanding import reference_output

    lines = []
    for sample in adapter.load(str(data), None, for_requests=False):
        line: dict[str, Any] = {"id": sample.id}
        if adapter.kind == "understand":
            line["output"] = reference_output(adapter.name, sample.row)
        else:
            from lvrpo.world.generation import reference_images

            paths = []
            for k, image in enumerate(reference_images(adapter.name, sample.row)):
                rel = Path("reference") / f"{safe_name(sample.id)}_{k}.png"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                image.save(out / rel)
                paths.append(rel.as_posix())
            line["images"] = paths
        lines.append(line)
    path = out / "reference.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return path
