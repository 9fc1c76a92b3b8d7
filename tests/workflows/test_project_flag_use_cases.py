"""Project-flag rollouts against the in-memory GitLab (`fake_gitlab.FakeGitLab` with project flags):
what `create --create-flag`, `enable` and `disable` send to the flag, what they refuse before writing,
what they cost in requests, and what `sync` and `status --timeline` read back from the flag. The same
flow through the real CLI, the sandbox and a real Unleash client is in `tests/e2e/test_project_flags.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from gl_rollout.core.project_flag import UserListRef
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import find_rollout_flag
from gl_rollout.errors import ExitCode, GitLabError, RolloutError, UsageError
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import Result
from gl_rollout.workflows.create import CreateOptions
from gl_rollout.workflows.enable import FlagOptions
from gl_rollout.workflows.flag_backend import ProjectFlagBackend
from gl_rollout.workflows.flag_command import check_before_reading, set_flag_of_issue
from gl_rollout.workflows.posting import Patience
from gl_rollout.workflows.project_flag_create import create_with_flag
from gl_rollout.workflows.project_flags import ProjectFlagOptions
from gl_rollout.workflows.status import status
from gl_rollout.workflows.sync import SyncOptions, sync_one
from tests.workflows.fake_gitlab import FakeGitLab

PROJECT = "acme/platform/rollouts"
FLAG = "new-checkout"
NO_WAIT = Patience(timeout=1.0, server_timeout=2.0, clock=lambda: 0.0, sleep=lambda _: None)


def new_rollout(api: FakeGitLab, **render: Any) -> IssueRef:
    """`create FLAG --flag-backend project --create-flag`: the issue and the inactive flag."""
    rendered = render_issue(RenderOptions(flag=FLAG, flag_backend="project", **render))
    created = create_with_flag(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT))
    assert created.ok, created.error
    assert created.value is not None
    assert created.value.issue.iid is not None
    return IssueRef(PROJECT, created.value.issue.iid)


def run(
    api: FakeGitLab, ref: IssueRef, *, enable: bool = True, dry_run: bool = False, **options: Any
) -> Result[Any]:
    project = ProjectFlagOptions(**options)
    instance = FlagOptions(percentage=project.percentage)
    check_before_reading(instance, project, enable=enable)
    return set_flag_of_issue(api, ref, instance, project, enable=enable, dry_run=dry_run, patience=NO_WAIT)


def box(api: FakeGitLab, ref: IssueRef, step: str) -> str:
    line = next(
        line for line in api.issue(ref.project, ref.iid).description.splitlines() if f"step:{step} " in line
    )
    start = line.index("[")
    return line[start : start + 3]


def strategies(api: FakeGitLab) -> list[tuple[str, dict[str, Any], list[str]]]:
    return [
        (s["name"], s["parameters"], [scope["environment_scope"] for scope in s["scopes"]])
        for s in api.flag_json(PROJECT, FLAG)["strategies"]
    ]


def writes(api: FakeGitLab) -> list[str]:
    return [request for request in api.requests if not request.startswith("GET")]


# --- create --create-flag -----------------------------------------------------------------------------------


def test_create_makes_the_flag_inactive_without_strategy_and_records_the_backend_in_the_issue() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    flag = api.flag_json(PROJECT, FLAG)
    assert (flag["active"], flag["version"], flag["strategies"]) == (False, "new_version_flag", [])
    assert flag["description"] == f"Rollout issue: {api.issue(PROJECT, ref.iid).web_url}"
    rollout = find_rollout_flag(api.issue(PROJECT, ref.iid).description)
    assert rollout is not None
    assert (rollout.backend, rollout.environments, rollout.ramp) == (
        "project",
        ("staging", "production"),
        (10, 25, 50, 100),
    )
    assert box(api, ref, "create-flag") == "[x]"
    api.requests.clear()
    new_rollout(api)  # a second run finds the issue and its flag: nothing new
    assert list(writes(api)) == []


def test_create_refuses_a_flag_made_for_something_else_unless_adopted_and_writes_nothing() -> None:
    api = FakeGitLab()
    api.create_project_flag(PROJECT, {"name": FLAG, "description": "the payments team's", "active": True})
    api.requests.clear()
    rendered = render_issue(RenderOptions(flag=FLAG, flag_backend="project"))
    with pytest.raises(UsageError) as refused:
        create_with_flag(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT))
    assert refused.value.exit_code == ExitCode.USAGE
    assert "the payments team's" in refused.value.message
    assert "--adopt-flag" in str(refused.value.hint)
    assert writes(api) == []
    adopted = create_with_flag(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT), adopt=True)
    assert adopted.ok, adopted.error
    assert api.flag_json(PROJECT, FLAG)["description"] == "the payments team's"  # left as it was
    assert "POST flag" not in api.requests


# --- enable: environments, the ramp, user lists -------------------------------------------------------------


def test_the_ramp_is_one_flexible_rollout_changed_in_place_at_seven_requests_a_step() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    staged = run(api, ref, envs=("staging",))
    assert staged.ok, staged.error
    assert api.requests == [
        "GET issue 1", "GET notes page 1", f"GET flag {FLAG}", f"PUT flag {FLAG}",
        "POST note", "PUT issue 1", "GET notes page 1",
    ]  # fmt: skip
    assert api.flag_json(PROJECT, FLAG)["active"] is True
    assert strategies(api) == [("default", {}, ["staging"])]
    assert box(api, ref, "enable-staging") == "[x]"

    ids = set()
    for percentage, step in ((10, "ramp-10"), (25, "ramp-25"), (50, "ramp-50"), (100, "enable-production")):
        api.requests.clear()
        result = run(api, ref, percentage=percentage)
        assert result.ok, result.error
        assert len(api.requests) == 7
        assert api.requests.count(f"GET flag {FLAG}") == 1
        assert api.requests.count(f"PUT flag {FLAG}") == 1
        rollouts = [s for s in api.flag_json(PROJECT, FLAG)["strategies"] if s["name"] == "flexibleRollout"]
        assert len(rollouts) == 1  # never a second strategy
        assert rollouts[0]["parameters"]["rollout"] == str(percentage)
        assert [scope["environment_scope"] for scope in rollouts[0]["scopes"]] == ["production"]
        ids.add(rollouts[0]["id"])
        assert box(api, ref, step) == "[x]"
    assert len(ids) == 1  # updated in place by its id

    comments = [note.body for note in api.notes_of(PROJECT, ref.iid) if not note.system]
    assert any("10% -> 25%" in body for body in comments)  # the comments are the audit trail


def test_a_step_already_so_costs_three_reads_and_writes_nothing() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, percentage=25)
    api.requests.clear()
    again = run(api, ref, percentage=25)
    assert again.ok, again.error
    assert api.requests == ["GET issue 1", "GET notes page 1", f"GET flag {FLAG}"]
    assert "nothing to do" in again.messages


def test_dry_run_prints_the_strategy_diff_and_writes_nothing() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, percentage=10)
    before = api.flag_json(PROJECT, FLAG)["strategies"][0]["parameters"]["rollout"]
    notes = len(api.notes_of(PROJECT, ref.iid))
    api.requests.clear()
    dry = run(api, ref, percentage=25, dry_run=True)
    assert dry.ok, dry.error
    assert writes(api) == []
    assert any("10% -> 25%" in line for line in dry.messages)
    assert api.flag_json(PROJECT, FLAG)["strategies"][0]["parameters"]["rollout"] == before == "10"
    assert len(api.notes_of(PROJECT, ref.iid)) == notes
    assert box(api, ref, "ramp-25") == "[ ]"


def test_a_lower_percentage_is_exit_2_before_any_write_unless_allowed() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, percentage=50)
    api.requests.clear()
    with pytest.raises(UsageError) as refused:
        run(api, ref, percentage=25)
    assert "--allow-decrease" in refused.value.one_line()
    assert writes(api) == []
    lowered = run(api, ref, percentage=25, allow_decrease=True)
    assert lowered.ok, lowered.error
    assert strategies(api)[0][1]["rollout"] == "25"


@pytest.mark.parametrize("percentage", [-1, 101])
def test_a_percentage_outside_0_to_100_is_refused_before_any_request(percentage: int) -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    with pytest.raises(UsageError, match=r"outside 0\.\.100"):
        run(api, ref, percentage=percentage)
    assert api.requests == []


def test_a_user_list_becomes_a_gitlab_user_list_strategy_and_ticks_enable_beta() -> None:
    api = FakeGitLab()
    api.user_lists[PROJECT] = [UserListRef(id=7, iid=1, name="beta-testers", user_xids="alice,bob")]
    ref = new_rollout(api, beta_user_list="beta-testers")
    result = run(api, ref, user_list="beta-testers")
    assert result.ok, result.error
    (strategy,) = api.flag_json(PROJECT, FLAG)["strategies"]
    assert (strategy["name"], strategy["user_list"]["id"]) == ("gitlabUserList", 7)
    assert [scope["environment_scope"] for scope in strategy["scopes"]] == ["production"]
    assert box(api, ref, "enable-beta") == "[x]"


def test_a_user_list_that_does_not_exist_is_exit_2_with_nothing_written() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    with pytest.raises(UsageError, match="no feature flag user list named 'nobody'"):
        run(api, ref, user_list="nobody")
    assert writes(api) == []


def test_an_unknown_environment_is_a_warning_and_a_wildcard_scope_is_taken_as_it_is() -> None:
    api = FakeGitLab()
    api.environments[PROJECT] = ["staging", "production"]
    ref = new_rollout(api)
    odd = run(api, ref, envs=("canary",))
    assert odd.ok, odd.error
    assert any(m.startswith("warning:") and "'canary'" in m for m in odd.messages)
    api.requests.clear()
    review = run(api, ref, envs=("review/*",))
    assert review.ok, review.error
    assert "GET environments" not in api.requests
    assert not any(m.startswith("warning:") for m in review.messages)
    assert ("default", {}, ["canary", "review/*"]) in strategies(api)


def test_another_strategy_layout_is_reported_and_left_alone_unless_adopted() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.edit_flag(PROJECT, FLAG, {"strategies": [
        {"name": "gradualRolloutUserId", "parameters": {"groupId": "default", "percentage": "5"},
         "scopes": [{"environment_scope": "production"}]},
    ]})  # fmt: skip
    api.requests.clear()
    with pytest.raises(UsageError) as refused:
        run(api, ref, percentage=10)
    assert "gradualRolloutUserId" in refused.value.one_line()
    assert "--adopt-flag" in refused.value.one_line()
    assert writes(api) == []
    adopted = run(api, ref, percentage=10, adopt=True)
    assert adopted.ok, adopted.error
    assert [name for name, _, scopes in strategies(api) if "production" in scopes] == ["flexibleRollout"]


def test_a_reporter_token_is_exit_3_and_nothing_is_commented_or_ticked() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    notes = len(api.notes_of(PROJECT, ref.iid))
    api.reporter_only = True
    with pytest.raises(GitLabError) as refused:
        run(api, ref, envs=("staging",))
    assert refused.value.exit_code == ExitCode.GITLAB
    assert len(api.notes_of(PROJECT, ref.iid)) == notes
    assert box(api, ref, "enable-staging") == "[ ]"


@pytest.mark.parametrize(
    ("instance", "option"),
    [(FlagOptions(apply=True), "--apply"), (FlagOptions(prefix="/chatops gitlab run"), "--chatops-prefix")],
)
def test_options_of_the_other_kind_of_flag_are_refused(instance: FlagOptions, option: str) -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    api.requests.clear()
    with pytest.raises(RolloutError, match=f"{option} does not apply"):
        set_flag_of_issue(api, ref, instance, ProjectFlagOptions(), enable=True, patience=NO_WAIT)
    assert writes(api) == []


# --- disable ---------------------------------------------------------------------------------------------


def test_disable_env_destroys_its_scopes_and_disable_sets_the_flag_inactive() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, envs=("staging",))
    run(api, ref, percentage=25)
    off = run(api, ref, enable=False, envs=("staging",))
    assert off.ok, off.error
    rollout = {"groupId": "default", "rollout": "25", "stickiness": "default"}
    assert strategies(api) == [("flexibleRollout", rollout, ["production"])]
    assert box(api, ref, "enable-staging") == "[ ]"
    everywhere = run(api, ref, enable=False)
    assert everywhere.ok, everywhere.error
    assert api.flag_json(PROJECT, FLAG)["active"] is False
    assert len(strategies(api)) == 1  # the strategies stay; an inactive flag serves none of them
    api.requests.clear()
    again = run(api, ref, enable=False)
    assert writes(api) == []
    assert "nothing to do" in again.messages


# --- evidence: the backend seam, sync and status --timeline -------------------------------------------


def test_the_backend_reads_the_flag_as_a_state_per_environment() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, envs=("staging",))
    run(api, ref, percentage=25)
    rollout = find_rollout_flag(api.issue(PROJECT, ref.iid).description)
    assert rollout is not None
    state = ProjectFlagBackend(api, PROJECT, rollout).read_state()
    assert state.serving("staging").on
    assert (state.serving("production").on, state.serving("production").percentage) == (False, 25)
    assert state.summary() == "active; staging on, production 25%"


def test_sync_reflects_a_flag_changed_by_hand_in_gitlab() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, envs=("staging",))
    flag = api.flag_json(PROJECT, FLAG)
    updated_at = flag["updated_at"]
    # someone raises production to 50% in GitLab's UI: no comment, and the flag's updated_at stays
    half = {"groupId": "default", "rollout": "50", "stickiness": "default"}
    api.edit_flag(PROJECT, FLAG, {"strategies": [
        {"name": "flexibleRollout", "parameters": half, "scopes": [{"environment_scope": "production"}]},
    ]})  # fmt: skip
    assert api.flag_json(PROJECT, FLAG)["updated_at"] == updated_at
    result = sync_one(api, PROJECT, ref.iid, SyncOptions())
    assert result.ok, result.error
    assert result.value is not None
    assert set(result.value.issue.ticked) == {"ramp-10", "ramp-25", "ramp-50"}
    assert box(api, ref, "enable-production") == "[ ]"


def test_status_timeline_ends_with_the_flag_as_gitlab_reports_it() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    run(api, ref, percentage=10)
    api.requests.clear()
    result = status(api, ref, timeline=True)
    assert result.ok, result.error
    assert api.requests == ["GET issue 1", "GET notes page 1", f"GET flag {FLAG}"]
    assert result.value is not None
    last = result.value.timeline[-1]
    assert "project flag new-checkout in acme/platform/rollouts: active; staging off, production 10%" in str(
        last
    )
