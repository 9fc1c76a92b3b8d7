"""ChatOps' record of a flag, read for `sync`, `adopt` and `status --timeline`: its comments on the
rollout issue (already among the notes read) and its log issues (one search of the log project).

The log project (`--chatops-log-project`, by default `gitlab-com/gl-infra/feature-flag-log`, where
ChatOps writes on GitLab.com) is searched for the flag's name in titles, every state, oldest first: one
request per 100 log issues. It is searched when the issue has gl-rollout's status block (the process
that has no checklist, whose progress lives in ChatOps' record) or when ChatOps commented on it; an
issue with neither costs no request. A log project that cannot be read (not there, or not visible to
the token) is said in one warning; the comments still count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gl_rollout.core.chatops_log import (
    ChatopsEvent,
    Unread,
    chronological,
    event_of_comment,
    event_of_log_issue,
    evidence_of,
    merge_events,
    production_changes,
    timeline_of,
)
from gl_rollout.core.evidence import Evidence, TimelineEvent
from gl_rollout.core.model import Issue, IssueQuery, Note
from gl_rollout.core.status_block import find_block
from gl_rollout.errors import GitLabError
from gl_rollout.gitlab.api import GitLabAPI


@dataclass(frozen=True)
class ChatopsRecord:
    """The flag's changes as ChatOps recorded them, oldest first, and what was not read (for --debug)."""

    events: tuple[ChatopsEvent, ...] = ()
    searched: str | None = None  # the log project searched, None when it was not
    debug: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def evidence(self) -> list[Evidence]:
        return evidence_of(self.events)

    def timeline(self) -> list[TimelineEvent]:
        return timeline_of(self.events)

    def production_changes(self) -> list[tuple[str, bool]]:
        return production_changes(self.events)


def read_chatops_record(
    api: GitLabAPI, issue: Issue, notes: Sequence[Note], flag: str | None, log_project: str | None
) -> ChatopsRecord:
    """The flag's ChatOps events: its comments among `notes`, and (see the module docstring) its log
    issues. Nothing without a flag; no request when the log project is not searched."""
    if flag is None:
        return ChatopsRecord()
    debug: list[str] = []
    from_comments: list[ChatopsEvent] = []
    chatops_commented = False
    for note in notes:
        found = event_of_comment(note, flag)
        if isinstance(found, Unread):
            chatops_commented = True
            debug.append(found.line())
        elif found is not None:
            chatops_commented = True
            from_comments.append(found)
    searched: str | None = None
    warnings: list[str] = []
    from_log: list[ChatopsEvent] = []
    if log_project and (chatops_commented or find_block(issue.description) is not None):
        searched = log_project
        query = IssueQuery(
            project=log_project,
            state="all",
            search=flag,
            search_in="title",
            order_by="created_at",
            sort="asc",
        )
        try:
            for logged in api.list_issues(query):
                read = event_of_log_issue(logged, flag)
                if isinstance(read, Unread):
                    debug.append(read.line())
                elif read is not None:
                    from_log.append(read)
            debug.append(f"searched {log_project} for {flag}: {len(from_log)} log issue(s) of the flag")
        except GitLabError as exc:
            if exc.status not in (401, 403, 404):
                raise
            warnings.append(
                f"ChatOps' log project {log_project} could not be read ({exc.status}): its log issues were "
                "not read, only ChatOps' comments on the issue (set --chatops-log-project to where "
                "ChatOps logs, or to '' to skip it)"
            )
    events = chronological(merge_events(from_comments, from_log))
    return ChatopsRecord(tuple(events), searched, tuple(debug), tuple(warnings))
