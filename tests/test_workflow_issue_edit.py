"""The edit core: planning a step edit, and telling someone else's description edit from the one we read.

Notes are built the way GitLab (and the sandbox) writes them: an edit's system notes are created a
few milliseconds after the issue's `updated_at`, and a comment touches `updated_at`.
"""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.api import Issue, Note
from gl_rollout.errors import StepError
from gl_rollout.issue_edit import line_changes, plan_step_edit, unified_diff
from gl_rollout.system_notes import interference, judge_since_read

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


# --- who edited after our read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "read", "notes", "others"),
    [
        # Never edited since creation: any description note after the read is someone else's.
        ("fresh issue", issue(0, created=0), [note(1, 40, CHANGED)], [1]),
        # The edit we read ticked test-staging: its note comes 3 ms after updated_at and agrees with the text.
        ("own checklist note", issue(0), [note(1, 3, marked("Test on staging"), author="dev")], []),
        # ... and an agreeing checklist note is ours whenever it came, since a later edit would flip it back.
        ("agreeing note late", issue(0), [note(1, 60_000, marked("Test on staging"), author="dev")], []),
        # A checklist note that contradicts the boxes we read came after our read, even within the window.
        ("contradicting note", issue(0), [note(1, 5, marked("Enable on staging"), author="dev")], [1]),
        # A text edit just before our read: its note is taken as the read edit's own.
        ("own text edit", issue(0), [note(1, 4, CHANGED)], []),
        # updated_at is a comment's touch: a text edit after it is someone else's, however soon.
        (
            "comment touch",
            issue(0),
            [note(1, 0, "a comment", author="dev", system=False), note(2, 300, CHANGED)],
            [2],
        ),
        # The read edit's notes are by dev; alice's edit in the same second is another edit.
        (
            "second author",
            issue(0),
            [note(1, 2, marked("Test on staging"), author="dev"), note(2, 300, CHANGED, author="alice")],
            [2],
        ),
        # Long after the edit we read: a text edit is someone else's.
        ("outside window", issue(0), [note(1, 3, CHANGED), note(2, 9_000, CHANGED, author="bob")], [2]),
        # Notes before our read, and notes that are not about the description, never count.
        (
            "older and other notes",
            issue(0),
            [note(1, -500, CHANGED), note(2, 700, "added ~backend label"), note(3, 800, "x", system=False)],
            [],
        ),
    ],
)
def test_judge_since_read(case: str, read: Issue, notes: list[Note], others: list[int]) -> None:
    judged = judge_since_read(notes, read)
    assert [n.id for n in judged.others] == others, case


def test_a_lone_text_edit_note_is_the_read_edit_for_certain() -> None:
    """Audit #13: `check --skip` then `announce` read the issue twice (6 requests, budget 5). The edit
    we read wrote its note before we read the notes; a later edit would have added a second one."""
    judged = judge_since_read([note(1, 4, CHANGED, author="dev")], issue(0))
    assert judged.others == ()
    assert judged.uncertain == ()


@pytest.mark.parametrize(
    ("notes", "uncertain"),
    [
        # two text edits by one person within the seconds: the second may be after our read
        ([note(1, 4, CHANGED, author="dev"), note(2, 900, CHANGED, author="dev")], [1, 2]),
        # a title change we read, then perhaps a text edit of theirs: the text note may be later
        (
            [
                note(1, 3, "changed title from **a** to **b**", author="dev"),
                note(2, 700, CHANGED, author="dev"),
            ],
            [2],
        ),
    ],
)
def test_a_text_edit_note_beside_other_notes_of_its_author_is_uncertain(
    notes: list[Note], uncertain: list[int]
) -> None:
    judged = judge_since_read(notes, issue(0))
    assert judged.others == ()
    assert [n.id for n in judged.uncertain] == uncertain


def test_interference_with_a_baseline_is_exact() -> None:
    read = issue(0)
    written = issue(1_000)
    baseline = [note(1, 3, CHANGED)]  # within the window: the read edit's own, in the baseline
    after = [
        note(4, 1_004, marked("Enable on staging"), author="dev"),  # our PUT's note, after our write
        note(3, 600, CHANGED, author="alice"),  # landed between our notes read and our write
        *baseline,
    ]
    overwritten, later = interference(after, read, written, baseline)
    assert [n.id for n in overwritten] == [3]
    assert later == []


def test_interference_reports_an_edit_right_after_ours_as_later() -> None:
    read = issue(0, created=0)
    written = issue(1_000, created=0)
    after = [
        note(5, 1_400, CHANGED, author="alice"),
        note(4, 1_002, marked("Enable on staging"), author="dev"),
    ]
    overwritten, later = interference(after, read, written, [])
    assert overwritten == []
    assert [n.id for n in later] == [5]


def test_interference_without_baseline_ignores_our_own_notes() -> None:
    read = issue(0)
    written = issue(1_000)
    after = [note(4, 1_002, marked("Enable on staging"), author="dev"), note(1, 3, CHANGED)]
    assert interference(after, read, written, None) == ([], [])
