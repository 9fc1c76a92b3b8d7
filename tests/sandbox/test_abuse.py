"""The sandbox under attack: malformed and oversized bodies, foreign Host and Origin, tokens in URLs.

Raw `http.client` and sockets, because `requests` would fix up the very things being tried (the Host
header, the Content-Length, the chunking). Each refusal is checked where a user would see it: the
status and GitLab-shaped body, nothing written, and the sandbox still answering afterwards.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.json_body import INVALID_JSON
from tests.conftest import PlainHTTP

ISSUES = "/api/v4/projects/42/issues"
TEN_MIB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Raw:
    status: int
    headers: dict[str, str]
    body: Any


def port_of(sb: Sandbox) -> int:
    assert sb.url is not None
    return int(urlsplit(sb.url).port or 0)


def send(
    sb: Sandbox,
    method: str,
    path: str,
    *,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | Iterator[bytes] | None = None,
    token: bool = True,
    chunked: bool = False,
) -> Raw:
    """One request with exactly these headers (`host` None: the sandbox's own 127.0.0.1:port)."""
    conn = http.client.HTTPConnection("127.0.0.1", port_of(sb), timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port_of(sb)}")
        if token:
            conn.putheader("PRIVATE-TOKEN", sb.tokens["developer"])
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            assert body is not None
            assert not isinstance(body, bytes)
            for piece in body:
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        else:
            data = body if isinstance(body, bytes) else b""
            if body is not None:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data if body is not None else None)
        response = conn.getresponse()
        raw = response.read()
        try:
            decoded: Any = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode("utf-8", "replace")
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, decoded)
    finally:
        conn.close()


def post_json(
    sb: Sandbox, path: str, text: bytes, *, headers: dict[str, str] | None = None, **extra: Any
) -> Raw:
    sent = {"Content-Type": "application/json", **(headers or {})}
    return send(sb, "POST", path, headers=sent, body=text, **extra)


def still_serving(api: PlainHTTP) -> None:
    assert api("GET", "/version").status == 200


# ---- malformed JSON: GitLab's 400, never a 500 or a crashed thread ------------------------------------

DEEP = b'{"title": "t", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
MALFORMED = [
    pytest.param(b'{"title": "t", ', INVALID_JSON, id="truncated"),
    pytest.param(b'{"title": "\\ud800"}', INVALID_JSON, id="lone surrogate"),
    pytest.param(b'{"title": "\\udfff\\ud800"}', INVALID_JSON, id="reversed surrogates"),
    pytest.param(b'{"title": "t", "weight": NaN}', INVALID_JSON, id="NaN"),
    pytest.param(b'{"title": "t", "weight": 1e999}', INVALID_JSON, id="infinite number"),
    pytest.param(b'{"title": "\xff\xfe"}', INVALID_JSON, id="invalid UTF-8"),
    pytest.param(DEEP, "Parameters nested too deeply", id="100k deep"),
    pytest.param(
        b'{"title": "t", "x": [' + b"0," * 50_000 + b"0]}", "Array parameter too large", id="50,001 items"
    ),
    pytest.param(
        b'{"title": "t", "x": [' + b",".join([b"[0]"] * 60_000) + b"]}",
        "Too many total parameters",
        id="100k values",
    ),
]


@pytest.mark.parametrize(("body", "error"), MALFORMED)
def test_malformed_json_is_gitlabs_400_and_writes_nothing(
    sandbox: Sandbox, api: PlainHTTP, body: bytes, error: str
) -> None:
    answer = post_json(sandbox, ISSUES, body)
    assert (answer.status, answer.body) == (400, {"error": error})
    assert answer.headers["content-type"] == "application/json"
    assert sandbox.count_issues() == 0
    still_serving(api)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v4/projects/42/issues/1"),
        ("POST", "/api/v4/projects/42/issues/1/notes"),
        ("POST", "/api/v4/features/some_flag"),
    ],
)
def test_every_json_route_answers_deep_and_surrogate_bodies_with_400(
    sandbox: Sandbox, api: PlainHTTP, method: str, path: str
) -> None:
    sandbox.create_issue(title="kept", description="- [ ] one")
    before = sandbox.get_issue(None, 1)
    for body in (DEEP, b'{"body": "\\ud800", "description": "\\ud800", "value": "\\ud800"}'):
        answer = send(
            sandbox,
            method,
            path,
            headers={"Content-Type": "application/json", "PRIVATE-TOKEN": sandbox.tokens["admin"]},
            body=body,
            token=False,
        )
        assert answer.status == 400, answer
        assert set(answer.body) == {"error"}
    assert sandbox.get_issue(None, 1) == before
    assert [n for n in sandbox.notes(None, 1) if not n["system"]] == []
    assert sandbox.features() == {}
    still_serving(api)


