"""A rollout's step chart from its evidence (issue 15): the marker comments `advance` reads become the
chart's events, so the picture and the runner never disagree."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from gl_rollout.core.markers import NoteMarker
from gl_rollout.core.model import Note
from gl_rollout.core.plan_text import plan_section, with_hidden_copy
from gl_rollout.core.plans import build_plan
from gl_rollout.render.rollout_chart import chart_events, rollout_chart
from gl_rollout.render.step_chart import ChartEvent

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
FLAG = "new_checkout"
PLAN = build_plan((1, 10, 50, 100))


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def note(note_id: int, minutes: float, action: str, *, flag: str = FLAG, system: bool = False,
         **values: object) -> Note:  # fmt: skip
    body = f"Comment {note_id}\n\n" + NoteMarker(action, flag, None, values).to_comment()
    return Note(note_id, body, "runner", at(minutes).strftime("%Y-%m-%dT%H:%M:%S.000Z"), system=system)


def enable(note_id: int, minutes: float, env: str, percent: float | None = None) -> Note:
    values: dict[str, object] = {"envs": [env], "value": "true" if percent is None else str(percent)}
    return note(note_id, minutes, "enable", **values)


NOTES = [
    enable(1, 0, "staging"),
    enable(2, 20, "production", 1),
    enable(3, 40, "production", 10),
    note(4, 55, "rollback", reason="error rate up", to="production-1"),
    enable(5, 56, "production", 1),  # the rollback's own change of the flag
    note(6, 80, "resume", after=4),
    enable(7, 100, "production", 10),
    note(8, 110, "pause", reason="holiday"),
]


def kinds(events: list[ChartEvent]) -> list[tuple[str, str, float]]:
    return [(e.kind, e.environment, e.percent) for e in events]


def test_each_enable_comment_is_a_step_of_its_environment_to_its_share() -> None:
    events = chart_events(NOTES[:3], FLAG)
    assert kinds(events) == [
        ("step", "staging", 100.0),
        ("step", "production", 1.0),
        ("step", "production", 10.0),
    ]
    assert [e.at for e in events] == [at(0), at(20), at(40)]


def test_a_rollback_is_a_lower_step_and_a_pause_band_until_the_resume() -> None:
    events = chart_events(NOTES, FLAG)
    production = [e.percent for e in events if e.kind == "step" and e.environment == "production"]
    assert production == [1.0, 10.0, 1.0, 10.0]  # drawn lower after the rollback, up again after resume
    bands = [(e.kind, e.at, e.label) for e in events if e.kind in ("paused", "resumed")]
    assert bands == [
        ("paused", at(55), "rolled back: error rate up"),
        ("resumed", at(80), "resumed"),
        ("paused", at(110), "paused: holiday"),  # still paused: the band runs to now
    ]


def test_other_flags_system_notes_and_unmarked_comments_are_not_evidence() -> None:
    noise = [
        enable(10, 5, "production", 50),
        Note(11, "enable production please", "someone", at(6).strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        note(12, 7, "enable", flag="other_flag", envs=["production"], value="true"),
        note(13, 8, "pause", system=True, reason="not ours"),
    ]
    events = chart_events([NOTES[0], *noise[1:]], FLAG)
    assert kinds(events) == [("step", "staging", 100.0)]


def test_blocked_periods_the_caller_knows_are_drawn_as_bands() -> None:
    blocked = ChartEvent("blocked", at(25), until=at(35), label="incident acme/ops#3 open")
    events = chart_events(NOTES[:3], FLAG, [blocked])
    assert events[2] == blocked  # in time order, between 1% (20 min) and 10% (40 min)


def description(plan_text: str) -> str:
    return f"Rollout of `{FLAG}`\n\n{plan_text}"


def test_an_issue_with_a_plan_gets_the_chart_with_its_bands_and_next_step() -> None:
    text = with_hidden_copy(description(plan_section(PLAN)), PLAN)
    svg = rollout_chart(text, NOTES[:6], FLAG, at(90), title="new_checkout")  # resumed at 1%
    assert svg is not None
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check its structure
    lines = {line.attrib["data-environment"] for line in root.iter(f"{SVG}polyline")}
    assert lines == {"staging", "production"}
    rects = [r.attrib["class"] for r in root.iter(f"{SVG}rect")]
    assert "paused" in rects
    (rollback,) = [p for p in root.iter(f"{SVG}path") if "rollback" in p.attrib["class"]]
    assert rollback.findtext(f"{SVG}title") == "production: rolled back from 10% to 1%"
    (dashed,) = [p for p in root.iter(f"{SVG}path") if p.attrib["class"].startswith("next")]
    assert dashed.attrib["data-step"] == "production-10"


def test_no_plan_or_an_unreadable_plan_draws_no_chart() -> None:
    assert rollout_chart(description("no plan here"), NOTES, FLAG, at(90)) is None
    broken = description("## Rollout plan\n\n| Step | Environment |\n|---|---|\n| x | nowhere-sensible |")
    assert rollout_chart(broken, NOTES, FLAG, at(90)) is None
