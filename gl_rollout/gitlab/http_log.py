"""The HTTP exchange log of `--debug`: one line per request and its answer (method, URL, status, GitLab's
request ID, time), and with `--debug=body` the bodies. Tokens are masked in every form here already; the
CLI masks again with every secret it knows before anything reaches stderr.

Loggers: `gl_rollout.http` (the lines) and `gl_rollout.http.body` (the bodies). Nothing is formatted unless
a handler asked for that level, so the log costs nothing without `--debug`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from gl_rollout.errors import redact

if TYPE_CHECKING:
    import requests

log = logging.getLogger("gl_rollout.http")
body_log = logging.getLogger("gl_rollout.http.body")
BODY_LIMIT = 16_384  # characters of a body shown; GitLab's descriptions may reach a mebibyte


def log_response(response: requests.Response, secrets: Sequence[str]) -> None:
    """`GET https://host/api/v4/... -> 200 OK (38 ms, request id 01HX...)`, and the bodies when asked."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    request = response.request
    elapsed = response.elapsed.total_seconds() * 1000
    request_id = response.headers.get("X-Request-Id") or "none"
    line = (
        f"{request.method} {request.url} -> {response.status_code} {response.reason or ''}".rstrip()
        + f" ({elapsed:.0f} ms, request id {request_id})"
    )
    log.debug("%s", redact(line, tuple(secrets)))
    if body_log.isEnabledFor(logging.DEBUG):
        if request.body:
            body_log.debug("%s", redact("  request body: " + _shown(request.body), tuple(secrets)))
        body_log.debug("%s", redact("  response body: " + _shown(response.content), tuple(secrets)))


def log_failure(
    method: str, url: str, query: Mapping[str, Any] | None, why: str, elapsed: float, secrets: Sequence[str]
) -> None:
    """`GET https://host/api/v4/... -> no answer: timeout (30012 ms)`: a request that got no response."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    target = f"{url}?{urlencode(query, doseq=True)}" if query else url
    line = f"{method.upper()} {target} -> no answer: {why} ({elapsed * 1000:.0f} ms)"
    log.debug("%s", redact(line, tuple(secrets)))


def _shown(body: object) -> str:
    """A body as text, cut at `BODY_LIMIT` characters with a note of what was left out."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
    elif isinstance(body, str):
        text = body
    else:
        text = repr(body)
    if not text:
        return "(empty)"
    if len(text) > BODY_LIMIT:
        return f"{text[:BODY_LIMIT]}... ({len(text) - BODY_LIMIT} more characters)"
    return text
