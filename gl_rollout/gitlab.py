"""The python-gitlab adapter behind `gl_rollout.api.GitLabAPI`: the only importer of python-gitlab/requests.

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

Nothing here relies on what only one GitLab does (tests/test_gitlab_variants.py runs the CLI against
the sandbox's `quirks`): lists end when the server says so, by `Link`, `X-Next-Page` or
`X-Total-Pages`, whichever it sends, and never loop; notes are ordered here, whatever order the server
kept; redirects are followed by this module, on this GitLab's own address only, so the token never
travels to another host; timestamps, labels, references and gates are read in every form seen.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit, urlunsplit

from gl_rollout import __version__
from gl_rollout.api import Feature, Issue, IssueQuery, Note, User
from gl_rollout.errors import GitLabError, redact
from gl_rollout.gitlab_json import (
    feature_from_json,
    feature_value,
    flatten_message,
    is_generic_message,
    issue_from_json,
    note_from_json,
    parse_time,
)
from gl_rollout.retry import TRANSIENT_STATUSES, RateLimiter, RetryPolicy, server_wait

if TYPE_CHECKING:
    import gitlab
    import requests

    from gl_rollout.config import Connection

log = logging.getLogger("gl_rollout.gitlab")

WRITE_HINT = "set GITLAB_TOKEN to a personal/project access token with the api scope"
READ_HINT = "set GITLAB_TOKEN to a personal/project access token (read_api scope to read, api to write)"
PROJECT_FIX = "check --project: a project's full path (group/project) or its ID"
JOB_TOKEN_HINT = "set GITLAB_TOKEN to a project access token with the api scope"
ADMIN_HINT = "the Features API needs an administrator's personal access token with the api scope"
MAX_PER_PAGE = 100  # GitLab's largest page
MAX_PAGES = 10_000  # a listing longer than this is a server that never says "last page"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
NOTES_BURST = 10  # a command posts one or two comments: let them go without pacing
DEFAULT_RATE_LIMIT_WAIT = 60  # GitLab's throttles ask for 60 s when they send no Retry-After
# A host that refuses the connection (nothing listens, or it is unreachable) rarely heals in seconds:
# one quick try again covers a server that is restarting, without seconds of backoff for a wrong URL.
REFUSED_RETRIES = 1


def connect(
    conn: Connection,
    timeout: float,
    *,
    retry: RetryPolicy | None = None,
    requests_per_minute: float | RateLimiter | None = 2000.0,
    notes_per_minute: float | RateLimiter | None = 60.0,
) -> PythonGitLab:
    """A `GitLabAPI` for `conn`: TLS verified (against `conn.ca_bundle` when set), `timeout` on every request.

    `requests_per_minute`/`notes_per_minute` pace this client, shared by all threads using it: a number
    (notes may burst 10 at once, requests per_minute/20), a ready `RateLimiter`, or None for no limit.
    `retry` defaults to `RetryPolicy()` (5 attempts, 0.5 s base, 8 s cap, 60 s in all).
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
    )


