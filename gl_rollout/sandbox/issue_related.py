"""Smaller issue and label routes python-gitlab's issue tests read (doc/api/issues.md, labels.md).

- `GET /projects/:id/issues/:issue_iid/participants`: the users who took part, as `UserBasic`: the
  author, the assignees and the authors of the issue's comments (system notes excluded), first
  appearance first;
- `GET .../closed_by` and `GET .../related_merge_requests`: the merge requests that close or mention
  the issue, paginated as GitLab's; the sandbox's merge requests mention an issue only by closing it, so
  both list the merge requests that close it (`Sandbox.create_merge_request(closes=...)`);
- `POST /projects/:id/labels`: a project label (`name` and `color` required, `description`,
  `priority`); 409 `Label already exists` for a name the project has; Reporter or above.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.issue_routes import find_issue
from gl_rollout.sandbox.merge_requests import mr_entity
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, param_error
from gl_rollout.sandbox.store import REPORTER, decode_list

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def register(router: Router) -> None:
    router.add("GET", "/projects/:id/issues/:issue_iid/participants", participants)
    router.add("GET", "/projects/:id/issues/:issue_iid/closed_by", closing_merge_requests)
    router.add("GET", "/projects/:id/issues/:issue_iid/related_merge_requests", closing_merge_requests)
    router.add("POST", "/projects/:id/labels", create_label)


def participants(ctx: Ctx) -> Reply:
    require_user(ctx)
    issue = find_issue(ctx, find_project(ctx, ctx.route_args["id"]))
    ids = [issue["author_id"], *decode_list(issue["assignee_ids"])]
    ids += [note["author_id"] for note in ctx.store.notes_of(issue["id"]) if not note["system"]]
    users = [user for user in (ctx.store.user(i) for i in dict.fromkeys(ids)) if user is not None]
    return Reply(200, [entities.user_basic(user, ctx.base_url) for user in users])


def closing_merge_requests(ctx: Ctx) -> Reply:
    require_user(ctx)
    issue = find_issue(ctx, find_project(ctx, ctx.route_args["id"]))
    rows = ctx.store.all(
        "SELECT merge_requests.* FROM mr_closes JOIN merge_requests ON merge_requests.id = mr_closes.mr_id "
        "WHERE mr_closes.issue_id = ? ORDER BY merge_requests.id",
        (issue["id"],),
    )
    page = offset_page(ctx, rows)
    body = []
    for mr in page.items:
        project = ctx.store.project(mr["project_id"])
        assert project is not None
        body.append(mr_entity(ctx.store, mr, project, ctx.base_url))
    return Reply(200, body, page.headers)


def create_label(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    if ctx.store.access_level(user, project) < REPORTER:
        raise forbidden()
    name = (ctx.string("name") or "").strip()
    if not name:
        raise param_error("name is missing")
    color = ctx.string("color")
    if not color:
        raise param_error("color is missing")
    if not _COLOUR.match(color):
        raise ApiError(400, {"message": {"color": ["must be a valid color code"]}})
    if ctx.store.label(project["id"], name) is not None:
        raise ApiError(409, {"message": "Label already exists"})
    label_id = ctx.store.execute(
        "INSERT INTO labels (project_id, name, color, description) VALUES (?, ?, ?, ?)",
        (project["id"], name, color, ctx.string("description")),
    )
    row = ctx.store.one("SELECT * FROM labels WHERE id = ?", (label_id,))
    assert row is not None
    return Reply(201, entities.label_entity(row))
