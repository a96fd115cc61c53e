"""The long reliability campaign: the figures the README's "What lvrpo guarantees" section quotes.

Three parts, each the same code as the short versions in tests/reliability/, at a larger size:
- kills: SIGKILL a real `lvrpo eval` (MME + MM-Vet, judge on 127.0.0.1) at seeded points, rerun, compare every
  prediction, score and summary with an uninterrupted run (tests/reliability/kills.py);
- judge faults: a judge failing a share of its calls in eight ways, over several seeds, driving MM-Vet, MMBench,
  WISE and GEdit (tests/reliability/judge_faults.py);
- fuzzing: every answer/judge-reply parser and every predictions/data reader on hypothesis-generated inputs
  (tests/reliability/test_fuzz.py, run by pytest with `LVRPO_FUZZ_EXAMPLES` per test).

    python benchmarks/reliability.py [--kills 50] [--fault-seeds 6] [--fuzz-examples 1000]

Exits 1 if any sample was lost or mis-scored, or any check reported a problem.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the campaigns live in the test package

from tests.reliability import judge_faults, kills  # noqa: E402


def fuzz(examples: int) -> tuple[int, int, int, list[str]]:
    """(generated inputs tried, failing inputs, tests that generated inputs, problems) at `examples` per test."""
    env = {**os.environ, "LVRPO_FUZZ_EXAMPLES": str(examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--hypothesis-show-statistics",
           str(ROOT / "tests" / "reliability" / "test_fuzz.py")]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    counts = [tuple(map(int, m)) for m in re.findall(r"(\d+) passing, (\d+) failing", res.stdout)]
    problems = [] if res.returncode == 0 else [res.stdout.strip().splitlines()[-1]]
    return sum(p + f for p, f in counts), sum(f for _, f in counts), len(counts), problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--fault-seeds", type=int, default=6)
    ap.add_argument("--fault-rate", type=float, default=0.35)
    ap.add_argument("--fuzz-examples", type=int, default=1000)
    args = ap.parse_args()
    problems: list[str] = []

    with tempfile.TemporaryDirectory(prefix="lvrpo-kills-") as tmp:
        t = time.perf_counter()
        k = kills.campaign(Path(tmp), kills=args.kills, seed=7)
        problems += k.problems
        print(f"kills:        {k.kills} SIGKILLs over {args.kills} runs, {k.survived}/{args.kills} reruns identical "
              f"to an uninterrupted run; samples lost {k.lost}, summaries mis-scored {k.misscored} "
              f"({time.perf_counter() - t:.0f} s)", flush=True)

    faults = samples = unscored = misscored = 0
    by_kind: dict[str, int] = {}
    t = time.perf_counter()
    for seed in range(args.fault_seeds):
        with tempfile.TemporaryDirectory(prefix="lvrpo-faults-") as tmp:
            r = judge_faults.campaign(Path(tmp), rate=args.fault_rate, sticky=0.15, seed=100 + seed)
        problems += [f"fault seed {seed}: {p}" for p in r.problems]
        faults, samples, unscored, misscored = (faults + r.faults, samples + r.samples, unscored + r.unscored,
                                                misscored + r.misscored)
        for kind, n in r.by_kind.items():
            by_kind[kind] = by_kind.get(kind, 0) + n
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(by_kind.items()))
    print(f"judge faults: {faults} injected over {args.fault_seeds} seeds at rate {args.fault_rate} ({kinds}); "
          f"{samples} judged samples, {unscored} left unscored with a reason, mis-scored {misscored} "
          f"({time.perf_counter() - t:.0f} s)", flush=True)

    t = time.perf_counter()
    tried, failing, tests, fuzz_problems = fuzz(args.fuzz_examples)
    problems += fuzz_problems
    print(f"fuzzing:      {tried} generated inputs over {tests} parser/reader tests ({args.fuzz_examples} per test, "
          f"plus fixed adversarial ones), failing {failing} ({time.perf_counter() - t:.0f} s)", flush=True)

    lost = k.lost + k.misscored + misscored + failing
    print(f"total:        samples lost or mis-scored {lost}; problems {len(problems)}")
    for p in problems:
        print(f"  problem: {p}")
    return 1 if lost or problems else 0


if __name__ == "__main__":
    sys.exit(main())
