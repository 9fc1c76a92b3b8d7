"""Merge requests, as much as `create --from-mr` reads of them (doc/api/merge_requests.md, notes.md,
repository_files.md, issue_links.md):

- `GET /projects/:id/merge_requests/:merge_request_iid`: a minimal MergeRequest entity (iid, title,
  state, branches, `sha` of the source branch's head, `web_url`, `references`);
- `GET .../diffs`: the changed files, paginated (20 per page by default), each with `old_path`,
  `new_path`, `a_mode`, `b_mode`, `new_file`, `renamed_file`, `deleted_file`, `generated_file`, `diff`
  (hunks without the `---`/`+++` header), `collapsed` and `too_large` (both leave `diff` empty);
- `GET .../closes_issues`: the issues the MR closes when merged, as Issue entities;
- `GET`/`POST .../notes`: the MR's comments (`body` required), as the issue notes routes answer them;
- `GET /projects/:id/repository/files/:file_path/raw?ref=`: a file of a branch or commit as text
  (`ref` required; 404 `404 File Not Found`);
- `GET`/`POST /projects/:id/issues/:issue_iid/links`: related issues; the POST takes
  `target_project_id` (ID or path) and `target_issue_iid`, `link_type` `relates_to` by default, and
  answers 409 `Issue(s) already assigned` for a pair that is linked already.

There is no MR creation route: tests and the demo seed MRs with `Sandbox.create_merge_request`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.auth import find_project, forbidden, require_user
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.issue_routes import find_issue
from gl_rollout.sandbox.mr_seed import file_diff
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, message_error, param_error
from gl_rollout.sandbox.store import GUEST, REPORTER, Row, Store

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

LINK_TYPES = ("relates_to", "blocks", "is_blocked_by")


def register(router: Router) -> None:
    mr = "/projects/:id/merge_requests/:merge_request_iid"
    router.add("GET", mr, get_merge_request)
    router.add("GET", mr + "/diffs", list_diffs)
    router.add("GET", mr + "/closes_issues", closes_issues)
    router.add("GET", mr + "/notes", list_notes)
    router.add("POST", mr + "/notes", create_note)
    router.add("GET", "/projects/:id/repository/files/:file_path/raw", raw_file)
    router.add("GET", "/projects/:id/issues/:issue_iid/links", list_links)
    router.add("POST", "/projects/:id/issues/:issue_iid/links", create_link)


# ---- seeding (the Sandbox class's helper) ----------------------------------------------------------


def seed(
    store: Store,
    project: Row,
    author: Row,
    *,
    title: str,
    source_branch: str,
    files: Mapping[str, str],
    edited: Mapping[str, tuple[str, str]] | None = None,
    closes: Sequence[Row] = (),
    collapsed: Sequence[str] = (),
) -> Row:
    """An open MR whose source branch adds `files` (path -> text) and edits `edited` (path -> (old, new)).

    Paths in `collapsed` come with an empty diff and `collapsed: true`, as GitLab sends a diff above its
    size limits. The source branch's files are stored for the raw file endpoint, under the branch name
    and the head commit's SHA.
    """
    import hashlib

    now = store.now_ms()
    iid = _next_iid(store, project["id"])
    sha = hashlib.sha1(f"{project['id']}:{iid}:{sorted(files.items())}".encode()).hexdigest()  # noqa: S324
    mr_id = store.execute(
        "INSERT INTO merge_requests (project_id, iid, title, source_branch, target_branch, sha, author_id, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, 'main', ?, ?, ?, ?)",
        (project["id"], iid, title, source_branch, sha, author["id"], now, now),
    )
    rows: list[tuple[Any, ...]] = []
    for path, text in files.items():
        diff = "" if path in collapsed else file_diff("", text)
        rows.append((path, path, "0", "100644", 1, diff, int(path in collapsed)))
    for path, (old, new) in (edited or {}).items():
        diff = "" if path in collapsed else file_diff(old, new)
        rows.append((path, path, "100644", "100644", 0, diff, int(path in collapsed)))
    for position, (old_path, new_path, a_mode, b_mode, new_file, diff, folded) in enumerate(rows):
        store.execute(
            "INSERT INTO mr_files (mr_id, position, old_path, new_path, a_mode, b_mode, new_file, "
            "renamed_file, deleted_file, diff, collapsed) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?)",
            (mr_id, position, old_path, new_path, a_mode, b_mode, new_file, diff, folded),
        )
    head = {**{path: new for path, (_, new) in (edited or {}).items()}, **files}
    for ref in (source_branch, sha):
        for path, text in head.items():
            store.execute(
                "INSERT OR REPLACE INTO repo_files (project_id, ref, path, content) VALUES (?, ?, ?, ?)",
                (project["id"], ref, path, text),
            )
    for issue in closes:
        store.execute("INSERT INTO mr_closes (mr_id, issue_id) VALUES (?, ?)", (mr_id, issue["id"]))
    row = store.one("SELECT * FROM merge_requests WHERE id = ?", (mr_id,))
    assert row is not None
    return row


def _next_iid(store: Store, project_id: int) -> int:
    row = store.one("SELECT MAX(iid) AS last FROM merge_requests WHERE project_id = ?", (project_id,))
    return 1 + int(row["last"] or 0) if row else 1


# ---- entities -----------------------------------------------------------------------------------------


def mr_entity(store: Store, mr: Row, project: Row, base_url: str) -> dict[str, Any]:
    author = store.user(mr["author_id"])
    assert author is not None
    return {
        "id": mr["id"],
        "iid": mr["iid"],
        "project_id": project["id"],
        "title": mr["title"],
        "description": mr["description"],
        "state": mr["state"],
        "created_at": entities.iso_time(mr["created_at"]),
        "updated_at": entities.iso_time(mr["updated_at"]),
        "target_branch": mr["target_branch"],
        "source_branch": mr["source_branch"],
        "source_project_id": project["id"],
        "target_project_id": project["id"],
        "author": entities.user_basic(author, base_url),
        "draft": False,
        "sha": mr["sha"],
        "web_url": f"{base_url}/{project['full_path']}/-/merge_requests/{mr['iid']}",
        "references": {
            "short": f"!{mr['iid']}",
            "relative": f"!{mr['iid']}",
            "full": f"{project['full_path']}!{mr['iid']}",
        },
    }


def _diff_entity(row: Row) -> dict[str, Any]:
    return {
        "old_path": row["old_path"],
        "new_path": row["new_path"],
        "a_mode": row["a_mode"],
        "b_mode": row["b_mode"],
        "diff": row["diff"],
        "new_file": bool(row["new_file"]),
        "renamed_file": bool(row["renamed_file"]),
        "deleted_file": bool(row["deleted_file"]),
        "generated_file": False,
        "collapsed": bool(row["collapsed"]),
        "too_large": bool(row["too_large"]),
    }


def _mr_note_entity(store: Store, note: Row, mr: Row, base_url: str) -> dict[str, Any]:
    author = store.user(note["author_id"])
    assert author is not None
    return {
        "id": note["id"],
        "type": None,
        "body": note["body"],
        "author": entities.user_basic(author, base_url),
        "created_at": entities.iso_time(note["created_at"]),
        "updated_at": entities.iso_time(note["updated_at"]),
        "system": False,
        "noteable_id": mr["id"],
        "noteable_type": "MergeRequest",
        "noteable_iid": mr["iid"],
        "project_id": mr["project_id"],
        "resolvable": False,
        "confidential": False,
        "internal": False,
        "commands_changes": {},
    }


# ---- routes ---------------------------------------------------------------------------------------------


def find_mr(ctx: Ctx) -> tuple[Row, Row]:
    project = find_project(ctx, ctx.route_args["id"])
    iid_text = ctx.route_args["merge_request_iid"]
    if not iid_text.isdigit():
        raise param_error("merge_request_iid is invalid")
    mr = ctx.store.one(
        "SELECT * FROM merge_requests WHERE project_id = ? AND iid = ?", (project["id"], int(iid_text))
    )
    if mr is None:
        raise message_error(404, "404 Not found")
    return project, mr


def get_merge_request(ctx: Ctx) -> Reply:
    project, mr = find_mr(ctx)
    return Reply(200, mr_entity(ctx.store, mr, project, ctx.base_url))


def list_diffs(ctx: Ctx) -> Reply:
    _, mr = find_mr(ctx)
    rows = ctx.store.all("SELECT * FROM mr_files WHERE mr_id = ? ORDER BY position", (mr["id"],))
    ctx.boolean("unidiff")  # the sandbox's diffs are unified already
    page = offset_page(ctx, rows)
    return Reply(200, [_diff_entity(row) for row in page.items], page.headers)


def closes_issues(ctx: Ctx) -> Reply:
    _, mr = find_mr(ctx)
    rows = ctx.store.all(
        "SELECT issues.* FROM mr_closes JOIN issues ON issues.id = mr_closes.issue_id "
        "WHERE mr_closes.mr_id = ? ORDER BY issues.id",
        (mr["id"],),
    )
    page = offset_page(ctx, rows)
    body = [entities.issue_entity(ctx.store, row, ctx.base_url, from_project=False) for row in page.items]
    return Reply(200, body, page.headers)


def list_notes(ctx: Ctx) -> Reply:
    _, mr = find_mr(ctx)
    order_by = ctx.choice("order_by", ("created_at", "updated_at"), "created_at") or "created_at"
    sort = ctx.choice("sort", ("asc", "desc"), "desc")
    rows = ctx.store.all("SELECT * FROM mr_notes WHERE mr_id = ?", (mr["id"],))
    rows.sort(key=lambda row: (row[order_by], row["id"]), reverse=sort == "desc")
    page = offset_page(ctx, rows)
    return Reply(200, [_mr_note_entity(ctx.store, row, mr, ctx.base_url) for row in page.items], page.headers)


def create_note(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    project, mr = find_mr(ctx)
    if ctx.store.access_level(user, project) < GUEST:
        raise forbidden()
    body = ctx.string("body")
    if not body:
        raise param_error("body is missing")
    now = ctx.store.now_ms()
    note_id = ctx.store.execute(
        "INSERT INTO mr_notes (mr_id, author_id, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (mr["id"], user["id"], body, now, now),
    )
    ctx.store.execute("UPDATE merge_requests SET updated_at = ? WHERE id = ?", (now, mr["id"]))
    note = ctx.store.one("SELECT * FROM mr_notes WHERE id = ?", (note_id,))
    assert note is not None
    return Reply(201, _mr_note_entity(ctx.store, note, mr, ctx.base_url))


def raw_file(ctx: Ctx) -> Reply:
    project = find_project(ctx, ctx.route_args["id"])
    ref = ctx.string("ref")
    if not ref:
        raise param_error("ref is missing")
    path = ctx.route_args["file_path"]
    row = ctx.store.one(
        "SELECT content FROM repo_files WHERE project_id = ? AND ref = ? AND path = ?",
        (project["id"], ref, path),
    )
    if row is None:
        raise message_error(404, "404 File Not Found")
    name = path.rsplit("/", 1)[-1]
    return Reply(
        200, raw=row["content"].encode("utf-8"), headers={"X-Gitlab-File-Name": name, "X-Gitlab-Ref": ref}
    )


def list_links(ctx: Ctx) -> Reply:
    require_user(ctx)
    issue = find_issue(ctx, find_project(ctx, ctx.route_args["id"]))
    body = []
    for link in _links_of(ctx.store, issue["id"]):
        other_id = link["target_id"] if link["source_id"] == issue["id"] else link["source_id"]
        other = ctx.store.issue_by_id(other_id)
        if other is None:
            continue
        entity = entities.issue_entity(ctx.store, other, ctx.base_url, from_project=False)
        entity.update(
            issue_link_id=link["id"],
            link_type=link["link_type"],
            link_created_at=entities.iso_time(link["created_at"]),
            link_updated_at=entities.iso_time(link["updated_at"]),
        )
        body.append(entity)
    return Reply(200, body)


def _links_of(store: Store, issue_id: int) -> list[Row]:
    return store.all(
        "SELECT * FROM issue_links WHERE source_id = ? OR target_id = ? ORDER BY id", (issue_id, issue_id)
    )


def create_link(ctx: Ctx) -> Reply:
    user = require_user(ctx)
    project = find_project(ctx, ctx.route_args["id"])
    issue = find_issue(ctx, project)
    if ctx.store.access_level(user, project) < REPORTER:
        raise forbidden()
    target_ref = ctx.string("target_project_id")
    if not target_ref:
        raise param_error("target_project_id is missing")
    target_iid = ctx.integer("target_issue_iid")
    if target_iid is None:
        raise param_error("target_issue_iid is missing")
    link_type = ctx.choice("link_type", LINK_TYPES, "relates_to") or "relates_to"
    target_project = find_project(ctx, target_ref)
    target = ctx.store.issue(target_project["id"], target_iid)
    if target is None:
        raise message_error(404, "404 Not found")
    pair = {issue["id"], target["id"]}
    if any({link["source_id"], link["target_id"]} == pair for link in _links_of(ctx.store, issue["id"])):
        raise ApiError(409, {"message": "Issue(s) already assigned"})
    now = ctx.store.now_ms()
    ctx.store.execute(
        "INSERT INTO issue_links (source_id, target_id, link_type, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (issue["id"], target["id"], link_type, now, now),
    )
    body = {
        "source_issue": entities.issue_entity(ctx.store, issue, ctx.base_url, from_project=False),
        "target_issue": entities.issue_entity(ctx.store, target, ctx.base_url, from_project=False),
        "link_type": link_type,
    }
    return Reply(201, body)
