"""`gl-rollout sync REF` against the sandbox: evidence ticks steps, the stage label follows, nothing else."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
import requests

from gl_rollout.core.checklist import apply_step_states, parse_checklist
from gl_rollout.core.markers import NoteMarker
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli


def seed_rollout(
    sb: Sandbox,
    flag: str,
    *,
    project: str | None = None,
    done: Sequence[str] = (),
    labels: Sequence[str] = ("feature flag",),
    **fields: Any,
) -> dict[str, Any]:
    """A rollout issue as `gl-rollout create` makes it, with the `done` steps already ticked."""
    rendered = render_issue(RenderOptions(flag=flag))
    description = rendered.description
    if done:
        description, _ = apply_step_states(description, list(done), "done")
    return sb.create_issue(
        project, title=rendered.title, description=description, labels=list(labels), **fields
    )


def add_marker(
    sb: Sandbox,
    issue: dict[str, Any],
    action: str,
    step: str | None,
    flag: str,
    *,
    author: str = "developer",
    **values: Any,
) -> None:
    """A comment as gl-rollout's announce/enable/disable posts it: text plus the hidden marker."""
    project = issue["references"]["full"].rsplit("#", 1)[0]
    body = f"gl-rollout {action} {flag}\n\n{NoteMarker(action, flag, step, values).to_comment()}"
    sb.add_note(project, issue["iid"], body, author=author)


def cli_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    return {"GITLAB_URL": str(sb.url), "GITLAB_TOKEN": sb.tokens["developer"], **extra}


def ref(issue: dict[str, Any]) -> str:
    return str(issue["references"]["full"])


def steps_of(sb: Sandbox, issue: dict[str, Any]) -> dict[str, str]:
    project = ref(issue).rsplit("#", 1)[0]
    stored = sb.get_issue(project, issue["iid"])
    return {step.id: step.state for step in parse_checklist(stored["description"]).steps}


def labels_of(sb: Sandbox, issue: dict[str, Any]) -> list[str]:
    project = ref(issue).rsplit("#", 1)[0]
    return list(sb.get_issue(project, issue["iid"])["labels"])


def writes(sb: Sandbox) -> list[str]:
    return [f"{r.method} {r.path}" for r in sb.request_log if r.method in {"POST", "PUT", "DELETE"}]


def sync(sb: Sandbox, *args: str, **env: str) -> CliResult:
    return run_cli(["sync", *args], cli_env(sb, **env))


