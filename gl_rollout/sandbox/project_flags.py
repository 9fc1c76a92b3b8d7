"""`/projects/:id/feature_flags` and `/projects/:id/feature_flags_user_lists`: GitLab's project feature flags.

From `doc/api/feature_flags.md`, `doc/api/feature_flag_user_lists.md`, `lib/api/feature_flags.rb` and
`lib/api/feature_flags_user_lists.rb`:

- Every route needs the Developer role on the project (reads too): a Reporter is 403. A token with
  only `read_api` is refused any write before that (403 `insufficient_scope`), and a CI job token is
  not accepted on these routes, so the request counts as anonymous (404 for a private project).
- Flags: list (ordered by name, `scope=enabled|disabled`, paginated), get, create (201), update,
  delete (200 with the flag as it was); a missing flag is 404 `{"message": "404 Not found"}`.
- User lists: list (`search`, paginated), get/update/delete by `iid`, create (201); delete answers
  204, or 409 while a strategy uses the list. This API formats its own errors, so even a missing
  parameter answers `{"message": "..."}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox import flag_model, user_lists
from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.flag_params import grape_string
from gl_rollout.sandbox.flag_store import (
    flag_by_name,
    flag_entity,
    flags_of,
    load_flag_entity,
    not_found,
    strategies_of,
    user_list_by_iid,
    user_list_entity,
)
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError
from gl_rollout.sandbox.store import DEVELOPER, Row

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router


def register(router: Router) -> None:
    router.add("GET", "/projects/:id/feature_flags", list_flags)
    router.add("POST", "/projects/:id/feature_flags", create_flag)
    router.add("GET", "/projects/:id/feature_flags/:feature_flag_name", get_flag)
    router.add("PUT", "/projects/:id/feature_flags/:feature_flag_name", update_flag)
    router.add("DELETE", "/projects/:id/feature_flags/:feature_flag_name", delete_flag)
    router.add("GET", "/projects/:id/feature_flags_user_lists", list_user_lists)
    router.add("POST", "/projects/:id/feature_flags_user_lists", create_user_list)
    router.add("GET", "/projects/:id/feature_flags_user_lists/:iid", get_user_list)
    router.add("PUT", "/projects/:id/feature_flags_user_lists/:iid", update_user_list)
    router.add("DELETE", "/projects/:id/feature_flags_user_lists/:iid", delete_user_list)


def developer_project(ctx: Ctx) -> Row:
    """The route's project, if the caller has at least the Developer role on it (else 404 or 403)."""
    project = find_project(ctx, ctx.route_args["id"])
    if ctx.store.access_level(require_user(ctx), project) < DEVELOPER:
        raise forbidden()
    return project


def _flag(ctx: Ctx, project: Row) -> Row:
    flag = flag_by_name(ctx.store, project["id"], ctx.route_args["feature_flag_name"])
    if flag is None:
        raise not_found()
    return flag


# ---- flags ---------------------------------------------------------------------------------------
def list_flags(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    scope = ctx.choice("scope", ("enabled", "disabled"))
    rows = flags_of(ctx.store, project["id"])
    if scope is not None:
        rows = [row for row in rows if bool(row["active"]) == (scope == "enabled")]
    page = offset_page(ctx, rows)
    strategies = strategies_of(ctx.store, [row["id"] for row in page.items])
    return Reply(200, [flag_entity(row, strategies[row["id"]]) for row in page.items], page.headers)


def get_flag(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    return Reply(200, load_flag_entity(ctx.store, _flag(ctx, project)))


def create_flag(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    return Reply(201, flag_model.create_flag(ctx.store, project, ctx.params))


def update_flag(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    flag = _flag(ctx, project)
    return Reply(200, flag_model.update_flag(ctx.store, project, flag, ctx.params))


def delete_flag(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    return Reply(200, flag_model.delete_flag(ctx.store, _flag(ctx, project)))


# ---- user lists ----------------------------------------------------------------------------------
def _message_errors(errors: list[str]) -> None:
    """The user-list API's own error formatter: a Grape error string becomes `{"message": ...}`."""
    if errors:
        raise ApiError(400, {"message": ", ".join(errors)})


def _user_list(ctx: Ctx, project: Row) -> Row:
    text = ctx.route_args["iid"]
    row = user_list_by_iid(ctx.store, project["id"], int(text)) if text.isdigit() else None
    if row is None:
        raise not_found()
    return row


def list_user_lists(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    rows = ctx.store.all("SELECT * FROM ff_user_lists WHERE project_id = ? ORDER BY id", (project["id"],))
    search = ctx.string("search")
    if search:
        rows = [row for row in rows if search.lower() in row["name"].lower()]
    page = offset_page(ctx, rows)
    return Reply(200, [user_list_entity(row, project) for row in page.items], page.headers)


def _user_list_params(ctx: Ctx, *, required: bool) -> dict[str, Any]:
    errors: list[str] = []
    values: dict[str, Any] = {}
    for name in ("name", "user_xids"):
        if name in ctx.params:
            values[name] = grape_string(ctx.params[name], name, errors)
        elif required:
            errors.append(f"{name} is missing")
    _message_errors(errors)
    return values


def create_user_list(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    values = _user_list_params(ctx, required=True)
    row = user_lists.create_user_list(ctx.store, project, values["name"], values["user_xids"])
    return Reply(201, user_list_entity(row, project))


def get_user_list(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    return Reply(200, user_list_entity(_user_list(ctx, project), project))


def update_user_list(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    row = _user_list(ctx, project)
    updated = user_lists.update_user_list(ctx.store, project, row, _user_list_params(ctx, required=False))
    return Reply(200, user_list_entity(updated, project))


def delete_user_list(ctx: Ctx) -> Reply:
    project = developer_project(ctx)
    user_lists.delete_user_list(ctx.store, _user_list(ctx, project))
    return Reply(204)
