"""The judge-fault campaign: a real `lvrpo eval` of MM-Vet, MMBench (its judge path), WISE and GEdit against an
OpenAI-compatible server on 127.0.0.1 that fails a seeded share of calls in each of tests/util.py's FAULTS (429 with
and without Retry-After, 500, a hang past the timeout, truncated JSON, a wrong schema, empty choices, a non-numeric
grade). Some requests fail on every try ("sticky"), so some samples must end unscored.

What must hold, compared with a fault-free run: no sample scored differently (a fault never becomes a silent 0 or a
guess); every unscored sample has a reason; coverage says how many; `--strict` fails exactly when coverage < 1;
rerunning the command with the judge healthy re-asks only the unscored samples and then equals the clean run; and
one more rerun makes no judge call at all. Used by test_judge_faults.py and benchmarks/reliability.py.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lvrpo.evals import get_adapter
from lvrpo.evals.mmbench import JUDGE_PROMPT
from tests.suite_fixtures import data_arg, generation_replay, understanding_fixture, write_gedit
from tests.test_suites import WISE_REPLIES, generation_judge, mmvet_judge
from tests.util import FAULTS, JudgeServer, run_cli, write_jsonl

BENCHES = ("mmvet", "mmbench", "wise", "gedit")
# MMBench replies the rules cannot read, so its judge is asked; the judge maps them to letters
MMBENCH_REPLIES = {"1": "the first one", "1000001": "the second one", "2": "the third one", "1000002": "the second one",
                   "2000002": "the first one"}
ORDINALS = {"first": "A", "second": "B", "third": "C"}


def judge_answer(wise_prompts: dict[str, str]):
    """The healthy judge: MM-Vet grades, MMBench letters, WISE and GEdit replies (tests/test_suites.py's)."""
    mmvet, generation = mmvet_judge, generation_judge(wise_prompts)
    head = JUDGE_PROMPT.split("{")[0]

    def answer(system, text, images, body):
        if text.startswith(head):
            reply = text.rsplit("Answer: ", 1)[1]
            return next((letter for word, letter in ORDINALS.items() if word in reply), "E")
        return mmvet(system, text, images, body) or generation(system, text, images, body)
    return answer


@dataclass
class FaultPlan:
    """Per request body and per sighting of it, a seeded draw: with probability `rate` serve a fault; a body is
    sticky (faulted on every sighting) with probability `sticky`. Thread-safe; counts what it injected."""

    rate: float
    sticky: float = 0.0
    seed: int = 0
    injected: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, body: dict) -> str | None:
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            n = self._seen[key] = self._seen.get(key, -1) + 1
            sticky = random.Random(f"{self.seed}/{key}").random() < self.sticky
            rng = random.Random(f"{self.seed}/{key}/{n}")
            kind = rng.choice(FAULTS) if sticky or rng.random() < self.rate else None
            if kind:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind


@dataclass
class FaultReport:
    faults: int = 0  # faults injected, over all kinds
    by_kind: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    unscored: int = 0  # left unscored by the faulty run (each with a reason)
    misscored: int = 0  # scored, but not as the fault-free run scored it: must be 0
    problems: list[str] = field(default_factory=list)


