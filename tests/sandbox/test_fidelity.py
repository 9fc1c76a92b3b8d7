"""Fidelity: where gl-rollout and python-gitlab read, the sandbox answers as GitLab's documentation says.

One test or more per item of issue 13's second deliverable, each written from GitLab's docs:
doc/api/resource_label_events.md, resource_state_events.md, resource_milestone_events.md (resource
events), doc/api/rest/troubleshooting.md and lib/api/api.rb (404 bodies), doc/administration/settings/
user_and_ip_rate_limits.md (the RateLimit header set), doc/api/issues.md (`search`, `in`,
`created_after`/`updated_before`), doc/api/projects.md and doc/api/groups.md (the lists).
"""

from __future__ import annotations

import email.utils
import http.client
import time
from urllib.parse import urlsplit

import pytest

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

ISSUES = "/projects/42/issues"


# ---- resource events -------------------------------------------------------------------------------------
def test_label_events_have_gitlabs_shape(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_label("rollout::staging")
    created = api("POST", ISSUES, json={"title": "t", "labels": "feature flag"}).body
    api("PUT", f"{ISSUES}/{created['iid']}", json={"add_labels": "rollout::staging"})
    api("PUT", f"{ISSUES}/{created['iid']}", json={"remove_labels": "feature flag"})
    answer = api("GET", f"{ISSUES}/{created['iid']}/resource_label_events")
    assert answer.status == 200
    events = answer.body
    assert [(e["action"], e["label"]["name"]) for e in events] == [
        ("add", "feature flag"),
        ("add", "rollout::staging"),
        ("remove", "feature flag"),
    ]
    first = events[0]
    assert set(first) == {"id", "user", "created_at", "resource_type", "resource_id", "label", "action"}
    assert (first["resource_type"], first["resource_id"]) == ("Issue", created["id"])  # the id, not the iid
    assert first["user"]["username"] == "dev"
    assert {"id", "name", "color", "description"} <= set(first["label"])
    one = api("GET", f"{ISSUES}/{created['iid']}/resource_label_events/{events[1]['id']}")
    assert one.body == events[1]
    missing = api("GET", f"{ISSUES}/{created['iid']}/resource_label_events/99999")
    assert (missing.status, missing.body) == (404, {"message": "404 Not found"})
    # no system note says it any more: the notes carry only what people and checklists wrote
    assert api("GET", f"{ISSUES}/{created['iid']}/notes").body == []


def test_state_and_milestone_events(api: PlainHTTP) -> None:
    iid = api("POST", ISSUES, json={"title": "t"}).body["iid"]
    api("PUT", f"{ISSUES}/{iid}", json={"milestone_id": 1})
    api("PUT", f"{ISSUES}/{iid}", json={"state_event": "close"})
    api("PUT", f"{ISSUES}/{iid}", json={"state_event": "reopen"})
    api("PUT", f"{ISSUES}/{iid}", json={"milestone_id": 0})
    states = api("GET", f"{ISSUES}/{iid}/resource_state_events").body
    assert [e["state"] for e in states] == ["closed", "reopened"]
    assert {"source_commit", "source_merge_request_id", "resource_type", "resource_id"} <= set(states[0])
    milestones = api("GET", f"{ISSUES}/{iid}/resource_milestone_events").body
    shown = [(e["action"], e["milestone"]["title"]) for e in milestones]
    assert shown == [("add", "17.0"), ("remove", "17.0")]
    assert milestones[0]["milestone"]["id"] == 1
    assert api("GET", f"{ISSUES}/{iid}/notes").body == []


def test_resource_events_paginate_and_need_a_token(api: PlainHTTP, sandbox: Sandbox) -> None:
    for name in ("a", "b", "c"):
        sandbox.create_label(name)
    iid = api("POST", ISSUES, json={"title": "t", "labels": "a,b,c"}).body["iid"]
    page = api("GET", f"{ISSUES}/{iid}/resource_label_events", params={"per_page": 2})
    assert len(page.body) == 2
    assert page.headers["X-Total"] == "3"
    assert api("GET", f"{ISSUES}/{iid}/resource_label_events", as_=None).status == 401
    assert api("GET", f"{ISSUES}/77/resource_state_events").body == {"message": "404 Not found"}


def test_older_gitlab_has_no_event_routes_and_writes_notes(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.quirks.resource_events = False
    iid = api("POST", ISSUES, json={"title": "t"}).body["iid"]
    api("PUT", f"{ISSUES}/{iid}", json={"milestone_id": 1, "state_event": "close"})
    gone = api("GET", f"{ISSUES}/{iid}/resource_state_events")
    assert (gone.status, gone.body) == (404, {"error": "404 Not Found"})
    bodies = [n["body"] for n in api("GET", f"{ISSUES}/{iid}/notes", params={"sort": "asc"}).body]
    assert bodies == ["changed milestone to %17.0", "closed"]


# ---- 404 bodies, request IDs, status lines -------------------------------------------------------------
def test_not_found_bodies_say_which_record(api: PlainHTTP) -> None:
    assert api("GET", f"{ISSUES}/77").body == {"message": "404 Not found"}
    assert api("GET", f"{ISSUES}/77/notes").body == {"message": "404 Not found"}
    assert api("GET", "/projects/acme%2Fnothing/issues/1").body == {"message": "404 Project Not Found"}


@pytest.mark.parametrize(
    ("path", "as_", "status"),
    [
        ("/projects/42/issues", "developer", 200),
        ("/projects/42/issues/77", "developer", 404),
        ("/projects/42/issues", "nobody-token", 401),
        ("/no-such-route", "developer", 404),
        ("/projects/42/issues?updated_after=yesterday-ish", "developer", 400),
    ],
)
def test_every_answer_has_a_request_id(api: PlainHTTP, path: str, as_: str, status: int) -> None:
    answer = api("GET", path, as_=as_)
    assert answer.status == status
    assert len(answer.headers["X-Request-Id"]) >= 20
    assert answer.headers["X-Request-Id"] != api("GET", path, as_=as_).headers["X-Request-Id"]


def test_status_lines_and_server_header_as_gitlabs(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    address = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", "/api/v4/projects/42/issues/77", headers={"PRIVATE-TOKEN": "x"})
        response = connection.getresponse()
        response.read()
        assert (response.status, response.reason) == (401, "Unauthorized")
        assert response.getheader("Server") == "nginx"
        connection.request("GET", "/api/v4/nothing")
        response = connection.getresponse()
        response.read()
        assert (response.status, response.reason) == (404, "Not Found")  # not werkzeug's "NOT FOUND"
        assert response.getheader("X-Request-Id")
    finally:
        connection.close()


# ---- rate limits -------------------------------------------------------------------------------------
def test_rate_limit_headers_follow_gitlabs_set(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.rate_limit(2)
    first = api("GET", ISSUES)
    assert first.headers["RateLimit-Name"] == "throttle_authenticated_api"
    assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Observed"]) == ("2", "1")
    assert first.headers["RateLimit-Remaining"] == "1"  # Limit - Observed
    api("GET", ISSUES)
    third, fourth = api("GET", ISSUES), api("GET", ISSUES)
    assert (third.status, fourth.status) == (429, 429)
    assert (third.headers["RateLimit-Observed"], fourth.headers["RateLimit-Observed"]) == ("3", "4")
    assert fourth.headers["RateLimit-Remaining"] == "0"
    reset = int(fourth.headers["RateLimit-Reset"])
    assert reset > time.time() - 1  # a Unix time
    reset_time = email.utils.parsedate_to_datetime(fourth.headers["RateLimit-ResetTime"])
    assert int(reset_time.timestamp()) == reset
    assert 1 <= int(fourth.headers["Retry-After"]) <= 60
    anonymous = api("GET", "/version", as_=None)
    assert anonymous.headers["RateLimit-Name"] == "throttle_unauthenticated_api"


# ---- search ----------------------------------------------------------------------------------------------
def _found(api: PlainHTTP, **params: str) -> list[str]:
    return sorted(issue["title"] for issue in api("GET", ISSUES, params=params).body)


def test_search_is_stemmed_full_text_with_word_prefixes(api: PlainHTTP, sandbox: Sandbox) -> None:
    sandbox.create_issue(title="Alpha rollout plan", description="Enable the flag on staging")
    sandbox.create_issue(title="Billing cleanup", description="Rollouts are paused meanwhile")
    assert _found(api, search="rollouts") == ["Alpha rollout plan", "Billing cleanup"]
    assert _found(api, search="llout") == []  # no substring match inside a word
    assert _found(api, search="roll") == ["Alpha rollout plan", "Billing cleanup"]  # a word's prefix
    assert _found(api, search="enabling staging") == ["Alpha rollout plan"]  # every word, stemmed
    assert _found(api, search="the") == []  # stop words alone find nothing
    assert _found(api, search="rollout", **{"in": "title"}) == ["Alpha rollout plan"]
    assert _found(api, search="paused", **{"in": "title"}) == []
    assert _found(api, search="paused", **{"in": "description"}) == ["Billing cleanup"]


# ---- time parameters -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "form",
    [
        "2020-01-01T00:00:00Z",
        "2020-01-01T00:00:00.000+00:00",
        "2020-01-01 00:00:00 UTC",
        "2020-01-01",
        "2020/01/01 00:00",
        "Wed, 01 Jan 2020 00:00:00 GMT",
        "Jan 1 2020 00:00",
        "1 January 2020",
    ],
)
def test_time_filters_accept_grapes_forms(api: PlainHTTP, sandbox: Sandbox, form: str) -> None:
    sandbox.create_issue(title="now")
    assert [i["title"] for i in api("GET", ISSUES, params={"created_after": form}).body] == ["now"]
    assert api("GET", ISSUES, params={"updated_before": form}).body == []


def test_time_filters_refuse_what_grape_refuses(api: PlainHTTP) -> None:
    answer = api("GET", ISSUES, params={"updated_after": "last tuesday"})
    assert (answer.status, answer.body) == (400, {"error": "updated_after is invalid"})


# ---- projects and groups -----------------------------------------------------------------------------------
def test_project_list_membership_search_pagination_simple(api: PlainHTTP) -> None:
    every = api("GET", "/projects", params={"order_by": "id", "sort": "asc"})
    assert [p["path_with_namespace"] for p in every.body] == ["acme/platform/rollouts", "acme/website"]
    assert every.headers["X-Total"] == "2"
    assert [p["id"] for p in api("GET", "/projects", params={"membership": "true"}).body] != []
    assert [p["path"] for p in api("GET", "/projects", params={"search": "webs"}).body] == ["website"]
    first = api("GET", "/projects", params={"per_page": 1, "order_by": "id", "sort": "asc"})
    assert ([p["id"] for p in first.body], first.headers["X-Next-Page"]) == ([42], "2")
    simple = api("GET", "/projects", params={"simple": "true"}).body[0]
    assert "open_issues_count" not in simple
    assert {"id", "path_with_namespace", "web_url", "namespace"} <= set(simple)
    assert api("GET", "/projects", as_=None).body == []  # every project here is private


def test_group_list(api: PlainHTTP) -> None:
    groups = api("GET", "/groups").body
    assert [g["full_path"] for g in groups] == ["acme", "acme/platform"]  # by name
    top = api("GET", "/groups", params={"top_level_only": "true"}).body
    assert [g["full_path"] for g in top] == ["acme"]
    found = api("GET", "/groups", params={"search": "plat"}).body
    assert [g["full_path"] for g in found] == ["acme/platform"]


def test_open_issues_count_moves(api: PlainHTTP) -> None:
    assert api("GET", "/projects/42").body["open_issues_count"] == 0
    iid = api("POST", ISSUES, json={"title": "t"}).body["iid"]
    api("POST", ISSUES, json={"title": "u"})
    assert api("GET", "/projects/42").body["open_issues_count"] == 2
    api("PUT", f"{ISSUES}/{iid}", json={"state_event": "close"})
    assert api("GET", "/projects/42").body["open_issues_count"] == 1


def test_issue_ids_are_not_iids(api: PlainHTTP) -> None:
    created = api("POST", ISSUES, json={"title": "t"}).body
    other = api("POST", "/projects/43/issues", json={"title": "u"}).body
    assert created["iid"] == other["iid"] == 1
    assert created["id"] != created["iid"]
    assert other["id"] != created["id"]
    assert api("GET", f"{ISSUES}/{created['id']}").status == 404  # asking by id finds nothing


# ---- smaller issue routes python-gitlab calls (doc/api/issues.md, labels.md) ----------------------------
def test_participants_closed_by_and_related_merge_requests(api: PlainHTTP, sandbox: Sandbox) -> None:
    iid = api("POST", ISSUES, json={"title": "t", "assignee_ids": [4]}).body["iid"]
    sandbox.add_note(None, iid, "a comment", author="reporter")
    people = api("GET", f"{ISSUES}/{iid}/participants").body
    assert [p["username"] for p in people] == ["dev", "alice", "reporter"]
    assert set(people[0]) >= {"id", "username", "name", "state", "avatar_url", "web_url"}
    assert api("GET", f"{ISSUES}/{iid}/closed_by").body == []
    assert api("GET", f"{ISSUES}/{iid}/related_merge_requests").body == []
    assert api("GET", f"{ISSUES}/77/participants").body == {"message": "404 Not found"}


def test_create_label(api: PlainHTTP) -> None:
    made = api("POST", "/projects/42/labels", json={"name": "rollout::staging", "color": "#aabbcc"})
    assert made.status == 201
    assert (made.body["name"], made.body["color"]) == ("rollout::staging", "#aabbcc")
    again = api("POST", "/projects/42/labels", json={"name": "rollout::staging", "color": "#aabbcc"})
    assert (again.status, again.body) == (409, {"message": "Label already exists"})
    assert api("POST", "/projects/42/labels", json={"name": "x"}).body == {"error": "color is missing"}
    assert (
        api("POST", "/projects/42/labels", json={"name": "y", "color": "#aabbcc"}, as_="reporter").status
        == 403
    )
    names = [label["name"] for label in api("GET", "/projects/42/labels").body]
    assert "rollout::staging" in names


def test_award_emoji_on_notes(api: PlainHTTP) -> None:
    """doc/api/emoji_reactions.md: reactions on a comment, given and taken back by the same person."""
    iid = api("POST", ISSUES, json={"title": "t"}).body["iid"]
    note_id = api("POST", f"{ISSUES}/{iid}/notes", json={"body": "Enabled on staging"}).body["id"]
    base = f"{ISSUES}/{iid}/notes/{note_id}/award_emoji"
    made = api("POST", base, json={"name": "tractor"}).body
    assert (made["name"], made["awardable_type"], made["awardable_id"]) == ("tractor", "Note", note_id)
    assert made["user"]["username"] == "dev"
    assert api("POST", base, json={"name": "tractor"}).status == 404  # the same person, the same emoji
    theirs = api("POST", base, json={"name": "tractor"}, as_="admin")
    assert theirs.status == 201  # another person may give the same one
    assert [a["id"] for a in api("GET", base).body] == [made["id"], theirs.body["id"]]
    assert api("GET", f"{base}/{made['id']}").body == made
    assert api("DELETE", f"{base}/{theirs.body['id']}").status == 403  # not the developer's
    assert api("DELETE", f"{base}/{made['id']}").status == 204
    assert [a["id"] for a in api("GET", base).body] == [theirs.body["id"]]
    assert api("GET", f"{ISSUES}/{iid}/notes/99999/award_emoji").body == {"message": "404 Not found"}
