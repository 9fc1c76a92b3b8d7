"""Handlers for `/api/v4`: version and user, projects and groups, issues, notes, labels.

Features live in `features.py`. Each handler reads its parameters the way GitLab's Grape API
declares them (`lib/api/issues.rb`, `lib/api/notes.rb`) and answers the documented entity.
"""

# ruff: noqa: PLC0415, S608  lazy imports avoid a cycle; SQL text holds only "?" marks, values are bound
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox import entities, features, service
from gl_rollout.sandbox.app import Reply
from gl_rollout.sandbox.auth import (
    can_edit_issue,
    can_see_issue,
    find_group,
    find_project,
    forbidden,
    require_user,
)
from gl_rollout.sandbox.http import Ctx, keyset_page, offset_page
from gl_rollout.sandbox.service import ApiError, message_error, param_error
from gl_rollout.sandbox.store import Row, decode_list

if TYPE_CHECKING:
    from gl_rollout.sandbox.app import Router

VERSION = "17.11.0"
REVISION = "5andb0x"
ISSUE_ORDER_BY = (
    "created_at",
    "updated_at",
    "priority",
    "due_date",
    "relative_position",
    "label_priority",
    "milestone_due",
    "popularity",
    "weight",
    "title",
    "id",
)
# doc/api/rest/_index.md, "Supported resources" (18.3+); weight and relative_position sort as created_at here.
KEYSET_ORDER_BY = ("created_at", "updated_at", "title", "id", "due_date", "weight", "relative_position")
ISSUE_TYPES = ("issue", "incident", "test_case", "task")
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


def register(router: Router) -> None:
    router.add("GET", "/version", get_version)
    router.add("GET", "/metadata", get_metadata)
    router.add("GET", "/user", get_user)
    router.add("GET", "/users", list_users)
    router.add("GET", "/projects/:id", get_project)
    router.add("GET", "/projects/:id/labels", list_labels)
    router.add("GET", "/projects/:id/issues", list_project_issues, job_token_allowed=True)
    router.add("POST", "/projects/:id/issues", create_issue)
    router.add("GET", "/projects/:id/issues/:issue_iid", get_issue, job_token_allowed=True)
    router.add("PUT", "/projects/:id/issues/:issue_iid", update_issue)
    router.add("DELETE", "/projects/:id/issues/:issue_iid", delete_issue)
    router.add("GET", "/projects/:id/issues/:issue_iid/notes", list_notes)
    router.add("POST", "/projects/:id/issues/:issue_iid/notes", create_note)
    router.add("GET", "/projects/:id/issues/:issue_iid/notes/:note_id", get_note)
    router.add("PUT", "/projects/:id/issues/:issue_iid/notes/:note_id", update_note)
    router.add("DELETE", "/projects/:id/issues/:issue_iid/notes/:note_id", delete_note)
    router.add("GET", "/groups/:id", get_group)
    router.add("GET", "/groups/:id/issues", list_group_issues)
    router.add("GET", "/issues", list_own_issues)
    features.register(router)


# ---- instance -------------------------------------------------------------------------------------
def get_version(ctx: Ctx) -> Reply:
    require_user(ctx)
    return Reply(200, {"version": VERSION, "revision": REVISION})


def get_metadata(ctx: Ctx) -> Reply:
    require_user(ctx)
    kas = {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None, "version": None}
    return Reply(200, {"version": VERSION, "revision": REVISION, "kas": kas, "enterprise": False})


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


# ---- issues ---------------------------------------------------------------------------------------
def _find_issue(ctx: Ctx, project: Row) -> Row:
    iid_text = ctx.route_args["issue_iid"]
    if not iid_text.isdigit():
        raise param_error("issue_iid is invalid")
    issue = ctx.store.issue(project["id"], int(iid_text))
    if issue is None or not can_see_issue(ctx, project, issue):
        raise message_error(404, "404 Issue Not Found")
    return issue


def _time_param(ctx: Ctx, name: str) -> int | None:
    text = ctx.string(name)
    if text is None:
        return None
    value = entities.parse_time(text)
    if value is None:
        raise param_error(f"{name} is invalid")
    return value


