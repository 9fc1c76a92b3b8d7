"""What holds the ramp runner's next step, and until when. Pure.

`holds` takes what `advance` read (the plan, the position from `gl_rollout.core.ramp_position`, GitLab's
time, the active freezes, the blocking incidents, the step's approval, the announced ETA, the newest
pause) and returns every guard that holds the next step, in a fixed order; an empty list means go.
The order of environments (staging before production) is the plan's, and the position only reaches a
step when every step before it is reached, so a production step is never next while staging is not on.

Evidence read here from the tool's own marker comments: the newest `announce-eta` marker's `eta` (an
ETA holds only steps on the plan's last environment, production, as the `announce-eta` step says), and
the newest `pause`/`resume`/`rollback` marker of the flag (a pause or a rollback holds every step until
a `resume`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gl_rollout.core.freezes import Freeze
from gl_rollout.core.guards import Approval
from gl_rollout.core.markers import NoteMarker, find_note_marker
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.plans import Plan
from gl_rollout.core.ramp_position import Position
from gl_rollout.core.times import Timestamp, format_utc, utc_iso

PAUSE_ACTIONS = ("pause", "resume", "rollback")


@dataclass(frozen=True)
class Hold:
    """One guard holding the next step: which (`wait`, `eta`, `freeze`, `incident`, `approval`,
    `paused`, `rolled-back`, `time-unknown`), why in words, and until when when that is known."""

    guard: str
    reason: str
    until: dt.datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "guard": self.guard,
            "reason": self.reason,
            "until": utc_iso(self.until) if self.until is not None else None,
        }


@dataclass(frozen=True)
class PauseState:
    """The newest pause, resume or rollback marker of the flag (None: never paused)."""

    action: str
    reason: str
    at: dt.datetime | None
    note_id: int
    to: str | None = None  # a rollback's target: a step ID or `off`

    @property
    def holding(self) -> bool:
        return self.action in ("pause", "rollback")


def newest_marker(notes: Iterable[Note], flag: str, actions: Sequence[str]) -> tuple[Note, NoteMarker] | None:
    """The newest (by creation time, then id) non-system note carrying a marker of `flag` with one of
    `actions`."""
    found: list[tuple[Note, NoteMarker]] = []
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is not None and marker.action in actions and marker.flag in ("", flag):
            found.append((note, marker))
    return max(
        found,
        key=lambda pair: (Timestamp.of(pair[0].created_at).moment or dt.datetime.min.replace(tzinfo=dt.UTC),
                          pair[0].id),
        default=None,
    )  # fmt: skip


def announced_eta(notes: Iterable[Note], flag: str) -> dt.datetime | None:
    """The ETA of the newest `announce-eta` comment of the flag, or None when none was announced."""
    newest = newest_marker(notes, flag, ("announce-eta",))
    if newest is None:
        return None
    raw = newest[1].values.get("eta")
    return Timestamp.of(raw).moment if isinstance(raw, str) else None


def pause_state(notes: Iterable[Note], flag: str) -> PauseState | None:
    """The newest pause/resume/rollback marker of the flag (see the module docstring)."""
    newest = newest_marker(notes, flag, PAUSE_ACTIONS)
    if newest is None:
        return None
    note, marker = newest
    reason, to = marker.values.get("reason"), marker.values.get("to")
    return PauseState(
        marker.action,
        reason if isinstance(reason, str) else "",
        Timestamp.of(note.created_at).moment,
        note.id,
        to if isinstance(to, str) else None,
    )


def holds(
    plan: Plan,
    at: Position,
    now: dt.datetime,
    *,
    freezes: Sequence[Freeze] = (),
    incidents: Sequence[Issue] = (),
    approval: Approval | None = None,
    eta: dt.datetime | None = None,
    paused: PauseState | None = None,
) -> list[Hold]:
    """Every guard that holds the next step at `now` (GitLab's time); empty when it may be taken."""
    step = at.next
    if step is None:
        return []
    found: list[Hold] = []
    if paused is not None and paused.holding:
        word = "rolled back" if paused.action == "rollback" else "paused"
        why = f": {paused.reason}" if paused.reason else ""
        found.append(
            Hold(
                "rolled-back" if paused.action == "rollback" else "paused",
                f"the rollout is {word} (note {paused.note_id}){why}; `gl-rollout resume` lifts it",
            )
        )
    if at.time_unknown:
        found.append(
            Hold(
                "time-unknown",
                f"no evidence says when {at.reached.describe() if at.reached else 'the last step'} was "
                "reached, so its wait cannot be measured",
            )
        )
    elif at.earliest is not None and now < at.earliest:
        assert at.reached is not None
        found.append(
            Hold(
                "wait",
                f"{at.reached.describe()} must stay so until {format_utc(at.earliest)}",
                at.earliest,
            )
        )
    if eta is not None and step.environment == plan.environments[-1] and now < eta:
        found.append(Hold("eta", f"the announced ETA for {step.environment} is {format_utc(eta)}", eta))
    for freeze in freezes:
        found.append(
            Hold("freeze", f"a deploy freeze is active until {format_utc(freeze.ends)}", freeze.ends)
        )
    for incident in incidents:
        labels = ", ".join(label for label in incident.labels if label.lower().startswith("severity::"))
        found.append(
            Hold("incident", f"incident {incident.reference} is open ({labels or 'blocking label'})")
        )
    if step.approvers and approval is None:
        names = ", ".join("@" + name for name in step.approvers)
        found.append(
            Hold(
                "approval",
                f"{step.id} needs an approval from {names}: a comment `gl-rollout approve {step.id}`",
            )
        )
    return found


def next_time(at: Position, found: Sequence[Hold]) -> dt.datetime | None:
    """The earliest time the next step may be taken as far as the timed guards tell: the latest `until`
    among them; None when a guard without an end holds it, or when nothing is next."""
    if at.next is None:
        return None
    if any(hold.until is None for hold in found):
        return None
    times = [hold.until for hold in found if hold.until is not None]
    if times:
        return max(times)
    return at.earliest
