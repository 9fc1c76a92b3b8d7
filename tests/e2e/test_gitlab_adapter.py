"""The python-gitlab adapter against the embedded sandbox over real HTTP.

Each Protocol method must cost exactly the requests it promises (checked in the sandbox's request
log), reads must survive 429/5xx/dropped connections, creates must never be replayed blindly, and
every failure must become one line that says what to do, without the token in it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gl_rollout.cli.connection import open_client
from gl_rollout.cli.running import AppState
from gl_rollout.core.model import Gate, IssueQuery
from gl_rollout.errors import ExitCode, GitLabError, UsageError
from gl_rollout.gitlab.calls import Call
from gl_rollout.gitlab.client import PythonGitLab, connect
from gl_rollout.gitlab.connection import Connection
from gl_rollout.gitlab.decoding import feature_value, flatten_message
from gl_rollout.gitlab.errors import which_is_missing
from gl_rollout.gitlab.retry import RateLimiter, RetryPolicy
from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.server import QuietHandler

ISSUE_RE = r"/issues/\d+$"


class Waits(list[float]):
    """A `sleep` that records instead of sleeping: tests see every wait and spend none."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    sb: Sandbox,
    role: str = "developer",
    *,
    kind: str = "private",
    token: str | None = None,
    url: str | None = None,
    waits: Waits | None = None,
    timeout: float = 10.0,
    ca_bundle: str | None = None,
    retry: RetryPolicy | None = None,
    notes_limiter: RateLimiter | None = None,
) -> PythonGitLab:
    conn = Connection(
        url=url or str(sb.url),
        token_kind=kind,  # type: ignore[arg-type]
        token=token if token is not None else sb.tokens[role],
        ca_bundle=ca_bundle,
        source="GITLAB_TOKEN",
    )
    policy = retry or RetryPolicy(sleep=waits if waits is not None else Waits())
    return connect(conn, timeout, retry=policy, requests_per_minute=None, notes_per_minute=notes_limiter)


def log(sb: Sandbox) -> list[tuple[str, str, int]]:
    return [(entry.method, entry.path, entry.status) for entry in sb.request_log]


def issue_path(sb: Sandbox, iid: int) -> str:
    return f"/api/v4/projects/acme%2Fplatform%2Frollouts/issues/{iid}"


def new_issue(sb: Sandbox, title: str = "Rollout", **fields: object) -> int:
    iid = int(sb.create_issue(title=title, **fields)["iid"])  # type: ignore[arg-type]
    sb.clear_log()
    return iid


# --- one method, one request ---------------------------------------------------------------------


def test_get_issue_is_one_get_with_the_fields_we_use(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox, "Roll out flag x", description="- [ ] one\n- [x] two", labels=["feature flag"])
    api = client(sandbox)
    issue = api.get_issue(sandbox.project_path, iid)
    assert log(sandbox) == [("GET", issue_path(sandbox, iid), 200)]
    assert api.request_count() == 1
    assert (issue.iid, issue.title, issue.state, issue.labels) == (
        iid,
        "Roll out flag x",
        "opened",
        ("feature flag",),
    )
    assert issue.description == "- [ ] one\n- [x] two"
    assert (issue.task_count, issue.task_completed) == (2, 1)
    assert issue.reference == f"acme/platform/rollouts#{iid}"
    assert issue.web_url == f"{sandbox.url}/acme/platform/rollouts/-/issues/{iid}"
    assert issue.author == "dev"
    assert issue.updated_at


