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
from urllib.parse import urlsplit, urlunsplit

from gl_rollout.core.refs import MAX_IID, check_path
from gl_rollout.core.urls import without_credentials
from gl_rollout.errors import UsageError

EXAMPLES = (
    "https://gitlab.com/group/project/-/merge_requests/12, group/project!12, "
    "or 12 with --project group/project"
)
_SEGMENT = r"[\w.][\w.\-]*"
_PROJECT = rf"{_SEGMENT}(?:/{_SEGMENT})+"
_FULL_REF = re.compile(rf"(?P<project>{_PROJECT})!(?P<iid>\d+)")
_BARE_REF = re.compile(r"!?(?P<iid>\d+)")
_URL_PATH = re.compile(rf"/(?P<project>{_PROJECT}?)(?:/-)?/merge_requests/(?P<iid>\d+)(?:/.*)?")
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
    ref = text.strip()
    if "://" in ref:
        return _parse_url(ref, text)
    match = _FULL_REF.fullmatch(ref)
    if match:
        return MergeRequestRef(check_path(match["project"], text), _iid(match["iid"], text))
    match = _BARE_REF.fullmatch(ref)
    if match:
        if project is None:
            raise UsageError(
                f"merge request {ref} needs a project",
                "pass --project group/project, or a reference like group/project!12",
            )
        return MergeRequestRef(project, _iid(match["iid"], text))
    raise _bad(text)


def _parse_url(ref: str, text: str) -> MergeRequestRef:
    try:
        parts = urlsplit(ref)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise _bad(text) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _bad(text)
    if "@" in parts.netloc:
        raise UsageError(
            "the merge request URL holds credentials",
            "paste the URL without them; the token goes in GITLAB_TOKEN",
        )
    match = _URL_PATH.fullmatch(parts.path.rstrip("/"))
    if not match:
        raise _bad(text)
    host = urlunsplit((parts.scheme, parts.netloc.lower(), "", "", ""))
    return MergeRequestRef(check_path(match["project"], text), _iid(match["iid"], text), host)


def _iid(value: str, text: str) -> int:
    if len(value) > len(str(MAX_IID)) or not 0 < int(value) <= MAX_IID:
        raise _bad(text)
    return int(value)


def _bad(text: str) -> UsageError:
    return UsageError(f"not a merge request reference: {without_credentials(text)!r}", f"use {EXAMPLES}")


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
