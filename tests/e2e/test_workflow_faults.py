"""Each injected fault ends in success or a clear error: no duplicate issue or comment, no silent loss."""

from __future__ import annotations

from collections import Counter

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.workflow_cli import FLAG, TITLE, box, create, description, ref_of, run, user_notes

ISSUES_POST = r"/projects/[^/]+/issues$"
NOTES_POST = r"/issues/\d+/notes$"
ISSUE_GET = r"/issues/\d+$"


def assert_no_duplicate_comments(sb: Sandbox, iid: int) -> None:
    keys = Counter(
        marker.key for note in user_notes(sb, iid) if (marker := find_note_marker(note["body"])) is not None
    )
    assert all(count == 1 for count in keys.values()), keys


# --- reads: retried -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_a_failing_read_is_retried(sandbox: Sandbox, status: int) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.fail_next("GET", ISSUE_GET, status, retry_after=1 if status == 429 else None)
    done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert done.code == 0, done.result.output
    assert [r.status for r in done.requests[:2]] == [status, 200]
    assert len(user_notes(sandbox, iid)) == 1


def test_a_read_slower_than_the_timeout_is_retried(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.delay("GET", ISSUE_GET, 1.5, count=1)
    done = run(sandbox, "--timeout", "0.5", "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert done.code == 0, done.result.output
    assert box(sandbox, iid, "announce-eta") == "[x]"


def test_a_dropped_read_is_retried(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.drop_next("GET", ISSUE_GET)
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--env", "staging")
    assert done.code == 0, done.result.output
    assert box(sandbox, iid, "enable-staging") == "[x]"


# --- creating the issue: never twice ----------------------------------------------------------------


AMBIGUOUS = [
    (502, True),
    (500, True),
    (503, False),
    (None, True),
    (None, False),
]  # (status or drop, after commit)


def arm(sb: Sandbox, path: str, status: int | None, after_commit: bool) -> None:
    """A 5xx (or, for None, a dropped connection) on the next POST to `path`, before or after the commit."""
    if status is None:
        sb.faults.drop_next("POST", path, after_commit=after_commit)
    else:
        sb.faults.fail_next("POST", path, status, after_commit=after_commit)


@pytest.mark.parametrize(("status", "after_commit"), AMBIGUOUS)
def test_create_after_an_ambiguous_failure_makes_exactly_one_issue(
    sandbox: Sandbox, status: int | None, after_commit: bool
) -> None:
    arm(sandbox, ISSUES_POST, status, after_commit)
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert done.code == 0, done.result.output
    assert done.data["created"] is True
    assert done.data["recovered"] is after_commit
    assert sandbox.count_issues(title=TITLE) == 1


def test_create_slower_than_the_timeout_makes_exactly_one_issue(sandbox: Sandbox) -> None:
    sandbox.faults.delay("POST", ISSUES_POST, 1.5, count=1)
    done = run(sandbox, "--timeout", "0.5", "create", FLAG, "--project", sandbox.project_path, "--json")
    assert done.code == 0, done.result.output
    assert done.data["recovered"] is True
    assert sandbox.count_issues(title=TITLE) == 1
    assert [r.method for r in done.requests].count("POST") == 1


def test_create_that_keeps_failing_stops_with_exit_3_and_no_duplicate(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next("POST", ISSUES_POST, 502, count=10)
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path)
    assert done.code == 3
    assert len(done.result.stderr.strip().splitlines()) == 1
    assert "run the command again" in done.result.stderr
    assert sandbox.count_issues(title=TITLE) == 0
    assert [r.method for r in done.requests].count("POST") == 3


# --- posting a comment: never twice -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "after_commit"), AMBIGUOUS)
def test_comment_after_an_ambiguous_failure_lands_once(
    sandbox: Sandbox, status: int | None, after_commit: bool
) -> None:
    iid = create(sandbox)["iid"]
    arm(sandbox, NOTES_POST, status, after_commit)
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--env", "staging")
    assert done.code == 0, done.result.output
    assert len(user_notes(sandbox, iid)) == 1
    assert_no_duplicate_comments(sandbox, iid)
    assert box(sandbox, iid, "enable-staging") == "[x]"


def test_comment_slower_than_the_timeout_lands_once(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.delay("POST", NOTES_POST, 1.5, count=1)
    done = run(sandbox, "--timeout", "0.5", "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert done.code == 0, done.result.output
    assert "not posted twice" in done.result.stdout
    assert len(user_notes(sandbox, iid)) == 1
    assert box(sandbox, iid, "announce-eta") == "[x]"


def test_a_rerun_after_a_failed_tick_completes_without_a_second_comment(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.fail_next("PUT", ISSUE_GET, 500, count=10)
    first = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert first.code == 3
    assert len(user_notes(sandbox, iid)) == 1
    assert box(sandbox, iid, "announce-eta") == "[ ]"
    sandbox.faults.clear()
    second = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert second.code == 0
    assert len(user_notes(sandbox, iid)) == 1
    assert box(sandbox, iid, "announce-eta") == "[x]"


# --- a person's edit between our read and our write ------------------------------------------------


def test_announce_keeps_a_persons_edit_made_after_its_read(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.edit_between_read_and_write(
        sandbox.project_path, iid, lambda text: text.replace("## Owners", "## Owners\n\nAlice was here.")
    )
    done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert done.code == 0, done.result.output
    text = description(sandbox, iid)
    assert "Alice was here." in text  # her edit survived
    assert box(sandbox, iid, "announce-eta") == "[x]"  # and ours landed on top of it


# --- status and check ----------------------------------------------------------------------------


def test_status_waits_out_a_rate_limit(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.fail_next("GET", ISSUE_GET, 429, retry_after=1)
    done = run(sandbox, "status", ref_of(sandbox, iid), "--json")
    assert done.code == 0, done.result.output
    assert [r.status for r in done.requests] == [429, 200]


@pytest.mark.parametrize("fault", ["502 after commit", "dropped after commit", "slow"])
def test_check_whose_write_answer_is_lost_still_ends_right(sandbox: Sandbox, fault: str) -> None:
    iid = create(sandbox)["iid"]
    before = description(sandbox, iid)
    args = ["check", ref_of(sandbox, iid), "enable-staging"]
    if fault == "502 after commit":
        sandbox.faults.fail_next("PUT", ISSUE_GET, 502, after_commit=True)
    elif fault == "dropped after commit":
        sandbox.faults.drop_next("PUT", ISSUE_GET, after_commit=True)
    else:
        sandbox.faults.delay("PUT", ISSUE_GET, 1.5, count=1)
        args = ["--timeout", "0.5", *args]
    done = run(sandbox, *args)
    assert done.code == 0, done.result.output
    after = description(sandbox, iid)
    assert sum(a != b for a, b in zip(before.splitlines(), after.splitlines(), strict=True)) == 1
    assert box(sandbox, iid, "enable-staging") == "[x]"
