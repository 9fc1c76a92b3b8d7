"""The step chart (issue 15): an inline SVG of a rollout's percentage over time, checked by its structure."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from gl_rollout.core.plans import build_plan
from gl_rollout.render.step_chart import ChartEvent, step_chart

SVG = "{http://www.w3.org/2000/svg}"
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
PLAN = build_plan((1, 10, 50, 100))


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def step(env: str, percent: float, at: float) -> ChartEvent:
    return ChartEvent("step", minutes(at), env, percent)


EVENTS = [
    step("staging", 100, 0),
    step("production", 1, 20),
    step("production", 10, 40),
    ChartEvent("blocked", minutes(55), until=minutes(70), label="deploy freeze <weekend> & co"),
    ChartEvent("paused", minutes(75), label="paused by @alice"),
    ChartEvent("resumed", minutes(85)),
    step("production", 50, 90),
    step("production", 10, 100),  # rolled back
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check its structure


def points(line: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())]


def test_one_step_line_per_environment_rising_and_falling_as_the_flag_did() -> None:
    root = parse(step_chart(PLAN, EVENTS, minutes(110)))
    lines = {line.attrib["data-environment"]: line for line in root.iter(f"{SVG}polyline")}
    assert set(lines) == {"staging", "production"}
    assert lines["staging"].attrib["class"] != lines["production"].attrib["class"]  # told apart
    production = points(lines["production"])
    xs = [x for x, _ in production]
    assert xs == sorted(xs)  # time runs left to right
    ys = [y for _, y in production]
    # 0 -> 1 -> 10 -> 50 -> 10: y grows downwards, so the percentages read back from the heights
    heights = sorted(set(ys), reverse=True)
    assert len(heights) == 4
    assert ys[-1] == ys[3] != ys[-3]  # back at 10% after the rollback from 50%
    (rollback,) = [p for p in root.iter(f"{SVG}path") if "rollback" in p.attrib["class"]]
    assert rollback.findtext(f"{SVG}title") == "production: rolled back from 50% to 10%"


def test_blocked_periods_and_pauses_are_shaded_with_their_reason() -> None:
    root = parse(step_chart(PLAN, EVENTS, minutes(110)))
    bands = {
        rect.attrib["class"]: rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None
    }
    assert bands["blocked"].findtext(f"{SVG}title") == "deploy freeze <weekend> & co"
    assert bands["paused"].findtext(f"{SVG}title") == "paused by @alice"
    assert float(bands["blocked"].attrib["x"]) < float(bands["paused"].attrib["x"])


def test_the_next_allowed_step_is_a_dashed_segment_to_its_earliest_time() -> None:
    root = parse(step_chart(PLAN, EVENTS, minutes(110)))
    (nxt,) = [p for p in root.iter(f"{SVG}path") if "next" in p.attrib["class"].split()]
    assert nxt.attrib["data-step"] == "production-50"
    assert nxt.findtext(f"{SVG}title") == "next: production at 50%, from 2026-12-01 11:55 UTC"
    move = re.fullmatch(r"M([\d.]+) ([\d.]+) H([\d.]+) V([\d.]+)", nxt.attrib["d"])
    assert move is not None
    x_now, y_now, x_next, y_next = map(float, move.groups())
    assert x_next > x_now  # the wait (15 minutes after the rollback at 11:40) is still ahead
    assert y_next < y_now  # and then up
    assert "stroke-dasharray" in root.findtext(f"{SVG}style", "")


def test_a_finished_rollout_has_no_next_step() -> None:
    done = [
        step("staging", 100, 0),
        *(step("production", p, 20 * i) for i, p in enumerate((1, 10, 50, 100), 1)),
    ]
    root = parse(step_chart(PLAN, done, minutes(200)))
    assert not [p for p in root.iter(f"{SVG}path") if "next" in p.attrib["class"].split()]


def test_no_script_and_every_text_escaped() -> None:
    hostile = [
        *EVENTS,
        ChartEvent("blocked", minutes(101), label='<script>alert(1)</script>" onload="x'),
        step('prod"><script>', 5, 102),
    ]
    svg = step_chart(PLAN, hostile, minutes(110), title="<b>my_flag</b>")
    root = parse(svg)
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert "script" not in tags
    assert "foreignObject" not in tags
    assert not any(name.startswith("on") for element in root.iter() for name in element.attrib)
    assert root.findtext(f"{SVG}title") == "<b>my_flag</b>"
    assert "href" not in svg


def test_light_and_dark_themes() -> None:
    style = parse(step_chart(PLAN, EVENTS, minutes(110))).findtext(f"{SVG}style", "")
    assert "currentColor" in style
    assert "@media (prefers-color-scheme: dark)" in style