def test_json_up_to_gitlabs_limits_is_accepted(sandbox: Sandbox) -> None:
    """The limits are GitLab's (32 levels, 50,000 items), not tighter: such bodies still create issues."""
    nested = b"[" * 31 + b"]" * 31
    answer = post_json(sandbox, ISSUES, b'{"title": "deep but allowed", "x": ' + nested + b"}")
    assert answer.status == 201, answer.body
    wide = b"[" + b"0," * 49_999 + b"0]"
    assert post_json(sandbox, ISSUES, b'{"title": "wide", "x": ' + wide + b"}").status == 201
    pair = post_json(sandbox, ISSUES, b'{"title": "\\ud83d\\ude80 launch"}')
    assert (pair.status, pair.body["title"]) == (201, "\U0001f680 launch")


def test_a_deep_pagination_cursor_is_a_400(sandbox: Sandbox, api: PlainHTTP) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b"[" * 30_000).decode()
    answer = api("GET", "/projects/42/issues", params={"pagination": "keyset", "cursor": cursor})
    assert answer.status == 400
    assert answer.body == {"error": "cursor is invalid"}
    still_serving(api)


# ---- body size: 413 before reading, bounded for chunked bodies ---------------------------------------


def test_a_declared_200_mb_body_is_refused_before_it_is_sent(sandbox: Sandbox, api: PlainHTTP) -> None:
    """The answer comes after the headers alone: the sandbox never waits for (or holds) the 200 MB."""
    with socket.create_connection(("127.0.0.1", port_of(sandbox)), timeout=20) as client:
        head = (
            f"POST {ISSUES} HTTP/1.1\r\nHost: 127.0.0.1:{port_of(sandbox)}\r\n"
            f"PRIVATE-TOKEN: {sandbox.tokens['developer']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
        )
        client.sendall(head.encode() + b'{"title": "' + b"x" * 1024)
        reply = b""
        while b"\r\n\r\n" not in reply:
            piece = client.recv(65536)
            assert piece, "the sandbox closed the connection without an answer"
            reply += piece
    status_line, _, _ = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    assert b"connection: close" in reply.lower()
    assert sandbox.count_issues() == 0
    assert [entry.status for entry in sandbox.request_log] == [413]
    still_serving(api)


def test_a_chunked_body_past_10_mib_is_refused(sandbox: Sandbox, api: PlainHTTP) -> None:
    piece = b" " * 65536

    def pieces() -> Iterator[bytes]:
        yield b'{"title": "chunked", "description": "'
        for _ in range(TEN_MIB // len(piece) + 1):
            yield piece
        yield b'"}'

    answer = send(
        sandbox, "POST", ISSUES, headers={"Content-Type": "application/json"}, body=pieces(), chunked=True
    )
    assert answer.status == 413
    assert sandbox.count_issues() == 0
    still_serving(api)


def test_a_chunked_body_under_the_limit_is_read_whole(sandbox: Sandbox) -> None:
    def pieces() -> Iterator[bytes]:
        yield b'{"title": "chunked", '
        yield b'"description": "- [ ] one"}'

    answer = send(
        sandbox, "POST", ISSUES, headers={"Content-Type": "application/json"}, body=pieces(), chunked=True
    )
    assert answer.status == 201
    assert sandbox.get_issue(None, 1)["description"] == "- [ ] one"


def test_the_largest_description_gitlab_allows_fits_in_the_body_limit(sandbox: Sandbox) -> None:
    """1,048,576 characters, each escaped as \\u00e9 in JSON (6 MiB), and a 600 kB form field."""
    description = "\u00e9" * 1_048_576
    body = json.dumps({"title": "biggest", "description": description}).encode()
    assert len(body) > 6 * 1024 * 1024
    answer = post_json(sandbox, ISSUES, body)
    assert answer.status == 201
    assert sandbox.get_issue(None, 1)["description"] == description
    form = b"title=form&description=" + b"a" * 600_000
    sent = send(
        sandbox, "POST", ISSUES, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=form
    )
    assert sent.status == 201
    assert len(sandbox.get_issue(None, 2)["description"]) == 600_000


# ---- Host: loopback names with the server's own port only (DNS rebinding) ----------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.2:{port}", "[::1]:1",
     "localhost.:{port}", "127.0.0.1:{port}@evil.example"],
)  # fmt: skip
def test_a_foreign_host_header_is_421_and_nothing_happens(sandbox: Sandbox, host: str) -> None:
    answer = post_json(sandbox, ISSUES, b'{"title": "rebound"}', host=host.format(port=port_of(sandbox)))
    assert answer.status == 421
    assert answer.body["message"].startswith("421 Misdirected Request")
    assert f"127.0.0.1:{port_of(sandbox)}" in answer.body["message"]
    assert sandbox.count_issues() == 0


def test_an_absolute_request_target_names_the_host_too(sandbox: Sandbox) -> None:
    answer = send(sandbox, "GET", "http://evil.example/api/v4/version")
    assert answer.status == 421


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "[::1]"])
def test_loopback_names_with_the_own_port_are_served(sandbox: Sandbox, name: str) -> None:
    answer = post_json(sandbox, ISSUES, b'{"title": "ok"}', host=f"{name}:{port_of(sandbox)}")
    assert answer.status == 201


