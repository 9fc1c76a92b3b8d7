"""`GET /projects/:id/environments`: a project's environments, as GitLab lists them (from
`doc/api/environments.md`).

Listing needs the Reporter role (a Guest is 403); `name` filters by exact name, `search` by part of
it (at least 3 characters, else 400), `states` by `available`, `stopping` or `stopped`; pages as every
list does. Each environment is `id`, `name`, `slug`, `description`, `external_url`, `state`, `tier`,
`created_at`, `updated_at` and `auto_stop_at`.

The sandbox keeps no deployments, so environments are settings: every project has `staging` and
`production` until `Sandbox.set_environments` names others (kept in the state file). Ids are stable
per project and name.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.entities import iso_time
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import message_error
from gl_rollout.sandbox.store import REPORTER, Row, Store

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

DEFAULT_ENVIRONMENTS = ("staging", "production")
_SETTING = "setting:environments:{project_id}"
_TIERS = ("production", "staging", "testing", "development")


def register(router: Router) -> None:
    router.add("GET", "/projects/:id/environments", list_environments)


def environment_names(store: Store, project_id: int) -> list[str]:
    value = store.meta(_SETTING.format(project_id=project_id))
    return list(DEFAULT_ENVIRONMENTS) if value is None else list(json.loads(value))


def set_environment_names(store: Store, project_id: int, names: list[str]) -> None:
    store.set_meta(_SETTING.format(project_id=project_id), json.dumps(list(dict.fromkeys(names))))


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24]
    return slug or "env"


def _tier(name: str) -> str:
    """GitLab guesses a tier from the name when none is set; `other` when nothing matches."""
    lowered = name.lower()
    guesses = {
        "production": ("prod", "live"),
        "staging": ("stag", "model", "demo"),
        "testing": ("test", "qc"),
        "development": ("dev", "review", "trunk"),
    }
    for tier in _TIERS:
        if any(word in lowered for word in guesses[tier]):
            return tier
    return "other"


def environment_entity(project: Row, index: int, name: str) -> dict[str, Any]:
    created = iso_time(int(project["created_at"]))
    return {
        "id": project["id"] * 1000 + index + 1,
        "name": name,
        "slug": _slug(name),
        "description": None,
        "external_url": None,
        "state": "available",
        "tier": _tier(name),
        "created_at": created,
        "updated_at": created,
        "auto_stop_at": None,
    }


def list_environments(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    if ctx.store.access_level(require_user(ctx), project) < REPORTER:
        raise forbidden()
    name = ctx.string("name")
    search = ctx.string("search")
    states = ctx.string("states")
    if name and search:
        raise message_error(400, "name and search are mutually exclusive")
    if search is not None and len(search) < 3:
        raise message_error(400, "search must be at least 3 characters")
    rows = [
        environment_entity(project, index, env)
        for index, env in enumerate(environment_names(ctx.store, project["id"]))
    ]
    if name:
        rows = [row for row in rows if row["name"] == name]
    if search:
        rows = [row for row in rows if search in row["name"]]
    if states:
        rows = [row for row in rows if row["state"] == states]
    page = offset_page(ctx, rows)
    return Reply(200, list(page.items), page.headers)