def _filter_issues(ctx: Ctx, project_ids: list[int]) -> tuple[list[Row], str]:
    """Apply the documented list filters; returns rows sorted as asked and the order_by used."""
    if not project_ids:
        return [], "created_at"
    state = ctx.choice("state", ("opened", "closed", "all"), "all")
    order_by = ctx.choice("order_by", ISSUE_ORDER_BY, "created_at") or "created_at"
    sort = ctx.choice("sort", ("asc", "desc"), "desc")
    sql = [f"SELECT * FROM issues WHERE project_id IN ({','.join('?' * len(project_ids))})"]
    args: list[Any] = list(project_ids)
    if state in ("opened", "closed"):
        sql.append("AND state = ?")
        args.append(state)
    iids = ctx.int_list("iids")
    if iids is not None:
        if not iids:
            return [], order_by
        sql.append(f"AND iid IN ({','.join('?' * len(iids))})")
        args.extend(iids)
    for name, column, op in (
        ("created_after", "created_at", ">="),
        ("created_before", "created_at", "<="),
        ("updated_after", "updated_at", ">="),
        ("updated_before", "updated_at", "<="),
    ):
        moment = _time_param(ctx, name)
        if moment is not None:
            sql.append(f"AND {column} {op} ?")
            args.append(moment)
    author_username = ctx.string("author_username")
    if author_username is not None:
        author = ctx.store.user_by_username(author_username)
        if author is None:
            return [], order_by
        sql.append("AND author_id = ?")
        args.append(author["id"])
    author_id = ctx.integer("author_id")
    if author_id is not None:
        sql.append("AND author_id = ?")
        args.append(author_id)
    confidential = ctx.boolean("confidential")
    if confidential is not None:
        sql.append("AND confidential = ?")
        args.append(int(confidential))
    issue_type = ctx.string("issue_type")
    if issue_type is not None:
        sql.append("AND issue_type = ?")
        args.append(issue_type)
    rows = ctx.store.all(" ".join(sql), args)
    rows = [row for row in rows if _python_filters(ctx, row)]
    projects = {pid: ctx.store.project(pid) for pid in project_ids}
    rows = [row for row in rows if can_see_issue(ctx, projects[row["project_id"]] or {}, row)]
    rows.sort(key=lambda row: (_sort_value(row, order_by), row["id"]), reverse=sort == "desc")
    return rows, order_by


def _sort_value(row: Row, order_by: str) -> Any:
    if order_by == "updated_at":
        return row["updated_at"]
    if order_by == "title":
        return row["title"].lower()
    if order_by in ("due_date", "milestone_due"):
        return row["due_date"] or "9999-12-31"
    if order_by == "id":
        return row["id"]
    return row["created_at"]


def _python_filters(ctx: Ctx, row: Row) -> bool:
    if not _positive_filters(ctx, row, ""):
        return False
    negated = [key for key in ctx.params if key.startswith("not[")]
    return not (negated and _positive_filters(ctx, row, "not", any_of=True))


