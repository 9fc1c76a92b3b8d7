"""`advance --probe-url`: the URL probe against a real HTTP server on loopback (2xx healthy; an error
status, a refused connection, no answer in time and too many redirects unhealthy, each with a one-line
reason), what it sends (no credentials), the URL checks before any request (exit 2), `--settle`'s
reading, and `--probe` with `--probe-url` (both must be healthy)."""

from __future__ import annotations

import socket

import pytest

from gl_rollout.errors import ExitCode, UsageError
from gl_rollout.workflows.probe import (
    ProbeResult,
    check_probe_url,
    every_probe,
    parse_settle,
    url_probe,
)
from tests.health_server import Answer, health_server

SECRET = "glpat-probe-secret-123456"


def mask(text: str) -> str:
    return text.replace(SECRET, "[MASKED]")


def test_a_2xx_answer_is_healthy_and_its_first_lines_are_the_output() -> None:
    with health_server() as server:
        said = url_probe(server.answer("/health", Answer(200, "ok\nqueue depth 3\n")), mask)()
    assert said == ProbeResult(True, "HTTP 200 OK\nok\nqueue depth 3")


def test_an_error_status_is_unhealthy_with_the_body_masked_and_cut_short() -> None:
    body = "\n".join([f"error rate 7% token={SECRET}", *(f"line {n}" for n in range(2, 20)), "x" * 500])
    with health_server() as server:
        said = url_probe(server.answer("/health", Answer(503, body)), mask)()
    assert not said.healthy
    lines = said.output.splitlines()
    assert lines[0] == "HTTP 503 Service Unavailable"
    assert lines[1] == "error rate 7% token=[MASKED]"
    assert len(lines) == 1 + 5  # the status line and the body's first 5 lines
    assert SECRET not in said.output


def test_no_answer_within_the_timeout_is_unhealthy() -> None:
    with health_server() as server:
        said = url_probe(server.answer("/slow", Answer(hang=True)), mask, timeout=0.2)()
    assert not said.healthy
    assert said.output == f"no answer from {server.url}/slow within 0.2 s"


def test_a_refused_connection_is_unhealthy_with_its_reason() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    said = url_probe(f"http://127.0.0.1:{port}/health?key=abc", mask, timeout=2)()
    assert not said.healthy
    assert said.output.startswith(f"GET http://127.0.0.1:{port}/health failed: ")
    assert "refused" in said.output.lower()
    assert "key=abc" not in said.output  # a query may carry a key: messages show the URL without it


def test_a_few_redirects_are_followed_more_are_not_and_no_credentials_are_ever_sent() -> None:
    with health_server() as server:
        server.answer("/old", Answer(302, "", location=server.url + "/health"))
        server.answer("/health", Answer(200, "fine"))
        assert url_probe(server.url + "/old", mask)().healthy
        for n in range(5):  # a chain of 4 redirects: one more than a probe follows
            server.answer(f"/hop{n}", Answer(301, "", location=f"{server.url}/hop{n + 1}"))
        server.answer("/hop5", Answer(200, "never reached"))
        said = url_probe(server.url + "/hop0", mask, max_redirects=3)()
        assert not said.healthy
        assert said.output == "HTTP 301: not followed (more than 3 redirects, or not to http(s))"
        server.answer("/file", Answer(302, "", location="file:///etc/passwd"))
        assert not url_probe(server.url + "/file", mask)().healthy
    paths = [path for path, _ in server.seen]
    assert paths[:2] == ["/old", "/health"]
    assert "/hop4" not in paths
    for _, headers in server.seen:
        assert not {"authorization", "private-token", "job-token", "cookie"} & set(headers)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("ftp://status.example.com/health", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("status.example.com/health", "not an http(s) URL"),
        ("https:///health", "not an http(s) URL"),
        ("https://status.example.com:port/health", "port that cannot be read"),
        ("https://status.example .com/", "holds a space"),
        ("", "is empty"),
        ("https://user:hunter2@status.example.com/health", "holds credentials"),
    ],
)
def test_a_probe_url_that_is_not_one_is_a_usage_error(given: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_probe_url(given)
    assert said in caught.value.one_line()
    assert caught.value.exit_code == ExitCode.USAGE
    assert "hunter2" not in caught.value.one_line()


def test_plain_http_off_this_machine_is_allowed_with_a_warning() -> None:
    assert check_probe_url("https://status.example.com/health") == ("https://status.example.com/health", None)
    assert check_probe_url("http://127.0.0.1:9090/-/healthy")[1] is None
    url, warning = check_probe_url(" http://prometheus.internal:9090/-/healthy ")
    assert url == "http://prometheus.internal:9090/-/healthy"
    assert warning is not None
    assert "plain HTTP" in warning


def test_with_both_probes_both_must_be_healthy_and_both_are_quoted() -> None:
    def healthy() -> ProbeResult:
        return ProbeResult(True, "exit 0")

    def failing() -> ProbeResult:
        return ProbeResult(False, "HTTP 500 Internal Server Error")

    assert every_probe({"--probe": healthy, "--probe-url": healthy})().healthy
    said = every_probe({"--probe": healthy, "--probe-url": failing})()
    assert not said.healthy
    assert said.output == "--probe: exit 0\n--probe-url: HTTP 500 Internal Server Error"
    assert every_probe({"--probe-url": failing})() == failing()  # alone: its output as it is


@pytest.mark.parametrize(
    ("given", "seconds"), [("0", 0), ("30s", 30), ("1 second", 1), ("5m", 300), ("1h", 3600)]
)
def test_settle_reads_seconds_and_plan_durations(given: str, seconds: float) -> None:
    assert parse_settle(given) == seconds


BAD_SETTLE = [
    ("5", "not a duration"),
    ("soon", "not a duration"),
    ("2h", "longer than an hour"),
    ("3601s", "longer than an hour"),
]


@pytest.mark.parametrize(("given", "said"), BAD_SETTLE)
def test_a_bad_settle_is_a_usage_error(given: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_settle(given)
    assert said in caught.value.one_line()
