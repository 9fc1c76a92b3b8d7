"""The HTTP control path (`/-/sandbox/...`), served only when enabled: the Python knobs for other processes.

- `POST /-/sandbox/faults` with JSON, one of:
  `{"kind": "fail", "method": "POST", "path_regex": "/issues$", "status": 503, "count": 1,
  "after_commit": false, "retry_after": null}`;
  `{"kind": "delay", "method": "GET", "path_regex": "...", "seconds": 2, "count": null}`;
  `{"kind": "drop", "method": "*", "path_regex": "...", "count": 1, "after_commit": false}`;
  `{"kind": "edit", "project": "acme/platform/rollouts", "iid": 1, "replace": ["- [ ] a", "- [x] a"]}`
  (or `"description": "new text"`, or `"append": "text"`); `{"kind": "latency", "seconds": 0.05}`.
- `GET /-/sandbox/faults` lists armed faults; `DELETE /-/sandbox/faults` disarms them all.
- `POST /-/sandbox/rate_limit` `{"limit": 100, "period": 60}` (`{"limit": null}` lifts it).
- `GET /-/sandbox/log` is the request log; `DELETE /-/sandbox/log` clears it.
- `GET /-/sandbox/info`: url, project paths, tokens.
- `POST /-/sandbox/clock` `{"advance_seconds": 900}` moves the sandbox clock forward (every timestamp it
  writes and its `Date` header follow it; it never goes back); `GET /-/sandbox/clock` tells its time:
  `{"now": "2026-12-07T00:15:00.000Z", "offset_seconds": 900.0}`.
- `POST /-/sandbox/quirks` `{"pagination": "link_only", ...}` switches on other servers' habits
  (`gl_rollout.sandbox.quirks.Quirks`); `GET /-/sandbox/quirks` shows them.

Every request carries the secret made when the sandbox started (`Sandbox.control_secret`, printed by
`gl-rollout sandbox serve --control`) in the `Sandbox-Secret` header: 401 without it. Bodies are JSON
objects only (415 for any other content type; the query string is not read), so no HTML form on
another site can arm a fault. Path regexes (`path_regex`, the `hidden_notes` quirk) must be literals
with at most `^` and `$` anchors, `.`, classes such as `[0-9]` or `\\d`, and bounded repeats (`?`,
`{n}`, `{m,n}`); `*`, `+`, `{n,}`, groups, alternation and back-references are refused (400), so
that no rule can make matching a request path take exponential time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

from gl_rollout.sandbox.faults import RateLimiter
from gl_rollout.sandbox.http import Ctx
from gl_rollout.sandbox.json_body import parse_json_body
from gl_rollout.sandbox.quirks import knob_names
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, param_error
from gl_rollout.sandbox.store import DEMO_TOKENS, PROJECT_PATH, SECOND_PROJECT_PATH

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from gl_rollout.sandbox.faults import Faults, RequestLog
    from gl_rollout.sandbox.quirks import Quirks
    from gl_rollout.sandbox.router import Router

SECRET_HEADER = "Sandbox-Secret"
MAX_PATTERN_LENGTH = 200
MAX_REPEAT = 64
# The most ways a pattern's bounded repeats can split one stretch of path between them.
MAX_REPEAT_PRODUCT = 1024
_BOUND = re.compile(r"\{(\d{1,3})(?:,(\d{1,3}))?\}")
_CLASS_ESCAPES = frozenset("dDwWsS")


def check_secret(request: Request, secret: str | None) -> None:
    """401 unless the request carries this sandbox's control secret."""
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8")):
        raise ApiError(
            401,
            {"message": f"401 Unauthorized: send the {SECRET_HEADER} header that sandbox serve printed"},
        )


