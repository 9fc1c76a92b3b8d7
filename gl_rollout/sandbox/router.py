"""Routing: a table of (method, path template, handler), and the answer a handler gives (`Reply`).

Templates match the raw path (before percent-decoding); a `:name` is one path segment, decoded when it
is handed to the handler. The route modules (`routes`, `control`) fill a `Router`; `app` serves it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from gl_rollout.sandbox.http import Ctx

Handler = Callable[[Ctx], "Reply"]


@dataclass
class Reply:
    """A handler's answer: status, JSON-able body (None for no body), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    raw: bytes | None = None  # a plain-text body (a repository file's raw content) instead of JSON


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    job_token_allowed: bool = False


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, job_token_allowed: bool = False) -> None:
        """`template` like `/projects/:id/issues/:issue_iid`; a `:name` is one raw path segment."""
        regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, re.compile(f"^{regex}$"), handler, job_token_allowed))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: unquote(v) for k, v in found.groupdict().items()}, []
            allowed.append(route.method)
        return None, {}, allowed