def _no_redirect_session() -> requests.Session:
    """A requests session that never follows a redirect on its own.

    requests would carry `PRIVATE-TOKEN`/`JOB-TOKEN` (custom headers) to whatever host a redirect names,
    and turn a redirected POST into a GET; `PythonGitLab._send` follows redirects itself, on this
    GitLab's own address only.
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


@dataclass(frozen=True)
class _Call:
    """One API request and what to say about it if it fails."""

    method: str  # get | post | put | delete
    path: str  # relative to /api/v4, or a full URL from a Link header
    what: str  # "read issue g/p#42": completes "GitLab refused to ..."
    missing: str  # what a 404 means: "project g/p or its issue #42"
    # how to fix the 404: the options the command took that name what was not found
    fix: str = "check --project and the issue number"
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    replayable: bool = True  # sending it twice does no harm
    write: bool = False
    admin: bool = False  # Features API: admin token needed
    note: bool = False  # counts against the notes-per-minute limit
    job_ok: bool = False  # GitLab accepts CI_JOB_TOKEN here (single issue GET, project issue list)
    project: str | None = None  # the project the request names, for references GitLab leaves out


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
    ) -> None:
        self.url = conn.url
        self._gl = gl
        self._conn = conn
        self._timeout = timeout
        self._retry = retry
        self._limiter = limiter
        self._notes_limiter = notes_limiter
        self._secrets = (conn.token,) if conn.token else ()
        self._count = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()
        self._moved: dict[str, str] = {}  # encoded project path -> where GitLab redirected it
        gl.session.hooks["response"].append(self._remember_response)

    # --- Protocol ------------------------------------------------------------------------------

    def current_user(self) -> User:
        data = self._json_object(
            _Call("get", "/user", "read the current user", "the current user", fix="check --url / GITLAB_URL")
        )
        return User(
            id=int(data["id"]),
            username=str(data.get("username") or ""),
            name=str(data.get("name") or ""),
            is_admin=bool(data.get("is_admin", False)),
        )

    def get_issue(self, project: str, iid: int) -> Issue:
        call = _Call(
            "get",
            _issue_path(project, iid),
            f"read issue {project}#{iid}",
            _missing(project, iid),
            job_ok=True,
            project=project,
        )
        return self._issue(self._json_object(call), call)

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
        call = _Call(
            "get",
            path,
            f"list the issues of {scope}",
            scope,
            fix=fix,
            query=params,
            job_ok=query.project is not None,
            project=query.project,
        )
        for page in self._pages(call, query.per_page, None):
            for item in page:
                yield self._issue(item, call)

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        call = _Call(
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
        return self._issue(self._json_object(call), call)

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        call = _Call(
            "put",
            _issue_path(project, iid),
            f"update issue {project}#{iid}",
            _missing(project, iid),
            body=_jsonable(fields),
            write=True,
            project=project,
        )
        return self._issue(self._json_object(call), call)

    def list_notes(
        self, project: str, iid: int, *, sort: str = "asc", per_page: int = 100, max_pages: int | None = None
    ) -> list[Note]:
        call = _Call(
            "get",
            _issue_path(project, iid) + "/notes",
            f"read the comments of {project}#{iid}",
            _missing(project, iid),
            query={"order_by": "created_at", "sort": sort},
        )
        notes: list[Note] = []
        for index, page in enumerate(self._pages(call, per_page, None)):
            notes.extend(self._note(item, call) for item in page)
            # A server that ignores `sort` gives the oldest notes first: then the newest are further on.
            if max_pages is not None and index + 1 >= max_pages and _in_order(notes, sort):
                break
        return sorted(notes, key=_note_order, reverse=sort == "desc")

    def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
        payload: dict[str, Any] = {"body": body}
        if internal:
            payload["internal"] = True
        call = _Call(
            "post",
            _issue_path(project, iid) + "/notes",
            f"post a comment on {project}#{iid}",
            _missing(project, iid),
            body=payload,
            replayable=False,
            write=True,
            note=True,
        )
        response = self._send(call)
        if response.status_code == 202:  # the body held only quick actions: nothing was stored
            return None
        return self._note(self._decode(response, call), call)

    def find_user_ids(self, usernames: list[str]) -> dict[str, int]:
        """One request per username (GitLab has no exact multi-username lookup)."""
        found: dict[str, int] = {}
        for username in usernames:
            call = _Call(
                "get",
                "/users",
                f"look up user {username}",
                f"user {username}",
                fix="check --url / GITLAB_URL",
                query={"username": username},
            )
            for item in self._json_list(call):
                if str(item.get("username", "")).lower() == username.lower():
                    found[username] = int(item["id"])
        return found

    def find_milestone_id(self, project: str, title: str) -> int | None:
        call = _Call(
            "get",
            f"/projects/{_id(project)}/milestones",
            f"look up milestone {title!r} of {project}",
            f"project {project}",
            fix=PROJECT_FIX,
            query={"title": title, "include_ancestors": "true"},
        )
        for item in self._json_list(call):
            if item.get("title") == title:
                return int(item["id"])
        return None

    def list_features(self) -> list[Feature]:
        """One request per 100 flags (GitLab may or may not paginate this list)."""
        call = _Call("get", "/features", "list the feature flags", "the Features API", admin=True)
        return [feature_from_json(item) for page in self._pages(call, 100, None) for item in page]

    def set_feature(self, name: str, params: Mapping[str, Any]) -> Feature:
        body = dict(params)
        if "value" in body:
            body["value"] = feature_value(body["value"])
        for key, value in list(body.items()):
            if isinstance(value, bool):
                body[key] = "true" if value else "false"
            elif isinstance(value, list | tuple):
                body[key] = ",".join(str(v) for v in value)
        call = _Call(
            "post",
            f"/features/{quote(name, safe='')}",
            f"set feature flag {name}",
            "the Features API",
            body=body,
            write=True,
            admin=True,
        )
        return feature_from_json(self._json_object(call))

    def delete_feature(self, name: str) -> None:
        call = _Call(
            "delete",
            f"/features/{quote(name, safe='')}",
            f"delete feature flag {name}",
            "the Features API",
            write=True,
            admin=True,
        )
        self._send(call)

    def request_count(self) -> int:
        with self._count_lock:
            return self._count

    # --- sending -------------------------------------------------------------------------------

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # python-gitlab's exceptions drop the headers (Retry-After, Location) and the URL asked.
        self._local.headers = response.headers
        self._local.url = response.url

    def _send(self, call: _Call) -> requests.Response:
        """Send `call`, retrying what the module docstring allows; return the 2xx response.

        Redirects are followed here, never by requests: only on this GitLab's own address (or its
        https upgrade) and inside its API, at most `MAX_REDIRECTS` times; a project path that
        redirects is remembered, so the next request goes to the new path at once.
        """
        import gitlab.exceptions
        import requests.exceptions

        attempt = 0
        waited = 0.0
        hops = 0
        while True:
            call = self._moved_call(call)
            if self._limiter is not None:
                self._limiter.acquire()
            if call.note and self._notes_limiter is not None:
                self._notes_limiter.acquire()
            with self._count_lock:
                self._count += 1
            self._local.headers = {}
            self._local.url = None
            try:
                return self._gl.http_request(
                    call.method,
                    call.path,
                    query_data=dict(call.query) if call.query else None,
                    post_data=dict(call.body) if call.body is not None else None,
                    timeout=self._timeout,
                    obey_rate_limit=False,
                    retry_transient_errors=False,
                    max_retries=0,
                )
            except gitlab.exceptions.RedirectError:
                raise self._error(
                    f"GitLab redirected the request to {call.what}",
                    "the project may have moved or been renamed: use its new path",
                    call=call,
                ) from None
            except gitlab.exceptions.GitlabError as exc:
                status = exc.response_code or 0
                headers: Mapping[str, str] = getattr(self._local, "headers", None) or {}
                if status in REDIRECT_STATUSES:
                    hops += 1
                    call = self._redirected(call, status, headers, getattr(self._local, "url", None), hops)
                    continue
                message = flatten_message(exc.error_message)
                hinted = server_wait(headers, self._retry.clock()) if status in {429, 503} else None
                if status == 429 or (
                    call.replayable
                    and (
                        status in TRANSIENT_STATUSES or (status == 409 and "resource lock" in message.lower())
                    )
                ):
                    wait = self._next_wait(attempt, hinted, waited)
                    if wait is not None:
                        log.debug(
                            "%s %s: %s, retrying in %.2f s", call.method.upper(), call.path, status, wait
                        )
                        self._retry.sleep(wait)
                        waited += wait
                        attempt += 1
                        continue
                raise self._http_error(call, status, message, hinted, attempt + 1) from None
            except requests.exceptions.RequestException as exc:
                kind = _classify(exc)
                if kind in {"tls", "dns", "other"}:
                    raise self._transport_error(call, kind, exc) from None
                if kind == "refused" and attempt >= REFUSED_RETRIES:
                    raise self._transport_error(call, kind, exc) from None
                if kind in {"refused", "connect-timeout"} or call.replayable:
                    wait = self._next_wait(attempt, None, waited)
                    if wait is not None:
                        log.debug("%s %s: %s, retrying in %.2f s", call.method.upper(), call.path, kind, wait)
                        self._retry.sleep(wait)
                        waited += wait
                        attempt += 1
                        continue
                raise self._transport_error(call, kind, exc) from None

    def _redirected(
        self, call: _Call, status: int, headers: Mapping[str, str], asked: str | None, hops: int
    ) -> _Call:
        """The request to send after a redirect, or the GitLabError that says why it is not followed.

        A redirect answer means the request was not carried out, so following it (method and body
        kept, as 307/308 say) sends nothing twice; a write is followed too.
        """
        location = (headers.get("Location") or headers.get("location") or "").strip()
        base = asked or self._gl.api_url
        target = urljoin(base, location) if location else ""
        origin = _display_origin(target) if target else ""
        if not target or hops > MAX_REDIRECTS:
            raise self._error(
                f"GitLab answered {status} (a redirect) to {call.what}"
                + (" too many times" if target else " without saying where"),
                f"check --url / GITLAB_URL: it must be GitLab's own address ({self.url} now)",
                call=call,
                status=status,
            )
        if not _same_server(target, self._gl.api_url):
            raise self._error(
                f"GitLab redirected the request to {call.what} to another server, {origin}",
                f"the token goes only to {self.url}: if {origin} is your GitLab, pass --url {origin}",
                call=call,
                status=status,
            )
        api_path = urlsplit(self._gl.api_url).path.rstrip("/")
        parts = urlsplit(target)
        if not parts.path.startswith(api_path + "/"):
            raise self._error(
                f"GitLab redirected the request to {call.what} to {parts.path}, outside its API",
                f"check --url / GITLAB_URL ({self.url}) and that the token is valid",
                call=call,
                status=status,
            )
        relative = parts.path[len(api_path) :]
        self._learn_move(_relative_path(call.path, self._gl.api_url), relative)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(call.query or {})
        log.debug("%s %s: %s, following to %s", call.method.upper(), call.path, status, relative)
        if _origin(target) != _origin(self._gl.api_url):  # the https upgrade of our own address
            return replace(
                call, path=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query=query
            )
        return replace(call, path=relative, query=query or None)

    def _learn_move(self, old_path: str, new_path: str) -> None:
        old = _PROJECT_SEGMENT.match(old_path)
        new = _PROJECT_SEGMENT.match(new_path)
        if old and new and old.group(1) != new.group(1):
            self._moved[old.group(1)] = new.group(1)

    def _moved_call(self, call: _Call) -> _Call:
        """`call` aimed at a project's new path, when an earlier request learned it moved."""
        if not self._moved:
            return call
        relative = _relative_path(call.path, self._gl.api_url)
        found = _PROJECT_SEGMENT.match(relative)
        if found is None or found.group(1) not in self._moved:
            return call
        moved = "/projects/" + self._moved[found.group(1)] + relative[found.end(1) :]
        if moved == call.path:
            return call
        return replace(call, path=moved)

    def _next_wait(self, attempt: int, hinted: float | None, waited: float) -> float | None:
        if attempt + 1 >= self._retry.max_attempts:
            return None
        wait = self._retry.wait_for(attempt, hinted)
        if waited + wait > self._retry.max_total_wait:
            return None
        return wait

    def _pages(self, call: _Call, per_page: int, max_pages: int | None) -> Iterator[list[Mapping[str, Any]]]:
        """One request per page until the server says there is no next page.

        The next page is what `Link: rel="next"` names (on another origin, such as GitLab's
        external_url behind a proxy, only its query is taken, on this GitLab's address), else
        `X-Next-Page`, else the next of `X-Total-Pages`. A server that sends none of GitLab's
        pagination headers is asked for the next page while pages come back full. A page may hold
        fewer items than asked, or none (GitLab drops notes the reader may not see after paging),
        so only the headers end the listing. A page asked twice, or the same items again (a server
        that ignores `page`), ends it too.
        """
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        current = replace(call, query={**(call.query or {}), "per_page": per_page})
        asked = {_request_key(current)}
        previous: tuple[object, ...] | None = None
        pages = 0
        while True:
            response = self._send(current)
            items = self._decode(response, call)
            if not isinstance(items, list):
                raise self._error(f"GitLab's answer to {call.what} is not a list", call=call)
            identity = _page_identity(items)
            if items and identity == previous:
                return
            yield items
            pages += 1
            if max_pages is not None and pages >= max_pages:
                return
            following = self._next_page(current, response, items, per_page, pages)
            if following is None:
                return
            key = _request_key(following)
            if key in asked:
                return
            if pages >= MAX_PAGES:
                raise self._error(
                    f"GitLab's answer to {call.what} did not end after {MAX_PAGES} pages", call=call
                )
            asked.add(key)
            previous = identity if items else previous
            current = following

    def _next_page(
        self, current: _Call, response: requests.Response, items: list[Any], per_page: int, pages: int
    ) -> _Call | None:
        headers = response.headers
        link = response.links.get("next", {}).get("url")
        if link:
            target = urljoin(response.url or self._gl.api_url, link)
            if _same_server(target, self._gl.api_url):
                return replace(current, path=target, query=None)
            # GitLab builds Link from its external_url; a proxy may put it on another address.
            return replace(current, query=dict(parse_qsl(urlsplit(target).query, keep_blank_values=True)))
        next_page = (headers.get("X-Next-Page") or "").strip()
        if next_page:
            return replace(current, query={**(current.query or {}), "page": next_page})
        if "X-Next-Page" in headers:
            return None  # GitLab's own "this is the last page"
        page, total = _int(headers.get("X-Page")), _int(headers.get("X-Total-Pages"))
        if page is not None and total is not None:
            return (
                replace(current, query={**(current.query or {}), "page": page + 1}) if page < total else None
            )
        if headers.get("Link") or page is not None or "X-Total" in headers:
            return None
        # No pagination headers at all: a full page may have a next one.
        if len(items) < per_page:
            return None
        return replace(current, query={**(current.query or {}), "page": pages + 1})

    def _decode(self, response: requests.Response, call: _Call) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._error(
                f"GitLab's answer to {call.what} is not JSON (HTTP {response.status_code})",
                f"check that {self.url} is a GitLab instance (--url, GITLAB_URL)",
                call=call,
                status=response.status_code,
            ) from None

    def _json_object(self, call: _Call) -> Mapping[str, Any]:
        data = self._decode(self._send(call), call)
        if not isinstance(data, dict):
            raise self._error(f"GitLab's answer to {call.what} is not an object", call=call)
        return data

    def _json_list(self, call: _Call) -> list[Mapping[str, Any]]:
        data = self._decode(self._send(call), call)
        if not isinstance(data, list):
            raise self._error(f"GitLab's answer to {call.what} is not a list", call=call)
        return data

    def _issue(self, data: Mapping[str, Any], call: _Call) -> Issue:
        try:
            return issue_from_json(data, base_url=self.url, project=call.project)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(
                f"GitLab's answer to {call.what} lacks an issue field ({exc})", call=call
            ) from None

    def _note(self, data: Any, call: _Call) -> Note:
        try:
            return note_from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._error(
                f"GitLab's answer to {call.what} lacks a comment field ({exc})", call=call
            ) from None

    # --- errors --------------------------------------------------------------------------------

    def _error(
        self,
        message: str,
        hint: str | None = None,
        *,
        call: _Call,
        status: int | None = None,
        ambiguous: bool = False,
    ) -> GitLabError:
        details: dict[str, object] = {"method": call.method.upper(), "what": call.what}
        if ambiguous:
            details["ambiguous"] = True
        return GitLabError(
            redact(" ".join(message.split()), self._secrets),
            redact(hint, self._secrets) if hint else None,
            status=status,
            details=details,
        )

    def _http_error(
        self, call: _Call, status: int, message: str, hinted: float | None, attempts: int
    ) -> GitLabError:
        job = self._conn.token_kind == "job"
        said = f": {message}" if message and not is_generic_message(message, status) else ""
        if job and status in {401, 403, 404} and not call.job_ok:
            # GitLab ignores a job token where it is not allowed, so the request looks anonymous.
            if call.write:
                return self._error(
                    "CI_JOB_TOKEN can read issues but not write them",
                    JOB_TOKEN_HINT,
                    call=call,
                    status=status,
                )
            return self._error(
                f"CI_JOB_TOKEN may not {call.what} ({status})", JOB_TOKEN_HINT, call=call, status=status
            )
        if status == 401:
            if job and call.write:
                return self._error(
                    "CI_JOB_TOKEN can read issues but not write them", JOB_TOKEN_HINT, call=call, status=401
                )
            if not self._conn.token:
                return self._error(
                    f"GitLab wants a token to {call.what} (401), and no token was sent",
                    WRITE_HINT if call.write else READ_HINT,
                    call=call,
                    status=401,
                )
            if call.admin:
                return self._error(
                    f"GitLab rejected the token (401) trying to {call.what}",
                    ADMIN_HINT,
                    call=call,
                    status=401,
                )
            return self._error(
                "GitLab rejected the token (401)",
                f"{WRITE_HINT} (the one from {self._conn.source} is wrong, expired or revoked)",
                call=call,
                status=401,
            )
        if status == 403:
            if job:
                if call.write:
                    return self._error(
                        "CI_JOB_TOKEN can read issues but not write them",
                        JOB_TOKEN_HINT,
                        call=call,
                        status=403,
                    )
                return self._error(
                    f"CI_JOB_TOKEN may not {call.what} (403)", JOB_TOKEN_HINT, call=call, status=403
                )
            if call.admin:
                return self._error(
                    f"GitLab refused to {call.what} (403){said}", ADMIN_HINT, call=call, status=403
                )
            hint = (
                "the token needs the api scope (read_api cannot write) and the Developer role on the project"
                if call.write
                else "check the token's scopes (read_api or api) and its access to the project"
            )
            return self._error(f"GitLab refused to {call.what} (403){said}", hint, call=call, status=403)
        if status == 404:
            if call.admin:
                return self._error(
                    f"the Features API was not found on {self.url} (404)",
                    "it exists on self-managed GitLab only, and needs an administrator's token",
                    call=call,
                    status=404,
                )
            if not self._conn.token:
                # Anonymous requests see public projects only: a private one answers 404, not 401.
                return self._error(
                    f"{call.missing} not found (404); no token was sent, and GitLab answers 404 to "
                    "anonymous requests for private projects",
                    READ_HINT,
                    call=call,
                    status=404,
                )
            hint = f"{call.fix}; GitLab answers 404 for what the token may not see"
            if job:
                hint = (
                    "a CI_JOB_TOKEN reaches its own project and those whose job token allowlist names it; "
                    "or set GITLAB_TOKEN to a token with access to the project"
                )
            return self._error(
                f"{call.missing} not found, or you lack access (404)", hint, call=call, status=404
            )
        if status == 429:
            after = math.ceil(hinted) if hinted is not None else DEFAULT_RATE_LIMIT_WAIT
            return self._error(
                f"rate limited by GitLab; retry after {after} s",
                "lower --max-requests-per-minute, or run again later",
                call=call,
                status=429,
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            if not call.replayable:
                return self._error(
                    f"GitLab answered {status} when asked to {call.what}; it may or may not have been done",
                    "rerun the command: it checks what landed before writing again",
                    call=call,
                    status=status,
                    ambiguous=True,
                )
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            return self._error(
                f"GitLab failed to {call.what} ({status}{tries}){said}",
                "GitLab is having trouble: try again later",
                call=call,
                status=status,
            )
        return self._error(
            f"GitLab refused to {call.what} ({status}){said or ': ' + (message or 'no reason given')}",
            "fix the value GitLab names above" if status in {400, 422} else None,
            call=call,
            status=status,
        )

    def _transport_error(self, call: _Call, kind: str, exc: BaseException) -> GitLabError:
        host = self._conn.host
        if kind == "tls":
            text = str(exc)
            if "certificate verify failed" in text.lower() or "certificate_verify_failed" in text.lower():
                hint = (
                    f"check that {self._conn.ca_bundle} holds the CA that signed it"
                    if self._conn.ca_bundle
                    else "pass --ca-bundle FILE for a private CA"
                )
                return self._error(f"TLS certificate of {host} not trusted", hint, call=call)
            return self._error(
                f"TLS handshake with {host} failed",
                "check the URL's scheme (https or http) and port",
                call=call,
            )
        if kind in {"dns", "refused", "connect-timeout"}:
            source = self._conn.url_source
            if source.startswith("--") and source != "--url":  # --target-url, --features-url
                hint = f"check {source}"
            elif source in {"--url", "GITLAB_URL", "default"}:
                hint = "check --url / GITLAB_URL"
            else:
                hint = f"check --url / GITLAB_URL (this URL came from {source})"
            reason = {"dns": "", "refused": ": connection refused", "connect-timeout": ": no answer"}[kind]
            return self._error(f"cannot reach {self.url}{reason}", hint, call=call)
        if not call.replayable and kind in {"timeout", "dropped"}:
            reason = (
                f"no answer within {self._timeout:g} s" if kind == "timeout" else "the connection dropped"
            )
            error = self._error(
                f"{reason} while trying to {call.what}; it may or may not have been applied",
                "rerun the command: it checks what landed before writing again",
                call=call,
                ambiguous=True,
            )
            error.details["kind"] = kind  # posting.look_waits: a timeout may still commit, a drop did
            return error
        if kind == "timeout":
            return self._error(
                f"GitLab did not answer within {self._timeout:g} s to {call.what}",
                "raise --timeout, or try again later",
                call=call,
            )
        if kind == "dropped":
            return self._error(
                f"the connection to {host} dropped while trying to {call.what}", "try again later", call=call
            )
        return self._error(
            f"cannot send the request to {call.what}: {type(exc).__name__}",
            "check --url / GITLAB_URL",
            call=call,
        )


# --- helpers ---------------------------------------------------------------------------------


def _classify(exc: BaseException) -> str:
    """What a requests exception proves: tls, dns, refused or connect-timeout (never sent), timeout,
    dropped, other."""
    import requests.exceptions
    import urllib3.exceptions

    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-timeout"  # the connection was never opened: nothing was sent
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: object = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        name_error = getattr(urllib3.exceptions, "NameResolutionError", None)
        if name_error is not None and isinstance(reason, name_error):
            return "dns"
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            text = str(reason).lower()
            if any(
                sign in text for sign in ("name or service not known", "nodename nor servname", "getaddrinfo")
            ):
                return "dns"
            return "refused"
        return "dropped"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "dropped"
    return "other"


_PROJECT_SEGMENT = re.compile(r"^/projects/([^/?#]+)")


def _port(parts: Any) -> int:
    port = parts.port
    return int(port) if port is not None else (443 if parts.scheme == "https" else 80)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{_port(parts)}"


def _display_origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, without any user name, path or query."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def _same_server(target: str, base: str) -> bool:
    """`target` is on `base`'s address, or is its https upgrade (same host, default ports)."""
    t, b = urlsplit(target), urlsplit(base)
    if (t.hostname or "").lower() != (b.hostname or "").lower():
        return False
    if t.scheme == b.scheme:
        return _port(t) == _port(b)
    return (b.scheme, t.scheme) == ("http", "https") and _port(b) == 80 and _port(t) == 443


def _relative_path(path: str, api_url: str) -> str:
    """A request path relative to the API root, whether given relative or as a full URL."""
    if not path.startswith(("http://", "https://")):
        return path
    api_path = urlsplit(api_url).path.rstrip("/")
    full = urlsplit(path).path
    return full[len(api_path) :] if full.startswith(api_path + "/") else full


def _request_key(call: _Call) -> str:
    query = sorted((str(k), str(v)) for k, v in (call.query or {}).items())
    return f"{call.method} {call.path} {query}"


def _page_identity(items: list[Any]) -> tuple[object, ...]:
    """What a page holds: its items' IDs (or the items themselves), to notice a page served twice."""
    if all(isinstance(item, Mapping) and "id" in item for item in items):
        return tuple(item["id"] for item in items)
    return tuple(json.dumps(item, sort_keys=True, default=str) for item in items)


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def _note_order(note: Note) -> tuple[float, int]:
    """Notes by creation instant (whatever the timestamp's format), then by ID for equal instants."""
    moment = parse_time(note.created_at)
    return (moment.timestamp() if moment is not None else 0.0, note.id)


def _in_order(notes: list[Note], sort: str) -> bool:
    keys = [_note_order(note) for note in notes]
    wanted = sorted(keys, reverse=sort == "desc")
    return keys == wanted


def _id(project: str) -> str:
    """A project or group path URL-encoded as GitLab wants (`group%2Fproject`); an ID as is."""
    return quote(str(project), safe="")


def _issue_path(project: str, iid: int) -> str:
    return f"/projects/{_id(project)}/issues/{int(iid)}"


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
