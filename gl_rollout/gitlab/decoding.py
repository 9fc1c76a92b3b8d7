"""GitLab's JSON as gl-rollout's frozen types, and its error messages as one line of text.

Pure functions with no HTTP in them, used by the adapter in `gl_rollout.gitlab.client`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from gl_rollout.core.merge_requests import FileDiff, MergeRequest
from gl_rollout.core.model import Feature, Gate, Issue, Note
from gl_rollout.core.refs import parse_issue_ref
from gl_rollout.errors import UsageError


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


_MARKUP = re.compile(r"\s*(<!--.*?-->\s*)*<(!doctype|html|head|body|\?xml|center|h1|div|p)\b", re.I | re.S)
_NOT_TEXT = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_HTML_TEXT_LIMIT = 120


def _html_title(text: str) -> str:
    """A proxy's HTML error page says what it means in its <title> or first heading; the rest is markup.

    Without either, its visible text, shortened: never its styles or scripts.
    """
    if not _MARKUP.match(text):
        return text
    for tag in ("title", "h1", "h2"):
        found = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}\s*>", text, re.IGNORECASE | re.DOTALL)
        if found and found.group(1).strip():
            return html.unescape(re.sub(r"<[^>]*>", " ", found.group(1)))
    visible = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", _NOT_TEXT.sub(" ", text))).split())
    return visible[:_HTML_TEXT_LIMIT] + ("…" if len(visible) > _HTML_TEXT_LIMIT else "")


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


def issue_from_json(
    data: Mapping[str, Any], *, base_url: str | None = None, project: str | None = None
) -> Issue:
    """GitLab's Issue entity as our frozen `Issue`.

    Tolerates what other versions and implementations leave out or spell differently: a null
    description or labels, label objects, no `task_completion_status`, no `references` (the reference
    is then made from `web_url`, relative to `base_url`, else from `project`), "open" for "opened".
    """
    references = data.get("references")
    tasks = data.get("task_completion_status")
    tasks = tasks if isinstance(tasks, Mapping) else {}
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
        state=_STATES.get(str(data.get("state") or ""), str(data.get("state") or "")),
        labels=labels,
        web_url=str(data.get("web_url") or ""),
        reference=_reference(data, references, base_url, project),
        created_at=str(data.get("created_at") or ""),
        updated_at=str(data.get("updated_at") or ""),
        author=str(author.get("username") or "") if isinstance(author, Mapping) else "",
        user_notes_count=int(data.get("user_notes_count") or 0),
        task_count=_optional_int(tasks.get("count")),
        task_completed=_optional_int(tasks.get("completed_count")),
        raw=dict(data),
    )


_STATES = {"open": "opened", "reopened": "opened", "close": "closed"}


def _reference(data: Mapping[str, Any], references: object, base_url: str | None, project: str | None) -> str:
    """`references.full`; without it (GitLab before 12.6, partial emulators) `group/project#IID`
    made from `web_url`, else from the project the request named."""
    if isinstance(references, Mapping) and references.get("full"):
        return str(references["full"])
    old = str(data.get("reference") or "")
    if re.fullmatch(r"[^#\s]+/[^#\s]+#\d+", old):
        return old
    iid = data.get("iid")
    web_url = str(data.get("web_url") or "")
    if web_url:
        try:
            ref = parse_issue_ref(web_url)
        except UsageError:
            pass
        else:
            return str(ref.relative_to(base_url) if base_url else ref)
    return f"{project}#{iid}" if project else f"#{iid}"


def note_from_json(data: Mapping[str, Any]) -> Note:
    author = data.get("author") or {}
    return Note(
        id=int(data["id"]),
        body=str(data.get("body") or ""),
        author=str(author.get("username") or "") if isinstance(author, Mapping) else "",
        created_at=str(data.get("created_at") or ""),
        system=_truthy(data.get("system", False)),
        internal=_truthy(data.get("internal", data.get("confidential", False))),
    )


def _truthy(value: object) -> bool:
    """A JSON boolean, also when an implementation sends it as "true"/"false" or 1/0."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "t", "yes"}
    return bool(value)


def feature_from_json(data: Mapping[str, Any]) -> Feature:
    """A Feature entity; gate values normalised (`"true"` -> True, `"25"` -> 25) so they compare as values."""
    gates = tuple(
        Gate(key=str(gate.get("key", "")), value=gate_value(str(gate.get("key", "")), gate.get("value")))
        for gate in data.get("gates") or ()
        if isinstance(gate, Mapping)
    )
    return Feature(name=str(data.get("name", "")), state=str(data.get("state", "")), gates=gates)


def gate_value(key: str, value: object) -> Any:
    """A gate's value as GitLab means it: booleans and percentages some servers send as strings."""
    if isinstance(value, str):
        text = value.strip()
        if key == "boolean" and text.lower() in {"true", "false"}:
            return text.lower() == "true"
        if key.startswith("percentage") and re.fullmatch(r"\d+(\.\d+)?", text):
            number = float(text)
            return int(number) if number.is_integer() else number
    if key.startswith("percentage") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def mr_from_json(data: Mapping[str, Any]) -> MergeRequest:
    """GitLab's MergeRequest entity, the fields `create --from-mr` uses."""
    references = data.get("references")
    full = references.get("full") if isinstance(references, Mapping) else None
    return MergeRequest(
        iid=int(data["iid"]),
        project_id=int(data.get("project_id") or 0),
        title=str(data.get("title") or ""),
        state=str(data.get("state") or ""),
        source_branch=str(data["source_branch"]),
        sha=str(data["sha"]) if data.get("sha") else None,
        web_url=str(data.get("web_url") or ""),
        reference=str(full or f"!{data['iid']}"),
    )


def file_diff_from_json(data: Mapping[str, Any]) -> FileDiff:
    """One entry of `/merge_requests/:iid/diffs`; `collapsed` and `too_large` are absent on older GitLab."""
    return FileDiff(
        old_path=str(data.get("old_path") or data["new_path"]),
        new_path=str(data["new_path"]),
        new_file=_truthy(data.get("new_file", False)),
        deleted_file=_truthy(data.get("deleted_file", False)),
        renamed_file=_truthy(data.get("renamed_file", False)),
        diff=str(data.get("diff") or ""),
        collapsed=_truthy(data.get("collapsed", False)),
        too_large=_truthy(data.get("too_large", False)),
    )
