"""The `/api/v4` route table, and the small handlers: version, metadata, users, projects, groups, labels.

Issues live in `issue_list.py` and `issue_routes.py`, notes in `note_routes.py`, features in
`features.py`, project feature flags and their user lists in `project_flags.py`, the Unleash API in
`unleash.py`. Each handler reads its parameters the way GitLab's Grape API declares them and answers
the documented entity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gl_rollout.sandbox import (
    award_emoji,
    entities,
    environments,
    event_routes,
    features,
    freeze_periods,
    issue_list,
    issue_related,
    issue_routes,
    listing,
    merge_requests,
    note_routes,
    project_flags,
    unleash,
)
from gl_rollout.sandbox.auth import find_group, find_project, require_user
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.quirks import Quirks
from gl_rollout.sandbox.router import Reply

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

REVISION = "5andb0x"


def register(router: Router) -> None:
    router.add("GET", "/version", get_version)
    router.add("GET", "/metadata", get_metadata)
    router.add("GET", "/user", get_user)
    router.add("GET", "/users", list_users)
    router.add("GET", "/projects/:id", get_project)
    router.add("GET", "/projects/:id/labels", list_labels)
    router.add("GET", "/projects/:id/milestones", list_milestones)
    router.add("GET", "/projects/:id/issues", issue_list.list_project_issues, job_token_allowed=True)
    router.add("POST", "/projects/:id/issues", issue_routes.create_issue)
    router.add("GET", "/projects/:id/issues/:issue_iid", issue_routes.get_issue, job_token_allowed=True)
    router.add("PUT", "/projects/:id/issues/:issue_iid", issue_routes.update_issue)
    router.add("DELETE", "/projects/:id/issues/:issue_iid", issue_routes.delete_issue)
    router.add("GET", "/projects/:id/issues/:issue_iid/notes", note_routes.list_notes)
    router.add("POST", "/projects/:id/issues/:issue_iid/notes", note_routes.create_note)
    router.add("GET", "/projects/:id/issues/:issue_iid/notes/:note_id", note_routes.get_note)
    router.add("PUT", "/projects/:id/issues/:issue_iid/notes/:note_id", note_routes.update_note)
    router.add("DELETE", "/projects/:id/issues/:issue_iid/notes/:note_id", note_routes.delete_note)
    router.add("GET", "/groups/:id", get_group)
    router.add("GET", "/groups/:id/issues", issue_list.list_group_issues)
    router.add("GET", "/issues", issue_list.list_own_issues)
    event_routes.register(router)
    issue_related.register(router)
    award_emoji.register(router)
    listing.register(router)
    features.register(router)
    project_flags.register(router)
    environments.register(router)
    unleash.register(router)
    freeze_periods.register(router)
    merge_requests.register(router)


# ---- instance -------------------------------------------------------------------------------------
def get_version(ctx: Ctx) -> Reply:
    require_user(ctx)
    return Reply(200, {"version": _version(ctx), "revision": REVISION})


def get_metadata(ctx: Ctx) -> Reply:
    require_user(ctx)
    kas = {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None, "version": None}
    return Reply(200, {"version": _version(ctx), "revision": REVISION, "kas": kas, "enterprise": False})


def _version(ctx: Ctx) -> str:
    """The GitLab version the sandbox reports (the `gitlab_version` quirk)."""
    return ctx.quirks.gitlab_version if ctx.quirks is not None else Quirks().gitlab_version


def get_user(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    return Reply(200, entities.user_full(user, ctx.base_url, None))


def list_users(ctx: Ctx) -> Reply:
    require_user(ctx)
    username = ctx.string("username")
    if username is not None:
        row = ctx.store.user_by_username(username)
        rows = [row] if row else []
    else:
        rows = ctx.store.all("SELECT * FROM users ORDER BY id DESC")
    page = offset_page(ctx, rows)
    return Reply(200, [entities.user_basic(u, ctx.base_url) for u in page.items], page.headers)


def get_project(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    return Reply(200, entities.project_entity(ctx.store, project, ctx.base_url))


def get_group(ctx: Ctx) -> Reply:
    group = find_group(ctx, ctx.route_args["id"])
    return Reply(200, entities.group_entity(group, ctx.base_url))


def list_labels(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    rows = ctx.store.labels(project["id"])
    search = ctx.string("search")
    if search:
        rows = [row for row in rows if search.lower() in row["name"].lower()]
    page = offset_page(ctx, rows)
    return Reply(200, [entities.label_entity(row) for row in page.items], page.headers)


def list_milestones(ctx: Ctx) -> Reply:
    """`GET /projects/:id/milestones` with `title`, `state`, `iids[]`, `search` (doc/api/milestones.md)."""
    project = find_project(ctx, ctx.route_args["id"])
    rows = ctx.store.all("SELECT * FROM milestones WHERE project_id = ? ORDER BY id DESC", (project["id"],))
    title = ctx.string("title")
    if title is not None:
        rows = [row for row in rows if row["title"] == title]
    state = ctx.choice("state", ("active", "closed"))
    if state is not None:
        rows = [row for row in rows if row["state"] == state]
    iids = ctx.int_list("iids")
    if iids is not None:
        rows = [row for row in rows if row["iid"] in iids]
    search = ctx.string("search")
    if search:
        rows = [row for row in rows if search.lower() in row["title"].lower()]
    ctx.boolean("include_ancestors")  # the sandbox's groups hold no milestones of their own
    page = offset_page(ctx, rows)
    body = [
        entities.milestone_entity(row, project["id"], ctx.base_url, project["full_path"])
        for row in page.items
    ]
    return Reply(200, body, page.headers)
