"""What a new user meets first: one import name, declared dependencies, `--version`, predict now / judge later,
reasons when nothing could be scored, and resume that does not depend on how paths are typed."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

import lvrpo
from tests.suite_fixtures import data_arg, understanding_fixture
from tests.test_suites import mmvet_judge
from tests.util import ROOT, JudgeServer, run_cli, write_jsonl

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# import name -> distribution, where they differ
DIST_OF = {"PIL": "pillow", "yaml": "pyyaml", "cv2": "opencv-python-headless"}
# optional pieces: import name -> the extra that provides it (imported lazily, with a clear error when missing)
OPTIONAL = {"matplotlib": "plot", "cv2": "geneval", "scipy": "geneval", "vllm": "vllm"}


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!\[;~]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level?) for every absolute import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in top))
    return found


def test_every_third_party_import_is_a_declared_dependency():
    """`pip install -e .` alone must run every backend: what lvrpo imports is in `dependencies`, or in the extra
    named in OPTIONAL and imported only inside the function that needs it."""
    base = _requirement_names(PYPROJECT["project"]["dependencies"])
    extras = {k: _requirement_names(v) for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
    stdlib = set(sys.stdlib_module_names)
    problems = []
    for path in sorted((ROOT / "lvrpo").rglob("*.py")):
        for module, at_top in _imports(path):
            if module in stdlib or module == "lvrpo":
                continue
            dist = DIST_OF.get(module, module).lower().replace("_", "-")
            if module in OPTIONAL:
                if dist not in extras[OPTIONAL[module]] or at_top:
                    problems.append(f"{path.relative_to(ROOT)}: {module} (extra {OPTIONAL[module]}, lazy import)")
            elif dist not in base:
                problems.append(f"{path.relative_to(ROOT)}: {module} not in dependencies")
    assert not problems, problems
    # transformers needs accelerate for device_map (the janus backend loads straight onto the device)
    assert "accelerate" in base


def test_lvrpo_is_the_only_top_level_import_name(tmp_path):
    dist = metadata.distribution("lvrpo")
    top = (dist.read_text("top_level.txt") or "").split()
    assert top in ([], ["lvrpo"]), top  # editable installs may write no top_level.txt
    assert {s.split(".")[0] for s in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]} == {"lvrpo*"}
    assert "py-modules" not in PYPROJECT["tool"].get("setuptools", {})
    # from another folder, the old top-level names are not ours (a user's own `evals/` is never shadowed)
    probe = ("import importlib.util as u, json; print(json.dumps({n: getattr(u.find_spec(n), 'origin', None) "
             "for n in ('evals', 'cli', 'leaderboards')}))")
    found = json.loads(subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                                      check=True).stdout)
    assert all(origin is None or not Path(origin).resolve().is_relative_to(ROOT) for origin in found.values()), found
    # ... while lvrpo.evals / lvrpo.leaderboards / lvrpo.cli are
    import lvrpo.cli
    import lvrpo.evals
    import lvrpo.leaderboards  # noqa: F401

    assert Path(lvrpo.evals.__file__).parent.parent == Path(lvrpo.__file__).parent


def test_version_flag():
    res = run_cli("--version", check=True)
    assert res.stdout.strip() == f"lvrpo {lvrpo.__version__}" == f"lvrpo {metadata.version('lvrpo')}"
    res = subprocess.run([sys.executable, "-m", "lvrpo", "--version"], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"lvrpo {lvrpo.__version__}"


def test_no_code_or_test_reads_outside_the_repository():
    """The reference files live in tests/data; nothing may look for a `shared` folder beside the checkout."""
    pattern = re.compile(r"""(parent\s*/\s*["']shared["']|["']\.\./shared)""")
    hits = [str(p.relative_to(ROOT)) for folder in ("lvrpo", "tests") for p in (ROOT / folder).rglob("*.py")
            if pattern.search(p.read_text(encoding="utf-8"))]
    assert not hits
    assert (ROOT / "tests" / "data" / "SOURCES.md").is_file()


# --------------------------------------------------------------------------- predict now, judge later


@pytest.fixture()
def two_benches(tmp_path) -> tuple[str, Path, Path]:
    sources, preds = understanding_fixture(tmp_path, benches=("mme", "mmvet"))
    return data_arg(sources), preds, tmp_path


def test_predict_only_then_score_run_equals_a_judged_eval(two_benches):
    data, preds, root = two_benches
    later = root / "later"
    res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme,mmvet", "--data", data, "--out", str(later),
                  "--predict-only", "--quiet", check=True)
    assert f"lvrpo score --run {later}" in res.stderr and "--judge" in res.stderr
    assert not list(later.glob("*/summary.json")) and not list(later.glob("*/scores.jsonl"))
    assert all((later / b / "predictions.jsonl").is_file() for b in ("mme", "mmvet"))

    with JudgeServer(mmvet_judge) as judge:
        res = run_cli("score", "--run", str(later), "--judge", judge.spec, "--quiet", "--json", check=True)
        direct = root / "direct"
        run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme,mmvet", "--data", data, "--out", str(direct),
                "--judge", judge.spec, "--quiet", check=True)
    printed = json.loads(res.stdout)
    assert set(printed) == {"mme", "mmvet"}
    for bench in ("mme", "mmvet"):
        written = json.loads((later / bench / "summary.json").read_text())
        assert written == printed[bench] == json.loads((direct / bench / "summary.json").read_text())
    manifest = json.loads((later / "manifest.json").read_text())
    assert manifest["scored_with"]["judge"] == "openai:test"  # the judge's model, not where it was served


def test_score_run_without_a_needed_judge_says_so(two_benches):
    data, preds, root = two_benches
    run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme,mmvet", "--data", data, "--out", str(root / "r"),
            "--predict-only", "--quiet", check=True)
    res = run_cli("score", "--run", str(root / "r"))
    assert res.returncode == 1 and "mmvet needs a judge" in res.stderr
    res = run_cli("score", "--run", str(root / "nothing-here"))
    assert res.returncode == 1 and "not a run directory" in res.stderr
    res = run_cli("score", "--bench", "mme")
    assert res.returncode == 1 and "--predictions" in res.stderr


def test_eval_on_a_judged_benchmark_without_judge_suggests_predict_only(two_benches):
    data, preds, root = two_benches
    res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme,mmvet", "--data", data, "--out",
                  str(root / "r"))
    assert res.returncode == 1 and "--predict-only" in res.stderr and "--judge" in res.stderr


def test_when_nothing_could_be_scored_the_reasons_are_counted(tmp_path):
    sources, preds = understanding_fixture(tmp_path, benches=("mmvet",))
    rows = [{**r, "output": r["output"] or "zebra-delta"} for r in map(json.loads, preds.read_text().splitlines())]
    write_jsonl(preds, rows)  # no empty answer (scored 0 without asking the judge)
    with JudgeServer(lambda system, text, images, body: "no idea") as judge:
        res = run_cli("eval", "--model", f"replay:{preds}", "--suite", "mmvet", "--data", data_arg(sources),
                      "--judge", judge.spec, "--out", str(tmp_path / "r"), "--quiet")
    assert res.returncode == 1
    line = next(x for x in res.stderr.splitlines() if x.startswith("error:"))
    assert "no sample could be scored: 4 × " in line, line


# ------------------------------------------------------------------ run identity independent of path typing


@pytest.mark.parametrize("form", ["{}", "mme={}"])
def test_resume_does_not_depend_on_how_paths_are_typed(tmp_path, form):
    sources, preds = understanding_fixture(tmp_path, benches=("mme",))
    out = tmp_path / "run"
    run_cli("eval", "--model", f"replay:{preds}", "--suite", "mme", "--data", form.format(sources["mme"]), "--out",
            str(out), "--quiet", check=True)
    files = {p: p.read_bytes() for p in out.glob("*/*.jsonl")}
    # the same files typed relative to another working directory, and with a `./` or `~`-free detour
    (tmp_path / "elsewhere").mkdir()
    rel = Path("..") / sources["mme"].relative_to(tmp_path)
    for data, model in ((rel, Path("..") / preds.relative_to(tmp_path)),
                        (Path("../elsewhere/..") / sources["mme"].relative_to(tmp_path), preds)):
        res = run_cli("eval", "--model", f"replay:{model}", "--suite", "mme", "--data", form.format(data), "--out",
                      str(out), "--quiet", cwd=tmp_path / "elsewhere")
        assert res.returncode == 0, res.stderr
        assert {p: p.read_bytes() for p in files} == files  # resumed: nothing recomputed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["data"] == form.format(sources["mme"].resolve())
    assert manifest["config"]["model"] == f"replay:{preds.resolve()}"