def test_sync_ticks_what_the_evidence_proves_and_labels_the_stage(sandbox: Sandbox) -> None:
    issue = seed_rollout(
        sandbox, "new_search_box", labels=("feature flag", "group::search", "rollout::planned")
    )
    add_marker(sandbox, issue, "enable", "enable-staging", "new_search_box", envs=["staging"], value=True)

    result = sync(sandbox, ref(issue))

    assert result.code == 0, result.output
    # The change line `check` prints (`ID: todo -> done (line N)`), then what proves it, by whom, when.
    line = next(s.line for s in parse_checklist(issue["description"]).steps if s.id == "enable-staging")
    assert re.search(
        rf"^enable-staging: todo -> done \(line {line}\): enabled on staging \(true\) by dev, "
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    steps = steps_of(sandbox, issue)
    assert steps["enable-staging"] == "done"
    assert [s for s, state in steps.items() if state == "done"] == ["enable-staging"]
    assert sorted(labels_of(sandbox, issue)) == ["feature flag", "group::search", "rollout::staging"]


def test_a_second_sync_writes_nothing(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    add_marker(sandbox, issue, "announce-eta", "announce-eta", "new_search_box", eta="2026-12-01T14:00:00Z")
    assert sync(sandbox, ref(issue)).code == 0
    sandbox.clear_log()

    again = sync(sandbox, ref(issue))

    assert again.code == 0
    assert "nothing to do" in again.stdout
    assert writes(sandbox) == []
    assert len(sandbox.request_log) == 2  # the issue and its notes


def test_dry_run_shows_the_diff_and_writes_nothing(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    add_marker(
        sandbox, issue, "enable", "enable-production", "new_search_box", envs=["production"], value=True
    )
    before = sandbox.get_issue(None, issue["iid"])
    sandbox.clear_log()

    result = sync(sandbox, ref(issue), "--dry-run")

    assert result.code == 0, result.output
    assert "+- [x] Enable on GitLab.com" in result.stdout
    assert "labels: +rollout::production" in result.stdout
    assert result.stdout.splitlines()[-1] == "dry run: nothing written"
    assert writes(sandbox) == []
    assert sandbox.get_issue(None, issue["iid"]) == before


def test_unverified_ticks_are_left_alone_unless_strict(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box", done=["enable-staging"])
    # Alice ticks docs-updated in the UI: GitLab's "marked the checklist item" note is its evidence.
    desc = sandbox.get_issue(None, issue["iid"])["description"]
    sandbox.edit_issue(
        None, issue["iid"], author="alice", description=apply_step_states(desc, ["docs-updated"], "done")[0]
    )

    plain = sync(sandbox, ref(issue), "--json")
    data = json.loads(plain.stdout)["data"]
    assert data["unverified"] == ["enable-staging"]
    assert steps_of(sandbox, issue)["enable-staging"] == "done"

    strict = sync(sandbox, ref(issue), "--strict", "--json")

    assert strict.code == 0, strict.output
    assert json.loads(strict.stdout)["data"]["unticked"] == ["enable-staging"]
    steps = steps_of(sandbox, issue)
    assert steps["enable-staging"] == "todo"
    assert steps["docs-updated"] == "done"  # a person's tick is evidence: kept


def test_a_tick_lost_to_someones_stale_edit_comes_back(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    stale_text = sandbox.get_issue(None, issue["iid"])["description"]
    add_marker(sandbox, issue, "enable", "enable-staging", "new_search_box", envs=["staging"], value=True)
    ticked, _ = apply_step_states(stale_text, ["enable-staging"], "done")
    sandbox.edit_issue(None, issue["iid"], author="developer", description=ticked)
    # Alice saves the description she had open before the tick: GitLab records it as an untick.
    sandbox.edit_issue(None, issue["iid"], author="alice", description=stale_text + "\nAlice's note.\n")
    assert steps_of(sandbox, issue)["enable-staging"] == "todo"

    result = sync(sandbox, ref(issue))

    assert result.code == 0, result.output
    assert steps_of(sandbox, issue)["enable-staging"] == "done"
    assert "Alice's note." in sandbox.get_issue(None, issue["iid"])["description"]


def test_disable_undoes_the_enable(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box", labels=("feature flag", "rollout::production"))
    add_marker(
        sandbox, issue, "enable", "enable-production", "new_search_box", envs=["production"], value=True
    )
    add_marker(
        sandbox, issue, "disable", "enable-production", "new_search_box", envs=["production"], value=False
    )

    result = sync(sandbox, ref(issue), "--json")

    data = json.loads(result.stdout)["data"]
    assert data["ticked"] == []
    assert data["stage"] == "planned"
    assert steps_of(sandbox, issue)["enable-production"] == "todo"
    assert labels_of(sandbox, issue) == ["feature flag", "rollout::planned"]
    assert [e["kind"] for e in data["timeline"]] == ["created", "enable", "disable"]


def test_partial_production_enable_is_its_own_stage(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box", done=["enable-staging"])
    add_marker(sandbox, issue, "enable", "enable-staging", "new_search_box", envs=["staging"], value=True)
    add_marker(
        sandbox,
        issue,
        "enable",
        None,
        "new_search_box",
        envs=["production"],
        value=25,
        percentage=25,
        percentage_kind="actors",
    )

    result = sync(sandbox, ref(issue), "--json")

    assert json.loads(result.stdout)["data"]["stage"] == "production-partial"
    assert "rollout::production-partial" in labels_of(sandbox, issue)


def set_feature(sb: Sandbox, name: str, **params: Any) -> None:
    response = requests.post(
        f"{sb.url}/api/v4/features/{name}",
        json=params,
        headers={"PRIVATE-TOKEN": sb.tokens["admin"]},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def test_features_api_gates_prove_enable_production(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    set_feature(sandbox, "new_search_box", value="true")

    result = sync(
        sandbox,
        ref(issue),
        "--features-url",
        str(sandbox.url),
        "--json",
        GITLAB_ADMIN_TOKEN=sandbox.tokens["admin"],
    )

    assert result.code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["ticked"] == ["enable-production"]
    proof = next(s for s in data["steps"] if s["id"] == "enable-production")["evidence"]
    assert proof["source"] == "features-api"
    assert steps_of(sandbox, issue)["enable-production"] == "done"
    assert sandbox.tokens["admin"] not in result.output


def test_features_api_on_a_staging_instance_proves_enable_staging(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    set_feature(sandbox, "new_search_box", value="true")

    result = sync(
        sandbox,
        ref(issue),
        "--features-url",
        str(sandbox.url),
        "--features-env",
        "staging",
        "--target-token-env",
        "STAGING_ADMIN",
        STAGING_ADMIN=sandbox.tokens["admin"],
    )

    assert result.code == 0, result.output
    steps = steps_of(sandbox, issue)
    assert (steps["enable-staging"], steps["enable-production"]) == ("done", "todo")


def test_features_url_without_an_admin_token_says_what_to_set(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    sandbox.clear_log()

    result = sync(sandbox, ref(issue), "--features-url", str(sandbox.url))

    assert result.code == 2
    assert "GITLAB_ADMIN_TOKEN" in result.stderr
    assert sandbox.request_log == []


def test_an_issue_without_rollout_steps_is_refused(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(None, title="Bug", description="- [ ] reproduce\n- [ ] fix\n")

    result = sync(sandbox, ref(issue))

    assert result.code == 2
    assert "no rollout checklist" in result.stderr


def test_an_edit_between_listing_and_writing_is_kept(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    add_marker(sandbox, issue, "announce-eta", "announce-eta", "new_search_box", eta="2026-12-01T14:00:00Z")
    sandbox.faults.edit_between_read_and_write(
        sandbox.project_path, issue["iid"], lambda text: text + "\nEdited by Alice.\n"
    )

    result = sync(sandbox, ref(issue))

    assert result.code == 0, result.output
    stored = sandbox.get_issue(None, issue["iid"])["description"]
    assert "Edited by Alice." in stored
    assert steps_of(sandbox, issue)["announce-eta"] == "done"


@pytest.mark.parametrize("who", ["job", "reporter"])
def test_sync_needs_a_token_that_can_write(sandbox: Sandbox, who: str) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    add_marker(sandbox, issue, "announce-eta", "announce-eta", "new_search_box", eta="2026-12-01T14:00:00Z")
    if who == "job":
        env = {"CI_SERVER_URL": str(sandbox.url), "CI_JOB_TOKEN": sandbox.tokens["job"]}
    else:
        env = {"GITLAB_URL": str(sandbox.url), "GITLAB_TOKEN": sandbox.tokens["reporter"]}

    result = run_cli(["sync", ref(issue)], env)

    assert result.code == 3
    assert "api scope" in result.stderr
    assert steps_of(sandbox, issue)["announce-eta"] == "todo"


def test_a_closed_issue_is_refused_and_left_alone(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box", state_event="close")
    assert sandbox.get_issue(None, issue["iid"])["state"] == "closed"
    add_marker(sandbox, issue, "enable", "enable-staging", "new_search_box", envs=["staging"], value=True)
    sandbox.clear_log()

    result = sync(sandbox, ref(issue))

    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"{ref(issue)}: it is closed" in result.stderr
    assert writes(sandbox) == []
    assert steps_of(sandbox, issue)["enable-staging"] == "todo"
    assert labels_of(sandbox, issue) == ["feature flag"]
    envelope = json.loads(sync(sandbox, ref(issue), "--json").stdout)
    assert (envelope["ok"], envelope["error"]["code"]) == (False, 2)


def test_the_output_says_which_environment_the_gates_were_read_as(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    set_feature(sandbox, "new_search_box", value="true")
    admin = {"GITLAB_ADMIN_TOKEN": sandbox.tokens["admin"]}

    by_default = sync(sandbox, ref(issue), "--features-url", str(sandbox.url), "--dry-run", **admin)

    assert by_default.code == 0, by_default.output
    first = by_default.stdout.splitlines()[0]
    assert first.startswith(f"gates read from {sandbox.url} as production")
    assert "the default; pass --features-env staging" in first
    assert "enable-production: todo -> done" in by_default.stdout

    as_json = sync(
        sandbox,
        ref(issue),
        "--features-url",
        str(sandbox.url),
        "--features-env",
        "staging",
        "--json",
        **admin,
    )

    assert as_json.code == 0, as_json.output
    assert json.loads(as_json.stdout)["data"]["features"]["env"] == "staging"
    assert f"gates read from {sandbox.url} as staging (--features-env staging)" in as_json.stderr
    assert steps_of(sandbox, issue)["enable-staging"] == "done"


def test_features_env_without_features_url_is_a_usage_error(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box")
    sandbox.clear_log()

    result = sync(sandbox, ref(issue), "--features-env", "staging")

    assert result.code == 2
    assert "--features-url" in result.stderr
    assert sandbox.request_log == []


def test_strict_says_why_each_step_is_set_back(sandbox: Sandbox) -> None:
    issue = seed_rollout(sandbox, "new_search_box", done=["enable-staging", "enable-production"])
    add_marker(
        sandbox, issue, "disable", "enable-production", "new_search_box", envs=["production"], value=False
    )

    plain = sync(sandbox, ref(issue), "--dry-run")

    assert "unverified (ticked, no evidence; --strict sets them back to todo): enable-staging" in plain.stdout
    assert "contradicted (ticked, the latest evidence says undone): enable-production" in plain.stdout

    strict = sync(sandbox, ref(issue), "--strict")

    assert strict.code == 0, strict.output
    assert re.search(
        r"^enable-staging: done -> todo \(line \d+\): ticked without evidence$", strict.stdout, re.M
    )
    assert re.search(
        r"^enable-production: done -> todo \(line \d+\): the latest evidence says undone: "
        r"disabled on production",
        strict.stdout,
        re.M,
    )
    assert "unverified" not in strict.stdout  # said once, as the change
    assert (steps_of(sandbox, issue)["enable-staging"], steps_of(sandbox, issue)["enable-production"]) == (
        "todo",
        "todo",
    )