def json_params(request: Request) -> dict[str, Any]:
    """The body as a JSON object; nothing else is read (no query string, no form)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}
    content_type = (request.mimetype or "").lower()
    if content_type != "application/json":
        shown = content_type or "none"
        raise ApiError(415, {"error": f"The provided content-type '{shown}' is not supported."})
    raw = request.get_data(cache=True)
    body = parse_json_body(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise param_error("the body must be a JSON object")
    return body


def check_bounded_pattern(name: str, pattern: str) -> None:
    """Refuse (ValueError) a regex that could backtrack badly; see the module's docstring."""
    problem = _pattern_problem(pattern)
    if problem is not None:
        raise ValueError(
            f"{name} {problem}: use a literal path with ^/$ anchors, classes and bounded repeats "
            f"such as \\d{{1,6}} (no *, +, {{n,}}, groups or |)"
        )


def _pattern_problem(pattern: str) -> str | None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    index, size, product, after_atom = 0, len(pattern), 1, False
    while index < size:
        char = pattern[index]
        if (char == "^" and index == 0) or (char == "$" and index == size - 1):
            index, after_atom = index + 1, False
        elif char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if not escaped or (escaped.isalnum() and escaped not in _CLASS_ESCAPES):
                return f"uses the escape \\{escaped}"
            index, after_atom = index + 2, True
        elif char == "[":
            end = _class_end(pattern, index)
            if end is None:
                return "has an unclosed or nested character class"
            index, after_atom = end, True
        elif char in "?{":
            bound = 1
            if char == "{":
                found = _BOUND.match(pattern, index)
                if found is None:
                    return "has an unbounded or malformed repeat"
                low, high = int(found.group(1)), int(found.group(2) or found.group(1))
                if high < low or high > MAX_REPEAT:
                    return f"repeats more than {MAX_REPEAT} times"
                bound, index = high, found.end()
            else:
                index += 1
            if not after_atom or pattern[index : index + 1] in ("?", "+", "{"):
                return "repeats a repeat"
            product *= bound + 1
            if product > MAX_REPEAT_PRODUCT:
                return "has too many repeats"
            after_atom = False
        elif char in "*+()|^$":
            return f"uses {char}"
        else:
            index, after_atom = index + 1, True
    try:
        re.compile(pattern)
    except re.error as error:
        return f"is not a regular expression ({error})"
    return None


def _class_end(pattern: str, start: int) -> int | None:
    """The index after the `]` closing the class that opens at `start`, or None."""
    index = start + 1
    if pattern[index : index + 1] == "^":
        index += 1
    if pattern[index : index + 1] == "]":
        index += 1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            return None
        if char == "]":
            return index + 1
        index += 1
    return None


def _transform(ctx: Ctx) -> Callable[[str], str]:
    if ctx.has("replace"):
        pair = ctx.params["replace"]
        if not (isinstance(pair, list) and len(pair) == 2):
            raise param_error("replace must be [old, new]")
        old, new = str(pair[0]), str(pair[1])
        return lambda text: text.replace(old, new, 1)
    if ctx.has("description"):
        replacement = ctx.string("description") or ""
        return lambda _text: replacement
    if ctx.has("append"):
        extra = ctx.string("append") or ""
        return lambda text: text + extra
    raise param_error("replace, description, append are missing, exactly one parameter must be provided")


class ControlledApp(Protocol):
    """What the control routes change on the running application (`gl_rollout.sandbox.app.SandboxApp`)."""

    faults: Faults
    log: RequestLog
    quirks: Quirks
    limiter: RateLimiter | None


def clock_state(ctx: Ctx) -> dict[str, Any]:
    from gl_rollout.sandbox.entities import iso_time

    now = ctx.store.clock_ms()
    return {"now": iso_time(now), "offset_seconds": ctx.store.clock_offset_ms / 1000}


