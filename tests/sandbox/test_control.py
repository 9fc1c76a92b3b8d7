"""The HTTP control path (`sandbox serve --control`): its own secret, JSON only, no regex that can hang it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gl_rollout.sandbox import Sandbox

OWN = "the sandbox's own secret"
FAIL_ISSUES = {"kind": "fail", "method": "POST", "path_regex": "/issues$", "status": 503}


@pytest.fixture
def controlled() -> Iterator[Sandbox]:
    sb = Sandbox(control=True)
    sb.start()
    try:
        yield sb
    finally:
        sb.close()


def control(
    sb: Sandbox,
    method: str,
    path: str,
    secret: str | None = OWN,
    headers: dict[str, str] | None = None,
    **kwargs: object,
) -> requests.Response:
    """One request to the control path, with this sandbox's secret unless `secret` says otherwise."""
    sent = dict(headers or {})
    if secret is not None:
        sent["Sandbox-Secret"] = str(sb.control_secret) if secret == OWN else secret
    url = f"{sb.url}/-/sandbox{path}"
    return requests.request(method, url, headers=sent, timeout=10, **kwargs)  # type: ignore[arg-type]


def armed(sb: Sandbox) -> list[dict[str, object]]:
    return list(control(sb, "GET", "/faults").json()["armed"])


def test_every_control_request_needs_the_secret(controlled: Sandbox) -> None:
    secret = controlled.control_secret
    assert secret is not None
    assert len(secret) >= 24
    assert Sandbox(control=True).control_secret != secret  # random per sandbox
    for given in (None, "", "wrong", secret[:-1], secret + "x"):
        for method, path in (("POST", "/faults"), ("GET", "/log"), ("GET", "/info"), ("DELETE", "/faults")):
            answer = control(controlled, method, path, secret=given, json=FAIL_ISSUES)
            assert answer.status_code == 401, (given, path)
            assert "Sandbox-Secret" in answer.json()["message"]
    assert armed(controlled) == []
    assert control(controlled, "POST", "/faults", json=FAIL_ISSUES).status_code == 201
    assert len(armed(controlled)) == 1


def test_no_secret_without_control(sandbox: Sandbox) -> None:
    assert sandbox.control_secret is None
    assert requests.get(f"{sandbox.url}/-/sandbox/info", timeout=5).status_code == 404


def test_the_control_path_takes_json_only(controlled: Sandbox) -> None:
    """A cross-site HTML form can only send form or text bodies: none of them arms anything."""
    as_form = control(controlled, "POST", "/faults", data=FAIL_ISSUES)
    assert as_form.status_code == 415
    assert as_form.json() == {
        "error": "The provided content-type 'application/x-www-form-urlencoded' is not supported."
    }
    as_text = control(
        controlled,
        "POST",
        "/faults",
        data='{"kind": "latency", "seconds": 5}',
        headers={"Content-Type": "text/plain"},
    )
    assert as_text.status_code == 415
    from_query = control(controlled, "POST", "/faults", params=FAIL_ISSUES, json={})
    assert from_query.status_code == 400
    assert control(controlled, "POST", "/rate_limit", data={"limit": "1"}).status_code == 415
    assert control(controlled, "POST", "/quirks", data={"time_format": "seconds"}).status_code == 415
    broken = control(
        controlled, "POST", "/faults", data=b'{"kind": "fail"', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert armed(controlled) == []
    assert controlled.quirks.time_format == "ms"
    assert controlled.app.limiter is None


@pytest.mark.parametrize(
    "pattern",
    ["(a+)+$", "(a|aa)*b", "^(\\d+)*$", ".*", "a+", "x{1,}", "\\d{1,1000}", "(?:a)", "a|b", "(a)\\1",
     "\\d{0,30}\\d{0,30}\\d{0,30}", "a??", "[a-z]{1,5}+", "x" * 201, "^/issues/$$", "a{2,1}", "[abc"],
)  # fmt: skip
def test_regexes_that_could_backtrack_are_refused(controlled: Sandbox, pattern: str) -> None:
    answer = control(controlled, "POST", "/faults", json={**FAIL_ISSUES, "path_regex": pattern})
    assert answer.status_code == 400, pattern
    assert "path_regex" in answer.json()["error"]
    assert armed(controlled) == []


@pytest.mark.parametrize(
    "pattern",
    ["/issues$", "^/api/v4/projects/42/issues$", "/issues/\\d{1,6}/notes$", "acme%2Fplatform",
     "^/api/v4/projects/[0-9]{1,4}/issues/[0-9]{1,4}$", "/features/.{1,64}$", ""],
)  # fmt: skip
def test_anchored_literals_and_bounded_patterns_are_armed(controlled: Sandbox, pattern: str) -> None:
    answer = control(controlled, "POST", "/faults", json={**FAIL_ISSUES, "path_regex": pattern})
    assert answer.status_code == 201, answer.text
    assert armed(controlled)[0]["path_regex"] == pattern


def test_an_armed_bounded_pattern_still_fires(controlled: Sandbox) -> None:
    rule = {"kind": "fail", "method": "GET", "path_regex": "/issues/\\d{1,6}$", "status": 502, "count": 1}
    assert control(controlled, "POST", "/faults", json=rule).status_code == 201
    controlled.create_issue(title="t")
    headers = {"PRIVATE-TOKEN": controlled.tokens["developer"]}
    url = f"{controlled.url}/api/v4/projects/42/issues/1"
    assert requests.get(url, headers=headers, timeout=10).status_code == 502
    assert requests.get(url, headers=headers, timeout=10).status_code == 200


def test_the_hidden_notes_quirk_is_checked_the_same_way(controlled: Sandbox) -> None:
    assert control(controlled, "POST", "/quirks", json={"hidden_notes": "(x+)+y"}).status_code == 400
    assert controlled.quirks.hidden_notes is None
    assert control(controlled, "POST", "/quirks", json={"hidden_notes": "^secret"}).status_code == 200
    assert controlled.quirks.hidden_notes == "^secret"


def test_the_python_fault_api_keeps_full_regexes(sandbox: Sandbox) -> None:
    """Tests arm faults in-process with any regex; only the HTTP path is restricted."""
    sandbox.faults.fail_next("POST", r"/projects/(42|acme%2F.+)/issues$", 503)
    headers = {"PRIVATE-TOKEN": sandbox.tokens["developer"]}
    answer = requests.post(
        f"{sandbox.url}/api/v4/projects/42/issues", json={"title": "t"}, headers=headers, timeout=10
    )
    assert answer.status_code == 503
