"""Fault injection, rate limiting and the request log, each seen by a real client over HTTP."""

from __future__ import annotations

import gitlab
import pytest
import requests

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP


def project_of(sb: Sandbox, **options: object) -> object:
    gl = gitlab.Gitlab(sb.url, private_token=sb.tokens["developer"], **options)  # type: ignore[arg-type]
    return gl.projects.get(sb.project_path, lazy=True)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fail_before_commit_writes_nothing(sandbox: Sandbox, status: int) -> None:
    sandbox.faults.fail_next("POST", r"/issues$", status)
    project = project_of(sandbox)
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        project.issues.create({"title": "t"})  # type: ignore[attr-defined]
    assert caught.value.response_code == status
    assert sandbox.count_issues() == 0
    project.issues.create({"title": "t"})  # type: ignore[attr-defined]  # the fault was used up
    assert sandbox.count_issues() == 1


def test_fail_after_commit_loses_the_answer_but_keeps_the_write(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next("POST", r"/issues$", 500, after_commit=True)
    with pytest.raises(gitlab.GitlabCreateError):
        project_of(sandbox).issues.create({"title": "created but unanswered"})  # type: ignore[attr-defined]
    assert sandbox.count_issues(title="created but unanswered") == 1


def test_transient_errors_are_retried_by_python_gitlab(sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    sandbox.faults.fail_next("GET", r"/issues/1$", 502, count=2)
    issue = project_of(sandbox, retry_transient_errors=True).issues.get(1)  # type: ignore[attr-defined]
    assert issue.iid == 1
    statuses = [entry.status for entry in sandbox.request_log if entry.path.endswith("/issues/1")]
    assert statuses == [502, 502, 200]


def test_429_with_retry_after_is_obeyed(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.faults.fail_next("GET", r"/projects/42$", 429, retry_after=0)
    answer = api("GET", "/projects/42")
    assert (answer.status, answer.headers["Retry-After"]) == (429, "0")
    sandbox.faults.fail_next("GET", r"/user$", 429, retry_after=0)
    gl = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["developer"])
    assert gl.http_get("/user")["username"] == "dev"  # type: ignore[index]


def test_delay_makes_a_client_time_out(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.faults.delay("GET", r"/version$", 1.0, count=1)
    with pytest.raises(requests.Timeout):
        api("GET", "/version", timeout=0.2)
    assert api("GET", "/version", timeout=5).status == 200


def test_global_latency(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.faults.latency = 1.0
    with pytest.raises(requests.Timeout):
        api("GET", "/version", timeout=0.2)
    sandbox.faults.latency = 0.0
    assert api("GET", "/version").status == 200


def test_drop_closes_the_connection_without_an_answer(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.faults.drop_next("POST", r"/issues$")
    with pytest.raises(requests.ConnectionError):
        api("POST", "/projects/42/issues", json={"title": "lost"})
    assert sandbox.count_issues() == 0
    sandbox.faults.drop_next("POST", r"/issues$", after_commit=True)
    with pytest.raises(requests.ConnectionError):
        api("POST", "/projects/42/issues", json={"title": "kept"})
    assert sandbox.count_issues(title="kept") == 1
    assert [e.status for e in sandbox.request_log if e.method == "POST"] == [0, 0]


def test_fault_matches_the_decoded_path_too(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.faults.fail_next("GET", r"acme/platform/rollouts/issues$", 503)
    assert api("GET", "/projects/acme%2Fplatform%2Frollouts/issues").status == 503


def test_someone_edits_between_read_and_write(sandbox: Sandbox) -> None:
    """The client reads, another person ticks a box, the client writes its stale text: last writer wins."""
    sandbox.create_issue(title="t", description="- [ ] enable\n- [ ] announce")
    sandbox.faults.edit_between_read_and_write(
        sandbox.project_path, 1, lambda t: t.replace("[ ] announce", "[x] announce")
    )
    project = project_of(sandbox)
    read = project.issues.get(1)  # type: ignore[attr-defined]
    assert read.description == "- [ ] enable\n- [ ] announce"  # the client saw the old text
    assert sandbox.get_issue(None, 1)["description"] == "- [ ] enable\n- [x] announce"
    person = [n for n in sandbox.notes(None, 1) if n["system"]]
    assert [(n["author"]["username"], n["body"]) for n in person] == [
        ("alice", "marked the checklist item **announce** as completed")
    ]
    project.issues.update(1, {"description": "- [x] enable\n- [ ] announce"})  # type: ignore[attr-defined]
    assert sandbox.get_issue(None, 1)["description"] == "- [x] enable\n- [ ] announce"


def test_rate_limit_headers_and_429(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.rate_limit(2)
    first = api("GET", "/version")
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert int(first.headers["RateLimit-Reset"]) > 1_600_000_000  # a Unix time
    api("GET", "/version")
    third = api("GET", "/version")
    assert third.status == 429
    assert int(third.headers["Retry-After"]) >= 1
    assert third.headers["RateLimit-Remaining"] == "0"
    sandbox.rate_limit(None)
    assert "RateLimit-Limit" not in api("GET", "/version").headers


def test_request_log_records_method_path_query_status(sandbox: Sandbox, api: PlainHTTP) -> None:
    api("GET", "/projects/42/issues", params={"per_page": 5})
    api("GET", "/projects/4242")
    log = sandbox.request_log
    assert [(e.method, e.path, e.query, e.status) for e in log] == [
        ("GET", "/api/v4/projects/42/issues", "per_page=5", 200),
        ("GET", "/api/v4/projects/4242", "", 404),
    ]
    assert all(e.duration >= 0 for e in log)
    sandbox.clear_log()
    assert sandbox.request_log == []


def test_http_control_path_only_when_enabled(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.url}/-/sandbox/info", timeout=5).status_code == 404
    controlled = Sandbox(control=True)
    control = requests.Session()
    control.headers["Sandbox-Secret"] = str(controlled.control_secret)
    with controlled.serve() as url:
        armed = control.post(
            f"{url}/-/sandbox/faults",
            json={"kind": "fail", "method": "POST", "path_regex": "/issues$", "status": 503},
            timeout=5,
        )
        assert armed.status_code == 201
        headers = {"PRIVATE-TOKEN": controlled.tokens["developer"]}
        create = requests.post(
            f"{url}/api/v4/projects/42/issues", json={"title": "t"}, headers=headers, timeout=5
        )
        assert create.status_code == 503
        control.post(
            f"{url}/-/sandbox/faults",
            json={"kind": "edit", "project": "acme/platform/rollouts", "iid": 1, "append": "\nedited"},
            timeout=5,
        )
        requests.post(f"{url}/api/v4/projects/42/issues", json={"title": "t"}, headers=headers, timeout=5)
        requests.get(f"{url}/api/v4/projects/42/issues/1", headers=headers, timeout=5)
        assert controlled.get_issue(None, 1)["description"] == "\nedited"
        log = control.get(f"{url}/-/sandbox/log", timeout=5).json()
        assert [entry["status"] for entry in log] == [503, 201, 200]
        control.post(f"{url}/-/sandbox/rate_limit", json={"limit": 1}, timeout=5)
        requests.get(f"{url}/api/v4/version", headers=headers, timeout=5)
        assert requests.get(f"{url}/api/v4/version", headers=headers, timeout=5).status_code == 429
    controlled.close()
