"""Edits that share one whole second: GitLab orders their notes by note id, and so must gl-rollout.

The sandbox's `frozen_second` quirk shows every timestamp as one whole second, as a server with
whole-second timestamps does when a person and gl-rollout edit within the same tick.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gl_rollout.core.checklist import apply_step_states
from gl_rollout.sandbox import Sandbox
from tests.e2e.test_sync import seed_rollout, sync
from tests.e2e.test_sync_many import notes_reads
from tests.workflow_cli import Run, box, create, description, env_for, ref_of, run

PERSON_LINE = "A person's line: keep me."
SECOND = "2026-11-29T02:38:47"
EARLIER = "2026-11-29T02:38:41"


def cli(sb: Sandbox, *args: str) -> Run:
    return run(sb, *args, env=env_for(sb, "developer"))


def person_edits_after_next_read(sb: Sandbox, iid: int) -> None:
    sb.faults.edit_between_read_and_write(sb.project_path, iid, lambda text: text + f"\n{PERSON_LINE}\n")


def person_edits_before_next_write(sb: Sandbox, iid: int) -> None:
    """The person's edit lands after every read of the tool, right before its write: a true race."""
    sb.faults.edit_before_next_write(sb.project_path, iid, lambda text: text + f"\n{PERSON_LINE}\n")


@pytest.fixture
def frozen(sandbox: Sandbox) -> Sandbox:
    sandbox.quirks.update({"frozen_second": EARLIER})
    return sandbox


def create_then_freeze(sb: Sandbox) -> int:
    """The issue is created seconds before; everything after falls in one second."""
    iid = int(create(sb)["iid"])
    sb.quirks.frozen_second = SECOND
    return iid


def test_check_after_our_own_edit_in_the_same_second_reports_the_overwritten_edit(frozen: Sandbox) -> None:
    iid = create_then_freeze(frozen)
    ref = ref_of(frozen, iid)
    assert cli(frozen, "check", ref, "docs-updated").code == 0
    person_edits_before_next_write(frozen, iid)
    raced = cli(frozen, "check", ref, "coordinate")
    assert PERSON_LINE not in description(frozen, iid)  # check writes once: the edit was overwritten
    assert raced.code == 4, raced.result.output
    assert "alice" in raced.result.stderr
    assert "right after gl-rollout" not in raced.result.output


@pytest.mark.parametrize("text_note", [False, True], ids=["checklist notes", "text note too"])
def test_check_with_create_and_every_edit_in_one_second_reports_the_overwritten_edit(
    sandbox: Sandbox, text_note: bool
) -> None:
    """Created, ticked, edited by a person and ticked again in one second (INDEP's sequence): the
    person's note comes between our two writes' notes by ID, so our second write overwrote it."""
    sandbox.quirks.update({"frozen_second": SECOND, "description_note_with_checklist": text_note})
    iid = int(create(sandbox)["iid"])
    ref = ref_of(sandbox, iid)
    assert cli(sandbox, "check", ref, "docs-updated").code == 0
    person_edits_before_next_write(sandbox, iid)
    raced = cli(sandbox, "check", ref, "coordinate")
    assert PERSON_LINE not in description(sandbox, iid)
    assert raced.code == 4, raced.result.output
    assert "alice" in raced.result.stderr
    assert "right after gl-rollout" not in raced.result.output
    # our own earlier tick is in the text: it is not reported as overwritten
    assert "overwritten edit: dev " not in raced.result.output
    # the issue, the notes (the window's floor), the write, the notes; with a text note after each
    # checklist edit, the notes read cannot show that no edit followed ours: the issue is read again
    assert len(raced.requests) <= (5 if text_note else 4)


