"""The token goes only where it was configured (issue 9, deliverable 2).

- An issue URL never chooses the GitLab: on another host than the configured one (or the default
  https://gitlab.com) it is exit 2, the error says to set GITLAB_URL, and no connection is made anywhere.
- `http://` is refused for anything but this machine unless `--allow-http` (then one warning line), for
  every place a URL comes from.
- A malformed token (a line break, a control character, whitespace inside, non-ASCII) is exit 2 naming the
  variable or configuration key, before any request, and never showing the value.

"Nothing was sent" is observed, not assumed: the other host is a listening socket that never accepts, so a
connection attempt would sit in its backlog and show after the run; the sandbox's request log shows the rest.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gl_rollout.cli.connection import learn
from gl_rollout.cli.running import AppState
from gl_rollout.core.urls import check_transport, is_loopback
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.connection import resolve_connection
from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli
from tests.workflow_cli import create, env_for, ref_of

SECRET = "glpat-Routing5b1c9e7aF0d3"


class Listener:
    """A loopback port that records connection attempts without ever answering them."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connections(self) -> int:
        """Connection attempts so far (they wait in the backlog: nothing here accepts them)."""
        self.socket.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self.socket.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def elsewhere() -> Iterator[Listener]:
    listener = Listener()
    try:
        yield listener
    finally:
        listener.socket.close()


def one_line(result: CliResult, code: int) -> str:
    assert result.code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def no_secret(result: CliResult, secret: str = SECRET) -> None:
    for piece in (secret, secret[6:14], secret[-8:]):
        assert piece not in result.output


# --- an issue URL never chooses where the token goes ---------------------------------------------------


def test_an_issue_url_on_another_host_with_no_url_configured_is_refused_and_nothing_is_sent(
    elsewhere: Listener,
) -> None:
    """The attack of the report: no GitLab URL configured, an issue URL naming another host."""
    done = run_cli(
        ["check", f"{elsewhere.url}/acme/app/-/issues/1", "enable-staging", "--timeout", "1"],
        env={"GITLAB_TOKEN": SECRET},
    )
    line = one_line(done, 2)
    assert "the GitLab URL is https://gitlab.com (from default)" in line
    assert f"set GITLAB_URL={elsewhere.url}" in line
    assert elsewhere.connections() == 0
    no_secret(done)


@pytest.mark.parametrize("variable", ["GITLAB_URL", "GITLAB_HOST", "CI_SERVER_URL"])
def test_an_issue_url_on_another_host_than_the_configured_one_is_refused(
    sandbox: Sandbox, elsewhere: Listener, variable: str
) -> None:
    iid = create(sandbox)["iid"]
    sandbox.clear_log()
    env = {variable: str(sandbox.url), "GITLAB_TOKEN": SECRET}
    done = run_cli(["status", f"{elsewhere.url}/{sandbox.project_path}/-/issues/{iid}"], env=env)
    line = one_line(done, 2)
    assert f"(from {variable})" in line
    assert "GITLAB_URL" in line
    assert elsewhere.connections() == 0
    assert sandbox.request_log == []


def test_the_default_section_of_a_config_file_is_no_licence_for_another_host(
    sandbox: Sandbox, elsewhere: Listener, tmp_path: Path
) -> None:
    cfg = tmp_path / "gl.cfg"
    cfg.write_text(f"[global]\ndefault = sb\n[sb]\nurl = {sandbox.url}\nprivate_token = {SECRET}\n")
    done = run_cli(["status", f"{elsewhere.url}/acme/app/-/issues/1"], env={"PYTHON_GITLAB_CFG": str(cfg)})
    line = one_line(done, 2)
    assert "python-gitlab config [sb]" in line
    assert elsewhere.connections() == 0
    assert sandbox.request_log == []
    no_secret(done)