def test_get_issue_by_numeric_project_id(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    assert client(sandbox).get_issue(str(sandbox.project_id), iid).iid == iid
    assert log(sandbox) == [("GET", f"/api/v4/projects/{sandbox.project_id}/issues/{iid}", 200)]


def test_list_issues_is_one_request_per_page(sandbox: Sandbox) -> None:
    for index in range(5):
        sandbox.create_issue(title=f"paged {index}", labels=["paging"])
    sandbox.create_issue(title="other", labels=["unrelated"])
    sandbox.clear_log()
    api = client(sandbox)
    issues = list(api.list_issues(IssueQuery(project=sandbox.project_path, labels=("paging",), per_page=2)))
    assert sorted(issue.title for issue in issues) == [f"paged {i}" for i in range(5)]
    assert [entry[2] for entry in log(sandbox)] == [200, 200, 200]
    assert all(
        "per_page=2" in entry.query and "labels=paging" in entry.query for entry in sandbox.request_log
    )


def test_list_issues_of_a_group_spans_its_projects(sandbox: Sandbox) -> None:
    sandbox.create_issue(title="a", labels=["fleet"])
    sandbox.create_issue(project=sandbox.second_project_path, title="b", labels=["fleet"])
    closed = sandbox.create_issue(title="c", labels=["fleet"])
    sandbox.edit_issue(None, int(closed["iid"]), state_event="close")
    sandbox.clear_log()
    issues = list(client(sandbox).list_issues(IssueQuery(group="acme", labels=("fleet",))))
    assert sorted(issue.reference for issue in issues) == ["acme/platform/rollouts#1", "acme/website#1"]
    assert log(sandbox) == [("GET", "/api/v4/groups/acme/issues", 200)]


def test_create_issue_is_one_post(sandbox: Sandbox) -> None:
    sandbox.clear_log()
    api = client(sandbox)
    issue = api.create_issue(
        sandbox.project_path,
        {"title": "Rollout of y", "description": "- [ ] step", "labels": ("feature flag", "group::a")},
    )
    assert log(sandbox) == [("POST", "/api/v4/projects/acme%2Fplatform%2Frollouts/issues", 201)]
    assert issue.title == "Rollout of y"
    assert set(issue.labels) == {"feature flag", "group::a"}
    assert sandbox.count_issues(title="Rollout of y") == 1


def test_update_sends_only_the_description_and_keeps_others_labels(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox, labels=["feature flag"])
    api = client(sandbox)
    api.get_issue(sandbox.project_path, iid)
    sandbox.edit_issue(
        None, iid, add_labels=["added-meanwhile"]
    )  # someone labels it between our read and write
    sandbox.clear_log()
    updated = api.update_issue(sandbox.project_path, iid, {"description": "- [x] done"})
    assert log(sandbox) == [("PUT", issue_path(sandbox, iid), 200)]
    assert updated.description == "- [x] done"
    assert set(updated.labels) == {"feature flag", "added-meanwhile"}


def test_update_with_add_and_remove_labels(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox, labels=["rollout::planned", "keep"])
    updated = client(sandbox).update_issue(
        sandbox.project_path, iid, {"add_labels": "rollout::staging", "remove_labels": "rollout::planned"}
    )
    assert set(updated.labels) == {"keep", "rollout::staging"}
    assert len(sandbox.request_log) == 1


def test_notes_are_listed_one_request_per_page_oldest_first(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    for body in ("first", "second", "third"):
        sandbox.add_note(None, iid, body)
    sandbox.clear_log()
    api = client(sandbox)
    notes = api.list_notes(sandbox.project_path, iid, per_page=2)
    assert [note.body for note in notes] == ["first", "second", "third"]
    assert [note.author for note in notes] == ["alice"] * 3
    assert not any(note.system for note in notes)
    assert log(sandbox) == [("GET", issue_path(sandbox, iid) + "/notes", 200)] * 2
    sandbox.clear_log()
    assert [n.body for n in api.list_notes(sandbox.project_path, iid, per_page=2, max_pages=1)] == [
        "first",
        "second",
    ]
    assert len(sandbox.request_log) == 1
    newest = api.list_notes(sandbox.project_path, iid, sort="desc", per_page=1, max_pages=1)
    assert [n.body for n in newest] == ["third"]


def test_create_note_is_one_post_and_quick_action_only_is_none(sandbox: Sandbox) -> None:
    sandbox.create_label("from-quick-action")  # GitLab's /label applies existing labels only
    iid = new_issue(sandbox)
    api = client(sandbox)
    note = api.create_note(sandbox.project_path, iid, "Enabled on staging <!-- gl-rollout {} -->")
    assert note is not None
    assert note.body == "Enabled on staging <!-- gl-rollout {} -->"
    assert (note.author, note.system, note.internal) == ("dev", False, False)
    assert log(sandbox) == [("POST", issue_path(sandbox, iid) + "/notes", 201)]
    assert api.create_note(sandbox.project_path, iid, "/label ~from-quick-action") is None
    assert "from-quick-action" in sandbox.get_issue(None, iid)["labels"]
    internal = api.create_note(sandbox.project_path, iid, "for the team", internal=True)
    assert internal is not None
    assert internal.internal


def test_current_user_and_user_lookup(sandbox: Sandbox) -> None:
    api = client(sandbox)
    me = api.current_user()
    assert (me.username, me.is_admin) == ("dev", False)
    assert client(sandbox, "admin").current_user().is_admin
    sandbox.clear_log()
    found = api.find_user_ids(["alice", "nobody-here"])
    assert list(found) == ["alice"]
    assert len(sandbox.request_log) == 2  # one per username


def test_request_count_matches_what_the_server_saw(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    api = client(sandbox)
    api.get_issue(sandbox.project_path, iid)
    api.list_notes(sandbox.project_path, iid)
    api.create_note(sandbox.project_path, iid, "hello")
    api.update_issue(sandbox.project_path, iid, {"description": "x"})
    assert api.request_count() == len(sandbox.request_log) == 4


# --- Features API ---------------------------------------------------------------------------------


def test_set_feature_sends_a_json_body_and_reads_the_gates(sandbox: Sandbox) -> None:
    admin = client(sandbox, "admin")
    feature = admin.set_feature("gl_rollout_flag", {"value": True})
    assert (feature.name, feature.state, feature.gates) == ("gl_rollout_flag", "on", (Gate("boolean", True),))
    assert [(entry.method, entry.path, entry.query) for entry in sandbox.request_log] == [
        ("POST", "/api/v4/features/gl_rollout_flag", "")  # parameters in the body, not the query string
    ]
    partial = admin.set_feature("gl_rollout_partial", {"value": 25, "key": "percentage_of_actors"})
    assert partial.state == "conditional"
    assert Gate("percentage_of_actors", 25) in partial.gates
    assert {"gl_rollout_flag", "gl_rollout_partial"} <= {f.name for f in admin.list_features()}
    sandbox.clear_log()
    admin.delete_feature("gl_rollout_flag")
    assert log(sandbox) == [("DELETE", "/api/v4/features/gl_rollout_flag", 204)]
    assert "gl_rollout_flag" not in sandbox.features()


def test_set_feature_for_an_actor(sandbox: Sandbox) -> None:
    feature = client(sandbox, "admin").set_feature(
        "flag_for_a_project", {"value": "True", "project": "acme/website"}
    )
    assert feature.state == "conditional"
    assert Gate("boolean", False) in feature.gates
    assert [gate.key for gate in feature.gates if gate.key != "boolean"] == ["actors"]


@pytest.mark.parametrize(("given", "sent"), [(True, "true"), (False, "false"), ("True", "true"), (25, 25)])
def test_feature_values_are_what_gitlab_parses(given: object, sent: object) -> None:
    assert feature_value(given) == sent


def test_features_need_an_admin(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        client(sandbox).set_feature("x_flag", {"value": True})
    assert caught.value.one_line() == (
        "GitLab refused to set feature flag x_flag (403). "
        "the Features API needs an administrator's personal access token with the api scope"
    )
    assert caught.value.exit_code == ExitCode.GITLAB


def test_bad_feature_value_shows_gitlabs_reason(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        client(sandbox, "admin").set_feature("x_flag", {"value": "maybe"})
    assert caught.value.status == 400
    assert caught.value.one_line().startswith("GitLab refused to set feature flag x_flag (400): ")
    assert "maybe" in caught.value.one_line()


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_reads_are_retried_on_server_errors(sandbox: Sandbox, status: int) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, status, count=2)
    waits = Waits()
    issue = client(sandbox, waits=waits).get_issue(sandbox.project_path, iid)
    assert issue.iid == iid
    assert [entry[2] for entry in log(sandbox)] == [status, status, 200]
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5  # first backoff: half to all of 0.5 s
    assert 0.5 <= waits[1] <= 1.0


def test_read_honours_retry_after(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, 429, retry_after=7)
    waits = Waits()
    assert client(sandbox, waits=waits).get_issue(sandbox.project_path, iid).iid == iid
    assert [entry[2] for entry in log(sandbox)] == [429, 200]
    assert len(waits) == 1
    assert 7.0 <= waits[0] <= 7.7


def test_rate_limited_after_all_attempts(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, 429, count=10, retry_after=7)
    waits = Waits()
    with pytest.raises(GitLabError) as caught:
        client(sandbox, waits=waits).get_issue(sandbox.project_path, iid)
    assert caught.value.message == "rate limited by GitLab; retry after 7 s"
    assert caught.value.exit_code == ExitCode.GITLAB
    assert len(sandbox.request_log) == 5  # max_attempts
    assert len(waits) == 4


def test_a_wait_beyond_the_total_budget_is_not_slept(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, 429, retry_after=120)
    waits = Waits()
    with pytest.raises(GitLabError, match=r"rate limited by GitLab; retry after 120 s"):
        client(sandbox, waits=waits).get_issue(sandbox.project_path, iid)
    assert waits == []
    assert len(sandbox.request_log) == 1


def test_server_errors_after_all_attempts(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, 503, count=10)
    with pytest.raises(GitLabError) as caught:
        client(sandbox).get_issue(sandbox.project_path, iid)
    assert caught.value.one_line() == (
        f"GitLab failed to read issue acme/platform/rollouts#{iid} (503 after 5 attempts). "
        "GitLab is having trouble: try again later"
    )
    assert not caught.value.details.get("ambiguous")


def test_the_sandbox_throttle_is_waited_out(sandbox: Sandbox) -> None:
    """A real 429 with Retry-After and RateLimit-Reset from the sandbox's limiter, really waited."""
    iid = new_issue(sandbox)
    sandbox.rate_limit(2, period=1.0)
    api = client(sandbox, retry=RetryPolicy())
    for _ in range(3):
        assert api.get_issue(sandbox.project_path, iid).iid == iid
    assert 429 in [entry[2] for entry in log(sandbox)]
    assert log(sandbox)[-1][2] == 200


def test_dropped_connection_on_a_read_is_retried(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.drop_next("GET", ISSUE_RE)
    assert client(sandbox).get_issue(sandbox.project_path, iid).iid == iid
    assert [entry[2] for entry in log(sandbox)] == [0, 200]


def test_read_timeout_is_retried(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.delay("GET", ISSUE_RE, 1.0, count=1)
    api = client(sandbox, timeout=0.3)
    assert api.get_issue(sandbox.project_path, iid).iid == iid
    assert api.request_count() == 2


def test_description_put_is_retried_after_a_lost_answer(sandbox: Sandbox) -> None:
    """Setting a description is "make it so": sending it again is safe."""
    iid = new_issue(sandbox, description="- [ ] a")
    sandbox.faults.fail_next("PUT", ISSUE_RE, 502, after_commit=True)
    updated = client(sandbox).update_issue(sandbox.project_path, iid, {"description": "- [x] a"})
    assert updated.description == "- [x] a"
    assert [entry[2] for entry in log(sandbox)] == [502, 200]


# --- no blind replay of creates -------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_create_issue_is_not_replayed_after_a_lost_answer(sandbox: Sandbox, status: int) -> None:
    sandbox.faults.fail_next("POST", r"/issues$", status, after_commit=True)
    with pytest.raises(GitLabError) as caught:
        client(sandbox).create_issue(sandbox.project_path, {"title": "Once only"})
    assert caught.value.details["ambiguous"] is True
    assert caught.value.exit_code == ExitCode.GITLAB
    assert "may or may not have been done" in caught.value.one_line()
    assert log(sandbox) == [("POST", "/api/v4/projects/acme%2Fplatform%2Frollouts/issues", status)]
    assert sandbox.count_issues(title="Once only") == 1


def test_create_issue_failing_before_commit_is_also_ambiguous_and_creates_nothing(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next("POST", r"/issues$", 502)
    with pytest.raises(GitLabError) as caught:
        client(sandbox).create_issue(sandbox.project_path, {"title": "Maybe"})
    assert caught.value.details["ambiguous"] is True
    assert len(sandbox.request_log) == 1
    assert sandbox.count_issues(title="Maybe") == 0


def test_create_note_dropped_after_commit_is_ambiguous(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.drop_next("POST", r"/notes$", after_commit=True)
    with pytest.raises(GitLabError) as caught:
        client(sandbox).create_note(sandbox.project_path, iid, "announce")
    assert caught.value.details["ambiguous"] is True
    assert caught.value.one_line().startswith("the connection dropped while trying to post a comment on")
    assert [note["body"] for note in sandbox.notes(None, iid)] == ["announce"]
    assert len(sandbox.request_log) == 1


def test_create_note_timing_out_is_ambiguous_and_sent_once(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.delay("POST", r"/notes$", 1.0, count=1)
    api = client(sandbox, timeout=0.3)
    with pytest.raises(GitLabError) as caught:
        api.create_note(sandbox.project_path, iid, "late")
    assert caught.value.details["ambiguous"] is True
    assert "no answer within 0.3 s" in caught.value.message
    assert api.request_count() == 1
    # the server finishes the slow request after we gave up on it
    sandbox.wait_for_requests(bool, timeout=10)
    assert [note["body"] for note in sandbox.notes(None, iid)] == ["late"]


def test_create_rate_limited_is_retried_because_429_is_a_refusal(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next("POST", r"/issues$", 429, retry_after=3)
    waits = Waits()
    issue = client(sandbox, waits=waits).create_issue(sandbox.project_path, {"title": "After the wait"})
    assert issue.title == "After the wait"
    assert [entry[2] for entry in log(sandbox)] == [429, 201]
    assert len(waits) == 1
    assert waits[0] >= 3
    assert sandbox.count_issues(title="After the wait") == 1


def test_notes_are_paced_by_their_own_limiter(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    waits = Waits()
    notes = RateLimiter(60, burst=1, clock=lambda: 0.0, sleep=waits)
    api = client(sandbox, notes_limiter=notes)
    api.get_issue(sandbox.project_path, iid)
    api.create_note(sandbox.project_path, iid, "one")
    assert waits == []
    api.list_notes(sandbox.project_path, iid)  # reads do not spend note tokens
    api.create_note(sandbox.project_path, iid, "two")
    assert len(waits) == 1
    assert waits[0] == pytest.approx(60 / 59)


# --- errors ---------------------------------------------------------------------------------------

SECRET = "glpat-THIS-IS-A-SECRET-42"


def test_bad_token_is_one_line_without_the_token(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        client(sandbox, token=SECRET).get_issue(sandbox.project_path, 1)
    error = caught.value
    assert error.one_line() == (
        "GitLab rejected the token (401). "
        "set GITLAB_TOKEN to a personal/project access token with the api scope "
        "(the one from GITLAB_TOKEN is wrong, expired or revoked)"
    )
    assert SECRET not in f"{error.one_line()} {error.details} {error!r}"
    assert error.__cause__ is None
    assert error.__suppress_context__  # no python-gitlab exception chained in for --debug to print


def test_no_token(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError, match=r"GitLab wants a token to read the current user \(401\)"):
        client(sandbox, token="", kind="private").current_user()


def test_not_found_says_which_of_project_and_issue_is_missing(sandbox: Sandbox) -> None:
    """GitLab's 404 body tells: `404 Project Not Found`, or `404 Not found` for an issue of a project that
    is there (the sandbox's older `404 Issue Not Found` reads the same)."""
    with pytest.raises(GitLabError) as caught:
        client(sandbox).get_issue(sandbox.project_path, 999)
    assert caught.value.message == (
        "issue #999 in project acme/platform/rollouts not found, or you lack access (404)"
    )
    assert caught.value.status == 404
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("check the issue number")
    with pytest.raises(GitLabError) as caught:
        client(sandbox).get_issue("no/such", 1)
    assert caught.value.message == "project no/such not found, or you lack access (404)"
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("check --project")
    with pytest.raises(GitLabError, match=r"^issue #999 in project acme/platform/rollouts not found"):
        client(sandbox).list_notes(sandbox.project_path, 999)
    older = Call("get", "/projects/g%2Fp/issues/7", "read issue g/p#7", "project g/p or its issue #7",
                 project="g/p", iid=7)  # fmt: skip
    assert which_is_missing(older, "404 Issue Not Found")[0] == "issue #7 in project g/p"  # older GitLab
    assert which_is_missing(older, "404 Not Found")[0] == "project g/p or its issue #7"  # a missing route


def test_read_only_token_cannot_write(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        client(sandbox, "reporter").create_issue(sandbox.project_path, {"title": "nope"})
    assert caught.value.one_line() == (
        "GitLab refused to create an issue in acme/platform/rollouts (403): insufficient_scope. "
        "the token needs the api scope (read_api cannot write) and the Developer role on the project"
    )


def test_job_token_reads_issues_but_cannot_write(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    job = client(sandbox, "job", kind="job")
    assert job.get_issue(sandbox.project_path, iid).iid == iid
    expected = (
        "CI_JOB_TOKEN can read issues but not write them. "
        "set GITLAB_TOKEN to a project access token with the api scope"
    )
    with pytest.raises(GitLabError) as caught:
        job.create_note(sandbox.project_path, iid, "hi")
    assert caught.value.one_line() == expected
    with pytest.raises(GitLabError) as caught:
        job.update_issue(sandbox.project_path, iid, {"description": "x"})
    assert caught.value.one_line() == expected
    with pytest.raises(GitLabError, match=r"CI_JOB_TOKEN may not read the comments of"):
        job.list_notes(sandbox.project_path, iid)
    assert sandbox.tokens["job"] not in caught.value.one_line()


def test_validation_errors_are_flattened_to_one_line(sandbox: Sandbox) -> None:
    with pytest.raises(GitLabError) as caught:
        client(sandbox).create_issue(sandbox.project_path, {"description": "no title"})
    assert caught.value.one_line() == (
        "GitLab refused to create an issue in acme/platform/rollouts (400): title is missing. "
        "fix the value GitLab names above"
    )


@pytest.mark.parametrize(
    ("message", "flat"),
    [
        ("title is missing", "title is missing"),
        (
            {"title": ["can't be blank"], "description": ["is too long"]},
            "title can't be blank; description is too long",
        ),
        ({"error": "Spam detected"}, "Spam detected"),
        ({"base": ["Something went\nwrong"]}, "Something went wrong"),
        (b"Retry later\n", "Retry later"),
        ("x" * 400, "x" * 300 + "…"),
        (
            "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>…</body></html>",
            "502 Bad Gateway",
        ),
        (None, ""),
    ],
)
def test_flatten_message(message: object, flat: str) -> None:
    assert flatten_message(message) == flat


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_gitlab(sandbox: Sandbox) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    waits = Waits()
    api = client(sandbox, url=url, waits=waits)
    with pytest.raises(GitLabError) as caught:
        api.create_issue("a/b", {"title": "x"})
    assert caught.value.one_line() == f"cannot reach {url}: connection refused. check --url / GITLAB_URL"
    # refused connections never carried the request, so even a create may try again
    assert not caught.value.details.get("ambiguous")
    # ... but only once, quickly: nothing listening there is not going to heal in seconds (audit #27)
    assert api.request_count() == 2
    assert len(waits) == 1
    assert waits[0] <= RetryPolicy().base


def test_unreachable_names_where_the_url_came_from() -> None:
    conn = Connection(
        url=f"http://127.0.0.1:{free_port()}", token_kind=None, token=None, url_source="CI_SERVER_URL"
    )
    with pytest.raises(GitLabError) as caught:
        connect(conn, 2.0, retry=RetryPolicy(max_attempts=1)).current_user()
    assert caught.value.hint == "check --url / GITLAB_URL (this URL came from CI_SERVER_URL)"


def test_one_client_shared_by_eight_threads(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox)
    sandbox.faults.fail_next("GET", ISSUE_RE, 503, count=4)
    api = client(sandbox)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                assert api.get_issue(sandbox.project_path, iid).iid == iid
        except BaseException as exc:  # collected for the main thread to report
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert api.request_count() == len(sandbox.request_log) == 40 + 4


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def tls_sandbox(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The same sandbox app served over HTTPS with a self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = make_server(
        "127.0.0.1",
        0,
        sandbox.app,
        threaded=True,
        request_handler=QuietHandler,
        ssl_context=(str(cert), str(key)),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_untrusted_certificate_says_to_pass_a_ca_bundle(
    sandbox: Sandbox, tls_sandbox: tuple[str, Path]
) -> None:
    url, cert = tls_sandbox
    port = url.rsplit(":", 1)[1]
    with pytest.raises(GitLabError) as caught:
        client(sandbox, url=url).current_user()
    assert caught.value.one_line() == (
        f"TLS certificate of 127.0.0.1:{port} not trusted. pass --ca-bundle FILE for a private CA"
    )
    assert client(sandbox, url=url, ca_bundle=str(cert)).current_user().username == "dev"


# --- open_client ----------------------------------------------------------------------------------


def test_open_client_in_sandbox_mode_persists_and_stops(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    state = AppState(env={}, sandbox=True, sandbox_db=db)
    with open_client(state, need_write=True) as gl:
        created = gl.api.create_issue(gl.project, {"title": "Persisted"})
        url = gl.connection.url
        assert gl.project == "acme/platform/rollouts"
    assert db.is_file()
    assert gl.connection.token in state.secrets
    with pytest.raises(GitLabError, match="cannot reach"):
        connect(gl.connection, 2.0, retry=RetryPolicy(max_attempts=1)).current_user()  # stopped
    # a later run listens on another port; an issue URL printed by the first run still works
    with open_client(
        AppState(env={}, sandbox=True, sandbox_db=db), need_write=False, ref=created.web_url
    ) as gl2:
        assert gl2.issue.iid == created.iid
        assert gl2.api.get_issue(gl2.issue.project, gl2.issue.iid).title == "Persisted"
    with (
        open_client(AppState(env={}, sandbox=True, sandbox_db=db), need_write=False, ref="#1") as gl3,
    ):
        assert gl3.issue.project == "acme/platform/rollouts"
        assert gl3.admin_api().current_user().is_admin
    assert url.startswith("http://127.0.0.1:")


def test_open_client_against_a_served_gitlab(sandbox: Sandbox) -> None:
    iid = new_issue(sandbox, "Via env")
    env = {
        "GITLAB_URL": str(sandbox.url),
        "GITLAB_TOKEN": sandbox.tokens["developer"],
        "CI_PROJECT_PATH": "acme/platform/rollouts",
    }
    state = AppState(env=env)
    with open_client(state, need_write=True, ref=str(iid)) as gl:
        assert gl.api.get_issue(gl.issue.project, gl.issue.iid).title == "Via env"
        with pytest.raises(UsageError, match="GITLAB_ADMIN_TOKEN is not set"):
            gl.admin_api()
    with open_client(
        state, need_write=False, ref=f"{sandbox.url}/acme/platform/rollouts/-/issues/{iid}#note_1"
    ) as gl:
        assert gl.issue.project == "acme/platform/rollouts"
    admin_state = AppState(env={**env, "GITLAB_ADMIN_TOKEN": sandbox.tokens["admin"]})
    with open_client(admin_state, need_write=False) as gl:
        assert gl.admin_api().current_user().is_admin
    assert sandbox.tokens["admin"] in admin_state.secrets  # masked in any output from now on


def test_sandbox_and_url_exclude_each_other(tmp_path: Path) -> None:
    state = AppState(env={}, sandbox=True, sandbox_db=tmp_path / "s.sqlite3", url="https://gitlab.com")
    with (
        pytest.raises(UsageError, match="--sandbox and --url exclude each other"),
        open_client(state, need_write=False),
    ):
        pass


def test_open_client_refuses_a_write_with_the_job_token_before_any_request(sandbox: Sandbox) -> None:
    env = {"CI_SERVER_URL": str(sandbox.url), "CI_JOB_TOKEN": sandbox.tokens["job"]}
    sandbox.clear_log()
    with (
        pytest.raises(GitLabError, match="CI_JOB_TOKEN can read issues but not write them"),
        open_client(AppState(env=env), need_write=True, project="acme/platform/rollouts"),
    ):
        pass
    assert sandbox.request_log == []
