"""Today's rollout process against an in-memory GitLab: an issue of commands only is adopted (its status
block inserted), ChatOps' record (its log issues and its comments) moves the block in `sync` and shows
in `status --timeline`, a damaged block is refused and repaired.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gl_rollout.core.chatops_commands import LOG_PROJECT
from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.refs import IssueRef
from gl_rollout.errors import UsageError
from gl_rollout.workflows.adopt import adopt
from gl_rollout.workflows.status import status
from gl_rollout.workflows.sync import SyncOptions, sync_one
from tests.chatops_record import delete_title, log_description, log_title, old_log, rollout_comment
from tests.workflows.fake_gitlab import FakeGitLab

PROJECT = "acme/platform/rollouts"
FLAG = "fast_search"
DESCRIPTION = (Path(__file__).resolve().parents[1] / "data" / "current" / "commands-only.md").read_text(
    encoding="utf-8"
)


def new_issue(api: FakeGitLab, title: str = f"Roll out `{FLAG}`", description: str = DESCRIPTION) -> IssueRef:
    issue = api.create_issue(PROJECT, {"title": title, "description": description})
    return IssueRef(PROJECT, issue.iid)


def chatops_sets(
    api: FakeGitLab,
    ref: IssueRef,
    value: str,
    env: str,
    *,
    actors: bool = False,
    scopes: dict[str, str] | None = None,
    flag: str = FLAG,
    comment: bool = True,
) -> None:
    """What ChatOps does after `feature set`: a log issue, opened and closed, and a comment (set only)."""
    title = log_title(flag, value, env, actors=actors)
    rollout_url = api.issue(ref.project, ref.iid).web_url
    at = api.now().replace("T", " ")[:19]
    log = api.create_issue(
        LOG_PROJECT, {"title": title, "description": log_description("alice", at, env, rollout_url, scopes)}
    )
    api.close(LOG_PROJECT, log.iid)
    if comment:
        api.comment(ref.project, ref.iid, rollout_comment(title, log.web_url), "chatops-bot")


def block_states(api: FakeGitLab, ref: IssueRef) -> dict[str, str]:
    return {
        step.id: step.state for step in parse_checklist(api.issue(ref.project, ref.iid).description).steps
    }


def test_adopt_inserts_the_block_after_the_first_heading_and_changes_nothing_else() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    api.requests.clear()
    result = adopt(api, ref)
    assert result.value is not None
    assert result.value.status == "adopted"
    text = api.issue(PROJECT, ref.iid).description
    lines = text.splitlines()
    assert lines[0] == "## About this rollout"
    assert lines[2] == "<!-- gl-rollout:status -->"
    assert [step.id for step in parse_checklist(text).steps] == [
        "enable-staging",
        "docs-updated",
        "enable-production",
        "remove-flag",
        "cleanup",
    ]
    # every line of the issue is still there, in order
    block_end = lines.index("<!-- /gl-rollout:status -->")
    assert "\n".join(lines[:2] + lines[block_end + 2 :]) == DESCRIPTION.rstrip("\n")
    # GET issue, GET notes, the log project's search, PUT, GET notes after it
    assert len(api.requests) == 5
    api.requests.clear()
    again = adopt(api, ref)
    assert again.value is not None
    assert again.value.status == "already-adopted"
    assert api.requests == ["GET issue 1"]


def test_adopt_dry_run_writes_nothing_and_shows_the_diff() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    result = adopt(api, ref, dry_run=True)
    assert result.value is not None
    assert result.value.status == "would-adopt"
    assert "+<!-- gl-rollout:status -->" in (result.value.diff or "")
    assert api.issue(PROJECT, ref.iid).description == DESCRIPTION


def test_adopt_needs_a_flag_when_the_title_names_none_and_puts_it_in_the_marker() -> None:
    api = FakeGitLab()
    ref = new_issue(api, title="Rollout of the new search")
    with pytest.raises(UsageError, match="its title names none") as refused:
        adopt(api, ref)
    assert "--flag NAME" in (refused.value.hint or "")
    assert api.issue(PROJECT, ref.iid).description == DESCRIPTION
    adopt(api, ref, flag=FLAG)
    assert "<!-- gl-rollout:status flag=fast_search -->" in api.issue(PROJECT, ref.iid).description


def test_chatops_record_moves_the_block_without_a_tick_and_a_second_sync_changes_nothing() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    chatops_sets(api, ref, "50", "staging", actors=True)
    chatops_sets(api, ref, "true", "staging")
    chatops_sets(api, ref, "25", "production", actors=True)
    first = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert first.value is not None
    assert first.value.issue.ticked == ("enable-staging",)
    assert first.value.issue.stage == "production-partial"
    chatops_sets(api, ref, "100", "production", actors=True)
    second = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert second.value is not None
    assert second.value.issue.ticked == ("enable-production",)
    assert block_states(api, ref) == {
        "enable-staging": "done",
        "docs-updated": "todo",
        "enable-production": "done",
        "remove-flag": "todo",
        "cleanup": "todo",
    }
    before = api.issue(PROJECT, ref.iid)
    third = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert third.value is not None
    assert third.value.issue.status == "unchanged"
    assert api.issue(PROJECT, ref.iid) == before


def test_a_log_issue_alone_counts_and_the_comment_and_its_log_issue_are_one_event() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    chatops_sets(api, ref, "true", "staging", comment=False)
    chatops_sets(api, ref, "true", "production", scopes={"project": "gitlab-org/gitlab"})
    result = status(api, ref, timeline=True)
    assert result.value is not None
    assert result.value.timeline is not None
    chatops = [event for event in result.value.timeline if event.kind == "chatops"]
    assert [event.text for event in chatops] == [
        "ChatOps: set to true on staging",
        "ChatOps: set to true on production for project gitlab-org/gitlab",
    ]
    assert [event.step for event in chatops] == ["enable-staging", "enable-beta"]
    assert all(event.by == "alice" for event in chatops)


def test_the_older_wording_and_a_delete_after_everyone_count() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    title, description = old_log(FLAG, "true", "staging", "alice", "2026-12-01 10:00:05")
    old = api.create_issue(LOG_PROJECT, {"title": title, "description": description})
    api.close(LOG_PROJECT, old.iid)
    chatops_sets(api, ref, "true", "production")
    rollout_url = api.issue(PROJECT, ref.iid).web_url
    deleted = api.create_issue(
        LOG_PROJECT,
        {
            "title": delete_title(FLAG, "production"),
            "description": log_description("alice", "2026-12-01 10:09:00", "production", rollout_url),
        },
    )
    api.close(LOG_PROJECT, deleted.iid)
    result = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert result.value is not None
    assert set(result.value.issue.ticked) == {"enable-staging", "enable-production", "cleanup"}


def test_a_comment_about_another_flag_is_ignored_with_a_debug_note() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    other = log_title("other_flag", "true", "staging")
    api.comment(
        PROJECT, ref.iid, rollout_comment(other, "https://gitlab.example/log/-/issues/9"), "chatops-bot"
    )
    result = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert result.value is not None
    assert result.value.issue.ticked == ()
    assert any("other_flag" in line and "ignored" in line for line in result.debug)


def test_without_the_log_project_a_comment_proves_only_what_it_says() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    chatops_sets(api, ref, "true", "staging")  # for everyone, or for some projects? only its log tells
    chatops_sets(api, ref, "100", "production", actors=True)  # a percentage of actors is for everyone
    api.requests.clear()
    result = sync_one(api, PROJECT, ref.iid, SyncOptions(chatops_log_project=None))
    assert result.value is not None
    assert result.value.issue.ticked == ("enable-production",)
    assert not any(request.startswith("GET issues") for request in api.requests)
    texts = [event["text"] for event in result.value.issue.timeline if event["kind"] == "chatops"]
    assert texts[0] == "ChatOps: set to true on staging (for whom not known: its log issue was not read)"


def test_a_persons_tick_inside_the_block_is_read() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    text = api.issue(PROJECT, ref.iid).description
    api.edit(PROJECT, ref.iid, text.replace("- [ ] Documentation", "- [x] Documentation"))
    result = status(api, ref)
    assert result.value is not None
    assert {s.id: s.state for s in result.value.checklist.steps}["docs-updated"] == "done"


def test_a_damaged_block_is_refused_with_its_line_and_repaired_from_the_evidence() -> None:
    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    text = api.issue(PROJECT, ref.iid).description
    damaged = text.replace("<!-- /gl-rollout:status -->\n", "").replace(
        "- [ ] Documentation", "- [x] Documentation"
    )
    api.edit(PROJECT, ref.iid, damaged)
    chatops_sets(api, ref, "true", "staging")
    with pytest.raises(UsageError, match="line 3") as refused:
        status(api, ref)
    assert refused.value.exit_code == 2
    with pytest.raises(UsageError, match="no closing"):
        sync_one(api, PROJECT, ref.iid, SyncOptions())
    with pytest.raises(UsageError, match="no closing") as not_repaired:
        adopt(api, ref)
    assert "adopt REF --repair" in (not_repaired.value.hint or "")
    assert api.issue(PROJECT, ref.iid).description == damaged
    repaired = adopt(api, ref, repair=True)
    assert repaired.value is not None
    assert repaired.value.status == "repaired"
    new_text = api.issue(PROJECT, ref.iid).description
    assert new_text.count("<!-- /gl-rollout:status -->") == 1
    assert block_states(api, ref)["docs-updated"] == "done"  # the person's tick is kept
    assert block_states(api, ref)["enable-staging"] == "done"  # ChatOps' record
    assert new_text.replace("\n", "").endswith(DESCRIPTION.replace("\n", "")[-200:])


def test_a_tick_inside_the_block_made_meanwhile_is_kept_and_a_text_edit_is_exit_4() -> None:
    from gl_rollout.errors import ExitCode
    from gl_rollout.workflows.check import check

    api = FakeGitLab()
    ref = new_issue(api)
    adopt(api, ref)
    text = api.issue(PROJECT, ref.iid).description
    ticked = text.replace("- [ ] Documentation", "- [x] Documentation")
    api.before_next_update = lambda: api.edit(PROJECT, ref.iid, ticked)
    kept = check(api, ref, ["enable-staging"], "done", dry_run=False, sleep=lambda _: None)
    assert kept.exit_code == ExitCode.OK
    assert block_states(api, ref)["docs-updated"] == "done"
    assert block_states(api, ref)["enable-staging"] == "done"

    text = api.issue(PROJECT, ref.iid).description
    api.before_next_update = lambda: api.edit(
        PROJECT, ref.iid, text.replace("## Risks", "A line.\n\n## Risks")
    )
    lost = check(api, ref, ["remove-flag"], "done", dry_run=False, sleep=lambda _: None)
    assert lost.exit_code == ExitCode.CONFLICT
