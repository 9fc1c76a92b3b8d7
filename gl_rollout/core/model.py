"""The rollout's nouns as GitLab has them: users, issues, notes, feature flags and their gates, and the
filters for listing issues. Plain frozen values; `gl_rollout.gitlab.decoding` builds them from GitLab's JSON
and `gl_rollout.gitlab.api.GitLabAPI` hands them to the use cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    issue_type: str | None = None  # "incident", "issue", "test_case", "task"
    order_by: str = "updated_at"
    sort: str = "desc"
    per_page: int = 100
