"""The world judge answers the adapters' own official judge prompts, in the reply format their parsers read."""

from __future__ import annotations

import json

import pytest

from lvrpo.evals import gedit, mmvet, wise
from lvrpo.judges import make_judge
from lvrpo.judges.base import JudgeError
from lvrpo.judges.world import WorldJudge
from lvrpo.types import Context
from lvrpo.world.generation import gedit_rows, wise_rows
from lvrpo.world.scenes import Obj, Scene, render

JUDGE = WorldJudge()


def grade(question: str, gold: str, prediction: str, retry: bool = False) -> float | None:
    prompt = mmvet.grader_prompt(question, gold, prediction) + (mmvet.RETRY_SUFFIX if retry else "")
    return mmvet.parse_grade(JUDGE.complete(prompt, max_tokens=3))


@pytest.mark.parametrize(("gold", "prediction", "expected"), [
    ("red", "It is red.", 1.0),
    ("red", "blue", 0.0),
    ("red", "red or blue", 0.5),  # names a colour the answer does not
    ("3<OR>three", "There are three objects.", 1.0),
    ("3<OR>three", "3", 1.0),
    ("circle<AND>square", "a circle", 0.5),
    ("circle<AND>square", "a square and a circle", 1.0),
    ("upper left<OR>top left", "In the top left corner | of the image", 1.0),
])
def test_mmvet_grades(gold, prediction, expected):
    assert grade("What is it?", gold, prediction) == expected
    assert grade("What is it?", gold, prediction, retry=True) == expected  # the official re-ask suffix


def _wise_reply(row: dict, scene: Scene, protocol=wise.LEGACY) -> str:
    text = wise.judge_text(protocol, row["Prompt"], row["Explanation"])
    return JUDGE.complete(text, [render(scene)], system=protocol.system)


def test_wise_legacy_and_verified():
    row = wise_rows("test", 6)[0]
    target = Scene.from_dict(json.loads(row["world"]))
    assert wise.parse_legacy(_wise_reply(row, target)) == {"consistency": 2.0, "realism": 2.0,
                                                           "aesthetic_quality": 2.0}
    assert wise.parse_verified(_wise_reply(row, target, wise.VERIFIED)) == 1.0
    first = target.objects[0]
    other = next(c for c in ("red", "blue") if c != first.color)
    wrong = target.with_objects([Obj(first.shape, other, first.size, first.x, first.y)])
    assert wise.parse_legacy(_wise_reply(row, wrong))["consistency"] < 2
    assert wise.parse_verified(_wise_reply(row, wrong, wise.VERIFIED)) == 0.0
    blank = wise.parse_legacy(_wise_reply(row, Scene(())))
    assert blank == {"consistency": 0.0, "realism": 0.0, "aesthetic_quality": 0.0}


def test_gedit_sc_and_pq():
    row = next(r for r in gedit_rows("test", 6) if r["instruction_language"] == "en")
    world = json.loads(row["world"])
    source, target = Scene.from_dict(world["source"]), Scene.from_dict(world["target"])
    sc = gedit.sc_prompt(row["instruction"])
    assert gedit.parse_scores(JUDGE.complete(sc, [render(source), render(target)])) == [10.0, 10.0]
    assert gedit.parse_scores(JUDGE.complete(sc, [render(source), render(source)]))[0] == 0.0  # nothing edited
    assert gedit.parse_scores(JUDGE.complete(gedit.PQ_PROMPT, [render(target)])) == [10.0, 10.0]


def test_prompts_it_cannot_answer_are_judge_errors():
    with pytest.raises(JudgeError, match="not a ShapesWorld"):
        JUDGE.complete("Rate this image from 1 to 10.", [render(Scene(()))])
    text = wise.judge_text(wise.LEGACY, "A photo of a dog in the snow", "A dog.")
    with pytest.raises(JudgeError, match="not a ShapesWorld prompt"):
        JUDGE.complete(text, [render(Scene(()))], system=wise.LEGACY.system)
    with pytest.raises(JudgeError, match="not a ShapesWorld edit"):
        JUDGE.complete(gedit.sc_prompt("Make the sky purple."), [render(Scene(())), render(Scene(()))])


def test_world_judge_serves_only_judged_benchmarks():
    """MathVista and MMBench score by their rules next to the world judge (it cannot extract answers)."""
    ctx = Context(judge=make_judge("world"))
    assert ctx.for_bench("mmvet").judge is ctx.judge and ctx.for_bench("gedit").judge is ctx.judge
    assert ctx.for_bench("mathvista").judge is None and ctx.for_bench("mmbench").judge is None
    assert gedit.judge_protocol(ctx.judge) == "world"
