"""The edit core: planning a step edit, and telling someone else's description edit from the one we read.

Notes are built the way GitLab (and the sandbox) writes them: an edit's system notes are created a
few milliseconds after the issue's `updated_at`, and a comment touches `updated_at`.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.core.checklist import StepState
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.system_notes import OurWrite, Reverted, Window, edit_after_read, judge_window
from gl_rollout.errors import StepError
from gl_rollout.workflows.issue_edit import line_changes, plan_restore, plan_step_edit, unified_diff

BASE = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)
DESCRIPTION = (
    "## Roll Out Steps\r\n\r\n"
    "- [ ] Enable on staging <!-- step:enable-staging -->\r\n"
    "- [x] Test on staging <!-- step:test-staging -->\r\n"
    "- [ ] Announce the ETA <!-- step:announce-eta -->\r\n"
)


def at(ms: int) -> str:
    moment = BASE + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def issue(updated: int, created: int = -86_400_000, description: str = DESCRIPTION) -> Issue:
    return Issue(
        id=1, iid=7, project_id=42, title="t", description=description, state="opened", labels=(),
        web_url="http://x/g/p/-/issues/7", reference="g/p#7", created_at=at(created), updated_at=at(updated),
    )  # fmt: skip


def note(note_id: int, ms: int, body: str, author: str = "alice", *, system: bool = True) -> Note:
    return Note(id=note_id, body=body, author=author, created_at=at(ms), system=system)


CHANGED = "changed the description"


def marked(text: str, done: bool = True) -> str:
    return f"marked the checklist item **{text}** as {'completed' if done else 'incomplete'}"


# --- planning --------------------------------------------------------------------------------------


def test_plan_changes_only_the_brackets_and_keeps_crlf() -> None:
    edit = plan_step_edit(issue(0), [(["enable-staging", "announce-eta"], "done")])
    assert edit.needed
    assert [step.id for step in edit.changed] == ["enable-staging", "announce-eta"]
    changes = line_changes(DESCRIPTION, edit.new_text)
    assert [(c.line, c.before[:5], c.after[:5]) for c in changes] == [
        (3, "- [ ]", "- [x]"),
        (5, "- [ ]", "- [x]"),
    ]
    assert edit.new_text.count("\r\n") == DESCRIPTION.count("\r\n")


def test_plan_already_in_state_is_no_edit() -> None:
    edit = plan_step_edit(issue(0), [(["test-staging"], "done")])
    assert not edit.needed
    assert edit.changed == ()
    assert edit.diff() == ""


def test_plan_ticks_and_unticks_in_one_edit() -> None:
    edit = plan_step_edit(issue(0), [(["enable-staging"], "done"), (["test-staging"], "todo")])
    assert {(s.id, s.state) for s in edit.changed} == {("enable-staging", "done"), ("test-staging", "todo")}


def test_plan_unknown_step_is_a_step_error() -> None:
    with pytest.raises(StepError):
        plan_step_edit(issue(0), [(["no-such-step"], "done")])


def test_unified_diff_names_the_issue_and_shows_one_line() -> None:
    edit = plan_step_edit(issue(0), [(["enable-staging"], "done")])
    diff = edit.diff()
    assert diff.startswith("--- g/p#7 (now)\n+++ g/p#7 (after)\n")
    assert "-- [ ] Enable on staging" in diff
    assert "+- [x] Enable on staging" in diff
    assert unified_diff("a\n", "a\n", "x") == ""


# --- an edit after the read, seen in the notes read right after it --------------------------------


@pytest.mark.parametrize(
    ("case", "read", "notes", "later"),
    [
        # Never edited since creation: any description note after the read is a later edit.
        ("fresh issue", issue(0, created=0), [note(1, 40, CHANGED)], True),
        # The edit we read ticked test-staging: its note comes 3 ms after updated_at and agrees with the text.
        ("own checklist note", issue(0), [note(1, 3, marked("Test on staging"), author="dev")], False),
        # ... and an agreeing checklist note is ours whenever it came, since a later edit would flip it back.
        ("agreeing note late", issue(0), [note(1, 60_000, marked("Test on staging"), author="dev")], False),
        # A checklist note that contradicts the boxes we read came after our read, even within the window.
        ("contradicting note", issue(0), [note(1, 5, marked("Enable on staging"), author="dev")], True),
        # A text edit just before our read: its note is taken as the read edit's own.
        ("own text edit", issue(0), [note(1, 4, CHANGED)], False),
        # updated_at is a comment's touch: a text edit after it is someone else's, however soon.
        (
            "comment touch",
            issue(0),
            [note(1, 0, "a comment", author="dev", system=False), note(2, 300, CHANGED)],
            True,
        ),
        # The read edit's checklist note, then a text edit in the same second (any author): a later edit.
        (
            "second edit",
            issue(0),
            [note(1, 2, marked("Test on staging"), author="dev"), note(2, 300, CHANGED, author="dev")],
            True,
        ),
        # Long after the edit we read: a second text edit is a later one.
        ("outside window", issue(0), [note(1, 3, CHANGED), note(2, 9_000, CHANGED, author="bob")], True),
        # Notes before our read, and notes that are not about the description, never count.
        (
            "older and other notes",
            issue(0),
            [note(1, -500, CHANGED), note(2, 700, "added ~backend label"), note(3, 800, "x", system=False)],
            False,
        ),
        # One token, two writers: the same author's second tick contradicts the boxes read.
        (
            "same author, two ticks",
            issue(0),
            [
                note(1, 2, marked("Test on staging"), author="dev"),
                note(2, 40, marked("Enable on staging"), author="dev"),
            ],
            True,
        ),
    ],
)
def test_edit_after_read(case: str, read: Issue, notes: list[Note], later: bool) -> None:
    assert edit_after_read(notes, read) is later, case


def test_a_lone_text_edit_note_is_the_read_edit_for_certain() -> None:
    """Audit #13: `check --skip` then `announce` read the issue twice (6 requests, budget 5). The edit
    we read wrote its note before we read the notes; a later edit would have added a second one."""
    assert not edit_after_read([note(1, 4, CHANGED, author="dev")], issue(0))


@pytest.mark.parametrize(
    "notes",
    [
        # two text edits by one person within the seconds: the second may be after our read
        [note(1, 4, CHANGED, author="dev"), note(2, 900, CHANGED, author="dev")],
        # a title change we read, then perhaps a text edit of theirs: the text note may be later
        [note(1, 3, "changed title from **a** to **b**", author="dev"), note(2, 700, CHANGED, author="dev")],
    ],
)
def test_a_text_edit_note_beside_other_notes_is_read_again(notes: list[Note]) -> None:
    assert edit_after_read(notes, issue(0))


# --- the window of our write ------------------------------------------------------------------------


def ours(read: Issue, targets: dict[str, StepState], saved: int) -> OurWrite:
    edit = plan_step_edit(read, [([step], state) for step, state in targets.items()])
    return OurWrite(read.description, edit.new_text, set(targets), at(saved))


def test_a_text_edit_in_the_window_before_our_write_is_overwritten() -> None:
    read = issue(0)
    notes = [
        note(4, 1_004, marked("Enable on staging"), author="dev"),  # our PUT's note, after our write
        note(3, 600, CHANGED, author="alice"),  # landed between our notes read and our write
        note(1, 3, CHANGED),  # the read edit's own, at or below the floor
    ]
    judged = judge_window(notes, 1, ours(read, {"enable-staging": "done"}, 1_000))
    assert [n.id for n in judged.overwritten] == [3]
    assert judged.later == ()
    assert judged.reverted == ()


def test_a_text_edit_right_after_ours_is_later() -> None:
    read = issue(0, created=0)
    notes = [
        note(5, 1_400, CHANGED, author="alice"),
        note(4, 1_002, marked("Enable on staging"), author="dev"),
    ]
    judged = judge_window(notes, 0, ours(read, {"enable-staging": "done"}, 1_000))
    assert judged.overwritten == ()
    assert [n.id for n in judged.later] == [5]


def test_notes_at_or_below_the_floor_are_never_judged() -> None:
    read = issue(0)
    notes = [note(4, 1_002, marked("Enable on staging"), author="dev"), note(1, 3, CHANGED)]
    assert judge_window(notes, 1, ours(read, {"enable-staging": "done"}, 1_000)) == Window()


def test_a_tick_our_write_undid_is_to_be_set_again() -> None:
    """Another writer (with our very token) ticked enable-staging after our read; our write, made from
    the text we read, marked it incomplete again."""
    read = issue(0)
    notes = [
        note(7, 1_002, marked("Announce the ETA"), author="dev"),
        note(6, 1_001, marked("Enable on staging", done=False), author="dev"),
        note(5, 500, marked("Enable on staging"), author="dev"),
    ]
    judged = judge_window(notes, 0, ours(read, {"announce-eta": "done"}, 1_000))
    assert [(r.step_id, r.state, r.note.id) for r in judged.reverted] == [("enable-staging", "done", 5)]
    assert judged.overwritten == ()


def test_a_tick_made_after_our_write_stands() -> None:
    read = issue(0)
    notes = [
        note(6, 1_400, marked("Enable on staging"), author="alice"),
        note(5, 1_002, marked("Announce the ETA"), author="dev"),
    ]
    assert judge_window(notes, 0, ours(read, {"announce-eta": "done"}, 1_000)) == Window()


def test_a_tick_undone_by_someone_else_before_our_write_is_left_alone() -> None:
    """Ticked and unticked by others before our write (ms timestamps tell): nothing of theirs is lost."""
    read = issue(0)
    notes = [
        note(5, 400, marked("Enable on staging")),
        note(6, 600, marked("Enable on staging", done=False)),
        note(7, 1_002, marked("Announce the ETA"), author="dev"),
    ]
    assert judge_window(notes, 0, ours(read, {"announce-eta": "done"}, 1_000)).reverted == ()


def test_a_skip_is_noted_as_text_and_a_tick_it_may_have_undone_is_to_be_checked() -> None:
    """`[~]` is not a box to GitLab: our skip is noted as "changed the description" (our own note, not
    a conflict), and it says nothing of the boxes it set back, so a tick made before it is to be
    checked against a fresh read."""
    read = issue(0)
    notes = [note(5, 500, marked("Enable on staging")), note(6, 1_002, CHANGED, author="dev")]
    judged = judge_window(notes, 0, ours(read, {"announce-eta": "skipped"}, 1_000))
    assert judged.overwritten == ()
    assert judged.later == ()
    assert [(r.step_id, r.state) for r in judged.reverted] == [("enable-staging", "done")]


def test_a_box_gitlab_names_but_the_text_lacks_cannot_be_rebuilt() -> None:
    read = issue(0)
    notes = [
        note(5, 500, marked("Something else")),
        note(6, 1_001, marked("Something else", done=False)),
        note(7, 1_002, marked("Announce the ETA"), author="dev"),
    ]
    judged = judge_window(notes, 0, ours(read, {"announce-eta": "done"}, 1_000))
    assert [n.id for n in judged.overwritten] == [5]


def test_plan_restore_leaves_a_box_someone_changed_since() -> None:
    reverted = [
        Reverted("enable-staging", "done", note(5, 500, marked("Enable on staging"))),
        Reverted("announce-eta", "done", note(6, 500, marked("Announce the ETA"))),
    ]
    fresh = issue(2_000, description=DESCRIPTION.replace("- [ ] Announce", "- [x] Announce"))
    repair, lost = plan_restore(fresh, reverted)
    assert lost == []
    assert repair is not None
    assert [(s.id, s.state) for s in repair.changed] == [("enable-staging", "done")]
    assert plan_restore(issue(2_000, description="- [x] Enable on staging <!-- step:enable-staging -->\n"),
                        reverted[:1]) == (None, [])  # fmt: skip


def test_an_untick_that_only_undid_a_fresh_tick_is_not_set_again() -> None:
    """Three writers, one token. A ticked enable-staging (note 1) just before our read; B, which had
    read before that tick, wrote its own tick and, with it, set enable-staging back (notes 2, 3); our
    write, made from what we read, ticked enable-staging again (note 4). B's untick was no one's
    choice (B sets the tick back itself): our write is left as it is."""
    read = issue(0, description=DESCRIPTION.replace("- [ ] Enable", "- [x] Enable"))
    notes = [
        note(1, -40, marked("Enable on staging")),
        note(2, 300, marked("Test on staging", done=False)),
        note(3, 301, marked("Enable on staging", done=False)),
        note(4, 1_001, marked("Enable on staging")),
        note(5, 1_002, marked("Announce the ETA")),
    ]
    judged = judge_window(notes, 1, ours(read, {"announce-eta": "done"}, 1_000))
    assert judged.reverted == ()
    # ... while an untick made long after the tick it undoes is someone's choice, and is set again
    later = [note(1, -60_000, marked("Enable on staging")), *notes[1:]]
    judged = judge_window(later, 1, ours(read, {"announce-eta": "done"}, 1_000))
    assert [(r.step_id, r.state) for r in judged.reverted] == [("enable-staging", "todo")]


# --- the rollout plan's hidden copy (issue 15) -------------------------------------------------------


def _with_plan() -> str:
    from gl_rollout.core.plan_text import plan_section
    from gl_rollout.core.plans import build_plan

    return plan_section(build_plan((10, 50, 100))) + "\n## Steps\n\n" + DESCRIPTION.replace("\r\n", "\n")


def test_a_tick_rewrites_the_hidden_copy_a_persons_table_edit_made_stale() -> None:
    from gl_rollout.core.plan_text import read_plan

    edited = _with_plan().replace("| production | 50% | 15m | |", "| production | 50% | 1h | |")
    assert read_plan(edited).stale
    edit = plan_step_edit(issue(0, description=edited), [(["enable-staging"], "done")])
    reading = read_plan(edit.new_text)
    assert not reading.stale
    assert reading.plan is not None
    assert reading.plan.steps[2].wait == dt.timedelta(hours=1)
    changed = [c.line for c in line_changes(edited, edit.new_text)]
    assert len(changed) == 2  # the box and the hidden copy's line, nothing else


def test_no_tick_no_write_and_a_malformed_plan_is_left_for_the_runner() -> None:
    edited = _with_plan().replace("| production | 50% | 15m | |", "| production | 50% | 1h | |")
    assert not plan_step_edit(issue(0, description=edited), [(["test-staging"], "done")]).needed
    broken = _with_plan().replace("| production | 50% | 15m | |", "| production | lots | 15m | |")
    edit = plan_step_edit(issue(0, description=broken), [(["enable-staging"], "done")])
    assert [c.before[:5] for c in line_changes(broken, edit.new_text)] == ["- [ ]"]  # only the box
