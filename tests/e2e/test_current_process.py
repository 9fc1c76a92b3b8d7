"""Today's process through the real CLI against the sandbox: an issue of ChatOps commands only (the newest
template's structure) is adopted; ChatOps' log issues and comments, created in the sandbox as ChatOps
creates them, move its status block in `sync` without a manual tick; a second sync changes nothing; a
damaged block is exit 2 until `adopt --repair`. The sandbox's second project plays ChatOps' log project.
"""

from __future__ import annotations

from pathlib import Path

from gl_rollout.sandbox import Sandbox
from tests.chatops_record import log_description, log_title, rollout_comment
from tests.conftest import PlainHTTP
from tests.workflow_cli import run

FLAG = "fast_search"
LOG = "acme/website"
DESCRIPTION = (Path(__file__).resolve().parents[1] / "data" / "current" / "commands-only.md").read_text(
    encoding="utf-8"
)


def new_issue(sb: Sandbox, api: PlainHTTP) -> tuple[str, dict[str, object]]:
    answer = api(
        "POST",
        "/projects/acme%2Fplatform%2Frollouts/issues",
        json={"title": f"Roll out `{FLAG}`", "description": DESCRIPTION},
    )
    assert answer.status == 201
    return f"{sb.project_path}#{answer.body['iid']}", answer.body


def chatops_sets(api: PlainHTTP, issue: dict[str, object], value: str, env: str, at: str, **kw: bool) -> None:
    """As ChatOps after `feature set`: a log issue opened and closed, then a comment on the rollout issue."""
    title = log_title(FLAG, value, env, **kw)
    log = api(
        "POST",
        "/projects/acme%2Fwebsite/issues",
        as_="admin",
        json={
            "title": title,
            "description": log_description("root", at, env, str(issue["web_url"])),
            "labels": "change",
        },
    )
    assert log.status == 201
    closed = api(
        "PUT",
        f"/projects/acme%2Fwebsite/issues/{log.body['iid']}",
        as_="admin",
        json={"state_event": "close"},
    )
    assert closed.status == 200
    note = api(
        "POST",
        f"/projects/acme%2Fplatform%2Frollouts/issues/{issue['iid']}/notes",
        as_="admin",
        json={"body": rollout_comment(title, log.body["web_url"])},
    )
    assert note.status == 201


def test_an_adopted_issue_of_commands_only_follows_chatops_record(sandbox: Sandbox, api: PlainHTTP) -> None:
    ref, issue = new_issue(sandbox, api)
    adopted = run(sandbox, "adopt", ref, "--chatops-log-project", LOG, "--json")
    assert adopted.code == 0, adopted.result.output
    assert adopted.data["status"] == "adopted"
    assert [item["step"] for item in adopted.data["block"]] == [
        "enable-staging", "docs-updated", "enable-production", "remove-flag", "cleanup",
    ]  # fmt: skip
    assert len(adopted.requests) == 5, adopted.methods()

    chatops_sets(api, issue, "true", "staging", "2026-12-01 09:00:00")
    chatops_sets(api, issue, "100", "production", "2026-12-01 10:00:00", actors=True)
    synced = run(sandbox, "sync", ref, "--chatops-log-project", LOG, "--json")
    assert synced.code == 0, synced.result.output
    assert sorted(synced.data["ticked"]) == ["enable-production", "enable-staging"]
    status = run(sandbox, "status", ref, "--json")
    states = {step["id"]: step["state"] for step in status.data["steps"]}
    assert states == {
        "enable-staging": "done", "docs-updated": "todo", "enable-production": "done",
        "remove-flag": "todo", "cleanup": "todo",
    }  # fmt: skip
    again = run(sandbox, "sync", ref, "--chatops-log-project", LOG, "--json")
    assert again.code == 0
    assert again.data["status"] == "unchanged"
    assert again.writes() == []
    timeline = run(sandbox, "status", ref, "--timeline", "--chatops-log-project", LOG)
    assert "ChatOps: set to true on staging" in timeline.result.stdout
    assert "ChatOps: set to 100% of actors on production" not in timeline.result.stdout  # 100% is on
    assert "ChatOps: set to true on production" in timeline.result.stdout


def test_a_damaged_block_is_exit_2_with_its_line_until_repaired(sandbox: Sandbox, api: PlainHTTP) -> None:
    ref, issue = new_issue(sandbox, api)
    assert run(sandbox, "adopt", ref, "--chatops-log-project", "").code == 0
    text = api("GET", f"/projects/acme%2Fplatform%2Frollouts/issues/{issue['iid']}").body["description"]
    damaged = text.replace("<!-- /gl-rollout:status -->", "")
    api("PUT", f"/projects/acme%2Fplatform%2Frollouts/issues/{issue['iid']}", json={"description": damaged})
    for args in (["status", ref], ["check", ref, "docs-updated"], ["sync", ref], ["adopt", ref]):
        refused = run(sandbox, *args)
        assert refused.code == 2, (args, refused.result.output)
        assert "line 3" in refused.result.stderr
        assert "adopt REF --repair" in refused.result.stderr
        assert refused.writes() == []
    repaired = run(sandbox, "adopt", ref, "--repair", "--chatops-log-project", "")
    assert repaired.code == 0, repaired.result.output
    assert run(sandbox, "check", ref, "docs-updated").code == 0
    assert run(sandbox, "status", ref, "--require", "docs-updated").code == 0
