"""Request plumbing shared by the handlers: the request context, parameter coercion, pagination.

Parameters arrive as GitLab's Grape API accepts them: query string, form body or JSON body, merged,
`key[]` for arrays. Coercion errors answer 400 `{"error": "<name> is invalid"}` as Grape does.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from gl_rollout.sandbox.json_body import parse_json_body
from gl_rollout.sandbox.service import ApiError, param_error
from gl_rollout.sandbox.store import Row, Store

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from gl_rollout.sandbox.faults import Faults
    from gl_rollout.sandbox.quirks import Quirks

TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({"0", "off", "f", "false", "n", "no"})
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MAX_COUNTED_ROWS = 10_000


@dataclass
class Ctx:
    """One API request: who asks, what they sent, where the API lives."""

    request: Request
    store: Store
    method: str
    path: str  # normalised API path after /api/v4, e.g. /projects/acme%2Fweb/issues
    raw_path: str
    query: str
    params: dict[str, Any]
    base_url: str
    user: Row | None = None
    token: Row | None = None
    via_job_token: bool = False
    route_args: dict[str, str] = field(default_factory=dict)
    after_response: list[Callable[[], None]] = field(default_factory=list)
    faults: Faults | None = None
    quirks: Quirks | None = None

    # ---- parameter access -------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.params

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, dict)):
            raise param_error(f"{name} is invalid")
        return str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise param_error(f"{name} is invalid")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise param_error(f"{name} is invalid") from None

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.params.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise param_error(f"{name} is invalid")

    def csv_list(self, name: str) -> list[str] | None:
        """An array or a comma-separated string (Grape's CommaSeparatedToArray)."""
        value = self.params.get(name)
        if value is None:
            return None
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    def int_list(self, name: str) -> list[int] | None:
        items = self.csv_list(name)
        if items is None:
            return None
        try:
            return [int(item) for item in items]
        except ValueError:
            raise param_error(f"{name} is invalid") from None

    def choice(self, name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
        value = self.string(name)
        if value is None:
            return default
        if value not in allowed:
            raise param_error(f"{name} does not have a valid value")
        return value


def parse_params(request: Request) -> dict[str, Any]:
    """Merge query string and body into one dict, with `key[]` collected into lists."""
    params: dict[str, Any] = {}

    def take(pairs: Any) -> None:
        for key in pairs:
            values = pairs.getlist(key)
            if key.endswith("[]"):
                params[key[:-2]] = list(values)
            else:
                params[key] = values[-1]

    take(request.args)
    content_type = (request.mimetype or "").lower()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if content_type == "application/json":
            raw = request.get_data(cache=True)
            if raw.strip():
                body = parse_json_body(raw)
                if isinstance(body, dict):
                    params.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            from werkzeug.exceptions import HTTPException

            try:
                take(request.form)
            except HTTPException as refused:  # too many form parts: werkzeug's own bound
                status = refused.code or 400
                raise ApiError(status, {"message": f"{status} {refused.name}"}) from None
    return params


# ---- pagination -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list[Any]
    headers: dict[str, str]


def _page_url(ctx: Ctx, overrides: dict[str, str]) -> str:
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key in ctx.request.args:
        for value in ctx.request.args.getlist(key):
            if key in overrides:
                if key not in seen:
                    pairs.append((key, overrides[key]))
                    seen.add(key)
            else:
                pairs.append((key, value))
    for key, value in overrides.items():
        if key not in seen and key not in ctx.request.args:
            pairs.append((key, value))
    return f"{ctx.base_url}{ctx.raw_path}?{urlencode(pairs, quote_via=quote, safe='[]')}"


def _per_page(ctx: Ctx) -> int:
    per_page = ctx.integer("per_page", DEFAULT_PER_PAGE) or DEFAULT_PER_PAGE
    largest = ctx.quirks.max_per_page if ctx.quirks is not None else MAX_PER_PAGE
    return min(DEFAULT_PER_PAGE, largest) if per_page < 1 else min(per_page, largest)


def offset_page(ctx: Ctx, rows: Sequence[Any]) -> Page:
    """Slice `rows` by `page`/`per_page` and build GitLab's X-* and Link headers."""
    per_page = _per_page(ctx)
    page = ctx.integer("page", 1) or 1
    page = max(page, 1)
    total = len(rows)
    total_pages = max(math.ceil(total / per_page), 1)
    items = list(rows[(page - 1) * per_page : page * per_page])
    next_page = page + 1 if page < total_pages else None
    prev_page = page - 1 if page > 1 else None
    counted = total <= MAX_COUNTED_ROWS
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(next_page) if next_page else "",
        "X-Prev-Page": str(prev_page) if prev_page else "",
    }
    if counted:
        headers["X-Total"] = str(total)
        headers["X-Total-Pages"] = str(total_pages)
    links = []
    if prev_page:
        links.append(f'<{_page_url(ctx, {"page": str(prev_page), "per_page": str(per_page)})}>; rel="prev"')
    if next_page:
        links.append(f'<{_page_url(ctx, {"page": str(next_page), "per_page": str(per_page)})}>; rel="next"')
    links.append(f'<{_page_url(ctx, {"page": "1", "per_page": str(per_page)})}>; rel="first"')
    if counted:
        links.append(f'<{_page_url(ctx, {"page": str(total_pages), "per_page": str(per_page)})}>; rel="last"')
    headers["Link"] = ", ".join(links)
    return Page(items, ctx.quirks.page_headers(headers) if ctx.quirks is not None else headers)


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, RecursionError):
        raise param_error("cursor is invalid") from None
    if not isinstance(value, dict):
        raise param_error("cursor is invalid")
    return value


def keyset_page(ctx: Ctx, rows: Sequence[Row], key: Callable[[Row], Any], order_by: str) -> Page:
    """Keyset pagination: rows after the cursor, and a `Link: rel="next"` that carries the next cursor.

    `rows` must already be sorted by (`key`, id) in the requested direction.
    """
    per_page = _per_page(ctx)
    descending = (ctx.string("sort") or "desc") == "desc"
    cursor_text = ctx.string("cursor")
    start = 0
    if cursor_text:
        position_of = decode_cursor(cursor_text)
        marker = (position_of.get(order_by), position_of.get("id"))
        start = len(rows)
        for index, row in enumerate(rows):
            position = (key(row), row["id"])
            after = position < marker if descending else position > marker
            if after:
                start = index
                break
    items = list(rows[start : start + per_page])
    headers: dict[str, str] = {}
    if start + per_page < len(rows) and items:
        last = items[-1]
        next_cursor = encode_cursor({order_by: key(last), "id": last["id"], "_kd": "n"})
        overrides = {"cursor": next_cursor, "per_page": str(per_page)}
        headers["Link"] = f'<{_page_url(ctx, overrides)}>; rel="next"'
        headers["X-Next-Cursor"] = next_cursor
    return Page(items, ctx.quirks.page_headers(headers) if ctx.quirks is not None else headers)
