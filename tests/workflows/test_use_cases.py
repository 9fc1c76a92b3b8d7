"""Each use case against an in-memory GitLab (`fake_gitlab.FakeGitLab`): what it does, what it reports,
and how many requests it costs, without HTTP. The same behaviours through the real CLI and the sandbox
are in `tests/e2e/`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gl_rollout.core.refs import IssueRef
from gl_rollout.core.scope import Scope
from gl_rollout.core.times import parse_eta
from gl_rollout.errors import ExitCode
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import Result
from gl_rollout.workflows.announce import announce_eta
from gl_rollout.workflows.check import check
from gl_rollout.workflows.create import CreateOptions, CreateOutcome, create
from gl_rollout.workflows.demo import run_demo
from gl_rollout.workflows.enable import FlagOptions, set_flag
from gl_rollout.workflows.posting import Patience
from gl_rollout.workflows.report import report
from gl_rollout.workflows.status import status
from gl_rollout.workflows.step_comments import CommentOutcome
from gl_rollout.workflows.sync import SyncOptions, sync_one
from gl_rollout.workflows.sync_many import sync_many
from tests.workflows.fake_gitlab import FakeGitLab

PROJECT = "acme/platform/rollouts"
FLAG = "product_analytics_aggregated_metrics"
NO_WAIT = Patience(timeout=1.0, server_timeout=2.0, clock=lambda: 0.0, sleep=lambda _: None)


def new_rollout(api: FakeGitLab, flag: str = FLAG) -> IssueRef:
    """The rollout issue as `create` makes it."""
    created = create(
        api, render_issue(RenderOptions(flag=flag)), CreateOptions(project=PROJECT, patience=NO_WAIT)
    )
    assert created.value is not None
    assert created.value.issue.iid is not None
    return IssueRef(PROJECT, created.value.issue.iid)


def box(api: FakeGitLab, ref: IssueRef, step: str) -> str:
    line = next(
        line for line in api.issue(ref.project, ref.iid).description.splitlines() if f"step:{step} " in line
    )
    start = line.index("[")
    return line[start : start + 3]


def ran(result: Result[object], *, requests: int, api: FakeGitLab) -> None:
    assert result.ok, result.error
    assert len(api.requests) == requests, api.requests


# --- status -----------------------------------------------------------------------------------------------


def test_status_is_one_request_and_says_what_is_next() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    result = status(api, ref)
    ran(result, requests=1, api=api)
    assert result.value is not None
    assert (result.value.checklist.done, result.value.checklist.total) == (0, 11)
    assert result.value.progress == "0 of 11 checklist items completed"
    assert result.data["next"] == "enable-staging"


def test_a_required_step_not_done_is_exit_6_with_the_data_kept() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    result = status(api, ref, ["enable-staging"])
    assert result.exit_code == ExitCode.REQUIRED
    assert result.data["missing"] == ["enable-staging"]
    assert result.error is not None
    assert f"gl-rollout check '{PROJECT}#1' enable-staging" in result.error.one_line()


def test_the_timeline_costs_one_more_request_and_tells_the_tick() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    check(api, ref, ["enable-staging"], "done", dry_run=False, sleep=lambda _: None)
    api.requests.clear()
    result = status(api, ref, timeline=True)
    ran(result, requests=2, api=api)
    assert result.value is not None
    assert result.value.timeline is not None
    assert [(e.kind, e.step) for e in result.value.timeline] == [
        ("created", None),
        ("checked", "enable-staging"),
    ]


# --- check ------------------------------------------------------------------------------------------------


def test_check_ticks_one_box_in_four_requests_and_nothing_twice() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    done = check(api, ref, ["enable-staging"], "done", dry_run=False, sleep=lambda _: None)
    ran(done, requests=4, api=api)  # the issue, the newest notes, the PUT, the notes again
    assert done.value is not None
    assert done.value.changed == ("enable-staging",)
    assert done.value.counts.progress == "1 of 11 checklist items completed"
    assert box(api, ref, "enable-staging") == "[x]"
    api.requests.clear()
    again = check(api, ref, ["enable-staging"], "done", dry_run=False)
    ran(again, requests=1, api=api)
    assert "nothing to do" in again.messages


def test_check_dry_run_writes_nothing_and_shows_the_diff() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    result = check(api, ref, ["enable-staging"], "done", dry_run=True)
    ran(result, requests=1, api=api)
    assert result.value is not None
    assert "+- [x] Enable on staging" in result.value.preview.diff
    assert box(api, ref, "enable-staging") == "[ ]"


def test_a_text_edit_overwritten_by_the_write_is_exit_4_naming_it() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    text = api.issue(PROJECT, ref.iid).description
    api.before_next_update = lambda: api.edit(
        PROJECT, ref.iid, text.replace("## Owners", "A line.\n\n## Owners")
    )
    result = check(api, ref, ["enable-staging"], "done", dry_run=False, sleep=lambda _: None)
    assert result.exit_code == ExitCode.CONFLICT
    assert result.value is not None
    assert result.value.conflict is not None
    assert [edit.author for edit in result.value.conflict.other_edits] == ["alice"]
    assert result.data["conflict"]["wrote"][0]["after"].startswith("- [x] Enable on staging")


def test_a_tick_another_writer_made_meanwhile_is_kept() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    text = api.issue(PROJECT, ref.iid).description
    ticked = text.replace("- [ ] Test the feature on staging", "- [x] Test the feature on staging", 1)
    api.before_next_update = lambda: api.edit(PROJECT, ref.iid, ticked)
    result = check(api, ref, ["enable-staging"], "done", dry_run=False, sleep=lambda _: None)
    assert result.ok, result.error
    assert (box(api, ref, "enable-staging"), box(api, ref, "test-staging")) == ("[x]", "[x]")
    assert result.value is not None
    assert result.value.restored == ("test-staging",)


# --- create -----------------------------------------------------------------------------------------------


def test_create_makes_one_issue_and_finds_it_again() -> None:
    api = FakeGitLab()
    rendered = render_issue(RenderOptions(flag=FLAG, group="product analytics"))
    first = create(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT))
    ran(first, requests=2, api=api)  # the duplicate lookup and the POST
    assert first.value is not None
    assert first.value.created is True
    assert first.value.labels == ("feature flag", "group::product analytics")
    api.requests.clear()
    again = create(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT))
    ran(again, requests=1, api=api)
    assert again.value is not None
    assert again.value.created is False
    assert again.data["iid"] == 1
    assert "nothing to do" in again.messages


def test_create_dry_run_writes_nothing_and_says_what_it_would_create() -> None:
    api = FakeGitLab()
    result = create(api, render_issue(RenderOptions(flag=FLAG)), CreateOptions(project=PROJECT, dry_run=True))
    assert result.ok
    outcome = result.value
    assert isinstance(outcome, CreateOutcome)
    assert outcome.would_create is not None
    assert outcome.would_create["title"] == f"[Feature flag] Rollout of `{FLAG}`"
    assert result.data["iid"] is None
    assert api.requests == ["GET issues page 1"]


# --- announce, enable -------------------------------------------------------------------------------------


def test_announce_posts_once_and_ticks_announce_eta() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    eta = parse_eta("in 2h", now)
    api.requests.clear()
    first = announce_eta(api, ref, eta, patience=NO_WAIT, now=now)
    ran(first, requests=5, api=api)
    assert isinstance(first.value, CommentOutcome)
    assert first.value.posted is True
    assert "2026-12-01 12:00 UTC" in api.notes_of(PROJECT, ref.iid)[-1].body or any(
        "2026-12-01 12:00 UTC" in note.body for note in api.notes_of(PROJECT, ref.iid)
    )
    assert box(api, ref, "announce-eta") == "[x]"
    notes = len(api.notes_of(PROJECT, ref.iid))
    again = announce_eta(api, ref, eta, patience=NO_WAIT, now=now)
    assert again.value is not None
    assert again.value.nothing_to_do is True
    assert len(api.notes_of(PROJECT, ref.iid)) == notes


def test_enable_on_staging_applied_sets_the_gate_comments_and_ticks() -> None:
    api, admin = FakeGitLab(), FakeGitLab(admin=True)
    ref = new_rollout(api)
    options = FlagOptions(envs=("staging",), apply=True)
    result = set_flag(api, ref, options, enable=True, admin_api=lambda: admin, patience=NO_WAIT)
    assert result.ok, result.error
    assert result.value is not None
    assert result.data["command_line"] == f"/chatops run feature set {FLAG} true --staging"
    assert admin.features[FLAG].gates[0].value is True
    assert result.data["features_api"]["sent"] is True
    assert box(api, ref, "enable-staging") == "[x]"
    again = set_flag(api, ref, options, enable=True, admin_api=lambda: admin, patience=NO_WAIT)
    assert again.value is not None
    assert again.value.nothing_to_do is True


# --- sync, report -----------------------------------------------------------------------------------------


def test_sync_ticks_a_step_its_comment_proves_after_someone_unticked_it() -> None:
    api, admin = FakeGitLab(), FakeGitLab(admin=True)
    ref = new_rollout(api)
    set_flag(api, ref, FlagOptions(envs=("staging",)), enable=True, admin_api=lambda: admin, patience=NO_WAIT)
    text = api.issue(PROJECT, ref.iid).description
    api.edit(PROJECT, ref.iid, text.replace("- [x] Enable on staging", "- [ ] Enable on staging", 1))
    result = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert result.ok, result.error
    assert result.value is not None
    assert result.value.issue.ticked == ("enable-staging",)
    assert result.data["stage"] == "staging"
    assert box(api, ref, "enable-staging") == "[x]"
    assert "rollout::staging" in api.issue(PROJECT, ref.iid).labels


def test_a_repeat_sync_with_a_state_file_reads_no_unchanged_issue(tmp_path: Path) -> None:
    api = FakeGitLab()
    for flag in ("first_flag", "second_flag"):
        new_rollout(api, flag)
    scope = Scope(project=PROJECT)
    state = tmp_path / "sync-state.json"
    first = sync_many(api, scope, SyncOptions(), state_path=state, concurrency=2)
    assert first.ok, first.error
    assert first.data["counts"] == {"updated": 2}  # each got its stage label
    api.requests.clear()
    again = sync_many(api, scope, SyncOptions(), state_path=state, concurrency=2)
    assert again.data["counts"] == {"unchanged-since-last-sync": 2}
    assert api.requests == ["GET issues page 1"]


def test_report_counts_days_since_the_rollout_moved_by_the_injected_now(tmp_path: Path) -> None:
    api = FakeGitLab()
    new_rollout(api)
    later = dt.datetime(2026, 12, 31, 10, 1, tzinfo=dt.UTC)
    result = report(api, Scope(project=PROJECT), tmp_path / "r.json", stale_days=14, now=later)
    assert result.ok, result.error
    row = result.data["issues"][0]
    assert (row["days_since_moved"], row["stale"], row["stage"]) == (30, True, "planned")
    assert (tmp_path / "r.json").is_file()


# --- the demo ---------------------------------------------------------------------------------------------


def test_the_demo_takes_the_api_objects_it_needs_and_a_second_run_writes_nothing() -> None:
    api, admin = FakeGitLab(), FakeGitLab(admin=True)
    first = run_demo(api, PROJECT, lambda: admin, patience=NO_WAIT)
    assert first.ok, first.error
    assert first.value is not None
    assert [step.command for step in first.value.steps] == [
        "create",
        "status",
        "announce",
        "enable",
        "check",
        "status",
    ]
    assert first.value.final is not None
    assert admin.features[FLAG].state == "on"
    second = run_demo(api, PROJECT, lambda: admin, patience=NO_WAIT)
    assert second.messages[-1].startswith("nothing to do")


@pytest.mark.parametrize("state", ["done", "todo", "skipped"])
def test_check_of_every_state_reports_the_target_state(state: str) -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    result = check(api, ref, ["docs-updated"], state, dry_run=False, sleep=lambda _: None)  # type: ignore[arg-type]
    assert result.ok, result.error
    assert result.data["target_state"] == state
    assert box(api, ref, "docs-updated") == {"done": "[x]", "todo": "[ ]", "skipped": "[~]"}[state]
