"""Sending the adapter's requests: pacing, retries, redirects followed by hand, lists walked page by page.

Part of the adapter family of `gl_rollout.gitlab.client`, which alone imports python-gitlab and hands this
module the one function that sends a single request (`SendOnce`). This module imports requests
only inside `Transport.send`, for its exception types.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from gl_rollout.gitlab.calls import Call, SendOnce, StatusError
from gl_rollout.gitlab.decoding import flatten_message
from gl_rollout.gitlab.errors import ErrorTranslator, classify
from gl_rollout.gitlab.http_log import log_failure
from gl_rollout.gitlab.retry import TRANSIENT_STATUSES, RateLimiter, RetryPolicy, server_wait

if TYPE_CHECKING:
    import requests

log = logging.getLogger("gl_rollout.gitlab.client")

MAX_PER_PAGE = 100  # GitLab's largest page
MAX_PAGES = 10_000  # a listing longer than this is a server that never says "last page"
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A host that refuses the connection (nothing listens, or it is unreachable) rarely heals in seconds:
# one quick try again covers a server that is restarting, without seconds of backoff for a wrong URL.
REFUSED_RETRIES = 1


class Transport:
    """Sends `Call`s through `send_once`, paced, retried and redirected. Safe to share between threads."""

    def __init__(
        self,
        send_once: SendOnce,
        *,
        api_url: str,
        errors: ErrorTranslator,
        retry: RetryPolicy,
        limiter: RateLimiter | None,
        notes_limiter: RateLimiter | None,
    ) -> None:
        self.url = errors.url
        self._send_once = send_once
        self._api_url = api_url
        self._errors = errors
        self._retry = retry
        self._limiter = limiter
        self._notes_limiter = notes_limiter
        self._count = 0
        self._count_lock = threading.Lock()
        self._moved: dict[str, str] = {}  # encoded project path -> where GitLab redirected it

    def request_count(self) -> int:
        with self._count_lock:
            return self._count

    def send(self, call: Call) -> requests.Response:
        """Send `call`, retrying what `gl_rollout.gitlab.client`'s docstring allows; return the 2xx response.

        Redirects are followed here, never by requests: only on this GitLab's own address (or its
        https upgrade) and inside its API, at most `MAX_REDIRECTS` times; a project path that
        redirects is remembered, so the next request goes to the new path at once.
        """
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
            started = time.monotonic()
            try:
                return self._send_once(call)
            except StatusError as exc:
                status = exc.status
                headers = exc.headers
                if status in REDIRECT_STATUSES:
                    hops += 1
                    call = self._redirected(call, status, headers, exc.url, hops)
                    continue
                message = flatten_message(exc.message)
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
                raise self._errors.http_error(call, status, message, hinted, attempt + 1) from None
            except requests.exceptions.RequestException as exc:
                kind = classify(exc)
                url = (
                    call.path if call.path.startswith(("http://", "https://")) else self._api_url + call.path
                )
                log_failure(
                    call.method, url, call.query, kind, time.monotonic() - started, self._errors.secrets
                )
                if kind in {"tls", "dns", "other"}:
                    raise self._errors.transport_error(call, kind, exc) from None
                if kind == "refused" and attempt >= REFUSED_RETRIES:
                    raise self._errors.transport_error(call, kind, exc) from None
                if kind in {"refused", "connect-timeout"} or call.replayable:
                    wait = self._next_wait(attempt, None, waited)
                    if wait is not None:
                        log.debug("%s %s: %s, retrying in %.2f s", call.method.upper(), call.path, kind, wait)
                        self._retry.sleep(wait)
                        waited += wait
                        attempt += 1
                        continue
                raise self._errors.transport_error(call, kind, exc) from None

    def _redirected(
        self, call: Call, status: int, headers: Mapping[str, str], asked: str | None, hops: int
    ) -> Call:
        """The request to send after a redirect, or the GitLabError that says why it is not followed.

        A redirect answer means the request was not carried out, so following it (method and body
        kept, as 307/308 say) sends nothing twice; a write is followed too.
        """
        location = (headers.get("Location") or headers.get("location") or "").strip()
        base = asked or self._api_url
        target = urljoin(base, location) if location else ""
        origin = _display_origin(target) if target else ""
        if not target or hops > MAX_REDIRECTS:
            raise self._errors.error(
                f"GitLab answered {status} (a redirect) to {call.what}"
                + (" too many times" if target else " without saying where"),
                f"check --url / GITLAB_URL: it must be GitLab's own address ({self.url} now)",
                call=call,
                status=status,
            )
        if not _same_server(target, self._api_url):
            raise self._errors.error(
                f"GitLab redirected the request to {call.what} to another server, {origin}",
                f"the token goes only to {self.url}: if {origin} is your GitLab, pass --url {origin}",
                call=call,
                status=status,
            )
        api_path = urlsplit(self._api_url).path.rstrip("/")
        parts = urlsplit(target)
        if not parts.path.startswith(api_path + "/"):
            raise self._errors.error(
                f"GitLab redirected the request to {call.what} to {parts.path}, outside its API",
                f"check --url / GITLAB_URL ({self.url}) and that the token is valid",
                call=call,
                status=status,
            )
        relative = parts.path[len(api_path) :]
        self._learn_move(_relative_path(call.path, self._api_url), relative)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(call.query or {})
        log.debug("%s %s: %s, following to %s", call.method.upper(), call.path, status, relative)
        if _origin(target) != _origin(self._api_url):  # the https upgrade of our own address
            return replace(
                call, path=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), query=query
            )
        return replace(call, path=relative, query=query or None)

    def _learn_move(self, old_path: str, new_path: str) -> None:
        old = _PROJECT_SEGMENT.match(old_path)
        new = _PROJECT_SEGMENT.match(new_path)
        if old and new and old.group(1) != new.group(1):
            self._moved[old.group(1)] = new.group(1)

    def _moved_call(self, call: Call) -> Call:
        """`call` aimed at a project's new path, when an earlier request learned it moved."""
        if not self._moved:
            return call
        relative = _relative_path(call.path, self._api_url)
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

    def pages(self, call: Call, per_page: int, max_pages: int | None) -> Iterator[list[Mapping[str, Any]]]:
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
            response = self.send(current)
            items = self.decode(response, call)
            if not isinstance(items, list):
                raise self._errors.error(f"GitLab's answer to {call.what} is not a list", call=call)
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
                raise self._errors.error(
                    f"GitLab's answer to {call.what} did not end after {MAX_PAGES} pages", call=call
                )
            asked.add(key)
            previous = identity if items else previous
            current = following

    def _next_page(
        self, current: Call, response: requests.Response, items: list[Any], per_page: int, pages: int
    ) -> Call | None:
        headers = response.headers
        link = response.links.get("next", {}).get("url")
        if link:
            target = urljoin(response.url or self._api_url, link)
            if _same_server(target, self._api_url):
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

    def decode(self, response: requests.Response, call: Call) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._errors.error(
                f"GitLab's answer to {call.what} is not JSON (HTTP {response.status_code})",
                f"check that {self.url} is a GitLab instance (--url, GITLAB_URL)",
                call=call,
                status=response.status_code,
            ) from None

    def json_object(self, call: Call) -> Mapping[str, Any]:
        data = self.decode(self.send(call), call)
        if not isinstance(data, dict):
            raise self._errors.error(f"GitLab's answer to {call.what} is not an object", call=call)
        return data

    def json_list(self, call: Call) -> list[Mapping[str, Any]]:
        data = self.decode(self.send(call), call)
        if not isinstance(data, list):
            raise self._errors.error(f"GitLab's answer to {call.what} is not a list", call=call)
        return data


# --- helpers ---------------------------------------------------------------------------------


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


def _request_key(call: Call) -> str:
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
