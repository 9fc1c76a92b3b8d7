"""Where a rollout stands on its plan, from evidence, and when its next step may be taken. Pure.

The flag's state is the truth of how far the rollout is: one `EnvironmentState` per environment, a
neutral value the flag's backend fills (instance flags: the gates, 100 when fully on, else the actors
percentage; project flags: the `flexibleRollout` percentage of the strategy scoped to the environment,
100 for `default`, 0 when inactive). A step is reached when its environment is at least at its percent,
and the position is the last step reached with every step before it reached too: a rollback (a lower
percentage) moves the position back without anyone editing anything.

When a step was reached comes from the evidence: the tool's own marker comments (`enable` and
`disable` markers carry the environments and the percentage they set, see `gl_rollout.core.markers`)
and the state's own `since` (a project flag's `updated_at`). The latest event that set the environment
to its current percentage wins; with none, `since`; with neither, the time is unknown and so is the
next step's earliest time (the runner then waits a full step's wait from when it first sees the state).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gl_rollout.core.markers import find_note_marker, marker_envs, marker_percentage
from gl_rollout.core.model import Note
from gl_rollout.core.plans import Plan, PlanStep
from gl_rollout.core.times import Timestamp


@dataclass(frozen=True)
class EnvironmentState:
    """How far the flag is on in one environment (0 off, 100 on) and, when known, since when."""

    environment: str
    percent: float
    since: dt.datetime | None = None


@dataclass(frozen=True)
class RampEvent:
    """Evidence that the flag was set to `percent` on `environment` at `at` (by `source`, e.g. a note)."""

    environment: str
    percent: float
    at: dt.datetime
    source: str = ""


@dataclass(frozen=True)
class Position:
    """The last step reached (None before the first) and when; the next step (None when all are
    reached) and its earliest time: None before the first step (no wait), and None with `time_unknown`
    when no evidence says when the last step was reached."""

    reached: PlanStep | None
    reached_at: dt.datetime | None
    next: PlanStep | None
    earliest: dt.datetime | None
    time_unknown: bool = False

    def ready(self, now: dt.datetime) -> bool:
        """Whether the next step's wait is over at `now` (the other guards are not this value's)."""
        if self.next is None or self.time_unknown:
            return False
        return self.earliest is None or now >= self.earliest

    @property
    def done(self) -> bool:
        return self.next is None

    @property
    def hold_until(self) -> dt.datetime | None:
        """When cleanup may start: the hold after the last step, once it is reached."""
        if not self.done or self.reached is None or self.reached_at is None:
            return None
        return self.reached_at + self.reached.wait


def events_from_notes(notes: Iterable[Note], flag: str) -> list[RampEvent]:
    """The ramp events the tool's own marker comments prove, oldest first (system notes, other flags'
    markers and markers without environments or a percentage are not evidence)."""
    events: list[RampEvent] = []
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is None or marker.action not in ("enable", "disable") or marker.flag not in ("", flag):
            continue
        moment = Timestamp.of(note.created_at).moment
        percent = 0.0 if marker.action == "disable" else marker_percentage(marker.values)
        if moment is None or percent is None:
            continue
        for environment in marker_envs(marker.values):
            events.append(RampEvent(environment, percent, moment, f"note {note.id}"))
    return sorted(events, key=lambda event: event.at)


def _reached_at(state: EnvironmentState, events: Sequence[RampEvent]) -> dt.datetime | None:
    matching = [e.at for e in events if e.environment == state.environment and e.percent == state.percent]
    if matching:
        return max(matching)
    return state.since


def position(
    plan: Plan, states: Mapping[str, EnvironmentState], events: Sequence[RampEvent] = ()
) -> Position:
    """The rollout's position on `plan` (see the module's rules). An environment without a state is off."""
    reached: PlanStep | None = None
    for step in plan.steps:
        state = states.get(step.environment)
        if state is None or state.percent < step.percent:
            break
        reached = step
    if reached is None:
        return Position(None, None, plan.next_after(None), None)
    state = states[reached.environment]
    at = _reached_at(state, events)
    following = plan.next_after(reached)
    earliest = at + reached.wait if at is not None and following is not None else None
    return Position(reached, at, following, earliest, time_unknown=at is None and following is not None)
