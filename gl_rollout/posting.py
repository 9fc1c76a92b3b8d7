"""Writes that must land exactly once: creating the rollout issue and posting a comment.

GitLab may commit a POST and still fail to answer it (a timeout, a 502 from a proxy, a dropped
connection). The adapter never replays such a POST; it raises `GitLabError` with
`details["ambiguous"]`. Here we then look for what we meant to write (the comment's marker key, the
issue's title and markers) and send the POST again only when nothing landed. A server that is slow
rather than failed may still commit after we gave up waiting, so the look is repeated a few times,
spaced by the request timeout (bounded), before a retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gl_rollout.api import GitLabAPI, Issue, Note
from gl_rollout.errors import GitLabError
from gl_rollout.markers import find_note_marker

MAX_POSTS = 3  # POSTs of one issue or one comment, at most, whatever fails
_MAX_LOOK_WAIT = 5.0  # seconds between two looks for a write that may still be in flight


@dataclass(frozen=True)
class Landed:
    """The outcome of an exactly-once write: the object, and whether a lost answer had to be recovered."""

    value: Any
    recovered: bool = False
    attempts: int = 1


def look_waits(error: GitLabError, timeout: float) -> tuple[float, ...]:
    """Seconds to wait before each look after an ambiguous failure.

    A 5xx or a dropped connection came after the server gave up, so a look right away is meaningful
    and one more a second later covers a proxy that answered before its backend finished; a client
    timeout means the server may still be working, so the looks are spaced by about a timeout.
    """
    kind = error.details.get("kind")
    if error.status is not None or kind == "dropped":
        return (0.0, 1.0)
    step = min(max(timeout, 1.0), _MAX_LOOK_WAIT)
    return (step, step, step)


def _write_once(
    send: Callable[[], Any],
    find: Callable[[], Any],
    *,
    timeout: float,
    sleep: Callable[[float], None],
) -> Landed:
    last: GitLabError | None = None
    for attempt in range(1, MAX_POSTS + 1):
        try:
            return Landed(send(), recovered=False, attempts=attempt)
        except GitLabError as exc:
            if not exc.details.get("ambiguous"):
                raise
            last = exc
        for wait in look_waits(last, timeout):
            if wait:
                sleep(wait)
            found = find()
            if found is not None:
                return Landed(found, recovered=True, attempts=attempt)
    assert last is not None
    raise GitLabError(
        f"{last.message}; after {MAX_POSTS} attempts nothing had landed",
        "run the command again later: it looks for what landed before writing",
        status=last.status,
        details=dict(last.details),
    )


def post_note_once(
    api: GitLabAPI,
    project: str,
    iid: int,
    body: str,
    key: str,
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Landed:
    """Post `body` (which carries a marker with `key`) unless a note with that key is already there."""

    def find() -> Note | None:
        return find_marked_note(api.list_notes(project, iid, sort="desc", per_page=100, max_pages=1), key)

    return _write_once(lambda: api.create_note(project, iid, body), find, timeout=timeout, sleep=sleep)


def create_issue_once(
    api: GitLabAPI,
    project: str,
    fields: Mapping[str, Any],
    find: Callable[[], Issue | None],
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Landed:
    """Create the issue; after an ambiguous failure `find` (the duplicate lookup) says whether it landed."""
    return _write_once(lambda: api.create_issue(project, fields), find, timeout=timeout, sleep=sleep)


def find_marked_note(notes: Sequence[Note], key: str) -> Note | None:
    """A (non-system) note whose gl-rollout marker has `key`."""
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is not None and marker.key == key:
            return note
    return None
