"""GitLab's JSON as gl-rollout's frozen types, and its error messages as one line of text.

Pure functions with no HTTP in them, used by the adapter in `gl_rollout.gitlab`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gl_rollout.api import Feature, Gate, Issue, Note


def flatten_message(message: object) -> str:
    """GitLab's error `message`/`error` as one line: a string, a dict of field errors, or a list."""
    if message is None:
        return ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    if isinstance(message, str):
        text = " ".join(_html_title(message).split())
    elif isinstance(message, Mapping):
        parts = []
        for key, value in message.items():
            inner = flatten_message(value)
            parts.append(inner if key in {"error", "message", "base"} else f"{key} {inner}".strip())
        text = "; ".join(part for part in parts if part)
    elif isinstance(message, list | tuple):
        text = ", ".join(flatten_message(item) for item in message)
    else:
        text = " ".join(str(message).split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _html_title(text: str) -> str:
    """A proxy's HTML error page says what it means in its <title>; the rest is markup."""
    if not re.match(r"\s*<(!doctype|html)", text, re.IGNORECASE):
        return text
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    return title.group(1) if title else re.sub(r"<[^>]*>", " ", text)


def is_generic_message(message: str, status: int) -> bool:
    """GitLab's bare status lines ("403 Forbidden", "503 Service Unavailable") add nothing to ours."""
    return re.fullmatch(rf"({status} )?[a-z ]+", message.lower()) is not None and (
        message.startswith(str(status)) or message.lower() in {"forbidden", "unauthorized", "not found"}
    )


def feature_value(value: object) -> str | int:
    """The Features API reads `value` as a string: `true`/`false` (never Python's `True`) or a number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return text.lower() if text.lower() in {"true", "false", "opt_out", "remove_opt_out"} else text


def issue_from_json(data: Mapping[str, Any]) -> Issue:
    """GitLab's Issue entity as our frozen `Issue`."""
    references = data.get("references") or {}
    tasks = data.get("task_completion_status") or {}
    author = data.get("author") or {}
    labels = tuple(
        str(label["name"]) if isinstance(label, Mapping) else str(label) for label in data.get("labels") or ()
    )
    return Issue(
        id=int(data["id"]),
        iid=int(data["iid"]),
        project_id=int(data.get("project_id") or 0),
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        state=str(data.get("state") or ""),
        labels=labels,
        web_url=str(data.get("web_url") or ""),
        reference=str(references.get("full") or data.get("reference") or ""),
        created_at=str(data.get("created_at") or ""),
        updated_at=str(data.get("updated_at") or ""),
        author=str(author.get("username") or "") if isinstance(author, Mapping) else "",
        user_notes_count=int(data.get("user_notes_count") or 0),
        task_count=_optional_int(tasks.get("count")),
        task_completed=_optional_int(tasks.get("completed_count")),
        raw=dict(data),
    )


def note_from_json(data: Mapping[str, Any]) -> Note:
    author = data.get("author") or {}
    return Note(
        id=int(data["id"]),
        body=str(data.get("body") or ""),
        author=str(author.get("username") or "") if isinstance(author, Mapping) else "",
        created_at=str(data.get("created_at") or ""),
        system=bool(data.get("system", False)),
        internal=bool(data.get("internal", data.get("confidential", False))),
    )


def feature_from_json(data: Mapping[str, Any]) -> Feature:
    gates = tuple(
        Gate(key=str(gate.get("key", "")), value=gate.get("value"))
        for gate in data.get("gates") or ()
        if isinstance(gate, Mapping)
    )
    return Feature(name=str(data.get("name", "")), state=str(data.get("state", "")), gates=gates)


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