def _scores(run: Path) -> dict[tuple[str, str], dict]:
    out = {}
    for b in BENCHES:
        for line in (run / b / "scores.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out[(b, row["id"])] = row
    return out


def _summaries(run: Path) -> dict[str, dict | None]:
    """Per benchmark its summary, or None where no number could be given (then none is written)."""
    return {b: json.loads(p.read_text()) if (p := run / b / "summary.json").exists() else None for b in BENCHES}


def campaign(root: Path, rate: float = 0.3, sticky: float = 0.1, seed: int = 0) -> FaultReport:
    """One clean run, one faulty run (`--strict`), a healthy rerun and a cached rerun; see the module docstring."""
    sources, preds = understanding_fixture(root, benches=("mmvet", "mmbench"))
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    lines = [{**x, "output": MMBENCH_REPLIES[x["id"]]} if x["bench"] == "mmbench" else x for x in lines]
    lines += [json.loads(x) for x in generation_replay(root, geneval_ids=()).read_text().splitlines()]
    replay = write_jsonl(root / "replay.jsonl", lines)
    wise = get_adapter("wise").load("hub")[:2]
    answer = judge_answer({s.row["Prompt"]: r for s, r in zip(wise, WISE_REPLIES, strict=True)})
    data = data_arg({**sources, "gedit": write_gedit(root)})

    def run(out: str, server: JudgeServer, cache: str, *extra: str):
        return run_cli("eval", "--model", f"replay:{replay}", "--suite", ",".join(BENCHES), "--data", data,
                       "--limit", "2", "--judge", server.spec, "--judge-timeout", "1", "--judge-retries", "2",
                       "--out", str(root / out), "--quiet", *extra, env={"LVRPO_CACHE_DIR": str(root / cache)})

    report = FaultReport()
    with JudgeServer(answer) as healthy:
        res = run("clean", healthy, "cache-clean")
    if res.returncode != 0:
        report.problems.append(f"clean run failed: {res.stderr.strip()[-500:]}")
        return report
    clean = _scores(root / "clean")
    report.samples = len(clean)

    plan = FaultPlan(rate, sticky, seed)
    with JudgeServer(answer, fault=plan, hang=1.5) as faulty:
        res = run("faulty", faulty, "cache", "--strict")
    report.by_kind, report.faults = dict(plan.injected), sum(plan.injected.values())
    got = _scores(root / "faulty")
    unscored = {k for k, s in got.items() if s["value"] is None}
    report.unscored = len(unscored)
    for k, s in got.items():
        if s["value"] is None and not s["reason"]:
            report.problems.append(f"{k}: unscored without a reason")
        elif s["value"] is not None and (s["value"], s["parsed"]) != (clean[k]["value"], clean[k]["parsed"]):
            report.misscored += 1
            report.problems.append(f"{k}: scored {s['value']!r} ({s['parsed']!r}), fault-free {clean[k]['value']!r}")
    if set(got) != set(clean):
        report.problems.append(f"samples differ: {sorted(set(clean) ^ set(got))}")
    for b, summ in _summaries(root / "faulty").items():
        missing = sum(1 for k in unscored if k[0] == b)
        if summ is None:  # nothing to give a number for: the command must say so, naming the benchmark
            if not any(x.startswith("error:") and f"{b}: no " in x for x in res.stderr.splitlines()):
                report.problems.append(f"{b}: no summary, and no error naming it")
        elif summ["n_scored"] != summ["n"] - missing:
            report.problems.append(f"{b}: n_scored {summ['n_scored']} of {summ['n']} with {missing} unscored")
    if res.returncode != (1 if unscored else 0) or "Traceback" in res.stderr:
        report.problems.append(f"--strict exited {res.returncode} with {len(unscored)} unscored")
    if unscored and "unscored" not in res.stderr:
        report.problems.append("the faulty run did not say that samples are unscored")

    with JudgeServer(answer) as healthy:  # the judge is back: exactly the unscored samples are re-asked
        res = run("faulty", healthy, "cache")
        asked = len(healthy.requests)
    if res.returncode != 0:
        report.problems.append(f"healthy rerun failed: {res.stderr.strip()[-500:]}")
    else:
        after, sums = _scores(root / "faulty"), _summaries(root / "clean")
        # value, answer and reason as fault-free; the judge replies may differ (a re-ask after an unreadable one)
        same = ("value", "parsed", "target", "reason")
        report.problems += [f"after the healthy rerun, {k} scored {after.get(k)} (fault-free {s})"
                            for k, s in clean.items() if k not in after or any(after[k][f] != s[f] for f in same)]
        report.problems += [f"after the healthy rerun, {b} summary has {k}={s.get(k)!r} (fault-free {sums[b].get(k)!r})"
                            for b, s in _summaries(root / "faulty").items() for k in (s or {}) | sums[b]
                            if s.get(k) != sums[b].get(k) and k != "notes"]  # notes say what was re-asked
    if bool(asked) != bool(unscored):
        report.problems.append(f"healthy rerun made {asked} judge calls for {len(unscored)} unscored samples")
    with JudgeServer(answer) as again:
        res = run("faulty", again, "cache", "--strict")
    if res.returncode != 0 or again.requests:
        report.problems.append(f"cached rerun: exit {res.returncode}, {len(again.requests)} judge calls (want 0)")
    return report
