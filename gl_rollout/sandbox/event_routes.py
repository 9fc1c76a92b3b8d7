"""The resource event routes (doc/api/resource_{label,milestone,state}_events.md); see `events.py`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gl_rollout.sandbox.auth import find_project, require_user
from gl_rollout.sandbox.events import KINDS, as_notes, event_entity, events_of
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.issue_routes import find_issue, not_found_record
from gl_rollout.sandbox.router import Handler, Reply
from gl_rollout.sandbox.service import ApiError
from gl_rollout.sandbox.store import Row

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router


def register(router: Router) -> None:
    for kind, name in KINDS.items():
        router.add("GET", f"/projects/:id/issues/:issue_iid/{name}", _lister(kind))
        router.add("GET", f"/projects/:id/issues/:issue_iid/{name}/:event_id", _getter(kind))


def _issue_of(ctx: Ctx) -> Row:
    require_user(ctx)  # `before { authenticate! }`
    if as_notes(ctx.store):  # a GitLab from before resource events: no such route
        raise ApiError(404, {"error": "404 Not Found"})
    return find_issue(ctx, find_project(ctx, ctx.route_args["id"]))


def _lister(kind: str) -> Handler:
    def list_events(ctx: Ctx) -> Reply:
        issue = _issue_of(ctx)
        page = offset_page(ctx, events_of(ctx.store, issue["id"], kind))
        body = [event_entity(ctx.store, row, issue, ctx.base_url) for row in page.items]
        return Reply(200, body, page.headers)

    return list_events


def _getter(kind: str) -> Handler:
    def get_event(ctx: Ctx) -> Reply:
        issue = _issue_of(ctx)
        text = ctx.route_args["event_id"]
        row = ctx.store.one(
            "SELECT * FROM resource_events WHERE id = ? AND issue_id = ? AND kind = ?",
            (int(text) if text.isdigit() else -1, issue["id"], kind),
        )
        if row is None:
            raise not_found_record()  # `events.find(id)`
        return Reply(200, event_entity(ctx.store, row, issue, ctx.base_url))

    return get_event
