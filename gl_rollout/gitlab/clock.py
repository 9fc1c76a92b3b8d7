"""GitLab's clock: "now" for the ramp runner's decisions is the server's, never this machine's.

A rollout's waits are measured between GitLab's own timestamps (a marker comment's `created_at`), so
the runner compares them with GitLab's time: the `Date` header of the last answer the client read
(`GitLabAPI.server_time`, which costs no request). A runner on a machine whose clock is off by an hour
still waits exactly the plan's wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gl_rollout.core.times import Timestamp
from gl_rollout.errors import GitLabError

if TYPE_CHECKING:
    from gl_rollout.gitlab.api import GitLabAPI


class ServerClock:
    """A `gl_rollout.core.times.Clock` reading GitLab's `Date` header. Before any answer was read it asks
    once for the current user (the runner needs it anyway), so `now()` never falls back to local time."""

    def __init__(self, api: GitLabAPI) -> None:
        self._api = api

    def now(self) -> Timestamp:
        stamp = self._api.server_time()
        if stamp is None:
            self._api.current_user()
            stamp = self._api.server_time()
        if stamp is None or stamp.moment is None:
            raise GitLabError(
                "GitLab's answers carry no readable Date header, so its time is unknown",
                "check that no proxy between here and GitLab strips the Date header",
            )
        return stamp
