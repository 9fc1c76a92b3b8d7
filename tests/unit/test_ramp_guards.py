"""The ramp runner's pure guards and its position on the plan (issue 15): blocking incidents, approval
comments, and where a rollout stands from the flag's state and the tool's marker comments."""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.core.guards import approval_comment, approved_steps, blocking_incidents, find_approval
from gl_rollout.core.markers import NoteMarker
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.plans import build_plan
from gl_rollout.core.ramp_position import EnvironmentState, RampEvent, events_from_notes, position

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def incident(iid: int, labels: tuple[str, ...], state: str = "opened") -> Issue:
    return Issue(
        id=100 + iid, iid=iid, project_id=7, title=f"Incident {iid}", description="", state=state,
        labels=labels, web_url=f"https://gitlab.example/ops/incidents/-/issues/{iid}",
        reference=f"ops/incidents#{iid}", created_at=iso(T0 + dt.timedelta(minutes=iid)), updated_at=iso(T0),
    )  # fmt: skip


def note(note_id: int, body: str, author: str, minutes: float, *, system: bool = False) -> Note:
    return Note(note_id, body, author, iso(T0 + dt.timedelta(minutes=minutes)), system=system)


# --- incidents ---------------------------------------------------------------------------------------


def test_only_open_incidents_with_a_blocking_label_block() -> None:
    listed = [
        incident(1, ("severity::3",)),
        incident(2, ("Severity::1", "db")),  # label names compare without case
        incident(3, ("severity::2",), state="closed"),
        incident(4, ("severity::2",)),
        incident(5, ()),
    ]
    assert [i.iid for i in blocking_incidents(listed)] == [2, 4]
    assert [i.iid for i in blocking_incidents(listed, ["severity::3"])] == [1]
    assert blocking_incidents(listed, []) == []


# --- approvals ---------------------------------------------------------------------------------------

PLAN = build_plan((10, 50, 100), approvers=("alice,bob",))


def test_the_approval_comment_and_where_it_counts() -> None:
    step = PLAN.step("production-on")
    assert step is not None
    assert approval_comment(step) == "gl-rollout approve production-on"
    assert approved_steps("Looks good.\n\ngl-rollout approve production-50\n") == ["production-50"]
    assert approved_steps("- **GL-Rollout Approve  production-on**") == ["production-on"]
    # not inside a sentence, a quote of a command, or a code block
    assert approved_steps("I will write gl-rollout approve production-50 later") == []
    assert approved_steps("```\ngl-rollout approve production-50\n```") == []
    assert approved_steps("`gl-rollout approve production-10`") == ["production-10"]


def test_an_approval_counts_from_an_approver_other_than_the_author_after_the_previous_step() -> None:
    step = PLAN.step("production-50")
    assert step is not None
    previous_reached = T0 + dt.timedelta(minutes=30)
    notes = [
        note(1, "gl-rollout approve production-50", "alice", 10),  # before the previous step: stale
        note(2, "gl-rollout approve production-50", "carol", 40),  # not an approver
        note(3, "gl-rollout approve production-50", "dev", 41),  # the author (dev is not an approver)
        note(4, "gl-rollout approve production-50", "alice", 42, system=True),  # a system note
        note(5, "gl-rollout approve production-10", "bob", 43),  # another step
        note(6, "lgtm\ngl-rollout approve production-50", "bob", 44),
        note(7, "gl-rollout approve production-50", "alice", 45),
    ]
    found = find_approval(PLAN, step, notes, issue_author="dev", not_before=previous_reached)
    assert found is not None
    assert (found.username, found.note_id, found.at) == ("bob", 6, T0 + dt.timedelta(minutes=44))
    assert find_approval(PLAN, step, notes[:6][:-1], issue_author="dev", not_before=previous_reached) is None


def test_the_author_cannot_approve_their_own_rollout_even_when_named() -> None:
    step = PLAN.step("production-10")
    assert step is not None
    notes = [note(1, "gl-rollout approve production-10", "Alice", 5)]
    assert find_approval(PLAN, step, notes, issue_author="alice", not_before=None) is None
    found = find_approval(PLAN, step, notes, issue_author="dev", not_before=None)
    assert found is not None
    assert found.username == "Alice"


# --- position ----------------------------------------------------------------------------------------

RAMP = build_plan((1, 10, 50, 100))  # staging-100, production-1, -10, -50, -100; 15m waits, 1d hold


