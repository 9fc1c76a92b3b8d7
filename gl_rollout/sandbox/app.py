"""The WSGI application: routing on the raw path, authentication, faults, rate limits, the request log.

Routing uses the path as sent (before percent-decoding), because GitLab identifies a project by its
URL-encoded path in one segment (`/projects/acme%2Fplatform%2Frollouts/issues`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import json
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from gl_rollout.sandbox import routes
from gl_rollout.sandbox.faults import Faults, LoggedRequest, RateLimiter, RequestLog
from gl_rollout.sandbox.guard import (
    MAX_BODY_BYTES,
    Refusal,
    bound_body,
    check_host,
    check_origin,
    own_base_url,
    redact_query,
)
from gl_rollout.sandbox.http import Ctx, parse_params
from gl_rollout.sandbox.quirks import Quirks, html_error_page
from gl_rollout.sandbox.router import Router
from gl_rollout.sandbox.service import ApiError
from gl_rollout.sandbox.store import Store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from gl_rollout.sandbox.web import IssueFigure

API_PREFIX = "/api/v4"
CONTROL_PREFIX = "/-/sandbox"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    response = Response(data, status=status, content_type="application/json" if body is not None else None)
    if body is None:
        response.headers.pop("Content-Type", None)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def fault_response(status: int, retry_after: int | None, quirks: Quirks | None = None) -> Response:
    """What GitLab (or the proxy in front of it) answers with these statuses."""
    quirks = quirks or Quirks()
    headers: dict[str, str] = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 429:
        headers = quirks.rate_limit_headers_for(retry_after, time.time())
        response = rate_limited_response(quirks)
    elif quirks.error_pages == "html":
        response = Response(html_error_page(status), status=status, content_type="text/html")
    elif status == 500:
        response = json_response(500, {"message": "500 Internal Server Error"})
    else:
        title = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}[status]
        page = f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
        page += f"<body><h1>{title}</h1></body></html>\n"
        response = Response(page, status=status, content_type="text/html")
    for key, value in headers.items():
        response.headers[key] = value
    return response


def rate_limited_response(quirks: Quirks) -> Response:
    """A 429's body: Rack::Attack's plain text (global throttles) or the API's JSON (app-level limits)."""
    if quirks.rate_limit_body == "json":
        error = "This endpoint has been requested too many times. Try again later."
        return json_response(429, {"message": {"error": error}})
    return Response("Retry later\n", status=429, content_type="text/plain")


def finish(response: Response) -> Response:
    """What every answer carries, errors included: GitLab's status line (`404 Not Found`, where werkzeug
    would say `404 NOT FOUND`) and a request ID (`X-Request-Id`, as GitLab's Workhorse sets on every
    response). The server names itself `nginx` (`server.QuietHandler`)."""
    code = response.status_code
    with contextlib.suppress(ValueError):  # a status Python has no phrase for keeps werkzeug's
        response.status = f"{code} {http.HTTPStatus(code).phrase}"
    if "X-Request-Id" not in response.headers:
        response.headers["X-Request-Id"] = uuid.uuid4().hex[:26].upper()
    return response


class ConnectionDropped(ConnectionAbortedError):
    """Raised to make the server close the socket without writing a response."""


class SandboxRequest(Request):
    """A request whose body `guard.bound_body` already bounded: form fields may use all of it."""

    max_content_length = MAX_BODY_BYTES
    max_form_memory_size = MAX_BODY_BYTES


