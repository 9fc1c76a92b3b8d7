"""A rollout's step chart from its evidence: the same marker comments `advance` reads. Pure.

`chart_events(notes, flag)` turns the tool's marker comments into `ChartEvent`s for
`gl_rollout.render.step_chart`: each `enable`/`disable` marker is a step of its environments to the
share it set (`gl_rollout.core.ramp_position.events_from_notes`, the very events the position is worked
out from, so a rollback's lower step is drawn lower), each `pause` and `rollback` marker starts a pause
band and the next `resume` ends it (a rollback holds the runner until a resume, as
`gl_rollout.core.advance_rules` says). Blocked periods are not in the comments (`advance` writes
nothing when a guard holds it): a caller that knows some passes them as `blocked` events.

`rollout_chart(description, notes, now)` is the chart of an issue with a rollout plan, or None for an
issue without one (or whose plan cannot be read: the chart never guesses a plan).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from gl_rollout.core.advance_rules import PAUSE_ACTIONS
from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.model import Note
from gl_rollout.core.plan_text import read_plan
from gl_rollout.core.plans import Plan
from gl_rollout.core.ramp_position import events_from_notes
from gl_rollout.core.times import Timestamp
from gl_rollout.errors import RolloutError
from gl_rollout.render.step_chart import ChartEvent, step_chart


def _control_events(notes: Iterable[Note], flag: str) -> list[ChartEvent]:
    """Pause bands from the pause, rollback and resume markers of `flag`, oldest first."""
    found: list[tuple[dt.datetime, int, str, str]] = []
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is None or marker.action not in PAUSE_ACTIONS or marker.flag not in ("", flag):
            continue
        moment = Timestamp.of(note.created_at).moment
        if moment is None:
            continue
        reason = marker.values.get("reason")
        found.append((moment, note.id, marker.action, reason if isinstance(reason, str) else ""))
    events: list[ChartEvent] = []
    holding = False
    for moment, _id, action, reason in sorted(found):
        if action == "resume":
            if holding:
                events.append(ChartEvent("resumed", moment, label="resumed"))
            holding = False
        elif not holding:  # a pause (or rollback) while paused extends the same band
            word = "rolled back" if action == "rollback" else "paused"
            events.append(ChartEvent("paused", moment, label=f"{word}: {reason}" if reason else word))
            holding = True
    return events


def chart_events(notes: Sequence[Note], flag: str, blocked: Sequence[ChartEvent] = ()) -> list[ChartEvent]:
    """The rollout's timeline as chart events, oldest first (see the module docstring)."""
    steps = [
        ChartEvent("step", event.at, event.environment, event.percent, label=event.source)
        for event in events_from_notes(notes, flag)
    ]
    extra = [event for event in blocked if event.kind == "blocked"]
    return sorted([*steps, *_control_events(notes, flag), *extra], key=lambda event: event.at)


def issue_plan(description: str) -> Plan | None:
    """The issue's rollout plan, or None when it has none or one that cannot be read."""
    try:
        return read_plan(description).plan
    except RolloutError:
        return None


def rollout_chart(
    description: str,
    notes: Sequence[Note],
    flag: str,
    now: dt.datetime,
    *,
    blocked: Sequence[ChartEvent] = (),
    title: str = "",
) -> str | None:
    """The step chart of a rollout issue (an `<svg>` string), or None when it has no readable plan."""
    plan = issue_plan(description)
    if plan is None:
        return None
    return step_chart(plan, chart_events(notes, flag, blocked), now, title=title)
