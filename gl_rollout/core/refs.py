"""Issue references as people paste them: a URL, `group/project#42`, or `42` with a project.

Rule for a URL's host: the issue URL names the GitLab to talk to only when no URL was configured
(`--url`, `GITLAB_URL`, `GITLAB_HOST`, `CI_SERVER_URL` or a python-gitlab config section); when one
was, the issue URL must be on that host, else `gl_rollout.gitlab.connection.resolve_connection` stops with a
usage error rather than send the token somewhere the user did not name. In `--sandbox` mode only
the URL's path counts, because each sandbox run listens on a new port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from gl_rollout.core.urls import without_credentials
from gl_rollout.errors import UsageError

EXAMPLES = (
    "https://gitlab.com/group/project/-/issues/42, group/project#42, or 42 with --project group/project"
)

# GitLab path segments: letters, digits, `_`, `-`, `.`, never starting with `-` (so `/-/` is no segment).
_SEGMENT = r"[\w.][\w.\-]*"
_PROJECT = rf"{_SEGMENT}(?:/{_SEGMENT})+"


@dataclass(frozen=True)
class RefSyntax:
    """How people write a reference to one kind of project item: its noun, its sigil (`#` for issues,
    `!` for merge requests), the URL path kinds (`/-/<kind>/42`) and the examples an error shows."""

    noun: str
    sigil: str
    url_kinds: tuple[str, ...]
    examples: str
    full: re.Pattern[str] = field(init=False, repr=False, compare=False)
    bare: re.Pattern[str] = field(init=False, repr=False, compare=False)
    url_path: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sigil = re.escape(self.sigil)
        kinds = "|".join(re.escape(kind) for kind in self.url_kinds)
        object.__setattr__(self, "full", re.compile(rf"(?P<project>{_PROJECT}){sigil}(?P<iid>\d+)"))
        object.__setattr__(self, "bare", re.compile(rf"{sigil}?(?P<iid>\d+)"))
        # `/-/<kind>/42`, and the pre-`/-/` form `/<kind>/42` GitLab still redirects.
        path = rf"/(?P<project>{_PROJECT}?)(?:/-)?/(?:{kinds})/(?P<iid>\d+)(?:/.*)?"
        object.__setattr__(self, "url_path", re.compile(path))

    @property
    def item(self) -> str:
        """The noun without its article: "issue", "merge request"."""
        return self.noun.split(" ", 1)[1]

    def bad(self, text: str) -> UsageError:
        return UsageError(f"not {self.noun} reference: {without_credentials(text)!r}", f"use {self.examples}")


ISSUE_SYNTAX = RefSyntax("an issue", "#", ("issues", "work_items"), EXAMPLES)


def parse_ref(text: str, project: str | None, syntax: RefSyntax) -> tuple[str, int, str | None]:
    """`(project, iid, host)` of a URL, a full `group/project<sigil>N` or a bare `N`/`<sigil>N` completed
    by `project`; `host` is `scheme://host[:port]` of a URL, else None. UsageError for anything else."""
    ref = text.strip()
    if "://" in ref:
        return _parse_url(ref, text, syntax)
    match = syntax.full.fullmatch(ref)
    if match:
        return check_path(match["project"], text), _iid(match["iid"], text, syntax), None
    match = syntax.bare.fullmatch(ref)
    if match:
        if project is None:
            raise UsageError(
                f"{syntax.item} {ref} needs a project",
                f"pass --project group/project, or a reference like group/project{syntax.sigil}42",
            )
        return project, _iid(match["iid"], text, syntax), None
    raise syntax.bad(text)


@dataclass(frozen=True)
class IssueRef:
    """A project (path or numeric ID) and an issue IID; `host` is `scheme://host[:port]` of a URL ref."""

    project: str
    iid: int
    host: str | None = None

    def __str__(self) -> str:
        return f"{self.project}#{self.iid}"

    def relative_to(self, base_url: str) -> IssueRef:
        """Drop the base URL's path prefix (GitLab under a relative URL root) from the project path."""
        prefix = urlsplit(base_url).path.strip("/")
        if self.host is None or not prefix or not self.project.startswith(prefix + "/"):
            return self
        return IssueRef(self.project[len(prefix) + 1 :], self.iid, self.host)


def check_path(path: str, text: str, what: str = "a project path") -> str:
    """Refuse `.` and `..` segments: GitLab has no such paths, and a server or proxy might resolve
    them to another project or endpoint."""
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise UsageError(
            f"{text.strip()!r}: {what} cannot have a '.' or '..' segment",
            "give the full path as GitLab shows it, like group/subgroup/project",
        )
    return path


def parse_issue_ref(text: str, project: str | None = None) -> IssueRef:
    """Parse a reference; `project` (from --project or CI_PROJECT_PATH) completes a bare `42`/`#42`.

    A full reference names its own project and wins over `project`. Bad input raises UsageError
    with examples of every accepted form.
    """
    path, iid, host = parse_ref(text, project, ISSUE_SYNTAX)
    if host is not None and path.startswith("groups/"):
        raise UsageError(
            f"{text.strip()} is a group-level work item, not a project issue",
            "rollout issues live in a project: use the issue's project URL",
        )
    return IssueRef(path, iid, host)


def _parse_url(ref: str, text: str, syntax: RefSyntax) -> tuple[str, int, str | None]:
    try:
        parts = urlsplit(ref)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise syntax.bad(text) from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise syntax.bad(text)
    if "@" in parts.netloc:
        raise UsageError(
            f"the {syntax.item} URL holds credentials",
            "paste the URL without them; the token goes in GITLAB_TOKEN",
        )
    match = syntax.url_path.fullmatch(parts.path.rstrip("/"))
    if not match:
        raise syntax.bad(text)
    host = urlunsplit((parts.scheme, parts.netloc.lower(), "", "", ""))
    return check_path(match["project"], text), _iid(match["iid"], text, syntax), host


MAX_IID = 2**31 - 1  # GitLab stores IIDs as 32-bit integers


def _iid(value: str, text: str, syntax: RefSyntax) -> int:
    if len(value) > len(str(MAX_IID)) or not 0 < int(value) <= MAX_IID:
        raise syntax.bad(text)
    return int(value)
