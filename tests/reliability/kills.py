"""The SIGKILL campaign: kill a real `lvrpo eval` subprocess at seeded points (mid-predict and mid-score, a judge
on 127.0.0.1 included), rerun the same command, and compare every stored prediction, score and summary with an
uninterrupted run. Used by tests/reliability/test_kills.py (a few kills) and benchmarks/reliability.py (many)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.suite_fixtures import data_arg, understanding_fixture
from tests.test_suites import mmvet_judge
from tests.util import JudgeServer, lvrpo_cmd, run_cli

BENCHES = ("mme", "mmvet")


@dataclass
class KillReport:
    kills: int = 0  # processes killed with SIGKILL while they were working
    survived: int = 0  # reruns that ended with the uninterrupted run's results
    lost: int = 0  # samples whose stored prediction or score differs from (or is absent after) the rerun
    misscored: int = 0  # summaries that differ from the uninterrupted run
    problems: list[str] = field(default_factory=list)


def _by_id(path: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()] if path.exists() else []
    return {r["id"]: r for r in rows}  # later lines win, as the run store reads them


def _results(run: Path) -> dict[str, tuple]:
    return {b: (_by_id(run / b / "predictions.jsonl"), _by_id(run / b / "scores.jsonl"),
                json.loads((run / b / "summary.json").read_text()) if (run / b / "summary.json").exists() else None)
            for b in BENCHES}


def _lines(run: Path) -> int:
    return sum((run / b / f).read_text().count("\n") for b in BENCHES for f in ("predictions.jsonl", "scores.jsonl")
               if (run / b / f).exists())


def campaign(root: Path, kills: int, seed: int = 0) -> KillReport:
    """`kills` killed-and-resumed runs, each compared with one clean run of the same suite."""
    rng = random.Random(seed)
    sources, preds = understanding_fixture(root, benches=BENCHES)
    # repeat MME's rows so a run lasts long enough to be killed at many points
    rows = [json.loads(x) for x in sources["mme"].read_text().splitlines()] * 6
    sources["mme"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    replay = [json.loads(x) for x in preds.read_text().splitlines()]
    extra = [{"bench": "mme", "id": str(i), "output": ["Yes", "No", "maybe"][i % 3]} for i in range(8, len(rows))]
    preds.write_text("".join(json.dumps(r) + "\n" for r in replay + extra))
    report = KillReport()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LVRPO_CACHE_DIR": str(root / "cache")}
    with JudgeServer(mmvet_judge) as judge:
        args = ["eval", "--model", f"replay:{preds}", "--suite", ",".join(BENCHES), "--data", data_arg(sources),
                "--judge", judge.spec, "--quiet", "--batch-size", "2"]
        run_cli(*args, "--out", str(root / "clean"), check=True)
        clean = _results(root / "clean")
        total = _lines(root / "clean")
        for k in range(kills):
            out = root / f"killed-{k}"
            for _ in range(rng.randint(1, 3)):  # one to three kills before the run may finish
                at = rng.randint(1, total - 1)
                proc = subprocess.Popen([*lvrpo_cmd(), *args, "--out", str(out)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL,
                                        env={**env, "LVRPO_REPLAY_DELAY": f"{rng.uniform(0.001, 0.01):.4f}"})
                deadline = time.time() + 60
                while proc.poll() is None and _lines(out) < at and time.time() < deadline:
                    time.sleep(0.002)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    report.kills += 1
                proc.wait(timeout=60)
            res = run_cli(*args, "--out", str(out), env={"LVRPO_CACHE_DIR": str(root / "cache")})
            if res.returncode != 0:
                report.problems.append(f"rerun {k} failed: {res.stderr.strip()[-300:]}")
                continue
            got = _results(out)
            lost = sum(got[b][part].get(i) != row for b in BENCHES for part in (0, 1)
                       for i, row in clean[b][part].items())
            misscored = sum(got[b][2] != clean[b][2] for b in BENCHES)
            report.lost += lost
            report.misscored += misscored
            report.survived += lost == 0 and misscored == 0
    return report
