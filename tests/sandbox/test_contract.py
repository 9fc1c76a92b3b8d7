"""Contract: the sandbox answers as GitLab's REST docs say (doc/api/issues.md, notes.md, rest/_index.md).

Expectations are written from the documentation, not from the sandbox's code: status codes, body
shapes, error bodies, pagination headers. Driven both by python-gitlab and by plain HTTP.
"""

from __future__ import annotations

import re
import warnings
from urllib.parse import parse_qs, urlsplit

import gitlab
import pytest

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISSUE_FIELDS = {
    "id", "iid", "project_id", "title", "description", "state", "created_at", "updated_at", "closed_at",
    "closed_by", "labels", "milestone", "assignees", "author", "type", "assignee", "user_notes_count",
    "merge_requests_count", "upvotes", "downvotes", "due_date", "confidential", "discussion_locked",
    "issue_type", "web_url", "time_stats", "task_completion_status", "has_tasks", "task_status", "_links",
    "references", "severity", "moved_to_id", "imported", "imported_from",
}  # fmt: skip
NOTE_FIELDS = {
    "id", "type", "body", "author", "created_at", "updated_at", "system", "noteable_id", "noteable_type",
    "project_id", "resolvable", "confidential", "internal", "noteable_iid", "commands_changes",
}  # fmt: skip
USER_FIELDS = {"id", "username", "name", "state", "avatar_url", "web_url"}
PROJECT = "/projects/acme%2Fplatform%2Frollouts"


def developer(sb: Sandbox) -> gitlab.Gitlab:
    return gitlab.Gitlab(sb.url, private_token=sb.tokens["developer"])


def links(header: str) -> dict[str, str]:
    """rel -> URL from a Link header."""
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', header)
    return {rel: url for url, rel in found}


# ---- the whole journey with python-gitlab ------------------------------------------------------------
def test_python_gitlab_journey(sandbox: Sandbox) -> None:
    """Create, list with pagination, edit the description, comment, list notes, set a feature."""
    gl = developer(sandbox)
    project = gl.projects.get(sandbox.project_path, lazy=True)
    for index in range(5):
        project.issues.create({"title": f"Rollout {index}", "description": "- [ ] one\n- [ ] two"})

    page = project.issues.list(per_page=2, page=1)
    assert [issue.iid for issue in page] == [5, 4]  # created_at desc by default
    every = project.issues.list(per_page=2, iterator=True)
    assert every.total == 5
    assert every.total_pages == 3
    assert sorted(issue.iid for issue in every) == [1, 2, 3, 4, 5]

    project.issues.update(3, {"description": "- [x] one\n- [ ] two"})
    issue = project.issues.get(3)
    assert issue.task_completion_status == {"count": 2, "completed_count": 1}
    issue.notes.create({"body": "Enabled on staging"})
    notes = issue.notes.list(get_all=True)
    assert [note.body for note in notes] == [
        "Enabled on staging",
        "marked the checklist item **one** as completed",
    ]
    assert notes[1].system is True
    assert notes[1].author["username"] == "dev"

    admin = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["admin"])
    feature = admin.features.set("my_flag", 25)
    assert feature.state == "conditional"
    assert feature.gates == [{"key": "boolean", "value": False}, {"key": "percentage_of_time", "value": 25}]
    assert [f.name for f in admin.features.list(get_all=True)] == ["my_flag"]