def states(
    staging: float, production: float, since: dt.datetime | None = None
) -> dict[str, EnvironmentState]:
    return {
        "staging": EnvironmentState("staging", staging, since),
        "production": EnvironmentState("production", production, since),
    }


def marker_note(
    note_id: int, minutes: float, envs: list[str], percentage: object, action: str = "enable"
) -> Note:
    body = (
        "Enabled.\n\n"
        + NoteMarker(action, "my_flag", None, {"envs": envs, "percentage": percentage}).to_comment()
    )
    return note(note_id, body, "dev", minutes)


def test_nothing_done_means_the_first_step_may_go_now() -> None:
    where = position(RAMP, states(0, 0))
    assert where.reached is None
    assert where.next == RAMP.steps[0]
    assert where.ready(T0)


def test_the_position_and_the_next_steps_earliest_time_from_marker_comments() -> None:
    notes = [
        marker_note(1, 0, ["staging"], True),
        marker_note(2, 20, ["production"], 1),
        marker_note(3, 40, ["production"], 10),
        note(4, "a person's comment", "alice", 45),
        marker_note(5, 50, ["production"], 10, action="enable"),  # the same step again: the latest counts
    ]
    events = events_from_notes(notes, "my_flag")
    assert [(e.environment, e.percent) for e in events] == [
        ("staging", 100.0), ("production", 1.0), ("production", 10.0), ("production", 10.0),
    ]  # fmt: skip
    where = position(RAMP, states(100, 10), events)
    assert where.reached is not None
    assert where.reached.id == "production-10"
    assert where.reached_at == T0 + dt.timedelta(minutes=50)
    assert where.next is not None
    assert where.next.id == "production-50"
    assert where.earliest == T0 + dt.timedelta(minutes=65)
    assert not where.ready(T0 + dt.timedelta(minutes=64, seconds=59))
    assert where.ready(T0 + dt.timedelta(minutes=65))


def test_a_rollback_moves_the_position_back() -> None:
    events = events_from_notes(
        [
            marker_note(1, 0, ["staging"], True),
            marker_note(2, 20, ["production"], 50),
            marker_note(3, 30, ["production"], 1),  # rolled back by hand, with the tool
        ],
        "my_flag",
    )
    where = position(RAMP, states(100, 1), events)
    assert where.reached is not None
    assert where.reached.id == "production-1"
    assert where.earliest == T0 + dt.timedelta(minutes=45)
    off = position(
        RAMP,
        states(100, 0),
        events_from_notes([marker_note(4, 60, ["production"], None, "disable")], "my_flag"),
    )
    assert off.reached is not None
    assert off.reached.id == "staging-100"


def test_between_two_steps_the_position_is_the_lower_one() -> None:
    where = position(RAMP, states(100, 30, since=T0))
    assert where.reached is not None
    assert where.reached.id == "production-10"
    assert where.next is not None
    assert where.next.id == "production-50"
    # no marker says when 30% was set: the state's own time (a project flag's updated_at) is used
    assert where.earliest == T0 + dt.timedelta(minutes=15)


def test_without_evidence_of_when_the_time_is_unknown_and_the_step_waits() -> None:
    where = position(RAMP, states(100, 10))
    assert where.reached is not None
    assert where.time_unknown
    assert where.earliest is None
    assert not where.ready(T0 + dt.timedelta(days=30))


def test_production_ahead_of_staging_is_not_a_position_past_staging() -> None:
    where = position(RAMP, states(0, 50, since=T0))
    assert where.reached is None
    assert where.next is not None
    assert where.next.id == "staging-100"


def test_all_steps_reached_then_the_hold() -> None:
    events = [RampEvent("production", 100.0, T0, "note 9")]
    where = position(RAMP, states(100, 100, since=T0 - dt.timedelta(hours=1)), events)
    assert where.done
    assert not where.ready(T0 + dt.timedelta(days=2))
    assert where.hold_until == T0 + dt.timedelta(days=1)


def test_other_flags_and_system_notes_are_not_evidence() -> None:
    other = NoteMarker("enable", "other_flag", None, {"envs": ["production"], "percentage": 50}).to_comment()
    system = note(2, marker_note(3, 5, ["production"], 50).body, "dev", 5, system=True)
    assert events_from_notes([note(1, other, "dev", 0), system], "my_flag") == []


@pytest.mark.parametrize("percentage", ["25", 25, 25.0])
def test_marker_percentages_in_every_form(percentage: object) -> None:
    (event,) = events_from_notes([marker_note(1, 0, ["production"], percentage)], "my_flag")
    assert event.percent == 25.0
