"""One API request as the client describes it (`Call`), and a non-2xx answer (`StatusError`).

Shared by the transport (`gl_rollout.gitlab.transport`), which sends calls, and the error translator
(`gl_rollout.gitlab.errors`), which words their failures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class Call:
    """One API request and what to say about it if it fails."""

    method: str  # get | post | put | delete
    path: str  # relative to /api/v4, or a full URL from a Link header
    what: str  # "read issue g/p#42": completes "GitLab refused to ..."
    missing: str  # what a 404 means: "project g/p or its issue #42"
    # how to fix the 404: the options the command took that name what was not found
    fix: str = "check --project and the issue number"
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    replayable: bool = True  # sending it twice does no harm
    write: bool = False
    admin: bool = False  # Features API: admin token needed
    note: bool = False  # counts against the notes-per-minute limit
    job_ok: bool = False  # GitLab accepts CI_JOB_TOKEN here (single issue GET, project issue list)
    project: str | None = None  # the project the request names, for references GitLab leaves out
    # Sent through python-gitlab's manager of the collection the path names, when it has one:
    # "get", "create", "update" or "list" (project feature flags and their user lists).
    manager_method: str | None = None
    iid: int | None = None  # the issue the request names: a 404's body then tells which of the two is missing


class StatusError(Exception):
    """A non-2xx answer, with the headers and URL that python-gitlab's own exceptions drop."""

    def __init__(self, status: int, message: object, headers: Mapping[str, str], url: str | None) -> None:
        super().__init__(status)
        self.status = status
        self.message = message  # GitLab's `message`/`error`, in whatever shape it came
        self.headers = headers
        self.url = url


SendOnce = Callable[[Call], "requests.Response"]  # one request; StatusError for a non-2xx answer
