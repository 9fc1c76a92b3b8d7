"""`/projects/:id/freeze_periods`: GitLab's deploy freeze periods (doc/api/freeze_periods.md).

- Reporter role or higher reads (list, get); only Maintainers (and Owners, administrators) create,
  update and delete: 403 otherwise, 404 when the project cannot be seen.
- The list is paginated and ordered by `created_at`, oldest first.
- The entity: `id`, `freeze_start`, `freeze_end` (cron expressions), `cron_timezone` (default `UTC`),
  `created_at`, `updated_at`.
- Create answers 201 and needs `freeze_start` and `freeze_end` (400 `{"error": "freeze_start is
  missing"}` otherwise); update takes any of the three; delete answers 204. An expression that is not
  cron, or a time zone that is not an IANA name, is 400 with the model's message per field
  (`{"message": {"freeze_start": [" is invalid syntax"]}}`, as GitLab's cron validators word it);
  spaces around an expression are stripped, as the model does.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.entities import iso_time
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, message_error, param_error
from gl_rollout.sandbox.store import MAINTAINER, REPORTER, Row, Store

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

FIELDS = ("freeze_start", "freeze_end", "cron_timezone")


def register(router: Router) -> None:
    router.add("GET", "/projects/:id/freeze_periods", list_freeze_periods)
    router.add("POST", "/projects/:id/freeze_periods", create_freeze_period)
    router.add("GET", "/projects/:id/freeze_periods/:freeze_period_id", get_freeze_period)
    router.add("PUT", "/projects/:id/freeze_periods/:freeze_period_id", update_freeze_period)
    router.add("DELETE", "/projects/:id/freeze_periods/:freeze_period_id", delete_freeze_period)


def freeze_period_entity(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "freeze_start": row["freeze_start"],
        "freeze_end": row["freeze_end"],
        "cron_timezone": row["cron_timezone"],
        "created_at": iso_time(row["created_at"]),
        "updated_at": iso_time(row["updated_at"]),
    }


def _project(ctx: Ctx, level: int) -> Row:
    project = find_project(ctx, ctx.route_args["id"])
    if ctx.store.access_level(require_user(ctx), project) < level:
        raise forbidden()
    return project


def _period(ctx: Ctx, project: Row) -> Row:
    raw = ctx.route_args["freeze_period_id"]
    row = (
        ctx.store.one(
            "SELECT * FROM freeze_periods WHERE id = ? AND project_id = ?", (int(raw), project["id"])
        )
        if raw.isdigit()
        else None
    )
    if row is None:
        raise message_error(404, "404 Not found")
    return row


def _invalid(values: dict[str, str]) -> dict[str, list[str]]:
    """The model's errors per field: cron syntax (5 fields, as cron reads them) and an IANA time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cronsim import CronSim, CronSimError

    errors: dict[str, list[str]] = {}
    for name in ("freeze_start", "freeze_end"):
        if not values[name].strip():
            errors[name] = ["can't be blank"]
            continue
        try:
            CronSim(values[name], dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        except CronSimError:
            errors[name] = [" is invalid syntax"]
    zone = values["cron_timezone"]
    try:
        valid_zone = bool(zone.strip()) and ZoneInfo(zone) is not None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        valid_zone = False
    if not valid_zone:
        errors["cron_timezone"] = [" is invalid syntax"]
    return errors


def _check(values: dict[str, str]) -> None:
    errors = _invalid(values)
    if errors:
        raise ApiError(400, {"message": errors})


def list_freeze_periods(ctx: Ctx) -> Reply:
    project = _project(ctx, REPORTER)
    rows = ctx.store.all(
        "SELECT * FROM freeze_periods WHERE project_id = ? ORDER BY created_at, id", (project["id"],)
    )
    page = offset_page(ctx, rows)
    return Reply(200, [freeze_period_entity(row) for row in page.items], page.headers)


def get_freeze_period(ctx: Ctx) -> Reply:
    project = _project(ctx, REPORTER)
    return Reply(200, freeze_period_entity(_period(ctx, project)))


def create_freeze_period(ctx: Ctx) -> Reply:
    project = _project(ctx, MAINTAINER)
    for name in ("freeze_start", "freeze_end"):
        if ctx.string(name) is None:
            raise param_error(f"{name} is missing")
    values = {
        "freeze_start": (ctx.string("freeze_start") or "").strip(),
        "freeze_end": (ctx.string("freeze_end") or "").strip(),
        "cron_timezone": ctx.string("cron_timezone") or "UTC",
    }
    _check(values)
    row = add_freeze_period(ctx.store, project["id"], **values)
    return Reply(201, freeze_period_entity(row))


def add_freeze_period(
    store: Store, project_id: int, *, freeze_start: str, freeze_end: str, cron_timezone: str = "UTC"
) -> Row:
    """Store a freeze period (values already checked) and return its row."""
    now = store.now_ms()
    with store.transaction():
        new_id = store.execute(
            "INSERT INTO freeze_periods (project_id, freeze_start, freeze_end, cron_timezone, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, freeze_start, freeze_end, cron_timezone, now, now),
        )
    row = store.one("SELECT * FROM freeze_periods WHERE id = ?", (new_id,))
    assert row is not None
    return row


def update_freeze_period(ctx: Ctx) -> Reply:
    project = _project(ctx, MAINTAINER)
    row = _period(ctx, project)
    values = {name: row[name] for name in FIELDS}
    for name in FIELDS:
        given = ctx.string(name)
        if given is not None:
            values[name] = given if name == "cron_timezone" else given.strip()
    _check(values)
    ctx.store.execute(
        "UPDATE freeze_periods SET freeze_start = ?, freeze_end = ?, cron_timezone = ?, updated_at = ? "
        "WHERE id = ?",
        (
            values["freeze_start"],
            values["freeze_end"],
            values["cron_timezone"],
            ctx.store.now_ms(),
            row["id"],
        ),
    )
    return Reply(200, freeze_period_entity(_period(ctx, project)))


def delete_freeze_period(ctx: Ctx) -> Reply:
    project = _project(ctx, MAINTAINER)
    row = _period(ctx, project)
    ctx.store.execute("DELETE FROM freeze_periods WHERE id = ?", (row["id"],))
    return Reply(204)


def check_values(freeze_start: str, freeze_end: str, cron_timezone: str) -> None:
    """ValueError naming what GitLab would refuse (for the Python helper `Sandbox.add_freeze_period`)."""
    errors = _invalid(
        {"freeze_start": freeze_start, "freeze_end": freeze_end, "cron_timezone": cron_timezone}
    )
    if errors:
        raise ValueError(
            "GitLab would refuse: " + ", ".join(f"{key}{text[0]}" for key, text in errors.items())
        )
