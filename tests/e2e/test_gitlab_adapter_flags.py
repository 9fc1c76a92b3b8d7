"""The adapter's project feature flag methods against the sandbox over real HTTP, both ways it can send
them: through python-gitlab's `feature_flags` / `feature_flags_user_lists` managers (python-gitlab 8.2
and later) and as GitLab's documented calls through `http_request` (older versions). Either way each
method is one request (one per page for lists) and reads the same values.
"""

from __future__ import annotations

from typing import Any

import pytest

from gl_rollout.errors import ExitCode, GitLabError
from gl_rollout.gitlab.client import PythonGitLab, connect, has_flag_managers
from gl_rollout.gitlab.connection import Connection
from gl_rollout.gitlab.retry import RetryPolicy
from gl_rollout.sandbox import Sandbox

WAYS = [
    pytest.param(True, id="managers", marks=pytest.mark.skipif(
        not has_flag_managers(), reason="this python-gitlab has no feature flag managers")),
    pytest.param(False, id="http_request"),
]  # fmt: skip


def client(sb: Sandbox, managers: bool, role: str = "developer") -> PythonGitLab:
    conn = Connection(url=str(sb.url), token_kind="private", token=sb.tokens[role], source="GITLAB_TOKEN")
    policy = RetryPolicy(sleep=lambda _seconds: None)
    return connect(
        conn, 10.0, retry=policy, requests_per_minute=None, notes_per_minute=None, flag_managers=managers
    )


def sent(sb: Sandbox) -> list[str]:
    requests = [f"{r.method} {r.path.split('/api/v4', 1)[-1]}" for r in sb.request_log]
    sb.clear_log()
    return requests


@pytest.mark.parametrize("managers", WAYS)
def test_each_flag_method_is_one_request_and_reads_the_same_values(sandbox: Sandbox, managers: bool) -> None:
    api = client(sandbox, managers)
    project = sandbox.project_path
    beta = sandbox.create_user_list("beta", "alice,bob")
    sandbox.clear_log()

    assert api.get_project_flag(project, "new-checkout") is None
    assert len(sent(sandbox)) == 1

    made = api.create_project_flag(
        project, {"name": "new-checkout", "version": "new_version_flag", "active": False, "description": "d"}
    )
    assert (made.name, made.active, made.description, made.strategies) == ("new-checkout", False, "d", ())
    assert [line.split(" ")[0] for line in sent(sandbox)] == ["POST"]

    rollout = {"groupId": "default", "rollout": "25", "stickiness": "default"}
    production = [{"environment_scope": "production"}]
    fields: dict[str, Any] = {
        "active": True,
        "strategies": [
            {"name": "flexibleRollout", "parameters": rollout, "scopes": production},
            {"name": "gitlabUserList", "parameters": {}, "user_list_id": beta["id"], "scopes": production},
        ],
    }  # fmt: skip
    updated = api.update_project_flag(project, "new-checkout", fields)
    assert [line.split(" ")[0] for line in sent(sandbox)] == ["PUT"]
    assert updated.active is True
    first, listed = updated.strategies
    assert (first.name, dict(first.parameters)) == ("flexibleRollout", rollout)
    assert first.id is not None
    assert [scope.environment_scope for scope in first.scopes] == ["production"]
    assert listed.user_list is not None
    assert listed.user_list.name == "beta"

    # in place by id: the strategy keeps its id and no second one appears
    again = api.update_project_flag(
        project, "new-checkout", {"strategies": [{"id": first.id, "parameters": rollout | {"rollout": "50"}}]}
    )
    sent(sandbox)
    assert [s.id for s in again.strategies] == [first.id, listed.id]
    assert again.strategies[0].parameters["rollout"] == "50"

    read = api.get_project_flag(project, "new-checkout")
    assert read == again
    assert len(sent(sandbox)) == 1

    found = api.find_user_list(project, "beta")
    assert found is not None
    assert (found.id, found.name, found.user_xids) == (beta["id"], "beta", "alice,bob")
    assert api.find_user_list(project, "nobody") is None
    assert len(sent(sandbox)) == 2

    sandbox.set_environments(["staging", "production", "review/x"])
    assert api.list_environment_names(project) == ["staging", "production", "review/x"]
    assert len(sent(sandbox)) == 1


@pytest.mark.parametrize("managers", WAYS)
def test_a_missing_project_raises_and_a_reporter_cannot_write(sandbox: Sandbox, managers: bool) -> None:
    with pytest.raises(GitLabError) as missing:
        client(sandbox, managers).get_project_flag("acme/nowhere", "new-checkout")
    assert missing.value.status == 404
    sandbox.create_project_flag("new-checkout", active=False)
    reporter = client(sandbox, managers, role="reporter")
    with pytest.raises(GitLabError) as refused:
        reporter.update_project_flag(sandbox.project_path, "new-checkout", {"active": True})
    assert refused.value.exit_code == ExitCode.GITLAB
    assert refused.value.status == 403
    assert sandbox.tokens["reporter"] not in refused.value.one_line()
    assert sandbox.project_flags()["new-checkout"]["active"] is False
