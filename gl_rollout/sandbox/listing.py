"""`GET /projects` and `GET /groups`: the lists `gitlab project list` and `gitlab group list` read.

Written from doc/api/projects.md ("List all projects") and doc/api/groups.md ("List groups"): every
project here is private, so a user sees the projects of their memberships (an administrator sees all),
and nobody without a token sees any. Filters: `search` (a substring of the name or path, with
`search_namespaces=true` of the full path), `membership`, `owned`, `min_access_level`, `archived`,
`visibility`, `id_after`/`id_before`; `order_by`/`sort`; `simple=true` for the short entity; offset
pagination, and keyset pagination by `id` for projects. Groups: `search`, `owned`, `min_access_level`,
`all_available`, `top_level_only`, `order_by` name|path|id, `sort` asc (default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.http import Ctx, keyset_page, offset_page
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.store import OWNER, Row

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

PROJECT_ORDER = ("id", "name", "path", "created_at", "updated_at", "last_activity_at", "similarity")
GROUP_ORDER = ("name", "path", "id", "similarity")
ACCESS_LEVELS = ("10", "15", "20", "30", "40", "50")
# `Entities::BasicProjectDetails`, what `simple=true` answers.
SIMPLE_FIELDS = (
    "id", "description", "name", "name_with_namespace", "path", "path_with_namespace", "created_at",
    "default_branch", "tag_list", "topics", "ssh_url_to_repo", "http_url_to_repo", "web_url", "readme_url",
    "forks_count", "avatar_url", "star_count", "last_activity_at", "namespace",
)  # fmt: skip


def register(router: Router) -> None:
    router.add("GET", "/projects", list_projects)
    router.add("GET", "/groups", list_groups)


def _level(ctx: Ctx, project: Row) -> int:
    return ctx.store.access_level(ctx.user, project) if ctx.user is not None else 0


def _member_level(ctx: Ctx, project: Row) -> int:
    """The role from memberships alone (an administrator's power is no membership)."""
    if ctx.user is None:
        return 0
    user = dict(ctx.user, is_admin=0)
    return ctx.store.access_level(user, project)


def list_projects(ctx: Ctx) -> Reply:
    rows = ctx.store.all("SELECT * FROM projects")
    rows = [row for row in rows if _level(ctx, row) > 0]
    if ctx.boolean("membership", False):
        rows = [row for row in rows if _member_level(ctx, row) > 0]
    if ctx.boolean("owned", False):
        rows = [row for row in rows if _member_level(ctx, row) >= OWNER]
    minimum = ctx.choice("min_access_level", ACCESS_LEVELS)
    if minimum is not None:
        rows = [row for row in rows if _member_level(ctx, row) >= int(minimum)]
    if ctx.boolean("archived", False):
        rows = []  # no project here is archived
    visibility = ctx.choice("visibility", ("public", "internal", "private"))
    if visibility is not None and visibility != "private":
        rows = []
    search = ctx.string("search")
    if search:
        wanted = search.lower()
        in_path = bool(ctx.boolean("search_namespaces", False))
        rows = [
            row
            for row in rows
            if wanted in row["name"].lower()
            or wanted in row["path"].lower()
            or (in_path and wanted in row["full_path"].lower())
        ]
    after, before = ctx.integer("id_after"), ctx.integer("id_before")
    if after is not None:
        rows = [row for row in rows if row["id"] > after]
    if before is not None:
        rows = [row for row in rows if row["id"] < before]
    order_by = ctx.choice("order_by", PROJECT_ORDER, "created_at") or "created_at"
    descending = ctx.choice("sort", ("asc", "desc"), "desc") == "desc"
    rows.sort(key=lambda row: (_project_key(row, order_by), row["id"]), reverse=descending)
    if ctx.string("pagination") == "keyset" and order_by == "id":
        page = keyset_page(ctx, rows, lambda row: row["id"], "id")
    else:
        page = offset_page(ctx, rows)
    simple = bool(ctx.boolean("simple", False))
    body = [_project(ctx, row, simple=simple) for row in page.items]
    return Reply(200, body, page.headers)


def _project_key(row: Row, order_by: str) -> Any:
    if order_by in ("name", "path"):
        return row[order_by].lower()
    if order_by == "id":
        return row["id"]
    return row["created_at"]


def _project(ctx: Ctx, row: Row, *, simple: bool) -> dict[str, Any]:
    entity = entities.project_entity(ctx.store, row, ctx.base_url)
    if simple:
        return {key: entity[key] for key in SIMPLE_FIELDS if key in entity}
    return entity


def list_groups(ctx: Ctx) -> Reply:
    groups = ctx.store.all("SELECT * FROM namespaces WHERE kind = 'group'")
    user = ctx.user
    if user is None:
        groups = []  # every group here is private
    else:

        def level(group: Row, *, membership: bool) -> int:
            who = dict(user, is_admin=0) if membership else user
            return ctx.store.group_access_level(who, group)

        all_available = ctx.boolean("all_available", bool(user["is_admin"]))
        groups = [g for g in groups if level(g, membership=not all_available) > 0]
        if ctx.boolean("owned", False):
            groups = [g for g in groups if level(g, membership=True) >= OWNER]
        minimum = ctx.choice("min_access_level", ACCESS_LEVELS)
        if minimum is not None:
            groups = [g for g in groups if level(g, membership=True) >= int(minimum)]
    if ctx.boolean("top_level_only", False):
        groups = [g for g in groups if g["parent_id"] is None]
    search = ctx.string("search")
    if search:
        wanted = search.lower()
        groups = [g for g in groups if wanted in g["name"].lower() or wanted in g["path"].lower()]
    skip = set(ctx.int_list("skip_groups") or [])
    groups = [g for g in groups if g["id"] not in skip]
    order_by = ctx.choice("order_by", GROUP_ORDER, "name") or "name"
    descending = ctx.choice("sort", ("asc", "desc"), "asc") == "desc"
    groups.sort(
        key=lambda g: (g["id"] if order_by == "id" else g[order_by if order_by != "similarity" else "name"]
                       .lower(), g["id"]),
        reverse=descending,
    )  # fmt: skip
    page = offset_page(ctx, groups)
    return Reply(200, [entities.group_entity(g, ctx.base_url) for g in page.items], page.headers)