class SandboxApp:
    """The WSGI callable. Holds no state of its own beyond references to the store and the knobs."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        log: RequestLog,
        *,
        base_url: str | None = None,
        control: bool = False,
        quirks: Quirks | None = None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.quirks = quirks if quirks is not None else Quirks()
        if store.quirks is None:
            store.quirks = self.quirks
        self.log = log
        self.base_url = base_url.rstrip("/") if base_url else None
        self.control = control
        # The control path's own secret: the demo tokens are public, this one is printed only at start.
        self.control_secret: str | None = secrets.token_urlsafe(24) if control else None
        self.limiter: RateLimiter | None = None
        # What the web page of an issue draws under its description (`gl_rollout.sandbox.web.IssueFigure`).
        self.issue_figure: IssueFigure | None = None
        self.router = Router()
        routes.register(self.router)
        self.control_router = Router()
        if control:
            from gl_rollout.sandbox import control as control_module

            control_module.register(self.control_router, self)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
        raw_path = raw_path.split("?", 1)[0]
        query = environ.get("QUERY_STRING", "")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        logged = raw_path.startswith(CONTROL_PREFIX)  # the control path stays out of the log

        def log(status: int) -> None:
            # Logged before any byte reaches the client, so a client that has its answer sees the entry.
            elapsed = time.perf_counter() - started
            self.log.add(LoggedRequest(method, raw_path, redact_query(query), status, elapsed))

        try:
            try:
                check_host(environ, self.base_url)
                check_origin(environ, self.base_url)
                bound_body(environ)
            except Refusal as refusal:
                response = json_response(refusal.status, refusal.body, refusal.headers)
            except OSError:  # the client stopped sending its body (or went away) before the end
                raise ConnectionDropped("the request body never arrived") from None
            else:
                response = self._respond(SandboxRequest(environ), method, raw_path)
        except ConnectionDropped:
            if not logged:
                log(0)
                logged = True
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise
        except BaseException:
            if not logged:
                log(500)
            raise
        if not logged:
            log(response.status_code)
        return finish(response)(environ, start_response)

    def clock_seconds(self) -> float:
        """The sandbox clock, for the `Date` header the server writes (`server.QuietHandler`)."""
        return self.store.clock_ms() / 1000

    def _respond(self, request: Request, method: str, raw_path: str) -> Response:
        if raw_path.startswith(CONTROL_PREFIX) and self.control:
            return self._dispatch(
                request, method, raw_path, raw_path[len(CONTROL_PREFIX) :], self.control_router
            )
        decision = self.faults.decide(method, raw_path)
        if decision.delay:
            time.sleep(decision.delay)
        rate_headers: dict[str, str] = {}
        if self.limiter is not None:
            hit = self.limiter.hit(self._client_key(request))
            rate_headers = hit.headers(self._throttle_name(request))
            if not hit.allowed:
                response = rate_limited_response(self.quirks)
                if self.quirks.rate_limit_headers == "retry_after":
                    for key, value in rate_headers.items():
                        response.headers[key] = value
                    response.headers["RateLimit-ResetTime"] = hit.reset_time()
                for key, value in self.quirks.rate_limit_headers_for(hit.retry_after(), time.time()).items():
                    response.headers[key] = value
                return response
        rule = decision.fail or decision.drop
        if rule is not None and not rule.after_commit:
            if decision.drop is not None:
                raise ConnectionDropped("dropped by an armed fault")
            return fault_response(rule.status, rule.retry_after, self.quirks)
        moved = self.quirks.moved_location(raw_path, request.query_string.decode("latin-1"))
        if moved is not None:
            base = self.base_url or own_base_url(request.environ)
            return Response(b"", status=301, headers={"Location": base + moved})
        if not raw_path.startswith(API_PREFIX + "/") and raw_path != API_PREFIX:
            response = self._web_page(request, method, raw_path)
        else:
            # GitLab tolerates python-gitlab's `/features//name` and `/features/`.
            api_path = re.sub(r"/{2,}", "/", raw_path[len(API_PREFIX) :]).rstrip("/") or "/"
            response = self._dispatch(request, method, raw_path, api_path, self.router)
        if rule is not None:  # after_commit: the work is done, the answer is lost
            if decision.drop is not None:
                raise ConnectionDropped("dropped after commit by an armed fault")
            return fault_response(rule.status, rule.retry_after, self.quirks)
        for key, value in rate_headers.items():
            response.headers[key] = value
        return response

    def _web_page(self, request: Request, method: str, raw_path: str) -> Response:
        """A page of the sandbox's web UI (`gl_rollout.sandbox.web`) for GET and HEAD."""
        if method not in ("GET", "HEAD"):
            return json_response(404, {"error": "404 Not Found"})
        from gl_rollout.sandbox.web import CSP, page

        base_url = self.base_url or own_base_url(request.environ)
        query = request.query_string.decode("latin-1")
        shown = page(self.store, raw_path, query, base_url, self.issue_figure)
        response = Response(shown.html, status=shown.status, content_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if method == "HEAD":
            response.set_data(b"")
        return response

    @staticmethod
    def _throttle_name(request: Request) -> str:
        """The Rack::Attack throttle a request counts against, as `RateLimit-Name` names it."""
        credential = any(request.headers.get(h) for h in ("PRIVATE-TOKEN", "JOB-TOKEN", "Authorization"))
        return f"throttle_{'authenticated' if credential else 'unauthenticated'}_api"

    @staticmethod
    def _client_key(request: Request) -> str:
        """Who a rate limit counts: a digest of the credential (never the token itself), else the address."""
        for header in ("PRIVATE-TOKEN", "JOB-TOKEN", "Authorization"):
            value = request.headers.get(header)
            if value:
                return f"{header}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()}"
        return f"ip:{request.remote_addr}"

    def _dispatch(
        self, request: Request, method: str, raw_path: str, api_path: str, router: Router
    ) -> Response:
        route, args, allowed = router.match(method, api_path)
        if route is None:
            if allowed:
                return json_response(
                    405, {"error": "405 Not Allowed"}, {"Allow": ", ".join(sorted(set(allowed)))}
                )
            return json_response(404, {"error": "404 Not Found"})
        base_url = self.base_url or own_base_url(request.environ)
        try:
            if router is self.control_router:
                from gl_rollout.sandbox.control import check_secret, json_params  # control mode only

                check_secret(request, self.control_secret)
                params = json_params(request)
            else:
                params = parse_params(request)
            ctx = Ctx(
                request=request,
                store=self.store,
                method=method,
                path=api_path,
                raw_path=raw_path,
                query=request.query_string.decode("latin-1"),
                params=params,
                base_url=base_url,
                route_args=args,
                faults=self.faults,
                quirks=self.quirks,
            )
            if router is self.router:
                from gl_rollout.sandbox.auth import authenticate

                authenticate(ctx, route.job_token_allowed and self.quirks.job_token_reads_issues())
            reply = route.handler(ctx)
        except ApiError as error:
            if isinstance(error.body, str):
                response = Response(error.body, status=error.status, content_type="text/plain")
                for key, value in error.headers.items():
                    response.headers[key] = value
                return response
            return json_response(error.status, error.body, error.headers)
        body = self.quirks.reshape(reply.body) if router is self.router else reply.body
        response = json_response(reply.status, body, reply.headers)
        if reply.raw is not None:
            response = Response(reply.raw, status=reply.status, content_type="text/plain; charset=utf-8")
            for key, value in (reply.headers or {}).items():
                response.headers[key] = value
        if method == "HEAD":
            response.set_data(b"")
        response.headers["Cache-Control"] = "max-age=0, private, must-revalidate"
        response.headers["X-Content-Type-Options"] = "nosniff"
        for action in ctx.after_response:
            action()
        return response
