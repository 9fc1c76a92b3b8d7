"""What the use cases need from GitLab: plain data types and a small Protocol.

`gl_rollout.gitlab` implements `GitLabAPI` with python-gitlab; nothing else imports python-gitlab.
Every method is one HTTP request unless its docstring says otherwise, so request budgets can be
reasoned about from the use case alone. Failures raise `gl_rollout.errors.GitLabError` (exit 3),
never python-gitlab or requests exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str = ""
    is_admin: bool = False


@dataclass(frozen=True)
class Issue:
    """The fields of GitLab's Issue entity that gl-rollout uses."""

    id: int
    iid: int
    project_id: int
    title: str
    description: str
    state: str  # "opened" | "closed"
    labels: tuple[str, ...]
    web_url: str
    reference: str  # references.full, e.g. "group/project#42"
    created_at: str
    updated_at: str
    author: str = ""  # username
    user_notes_count: int = 0
    task_count: int | None = None  # task_completion_status.count
    task_completed: int | None = None  # task_completion_status.completed_count
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    author: str  # username
    created_at: str
    system: bool = False
    internal: bool = False


@dataclass(frozen=True)
class Gate:
    key: str  # boolean | actors | groups | percentage_of_actors | percentage_of_time
    value: Any


@dataclass(frozen=True)
class Feature:
    name: str
    state: str  # on | off | conditional
    gates: tuple[Gate, ...] = ()


@dataclass(frozen=True)
class IssueQuery:
    """Filters for listing issues of a project or a group (all optional)."""

    project: str | None = None
    group: str | None = None
    state: str = "opened"
    labels: tuple[str, ...] = ()
    search: str | None = None
    search_in: str | None = None  # "title", "description" or "title,description"
    iids: tuple[int, ...] = ()
    updated_after: str | None = None
    order_by: str = "updated_at"
    sort: str = "desc"
    per_page: int = 100


class GitLabAPI(Protocol):
    """The only face of GitLab the use cases see. One method, one request, unless noted."""

    url: str

    def current_user(self) -> User: ...

    def get_issue(self, project: str, iid: int) -> Issue: ...

    def list_issues(self, query: IssueQuery) -> Iterator[Issue]:
        """All matching issues, page after page (one request per page of `per_page`)."""
        ...

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        """POST once, never retried blindly: an ambiguous failure raises `GitLabError` with
        `details["ambiguous"] = True` so the caller can look for what landed before retrying."""
        ...

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        """PUT exactly `fields` (e.g. only `description`, or `add_labels`/`remove_labels`)."""
        ...

    def list_notes(
        self, project: str, iid: int, *, sort: str = "asc", per_page: int = 100, max_pages: int | None = None
    ) -> list[Note]:
        """Notes of an issue, system notes included; one request per page."""
        ...

    def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
        """POST once (ambiguous failures as for `create_issue`). None when GitLab answered 202
        (the body was only quick actions and no note was stored)."""
        ...

    def find_user_ids(self, usernames: list[str]) -> dict[str, int]: ...

    def find_milestone_id(self, project: str, title: str) -> int | None: ...

    def list_features(self) -> list[Feature]: ...

    def set_feature(self, name: str, params: Mapping[str, Any]) -> Feature:
        """POST /features/:name with `value` and the other parameters as given."""
        ...

    def delete_feature(self, name: str) -> None: ...

    def request_count(self) -> int:
        """Requests sent so far by this client (for budgets and --debug)."""
        ...