def _param(ctx: Ctx, prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


def _positive_filters(ctx: Ctx, row: Row, prefix: str, *, any_of: bool = False) -> bool:
    """Whether `row` passes the filters (all of them; with `any_of`, whether any given one matches)."""
    results: list[bool] = []
    labels = ctx.csv_list(_param(ctx, prefix, "labels"))
    if labels is not None:
        have = set(decode_list(row["labels"]))
        special = [name.lower() for name in labels]
        if special in (["none"], ["no label"], ["no+label"]):
            results.append(not have)
        elif special == ["any"]:
            results.append(bool(have))
        else:
            results.append(
                all(name in have for name in labels) if not any_of else any(n in have for n in labels)
            )
    author = ctx.string(_param(ctx, prefix, "author_username"))
    if author is not None and prefix:
        user = ctx.store.user(row["author_id"])
        results.append(bool(user and user["username"].lower() == author.lower()))
    iids = ctx.int_list(_param(ctx, prefix, "iids")) if prefix else None
    if iids is not None:
        results.append(row["iid"] in iids)
    if prefix:
        milestone = ctx.string(_param(ctx, prefix, "milestone"))
        if milestone is not None:
            current = ctx.store.milestone(row["milestone_id"]) if row["milestone_id"] else None
            results.append(current is not None and current["title"] == milestone)
        return any(results) if results else False
    if not all(results):
        return False
    search = ctx.string("search")
    if search:
        fields = ctx.csv_list("in") or ["title", "description"]
        haystack = " ".join(str(row[f] or "") for f in fields if f in ("title", "description")).lower()
        if not all(word in haystack for word in search.lower().split()):
            return False
    milestone = ctx.string("milestone")
    if milestone is not None:
        current = ctx.store.milestone(row["milestone_id"]) if row["milestone_id"] else None
        if milestone.lower() == "none":
            matched = current is None
        elif milestone.lower() == "any":
            matched = current is not None
        else:
            matched = current is not None and current["title"] == milestone
        if not matched:
            return False
    if not _due_filter(ctx.string("due_date"), row["due_date"]):
        return False
    assignee_username = ctx.csv_list("assignee_username")
    if assignee_username:
        names = {u["username"].lower() for i in decode_list(row["assignee_ids"]) if (u := ctx.store.user(i))}
        if not all(name.lower() in names for name in assignee_username):
            return False
    assignee_id = ctx.string("assignee_id")
    if assignee_id is not None:
        ids = decode_list(row["assignee_ids"])
        if assignee_id.lower() == "none":
            return not ids
        if assignee_id.lower() == "any":
            return bool(ids)
        return assignee_id.isdigit() and int(assignee_id) in ids
    return True


def _due_filter(wanted: str | None, due: str | None) -> bool:
    """The list's `due_date` filter: 0 (none), any, today, tomorrow, overdue, week, month."""
    if wanted is None:
        return True
    if wanted == "0":
        return due is None
    if due is None:
        return False
    today = dt.datetime.now(dt.UTC).date()
    day = dt.date.fromisoformat(due)
    if wanted == "any":
        return True
    if wanted == "today":
        return day == today
    if wanted == "tomorrow":
        return day == today + dt.timedelta(days=1)
    if wanted == "overdue":
        return day < today
    if wanted == "week":
        start = today - dt.timedelta(days=today.weekday())
        return start <= day < start + dt.timedelta(days=7)
    if wanted == "month":
        return (day.year, day.month) == (today.year, today.month)
    if wanted == "next_month_and_previous_two_weeks":
        return today - dt.timedelta(days=14) <= day <= today + dt.timedelta(days=31)
    raise param_error("due_date does not have a valid value")


def _issue_list_reply(ctx: Ctx, rows: list[Row], order_by: str, *, in_project: bool) -> Reply:
    if in_project and ctx.string("pagination") == "keyset" and order_by in KEYSET_ORDER_BY:
        page = keyset_page(ctx, rows, lambda row: _sort_value(row, order_by), order_by)
    else:
        page = offset_page(ctx, rows)
    body = [
        entities.issue_entity(ctx.store, row, ctx.base_url, from_project=in_project) for row in page.items
    ]
    return Reply(200, body, page.headers)


def list_project_issues(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    rows, order_by = _filter_issues(ctx, [project["id"]])
    return _issue_list_reply(ctx, rows, order_by, in_project=True)


def list_group_issues(ctx: Ctx) -> Reply:
    group = find_group(ctx, ctx.route_args["id"])
    group_ids = ctx.store.descendant_group_ids(group["id"])
    marks = ",".join("?" * len(group_ids))
    projects = ctx.store.all(f"SELECT * FROM projects WHERE namespace_id IN ({marks})", group_ids)
    visible = [p["id"] for p in projects if ctx.user and ctx.store.access_level(ctx.user, p) > 0]
    rows, order_by = _filter_issues(ctx, visible)
    return _issue_list_reply(ctx, rows, order_by, in_project=False)


def list_own_issues(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    scope = ctx.choice("scope", ("created_by_me", "assigned_to_me", "all"), "created_by_me")
    projects = [
        p["id"] for p in ctx.store.all("SELECT * FROM projects") if ctx.store.access_level(user, p) > 0
    ]
    rows, order_by = _filter_issues(ctx, projects)
    if scope == "created_by_me":
        rows = [row for row in rows if row["author_id"] == user["id"]]
    elif scope == "assigned_to_me":
        rows = [row for row in rows if user["id"] in decode_list(row["assignee_ids"])]
    return _issue_list_reply(ctx, rows, order_by, in_project=False)


def get_issue(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = _find_issue(ctx, project)
    body = entities.issue_entity(ctx.store, issue, ctx.base_url, single=True)
    ctx.after_response.append(lambda: _land_pending_edit(ctx, project, issue))
    return Reply(200, body)


def _land_pending_edit(ctx: Ctx, project: Row, issue: Row) -> None:
    """Fault `edit_between_read_and_write`: another person edits right after this read."""
    from gl_rollout.sandbox.faults import PendingEdit

    def matches(edit: PendingEdit) -> bool:
        target = ctx.store.project_by_ref(edit.project)
        return target is not None and target["id"] == project["id"] and edit.iid == issue["iid"]

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
        moment = _time_param(ctx, "created_at")
        params["created_at"] = moment
    if not creating and ctx.has("updated_at") and privileged:
        params["updated_at"] = _time_param(ctx, "updated_at")
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
    issue = _find_issue(ctx, project)
    if not any(ctx.has(name) for name in UPDATE_AT_LEAST_ONE):
        raise param_error(
            ", ".join(UPDATE_AT_LEAST_ONE) + " are missing, at least one parameter must be provided"
        )
    if not can_edit_issue(ctx, project, issue):
        raise forbidden()
    params = _issue_params(ctx, project, creating=False)
    updated = service.update_issue(ctx.store, project, issue, actor, params)
    return Reply(200, entities.issue_entity(ctx.store, updated, ctx.base_url, single=True))


def delete_issue(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = _find_issue(ctx, project)
    if not user["is_admin"] and ctx.store.access_level(user, project) < 50:
        raise forbidden()
    with ctx.store.transaction():
        ctx.store.execute("DELETE FROM notes WHERE issue_id = ?", (issue["id"],))
        ctx.store.execute("DELETE FROM issues WHERE id = ?", (issue["id"],))
    return Reply(204)


# ---- notes ----------------------------------------------------------------------------------------
def _note_allowed(ctx: Ctx, project: Row, note: Row) -> bool:
    if not note["internal"]:
        return True
    return ctx.user is not None and ctx.store.access_level(ctx.user, project) >= 20


def list_notes(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = _find_issue(ctx, project)
    order_by = ctx.choice("order_by", ("created_at", "updated_at"), "created_at") or "created_at"
    sort = ctx.choice("sort", ("asc", "desc"), "desc")
    activity = ctx.choice("activity_filter", ("all_notes", "only_comments", "only_activity"), "all_notes")
    rows = ctx.store.notes_of(issue["id"])
    if activity == "only_comments":
        rows = [row for row in rows if not row["system"]]
    elif activity == "only_activity":
        rows = [row for row in rows if row["system"]]
    rows.sort(key=lambda row: (row[order_by], row["id"]), reverse=sort == "desc")
    page = offset_page(ctx, rows)
    # GitLab drops notes the reader may not see after paginating, so a page can come up short.
    body = [
        entities.note_entity(ctx.store, row, issue, ctx.base_url)
        for row in page.items
        if _note_allowed(ctx, project, row)
    ]
    return Reply(200, body, page.headers)


def _find_note(ctx: Ctx, project: Row, issue: Row) -> Row:
    note_text = ctx.route_args["note_id"]
    note = ctx.store.note(int(note_text)) if note_text.isdigit() else None
    if note is None or note["issue_id"] != issue["id"] or not _note_allowed(ctx, project, note):
        raise message_error(404, "404 Note Not Found")
    return note


def get_note(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    issue = _find_issue(ctx, project)
    note = _find_note(ctx, project, issue)
    return Reply(200, entities.note_entity(ctx.store, note, issue, ctx.base_url))


def create_note(ctx: Ctx) -> Reply:
    actor = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = _find_issue(ctx, project)
    if not ctx.has("body"):
        raise param_error("body is missing")
    body = ctx.string("body") or ""
    internal = ctx.boolean("internal")
    if internal is None:
        internal = bool(ctx.boolean("confidential", False))
    created_at = None
    if ctx.has("created_at") and (actor["is_admin"] or ctx.store.access_level(actor, project) >= 50):
        created_at = _time_param(ctx, "created_at")
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
    issue = _find_issue(ctx, project)
    note = _find_note(ctx, project, issue)
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
    issue = _find_issue(ctx, project)
    note = _find_note(ctx, project, issue)
    if note["author_id"] != actor["id"] and not actor["is_admin"]:
        raise forbidden()
    ctx.store.execute("DELETE FROM notes WHERE id = ?", (note["id"],))
    return Reply(204)
