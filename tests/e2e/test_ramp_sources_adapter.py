"""The ramp runner's data sources through the python-gitlab adapter, over real HTTP to the sandbox
(issue 15): GitLab's time from the `Date` header at no extra request, deploy freezes, blocking incidents."""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.errors import GitLabError
from gl_rollout.gitlab.clock import ServerClock
from gl_rollout.sandbox import Sandbox
from gl_rollout.workflows.ramp_guards import current_freezes, open_blocking_incidents
from tests.e2e.test_gitlab_adapter import client, log

FREEZES = "/api/v4/projects/acme%2Fplatform%2Frollouts/freeze_periods"


def test_server_time_is_gitlabs_clock_from_the_last_answer_without_a_request(sandbox: Sandbox) -> None:
    api = client(sandbox)
    assert api.server_time() is None
    api.current_user()
    sandbox.clear_log()
    first = api.server_time()
    assert first is not None
    assert first.moment is not None
    assert abs(first.moment - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=2)
    assert log(sandbox) == []  # reading it costs nothing
    sandbox.advance_clock(2 * 86400)
    assert api.server_time() == first  # the last answer's time until the next answer
    api.current_user()
    later = api.server_time()
    assert later is not None
    assert later.moment is not None
    assert later.moment - first.moment >= dt.timedelta(days=2)


def test_server_clock_asks_once_when_nothing_was_read_yet(sandbox: Sandbox) -> None:
    sandbox.advance_clock(3600)
    api = client(sandbox)
    sandbox.clear_log()
    now = ServerClock(api).now()
    assert now.moment is not None
    assert abs(now.moment - sandbox.now()) < dt.timedelta(seconds=5)
    assert [(method, path) for method, path, _ in log(sandbox)] == [("GET", "/api/v4/user")]
    ServerClock(api).now()
    assert len(log(sandbox)) == 1  # later readings are free


def test_freezes_listed_and_judged_at_gitlabs_time(sandbox: Sandbox) -> None:
    sandbox.add_freeze_period("0 23 * * 5", "0 7 * * 1", "Europe/Berlin")
    sandbox.add_freeze_period("* * * * *", "* * * * *")  # starts and ends every minute: never active
    api = client(sandbox, "reporter")  # reading freezes needs only the Reporter role
    sandbox.clear_log()
    saturday = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    (freeze,) = current_freezes(api, sandbox.project_path, saturday)
    assert freeze.period.cron_timezone == "Europe/Berlin"
    assert freeze.ends == dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC)
    assert current_freezes(api, sandbox.project_path, dt.datetime(2026, 12, 9, 12, tzinfo=dt.UTC)) == []
    assert [(m, p) for m, p, _ in log(sandbox)] == [("GET", FREEZES), ("GET", FREEZES)]


def test_freezes_of_a_project_one_cannot_see_are_a_gitlab_error(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        current_freezes(client(sandbox), "no/such", dt.datetime.now(dt.UTC))
    assert caught.value.exit_code == 3
    assert sandbox.tokens["developer"] not in str(caught.value)


def test_blocking_incidents_one_request_per_project(sandbox: Sandbox) -> None:
    sandbox.add_incident("DB down", ["severity::1"])
    sandbox.add_incident("Slow search", ["severity::3"])
    sandbox.add_incident("Old outage", ["severity::2"], closed=True)
    sandbox.create_issue(title="A bug with a severity label", labels=["severity::1"])  # not an incident
    sandbox.add_incident("CDN errors", ["severity::2"], project=sandbox.second_project_path)
    api = client(sandbox)
    sandbox.clear_log()
    found = open_blocking_incidents(api, [sandbox.project_path, sandbox.second_project_path])
    assert [issue.title for issue in found] == ["DB down", "CDN errors"]
    assert len(log(sandbox)) == 2
    assert [i.title for i in open_blocking_incidents(api, [sandbox.project_path], ["severity::3"])] == [
        "Slow search"
    ]
