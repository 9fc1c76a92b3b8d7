"""JSON request bodies read as GitLab reads them, so that no body can crash or stall the sandbox.

GitLab checks a JSON body's shape before parsing it (`Gitlab::Middleware::JsonValidation`): nesting
deeper than 32, more than 50,000 items in one array or keys in one object, or 100,000 keys and values
in all are refused with 400 `{"error": "<what>"}`. A body that is not JSON at all reaches Grape, whose
parser answers 400 with its "message body does not match declared format" text. Here the shape is
checked by a flat scan (no recursion, stopping at the first limit), and only then does `json.loads`
run, so a 100,000-deep body is a 400, never a RecursionError. Strings holding a lone UTF-16 surrogate
(`"\\ud800"`) and the non-JSON constants `NaN`/`Infinity` are refused as invalid JSON: they could
not be stored or answered as UTF-8 JSON.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from gl_rollout.sandbox.service import ApiError

MAX_DEPTH = 32
MAX_ARRAY_SIZE = 50_000
MAX_HASH_SIZE = 50_000
MAX_TOTAL_ELEMENTS = 100_000

# Grape's composed message for Grape::Exceptions::InvalidMessageBody, as GitLab answers it.
INVALID_JSON = (
    "\nProblem:\n  message body does not match declared format\nResolution:\n"
    "  when specifying application/json as content-type, you must pass valid application/json "
    "in the request's 'body' "
)

# Every escape pair becomes two inert characters of the same width, so that in the copy a string
# is simply `"` ... `"` and positions still match the original.
_ESCAPE = re.compile(r"\\.", re.S)
_TOKEN = re.compile(r'"[^"]*"|[\[\]{},:]|[^\s\[\]{},:"]+|"')
_SURROGATE = re.compile("[\ud800-\udfff]")


class _LimitExceeded(Exception):
    """One of GitLab's JSON shape limits; the message is GitLab's user-facing text."""


def invalid_json() -> ApiError:
    return ApiError(400, {"error": INVALID_JSON})


def parse_json_body(raw: bytes) -> Any:
    """The decoded body, or ApiError 400 with GitLab's answer for a malformed or oversized shape."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_json() from None
    try:
        check_shape(text)
    except _LimitExceeded as exceeded:
        raise ApiError(400, {"error": str(exceeded)}) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # RecursionError cannot happen after check_shape; kept as a net
        raise invalid_json() from None
    if _has_lone_surrogate(value):
        raise invalid_json()
    return value


def check_shape(text: str) -> None:
    """Raise _LimitExceeded at the first limit GitLab's validator would hit; malformed text passes."""
    flat = _ESCAPE.sub("__", text)
    # One frame per open container: [is_object, items so far, expecting a key].
    stack: list[list[Any]] = []
    total = 0

    def count_value() -> None:
        nonlocal total
        total += 1
        if total >= MAX_TOTAL_ELEMENTS:
            raise _LimitExceeded("Too many total parameters")
        if not stack:
            return
        frame = stack[-1]
        if frame[1] >= (MAX_HASH_SIZE if frame[0] else MAX_ARRAY_SIZE):
            raise _LimitExceeded("Hash parameter too large" if frame[0] else "Array parameter too large")
        frame[1] += 1

    for match in _TOKEN.finditer(flat):
        token = match.group()
        head = token[0]
        if head in "[{":
            if len(stack) >= MAX_DEPTH:
                raise _LimitExceeded("Parameters nested too deeply")
            if not stack or not stack[-1][2]:
                count_value()
            stack.append([head == "{", 0, head == "{"])
        elif head in "]}":
            if not stack:
                return  # malformed: the parser will say so
            stack.pop()
        elif head == ",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
        elif head == ":":
            continue
        elif head == '"' and len(token) == 1:
            return  # an unterminated string: malformed from here on
        elif stack and stack[-1][0] and stack[-1][2]:
            stack[-1][2] = False  # a key: counted on its own, as GitLab counts keys and values
            total += 1
            if total >= MAX_TOTAL_ELEMENTS:
                raise _LimitExceeded("Too many total parameters")
        else:
            count_value()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether any string in the (already depth-bounded) value holds half of a surrogate pair."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
