"""What every use case on one issue reports about it, and the pieces of outcome the writing commands share.

`IssueSummary` (the issue's identity), `Counts` (the checklist's numbers after a command), `EditPreview`
(`--dry-run`'s diff and comments), the issue's address to show (`issue_url`), and how a failure after a
write is told (`written_but`: exit 3 naming what exists, never exit 2's "nothing written").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gl_rollout.core.checklist import Checklist, progress_line
from gl_rollout.errors import GitLabError, RolloutError, UsageError

if TYPE_CHECKING:
    from gl_rollout.core.model import Issue
    from gl_rollout.gitlab.api import GitLabAPI
    from gl_rollout.workflows.issue_edit import DescriptionEdit


@dataclass(frozen=True)
class IssueSummary:
    """The fields every command reports about the issue it worked on (all None before one exists)."""

    iid: int | None
    web_url: str | None
    reference: str | None
    title: str
    state: str | None

    @classmethod
    def of(cls, issue: Issue) -> IssueSummary:
        return cls(issue.iid, issue.web_url, issue.reference, issue.title, issue.state)


@dataclass(frozen=True)
class Counts:
    """The checklist's numbers as GitLab counts them, and its progress line."""

    done: int
    total: int
    skipped: int
    next: str | None  # the first todo step's ID
    progress: str

    @classmethod
    def of(cls, checklist: Checklist) -> Counts:
        first = checklist.next.id if checklist.next else None
        return cls(checklist.done, checklist.total, checklist.skipped, first, progress_line(checklist))


@dataclass(frozen=True)
class EditPreview:
    """What `--dry-run` shows of a write: the description diff and the comments to post."""

    dry_run: bool
    diff: str
    comments: tuple[str, ...] = ()

    @classmethod
    def of(cls, edit: DescriptionEdit, *, dry_run: bool, comments: Sequence[str] = ()) -> EditPreview:
        return cls(dry_run, edit.diff(), tuple(comments))


def issue_url(api: GitLabAPI, issue: Issue, project: str) -> str:
    """The issue's address to show: its `web_url` when that is an http(s) URL on this GitLab, else one
    made from the GitLab URL, the project and the IID (a server may answer a `web_url` that is not)."""
    from gl_rollout.core.urls import same_host
    from gl_rollout.render.option_values import check_url

    try:
        url = check_url(issue.web_url, "web_url")
    except UsageError:
        url = ""
    if url and same_host(url, api.url):
        return url
    path = issue.reference.rsplit("#", 1)[0] if "/" in issue.reference else project
    return f"{api.url.rstrip('/')}/{path}/-/issues/{issue.iid}"


def written_but(what: str, error: RolloutError) -> GitLabError:
    """A failure after a write landed: exit 3, saying what exists (never exit 2's "nothing written")."""
    return GitLabError(
        f"{what}, but then: {error.message.rstrip('.')}",
        "it exists: running the command again finds it and writes nothing twice"
        + (f" ({error.hint})" if error.hint else ""),
        details={"after_write": True},
    )