def test_first_page_warns_like_python_gitlab_expects(sandbox: Sandbox) -> None:
    """python-gitlab reads X-Total-Pages to warn that `list()` returned one page of several."""
    for index in range(21):
        sandbox.create_issue(title=f"i{index}")
    project = developer(sandbox).projects.get(sandbox.project_path, lazy=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(project.issues.list()) == 20
    assert any("get_all=True" in str(w.message) for w in caught)


# ---- issues: entity shape -------------------------------------------------------------------------
def test_created_issue_has_the_documented_entity(api: PlainHTTP, sandbox: Sandbox) -> None:
    answer = api(
        "POST",
        f"{PROJECT}/issues",
        json={
            "title": "Rollout",
            "description": "- [ ] a\n- [X] b",
            "labels": "rollout,flag",
            "due_date": "2030-01-31",
        },
    )
    assert answer.status == 201
    issue = answer.body
    assert set(issue) >= ISSUE_FIELDS
    assert issue["project_id"] == 42
    assert issue["iid"] == 1
    assert issue["state"] == "opened"
    assert issue["labels"] == ["flag", "rollout"]  # the entity sorts label names
    assert issue["type"] == "ISSUE"
    assert issue["issue_type"] == "issue"
    assert issue["due_date"] == "2030-01-31"
    assert issue["web_url"] == f"{sandbox.url}/acme/platform/rollouts/-/issues/1"
    assert issue["references"] == {
        "short": "#1",
        "relative": "#1",
        "full": "acme/platform/rollouts#1",
    }
    assert issue["_links"]["self"] == f"{sandbox.url}/api/v4/projects/42/issues/1"
    assert issue["_links"]["notes"] == f"{sandbox.url}/api/v4/projects/42/issues/1/notes"
    assert set(issue["author"]) >= USER_FIELDS
    assert issue["author"]["username"] == "dev"
    assert issue["assignees"] == []
    assert issue["assignee"] is None
    assert ISO_MS_Z.match(issue["created_at"])
    assert ISO_MS_Z.match(issue["updated_at"])
    assert issue["closed_at"] is None
    assert issue["task_completion_status"] == {"count": 2, "completed_count": 1}
    assert issue["has_tasks"] is True
    assert issue["task_status"] == "1 of 2 checklist items completed"
    assert issue["user_notes_count"] == 0
    assert issue["confidential"] is False


def test_project_by_id_and_by_encoded_path_is_the_same(api: PlainHTTP) -> None:
    by_path = api("GET", PROJECT)
    by_id = api("GET", "/projects/42")
    assert by_path.status == by_id.status == 200
    assert by_path.body["id"] == by_id.body["id"] == 42
    assert by_id.body["path_with_namespace"] == "acme/platform/rollouts"
    assert by_id.body["namespace"]["full_path"] == "acme/platform"


def test_assignees_and_milestone_on_create(api: PlainHTTP) -> None:
    answer = api("POST", "/projects/42/issues", json={"title": "t", "assignee_ids": [2], "milestone_id": 1})
    assert answer.status == 201
    assert [user["username"] for user in answer.body["assignees"]] == ["dev"]
    assert answer.body["assignee"]["username"] == "dev"
    assert answer.body["milestone"]["title"] == "17.0"


def test_labels_named_on_an_issue_exist_in_the_project(api: PlainHTTP) -> None:
    api("POST", "/projects/42/issues", json={"title": "t", "labels": ["group::delivery", "feature flag"]})
    labels = api("GET", "/projects/42/labels")
    assert labels.status == 200
    assert {label["name"] for label in labels.body} == {"group::delivery", "feature flag"}


# ---- issues: list filters ---------------------------------------------------------------------------
def test_list_defaults_to_all_states(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="open one")
    sandbox.create_issue(title="closed one")
    api("PUT", "/projects/42/issues/2", json={"state_event": "close"})
    assert {i["title"] for i in api("GET", "/projects/42/issues").body} == {"open one", "closed one"}
    opened = api("GET", "/projects/42/issues", params={"state": "opened"}).body
    assert [i["title"] for i in opened] == ["open one"]
    closed = api("GET", "/projects/42/issues", params={"state": "closed"}).body
    assert [i["title"] for i in closed] == ["closed one"]
    assert closed[0]["closed_by"]["username"] == "dev"
    assert ISO_MS_Z.match(closed[0]["closed_at"])


def test_labels_filter_requires_all_labels(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="both", labels=["a", "b"])
    sandbox.create_issue(title="only a", labels=["a"])
    sandbox.create_issue(title="none")

    def titles(params: dict[str, str]) -> set[str]:
        return {i["title"] for i in api("GET", "/projects/42/issues", params=params).body}

    assert titles({"labels": "a,b"}) == {"both"}
    assert titles({"labels": "a"}) == {"both", "only a"}
    assert titles({"labels": "None"}) == {"none"}
    assert titles({"labels": "Any"}) == {"both", "only a"}
    assert titles({"not[labels]": "b"}) == {"only a", "none"}


def test_search_in_title_iids_author_and_order(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="Rollout of `alpha`", description="beta mentioned here")
    sandbox.create_issue(title="Rollout of `beta`", author="admin")
    sandbox.create_issue(title="Unrelated")
    in_title = api("GET", "/projects/42/issues", params={"search": "beta", "in": "title"}).body
    assert [i["title"] for i in in_title] == ["Rollout of `beta`"]
    anywhere = api("GET", "/projects/42/issues", params={"search": "beta"}).body
    assert len(anywhere) == 2
    by_iid = api("GET", "/projects/42/issues?iids[]=1&iids[]=3").body
    assert sorted(i["iid"] for i in by_iid) == [1, 3]
    by_author = api("GET", "/projects/42/issues", params={"author_username": "root"}).body
    assert [i["iid"] for i in by_author] == [2]
    ascending = api("GET", "/projects/42/issues", params={"order_by": "title", "sort": "asc"}).body
    assert [i["title"] for i in ascending] == ["Rollout of `alpha`", "Rollout of `beta`", "Unrelated"]
    oldest_first = api("GET", "/projects/42/issues", params={"sort": "asc"}).body
    assert [i["iid"] for i in oldest_first] == [1, 2, 3]


def test_updated_after_filters_on_update_time(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="old")
    second = sandbox.create_issue(title="new")
    cutoff = second["updated_at"]
    after = api("GET", "/projects/42/issues", params={"updated_after": cutoff}).body
    assert [i["title"] for i in after] == ["new"]
    sandbox.edit_issue(None, 1, title="old, edited")
    after = api("GET", "/projects/42/issues", params={"updated_after": cutoff, "order_by": "updated_at"}).body
    assert [i["title"] for i in after] == ["old, edited", "new"]


def test_bad_list_parameters_are_400(api: PlainHTTP) -> None:
    answer = api("GET", "/projects/42/issues", params={"state": "open"})
    assert (answer.status, answer.body) == (400, {"error": "state does not have a valid value"})
    answer = api("GET", "/projects/42/issues", params={"order_by": "colour"})
    assert answer.status == 400
    answer = api("GET", "/projects/42/issues", params={"updated_after": "yesterday-ish"})
    assert answer.status == 400


# ---- pagination -----------------------------------------------------------------------------------
def test_offset_pagination_headers_over_five_issues(api: PlainHTTP, sandbox: Sandbox) -> None:
    for index in range(5):
        sandbox.create_issue(title=f"issue {index}")
    first = api("GET", "/projects/42/issues", params={"per_page": 2})
    assert [i["iid"] for i in first.body] == [5, 4]
    assert first.headers["X-Total"] == "5"
    assert first.headers["X-Total-Pages"] == "3"
    assert first.headers["X-Page"] == "1"
    assert first.headers["X-Per-Page"] == "2"
    assert first.headers["X-Next-Page"] == "2"
    assert first.headers["X-Prev-Page"] == ""
    rels = links(first.headers["Link"])
    assert set(rels) == {"next", "first", "last"}
    assert parse_qs(urlsplit(rels["next"]).query)["page"] == ["2"]
    assert parse_qs(urlsplit(rels["last"]).query)["page"] == ["3"]

    middle = api("GET", rels["next"])
    assert [i["iid"] for i in middle.body] == [3, 2]
    assert set(links(middle.headers["Link"])) == {"prev", "next", "first", "last"}
    assert (middle.headers["X-Prev-Page"], middle.headers["X-Next-Page"]) == ("1", "3")

    last = api("GET", links(middle.headers["Link"])["next"])
    assert [i["iid"] for i in last.body] == [1]
    assert set(links(last.headers["Link"])) == {"prev", "first", "last"}
    assert last.headers["X-Next-Page"] == ""


def test_link_keeps_the_filters(api: PlainHTTP, sandbox: Sandbox) -> None:
    for index in range(3):
        sandbox.create_issue(title=f"x{index}", labels=["keep"])
    first = api("GET", "/projects/42/issues", params={"per_page": 1, "labels": "keep", "state": "opened"})
    query = parse_qs(urlsplit(links(first.headers["Link"])["next"]).query)
    assert query["labels"] == ["keep"]
    assert query["state"] == ["opened"]


def test_per_page_is_capped_at_100_and_defaults_to_20(api: PlainHTTP, sandbox: Sandbox) -> None:
    for index in range(101):
        sandbox.create_issue(title=f"bulk {index}")
    default = api("GET", "/projects/42/issues")
    assert (len(default.body), default.headers["X-Per-Page"]) == (20, "20")
    capped = api("GET", "/projects/42/issues", params={"per_page": 500})
    assert (len(capped.body), capped.headers["X-Per-Page"]) == (100, "100")


def test_keyset_pagination_follows_link_next(api: PlainHTTP, sandbox: Sandbox) -> None:
    for index in range(5):
        sandbox.create_issue(title=f"k{index}")
    params = {"pagination": "keyset", "order_by": "created_at", "sort": "asc", "per_page": 2}
    answer = api("GET", "/projects/42/issues", params=params)
    seen = [i["iid"] for i in answer.body]
    assert "X-Total" not in answer.headers
    while "Link" in answer.headers:
        next_url = links(answer.headers["Link"])["next"]
        assert "cursor=" in next_url or "id_after=" in next_url
        answer = api("GET", next_url)
        seen.extend(i["iid"] for i in answer.body)
    assert seen == [1, 2, 3, 4, 5]


def test_python_gitlab_keyset_iterator(sandbox: Sandbox) -> None:
    for index in range(5):
        sandbox.create_issue(title=f"k{index}")
    gl = gitlab.Gitlab(
        sandbox.url, private_token=sandbox.tokens["developer"], pagination="keyset", per_page=2
    )
    project = gl.projects.get(sandbox.project_path, lazy=True)
    found = [issue.iid for issue in project.issues.list(order_by="created_at", sort="desc", iterator=True)]
    assert found == [5, 4, 3, 2, 1]


# ---- issues: edit ---------------------------------------------------------------------------------
def test_edit_description_writes_system_notes(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t", description="- [ ] enable\n- [ ] announce")
    ticked = api("PUT", "/projects/42/issues/1", json={"description": "- [x] enable\n- [ ] announce"})
    assert ticked.status == 200
    assert ticked.body["task_completion_status"] == {"count": 2, "completed_count": 1}
    api("PUT", "/projects/42/issues/1", json={"description": "- [ ] enable\n- [ ] announce"})
    api("PUT", "/projects/42/issues/1", json={"description": "Rewritten.\n- [ ] enable\n- [ ] announce"})
    notes = api("GET", "/projects/42/issues/1/notes", params={"sort": "asc"}).body
    assert [note["body"] for note in notes] == [
        "marked the checklist item **enable** as completed",
        "marked the checklist item **enable** as incomplete",
        "changed the description",
    ]
    assert all(note["system"] and note["author"]["username"] == "dev" for note in notes)
    assert all(ISO_MS_Z.match(note["created_at"]) for note in notes)


@pytest.mark.parametrize("resource_events", [True, False], ids=["resource events", "older GitLab"])
def test_labels_add_remove_and_state_event(api: PlainHTTP, sandbox: Sandbox, resource_events: bool) -> None:
    """Label and state changes: resource events on current GitLab (the notes stay empty), system notes on
    a GitLab from before them (tests/sandbox/test_fidelity.py checks the events' shapes)."""
    sandbox.quirks.resource_events = resource_events
    sandbox.create_issue(title="t", labels=["workflow::todo"])
    answer = api(
        "PUT", "/projects/42/issues/1", json={"add_labels": "rollout", "remove_labels": "workflow::todo"}
    )
    assert answer.body["labels"] == ["rollout"]
    closed = api("PUT", "/projects/42/issues/1", json={"state_event": "close"})
    assert closed.body["state"] == "closed"
    reopened = api("PUT", "/projects/42/issues/1", json={"state_event": "reopen"})
    assert (reopened.body["state"], reopened.body["closed_at"]) == ("opened", None)
    activity = [n["body"] for n in api("GET", "/projects/42/issues/1/notes?sort=asc").body]
    if not resource_events:
        assert activity == ["added ~rollout label and removed ~workflow::todo label", "closed", "reopened"]
        return
    assert activity == []
    labels = api("GET", "/projects/42/issues/1/resource_label_events").body
    assert [(e["action"], e["label"]["name"]) for e in labels] == [
        ("add", "workflow::todo"),  # created with it
        ("add", "rollout"),
        ("remove", "workflow::todo"),
    ]
    states = api("GET", "/projects/42/issues/1/resource_state_events").body
    assert [e["state"] for e in states] == ["closed", "reopened"]


def test_update_without_parameters_is_400(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    answer = api("PUT", "/projects/42/issues/1", json={"lock_version": 3})
    assert answer.status == 400
    assert answer.body["error"].endswith("at least one parameter must be provided")


def test_updated_at_moves_on_edit_and_on_comment(api: PlainHTTP, sandbox: Sandbox) -> None:
    created = sandbox.create_issue(title="t")
    edited = api("PUT", "/projects/42/issues/1", json={"title": "t2"}).body
    assert edited["updated_at"] > created["updated_at"]
    api("POST", "/projects/42/issues/1/notes", json={"body": "hello"})
    assert api("GET", "/projects/42/issues/1").body["updated_at"] > edited["updated_at"]


# ---- quick actions --------------------------------------------------------------------------------
def test_quick_actions_in_description_apply_and_vanish(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_label("rollout")
    description = (
        'Plan\n/label ~rollout ~"feature flag" ~no-such-label\n'
        "/assign @dev\n/due 2031-05-01\n```\n/close\n```"
    )
    answer = api("POST", "/projects/42/issues", json={"title": "t", "description": description})
    issue = answer.body
    assert issue["labels"] == ["feature flag", "rollout"]  # quick actions never create labels
    assert [u["username"] for u in issue["assignees"]] == ["dev"]
    assert issue["due_date"] == "2031-05-01"
    assert issue["description"] == "Plan\n```\n/close\n```"  # a command in a code block is text
    assert "no-such-label" not in {label["name"] for label in api("GET", "/projects/42/labels").body}


def test_close_acts_only_on_an_existing_issue(api: PlainHTTP) -> None:
    created = api("POST", "/projects/42/issues", json={"title": "t", "description": "Plan\n/close"}).body
    assert (created["state"], created["description"]) == ("opened", "Plan\n/close")
    edited = api("PUT", "/projects/42/issues/1", json={"description": "Plan\n/close"}).body
    assert (edited["state"], edited["description"]) == ("closed", "Plan")


def test_note_of_only_quick_actions_is_202_and_not_stored(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t", labels=["old"])
    answer = api("POST", "/projects/42/issues/1/notes", json={"body": "/unlabel ~old\n/close"})
    assert answer.status == 202
    assert set(answer.body) == {"commands_changes", "summary"}
    assert answer.body["commands_changes"]["state_event"] == "close"
    issue = api("GET", "/projects/42/issues/1").body
    assert (issue["state"], issue["labels"], issue["user_notes_count"]) == ("closed", [], 0)
    comments = api("GET", "/projects/42/issues/1/notes", params={"activity_filter": "only_comments"}).body
    assert comments == []


def test_note_with_text_and_quick_action_keeps_the_text(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    sandbox.create_label("staging")
    answer = api("POST", "/projects/42/issues/1/notes", json={"body": "Done on staging.\n/label ~staging"})
    assert answer.status == 201
    assert answer.body["body"] == "Done on staging."
    assert api("GET", "/projects/42/issues/1").body["labels"] == ["staging"]


# ---- notes ----------------------------------------------------------------------------------------
def test_notes_create_list_get_and_filters(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t", description="- [ ] a")
    sandbox.edit_issue(None, 1, description="- [x] a")
    first = api("POST", "/projects/42/issues/1/notes", json={"body": "first"})
    assert first.status == 201
    assert set(first.body) >= NOTE_FIELDS
    assert (first.body["noteable_type"], first.body["noteable_iid"], first.body["system"]) == (
        "Issue",
        1,
        False,
    )
    internal = api("POST", "/projects/42/issues/1/notes", json={"body": "secret", "internal": True}).body
    assert internal["internal"] is True

    newest_first = api("GET", "/projects/42/issues/1/notes").body
    assert [n["body"] for n in newest_first] == [
        "secret",
        "first",
        "marked the checklist item **a** as completed",
    ]
    oldest_first = api("GET", "/projects/42/issues/1/notes", params={"sort": "asc"}).body
    assert [n["body"] for n in oldest_first] == list(reversed([n["body"] for n in newest_first]))
    only_comments = api(
        "GET", "/projects/42/issues/1/notes", params={"activity_filter": "only_comments"}
    ).body
    assert {n["body"] for n in only_comments} == {"first", "secret"}
    only_activity = api(
        "GET", "/projects/42/issues/1/notes", params={"activity_filter": "only_activity"}
    ).body
    assert [n["system"] for n in only_activity] == [True]

    single = api("GET", f"/projects/42/issues/1/notes/{first.body['id']}")
    assert single.body["body"] == "first"
    # GitLab's answer to a record its finder did not find (lib/api/api.rb, RecordNotFound)
    assert api("GET", "/projects/42/issues/1/notes/999999").body == {"message": "404 Not found"}
    assert api("GET", "/projects/42/issues/1").body["user_notes_count"] == 2


def test_delete_note_only_by_its_author_or_an_admin(api: PlainHTTP, sandbox: Sandbox) -> None:
    """doc/api/notes.md, "Delete an issue note": 204 and no body; `admin_note` is the author's or an
    admin's, never another member's, and a system note is not editable, so not deletable."""
    sandbox.create_issue(title="t", description="- [ ] a")
    sandbox.edit_issue(None, 1, description="- [x] a")  # a system note
    notes = "/projects/42/issues/1/notes"
    mine = api("POST", notes, json={"body": "mine"}).body["id"]
    second = api("POST", notes, json={"body": "second"}).body["id"]
    theirs = api("POST", notes, json={"body": "theirs"}, as_="admin").body["id"]
    system = next(n["id"] for n in api("GET", notes).body if n["system"])

    assert api("DELETE", f"{notes}/{theirs}").status == 403  # the developer did not write it
    assert api("DELETE", f"{notes}/{system}", as_="admin").status == 403
    gone = api("DELETE", f"{notes}/{mine}")
    assert (gone.status, gone.body) == (204, None)
    assert api("GET", f"{notes}/{mine}").body == {"message": "404 Not found"}
    assert api("DELETE", f"{notes}/{mine}").status == 404  # deleted once; the client takes 404 as done
    assert api("DELETE", f"{notes}/{second}", as_="admin").status == 204  # an admin deletes anyone's
    assert [n["body"] for n in api("GET", notes).body] == [
        "theirs",
        "marked the checklist item **a** as completed",
    ]
    assert api("GET", "/projects/42/issues/1").body["user_notes_count"] == 1


def test_note_body_required(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    assert api("POST", "/projects/42/issues/1/notes", json={}).body == {"error": "body is missing"}
    blank = api("POST", "/projects/42/issues/1/notes", json={"body": "  "})
    assert (blank.status, blank.body) == (
        400,
        {"message": '400 Bad request - Note {:note=>["can\'t be blank"]}'},
    )


# ---- limits and errors ----------------------------------------------------------------------------
def test_length_limits(api: PlainHTTP, sandbox: Sandbox) -> None:
    long_title = api("POST", "/projects/42/issues", json={"title": "t" * 256})
    assert long_title.status == 400
    assert long_title.body == {"message": {"title": ["is too long (maximum is 255 characters)"]}}
    long_description = api("POST", "/projects/42/issues", json={"title": "t", "description": "d" * 1_048_577})
    assert long_description.status == 400
    assert long_description.body == {
        "message": {"description": ["is too long (maximum is 1048576 characters)"]}
    }
    assert (
        api("POST", "/projects/42/issues", json={"title": "t", "description": "d" * 1_048_576}).status == 201
    )
    long_note = api("POST", "/projects/42/issues/1/notes", json={"body": "n" * 1_000_001})
    assert long_note.status == 400
    # lib/api/helpers/notes_helpers.rb: bad_request!("Note #{note.errors.messages}")
    assert long_note.body == {
        "message": '400 Bad request - Note {:note=>["is too long (maximum is 1000000 characters)"]}'
    }
    assert sandbox.count_issues() == 1


def test_missing_title_is_a_grape_error(api: PlainHTTP) -> None:
    answer = api("POST", "/projects/42/issues", json={"description": "x"})
    assert (answer.status, answer.body) == (400, {"error": "title is missing"})


def test_not_found_bodies(api: PlainHTTP) -> None:
    assert api("GET", "/projects/nobody%2Fnothing/issues").body == {"message": "404 Project Not Found"}
    assert api("GET", "/projects/4242").status == 404
    assert api("GET", "/projects/42/issues/77").body == {"message": "404 Not found"}  # RecordNotFound
    unknown = api("GET", "/projects/42/wikis-that-do-not-exist")
    assert (unknown.status, unknown.body) == (404, {"error": "404 Not Found"})
    assert api("GET", "/groups/nope/issues").body == {"message": "404 Group Not Found"}


# ---- authentication -------------------------------------------------------------------------------
def test_missing_or_wrong_token_is_401(api: PlainHTTP) -> None:
    for answer in (api("GET", "/user", as_=None), api("GET", "/user", as_="glpat-not-a-token")):
        assert (answer.status, answer.body) == (401, {"message": "401 Unauthorized"})
    # A private project is invisible without a token, and writes need one.
    assert api("GET", "/projects/42/issues", as_=None).body == {"message": "404 Project Not Found"}
    assert api("POST", "/projects/42/issues", as_=None, json={"title": "t"}).status == 401


def test_bearer_header_carries_a_personal_token(api: PlainHTTP) -> None:
    answer = api("GET", "/user", auth="bearer")
    assert (answer.status, answer.body["username"]) == (200, "dev")


def test_job_token_reads_issues_but_cannot_write(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    assert api("GET", "/projects/42/issues", as_="job", auth="job").status == 200
    assert api("GET", "/projects/42/issues/1", as_="job", auth="job").body["iid"] == 1
    # Other routes do not accept a job token: the request is anonymous there.
    write = api("POST", "/projects/42/issues", as_="job", auth="job", json={"title": "t"})
    assert (write.status, write.body) == (401, {"message": "401 Unauthorized"})
    assert api("PUT", "/projects/42/issues/1", as_="job", auth="job", json={"title": "x"}).status == 401
    assert api("POST", "/projects/42/issues/1/notes", as_="job", auth="job", json={"body": "b"}).status == 401
    assert api("GET", "/features", as_="job", auth="job").status == 401
    assert sandbox.count_issues() == 1


def test_job_token_with_python_gitlab(sandbox: Sandbox) -> None:
    sandbox.create_issue(title="readable")
    gl = gitlab.Gitlab(sandbox.url, job_token=sandbox.tokens["job"])
    project = gl.projects.get(sandbox.project_id, lazy=True)
    assert [issue.title for issue in project.issues.list()] == ["readable"]
    with pytest.raises(gitlab.GitlabAuthenticationError):
        project.issues.create({"title": "nope"})


def test_reporter_token_is_read_only(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="t")
    assert api("GET", "/projects/42/issues/1", as_="reporter").status == 200
    write = api("POST", "/projects/42/issues/1/notes", as_="reporter", json={"body": "hi"})
    assert write.status == 403
    assert write.body["error"] == "insufficient_scope"


def test_version_user_metadata(api: PlainHTTP) -> None:
    version = api("GET", "/version").body
    assert set(version) >= {"version", "revision"}
    assert re.match(r"^\d+\.\d+\.\d+", version["version"])
    metadata = api("GET", "/metadata").body
    assert set(metadata) >= {"version", "revision", "kas", "enterprise"}
    user = api("GET", "/user", as_="admin").body
    assert (user["username"], user["is_admin"]) == ("root", True)
    assert api("GET", "/version", as_=None).status == 401


# ---- groups ---------------------------------------------------------------------------------------
def test_group_issues_include_subgroups(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="in subgroup project")
    sandbox.create_issue(project=sandbox.second_project_path, title="in top group project")
    top = api("GET", "/groups/acme/issues").body
    assert {i["title"] for i in top} == {"in subgroup project", "in top group project"}
    assert {i["references"]["relative"] for i in top} == {"acme/platform/rollouts#1", "acme/website#1"}
    sub = api("GET", "/groups/acme%2Fplatform/issues").body
    assert [i["title"] for i in sub] == ["in subgroup project"]
