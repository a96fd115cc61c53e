"""Benchmark scorers as GRPO rewards: the adapters' own scoring, weighted, None where a reward does not apply or
fails (logged with the sample id)."""

from __future__ import annotations

import pytest
from PIL import Image

from lvrpo.evals import get_adapter
from lvrpo.rewards import RewardSuite, parse_reward_suite
from lvrpo.types import Context, LvrpoError, Output
from lvrpo.vision import make_detector
from lvrpo.world.generation import reference_images
from lvrpo.world.understanding import reference_output


def test_parse_reward_suite():
    assert parse_reward_suite("geneval,mathvista") == {"geneval": 1.0, "mathvista": 1.0}
    assert parse_reward_suite(" geneval=1.0 , mathvista=0.5 ") == {"geneval": 1.0, "mathvista": 0.5}
    for bad, needle in [("", "empty"), ("geneval=0", "positive"), ("geneval=x", "positive"),
                        ("nope", "nope"), ("mme,mme=2", "twice")]:
        with pytest.raises(LvrpoError, match=needle):
            parse_reward_suite(bad)


def suite(text: str) -> RewardSuite:
    ctx = Context()
    ctx.detector, ctx.color_classifier = make_detector("world")
    return RewardSuite.parse(text, ctx)


def test_rewards_are_the_benchmark_scores_weighted():
    rewards = suite("geneval=2,mathvista=0.5")
    g = get_adapter("geneval").load("world:train")[0]
    m = get_adapter("mathvista").load("world:train")[0]
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    got = rewards([("geneval", g, Output(id=g.id, images=reference_images("geneval", g.row)[:1])),
                   ("geneval", g, Output(id=g.id, images=[grey])),
                   ("mathvista", m, Output(id=m.id, text=reference_output("mathvista", m.row))),
                   ("mathvista", m, Output(id=m.id, text="no idea")),
                   ("mme", m, Output(id=m.id, text="Yes"))])
    assert got[0] == 2.0 and got[1] < 2.0  # partial credit: the fraction of GenEval's checks, times 2
    assert got[2:] == [0.5, 0.0, None]  # MME is not in the suite: no reward
    assert rewards.kinds() == {"generate", "understand"}


def test_a_failing_reward_is_none_and_logged(monkeypatch):
    rewards = suite("mathvista")
    m = get_adapter("mathvista").load("world:train")[0]
    monkeypatch.setattr(rewards.adapters["mathvista"], "reward", lambda *a: (_ for _ in ()).throw(KeyError("x")))
    assert rewards([("mathvista", m, Output(id=m.id, text="1"))]) == [None]
    monkeypatch.setattr(rewards.adapters["mathvista"], "reward", lambda *a: float("nan"))
    assert rewards([("mathvista", m, Output(id=m.id, text="1"))]) == [None]
    assert [f[:2] for f in rewards.failures] == [("mathvista", m.id)] * 2
    assert "KeyError" in rewards.failures[0][2] and "nan" in rewards.failures[1][2]
