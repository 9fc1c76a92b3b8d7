"""Writes that must land exactly once: creating the rollout issue, posting a comment, and a project flag's
PUT (`gl_rollout.workflows.flag_backend`, which plans the PUT again on what a fresh read shows).

GitLab may commit a POST and still fail to answer it (a timeout, a 502 from a proxy, a dropped
connection), and a request it is still working on may commit long after the client gave up: GitLab
cuts a request off only after its own request timeout (60 s on GitLab.com and by default;
`GL_ROLLOUT_SERVER_TIMEOUT` names another). The adapter never replays such a POST; it raises
`GitLabError` with `details["ambiguous"]`. Here we then look for what we meant to write (the
comment's marker key, the issue's title and markers):

- after GitLab itself answered 500 or 503, or a proxy 502, the request is over: a look right away and
  one a second later (for a proxy that answered before its backend finished);
- after a client timeout, a 504 or a dropped connection, GitLab may still be working on it: the looks
  go on, spaced, until the server's request timeout has passed since the POST was sent.

Only when nothing landed by then is the POST sent again (at most `MAX_POSTS` in all); after the last
one, exit 3 says a rerun is safe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.model import Issue, Note
from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.gitlab.api import GitLabAPI

MAX_POSTS = 3  # POSTs of one issue or one comment, at most, whatever fails
SERVER_TIMEOUT = 60.0  # GitLab's request timeout (Rack::Timeout / Puma worker timeout), seconds
SERVER_TIMEOUT_VARIABLE = "GL_ROLLOUT_SERVER_TIMEOUT"
_MAX_LOOK_GAP = 10.0  # seconds between two looks for a write that may still land, at most


def server_timeout_from_env(env: Mapping[str, str]) -> float:
    """`GL_ROLLOUT_SERVER_TIMEOUT` (seconds, for a GitLab configured otherwise, or a test server), else 60."""
    text = env.get(SERVER_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return SERVER_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:
        raise UsageError(
            f"{SERVER_TIMEOUT_VARIABLE}={text!r} is not a number of seconds",
            "give GitLab's request timeout in seconds, above 0 and at most 3600 (GitLab's default: 60)",
        )
    return value


@dataclass(frozen=True)
class Patience:
    """How long to wait for a lost answer: the client's timeout per request, the server's per request,
    and the clock and sleep to measure and wait with (tests inject both)."""

    timeout: float = 30.0
    server_timeout: float = SERVER_TIMEOUT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


DEFAULT_PATIENCE = Patience()


@dataclass(frozen=True)
class Landed:
    """The outcome of an exactly-once write: the object, and whether a lost answer had to be recovered."""

    value: Any
    recovered: bool = False
    attempts: int = 1


def look_times(error: GitLabError, patience: Patience) -> tuple[float, ...]:
    """Seconds after the POST was sent at which to look for what it may have written (0: at once).

    The request is over when GitLab answered 500, or a proxy 502 or 503 (its backend failed or was
    never reached): a look now and one a second later. Else (a client timeout, a dropped connection, a
    504 or a CDN's 52x timeout) it may still commit until the server's timeout has passed since it was
    sent: looks at once, then after gaps that double from a second up to `_MAX_LOOK_GAP`, the last one
    when that timeout is over.
    """
    if error.status is not None and error.status < 504:
        return (0.0, 1.0)
    end = patience.server_timeout
    times = [0.0]
    gap = 1.0
    while times[-1] + gap < end:
        times.append(times[-1] + gap)
        gap = min(gap * 2, _MAX_LOOK_GAP)
    times.append(end)
    return tuple(times)


def write_once(send: Callable[[], Any], find: Callable[[], Any], patience: Patience) -> Landed:
    last: GitLabError | None = None
    for attempt in range(1, MAX_POSTS + 1):
        sent = patience.clock()
        try:
            return Landed(send(), recovered=False, attempts=attempt)
        except GitLabError as exc:
            if exc.details.get("landed"):  # GitLab said it wrote it, in an answer we cannot read
                found = find()
                if found is not None:
                    return Landed(found, recovered=True, attempts=attempt)
            if not exc.details.get("ambiguous"):
                raise
            last = exc
        for at in look_times(last, patience):
            wait = at - (patience.clock() - sent)
            if wait > 0:
                patience.sleep(wait)
            elif at > 0:
                continue  # that moment passed while the failure came back or the last look ran
            found = find()
            if found is not None:
                return Landed(found, recovered=True, attempts=attempt)
    assert last is not None
    raise GitLabError(
        f"{last.message}; after {MAX_POSTS} attempts nothing had landed",
        "run the command again: that is safe, since nothing GitLab was still doing can land any more "
        "and the rerun looks for what landed before writing",
        status=last.status,
        details=dict(last.details),
    )


def post_note_once(
    api: GitLabAPI, project: str, iid: int, body: str, key: str, *, patience: Patience, run: str | None = None
) -> Landed:
    """Post `body` (which carries a marker with `key`) unless a note with that key is already there.

    `run`: the marker's run token (a ramp step's claim, `gl_rollout.workflows.step_claim`): then only this
    run's own note counts as landed, never another runner's comment of the same step and key."""

    def find() -> Note | None:
        notes = api.list_notes(project, iid, sort="desc", per_page=100, max_pages=1)
        return find_marked_note(notes, key, run=run)

    return write_once(lambda: api.create_note(project, iid, body), find, patience)


def post_merge_request_note_once(
    api: GitLabAPI, project: str, iid: int, body: str, key: str, *, patience: Patience
) -> Landed:
    """As `post_note_once`, on a merge request."""

    def find() -> Note | None:
        return find_marked_note(api.list_merge_request_notes(project, iid), key)

    return write_once(lambda: api.create_merge_request_note(project, iid, body), find, patience)


def create_issue_once(
    api: GitLabAPI,
    project: str,
    fields: Mapping[str, Any],
    find: Callable[[], Issue | None],
    *,
    patience: Patience,
) -> Landed:
    """Create the issue; after an ambiguous failure `find` (the duplicate lookup) says whether it landed."""
    return write_once(lambda: api.create_issue(project, fields), find, patience)


def find_marked_note(notes: Sequence[Note], key: str, *, run: str | None = None) -> Note | None:
    """A (non-system) note whose gl-rollout marker has `key` (and, when given, the run token `run`)."""
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is not None and marker.key == key and (run is None or marker.values.get("run") == run):
            return note
    return None
