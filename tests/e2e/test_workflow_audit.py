"""Findings of the QA audit on the issue commands: closed issues, one wording for states and changes,
what `enable` records, and the dry runs. Each test runs the real CLI against the sandbox."""

from __future__ import annotations

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.workflow_cli import box, create, description, ref_of, run, user_notes

# --- #2: a closed issue is not written to -------------------------------------------------------------

CLOSED_WRITES = [
    ["check", "{ref}", "test-staging"],
    ["check", "{ref}", "test-staging", "--dry-run"],
    ["announce", "{ref}", "--eta", "in 2h"],
    ["announce", "{ref}", "--enabled", "--env", "staging"],
    ["enable", "{ref}", "--env", "staging"],
    ["disable", "{ref}", "--env", "staging"],
    ["enable", "{ref}", "--env", "staging", "--apply", "--dry-run"],
]


@pytest.mark.parametrize("args", CLOSED_WRITES, ids=[" ".join(a[:1] + a[2:]) for a in CLOSED_WRITES])
def test_a_closed_issue_is_refused_with_one_line_and_nothing_written(
    sandbox: Sandbox, args: list[str]
) -> None:
    iid = create(sandbox)["iid"]
    sandbox.edit_issue(None, iid, author="developer", state_event="close")
    ref = ref_of(sandbox, iid)
    before = description(sandbox, iid)
    done = run(sandbox, *[a.format(ref=ref) for a in args])
    assert done.code == 2, done.result.output
    lines = done.result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert ref in lines[0]
    assert "it is closed: reopen it first" in lines[0]
    assert not done.writes()
    assert len(done.requests) == 1  # the issue is read, nothing more
    assert description(sandbox, iid) == before
    assert user_notes(sandbox, iid) == []


