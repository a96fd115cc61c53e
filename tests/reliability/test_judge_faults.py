"""A judge failing a third of its calls in eight ways (and some requests on every try) never changes a score:
samples are scored as without faults, or unscored with a reason, counted in coverage, failing `--strict`; a healthy
rerun re-asks exactly those, and a cached rerun asks nothing. `LVRPO_FAULT_SEEDS` scales it."""

from __future__ import annotations

import os

import pytest

from tests.reliability.judge_faults import campaign
from tests.util import FAULTS

SEEDS = range(int(os.environ.get("LVRPO_FAULT_SEEDS", "2")))


@pytest.mark.parametrize("seed", SEEDS)
def test_judge_faults_never_change_a_score(tmp_path, seed):
    report = campaign(tmp_path, rate=0.35, sticky=0.15, seed=seed)
    assert report.problems == []
    assert report.misscored == 0 and report.samples == 8
    assert report.faults >= 3, report.by_kind  # the plan really injected faults


def test_every_fault_kind_is_served(tmp_path):
    """Every request faults on every sighting (rate 1): all eight kinds are served, every sample ends unscored with
    a reason (none scored wrong), and the healthy rerun then scores them all as the fault-free run."""
    report = campaign(tmp_path, rate=1.0, sticky=0.0, seed=3)
    assert report.problems == [] and report.misscored == 0
    assert set(report.by_kind) == set(FAULTS), report.by_kind
    assert report.unscored == report.samples
