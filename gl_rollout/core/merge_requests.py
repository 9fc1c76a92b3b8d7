"""Merge requests as `create --from-mr` reads them: the reference people paste, GitLab's MR and diff
entities (the fields used), and which changed files are new feature-flag definitions.

GitLab's `GET /projects/:id/merge_requests/:iid/diffs` gives each changed file with `old_path`,
`new_path`, `new_file`, `deleted_file`, `renamed_file`, the unified `diff` (hunks only, no `---`/`+++`
header) and `collapsed`/`too_large`, which leave `diff` empty: then the file is read from the source
branch instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gl_rollout.core.refs import RefSyntax, parse_ref

EXAMPLES = (
    "https://gitlab.com/group/project/-/merge_requests/12, group/project!12, "
    "or 12 with --project group/project"
)
SYNTAX = RefSyntax("a merge request", "!", ("merge_requests",), EXAMPLES)
# GitLab's definition layout (`Feature::Definition.paths`): CE and EE, `<type>/<name>.yml`.
DEFINITION_PATH = re.compile(r"(?:ee/)?config/feature_flags/(?P<type>[a-z_]+)/(?P<name>[a-z0-9_]+)\.yml")


@dataclass(frozen=True)
class MergeRequestRef:
    """A project (path or ID) and a merge request IID; `host` is `scheme://host[:port]` of a URL ref."""

    project: str
    iid: int
    host: str | None = None

    def __str__(self) -> str:
        return f"{self.project}!{self.iid}"


@dataclass(frozen=True)
class MergeRequest:
    """The fields of GitLab's MergeRequest entity that `--from-mr` uses."""

    iid: int
    project_id: int
    title: str
    state: str  # opened | closed | merged | locked
    source_branch: str
    sha: str | None  # the head commit of the source branch
    web_url: str
    reference: str  # references.full, e.g. "group/project!12"


@dataclass(frozen=True)
class FileDiff:
    """One entry of the MR's `/diffs`."""

    old_path: str
    new_path: str
    new_file: bool
    deleted_file: bool
    renamed_file: bool
    diff: str
    collapsed: bool = False
    too_large: bool = False

    @property
    def complete(self) -> bool:
        """The diff holds the whole change (GitLab empties it for a collapsed or too large file)."""
        return bool(self.diff) and not (self.collapsed or self.too_large)


def parse_mr_ref(text: str, project: str | None = None) -> MergeRequestRef:
    """An MR URL, `group/project!12`, or `12`/`!12` completed by `project`; UsageError otherwise."""
    return MergeRequestRef(*parse_ref(text, project, SYNTAX))


def new_definitions(diffs: list[FileDiff]) -> list[FileDiff]:
    """The files the MR adds at a definition path (a rename or an edit adds no flag), in path order."""
    found = [d for d in diffs if d.new_file and not d.deleted_file and DEFINITION_PATH.fullmatch(d.new_path)]
    return sorted(found, key=lambda d: d.new_path)


def added_text(diff: str) -> str:
    """The new file's content from its diff: the `+` lines of its hunks, in order.

    A new file's diff is one hunk of added lines; `\\ No newline at end of file` drops the last newline.
    """
    lines: list[str] = []
    newline_at_end = True
    for line in diff.splitlines():
        if line.startswith("@@"):
            continue
        if line.startswith("\\"):
            newline_at_end = False
            continue
        if line.startswith("+"):
            lines.append(line[1:])
    text = "\n".join(lines)
    return text + "\n" if lines and newline_at_end else text
