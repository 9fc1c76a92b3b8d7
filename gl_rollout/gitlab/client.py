"""The python-gitlab adapter behind `gl_rollout.gitlab.api.GitLabAPI`: the only importer of python-gitlab.

Each Protocol method is one `Gitlab.http_request` (one per page for lists): no manager `get()` or
`save()` that could cost a hidden GET or re-send `labels`. python-gitlab's own retries are off for
every call (`obey_rate_limit=False`, `max_retries=0`); ours decide by what a failure proves:

* a refusal (429, or a connection that was never opened) may always be retried; a refused
  connection only once, quickly, since nothing listening there rarely changes within seconds;
* GET, PUT, DELETE and setting a feature flag are "make it so", so they are retried on 5xx,
  409 "Resource lock", timeouts and dropped connections too;
* creating an issue or a note is never sent twice after an answer that may hide a commit (5xx,
  timeout, dropped connection): that raises `GitLabError` with `details["ambiguous"] = True`, and
  the use case looks for what landed before it tries again.

Errors become one-line `GitLabError`s with a hint; the token never appears in them.

The family: this module (the Protocol methods, and the one place that calls python-gitlab and reads
its exceptions), `gl_rollout.gitlab.transport` (pacing, retries, redirects, pagination) and
`gl_rollout.gitlab.errors` (failures as `GitLabError`s). requests is imported by this module (the
session) and by those two, inside functions, for its exception types.

Nothing here relies on what only one GitLab does (tests/e2e/test_gitlab_variants.py runs the CLI against
the sandbox's `quirks`): lists end when the server says so, by `Link`, `X-Next-Page` or
`X-Total-Pages`, whichever it sends, and never loop; notes are ordered here, whatever order the server
kept; redirects are followed by this module, on this GitLab's own address only, so the token never
travels to another host; timestamps, labels, references and gates are read in every form seen.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from gl_rollout import __version__
from gl_rollout.core.freezes import FreezePeriod
from gl_rollout.core.merge_requests import FileDiff, MergeRequest
from gl_rollout.core.model import Feature, Issue, IssueQuery, Note, User
from gl_rollout.core.project_flag import ProjectFlag, UserListRef
from gl_rollout.core.times import Timestamp, http_date
from gl_rollout.errors import GitLabError
from gl_rollout.gitlab.calls import Call, StatusError
from gl_rollout.gitlab.decoding import (
    feature_from_json,
    feature_value,
    file_diff_from_json,
    issue_from_json,
    mr_from_json,
    note_from_json,
)
from gl_rollout.gitlab.errors import ErrorTranslator
from gl_rollout.gitlab.flag_decoding import project_flag_from_json, user_list_from_json
from gl_rollout.gitlab.http_log import log_response
from gl_rollout.gitlab.retry import RateLimiter, RetryPolicy
from gl_rollout.gitlab.transport import Transport

if TYPE_CHECKING:
    import gitlab
    import requests

    from gl_rollout.gitlab.connection import Connection

PROJECT_FIX = "check --project: a project's full path (group/project) or its ID"
NOTES_BURST = 10  # a command posts one or two comments: let them go without pacing


def connect(
    conn: Connection,
    timeout: float,
    *,
    retry: RetryPolicy | None = None,
    requests_per_minute: float | RateLimiter | None = 2000.0,
    notes_per_minute: float | RateLimiter | None = 60.0,
    flag_managers: bool | None = None,
) -> PythonGitLab:
    """A `GitLabAPI` for `conn`: TLS verified (against `conn.ca_bundle` when set), `timeout` on every request.

    `requests_per_minute`/`notes_per_minute` pace this client, shared by all threads using it: a number
    (notes may burst 10 at once, requests per_minute/20), a ready `RateLimiter`, or None for no limit.
    `retry` defaults to `RetryPolicy()` (5 attempts, 0.5 s base, 8 s cap, 60 s in all).
    `flag_managers`: send project feature flag requests through python-gitlab's `feature_flags` and
    `feature_flags_user_lists` managers (python-gitlab 8.2 and later have them; None: when installed),
    or, False, as GitLab's documented HTTP calls through `http_request`, as older versions must.
    """
    import gitlab

    token = conn.token or None
    gl = gitlab.Gitlab(
        conn.url,
        session=_no_redirect_session(),
        private_token=token if conn.token_kind == "private" else None,
        oauth_token=token if conn.token_kind == "oauth" else None,
        job_token=token if conn.token_kind == "job" else None,
        ssl_verify=conn.ca_bundle or True,
        timeout=timeout,
        retry_transient_errors=False,
        per_page=100,
        user_agent=f"gl-rollout/{__version__} python-gitlab/{gitlab.__version__}",
    )
    return PythonGitLab(
        gl,
        conn,
        timeout=timeout,
        retry=retry or RetryPolicy(),
        limiter=_limiter(requests_per_minute, None),
        notes_limiter=_limiter(notes_per_minute, NOTES_BURST),
        flag_managers=has_flag_managers() if flag_managers is None else flag_managers,
    )


def has_flag_managers() -> bool:
    """Whether the installed python-gitlab has the project feature flag managers (8.2 and later)."""
    import gitlab.v4.objects

    return hasattr(gitlab.v4.objects, "ProjectFeatureFlagManager") and hasattr(
        gitlab.v4.objects, "ProjectFeatureFlagUserListManager"
    )


def _no_redirect_session() -> requests.Session:
    """A requests session that never follows a redirect on its own.

    requests would carry `PRIVATE-TOKEN`/`JOB-TOKEN` (custom headers) to whatever host a redirect names,
    and turn a redirected POST into a GET; `gl_rollout.gitlab.transport.Transport.send` follows redirects
    itself, on this GitLab's own address only.
    """
    import requests

    class NoRedirectSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs["allow_redirects"] = False
            return super().request(*args, **kwargs)

    return NoRedirectSession()


def _limiter(limit: float | RateLimiter | None, burst: int | None) -> RateLimiter | None:
    if limit is None or isinstance(limit, RateLimiter):
        return limit
    return RateLimiter(limit, burst=burst) if limit > 0 else None


class PythonGitLab:
    """`GitLabAPI` over python-gitlab. Safe to share between threads (sync uses 8)."""

    def __init__(
        self,
        gl: gitlab.Gitlab,
        conn: Connection,
        *,
        timeout: float,
        retry: RetryPolicy,
        limiter: RateLimiter | None,
        notes_limiter: RateLimiter | None,
        flag_managers: bool = False,
    ) -> None:
        self.url = conn.url
        self.flag_managers = flag_managers
        self._gl = gl
        self._timeout = timeout
        self._errors = ErrorTranslator(conn, timeout)
        self._http = Transport(
            self._send_once,
            api_url=gl.api_url,
            errors=self._errors,
            retry=retry,
            limiter=limiter,
            notes_limiter=notes_limiter,
        )
        self._local = threading.local()
        self._last_date: str | None = None
        gl.session.hooks["response"].append(self._remember_response)

    # --- Protocol ------------------------------------------------------------------------------

    def current_user(self) -> User:
        data = self._http.json_object(
            Call("get", "/user", "read the current user", "the current user", fix="check --url / GITLAB_URL")
        )
        return User(
            id=int(data["id"]),
            username=str(data.get("username") or ""),
            name=str(data.get("name") or ""),
            is_admin=bool(data.get("is_admin", False)),
        )

    def get_issue(self, project: str, iid: int) -> Issue:
        call = Call(
            "get",
            _issue_path(project, iid),
            f"read issue {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            job_ok=True,
            project=project,
        )
        return self._issue(self._http.json_object(call), call)

    def list_issues(self, query: IssueQuery) -> Iterator[Issue]:
        params: dict[str, Any] = {"state": query.state, "order_by": query.order_by, "sort": query.sort}
        if query.project is not None:
            path, scope = f"/projects/{_id(query.project)}/issues", f"project {query.project}"
            fix = PROJECT_FIX
        elif query.group is not None:
            path, scope = f"/groups/{_id(query.group)}/issues", f"group {query.group}"
            fix = "check --group: a group's full path (parent/child) or its ID"
        else:
            path, scope = "/issues", "this GitLab"
            params["scope"] = "all"
            fix = "check --url / GITLAB_URL"
        if query.labels:
            params["labels"] = ",".join(query.labels)
        if query.search is not None:
            params["search"] = query.search
            if query.search_in:
                params["in"] = query.search_in
        if query.iids:
            params["iids[]"] = list(query.iids)
        if query.updated_after:
            params["updated_after"] = query.updated_after
        if query.issue_type:
            params["issue_type"] = query.issue_type
        call = Call(
            "get",
            path,
            f"list the issues of {scope}",
            scope,
            fix=fix,
            query=params,
            job_ok=query.project is not None,
            project=query.project,
        )
        for page in self._http.pages(call, query.per_page, None):
            for item in page:
                yield self._issue(item, call)

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        call = Call(
            "post",
            f"/projects/{_id(project)}/issues",
            f"create an issue in {project}",
            f"project {project}",
            fix=PROJECT_FIX,
            body=_jsonable(fields),
            replayable=False,
            write=True,
            project=project,
        )
        return self._issue(self._http.json_object(call), call)

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        call = Call(
            "put",
            _issue_path(project, iid),
            f"update issue {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            body=_jsonable(fields),
            write=True,
            project=project,
        )
        return self._issue(self._http.json_object(call), call)

    def list_notes(
        self, project: str, iid: int, *, sort: str = "asc", per_page: int = 100, max_pages: int | None = None
    ) -> list[Note]:
        call = Call(
            "get",
            _issue_path(project, iid) + "/notes",
            f"read the comments of {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            query={"order_by": "created_at", "sort": sort},
            project=project,
        )
        notes: list[Note] = []
        for index, page in enumerate(self._http.pages(call, per_page, None)):
            notes.extend(self._note(item, call) for item in page)
            # A server that ignores `sort` gives the oldest notes first: then the newest are further on.
            if max_pages is not None and index + 1 >= max_pages and _in_order(notes, sort):
                break
        return sorted(notes, key=_note_order, reverse=sort == "desc")

    def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
        payload: dict[str, Any] = {"body": body}
        if internal:
            payload["internal"] = True
        call = Call(
            "post",
            _issue_path(project, iid) + "/notes",
            f"post a comment on {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            body=payload,
            replayable=False,
            write=True,
            note=True,
            project=project,
        )
        response = self._http.send(call)
        if response.status_code == 202:  # the body held only quick actions: nothing was stored
            return None
        return self._note(self._http.decode(response, call), call)

    def delete_note(self, project: str, iid: int, note_id: int) -> None:
        call = Call(
            "delete",
            _issue_path(project, iid) + f"/notes/{int(note_id)}",
            f"delete comment {note_id} of {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            write=True,
            project=project,
        )
        try:
            self._http.send(call)
        except GitLabError as exc:
            if exc.status != 404:
                raise

    def find_user_ids(self, usernames: list[str]) -> dict[str, int]:
        """One request per username (GitLab has no exact multi-username lookup)."""
        found: dict[str, int] = {}
        for username in usernames:
            call = Call(
                "get",
                "/users",
                f"look up user {username}",
                f"user {username}",
                fix="check --url / GITLAB_URL",
                query={"username": username},
            )
            for item in self._http.json_list(call):
                if str(item.get("username", "")).lower() == username.lower():
                    found[username] = int(item["id"])
        return found

    def find_milestone_id(self, project: str, title: str) -> int | None:
        call = Call(
            "get",
            f"/projects/{_id(project)}/milestones",
            f"look up milestone {title!r} of {project}",
            f"project {project}",
            fix=PROJECT_FIX,
            query={"title": title, "include_ancestors": "true"},
        )
        for item in self._http.json_list(call):
            if item.get("title") == title:
                return int(item["id"])
        return None

    def list_features(self) -> list[Feature]:
        """One request per 100 flags (GitLab may or may not paginate this list)."""
        call = Call("get", "/features", "list the feature flags", "the Features API", admin=True)
        return [feature_from_json(item) for page in self._http.pages(call, 100, None) for item in page]

    def set_feature(self, name: str, params: Mapping[str, Any]) -> Feature:
        body = dict(params)
        if "value" in body:
            body["value"] = feature_value(body["value"])
        for key, value in list(body.items()):
            if isinstance(value, bool):
                body[key] = "true" if value else "false"
            elif isinstance(value, list | tuple):
                body[key] = ",".join(str(v) for v in value)
        call = Call(
            "post",
            f"/features/{quote(name, safe='')}",
            f"set feature flag {name}",
            "the Features API",
            body=body,
            write=True,
            admin=True,
        )
        return feature_from_json(self._http.json_object(call))

    def delete_feature(self, name: str) -> None:
        call = Call(
            "delete",
            f"/features/{quote(name, safe='')}",
            f"delete feature flag {name}",
            "the Features API",
            write=True,
            admin=True,
        )
        self._http.send(call)

    def list_freeze_periods(self, project: str) -> list[FreezePeriod]:
        call = Call(
            "get",
            f"/projects/{_id(project)}/freeze_periods",
            f"list the deploy freezes of {project}",
            f"project {project}",
            fix=PROJECT_FIX + " (reading deploy freezes needs the Reporter role)",
            project=project,
        )
        periods: list[FreezePeriod] = []
        for page in self._http.pages(call, 100, None):
            for item in page:
                try:
                    periods.append(
                        FreezePeriod(
                            freeze_start=str(item["freeze_start"]),
                            freeze_end=str(item["freeze_end"]),
                            cron_timezone=str(item.get("cron_timezone") or "UTC"),
                            id=int(item["id"]) if item.get("id") is not None else None,
                        )
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise self._unreadable(
                        f"GitLab's answer to {call.what} lacks a freeze period field ({exc})", call
                    ) from None
        return periods

    def server_time(self) -> Timestamp | None:
        """The `Date` header of the last answer this client read (GitLab's clock; no request)."""
        text = self._last_date
        return http_date(text) if text else None

    # --- project feature flags --------------------------------------------------------------------

    def get_project_flag(self, project: str, name: str) -> ProjectFlag | None:
        call = Call(
            "get",
            _flag_path(project, name),
            f"read feature flag {name} of {project} (project feature flags need the Developer role)",
            f"project {project}",
            fix=_FLAG_PROJECT_FIX,
            project=project,
            manager_method="get",
        )
        try:
            data = self._http.json_object(call)
        except GitLabError as exc:
            # A missing flag is `404 Not found`; a missing project, `404 Project Not Found`.
            if exc.status == 404 and not self._last_404_named_project:
                return None
            raise
        return self._flag(data, call)

    def create_project_flag(self, project: str, fields: Mapping[str, Any]) -> ProjectFlag:
        call = Call(
            "post",
            f"/projects/{_id(project)}/feature_flags",
            f"create feature flag {fields.get('name')} in {project}",
            f"project {project}",
            fix=_FLAG_PROJECT_FIX,
            body=_jsonable(fields),
            replayable=False,
            write=True,
            project=project,
            manager_method="create",
        )
        return self._flag(self._http.json_object(call), call)

    def update_project_flag(self, project: str, name: str, fields: Mapping[str, Any]) -> ProjectFlag:
        call = Call(
            "put",
            _flag_path(project, name),
            f"update feature flag {name} of {project}",
            f"feature flag {name} of {project}",
            fix=_FLAG_PROJECT_FIX,
            body=_jsonable(fields),
            replayable=False,
            write=True,
            project=project,
            manager_method="update",
        )
        return self._flag(self._http.json_object(call), call)

    def find_user_list(self, project: str, name: str) -> UserListRef | None:
        call = Call(
            "get",
            f"/projects/{_id(project)}/feature_flags_user_lists",
            f"look up the feature flag user list {name!r} of {project}",
            f"project {project}",
            fix=_FLAG_PROJECT_FIX,
            query={"search": name},
            project=project,
            manager_method="list",
        )
        for page in self._http.pages(call, 100, None):
            for item in page:
                if isinstance(item, Mapping) and item.get("name") == name:
                    try:
                        return user_list_from_json(item)
                    except (KeyError, TypeError, ValueError) as exc:
                        raise self._unreadable(f"GitLab's user list lacks a field ({exc})", call) from None
        return None

    def list_environment_names(self, project: str) -> list[str]:
        call = Call(
            "get",
            f"/projects/{_id(project)}/environments",
            f"list the environments of {project}",
            f"project {project}",
            fix=_FLAG_PROJECT_FIX,
            project=project,
        )
        return [
            str(item["name"])
            for page in self._http.pages(call, 100, None)
            for item in page
            if isinstance(item, Mapping) and "name" in item
        ]

    # --- merge requests (`create --from-mr`) -------------------------------------------------------

    def get_merge_request(self, project: str, iid: int) -> MergeRequest:
        call = Call(
            "get",
            _mr_path(project, iid),
            f"read merge request {project}!{iid}",
            f"project {project} or its merge request !{iid}",
            fix="check --from-mr and --project",
            project=project,
        )
        data = self._http.json_object(call)
        try:
            return mr_from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable(f"GitLab's answer to {call.what} lacks a field ({exc})", call) from None

    def list_merge_request_diffs(self, project: str, iid: int) -> list[FileDiff]:
        call = Call(
            "get",
            _mr_path(project, iid) + "/diffs",
            f"read the changes of merge request {project}!{iid}",
            f"project {project} or its merge request !{iid}",
            fix="check --from-mr and --project",
            project=project,
        )
        found: list[FileDiff] = []
        for page in self._http.pages(call, 100, None):
            for item in page:
                try:
                    found.append(file_diff_from_json(item))
                except (KeyError, TypeError, ValueError) as exc:
                    raise self._unreadable(
                        f"GitLab's answer to {call.what} lacks a diff field ({exc})", call
                    ) from None
        return found

    def get_raw_file(self, project: str, path: str, ref: str) -> str:
        call = Call(
            "get",
            f"/projects/{_id(project)}/repository/files/{quote(path, safe='')}/raw",
            f"read {path} at {ref} in {project}",
            f"file {path} at {ref} in project {project}",
            fix="check that the merge request's source branch still exists",
            query={"ref": ref},
            project=project,
        )
        response = self._http.send(call)
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise self._errors.error(f"{path} at {ref} is not UTF-8 text", call=call) from None

    def list_merge_request_closing_issues(self, project: str, iid: int) -> list[Issue]:
        call = Call(
            "get",
            _mr_path(project, iid) + "/closes_issues",
            f"read the issues merge request {project}!{iid} closes",
            f"project {project} or its merge request !{iid}",
            fix="check --from-mr and --project",
            project=project,
        )
        # GitLab lists issues of other projects too; an external tracker's (Jira) have no iid: skipped.
        return [
            self._issue(item, call)
            for page in self._http.pages(call, 100, None)
            for item in page
            if "iid" in item
        ]

    def list_issue_links(self, project: str, iid: int) -> list[Issue]:
        call = Call(
            "get",
            _issue_path(project, iid) + "/links",
            f"read the linked issues of {project}#{iid}",
            _missing(project, iid),
            iid=iid,
            project=project,
        )
        return [self._issue(item, call) for item in self._http.json_list(call)]

    def create_issue_link(self, project: str, iid: int, target_project: str, target_iid: int) -> None:
        call = Call(
            "post",
            _issue_path(project, iid) + "/links",
            f"link {project}#{iid} to {target_project}#{target_iid}",
            f"{_missing(project, iid)}, or {target_project}#{target_iid}",
            iid=iid,
            body={
                "target_project_id": target_project,
                "target_issue_iid": target_iid,
                "link_type": "relates_to",
            },
            write=True,
            project=project,
        )
        try:
            self._http.send(call)
        except GitLabError as exc:
            if exc.status != 409:  # 409: the two issues are linked already, which is what was asked
                raise

    def list_merge_request_notes(self, project: str, iid: int) -> list[Note]:
        call = Call(
            "get",
            _mr_path(project, iid) + "/notes",
            f"read the comments of merge request {project}!{iid}",
            f"project {project} or its merge request !{iid}",
            fix="check --from-mr and --project",
            query={"order_by": "created_at", "sort": "desc"},
            project=project,
        )
        notes: list[Note] = []
        # Every page: a busy review pushes our comment past the first 100, and missing it posts it twice.
        for page in self._http.pages(call, 100, None):
            notes.extend(self._note(item, call) for item in page)
        return notes

    def create_merge_request_note(self, project: str, iid: int, body: str) -> Note:
        call = Call(
            "post",
            _mr_path(project, iid) + "/notes",
            f"post a comment on merge request {project}!{iid}",
            f"project {project} or its merge request !{iid}",
            fix="check --from-mr and --project",
            body={"body": body},
            replayable=False,
            write=True,
            note=True,
            project=project,
        )
        return self._note(self._http.decode(self._http.send(call), call), call)

    def request_count(self) -> int:
        return self._http.request_count()

    # --- python-gitlab ---------------------------------------------------------------------------

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # python-gitlab's exceptions drop the headers (Retry-After, Location) and the URL asked; its
        # managers return data, not the response the transport reads.
        self._local.headers = response.headers
        self._local.url = response.url
        date = response.headers.get("Date")
        if date:  # any thread's latest answer: the server's clock moves the same for all of them
            self._last_date = date
        self._local.response = response
        log_response(response, self._errors.secrets)

    @property
    def _last_404_named_project(self) -> bool:
        response = getattr(self._local, "response", None)
        try:
            message = str(response.json().get("message", "")) if response is not None else ""
        except (ValueError, AttributeError):
            return False
        return "project" in message.lower()

    def _send_by_manager(self, call: Call, **options: Any) -> requests.Response:
        """`call` through python-gitlab's manager of the collection its path names (see `Call`)."""
        found = _MANAGED.match(call.path)
        if found is None:  # a path the transport rewrote (a Link URL): as a plain HTTP call
            return self._gl.http_request(
                call.method,
                call.path,
                query_data=dict(call.query) if call.query else None,
                post_data=dict(call.body) if call.body is not None else None,
                **options,
            )
        project_id, collection, item = found.group(1), found.group(2), found.group(3)
        project = self._gl.projects.get(unquote(project_id), lazy=True)
        manager = getattr(project, collection)
        key = unquote(item) if item else None
        if call.manager_method == "get":
            manager.get(key, **options)
        elif call.manager_method == "create":
            manager.create(dict(call.body or {}), **options)
        elif call.manager_method == "update":
            manager.update(key, dict(call.body or {}), **options)
        else:
            manager.list(get_all=False, **dict(call.query or {}), **options)
        response: requests.Response = self._local.response
        return response

    def _send_once(self, call: Call) -> requests.Response:
        """One request, python-gitlab's retries off; its HTTP errors become `StatusError`s."""
        import gitlab.exceptions

        self._local.headers = {}
        self._local.url = None
        self._local.response = None
        options: dict[str, Any] = {
            "timeout": self._timeout,
            "obey_rate_limit": False,
            "retry_transient_errors": False,
            "max_retries": 0,
        }
        try:
            if call.manager_method is not None and self.flag_managers:
                return self._send_by_manager(call, **options)
            return self._gl.http_request(
                call.method,
                call.path,
                query_data=dict(call.query) if call.query else None,
                post_data=dict(call.body) if call.body is not None else None,
                **options,
            )
        except gitlab.exceptions.RedirectError:
            raise self._errors.error(
                f"GitLab redirected the request to {call.what}",
                "the project may have moved or been renamed: use its new path",
                call=call,
            ) from None
        except gitlab.exceptions.GitlabError as exc:
            headers: Mapping[str, str] = getattr(self._local, "headers", None) or {}
            url = getattr(self._local, "url", None)
            raise StatusError(exc.response_code or 0, exc.error_message, headers, url) from None

    def _issue(self, data: Mapping[str, Any], call: Call) -> Issue:
        try:
            return issue_from_json(data, base_url=self.url, project=call.project)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable(
                f"GitLab's answer to {call.what} lacks an issue field ({exc})", call
            ) from None

    def _note(self, data: Any, call: Call) -> Note:
        try:
            return note_from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable(
                f"GitLab's answer to {call.what} lacks a comment field ({exc})", call
            ) from None

    def _flag(self, data: Mapping[str, Any], call: Call) -> ProjectFlag:
        try:
            return project_flag_from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._unreadable(
                f"GitLab's answer to {call.what} lacks a feature flag field ({exc})", call
            ) from None

    def _unreadable(self, message: str, call: Call) -> GitLabError:
        """A success answer that cannot be read: for a write, what it wrote exists (`posting` looks it up)."""
        error = self._errors.error(message, call=call)
        if call.write:
            error.details["landed"] = True
        return error


# --- helpers ---------------------------------------------------------------------------------


def _note_order(note: Note) -> tuple[float, int]:
    """Notes by creation instant (whatever the timestamp's format), then by ID for equal instants."""
    moment = Timestamp.of(note.created_at).moment
    return (moment.timestamp() if moment is not None else 0.0, note.id)


def _in_order(notes: list[Note], sort: str) -> bool:
    keys = [_note_order(note) for note in notes]
    wanted = sorted(keys, reverse=sort == "desc")
    return keys == wanted


def _id(project: str) -> str:
    """A project or group path URL-encoded as GitLab wants (`group%2Fproject`); an ID as is."""
    return quote(str(project), safe="")


_FLAG_PROJECT_FIX = "check --flag-project (or the issue's project): a project's full path or its ID"
# A project feature flag or user list path, as the managers name it: project, collection, item.
_MANAGED = re.compile(r"^/projects/([^/?#]+)/(feature_flags|feature_flags_user_lists)(?:/([^/?#]+))?$")


def _flag_path(project: str, name: str) -> str:
    return f"/projects/{_id(project)}/feature_flags/{quote(name, safe='')}"


def _issue_path(project: str, iid: int) -> str:
    return f"/projects/{_id(project)}/issues/{int(iid)}"


def _mr_path(project: str, iid: int) -> str:
    return f"/projects/{_id(project)}/merge_requests/{int(iid)}"


def _missing(project: str, iid: int) -> str:
    return f"project {project} or its issue #{iid}"


_LABEL_FIELDS = frozenset({"labels", "add_labels", "remove_labels"})


def _jsonable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body: tuples as lists, and label lists as the comma-separated string GitLab documents
    (GitLab also takes an array, but implementations that follow the docs may not)."""
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _LABEL_FIELDS and isinstance(value, list | tuple):
            body[key] = ",".join(str(v) for v in value)
        else:
            body[key] = list(value) if isinstance(value, tuple) else value
    return body
