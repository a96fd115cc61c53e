"""ShapesWorld figures: oracle agreement, chance, and the nano model on the test split, with the main command's time.

Per benchmark, three runs of the real `lvrpo eval --suite all --data world`, side by side:
- reference: the gold outputs (`world export --reference`): the world's oracles must give each benchmark's maximum
  (GenEval's value is the detector's agreement with the renders it was drawn from);
- chance: seeded random answers of the right form (a random option letter, yes/no, a number 0-4, a colour or
  shape word; a blank canvas for generation, the unedited source for GEdit) — the floor to compare with;
- nano: `--model nano`, the packaged model, timed (the README's main command).

    python benchmarks/world.py [--batch-size 16]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lvrpo.evals import get_adapter  # noqa: E402
from lvrpo.world.export import export  # noqa: E402
from lvrpo.world.scenes import COLORS, SHAPES  # noqa: E402

BENCHES = ("mme", "mmbench", "mmmu", "mathvista", "mmvet", "mmvp", "geneval", "wise", "gedit")
WORDS = [*COLORS, *SHAPES, *map(str, range(5)), "yes", "no"]


def random_answer(bench: str, row: dict, rng: random.Random) -> str:
    if bench == "mme":
        return rng.choice(["Yes", "No"])
    if bench == "mmbench":
        return rng.choice([c for c in "ABCD" if row.get(c)])
    if bench == "mmmu":
        options = row["options"] if isinstance(row["options"], list) else ast.literal_eval(row["options"])
        return rng.choice("ABCDEFG"[:len(options)]) if options else rng.choice(WORDS)
    if bench == "mathvista":
        return rng.choice(row["choices"]) if row.get("choices") else str(rng.randint(0, 4))
    if bench == "mmvp":
        return rng.choice(["(a)", "(b)"])
    return rng.choice(WORDS)


def replay(root: Path, kind: str) -> Path:
    """One replay file over the nine benchmarks: reference or chance outputs."""
    rng, lines = random.Random(0), []
    grey = root / "grey.png"
    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (128, 128, 128)).save(grey)
    for bench in BENCHES:
        adapter = get_adapter(bench)
        data = export(adapter, "test", root / bench, reference=True, overwrite=True)
        samples = {s.id: s for s in adapter.load(str(data))}
        for line in map(json.loads, (root / bench / "reference.jsonl").read_text().splitlines()):
            out = {"bench": bench, "id": line["id"]}
            if kind == "reference" and "images" in line:
                out["images"] = [str(root / bench / p) for p in line["images"]]
            elif kind == "reference":
                out["output"] = line["output"]
            elif "images" in line:
                row = samples[line["id"]].row
                source = root / bench / str(row["input_image"]) if bench == "gedit" else grey
                out["images"] = [str(source)] * len(line["images"])
            else:
                out["output"] = random_answer(bench, samples[line["id"]].row, rng)
            lines.append(out)
    path = root / f"{kind}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def run(model: str, out: Path, *extra: str) -> tuple[dict[str, float], float]:
    """Headlines of `lvrpo eval --model MODEL --suite all --data world`, and its wall time."""
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "lvrpo", "eval", "--model", model, "--suite", "all", "--data", "world",
                          "--out", str(out), "--overwrite", "--quiet", *extra], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"lvrpo eval --model {model} failed:\n{res.stderr[-2000:]}")
    heads = {}
    for bench in BENCHES:
        s = json.loads((out / bench / "summary.json").read_text())
        heads[bench] = s["metrics"][s["headline"]]
    return heads, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", default="16", help="--batch-size of the nano run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lvrpo-world-") as tmp:
        root = Path(tmp)
        best, _ = run(f"replay:{replay(root / 'ref', 'reference')}", root / "run-ref")
        floor, _ = run(f"replay:{replay(root / 'chance', 'chance')}", root / "run-chance")
        nano, wall = run("nano", root / "run-nano", "--batch-size", args.batch_size)
    print(f"{'benchmark':<10} {'reference (max)':>16} {'chance':>9} {'nano':>9}  nano vs chance")
    for b in BENCHES:
        verdict = "above" if nano[b] > floor[b] else "NOT above"
        print(f"{b:<10} {best[b]:>16.4g} {floor[b]:>9.4g} {nano[b]:>9.4g}  {verdict}")
    print(f"main command (lvrpo eval --model nano --suite all --data world --batch-size {args.batch_size}): "
          f"{wall:.0f} s wall on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
