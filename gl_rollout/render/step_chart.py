"""The step chart: a rollout's percentage over time per environment, as an inline SVG. Pure.

`step_chart(plan, events, now)` draws one step line per environment of the plan from its `step` events
(the flag set to a percentage at a time), shades blocked periods (a freeze, an incident, a missing
approval) and pauses, marks rollbacks (a step to a lower percentage) with a triangle, and draws the next
allowed step as a dashed segment: flat at the current percentage until its earliest time
(`gl_rollout.core.ramp_position`), then up to the next step's percentage.

The SVG has no script, no external reference and no event handler; every text is XML-escaped. Colours
come from a `<style>` inside it: strokes and text follow `currentColor` (the page's text colour) and
`prefers-color-scheme: dark` switches the environment colours to lighter ones, so it reads on GitLab's
light and dark themes alike. GitLab's Markdown keeps inline SVG out of descriptions, so the chart is for
pages the tool writes (the report, a job's artifacts), not for issue text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from gl_rollout.core.plans import Plan
from gl_rollout.core.ramp_position import EnvironmentState, RampEvent, position
from gl_rollout.core.times import format_utc

EventKind = Literal["step", "blocked", "paused", "resumed"]

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 28, 52
_LIGHT = ("#1f75cb", "#108548", "#9e5400", "#7b58cf", "#c91c00")
_DARK = ("#63a6e9", "#52b87a", "#e9be74", "#ac93e6", "#f57f6c")


@dataclass(frozen=True)
class ChartEvent:
    """Something on the rollout's timeline. `step`: `environment` set to `percent` at `at`.
    `blocked`: the runner could not go on from `at` to `until` (None: still blocked), `label` says why.
    `paused` / `resumed`: a person paused or resumed the runner."""

    kind: EventKind
    at: dt.datetime
    environment: str = ""
    percent: float = 0.0
    until: dt.datetime | None = None
    label: str = ""


class _Scale:
    def __init__(self, start: dt.datetime, end: dt.datetime) -> None:
        self.start = start
        self.span = max((end - start).total_seconds(), 60.0)

    def x(self, moment: dt.datetime) -> float:
        share = (moment - self.start).total_seconds() / self.span
        return round(LEFT + min(max(share, 0.0), 1.0) * (WIDTH - LEFT - RIGHT), 1)

    @staticmethod
    def y(percent: float) -> float:
        return round(TOP + (1 - min(max(percent, 0.0), 100.0) / 100) * (HEIGHT - TOP - BOTTOM), 1)


def _style() -> str:
    # lines are stroked only; marks (the legend's swatches, rollback triangles) are filled only
    light = "".join(
        f".env-{i}{{stroke:{c}}}.mark.env-{i}{{fill:{c};stroke:none}}" for i, c in enumerate(_LIGHT)
    )
    dark = "".join(
        f".env-{i}{{stroke:{c}}}.mark.env-{i}{{fill:{c};stroke:none}}" for i, c in enumerate(_DARK)
    )
    return (
        "<style>"
        "svg{color:#333238}text{fill:currentColor;font:12px sans-serif}"
        ".axis{stroke:currentColor;stroke-width:1;fill:none}"
        ".grid{stroke:currentColor;stroke-opacity:.15;fill:none}"
        ".line{fill:none;stroke-width:2.5}.next{fill:none;stroke-width:2;stroke-dasharray:6 4}"
        ".blocked{fill:#dd2b0e;fill-opacity:.14;stroke:none}.paused{fill:#737278;fill-opacity:.18;stroke:none}"
        ".rollback{stroke:none}.now{stroke:currentColor;stroke-dasharray:2 3}"
        f"{light}"
        "@media (prefers-color-scheme: dark){svg{color:#ececef}"
        f".blocked{{fill:#fc9403}}{dark}}}"
        "</style>"
    )


def _steps_of(events: Sequence[ChartEvent]) -> list[ChartEvent]:
    return sorted((e for e in events if e.kind == "step"), key=lambda e: e.at)


def step_chart(plan: Plan, events: Sequence[ChartEvent], now: dt.datetime, *, title: str = "") -> str:
    """The chart as an `<svg>` element string (see the module's docstring)."""
    steps = _steps_of(events)
    states: dict[str, EnvironmentState] = {}
    for event in steps:
        states[event.environment] = EnvironmentState(event.environment, event.percent, event.at)
    where = position(plan, states, [RampEvent(e.environment, e.percent, e.at) for e in steps])
    moments = [e.at for e in events] + [e.until for e in events if e.until is not None] + [now]
    next_at = where.earliest if where.next is not None else None
    if next_at is not None:
        moments.append(next_at)
    start, end = min(moments), max(moments)
    end += (end - start) * 0.08 + dt.timedelta(minutes=1)
    scale = _Scale(start, end)
    environments = list(plan.environments) + sorted({e.environment for e in steps} - set(plan.environments))
    colour = {env: f"env-{i % len(_LIGHT)}" for i, env in enumerate(environments)}

    label = title or "Rollout steps over time"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{_attr(label)}">',
        f"<title>{escape(label)}</title>",
        _style(),
    ]
    # blocked periods and pauses, behind the lines
    paused: ChartEvent | None = None
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == "blocked":
            parts.append(_band("blocked", scale, event.at, event.until or now, event.label or "blocked"))
        elif event.kind == "paused" and paused is None:
            paused = event
        elif event.kind == "resumed" and paused is not None:
            parts.append(_band("paused", scale, paused.at, event.at, paused.label or "paused"))
            paused = None
    if paused is not None:
        parts.append(_band("paused", scale, paused.at, now, paused.label or "paused"))
    # axes and grid
    bottom, right = scale.y(0), WIDTH - RIGHT
    for percent in (0, 25, 50, 75, 100):
        y = scale.y(percent)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">{percent}%</text>')
    parts.append(f'<path class="axis" d="M{LEFT} {TOP} V{bottom} H{right}"/>')
    parts.append(
        f'<text x="{LEFT}" y="{bottom + 18}">{escape(format_utc(start))}</text>'
        f'<text x="{right}" y="{bottom + 18}" text-anchor="end">{escape(format_utc(end))}</text>'
    )
    x_now = scale.x(now)
    parts.append(
        f'<line class="now" x1="{x_now}" y1="{TOP}" x2="{x_now}" y2="{bottom}"><title>now</title></line>'
    )
    # one step line per environment, up to now
    for env in environments:
        own = [e for e in steps if e.environment == env]
        if not own:
            continue
        points, level = [], 0.0
        for event in own:
            x = scale.x(event.at)
            points += [f"{x},{scale.y(level)}", f"{x},{scale.y(event.percent)}"]
            if event.percent < level:
                y = scale.y(event.percent)
                parts.append(
                    f'<path class="rollback mark {colour[env]}" d="M{x} {y + 4} l-5 9 h10 z">'
                    f"<title>{escape(f'{env}: rolled back from {level:g}% to {event.percent:g}%')}</title>"
                    "</path>"
                )
            level = event.percent
        points.append(f"{x_now},{scale.y(level)}")
        parts.append(
            f'<polyline class="line {colour[env]}" data-environment="{_attr(env)}" '
            f'points="{" ".join(points)}">'
            f"<title>{escape(f'{env}: {level:g}%')}</title></polyline>"
        )
    # the next allowed step, dashed
    if where.next is not None:
        env = where.next.environment
        current = states[env].percent if env in states else 0.0
        x_next = scale.x(max(next_at, now)) if next_at is not None else x_now
        parts.append(
            f'<path class="next {colour.get(env, "env-0")}" data-step="{_attr(where.next.id)}" '
            f'd="M{x_now} {scale.y(current)} H{x_next} V{scale.y(where.next.percent)}">'
            f"<title>{escape(_next_text(where.next.describe(), next_at, where.time_unknown))}</title></path>"
        )
    # the legend
    for i, env in enumerate(environments):
        x = LEFT + i * 130
        parts.append(
            f'<rect class="mark {colour[env]}" x="{x}" y="{HEIGHT - 18}" width="12" height="4"/>'
            f'<text x="{x + 16}" y="{HEIGHT - 12}">{escape(env)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _attr(text: str) -> str:
    """`text` safe inside a double-quoted attribute."""
    return escape(text, {'"': "&quot;"})


def _band(kind: str, scale: _Scale, start: dt.datetime, end: dt.datetime, label: str) -> str:
    x1, x2 = scale.x(start), scale.x(end)
    return (
        f'<rect class="{kind}" x="{x1}" y="{TOP}" width="{max(x2 - x1, 1.0)}" height="{scale.y(0) - TOP}">'
        f"<title>{escape(label)}</title></rect>"
    )


def _next_text(step: str, at: dt.datetime | None, unknown: bool) -> str:
    if unknown:
        return f"next: {step}, once the wait is measured"
    if at is None:
        return f"next: {step}, now"
    return f"next: {step}, from {format_utc(at)}"
