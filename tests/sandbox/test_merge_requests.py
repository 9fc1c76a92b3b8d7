"""Contract: the sandbox's merge request routes answer as GitLab's docs say (doc/api/merge_requests.md
"List merge request diffs" and "List issues that close on merge", notes.md "Merge requests",
repository_files.md "Get raw file from repository", issue_links.md)."""

from __future__ import annotations

from urllib.parse import quote

import gitlab

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

P = "/projects/acme%2Fplatform%2Frollouts"
DEF = "config/feature_flags/beta/search_v2.yml"
YAML = "---\nname: search_v2\ntype: beta\ndefault_enabled: false\n"
DIFF_FIELDS = {
    "old_path", "new_path", "a_mode", "b_mode", "diff", "new_file", "renamed_file", "deleted_file",
    "generated_file", "collapsed", "too_large",
}  # fmt: skip


def seed(sandbox: Sandbox, **kwargs: object) -> dict[str, object]:
    return sandbox.create_merge_request(
        {DEF: YAML, "docs/new.md": "no newline"},
        edited={"README.md": ("a\nb\n", "a\nc\n")},
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_merge_request_has_the_documented_fields(api: PlainHTTP, sandbox: Sandbox) -> None:
    mr = seed(sandbox, title="Add search_v2")
    got = api("GET", f"{P}/merge_requests/{mr['iid']}")
    assert got.status == 200
    body = got.body
    assert body["iid"] == mr["iid"]
    assert body["title"] == "Add search_v2"
    assert body["state"] == "opened"
    assert body["source_branch"] == "add-feature-flags"
    assert len(body["sha"]) == 40
    assert body["web_url"].endswith(f"/acme/platform/rollouts/-/merge_requests/{mr['iid']}")
    assert body["references"]["full"] == f"acme/platform/rollouts!{mr['iid']}"
    assert api("GET", f"{P}/merge_requests/999").status == 404


def test_diffs_list_each_file_with_gitlabs_fields_and_paginate(api: PlainHTTP, sandbox: Sandbox) -> None:
    mr = seed(sandbox)
    got = api("GET", f"{P}/merge_requests/{mr['iid']}/diffs")
    assert got.status == 200
    by_path = {item["new_path"]: item for item in got.body}
    assert all(set(item) == DIFF_FIELDS for item in got.body)
    added = by_path[DEF]
    assert added["new_file"] is True
    assert added["a_mode"] == "0"
    assert added["b_mode"] == "100644"
    assert added["diff"] == "@@ -0,0 +1,4 @@\n" + "".join(f"+{line}\n" for line in YAML.splitlines())
    assert by_path["docs/new.md"]["diff"] == "@@ -0,0 +1 @@\n+no newline\n\\ No newline at end of file\n"
    edited = by_path["README.md"]
    assert edited["new_file"] is False
    assert "-b\n+c\n" in edited["diff"]
    paged = api("GET", f"{P}/merge_requests/{mr['iid']}/diffs", params={"per_page": 1, "page": 2})
    assert len(paged.body) == 1
    assert paged.headers["X-Total"] == "3"


def test_a_collapsed_diff_is_empty_and_the_file_is_read_raw_from_the_branch(
    api: PlainHTTP, sandbox: Sandbox
) -> None:
    mr = seed(sandbox, collapsed=[DEF])
    diffs = {d["new_path"]: d for d in api("GET", f"{P}/merge_requests/{mr['iid']}/diffs").body}
    assert diffs[DEF]["diff"] == ""
    assert diffs[DEF]["collapsed"] is True
    for ref in (mr["source_branch"], mr["sha"]):
        raw = api("GET", f"{P}/repository/files/{quote(DEF, safe='')}/raw", params={"ref": ref})
        assert raw.status == 200
        assert raw.body == YAML
        assert raw.headers["Content-Type"].startswith("text/plain")
    missing = api("GET", f"{P}/repository/files/{quote(DEF, safe='')}/raw", params={"ref": "main"})
    assert missing.status == 404
    assert missing.body == {"message": "404 File Not Found"}
    assert api("GET", f"{P}/repository/files/{quote(DEF, safe='')}/raw").status == 400


def test_closes_issues_lists_the_issues_the_mr_closes(api: PlainHTTP, sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(None, title="The feature")
    mr = seed(sandbox, closes=[issue["iid"]])
    got = api("GET", f"{P}/merge_requests/{mr['iid']}/closes_issues")
    assert got.status == 200
    assert [item["iid"] for item in got.body] == [issue["iid"]]
    assert got.body[0]["title"] == "The feature"


def test_merge_request_notes_are_listed_and_posted(sandbox: Sandbox) -> None:
    mr = seed(sandbox)
    gl = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["developer"])
    project = gl.projects.get("acme/platform/rollouts")
    merge_request = project.mergerequests.get(mr["iid"])
    note = merge_request.notes.create({"body": "first"})
    merge_request.notes.create({"body": "second"})
    assert note.noteable_type == "MergeRequest"
    bodies = [n.body for n in merge_request.notes.list(sort="desc", order_by="created_at", get_all=True)]
    assert bodies == ["second", "first"]
    assert sandbox.merge_request_notes(mr["iid"]) == ["first", "second"]


def test_an_empty_note_body_is_refused(api: PlainHTTP, sandbox: Sandbox) -> None:
    mr = seed(sandbox)
    got = api("POST", f"{P}/merge_requests/{mr['iid']}/notes", json={})
    assert got.status == 400
    assert sandbox.merge_request_notes(mr["iid"]) == []


def test_issue_links_are_made_once_and_listed_from_both_sides(api: PlainHTTP, sandbox: Sandbox) -> None:
    one = sandbox.create_issue(None, title="one")
    two = sandbox.create_issue(None, title="two")
    link = {"target_project_id": "acme/platform/rollouts", "target_issue_iid": two["iid"]}
    made = api("POST", f"{P}/issues/{one['iid']}/links", json=link)
    assert made.status == 201
    assert made.body["link_type"] == "relates_to"
    assert made.body["source_issue"]["iid"] == one["iid"]
    assert made.body["target_issue"]["iid"] == two["iid"]
    again = api("POST", f"{P}/issues/{one['iid']}/links", json=link)
    assert again.status == 409
    listed = api("GET", f"{P}/issues/{two['iid']}/links").body
    assert [(item["iid"], item["link_type"]) for item in listed] == [(one["iid"], "relates_to")]
    assert "issue_link_id" in listed[0]
    gone = api("POST", f"{P}/issues/{one['iid']}/links", json={**link, "target_issue_iid": 999})
    assert gone.status == 404


def test_the_issue_lists_the_merge_requests_that_close_it(api: PlainHTTP, sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(None, title="The feature")
    mr = seed(sandbox, closes=[issue["iid"]])
    for route in ("closed_by", "related_merge_requests"):
        got = api("GET", f"{P}/issues/{issue['iid']}/{route}")
        assert got.status == 200
        assert [item["iid"] for item in got.body] == [mr["iid"]], route
