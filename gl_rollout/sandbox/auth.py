"""Who is asking, as GitLab decides it, and what they may do.

- `PRIVATE-TOKEN` (or `private_token=`) and `Authorization: Bearer` carry personal access tokens; an
  unknown one is 401 everywhere.
- `JOB-TOKEN` (or `job_token=`, or Bearer) counts only on routes GitLab marks `job_token_allowed`
  (for issues: the project list and single-issue GET). Elsewhere it is ignored, so the request is
  anonymous: 401 for writes and user-scoped routes, 404 for private projects.
- A token with only the `read_api` scope may only GET/HEAD: writes are 403 `insufficient_scope`.
- Unlike GitLab, a write must carry its token in a header: `private_token=`/`job_token=` in the query
  or the body of a POST, PUT or DELETE is 401. A header is what no HTML form on another site can send,
  and the sandbox's tokens are public. Reads keep GitLab's parameter form.
"""

from __future__ import annotations

from gl_rollout.sandbox.http import Ctx
from gl_rollout.sandbox.service import ApiError, message_error
from gl_rollout.sandbox.store import GUEST, REPORTER, Row, decode_list

UNAUTHORIZED = {"message": "401 Unauthorized"}
FORBIDDEN = {"message": "403 Forbidden"}
INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the access token.",
    "scope": "api",
}


def unauthorized() -> ApiError:
    return ApiError(401, dict(UNAUTHORIZED), {"WWW-Authenticate": 'Bearer realm="GitLab"'})


def forbidden() -> ApiError:
    return ApiError(403, dict(FORBIDDEN))


def authenticate(ctx: Ctx, job_token_allowed: bool) -> None:
    """Set `ctx.user` and `ctx.token` from the request's credentials (or raise 401/403)."""
    headers = ctx.request.headers
    private_param, job_param = _pop_str(ctx, "private_token"), _pop_str(ctx, "job_token")
    private = headers.get("PRIVATE-TOKEN") or private_param
    authorization = headers.get("Authorization", "")
    bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
    job = headers.get("JOB-TOKEN") or job_param
    header_sent = bool(headers.get("PRIVATE-TOKEN") or headers.get("JOB-TOKEN") or bearer)
    if ctx.method not in ("GET", "HEAD") and (private_param or job_param) and not header_sent:
        raise ApiError(
            401,
            {"message": "401 Unauthorized: send the token in the PRIVATE-TOKEN header, not as a parameter"},
            {"WWW-Authenticate": 'Bearer realm="GitLab"'},
        )
    token: Row | None = None
    if bearer and job_token_allowed:
        candidate = ctx.store.token(bearer)
        if candidate is not None and candidate["kind"] == "job":
            token = candidate
    if token is None and (private or bearer):
        token = ctx.store.token(private or bearer or "")
        if token is None or token["kind"] == "job":
            raise unauthorized()
    if token is None and job and job_token_allowed:
        token = ctx.store.token(job)
        if token is None or token["kind"] != "job":
            raise unauthorized()
    refusal = ctx.quirks.job_token_refusal if ctx.quirks is not None else None
    if token is None and job and not job_token_allowed and refusal is not None:
        raise _refusal(refusal)
    if token is None:
        return
    user = ctx.store.user(token["user_id"])
    if user is None or user["state"] != "active":
        raise unauthorized()
    if ctx.method not in ("GET", "HEAD") and "api" not in token["scopes"].split():
        raise ApiError(403, dict(INSUFFICIENT_SCOPE))
    ctx.user, ctx.token, ctx.via_job_token = user, token, token["kind"] == "job"


def _refusal(status: int) -> ApiError:
    """How another GitLab version refuses a job token outside its allowed routes."""
    if status == 401:
        return unauthorized()
    if status == 403:
        return forbidden()
    return message_error(404, "404 Project Not Found")


def _pop_str(ctx: Ctx, name: str) -> str | None:
    value = ctx.params.pop(name, None)
    return str(value) if value else None


def require_user(ctx: Ctx) -> Row:
    if ctx.user is None:
        raise unauthorized()
    return ctx.user


def require_admin(ctx: Ctx) -> Row:
    user = require_user(ctx)
    if not user["is_admin"]:
        raise forbidden()
    return user


def find_project(ctx: Ctx, ref: str) -> Row:
    """The project by id or full path, or 404 if it does not exist or the caller cannot see it."""
    project = ctx.store.project_by_ref(ref)
    if project is None or not can_read_project(ctx, project):
        raise message_error(404, "404 Project Not Found")
    return project


def can_read_project(ctx: Ctx, project: Row) -> bool:
    if ctx.user is None:
        return False  # every seeded project is private
    if ctx.via_job_token and ctx.token is not None and ctx.token["project_id"] != project["id"]:
        return False  # outside the job's project (no allowlist in the sandbox)
    return ctx.store.access_level(ctx.user, project) >= GUEST


def find_group(ctx: Ctx, ref: str) -> Row:
    group = ctx.store.group_by_ref(ref)
    if group is None or ctx.user is None or ctx.store.group_access_level(ctx.user, group) < GUEST:
        raise message_error(404, "404 Group Not Found")
    return group


def can_see_issue(ctx: Ctx, project: Row, issue: Row) -> bool:
    """Confidential issues: Reporter and up, the author, or an assignee."""
    if not issue["confidential"] or ctx.user is None:
        return bool(ctx.user is not None)
    if ctx.store.access_level(ctx.user, project) >= REPORTER or issue["author_id"] == ctx.user["id"]:
        return True
    return ctx.user["id"] in decode_list(issue["assignee_ids"])


def can_edit_issue(ctx: Ctx, project: Row, issue: Row) -> bool:
    """Reporter and up manage the issue tracker; a Guest may edit issues they authored or are assigned."""
    user = require_user(ctx)
    if ctx.store.access_level(user, project) >= REPORTER:
        return True
    return bool(issue["author_id"] == user["id"])
