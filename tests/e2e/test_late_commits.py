"""A POST whose answer was lost may be committed long after: gl-rollout never sends it twice.

GitLab cuts a request off only after its own request timeout (60 s by default), so a create or a
comment whose client timed out (or whose connection dropped) can still land seconds later. gl-rollout
looks for what it meant to write until that timeout has passed since the POST was sent, and only then
sends it again. The unit tests run the looks on an injected clock; the end-to-end tests tell the tool
a small server timeout (`GL_ROLLOUT_SERVER_TIMEOUT`) and make the sandbox really commit late, at the
same fraction of it as 8 s and 30 s are of GitLab's 60 s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.sandbox import Sandbox
from gl_rollout.workflows.posting import Patience, create_issue_once, look_times, server_timeout_from_env
from tests.workflow_cli import FLAG, TITLE, box, create, env_for, ref_of, run, user_notes

ISSUES_POST = r"/projects/[^/]+/issues$"
NOTES_POST = r"/issues/\d+/notes$"


class Clock:
    """A clock that moves only when slept on (or when a request is said to take time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class LateServer:
    """`create_issue` times out after `timeout` s, and the issue lands `late` s after the client gave up."""

    def __init__(self, clock: Clock, timeout: float, late: float | None) -> None:
        self.clock, self.timeout, self.late = clock, timeout, late
        self.posts: list[float] = []
        self.lands_at: float | None = None
        self.looks: list[float] = []

    def create_issue(self, project: str, fields: dict[str, Any]) -> Any:
        self.posts.append(self.clock.now)
        self.clock.now += self.timeout
        if self.late is not None and self.lands_at is None:
            self.lands_at = self.clock.now + self.late
        raise GitLabError("no answer", details={"ambiguous": True, "kind": "timeout"})

    def find(self) -> str | None:
        self.looks.append(self.clock.now)
        self.clock.now += 0.05  # a look is one request
        landed = self.lands_at is not None and self.clock.now >= self.lands_at
        return "the issue" if landed else None


def attempt(late: float | None, server_timeout: float = 60.0) -> tuple[LateServer, Any, Clock]:
    clock = Clock()
    server = LateServer(clock, timeout=1.0, late=late)
    patience = Patience(timeout=1.0, server_timeout=server_timeout, clock=clock, sleep=clock.sleep)
    api: Any = server
    try:
        landed: Any = create_issue_once(api, "g/p", {"title": "t"}, server.find, patience=patience)
    except GitLabError as exc:
        landed = exc
    return server, landed, clock


@pytest.mark.parametrize("late", [8.0, 15.0, 30.0, 58.0])
def test_a_create_committed_long_after_the_client_gave_up_is_found_not_sent_again(late: float) -> None:
    """The finding: a commit 8 s or 15 s after `--timeout 1` gave up made two issues."""
    server, landed, _ = attempt(late)
    assert len(server.posts) == 1
    assert landed.value == "the issue"
    assert landed.recovered is True


def test_nothing_landed_within_the_server_timeout_then_one_more_post() -> None:
    server, landed, _clock = attempt(None)
    assert isinstance(landed, GitLabError)  # it never lands: every attempt times out
    assert len(server.posts) == 3
    # each POST waited out GitLab's 60 s since it was sent before the next one
    assert [b - a for a, b in zip(server.posts, server.posts[1:], strict=False)] == [
        pytest.approx(60.0, abs=0.2)
    ] * 2
    assert "run the command again: that is safe" in landed.one_line()
    assert len(server.looks) <= 3 * 11  # spaced looks, not a busy loop


def test_a_smaller_server_timeout_means_a_shorter_wait() -> None:
    server, _landed, _ = attempt(None, server_timeout=5.0)
    assert [b - a for a, b in zip(server.posts, server.posts[1:], strict=False)] == [
        pytest.approx(5.0, abs=0.2)
    ] * 2


def test_looks_come_quickly_at_first_then_spaced() -> None:
    timeout = GitLabError("x", details={"ambiguous": True, "kind": "timeout"})
    assert look_times(timeout, Patience()) == (0.0, 1.0, 3.0, 7.0, 15.0, 25.0, 35.0, 45.0, 55.0, 60.0)
    answered = GitLabError("x", status=500, details={"ambiguous": True})
    assert look_times(answered, Patience()) == (0.0, 1.0)  # GitLab answered: the request is over
    gateway = GitLabError("x", status=504, details={"ambiguous": True})
    assert look_times(gateway, Patience())[-1] == 60.0  # the proxy gave up, GitLab may not have


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf", "3601"])
def test_a_bad_server_timeout_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match="GL_ROLLOUT_SERVER_TIMEOUT"):
        server_timeout_from_env({"GL_ROLLOUT_SERVER_TIMEOUT": value})
    assert server_timeout_from_env({}) == 60.0
    assert server_timeout_from_env({"GL_ROLLOUT_SERVER_TIMEOUT": " 90 "}) == 90.0


