"""SIGKILL a real `lvrpo eval` (MME + MM-Vet with a judge on 127.0.0.1) at seeded points, mid-predict and
mid-score, rerun the same command: every stored prediction, score and summary equals an uninterrupted run's.
`LVRPO_KILLS` scales it (benchmarks/reliability.py runs 50)."""

from __future__ import annotations

import os

from tests.reliability.kills import campaign


def test_sigkill_at_seeded_points_loses_nothing(tmp_path):
    kills = int(os.environ.get("LVRPO_KILLS", "4"))
    report = campaign(tmp_path, kills=kills, seed=1)
    assert report.problems == []
    assert report.kills >= kills and report.survived == kills
    assert report.lost == 0 and report.misscored == 0
