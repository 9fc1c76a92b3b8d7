"""`create --from-mr` against the in-memory GitLab: issues per new definition, links, one MR comment."""

from __future__ import annotations

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.merge_requests import MergeRequestRef, added_text, parse_mr_ref
from gl_rollout.errors import ExitCode, UsageError
from gl_rollout.render.issue import RenderOptions
from gl_rollout.workflows.create import CreateOptions
from gl_rollout.workflows.from_mr import create_from_mr
from tests.workflows.fake_gitlab import FakeGitLab

P = "acme/app"
DEF_A = "config/feature_flags/beta/search_v2.yml"
DEF_B = "ee/config/feature_flags/gitlab_com_derisk/fast_export.yml"


def definition(name: str, flag_type: str, extra: str = "") -> str:
    return (
        f"---\nname: {name}\ndescription: Try {name}\n"
        f"introduced_by_url: https://gitlab.example/{P}/-/merge_requests/7\n{extra}"
        f"milestone: '18.6'\ntype: {flag_type}\ngroup: group::search\ndefault_enabled: false\n"
    )


def two_flags(api: FakeGitLab, **kwargs: object) -> None:
    api.add_merge_request(
        P,
        7,
        {DEF_A: definition("search_v2", "beta"), DEF_B: definition("fast_export", "gitlab_com_derisk")},
        edited={"app/models/user.rb": "class User; end\n"},
        **kwargs,  # type: ignore[arg-type]
    )


def run(api: FakeGitLab, *, dry_run: bool = False):  # type: ignore[no-untyped-def]
    return create_from_mr(
        api, MergeRequestRef(P, 7), RenderOptions(), CreateOptions(project=P, dry_run=dry_run)
    )


def test_two_new_definitions_make_two_issues_and_one_comment_and_a_rerun_writes_nothing() -> None:
    api = FakeGitLab()
    two_flags(api)
    result = run(api)
    assert result.ok, result.error
    outcome = result.value
    assert outcome is not None
    assert [flag.flag for flag in outcome.flags] == ["search_v2", "fast_export"]
    titles = sorted(api.issue(P, iid).title for iid in (1, 2))
    assert titles == ["[Feature flag] Rollout of `fast_export`", "[Feature flag] Rollout of `search_v2`"]
    notes = api.merge_requests[(P, 7)].notes
    assert len(notes) == 1
    body = notes[0].body
    for flag in outcome.flags:
        assert f"+rollout_issue_url: {flag.issue.issue.web_url}" in body
        assert f"`{flag.path}`" in body
    assert "```diff" in body
    marker = find_note_marker(body)
    assert marker is not None
    assert marker.action == "from-mr"

    writes = [r for r in api.requests if r.startswith("POST")]
    api.requests.clear()
    again = run(api)
    assert again.ok
    assert again.value is not None
    assert [r for r in api.requests if r.startswith("POST")] == []
    assert len(api.merge_requests[(P, 7)].notes) == 1
    assert again.value.comment == "exists"
    assert len(writes) == 3  # two issues, one comment


def test_the_definition_of_a_collapsed_diff_is_read_from_the_source_branch() -> None:
    api = FakeGitLab()
    two_flags(api, collapsed=(DEF_B,))
    result = run(api)
    assert result.ok
    assert "GET raw " + DEF_B in api.requests
    assert "GET raw " + DEF_A not in api.requests
    assert any("fast_export" in api.issue(P, iid).title for iid in (1, 2))


def test_an_existing_rollout_issue_is_reused_and_linked_to_the_issue_the_mr_closes() -> None:
    api = FakeGitLab()
    feature = api.create_issue(P, {"title": "Search, faster", "description": "the feature"})
    existing = run_single_create(api)
    two_flags(api, closes=((P, feature.iid),))
    result = run(api)
    assert result.ok
    assert result.value is not None
    by_flag = {flag.flag: flag for flag in result.value.flags}
    assert by_flag["search_v2"].issue.created is False
    assert by_flag["search_v2"].issue.issue.iid == existing
    assert by_flag["fast_export"].issue.created is True
    linked = {iid for link in api.links for (_, iid) in link}
    assert {existing, feature.iid, by_flag["fast_export"].issue.issue.iid} <= linked
    assert len(api.links) == 2
    api.requests.clear()
    run(api)
    assert [r for r in api.requests if r.startswith("POST")] == []