def test_a_bad_server_timeout_stops_the_cli_before_any_request(sandbox: Sandbox) -> None:
    done = run(
        sandbox,
        "create",
        FLAG,
        "--project",
        sandbox.project_path,
        env=env_for(sandbox, GL_ROLLOUT_SERVER_TIMEOUT="a minute"),
    )
    assert done.code == 2
    assert "GL_ROLLOUT_SERVER_TIMEOUT" in done.result.stderr
    assert len(done.result.stderr.strip().splitlines()) == 1
    assert done.requests == []


# --- end to end: the sandbox commits late -------------------------------------------------------------

SERVER_TIMEOUT = 3.0  # told to the tool; GitLab's is 60 s
CLIENT_TIMEOUT = 0.5


def late_by(gitlab_seconds: float) -> float:
    """How long after the client gave up the sandbox commits: `gitlab_seconds` of GitLab's 60, scaled."""
    return gitlab_seconds * SERVER_TIMEOUT / 60.0


def wait_for_commit(sb: Sandbox, method: str, count: int) -> None:
    """The held request has been handled (its answer goes nowhere): the late commit is done."""
    sb.wait_for_requests(lambda log: sum(r.method == method for r in log) >= count, timeout=10)


def late_run(sb: Sandbox, args: list[str]) -> Any:
    env = env_for(sb, GL_ROLLOUT_SERVER_TIMEOUT=str(SERVER_TIMEOUT))
    return run(sb, "--timeout", str(CLIENT_TIMEOUT), *args, env=env)


Arrange = Callable[[Sandbox], list[str]]


@pytest.mark.parametrize("gitlab_seconds", [8.0, 30.0])
def test_create_committed_late_makes_one_issue(sandbox: Sandbox, gitlab_seconds: float) -> None:
    sandbox.faults.delay("POST", ISSUES_POST, CLIENT_TIMEOUT + late_by(gitlab_seconds), count=1)
    done = late_run(sandbox, ["create", FLAG, "--project", sandbox.project_path, "--json"])
    wait_for_commit(sandbox, "POST", 1)
    assert done.code == 0, done.result.output
    assert done.data["recovered"] is True
    assert sandbox.count_issues(title=TITLE) == 1
    assert [r.method for r in done.requests].count("POST") == 1


@pytest.mark.parametrize("gitlab_seconds", [8.0, 30.0])
@pytest.mark.parametrize(
    ("args", "step"),
    [
        (["announce", "{ref}", "--eta", "in 2h"], "announce-eta"),
        (["enable", "{ref}", "--env", "staging"], "enable-staging"),
    ],
    ids=["announce", "enable"],
)
def test_a_comment_committed_late_is_posted_once(
    sandbox: Sandbox, gitlab_seconds: float, args: list[str], step: str
) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.delay("POST", NOTES_POST, CLIENT_TIMEOUT + late_by(gitlab_seconds), count=1)
    done = late_run(sandbox, [a.format(ref=ref_of(sandbox, iid)) for a in args])
    wait_for_commit(sandbox, "POST", 1)
    assert done.code == 0, done.result.output
    assert "not posted twice" in done.result.stdout
    assert len(user_notes(sandbox, iid)) == 1
    assert box(sandbox, iid, step) == "[x]"
