"""`create --from-mr` through the real CLI against the sandbox: an MR that adds two flag definitions yields
two rollout issues, a link to the issue it closes, and one comment; a rerun changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli
from tests.workflow_cli import run

DEF_A = "config/feature_flags/beta/search_v2.yml"
DEF_B = "ee/config/feature_flags/gitlab_com_derisk/fast_export.yml"


def definition(name: str, flag_type: str) -> str:
    return (
        f"---\nname: {name}\ndescription: Try {name}\n"
        "introduced_by_url: https://gitlab.example/acme/platform/rollouts/-/merge_requests/1\n"
        f"milestone: '18.6'\ntype: {flag_type}\ngroup: group::search\ndefault_enabled: false\n"
    )


def seed_two(sandbox: Sandbox, **kwargs: object) -> int:
    feature = sandbox.create_issue(None, title="Faster search")
    mr = sandbox.create_merge_request(
        {DEF_A: definition("search_v2", "beta"), DEF_B: definition("fast_export", "gitlab_com_derisk")},
        edited={"app/models/search.rb": ("class Search\nend\n", "class Search\n  V2 = true\nend\n")},
        closes=[feature["iid"]],
        **kwargs,  # type: ignore[arg-type]
    )
    return int(mr["iid"])


def test_an_mr_adding_two_definitions_yields_two_issues_and_one_comment_and_a_rerun_changes_nothing(
    sandbox: Sandbox,
) -> None:
    iid = seed_two(sandbox)
    ref = f"{sandbox.project_path}!{iid}"
    done = run(sandbox, "create", "--from-mr", ref, "--json")
    assert done.code == 0, done.result.output
    flags = done.data["flags"]
    assert [flag["flag"] for flag in flags] == ["search_v2", "fast_export"]
    assert all(flag["issue"]["created"] for flag in flags)
    titles = {sandbox.get_issue(None, flag["issue"]["iid"])["title"] for flag in flags}
    assert titles == {"[Feature flag] Rollout of `search_v2`", "[Feature flag] Rollout of `fast_export`"}
    for flag in flags:
        assert sandbox.issue_links(flag["issue"]["iid"]) == [f"{sandbox.project_path}#1"]
    notes = sandbox.merge_request_notes(iid)
    assert len(notes) == 1
    for flag in flags:
        assert f"+rollout_issue_url: {flag['issue']['web_url']}" in notes[0]
    marker = find_note_marker(notes[0])
    assert marker is not None
    # 2 issues, 2 links and 1 comment
    assert [r.method for r in done.writes()] == ["POST"] * 5
    # README's budget: the MR, its diffs, the issues it closes; per flag the duplicate lookup, the POST, the
    # links read and the link; the MR's notes and the comment
    assert len(done.requests) == 13, done.methods()

    again = run(sandbox, "create", "--from-mr", ref)
    assert again.code == 0, again.result.output
    assert not again.writes()
    assert len(again.requests) == 8, again.methods()  # the reads alone
    assert "is there already" in again.result.stderr + again.result.stdout
    assert len(sandbox.merge_request_notes(iid)) == 1
    assert sandbox.count_issues() == 3


def test_a_busy_mr_gets_no_second_comment_when_ours_is_past_the_first_page(sandbox: Sandbox) -> None:
    iid = seed_two(sandbox)
    ref = f"{sandbox.project_path}!{iid}"
    assert run(sandbox, "create", "--from-mr", ref).code == 0
    for n in range(130):  # a review: our comment is now the 131st newest, past GitLab's 100 per page
        sandbox.add_merge_request_note(iid, f"nit {n}", author="reporter")
    again = run(sandbox, "create", "--from-mr", ref)
    assert again.code == 0, again.result.output
    assert not again.writes()
    assert sum(1 for body in sandbox.merge_request_notes(iid) if find_note_marker(body)) == 1


def test_a_bare_iid_with_project_and_a_collapsed_diff_read_from_the_source_branch(sandbox: Sandbox) -> None:
    iid = seed_two(sandbox, collapsed=[DEF_B])
    done = run(sandbox, "create", "--from-mr", str(iid), "-R", sandbox.project_path, "--json")
    assert done.code == 0, done.result.output
    raw = [r for r in done.requests if "/repository/files/" in r.path]
    assert len(raw) == 1
    assert "fast_export" in raw[0].path
    assert [flag["flag"] for flag in done.data["flags"]] == ["search_v2", "fast_export"]


def test_dry_run_prints_the_issues_and_the_comment_and_sends_no_write(sandbox: Sandbox) -> None:
    iid = seed_two(sandbox)
    done = run(sandbox, "create", "--from-mr", f"{sandbox.project_path}!{iid}", "--dry-run")
    assert done.code == 0, done.result.output
    assert not done.writes()
    out = done.result.stdout + done.result.stderr
    assert "dry run: would comment on !" in out
    assert "+rollout_issue_url: '<the new issue URL>'" in out
    assert "Rollout of `search_v2`" in out
    assert sandbox.merge_request_notes(iid) == []


def test_an_mr_with_no_new_definition_says_so(sandbox: Sandbox) -> None:
    mr = sandbox.create_merge_request({"README.md": "hello\n"})
    done = run(sandbox, "create", "--from-mr", f"{sandbox.project_path}!{mr['iid']}")
    assert done.code == 0, done.result.output
    assert f"no new feature flags in !{mr['iid']}" in done.result.stdout + done.result.stderr
    assert not done.writes()


def test_the_seeded_mr_on_a_sandbox_state_file_gets_one_comment_over_runs_on_new_ports(
    tmp_path: Path,
) -> None:
    """Each `--sandbox` run listens on a new port, so the issue's URL changes: the comment is found by the
    issue's reference, not its URL, and a rerun posts nothing."""
    state = tmp_path / "state.sqlite3"
    env = {"HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    for _ in range(2):
        done = run_cli(["--sandbox-db", str(state), "create", "--from-mr", "1", "--json"], env=env)
        assert done.code == 0, done.output
    assert json.loads(done.stdout)["data"]["comment"] == "exists"
    sandbox = Sandbox(state)
    try:
        assert len(sandbox.merge_request_notes(1)) == 1
        assert sandbox.count_issues() == 1
    finally:
        sandbox.close()
