"""A failure after a write landed says what exists (exit 3, with its address), never exit 2's "nothing
was written"; an answer to a write that cannot be read is looked up rather than written again.

The server here is the sandbox behind a wrapper that rewrites some of its answers, as another GitLab
(or a proxy) might.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.server import ServerThread
from tests.helpers import run_cli
from tests.workflow_cli import FLAG, TITLE, box, create, env_for, user_notes

Rewrite = Callable[[str, str, Any], Any]  # (method, path, JSON answer) -> the answer to send


def rewriting(app: Any, rewrite: Rewrite) -> Callable[..., Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        kept: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept.update(status=status, headers=headers)
            return lambda _data: None

        body = b"".join(app(environ, capture))
        headers = [(k, v) for k, v in kept["headers"] if k.lower() != "content-length"]
        if body and any(k.lower() == "content-type" and "json" in v for k, v in headers):
            answer = rewrite(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), json.loads(body))
            body = json.dumps(answer).encode()
        start_response(kept["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[Callable[[Rewrite], str]]:
    servers: list[ServerThread] = []

    def serve(rewrite: Rewrite) -> str:
        server = ServerThread(rewriting(sandbox.app, rewrite))
        server.start()
        servers.append(server)
        return str(server.url)

    yield serve
    for server in servers:
        server.stop()


def on_create(change: Callable[[dict[str, Any]], None]) -> Rewrite:
    def rewrite(method: str, path: str, answer: Any) -> Any:
        if method == "POST" and path.endswith("/issues") and isinstance(answer, dict):
            change(answer)
        return answer

    return rewrite


DEFINITION = """---
name: product_analytics_aggregated_metrics
feature_issue_url:
introduced_by_url: https://gitlab.com/gitlab-org/gitlab/-/merge_requests/1
milestone: '17.0'
group: group::product analytics
type: beta
default_enabled: false
"""


def test_a_bad_web_url_after_create_is_exit_3_with_the_issues_address(
    sandbox: Sandbox, served: Callable[[Rewrite], str], tmp_path: Path
) -> None:
    """The finding: a `web_url` that is no URL made `--write-definition` fail with exit 2, "nothing was
    written", though the issue existed."""
    url = served(on_create(lambda issue: issue.update(web_url="javascript:alert(1)")))
    definition = tmp_path / "flag.yml"
    definition.write_text(DEFINITION, encoding="utf-8")
    env = {**env_for(sandbox), "GITLAB_URL": url}
    args = ["create", FLAG, "--project", sandbox.project_path, "--definition", str(definition)]
    done = run_cli([*args, "--write-definition", "--json"], env=env)
    assert done.code == 3, done.output
    envelope = json.loads(done.stdout)
    message = envelope["error"]["message"]
    assert f"created {sandbox.project_path}#1 ({url}/{sandbox.project_path}/-/issues/1), but then" in message
    assert "nothing was written" not in done.output
    assert envelope["data"]["created"] is True
    assert envelope["data"]["web_url"] == f"{url}/{sandbox.project_path}/-/issues/1"
    assert sandbox.count_issues(title=TITLE) == 1
    assert definition.read_text(encoding="utf-8") == DEFINITION
    # against the GitLab itself, the rerun finds the issue and finishes the job
    again = run_cli([*args, "--write-definition"], env=env_for(sandbox))
    assert again.code == 0, again.output
    assert sandbox.count_issues(title=TITLE) == 1
    assert "rollout_issue_url: " in definition.read_text(encoding="utf-8")


def test_an_unreadable_answer_to_a_create_is_looked_up_not_created_again(
    sandbox: Sandbox, served: Callable[[Rewrite], str]
) -> None:
    url = served(on_create(lambda issue: issue.pop("iid")))
    env = {**env_for(sandbox), "GITLAB_URL": url}
    done = run_cli(["create", FLAG, "--project", sandbox.project_path, "--json"], env=env)
    assert done.code == 0, done.output
    data = json.loads(done.stdout)["data"]
    assert data["created"] is True
    assert data["recovered"] is True
    assert data["iid"] == 1
    assert sandbox.count_issues(title=TITLE) == 1


def test_a_failed_tick_after_the_comment_says_the_comment_exists(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    sandbox.faults.fail_next("PUT", r"/issues/\d+$", 500, count=10)
    ref = f"{sandbox.project_path}#{iid}"
    done = run_cli(["announce", ref, "--eta", "in 2h", "--json"], env=env_for(sandbox))
    assert done.code == 3, done.output
    envelope = json.loads(done.stdout)
    note = user_notes(sandbox, iid)[0]
    address = f"{sandbox.url}/{sandbox.project_path}/-/issues/{iid}#note_{note['id']}"
    assert envelope["error"]["message"].startswith(f"posted the comment ({address}), but then")
    assert envelope["data"]["posted"] is True
    assert box(sandbox, iid, "announce-eta") == "[ ]"
