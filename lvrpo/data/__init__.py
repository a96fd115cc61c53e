"""Load benchmark rows from the HF hub, a local copy in the official schema, or the offline world.

`--data hub` (default) reads the benchmark's official HF id (falling back to its moved/mirror ids),
`--data hub:ID` names another id, `--data PATH` reads a `save_to_disk` directory or a
parquet/jsonl/json file, `--data world[:SPLIT]` the bundled ShapesWorld generator (`lvrpo.world.data`).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvrpo.types import LvrpoError, Sample

if TYPE_CHECKING:
    from lvrpo.evals.base import Adapter


def load_samples(adapter: Adapter, source: str, split: str, *, for_requests: bool) -> list[Sample]:
    """Rows of `adapter`'s benchmark as Samples, ids assigned, required columns checked.

    Columns needed to score are always required; image/request columns only when `for_requests`.
    """
    from lvrpo.world import data as world

    hub, at, revision = source.partition("@")  # `hub@REV` / `hub:ID@REV`: a dataset revision (commit, tag)
    if (part := world.world_split(source)) is not None:  # generated rows, images as PIL values
        rows = world.world_rows(adapter, part)
        columns, origin, base_dir = list(dict.fromkeys(k for row in rows for k in row)), world.origin(part), None
    elif hub == "hub" or hub.startswith("hub:"):
        ids = (hub[4:],) if hub.startswith("hub:") else adapter.hub_ids
        rows, origin, columns, base_dir = _from_hub(adapter, ids, split, revision if at else None)
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
    return _to_samples(adapter, rows, columns, origin, base_dir, required)


def _to_samples(adapter: Adapter, rows: Iterable[dict[str, Any]], columns: list[str], origin: str,
                base_dir: Path | None, required: Iterable[str] = ()) -> list[Sample]:
    # A local `id` column wins; else the benchmark's official unique id; else the 0-based row index.
    id_col = "id" if "id" in columns else adapter.id_column if adapter.id_column in columns else None
    required = [*required, *([id_col] if id_col else [])]
    samples, seen = [], set()
    for i, row in enumerate(rows):
        lacking = [c for c in required if c not in row]  # a jsonl row may lack a column the others have
        if lacking:
            raise LvrpoError(f"{adapter.name}: {origin}, row {i}: no {', '.join(map(repr, lacking))} column")
        sid = str(row[id_col]) if id_col else str(i)
        if sid in seen:
            raise LvrpoError(f"{adapter.name}: duplicate sample id {sid!r} in {origin}")
        seen.add(sid)
        samples.append(Sample(id=sid, row=adapter.normalise(dict(row), f"{origin}, row {i} (id {sid})"),
                              base_dir=base_dir))
    return samples


def _from_hub(adapter: Adapter, ids: tuple[str, ...], split: str, revision: str | None = None):
    import datasets

    from lvrpo.hub import HubUnavailable, ensure_hub

    errors, unavailable = [], None
    for hub_id in ids:
        try:
            ensure_hub(hub_id, f"{adapter.name} data", repo_type="dataset")  # no network: fail fast, or use the cache
        except HubUnavailable as e:  # neither the hub nor the cache has it; a later (mirror) id may be cached
            unavailable = unavailable or e
            continue
        try:
            ds = datasets.load_dataset(hub_id, adapter.hub_config, split=split,
                                       **({"revision": revision} if revision else {}))
        except Exception as e:  # not found, gated: try the next known id
            errors.append(f"{hub_id}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        return _dataset_rows(ds), f"hub {hub_id}{'@' + revision if revision else ''} ({split})", list(
            ds.column_names), None
    if unavailable and not errors:
        raise unavailable
    errors += [str(unavailable)] if unavailable else []
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
            raise LvrpoError(f"--data {path}: not a directory saved with save_to_disk ({_first_line(e)})") from None
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise LvrpoError(f"--data {path}: no split {split!r} (has {', '.join(ds)})")
            ds = ds[split]
        return _dataset_rows(ds), list(ds.column_names)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        rows, columns = _read_parquet(path)
    elif suffix in (".jsonl", ".json"):
        rows = _read_json_rows(path)
        columns = list(dict.fromkeys(k for row in rows for k in row))
    else:
        raise LvrpoError(f"--data {path}: unsupported file type {suffix!r} (use a save_to_disk dir, .parquet or "
                         ".jsonl)")
    if not rows:
        raise LvrpoError(f"{path}: holds no rows")
    return rows, columns


MAX_DEPTH = 100  # JSON nesting a row may have: far above any benchmark's, far below Python's recursion limit


def _read_parquet(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        return table.to_pylist(), list(table.column_names)
    except (pa.ArrowException, OSError, ValueError, OverflowError) as e:  # a CSV renamed, a truncated file, ...
        raise LvrpoError(f"{path}: not a readable parquet file ({_first_line(e)})") from None


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    """A .json array of objects, or JSONL (one object per line); LvrpoError naming file and line or item."""
    data = read_bytes(path)
    if path.suffix.lower() == ".json" and data.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"["):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data.count(b"\n", 0, e.start) + 1
            raise LvrpoError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None
        items = [(f"{path}: item {i}", row) for i, row in enumerate(loads(text, path))]
    else:
        items = [(f"{path}:{n}", row) for n, row in json_lines(path)]
    for where, row in items:
        if not isinstance(row, dict):
            raise LvrpoError(f"{where}: every row must be a JSON object, found {json_type(row)}")
    return [row for _, row in items]


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:  # unreadable (permissions, a directory, an I/O error)
        raise LvrpoError(f"{path}: cannot read ({e.strerror or e})") from None


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSONL file, or an LvrpoError naming file and line.

    Only "\\n" ends a line: JSON strings may hold U+2028 and the like, which `str.splitlines` would split at.
    """
    for n, raw in enumerate(read_bytes(path).split(b"\n"), 1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")  # a BOM, as Windows editors write, is no error
        except UnicodeDecodeError as e:
            raise LvrpoError(f"{path}:{n}: not UTF-8 text (byte 0x{raw[e.start]:02x} at byte {e.start + 1} of the "
                             "line)") from None
        if line.strip():
            yield n, loads(line, path, n)


def loads(text: str, path: Path, line: int | None = None) -> Any:
    """`json.loads` of `path`'s text (or of its line `line`), every failure an LvrpoError naming file and line."""
    where = f"{path}:{line}" if line else str(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise LvrpoError(f"{path}:{line or e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:  # the C decoder recurses per bracket: "[" * 100000
        raise LvrpoError(f"{where}: JSON nested too deeply (over {MAX_DEPTH} levels)") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise LvrpoError(f"{where}: not valid JSON ({_first_line(e).split(':')[0]})") from None
    # Nesting that still decodes would only recurse later (copying, writing); check without recursing.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        stack = [(value, 1)]
        while stack:
            v, depth = stack.pop()
            if isinstance(v, (dict, list)):
                if depth > MAX_DEPTH:
                    raise LvrpoError(f"{where}: JSON nested too deeply (over {MAX_DEPTH} levels)")
                stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return value


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