def register(router: Router, app: ControlledApp) -> None:
    def add_fault(ctx: Ctx) -> Reply:
        kind = ctx.choice("kind", ("fail", "delay", "drop", "edit", "latency"))
        method = ctx.string("method", "*") or "*"
        path_regex = ctx.string("path_regex", "") or ""
        try:
            if kind in ("fail", "delay", "drop"):
                check_bounded_pattern("path_regex", path_regex)
            if kind == "fail":
                app.faults.fail_next(
                    method,
                    path_regex,
                    ctx.integer("status", 500) or 500,
                    count=ctx.integer("count", 1) or 1,
                    after_commit=bool(ctx.boolean("after_commit", False)),
                    retry_after=ctx.integer("retry_after"),
                )
            elif kind == "delay":
                app.faults.delay(
                    method, path_regex, float(ctx.string("seconds", "1") or 1), count=ctx.integer("count")
                )
            elif kind == "drop":
                app.faults.drop_next(
                    method,
                    path_regex,
                    count=ctx.integer("count", 1) or 1,
                    after_commit=bool(ctx.boolean("after_commit", False)),
                )
            elif kind == "edit":
                app.faults.edit_between_read_and_write(
                    ctx.string("project", PROJECT_PATH) or PROJECT_PATH,
                    ctx.integer("iid", 1) or 1,
                    _transform(ctx),
                )
            elif kind == "latency":
                app.faults.latency = float(ctx.string("seconds", "0") or 0)
            else:
                raise param_error("kind is missing")
        except ValueError as error:
            raise param_error(str(error)) from None
        return Reply(201, {"armed": app.faults.armed()})

    def list_faults(ctx: Ctx) -> Reply:
        return Reply(200, {"armed": app.faults.armed(), "latency": app.faults.latency})

    def clear_faults(ctx: Ctx) -> Reply:
        app.faults.clear()
        return Reply(204)

    def set_rate_limit(ctx: Ctx) -> Reply:
        limit = ctx.integer("limit")
        period = float(ctx.string("period", "60") or 60)
        app.limiter = None if limit is None else RateLimiter(limit, period)
        return Reply(200, {"limit": limit, "period": period})

    def get_log(ctx: Ctx) -> Reply:
        return Reply(200, [asdict(entry) for entry in app.log.snapshot()])

    def clear_log(ctx: Ctx) -> Reply:
        app.log.clear()
        return Reply(204)

    def info(ctx: Ctx) -> Reply:
        return Reply(
            200,
            {
                "url": ctx.base_url,
                "project_path": PROJECT_PATH,
                "second_project_path": SECOND_PROJECT_PATH,
                "tokens": DEMO_TOKENS,
            },
        )

    router.add("POST", "/faults", add_fault)
    router.add("GET", "/faults", list_faults)
    router.add("DELETE", "/faults", clear_faults)
    router.add("POST", "/rate_limit", set_rate_limit)
    router.add("GET", "/log", get_log)
    router.add("DELETE", "/log", clear_log)
    router.add("GET", "/info", info)

    def get_clock(ctx: Ctx) -> Reply:
        return Reply(200, clock_state(ctx))

    def advance_clock(ctx: Ctx) -> Reply:
        raw = ctx.params.get("advance_seconds")
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise param_error("advance_seconds is missing or not a number of seconds")
        try:
            ctx.store.advance_clock(float(raw))
        except (ValueError, OverflowError) as error:
            raise param_error(str(error)) from None
        return Reply(200, clock_state(ctx))

    router.add("GET", "/clock", get_clock)
    router.add("POST", "/clock", advance_clock)

    def set_quirks(ctx: Ctx) -> Reply:
        try:
            hidden = ctx.params.get("hidden_notes")
            if isinstance(hidden, str):
                check_bounded_pattern("hidden_notes", hidden)
            app.quirks.update(ctx.params)
        except (TypeError, ValueError) as error:
            raise param_error(str(error)) from None
        return get_quirks(ctx)

    def get_quirks(ctx: Ctx) -> Reply:
        return Reply(200, {name: getattr(app.quirks, name) for name in knob_names(app.quirks)})

    router.add("POST", "/quirks", set_quirks)
    router.add("GET", "/quirks", get_quirks)