def test_the_config_section_of_the_issue_urls_host_is_where_its_token_goes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A section names its host explicitly: an issue URL on that host uses it (that is configuration)."""
    iid = create(sandbox)["iid"]
    cfg = tmp_path / "gl.cfg"
    cfg.write_text(
        "[global]\ndefault = other\n[other]\nurl = https://other.example\nprivate_token = glpat-other\n"
        f"[sb]\nurl = {sandbox.url}\nprivate_token = {sandbox.tokens['developer']}\n"
    )
    sandbox.clear_log()
    done = run_cli(
        ["status", f"{sandbox.url}/{sandbox.project_path}/-/issues/{iid}"],
        env={"PYTHON_GITLAB_CFG": str(cfg)},
    )
    assert done.code == 0, done.output
    assert [r.status for r in sandbox.request_log] == [200]


def test_the_same_host_in_the_issue_url_is_fine(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run_cli(["status", f"{sandbox.url}/{sandbox.project_path}/-/issues/{iid}"], env=env_for(sandbox))
    assert done.code == 0, done.output


# --- plain HTTP only to this machine -------------------------------------------------------------------

REMOTE_HTTP = "http://192.0.2.7"  # TEST-NET-1: documentation only, never routed


def _cfg(tmp_path: Path, url: str) -> str:
    cfg = tmp_path / "gl.cfg"
    cfg.write_text(f"[global]\ndefault = w\n[w]\nurl = {url}\nprivate_token = {SECRET}\n")
    return str(cfg)


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("GITLAB_URL", "env"),
        ("GITLAB_HOST", "env"),
        ("CI_SERVER_URL", "env"),
        ("python-gitlab config [w]", "config"),
        ("--url", "flag"),
    ],
)
def test_plain_http_off_this_machine_is_refused_for_every_url_source(
    source: str, where: str, tmp_path: Path
) -> None:
    env: dict[str, str] = {"HOME": str(tmp_path)}
    args = ["status", "acme/app#1", "--timeout", "1"]
    if where == "env":
        env.update({source: REMOTE_HTTP, "GITLAB_TOKEN": SECRET})
    elif where == "config":
        env["PYTHON_GITLAB_CFG"] = _cfg(tmp_path, REMOTE_HTTP)
    else:
        env["GITLAB_TOKEN"] = SECRET
        args += ["--url", REMOTE_HTTP]
    line = one_line(run_cli(args, env=env), 2)
    assert f"{source} is plain HTTP ({REMOTE_HTTP})" in line
    assert "--allow-http" in line


@pytest.mark.parametrize(
    "args",
    [
        ["enable", "{ref}", "--env", "staging", "--apply", "--target-url", REMOTE_HTTP],
        ["disable", "{ref}", "--env", "staging", "--apply", "--target-url", REMOTE_HTTP],
        ["sync", "{ref}", "--features-url", REMOTE_HTTP],
    ],
    ids=["enable-target-url", "disable-target-url", "sync-features-url"],
)
def test_plain_http_admin_targets_are_refused_before_any_request(sandbox: Sandbox, args: list[str]) -> None:
    ref = ref_of(sandbox, create(sandbox)["iid"])
    sandbox.clear_log()
    env = env_for(sandbox, GITLAB_ADMIN_TOKEN=SECRET)
    done = run_cli([a.replace("{ref}", ref) for a in args], env=env)
    line = one_line(done, 2)
    option = "--features-url" if "sync" in args else "--target-url"
    assert f"{option} is plain HTTP ({REMOTE_HTTP})" in line
    assert sandbox.request_log == []


def test_allow_http_accepts_with_one_warning_line(capsys: pytest.CaptureFixture[str]) -> None:
    state = AppState(env={"GITLAB_URL": REMOTE_HTTP, "GITLAB_TOKEN": SECRET}, allow_http=True)
    conn = learn(state, resolve_connection(state))  # what the CLI does with every connection it resolves
    assert conn.url == REMOTE_HTTP
    assert capsys.readouterr().err == (
        f"warning: GITLAB_URL is plain HTTP ({REMOTE_HTTP}): the token travels unencrypted (--allow-http)\n"
    )


def test_allow_http_on_the_command_line_warns_on_stderr_even_with_json() -> None:
    env = {"GITLAB_URL": f"{REMOTE_HTTP}:9", "GITLAB_TOKEN": SECRET, "GL_ROLLOUT_RETRY_ATTEMPTS": "1"}
    done = run_cli(["status", "acme/app#1", "--allow-http", "--json", "--timeout", "0.2"], env=env)
    assert done.stderr.splitlines()[0] == (
        f"warning: GITLAB_URL is plain HTTP ({REMOTE_HTTP}:9): the token travels unencrypted (--allow-http)"
    )
    assert done.code == 3  # TEST-NET is unreachable: what matters is that the URL was accepted
    assert done.stdout.startswith("{")  # stdout keeps the envelope alone
    no_secret(done)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.8.9.10", True),
        ("http://localhost:3000", True),
        ("http://LOCALHOST", True),
        ("http://[::1]:8929", True),
        ("http://127.0.0.1.example.com", False),
        ("http://localhost.example.com", False),
        ("http://[::ffff:7f00:1]", False),
        ("http://10.0.0.1", False),
        ("http://gitlab.example.com", False),
        ("http://128.0.0.1", False),
    ],
)
def test_loopback_is_localhost_127_slash_8_and_ipv6_one(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
    if loopback:
        assert check_transport(url, "GITLAB_URL", allow_http=False) is None
    else:
        with pytest.raises(UsageError, match="plain HTTP"):
            check_transport(url, "GITLAB_URL", allow_http=False)
    assert check_transport(url.replace("http://", "https://"), "GITLAB_URL", allow_http=False) is None


# --- tokens are checked before use ---------------------------------------------------------------------

MALFORMED = {
    "crlf": (f"{SECRET}\r\nX-Injected: 1", "a line break"),
    "two-lines": (f"{SECRET}\nsecond line", "a line break"),
    "space-inside": (f"{SECRET[:10]} {SECRET[10:]}", "whitespace"),
    "tab-inside": (f"{SECRET[:10]}\t{SECRET[10:]}", "whitespace"),
    "nul": (f"{SECRET}\x00", "a control character"),
    "escape": (f"\x1b[2J{SECRET}", "a control character"),
    "del": (f"{SECRET}\x7f", "a control character"),
    "non-ascii": (f"{SECRET}é", "a character that is not ASCII"),
    "nbsp": (f"{SECRET[:10]}\u00a0{SECRET[10:]}", "whitespace"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
@pytest.mark.parametrize("variable", ["GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN", "GITLAB_OAUTH_TOKEN"])
def test_a_malformed_token_variable_is_named_never_shown_and_nothing_is_sent(
    sandbox: Sandbox, variable: str, kind: str
) -> None:
    value, problem = MALFORMED[kind]
    env = {"GITLAB_URL": str(sandbox.url), variable: value}
    done = run_cli(["check", f"{sandbox.project_path}#1", "enable-staging", "--json"], env=env)
    assert done.code == 2, done.output
    assert f"{variable} is malformed: it holds {problem}" in done.stdout
    no_secret(done)
    assert sandbox.request_log == []


def test_a_malformed_ci_job_token_is_named(sandbox: Sandbox) -> None:
    env = {"CI_SERVER_URL": str(sandbox.url), "CI_JOB_TOKEN": f"{SECRET}\r\nmore"}
    line = one_line(run_cli(["status", f"{sandbox.project_path}#1"], env=env), 2)
    assert "CI_JOB_TOKEN is malformed: it holds a line break" in line
    assert sandbox.request_log == []


def test_a_malformed_admin_token_is_refused_before_any_request(sandbox: Sandbox) -> None:
    ref = ref_of(sandbox, create(sandbox)["iid"])
    sandbox.clear_log()
    env = env_for(sandbox, GITLAB_ADMIN_TOKEN=f"{SECRET}\nline two")
    done = run_cli(["enable", ref, "--env", "staging", "--apply"], env=env)
    line = one_line(done, 2)
    assert "GITLAB_ADMIN_TOKEN is malformed: it holds a line break" in line
    assert sandbox.request_log == []
    no_secret(done)


def test_a_helper_that_prints_two_lines_is_named_with_its_key(sandbox: Sandbox, tmp_path: Path) -> None:
    """`pass show` prints the password, then more lines: the helper's key is named, not the output."""
    helper = tmp_path / "helper"
    helper.write_text(f"#!/bin/sh\nprintf '{SECRET}\\nlogin: dev\\n'\n")
    helper.chmod(0o755)
    cfg = tmp_path / "gl.cfg"
    cfg.write_text(f"[global]\ndefault = sb\n[sb]\nurl = {sandbox.url}\nprivate_token = helper: {helper}\n")
    done = run_cli(["status", f"{sandbox.project_path}#1"], env={"PYTHON_GITLAB_CFG": str(cfg)})
    line = one_line(done, 2)
    assert "python-gitlab config [sb] private_token is malformed: it holds a line break" in line
    assert "helper" in line
    no_secret(done)
    assert sandbox.request_log == []


def test_a_multi_line_config_value_is_a_malformed_token(sandbox: Sandbox, tmp_path: Path) -> None:
    """configparser joins indented continuation lines into one value with a newline."""
    cfg = tmp_path / "gl.cfg"
    cfg.write_text(f"[global]\ndefault = sb\n[sb]\nurl = {sandbox.url}\nprivate_token = {SECRET}\n  more\n")
    done = run_cli(["status", f"{sandbox.project_path}#1"], env={"PYTHON_GITLAB_CFG": str(cfg)})
    assert "python-gitlab config [sb] private_token is malformed" in one_line(done, 2)
    no_secret(done)
