"""Single-issue handlers: get, create, edit, delete (lib/api/issues.rb), and the shared issue lookup."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gl_rollout.sandbox import entities, service
from gl_rollout.sandbox.auth import can_edit_issue, can_see_issue, find_project, forbidden, require_user
from gl_rollout.sandbox.http import Ctx
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, message_error, param_error
from gl_rollout.sandbox.store import Row
from gl_rollout.sandbox.tasks import flipped_items

ISSUE_TYPES = ("issue", "incident", "test_case", "task")
# `Helpers::IssuesHelpers.update_params_at_least_one_of`, in GitLab's order (it shows in the 400 message).
UPDATE_AT_LEAST_ONE = (
    "assignee_id",
    "assignee_ids",
    "confidential",
    "created_at",
    "description",
    "discussion_locked",
    "due_date",
    "labels",
    "add_labels",
    "remove_labels",
    "milestone_id",
    "state_event",
    "title",
    "issue_type",
)


def find_issue(ctx: Ctx, project: Row) -> Row:
    """The route's issue, or 404 when it is missing or the caller may not see it: GitLab's finder raises
    `RecordNotFound` then, which the API answers `{"message": "404 Not found"}` (lib/api/api.rb)."""
    iid_text = ctx.route_args["issue_iid"]
    if not iid_text.isdigit():
        raise param_error("issue_iid is invalid")
    issue = ctx.store.issue(project["id"], int(iid_text))
    if issue is None or not can_see_issue(ctx, project, issue):
        raise not_found_record()
    return issue


def not_found_record() -> ApiError:
    """GitLab's answer to a record its finder did not find (`ActiveRecord::RecordNotFound`)."""
    return message_error(404, "404 Not found")


def time_param(ctx: Ctx, name: str) -> int | None:
    """An ISO 8601 time parameter in epoch milliseconds; 400 `<name> is invalid` otherwise."""
    text = ctx.string(name)
    if text is None:
        return None
    value = entities.parse_time(text)
    if value is None:
        raise param_error(f"{name} is invalid")
    return value


def get_issue(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    body = entities.issue_entity(ctx.store, issue, ctx.base_url, single=True)
    ctx.after_response.append(lambda: _land_pending_edit(ctx, project, issue))
    return Reply(200, body)


def _land_pending_edit(ctx: Ctx, project: Row, issue: Row, *, before_write: bool = False) -> None:
    """Faults `edit_between_read_and_write` (another person edits right after this read) and
    `edit_before_next_write` (right before this write is applied)."""
    from gl_rollout.sandbox.faults import PendingEdit

    def matches(edit: PendingEdit) -> bool:
        target = ctx.store.project_by_ref(edit.project)
        return (
            target is not None
            and target["id"] == project["id"]
            and edit.iid == issue["iid"]
            and edit.before_write == before_write
        )

    edit = ctx.faults.take_edit(matches) if ctx.faults is not None else None
    if edit is None:
        return
    person = ctx.store.user_by_username("alice")
    assert person is not None
    current = ctx.store.issue_by_id(issue["id"])
    assert current is not None
    service.update_issue(
        ctx.store, project, current, person, {"description": edit.transform(current["description"] or "")}
    )


def _issue_params(ctx: Ctx, project: Row, *, creating: bool) -> dict[str, Any]:
    """Type-check the create/update params of `lib/api/issues.rb`."""
    params: dict[str, Any] = {}
    for name in ("title", "description"):
        if ctx.has(name):
            params[name] = ctx.string(name)
    for name in ("labels", "add_labels", "remove_labels"):
        values = ctx.csv_list(name)
        if values is not None:
            params[name] = values
    if ctx.has("assignee_ids"):
        ids = ctx.int_list("assignee_ids") or []
        params["assignee_ids"] = [i for i in ids if i != 0]
    elif ctx.has("assignee_id"):
        one = ctx.integer("assignee_id")
        params["assignee_ids"] = [one] if one else []
    if ctx.has("milestone_id"):
        params["milestone_id"] = ctx.integer("milestone_id") or None
    if ctx.has("due_date"):
        due = ctx.string("due_date") or None
        if due is not None:
            try:
                dt.date.fromisoformat(due)
            except ValueError:
                raise param_error("due_date is invalid") from None
        params["due_date"] = due
    for name in ("confidential", "discussion_locked"):
        if ctx.has(name):
            value = ctx.boolean(name)
            if value is None:
                raise param_error(f"{name} is empty")
            params[name] = value
    if ctx.has("issue_type"):
        params["issue_type"] = ctx.choice("issue_type", ISSUE_TYPES)
    if not creating and ctx.has("state_event"):
        params["state_event"] = ctx.choice("state_event", ("close", "reopen"))
    privileged = ctx.user is not None and (
        ctx.user["is_admin"] or ctx.store.access_level(ctx.user, project) >= 50
    )
    if ctx.has("created_at") and privileged:
        moment = time_param(ctx, "created_at")
        params["created_at"] = moment
    if not creating and ctx.has("updated_at") and privileged:
        params["updated_at"] = time_param(ctx, "updated_at")
    if creating and ctx.has("iid") and privileged:
        params["iid"] = ctx.integer("iid")
    return params


def create_issue(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    if not ctx.has("title"):
        raise param_error("title is missing")
    params = _issue_params(ctx, project, creating=True)
    if "iid" in params and ctx.store.issue(project["id"], int(params["iid"])) is not None:
        raise ApiError(409, {"message": "Duplicated issue"})
    issue = service.create_issue(ctx.store, project, actor, params)
    return Reply(201, entities.issue_entity(ctx.store, issue, ctx.base_url, single=True))


def update_issue(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    if ctx.faults is not None and ctx.faults.pending_edits:
        _land_pending_edit(ctx, project, issue, before_write=True)
        issue = find_issue(ctx, project)
    if not any(ctx.has(name) for name in UPDATE_AT_LEAST_ONE):
        raise param_error(
            ", ".join(UPDATE_AT_LEAST_ONE) + " are missing, at least one parameter must be provided"
        )
    if not can_edit_issue(ctx, project, issue):
        raise forbidden()
    params = _issue_params(ctx, project, creating=False)
    updated = service.update_issue(ctx.store, project, issue, actor, params)
    if (
        ctx.quirks is not None
        and ctx.quirks.description_note_with_checklist
        and (updated["description"] or "") != (issue["description"] or "")
        and flipped_items(issue["description"], updated["description"])
    ):
        ctx.store.insert_note(updated, actor["id"], "changed the description", system=True)
    return Reply(200, entities.issue_entity(ctx.store, updated, ctx.base_url, single=True))


def delete_issue(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    if not user["is_admin"] and ctx.store.access_level(user, project) < 50:
        raise forbidden()
    with ctx.store.transaction():
        ctx.store.execute("DELETE FROM notes WHERE issue_id = ?", (issue["id"],))
        ctx.store.execute("DELETE FROM issues WHERE id = ?", (issue["id"],))
    return Reply(204)
