"""Award emoji on issue notes (doc/api/emoji_reactions.md, "Emoji reactions on comments").

`GET`/`POST /projects/:id/issues/:issue_iid/notes/:note_id/award_emoji` and `GET`/`DELETE .../:award_id`:
a reaction is a `name` (an emoji's name, without colons) given by the caller; the same person may not give
the same one twice (404, worded by GitLab's `not_found!`: `404 Award Emoji Name has already been taken
Not Found`), and only its giver
(or an administrator) may take it back (403). The sandbox does not check the name against GitLab's emoji
list: any name of letters, digits, `_`, `+` and `-` is taken.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.issue_routes import find_issue, not_found_record
from gl_rollout.sandbox.note_routes import find_note
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, param_error
from gl_rollout.sandbox.store import Row

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

BASE = "/projects/:id/issues/:issue_iid/notes/:note_id/award_emoji"
_NAME = re.compile(r"^[a-z0-9_+\-]{1,64}$")


def register(router: Router) -> None:
    router.add("GET", BASE, list_awards)
    router.add("POST", BASE, create_award)
    router.add("GET", BASE + "/:award_id", get_award)
    router.add("DELETE", BASE + "/:award_id", delete_award)


def _note(ctx: Ctx) -> Row:
    require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    return find_note(ctx, project, find_issue(ctx, project))


def _entity(ctx: Ctx, row: Row) -> dict[str, Any]:
    user = ctx.store.user(row["user_id"])
    created = entities.iso_time(row["created_at"])
    return {
        "id": row["id"],
        "name": row["name"],
        "user": entities.user_basic(user, ctx.base_url) if user else None,
        "created_at": created,
        "updated_at": created,
        "awardable_id": row["note_id"],
        "awardable_type": "Note",
        "url": None,
    }


def list_awards(ctx: Ctx) -> Reply:
    note = _note(ctx)
    rows = ctx.store.all("SELECT * FROM award_emoji WHERE note_id = ? ORDER BY id", (note["id"],))
    page = offset_page(ctx, rows)
    return Reply(200, [_entity(ctx, row) for row in page.items], page.headers)


def create_award(ctx: Ctx) -> Reply:
    note = _note(ctx)
    assert ctx.user is not None
    name = (ctx.string("name") or "").strip()
    if not name:
        raise param_error("name is missing")
    if not _NAME.match(name):
        raise ApiError(400, {"message": {"name": ["is not a valid emoji name"]}})
    taken = ctx.store.one(
        "SELECT id FROM award_emoji WHERE note_id = ? AND user_id = ? AND name = ?",
        (note["id"], ctx.user["id"], name),
    )
    if taken is not None:
        raise ApiError(404, {"message": "404 Award Emoji Name has already been taken Not Found"})
    award_id = ctx.store.execute(
        "INSERT INTO award_emoji (note_id, user_id, name, created_at) VALUES (?, ?, ?, ?)",
        (note["id"], ctx.user["id"], name, ctx.store.now_ms()),
    )
    row = ctx.store.one("SELECT * FROM award_emoji WHERE id = ?", (award_id,))
    assert row is not None
    return Reply(201, _entity(ctx, row))


def _award(ctx: Ctx, note: Row) -> Row:
    text = ctx.route_args["award_id"]
    row = ctx.store.one(
        "SELECT * FROM award_emoji WHERE id = ? AND note_id = ?",
        (int(text) if text.isdigit() else -1, note["id"]),
    )
    if row is None:
        raise not_found_record()
    return row


def get_award(ctx: Ctx) -> Reply:
    return Reply(200, _entity(ctx, _award(ctx, _note(ctx))))


def delete_award(ctx: Ctx) -> Reply:
    row = _award(ctx, _note(ctx))
    assert ctx.user is not None
    if row["user_id"] != ctx.user["id"] and not ctx.user["is_admin"]:
        raise forbidden()
    ctx.store.execute("DELETE FROM award_emoji WHERE id = ?", (row["id"],))
    return Reply(204)