def test_urls_in_answers_come_from_the_server_not_the_host_header(sandbox: Sandbox) -> None:
    for index in range(3):
        sandbox.create_issue(title=f"issue {index}")
    assert sandbox.url is not None
    answer = send(sandbox, "GET", f"{ISSUES}?per_page=1", host=f"LOCALHOST:{port_of(sandbox)}")
    assert answer.status == 200
    assert answer.body[0]["web_url"].startswith(f"{sandbox.url}/acme/platform/rollouts/-/issues/")
    links = answer.headers["link"]
    assert links.count(f"<{sandbox.url}/api/v4/projects/42/issues?") == 3
    assert "LOCALHOST" not in json.dumps(answer.body) + links
    assert "localhost" not in (json.dumps(answer.body) + links).lower()


# ---- Origin: a browser page on another site gets nothing --------------------------------------------


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}", "http://localhost",
     "http://127.0.0.1:{port}/path", "http://127.0.0.1:{port}.evil.example"],
)  # fmt: skip
def test_a_foreign_origin_is_refused(sandbox: Sandbox, origin: str) -> None:
    answer = post_json(
        sandbox, ISSUES, b'{"title": "csrf"}', headers={"Origin": origin.format(port=port_of(sandbox))}
    )
    assert answer.status == 403
    assert answer.body["message"].startswith("403 Forbidden")
    assert sandbox.count_issues() == 0


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]"])
def test_a_same_origin_request_is_served(sandbox: Sandbox, name: str) -> None:
    origin = f"http://{name}:{port_of(sandbox)}"
    answer = post_json(sandbox, ISSUES, b'{"title": "same origin"}', headers={"Origin": origin})
    assert answer.status == 201


def test_a_cross_site_fetch_without_origin_is_refused(sandbox: Sandbox) -> None:
    """A browser's `Sec-Fetch-Site` says where a request came from even when it sends no Origin."""
    refused = send(sandbox, "GET", f"{ISSUES}/1", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status == 403
    assert send(sandbox, "GET", "/api/v4/version", headers={"Sec-Fetch-Site": "same-origin"}).status == 200


# ---- tokens: a write needs a header (no cross-site form can send one) -------------------------------


def test_a_cross_site_form_post_with_private_token_creates_nothing(sandbox: Sandbox) -> None:
    token = sandbox.tokens["developer"]
    form = f"title=forged&private_token={token}".encode()
    in_body = send(
        sandbox,
        "POST",
        ISSUES,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=form,
        token=False,
    )
    in_query = send(
        sandbox,
        "POST",
        f"{ISSUES}?private_token={token}&title=forged",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"",
        token=False,
    )
    job = send(sandbox, "POST", f"{ISSUES}?job_token={sandbox.tokens['job']}&title=forged", token=False)
    for answer in (in_body, in_query, job):
        assert answer.status == 401
        assert "PRIVATE-TOKEN header" in answer.body["message"]
    assert sandbox.count_issues() == 0


def test_reads_keep_gitlabs_private_token_parameter(sandbox: Sandbox) -> None:
    sandbox.create_issue(title="readable")
    answer = send(sandbox, "GET", f"{ISSUES}/1?private_token={sandbox.tokens['developer']}", token=False)
    assert (answer.status, answer.body["title"]) == (200, "readable")


def test_a_write_with_the_header_ignores_a_token_parameter(sandbox: Sandbox) -> None:
    answer = post_json(sandbox, f"{ISSUES}?private_token=whatever", b'{"title": "header wins"}')
    assert answer.status == 201


# ---- the request log keeps no token -----------------------------------------------------------------


def test_the_request_log_filters_token_parameters(sandbox: Sandbox, api: PlainHTTP) -> None:
    secret = sandbox.tokens["developer"]
    query = {"private_token": secret, "per_page": "5", "job_token": sandbox.tokens["job"]}
    assert api("GET", "/projects/42/issues", as_=None, params=query).status == 200
    assert api("GET", "/version", as_=None, params={"access_token": "oauth-secret"}).status == 401
    api("GET", "/version")  # a header token: never stored either
    log = sandbox.request_log
    assert [entry.query for entry in log] == [
        "private_token=[FILTERED]&per_page=5&job_token=[FILTERED]",
        "access_token=[FILTERED]",
        "",
    ]
    stored = repr(log)
    for token in (secret, sandbox.tokens["job"], "oauth-secret"):
        assert token not in stored


def test_a_quick_action_line_of_a_million_blanks_is_parsed_in_one_pass(sandbox: Sandbox) -> None:
    """A command whose argument is followed by a long run of blanks: once quadratic, now a plain 201."""
    sandbox.create_label("a")
    sandbox.create_label("b")
    description = "/label ~a" + " \t" * 500_000 + "~b\nkept"
    answer = post_json(sandbox, ISSUES, json.dumps({"title": "t", "description": description}).encode())
    assert answer.status == 201
    assert answer.body["labels"] == ["a", "b"]
    assert answer.body["description"] == "kept"
