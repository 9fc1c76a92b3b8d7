"""The issues gl-rollout read last, with their steps: what shell completion offers without a network call.

A small JSON file in the user's state folder (`$XDG_STATE_HOME/gl-rollout/recent-issues.json`, else
`~/.local/state/gl-rollout/recent-issues.json`), written when a command has read one issue (`status`,
`check`, `announce`, `enable`, `disable`, `sync` of one issue, `create`): the 10 most recent issues,
each with its reference, title and at most 200 steps (ID, state, the start of the text). It holds nothing
secret. Without `XDG_STATE_HOME` or `HOME` in the environment nothing is written; a file that cannot be
read or written is ignored, never a reason for a command to fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gl_rollout.core.model import Issue

FILE_NAME = "recent-issues.json"
MAX_ISSUES = 10
MAX_STEPS = 200
MAX_TEXT = 80
# A description longer than this is not parsed for the cache: parsing costs about a second a mebibyte,
# too much to add to a command for the sake of completion. Its reference is kept, without steps.
MAX_PARSED = 65_536
FORMAT = 1


@dataclass(frozen=True)
class RecentStep:
    id: str
    state: str
    text: str


@dataclass(frozen=True)
class RecentIssue:
    """An issue read lately: its full reference (`group/project#42`), title, URL and steps."""

    reference: str
    title: str
    web_url: str
    steps: tuple[RecentStep, ...] = ()

    @property
    def key(self) -> tuple[str, int] | None:
        return _key(self.reference, None)


def recent_file(env: Mapping[str, str]) -> Path | None:
    """Where the file is, from the environment alone; None when it names no state folder."""
    state_home = env.get("XDG_STATE_HOME", "").strip()
    if state_home and Path(state_home).is_absolute():
        return Path(state_home) / "gl-rollout" / FILE_NAME
    home = env.get("HOME", "").strip()
    if home and Path(home).is_absolute():
        return Path(home) / ".local" / "state" / "gl-rollout" / FILE_NAME
    return None


def load(env: Mapping[str, str]) -> list[RecentIssue]:
    """The recent issues, the latest first (none when the file is missing or unreadable)."""
    path = recent_file(env)
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [_issue_of(item) for item in data["issues"]][:MAX_ISSUES]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def remember(env: Mapping[str, str], issue: Issue) -> None:
    """Put `issue` first in the file (replacing an older entry of it), with its steps when that is cheap."""
    path = recent_file(env)
    if path is None or not issue.reference:
        return
    entry = RecentIssue(issue.reference, issue.title[:200], issue.web_url, _steps(issue.description))
    others = [item for item in load(env) if item.key != entry.key]
    data = {"format": FORMAT, "issues": [asdict(item) for item in [entry, *others][:MAX_ISSUES]]}
    try:
        from gl_rollout.files import write_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    except Exception:  # noqa: S110  bookkeeping for completion must never fail the command
        pass


def find(issues: list[RecentIssue], ref: str | None, project: str | None) -> RecentIssue | None:
    """The recent issue `ref` names (a URL, `group/project#42`, or `42` with `project`), if any."""
    if not ref:
        return None
    wanted = _key(ref, project)
    return next((issue for issue in issues if wanted is not None and issue.key == wanted), None)


def _key(ref: str, project: str | None) -> tuple[str, int] | None:
    from gl_rollout.core.refs import parse_issue_ref
    from gl_rollout.errors import UsageError

    try:
        parsed = parse_issue_ref(ref, project)
    except UsageError:
        return None
    return parsed.project.casefold(), parsed.iid


def _steps(description: str) -> tuple[RecentStep, ...]:
    if len(description) > MAX_PARSED:
        return ()
    from gl_rollout.core.checklist import parse_checklist

    steps = parse_checklist(description).steps[:MAX_STEPS]
    return tuple(RecentStep(step.id, step.state, " ".join(step.text.split())[:MAX_TEXT]) for step in steps)


def _issue_of(item: Mapping[str, Any]) -> RecentIssue:
    steps = tuple(RecentStep(str(s["id"]), str(s["state"]), str(s["text"])) for s in item.get("steps", ()))
    return RecentIssue(str(item["reference"]), str(item["title"]), str(item["web_url"]), steps[:MAX_STEPS])