def test_check_on_a_fresh_issue_in_the_same_second_reports_the_overwritten_edit(frozen: Sandbox) -> None:
    iid = create(frozen)["iid"]
    person_edits_before_next_write(frozen, iid)
    raced = cli(frozen, "check", ref_of(frozen, iid), "test-staging")
    assert raced.code == 4, raced.result.output
    assert "alice" in raced.result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["announce", "{ref}", "--eta", "2030-01-02 10:00 UTC"],
        ["enable", "{ref}", "--env", "staging"],
        ["sync", "{ref}"],
    ],
    ids=["announce", "enable", "sync"],
)
def test_commenting_commands_keep_the_edit_or_exit_4(frozen: Sandbox, args: list[str]) -> None:
    iid = create_then_freeze(frozen)
    ref = ref_of(frozen, iid)
    assert cli(frozen, "check", ref, "docs-updated").code == 0
    if args[0] == "sync":
        frozen.faults.edit_between_read_and_write(
            frozen.project_path, iid, lambda text: text.replace("- [ ] ", "- [x] ", 1) + PERSON_LINE + "\n"
        )
    else:
        person_edits_after_next_read(frozen, iid)
    done = cli(frozen, *[a.format(ref=ref) for a in args])
    assert done.code in (0, 4), done.result.output
    if done.code == 0:
        assert PERSON_LINE in description(frozen, iid)
    assert box(frozen, iid, "docs-updated") == "[x]"


@pytest.mark.parametrize("text_note", [False, True], ids=["checklist notes", "text note too"])
def test_our_earlier_edit_still_in_the_text_is_not_reported_as_overwritten(
    sandbox: Sandbox, text_note: bool
) -> None:
    """An `enable` ticks and comments in one second; a person's edit lands in a later `check`'s
    window two seconds on: only the person's edit is reported, not the tick the check read."""
    sandbox.quirks.update({"frozen_second": EARLIER, "description_note_with_checklist": text_note})
    iid = int(create(sandbox)["iid"])
    ref = ref_of(sandbox, iid)
    sandbox.quirks.frozen_second = "2026-11-29T02:36:15"
    assert cli(sandbox, "enable", ref, "--env", "staging").code == 0
    sandbox.quirks.frozen_second = "2026-11-29T02:36:17"
    person_edits_before_next_write(sandbox, iid)
    raced = cli(sandbox, "check", ref, "test-staging", "--json")
    assert raced.code == 4, raced.result.output
    reported = raced.data.get("other_edits") or raced.result.stdout
    assert "alice" in str(reported)
    assert "02:36:15" not in raced.result.stdout + raced.result.stderr
    assert box(sandbox, iid, "enable-staging") == "[x]"  # the earlier edit is in the text


def test_sync_state_rereads_an_issue_edited_in_the_second_of_the_last_sync(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """`updated_at` is the same whole second before and after the person's tick; the list row's
    description is not, and the state file remembers a digest of it: the issue is read again."""
    sandbox.quirks.update({"frozen_second": SECOND})
    issues = [
        seed_rollout(sandbox, f"flag_{n}", labels=("feature flag", "rollout::planned")) for n in range(3)
    ]
    state = tmp_path / "sync-state.json"
    assert sync(sandbox, "--project", sandbox.project_path, "--state", str(state)).code == 0
    edited = issues[1]
    text = sandbox.get_issue(None, edited["iid"])["description"]
    ticked, _ = apply_step_states(text, ["test-staging"], "done")
    sandbox.edit_issue(None, edited["iid"], description=ticked)
    sandbox.clear_log()

    repeat = sync(sandbox, "--project", sandbox.project_path, "--state", str(state), "--json")

    assert repeat.code == 0, repeat.output
    assert {p.split("/issues/")[1] for p in notes_reads(sandbox)} == {f"{edited['iid']}/notes"}
    rows = {row["reference"]: row for row in json.loads(repeat.stdout)["data"]["issues"]}
    row = rows[f"{sandbox.project_path}#{edited['iid']}"]
    assert row["status"] != "unchanged-since-last-sync"
    assert row["done"] == 1
    remembered = json.loads(state.read_text(encoding="utf-8"))["issues"]
    assert remembered[f"{sandbox.project_path}#{edited['iid']}"]["done"] == 1
    # nothing changed since: the third run reads no issue again
    sandbox.clear_log()
    assert sync(sandbox, "--project", sandbox.project_path, "--state", str(state)).code == 0
    assert notes_reads(sandbox) == []