def test_status_of_a_closed_issue_shows_its_state(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.edit_issue(None, iid, author="developer", state_event="close")
    done = run(sandbox, "status", ref_of(sandbox, iid))
    assert done.code == 0
    assert done.result.stdout.splitlines()[0].endswith("(closed)")


# --- #10, #22: one wording for states and changes ----------------------------------------------------


def _line_of(sb: Sandbox, iid: int, step: str) -> int:
    lines = description(sb, iid).splitlines()
    return next(n for n, line in enumerate(lines, start=1) if f"<!-- step:{step} -->" in line)


def test_check_tells_changes_and_states_as_status_does(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    line = _line_of(sandbox, iid, "test-staging")
    done = run(sandbox, "check", ref, "test-staging")
    assert done.result.stdout.splitlines()[0] == f"test-staging: todo -> done (line {line})"
    undo = run(sandbox, "check", ref, "docs-updated", "--undo")
    assert "docs-updated: already todo" in undo.result.stdout.splitlines()
    assert "already to do" not in undo.result.output
    assert ": to do ->" not in done.result.output


def test_check_dry_run_shows_the_progress_it_would_reach_then_says_nothing_was_written(
    sandbox: Sandbox,
) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "check", ref_of(sandbox, iid), "test-staging", "--dry-run")
    lines = done.result.stdout.splitlines()
    assert lines[1:3] == ["1 of 11 checklist items completed", "dry run: nothing written"]
    assert not done.writes()


def test_check_file_names_the_line_as_check_ref_does(tmp_path: object) -> None:
    from pathlib import Path

    from tests.helpers import run_cli

    path = Path(str(tmp_path)) / "rollout.md"
    path.write_text("# Steps\n\n- [ ] Enable on staging <!-- step:enable-staging -->\n", encoding="utf-8")
    done = run_cli(["check", "--file", str(path), "enable-staging", "--in-place"])
    assert done.code == 0, done.output
    assert done.stdout.splitlines()[0] == "enable-staging: todo -> done (line 3)"


def test_announce_and_enable_use_the_same_change_line_as_check(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    eta_line = _line_of(sandbox, iid, "announce-eta")
    announced = run(sandbox, "announce", ref, "--eta", "in 2h")
    assert f"announce-eta: todo -> done (line {eta_line})" in announced.result.stdout.splitlines()
    staging_line = _line_of(sandbox, iid, "enable-staging")
    enabled = run(sandbox, "enable", ref, "--env", "staging")
    assert f"enable-staging: todo -> done (line {staging_line})" in enabled.result.stdout.splitlines()
    assert "set enable-staging" not in enabled.result.stdout


def test_comment_dry_run_lists_what_it_would_do_and_ends_with_nothing_written(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    line = _line_of(sandbox, iid, "enable-staging")
    done = run(sandbox, "enable", ref, "--env", "staging", "--dry-run")
    assert done.code == 0
    out = done.result.stdout
    summary = out.split("\n\n", 1)[0].splitlines()
    assert summary == [
        "would post the comment shown below",
        f"enable-staging: todo -> done (line {line})",
        "1 of 11 checklist items completed",
        "dry run: nothing written",
    ]
    assert "Comment:" in out
    assert not done.writes()


def test_dry_run_without_a_matching_step_says_the_comment_would_be_posted(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--percentage", "50", "--actors", "--dry-run")
    assert "the issue has no ramp-50 step: only the comment would be posted" in done.result.stdout
    real = run(sandbox, "enable", ref_of(sandbox, iid), "--percentage", "50", "--actors")
    assert "the issue has no ramp-50 step: only the comment is posted" in real.result.stdout


# --- #11: a step already in the asked state is said to be so ------------------------------------------


def test_disable_of_a_step_already_todo_says_already_todo(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    first = run(sandbox, "disable", ref, "--env", "staging", "--dry-run")
    assert "enable-staging: already todo" in first.result.stdout.splitlines()
    assert "goes with this command" not in first.result.stdout
    assert run(sandbox, "enable", ref, "--env", "staging").code == 0
    assert run(sandbox, "disable", ref, "--env", "staging").code == 0
    again = run(sandbox, "disable", ref, "--env", "staging")
    lines = again.result.stdout.splitlines()
    assert "enable-staging: already todo" in lines
    assert lines[-1] == "nothing to do"
    assert not again.writes()


def test_enable_of_a_step_already_done_says_already_done(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "enable-staging").code == 0
    done = run(sandbox, "enable", ref, "--env", "staging")
    assert "enable-staging: already done" in done.result.stdout.splitlines()
    assert len(user_notes(sandbox, iid)) == 1  # the comment is still posted: it records the command


def test_a_command_no_step_goes_with_still_says_so(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--env", "dev")
    assert "no checklist step of" in done.result.stdout


# --- #24: what enable records for several environments ---------------------------------------------


def test_enable_on_two_environments_records_both_steps_and_is_the_last_word_for_each(
    sandbox: Sandbox,
) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    both = run(sandbox, "enable", ref, "--env", "staging", "--env", "production")
    assert both.code == 0, both.result.output
    assert box(sandbox, iid, "enable-staging") == "[x]"
    assert box(sandbox, iid, "enable-production") == "[x]"
    (note,) = user_notes(sandbox, iid)
    marker = find_note_marker(note["body"])
    assert marker is not None
    assert marker.values["steps"] == {"enable-staging": "done", "enable-production": "done"}
    for env in ("staging", "production"):
        again = run(sandbox, "enable", ref, "--env", env)
        assert again.code == 0
        assert not again.writes(), f"enable --env {env} posted again"
        assert "the comment is already there" in again.result.stdout
    # A later disable on staging is the newest word there: enabling staging again posts.
    assert run(sandbox, "disable", ref, "--env", "staging").code == 0
    assert run(sandbox, "enable", ref, "--env", "production").writes() == []
    staging = run(sandbox, "enable", ref, "--env", "staging")
    assert len(user_notes(sandbox, iid)) == 3
    assert box(sandbox, iid, "enable-staging") == "[x]"
    assert staging.code == 0


def test_disable_records_every_step_it_sets(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "enable", ref).code == 0
    assert run(sandbox, "disable", ref).code == 0
    marker = find_note_marker(user_notes(sandbox, iid)[-1]["body"])
    assert marker is not None
    assert marker.step == "enable-production"
    assert marker.values["steps"] == {"enable-production": "todo", "enable-beta": "todo"}
    assert box(sandbox, iid, "enable-production") == "[ ]"


# --- #23: help that says what the command does ------------------------------------------------------


def test_disable_help_speaks_of_disabling_and_create_help_of_no_comments() -> None:
    from tests.helpers import run_cli

    disable = run_cli(["disable", "--help"]).stdout
    assert "Enable for" not in disable
    for option in ("--project-actor", "--group-actor", "--user", "--feature-group"):
        line = next(line for line in disable.splitlines() if line.strip().startswith(option))
        assert "Disable for" in line, line
    enable = run_cli(["enable", "--help"]).stdout
    assert "Enable for this project path" in enable
    create_help = " ".join(run_cli(["create", "--help"]).stdout.split())
    dry_run = create_help[create_help.index("--dry-run") :][:160]
    assert "comment" not in dry_run, dry_run


# --- #13: the request budget right after another edit --------------------------------------------------


@pytest.mark.parametrize(
    "before",
    [["check", "{ref}", "coordinate", "--skip"], ["check", "{ref}", "test-staging"]],
    ids=["after a skip", "after a tick"],
)
def test_announce_right_after_an_edit_keeps_its_budget_of_5(sandbox: Sandbox, before: list[str]) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, *[a.format(ref=ref) for a in before]).code == 0
    done = run(sandbox, "announce", ref, "--eta", "in 2h")
    assert done.code == 0, done.result.output
    assert len(done.requests) == 5, done.methods()
    assert box(sandbox, iid, "announce-eta") == "[x]"
    if "--skip" in before:
        assert box(sandbox, iid, "coordinate") == "[~]"


def test_a_second_edit_by_the_same_person_is_read_again_and_kept(sandbox: Sandbox) -> None:
    """Alice edits the text, we read the issue, Alice edits again before we read the notes: two notes of
    hers in those seconds, so the second may be after our read. The issue is read once more (6
    requests) and her second edit survives our write."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    sandbox.edit_issue(None, iid, description=description(sandbox, iid) + "\nFirst remark.\n")
    sandbox.faults.edit_between_read_and_write(
        sandbox.project_path, iid, lambda text: text + "Second remark.\n"
    )
    done = run(sandbox, "announce", ref, "--eta", "in 2h")
    assert done.code == 0, done.result.output
    assert len(done.requests) == 6, done.methods()
    final = description(sandbox, iid)
    assert "First remark.\nSecond remark." in final
    assert box(sandbox, iid, "announce-eta") == "[x]"