def run_single_create(api: FakeGitLab) -> int:
    from gl_rollout.render.issue import render_issue
    from gl_rollout.workflows.create import create

    result = create(api, render_issue(RenderOptions(flag="search_v2")), CreateOptions(project=P))
    assert result.value is not None
    assert result.value.issue.iid is not None
    return result.value.issue.iid


def test_an_mr_without_a_new_definition_says_so_and_writes_nothing() -> None:
    api = FakeGitLab()
    api.add_merge_request(P, 7, {"README.md": "hello\n"}, edited={DEF_A: "x"})
    result = run(api)
    assert result.ok
    assert result.exit_code == ExitCode.OK
    assert result.messages == ["no new feature flags in !7"]
    assert [r for r in api.requests if r.startswith("POST")] == []


def test_a_malformed_definition_creates_nothing_for_any_flag() -> None:
    api = FakeGitLab()
    api.add_merge_request(
        P, 7, {DEF_A: definition("search_v2", "beta"), DEF_B: "name: fast_export\ntype: [oops\n"}
    )
    with pytest.raises(UsageError) as caught:
        run(api)
    assert DEF_B in caught.value.message
    assert [r for r in api.requests if r.startswith("POST")] == []


def test_dry_run_shows_the_issues_and_the_comment_and_writes_nothing() -> None:
    api = FakeGitLab()
    two_flags(api)
    result = run(api, dry_run=True)
    assert result.ok
    assert result.value is not None
    assert [r for r in api.requests if r.startswith("POST")] == []
    assert result.value.comment == "would post"
    assert "+rollout_issue_url: '<the new issue URL>'" in result.value.comments[0]
    assert "Rollout of `search_v2`" in result.value.preview.diff


def test_a_definition_that_names_its_issue_already_needs_no_suggestion() -> None:
    api = FakeGitLab()
    iid = run_single_create(api)
    url = api.issue(P, iid).web_url
    api.add_merge_request(P, 7, {DEF_A: definition("search_v2", "beta", f"rollout_issue_url: {url}\n")})
    result = run(api)
    assert result.ok
    assert api.merge_requests[(P, 7)].notes == []
    assert any("no comment needed" in message for message in result.messages)


def test_mr_references_and_added_text() -> None:
    assert parse_mr_ref("https://gitlab.com/g/p/-/merge_requests/12") == MergeRequestRef(
        "g/p", 12, "https://gitlab.com"
    )
    assert parse_mr_ref("g/sub/p!3") == MergeRequestRef("g/sub/p", 3)
    assert parse_mr_ref("!5", "g/p") == MergeRequestRef("g/p", 5)
    with pytest.raises(UsageError, match="needs a project"):
        parse_mr_ref("5")
    with pytest.raises(UsageError, match="not a merge request reference"):
        parse_mr_ref("g/p#5")
    assert added_text("@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n") == "a: 1\nb: 2\n"
    assert added_text("@@ -0,0 +1 @@\n+a: 1\n\\ No newline at end of file\n") == "a: 1"


def test_a_flag_type_without_rollout_issues_is_named_and_skipped() -> None:
    api = FakeGitLab()
    path = "config/feature_flags/wip/draft_thing.yml"
    api.add_merge_request(P, 7, {path: definition("draft_thing", "wip")})
    result = run(api)
    assert result.ok
    assert result.value is not None
    assert result.value.skipped == (path,)
    assert result.messages[-1] == "no new flag in !7 needs a rollout issue"
    assert [r for r in api.requests if r.startswith("POST")] == []
