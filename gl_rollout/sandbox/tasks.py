"""GitLab's task-list counting rule (`Taskable.get_tasks`), reproduced regex for regex.

GitLab counts checklist items with one RE2 scan: code blocks and HTML comments are matched first (and
skipped), everything else that looks like a list item with a checkbox counts. Its quirks are kept on
purpose, e.g. `<!-- text-->` (no space before `-->`) is not a one-line comment, so it opens a "comment
block" that runs to the next line ending in `-->` and hides the items in between.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from gl_rollout.sandbox import block_scan

# RE2's `\s` is ASCII only: [\t\n\f\r ]; its `[[:space:]]` adds \v. Python's `\s` would take Unicode spaces.
_S = r"[\t\n\f\r ]"
_SPACE = r"[\t\n\v\f\r ]"
_ANY = r"(?s:.)"

_CODE = r"(?P<code>^```.*?\n" + _ANY + r"*?\n```\ *$)"
_COMMENT_LINE = r"(?P<html_comment_line>^<!--\ .*?\ -->\ *$)"
_COMMENT_BLOCK = r"(?P<html_comment_block>^<!--.*?\n" + _ANY + r"*?\n.*?-->\ *$)"
_COMPLETE = r"\[[xX]\]"
_INCOMPLETE = r"\[" + _SPACE + r"\]"
_ITEM = (
    r"(?P<task_item>^(?:(?:>" + _S + r"{0,4})*)"
    r"(?P<prefix>(?:"
    + _S
    + r"*(?:[-+*]|(?:\d+[.)])))+)"
    + _S
    + r"+(?P<checkbox>"
    + _COMPLETE
    + "|"
    + _INCOMPLETE
    + r")(?P<label>"
    + _S
    + r".+))"
)
TASK_REGEX = re.compile("|".join((_CODE, _COMMENT_LINE, _COMMENT_BLOCK, _ITEM)), re.MULTILINE)
_COMPLETE_RE = re.compile(_COMPLETE)
# The same alternation, scanned in linear time (`gl_rollout.sandbox.block_scan`; TASK_REGEX is its reference).
_SCAN = (
    block_scan.Block("code", block_scan.code_open, block_scan.code_close),
    block_scan.Line("html_comment_line", re.compile(_COMMENT_LINE, re.MULTILINE)),
    block_scan.Block("html_comment_block", block_scan.comment_open, block_scan.comment_close),
    block_scan.Line("task_item", re.compile(_ITEM, re.MULTILINE)),
)


@dataclass(frozen=True)
class TaskItem:
    """One counted checklist item: its checkbox state and label text, in document order."""

    complete: bool
    label: str
    source: str


def task_items(text: str | None) -> list[TaskItem]:
    """The checklist items GitLab counts in `text`, in order."""
    if not text:
        return []
    items: list[TaskItem] = []
    for found in block_scan.scan(text, _SCAN):
        match = found.match
        if match is None or found.name != "task_item":
            continue
        checkbox = match.group("checkbox")
        prefix = match.group("prefix").strip()
        items.append(
            TaskItem(
                complete=bool(_COMPLETE_RE.fullmatch(checkbox)),
                label=match.group("label").strip(),
                source=f"{prefix} {checkbox}",
            )
        )
    return items


def task_completion_status(text: str | None) -> dict[str, int]:
    """`{"count", "completed_count"}` as the Issue entity reports it."""
    count, completed = _counts(text or "")
    return {"count": count, "completed_count": completed}


@functools.lru_cache(maxsize=1024)
def _counts(text: str) -> tuple[int, int]:
    # Lists render the same descriptions again and again; the scan is the costly part of an entity.
    items = task_items(text)
    return len(items), sum(1 for item in items if item.complete)


def task_status(text: str | None) -> str:
    """The Issue entity's `task_status`: "" without a description, else "N of M checklist items completed"."""
    if not text or not text.strip():
        return ""
    status = task_completion_status(text)
    noun = "checklist item" if status["count"] == 1 else "checklist items"
    return f"{status['completed_count']} of {status['count']} {noun} completed"


def flipped_items(old: str | None, new: str | None) -> list[TaskItem]:
    """Items whose box flipped between two texts (GitLab's `get_updated_tasks`: same index and label)."""
    old_items = task_items(old)
    changed: list[TaskItem] = []
    for index, item in enumerate(task_items(new)):
        if index >= len(old_items):
            break
        before = old_items[index]
        if before.label == item.label and before.complete != item.complete:
            changed.append(item)
    return changed
