"""Issue notes: list, get, create, edit, delete (lib/api/notes.rb)."""

from __future__ import annotations

import re

from gl_rollout.sandbox import entities, service
from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.issue_routes import find_issue, not_found_record, time_param
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import message_error, param_error
from gl_rollout.sandbox.store import Row


def _note_allowed(ctx: Ctx, project: Row, note: Row) -> bool:
    if not note["internal"]:
        return True
    return ctx.user is not None and ctx.store.access_level(ctx.user, project) >= 20


def list_notes(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    order_by = ctx.choice("order_by", ("created_at", "updated_at"), "created_at") or "created_at"
    sort = ctx.choice("sort", ("asc", "desc"), "desc")
    activity = ctx.choice("activity_filter", ("all_notes", "only_comments", "only_activity"), "all_notes")
    rows = ctx.store.notes_of(issue["id"])
    if activity == "only_comments":
        rows = [row for row in rows if not row["system"]]
    elif activity == "only_activity":
        rows = [row for row in rows if row["system"]]
    quirks = ctx.quirks
    ignore_sort = quirks is not None and quirks.notes_sort == "ignore"
    rows.sort(key=lambda row: (row[order_by], row["id"]), reverse=sort == "desc" and not ignore_sort)
    page = offset_page(ctx, rows)
    hidden = re.compile(quirks.hidden_notes) if quirks is not None and quirks.hidden_notes else None
    # GitLab drops notes the reader may not see after paginating, so a page can come up short.
    body = [
        entities.note_entity(ctx.store, row, issue, ctx.base_url)
        for row in page.items
        if _note_allowed(ctx, project, row) and not (hidden is not None and hidden.search(row["body"]))
    ]
    return Reply(200, body, page.headers)


def find_note(ctx: Ctx, project: Row, issue: Row) -> Row:
    note_text = ctx.route_args["note_id"]
    note = ctx.store.note(int(note_text)) if note_text.isdigit() else None
    if note is None or note["issue_id"] != issue["id"]:
        raise not_found_record()  # `noteable.notes.find(id)`
    if not _note_allowed(ctx, project, note):
        raise message_error(404, "404 Note Not Found")  # found, but `readable_by?` says no
    return note


def get_note(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    note = find_note(ctx, project, issue)
    return Reply(200, entities.note_entity(ctx.store, note, issue, ctx.base_url))


def create_note(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    if not ctx.has("body"):
        raise param_error("body is missing")
    body = ctx.string("body") or ""
    internal = ctx.boolean("internal")
    if internal is None:
        internal = bool(ctx.boolean("confidential", False))
    created_at = None
    if ctx.has("created_at") and (actor["is_admin"] or ctx.store.access_level(actor, project) >= 50):
        created_at = time_param(ctx, "created_at")
    if issue["discussion_locked"] and ctx.store.access_level(actor, project) < 30:
        raise forbidden()
    outcome = service.create_note(
        ctx.store, project, issue, actor, body, internal=internal, created_at=created_at
    )
    if outcome.note is None:
        return Reply(202, {"commands_changes": outcome.commands_changes, "summary": outcome.summary})
    entity = entities.note_entity(ctx.store, outcome.note, issue, ctx.base_url)
    entity["commands_changes"] = outcome.commands_changes
    return Reply(201, entity)


def update_note(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    note = find_note(ctx, project, issue)
    if note["system"] or (note["author_id"] != actor["id"] and not actor["is_admin"]):
        raise forbidden()
    if not ctx.has("body") and not ctx.has("internal"):
        raise param_error("body, internal are missing, at least one parameter must be provided")
    body = ctx.string("body") if ctx.has("body") else note["body"]
    if body is not None and len(body) > service.NOTE_MAX:
        raise service.note_error(f"is too long (maximum is {service.NOTE_MAX} characters)")
    ctx.store.execute(
        "UPDATE notes SET body = ?, updated_at = ? WHERE id = ?", (body, ctx.store.now_ms(), note["id"])
    )
    fresh = ctx.store.note(note["id"])
    assert fresh is not None
    return Reply(200, entities.note_entity(ctx.store, fresh, issue, ctx.base_url))


def delete_note(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    note = find_note(ctx, project, issue)
    # `authorize! :admin_note`: the author or an admin, and never a system note (not `editable?`).
    if note["system"] or (note["author_id"] != actor["id"] and not actor["is_admin"]):
        raise forbidden()
    ctx.store.execute("DELETE FROM notes WHERE id = ?", (note["id"],))
    return Reply(204)
