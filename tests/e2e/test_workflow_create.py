"""`gl-rollout create` against the sandbox: one issue per flag, at most 2 requests, never a duplicate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.workflow_cli import FLAG, TITLE, create, env_for, run

DEFINITIONS = Path(__file__).resolve().parents[1] / "data/definitions/config/feature_flags"
DEFINITION = DEFINITIONS / "beta/product_analytics_aggregated_metrics.yml"


def test_create_makes_the_issue_with_labels_in_two_requests(sandbox: Sandbox) -> None:
    done = run(
        sandbox, "create", FLAG, "--project", sandbox.project_path, "--group", "product analytics", "--json"
    )
    assert done.code == 0, done.result.output
    data = done.data
    assert data["created"] is True
    assert {"iid", "web_url", "reference", "created"} <= set(data)
    assert data["reference"] == f"{sandbox.project_path}#{data['iid']}"
    assert data["web_url"].endswith(f"/{sandbox.project_path}/-/issues/{data['iid']}")
    issue = sandbox.get_issue(None, data["iid"])
    assert issue["title"] == TITLE
    assert {"feature flag", "group::product analytics"} <= set(issue["labels"])
    assert "<!-- step:enable-staging -->" in issue["description"]
    assert [r.method for r in done.requests] == ["GET", "POST"]


def test_create_prints_the_url(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path)
    assert done.code == 0
    issue_url = f"{sandbox.url}/{sandbox.project_path}/-/issues/1"
    assert issue_url in done.result.stdout


def test_second_create_reports_the_existing_issue(sandbox: Sandbox) -> None:
    first = create(sandbox)
    again = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert again.code == 0
    assert again.data["created"] is False
    assert again.data["iid"] == first["iid"]
    assert again.data["web_url"] == first["web_url"]
    assert len(again.requests) == 1
    assert not again.writes()
    assert sandbox.count_issues(title=TITLE) == 1


def test_an_issue_with_our_markers_counts_even_after_its_title_changed(sandbox: Sandbox) -> None:
    first = create(sandbox)
    sandbox.edit_issue(None, first["iid"], title=f"Roll out {FLAG} (phase 2)")
    again = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert again.data["created"] is False
    assert again.data["iid"] == first["iid"]


def test_closed_or_unrelated_issues_do_not_count(sandbox: Sandbox) -> None:
    closed = create(sandbox)
    sandbox.edit_issue(None, closed["iid"], state_event="close")
    sandbox.create_issue(
        title="Dashboards slow", description=f"Maybe related to `{FLAG}`? No checklist here."
    )
    sandbox.create_issue(
        title="[Feature flag] Rollout of `other_flag`",
        description=f"- [ ] Enable on staging <!-- step:enable-staging -->\n\nDepends on `{FLAG}`.",
    )
    again = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert again.data["created"] is True
    assert again.data["iid"] != closed["iid"]
    assert sandbox.count_issues(title=TITLE, state="opened") == 1


def test_dry_run_sends_no_write_and_shows_the_description(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--dry-run", "--json")
    assert done.code == 0
    assert done.data["dry_run"] is True
    assert done.data["created"] is False
    assert "+- [ ] Enable on staging" in done.data["diff"]
    assert done.data["comments"] == []
    assert not done.writes()
    assert sandbox.count_issues() == 0


def test_assignee_milestone_due_and_confidential(sandbox: Sandbox) -> None:
    done = run(
        sandbox, "create", FLAG, "--project", sandbox.project_path,
        "--assignee", "alice", "--milestone", "17.0",
        "--due", "2026-12-24", "--confidential", "--label", "rollout::planned", "--json",
    )  # fmt: skip
    assert done.code == 0, done.result.output
    issue = sandbox.get_issue(None, done.data["iid"])
    assert [a["username"] for a in issue["assignees"]] == ["alice"]
    assert issue["milestone"]["title"] == "17.0"
    assert issue["due_date"] == "2026-12-24"
    assert issue["confidential"] is True
    assert "rollout::planned" in issue["labels"]
    # the duplicate lookup, one user lookup, one milestone lookup, the POST
    assert len(done.requests) == 4


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--milestone", "99.9"], "no milestone '99.9'"),
        (["--assignee", "nobody_here"], "no GitLab user named nobody_here"),
        (["--due", "24/12/2026"], "is not a date"),
    ],
)
def test_bad_create_options_create_nothing(sandbox: Sandbox, args: list[str], says: str) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, *args)
    assert done.code == 2
    assert says in done.result.stderr
    assert not done.writes()
    assert sandbox.count_issues() == 0


def test_definition_url_names_the_existing_issue_and_write_definition_keeps_the_yaml(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    definition = tmp_path / "product_analytics_aggregated_metrics.yml"
    shutil.copy(DEFINITION, definition)
    original = definition.read_text()
    created = run(
        sandbox, "create", "--definition", str(definition), "--write-definition",
        "--project", sandbox.project_path, "--json",
    )  # fmt: skip
    assert created.code == 0, created.result.output
    url = created.data["web_url"]
    text = definition.read_text()
    assert f"rollout_issue_url: {url}" in text
    # every other line stays byte for byte (comments, quoting, order)
    kept = [line for line in text.splitlines() if not line.startswith("rollout_issue_url:")]
    assert kept == original.splitlines()

    # Another person renames the issue and removes our markers: the definition still names it, and
    # the title still names the flag.
    issue = sandbox.get_issue(None, created.data["iid"])
    sandbox.edit_issue(
        None,
        issue["iid"],
        title="Aggregated metrics rollout (product_analytics_aggregated_metrics)",
        description="Plan: see thread.",
    )
    again = run(
        sandbox, "create", "--definition", str(definition), "--project", sandbox.project_path, "--json"
    )
    assert again.code == 0
    assert again.data["created"] is False
    assert again.data["iid"] == created.data["iid"]
    assert sandbox.count_issues() == 1


def test_reporter_token_gets_one_line_and_exit_3(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, role="reporter")
    assert done.code == 3
    lines = done.result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "api scope" in lines[0]
    assert sandbox.tokens["reporter"] not in done.result.output
    assert sandbox.count_issues() == 0


def test_job_token_is_refused_before_any_request(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, env=env_for(sandbox, "job"))
    assert done.code == 3
    assert "CI_JOB_TOKEN can read issues but not write them" in done.result.stderr
    assert done.requests == []


def test_definition_url_of_an_unrelated_issue_is_ignored_with_a_note(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Audit #6: a definition copied from another flag, its URL left in, must not block the creation."""
    unrelated = sandbox.create_issue(title="Plain bug", description="It crashes.")
    other_rollout = sandbox.create_issue(
        title="[Feature flag] Rollout of `other_flag`",
        description="- [ ] Enable on staging `other_flag` <!-- step:enable-staging -->",
    )
    for issue in (unrelated, other_rollout):
        definition = tmp_path / f"defurl_flag_{issue['iid']}.yml"
        definition.write_text(
            f"name: defurl_flag\ntype: beta\ndefault_enabled: false\nrollout_issue_url: {issue['web_url']}\n",
            encoding="utf-8",
        )
        done = run(
            sandbox, "create", "--definition", str(definition), "--write-definition",
            "--project", sandbox.project_path,
        )  # fmt: skip
        assert done.code == 0, done.result.output
        out = done.result.stdout
        assert f"rollout_issue_url {issue['web_url']} is not a rollout issue for defurl_flag" in out
        assert "nothing to do" not in out
        created = [r for r in done.writes() if r.method == "POST"]
        assert len(created) == 1
        new_issue = sandbox.get_issue(None, sandbox.count_issues())
        assert "defurl_flag" in new_issue["title"]
        assert f"rollout_issue_url: {new_issue['web_url']}" in definition.read_text(encoding="utf-8")
        # Now the definition names the new issue: the next run finds it and writes nothing.
        again = run(sandbox, "create", "--definition", str(definition), "--project", sandbox.project_path)
        assert again.code == 0
        assert not again.writes()
        sandbox.edit_issue(None, new_issue["iid"], author="developer", state_event="close")


def test_write_definition_into_an_existing_issue_does_not_also_say_nothing_to_do(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Audit #21: "wrote rollout_issue_url into ..." then "nothing to do" contradicted each other."""
    create(sandbox)
    definition = tmp_path / "product_analytics_aggregated_metrics.yml"
    shutil.copy(DEFINITION, definition)
    args = ["--definition", str(definition), "--write-definition", "--project", sandbox.project_path]
    wrote = run(sandbox, "create", *args)
    assert wrote.code == 0
    lines = wrote.result.stdout.splitlines()
    assert f"wrote rollout_issue_url into {definition}" in lines
    assert "nothing to do" not in lines
    again = run(sandbox, "create", *args)
    assert again.result.stdout.splitlines()[-1] == "nothing to do"
