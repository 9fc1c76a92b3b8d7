"""Which issues `sync` and `report` cover: the open issues of one project or one group with a label,
and among them the rollout issues (those with a step of the catalogue)."""

from __future__ import annotations

from dataclasses import dataclass

from gl_rollout.core.checklist import Checklist
from gl_rollout.core.model import Issue, IssueQuery
from gl_rollout.core.refs import check_path
from gl_rollout.core.steps import STEP_IDS
from gl_rollout.errors import UsageError

DEFAULT_LABEL = "feature flag"
_KNOWN_STEPS = frozenset(STEP_IDS)


@dataclass(frozen=True)
class Scope:
    """One project or one group, and a label (None: every open issue)."""

    project: str | None = None
    group: str | None = None
    label: str | None = DEFAULT_LABEL

    def __post_init__(self) -> None:
        if (self.project is None) == (self.group is None):
            raise UsageError("give exactly one of --project and --group", "for example --group my-group")
        if self.group is not None:
            check_path(self.group.strip("/"), self.group, "a group path")

    @property
    def name(self) -> str:
        where = f"project {self.project}" if self.project else f"group {self.group}"
        return f"{where}, label {self.label}" if self.label else where

    def to_dict(self) -> dict[str, str | None]:
        return {"project": self.project, "group": self.group, "label": self.label}

    def query(self) -> IssueQuery:
        """Open issues with the label, 100 a page."""
        return IssueQuery(
            project=self.project,
            group=self.group,
            state="opened",
            labels=(self.label,) if self.label else (),
            per_page=100,
        )


def is_rollout(checklist: Checklist) -> bool:
    """A rollout issue has at least one step of the catalogue (by marker or by text)."""
    return any(step.id in _KNOWN_STEPS for step in checklist.steps)


def project_of(issue: Issue) -> str:
    """The project path of an issue (from `references.full`), else its numeric project ID."""
    if "#" in issue.reference:
        path = issue.reference.rsplit("#", 1)[0]
        if path:
            return path
    return str(issue.project_id)
