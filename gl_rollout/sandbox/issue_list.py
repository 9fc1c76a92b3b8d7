"""Issue lists for a project, a group (with its subgroups) and `/issues`, with GitLab's filters and paging."""

# ruff: noqa: S608  SQL text holds only our "?" marks and column names; values are bound
from __future__ import annotations

import datetime as dt
from typing import Any

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.auth import can_see_issue, find_group, find_project, require_user
from gl_rollout.sandbox.http import Ctx, keyset_page, offset_page
from gl_rollout.sandbox.issue_routes import time_param
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.search import matches as search_matches
from gl_rollout.sandbox.service import param_error, store_today
from gl_rollout.sandbox.store import Row, decode_list

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
        moment = time_param(ctx, name)
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
    issue_type = ctx.choice("issue_type", ISSUE_TYPES)  # Grape: 400 for a type GitLab does not have
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
        if not search_matches(search, row["title"] or "", row["description"] or "", fields):
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
    if not _due_filter(ctx.string("due_date"), row["due_date"], store_today(ctx.store)):
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


def _due_filter(wanted: str | None, due: str | None, today: dt.date) -> bool:
    """The list's `due_date` filter: 0 (none), any, today, tomorrow, overdue, week, month."""
    if wanted is None:
        return True
    if wanted == "0":
        return due is None
    if due is None:
        return False
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
