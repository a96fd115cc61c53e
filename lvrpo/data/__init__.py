"""Load benchmark rows from the HF hub, a local copy in the official schema, or the offline world.

`--data hub` (default) reads the benchmark's official HF id (falling back to its moved/mirror ids),
`--data hub:ID` names another id, `--data PATH` reads a `save_to_disk` directory or a
parquet/jsonl/json file, `--data world` is the bundled ShapesWorld generator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvrpo.types import LvrpoError, Sample

if TYPE_CHECKING:
    from lvrpo.evals.base import Adapter


def load_samples(adapter: Adapter, source: str, split: str, *, for_requests: bool) -> list[Sample]:
    """Rows of `adapter`'s benchmark as Samples, ids assigned, required columns checked.

    Columns needed to score are always required; image/request columns only when `for_requests`.
    """
    if source == "world":
        raise LvrpoError("--data world: the ShapesWorld generator is not available yet")
    if source == "hub" or source.startswith("hub:"):
        ids = (source[4:],) if source.startswith("hub:") else adapter.hub_ids
        rows, origin, columns, base_dir = _from_hub(adapter, ids, split)
    else:
        path = Path(source)
        if not path.exists():
            raise LvrpoError(f"--data {source}: no such file or directory")
        rows, columns = _from_path(path, split)
        origin, base_dir = str(path), (path if path.is_dir() else path.parent)

    required = list(adapter.columns) + (list(adapter.request_columns) if for_requests else [])
    for col in required:
        if col not in columns:
            raise LvrpoError(f"{adapter.name}: required column {col!r} missing in {origin}")
    return _to_samples(adapter, rows, columns, origin, base_dir)


def _to_samples(adapter: Adapter, rows: Iterable[dict[str, Any]], columns: list[str], origin: str,
                base_dir: Path | None) -> list[Sample]:
    # A local `id` column wins; else the benchmark's official unique id; else the 0-based row index.
    id_col = "id" if "id" in columns else adapter.id_column if adapter.id_column in columns else None
    samples, seen = [], set()
    for i, row in enumerate(rows):
        sid = str(row[id_col]) if id_col else str(i)
        if sid in seen:
            raise LvrpoError(f"{adapter.name}: duplicate sample id {sid!r} in {origin}")
        seen.add(sid)
        samples.append(Sample(id=sid, row=row, base_dir=base_dir))
    return samples


def _from_hub(adapter: Adapter, ids: tuple[str, ...], split: str):
    import datasets

    errors = []
    for hub_id in ids:
        try:
            ds = datasets.load_dataset(hub_id, adapter.hub_config, split=split)
        except Exception as e:  # not found, gated, offline: try the next known id
            errors.append(f"{hub_id}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        return _dataset_rows(ds), f"hub {hub_id} ({split})", list(ds.column_names), None
    raise LvrpoError(f"{adapter.name}: could not load split {split!r} from the hub; tried " + "; ".join(errors))


def _dataset_rows(ds) -> list[dict[str, Any]]:
    """Rows of an HF Dataset with images left encoded (decoded lazily per sample)."""
    import datasets

    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            ds = ds.cast_column(name, datasets.Image(decode=False))
    return list(ds)


def _from_path(path: Path, split: str) -> tuple[list[dict[str, Any]], list[str]]:
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as e:
            raise LvrpoError(f"--data {path}: not a directory saved with save_to_disk ({e})") from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise LvrpoError(f"--data {path}: no split {split!r} (has {', '.join(ds)})")
            ds = ds[split]
        return _dataset_rows(ds), list(ds.column_names)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return table.to_pylist(), list(table.column_names)
    if suffix in (".jsonl", ".json"):
        rows = _read_json_rows(path)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return rows, columns
    raise LvrpoError(f"--data {path}: unsupported file type {suffix!r} (use a save_to_disk dir, .parquet or .jsonl)")


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise LvrpoError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise LvrpoError(f"{path}: every row must be a JSON object")
    return rows
