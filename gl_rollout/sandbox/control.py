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
- `POST /-/sandbox/quirks` `{"pagination": "link_only", ...}` switches on other servers' habits
  (`gl_rollout.sandbox.quirks.Quirks`); `GET /-/sandbox/quirks` shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from gl_rollout.sandbox.app import Reply
from gl_rollout.sandbox.faults import RateLimiter
from gl_rollout.sandbox.http import Ctx
from gl_rollout.sandbox.quirks import knob_names
from gl_rollout.sandbox.service import param_error
from gl_rollout.sandbox.store import DEMO_TOKENS, PROJECT_PATH, SECOND_PROJECT_PATH

if TYPE_CHECKING:
    from gl_rollout.sandbox.app import Router, SandboxApp


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


def register(router: Router, app: SandboxApp) -> None:
    def add_fault(ctx: Ctx) -> Reply:
        kind = ctx.choice("kind", ("fail", "delay", "drop", "edit", "latency"))
        method = ctx.string("method", "*") or "*"
        path_regex = ctx.string("path_regex", "") or ""
        try:
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

    def set_quirks(ctx: Ctx) -> Reply:
        try:
            app.quirks.update(ctx.params)
        except (TypeError, ValueError) as error:
            raise param_error(str(error)) from None
        return get_quirks(ctx)

    def get_quirks(ctx: Ctx) -> Reply:
        return Reply(200, {name: getattr(app.quirks, name) for name in knob_names(app.quirks)})

    router.add("POST", "/quirks", set_quirks)
    router.add("GET", "/quirks", get_quirks)
