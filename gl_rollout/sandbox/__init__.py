"""An embedded GitLab REST emulator for trying gl-rollout, for its tests and for fault injection.

    sb = Sandbox()                     # in-memory state; Sandbox(db_path=...) keeps it in a file
    with sb.serve() as url:            # http://127.0.0.1:<free port>, /api/v4 below it
        gitlab.Gitlab(url, private_token=sb.tokens["developer"])

Seeded: users root (admin), dev (developer), reporter (Reporter role, read_api token), alice (the
"other person" of `faults.edit_between_read_and_write`); groups acme and acme/platform; projects
acme/platform/rollouts (id 42) and acme/website (id 43), each with the label "feature flag", the first
with milestone "17.0"; a CI job token of the first project.

Project feature flags (`/projects/:id/feature_flags`, user lists) and GitLab's Unleash API for them
(`sb.unleash_url()`, `sb.unleash_instance_id()`) are there too; `sb.project_feature_flags_limit` is the
plan limit on flags per project.

Its clock (`sb.now()`) is this machine's until `sb.advance_clock(seconds)` moves it forward: every
timestamp it writes and the `Date` header of its answers follow it. Deploy freezes
(`/projects/:id/freeze_periods`, `sb.add_freeze_period("0 23 * * 5", "0 7 * * 1", "Europe/Berlin")`) and
incidents (issues of type `incident`, `sb.add_incident("DB down", ["severity::1"])`) are there for the
ramp runner's guards.

By default it answers as current GitLab does; `Sandbox(quirks={...})` or `sb.quirks.<name> = ...`
switches on the habits of other GitLab versions, proxies and implementations (pagination headers,
timestamp formats, system note wording, missing Issue fields, redirects, ...): see
`gl_rollout.sandbox.quirks.Quirks`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.faults import Faults, LoggedRequest, RateLimiter, RequestLog
from gl_rollout.sandbox.quirks import Quirks
from gl_rollout.sandbox.store import (
    DEMO_TOKENS,
    GROUP_PATHS,
    PROJECT_ID,
    PROJECT_PATH,
    SECOND_PROJECT_ID,
    SECOND_PROJECT_PATH,
    Store,
)

if TYPE_CHECKING:
    from gl_rollout.sandbox.web import IssueFigure

__all__ = ["LoggedRequest", "Quirks", "Sandbox"]

_ROLE_USERS = {"admin": "root", "developer": "dev", "reporter": "reporter", "alice": "alice"}


class Sandbox:
    """The sandbox: state, knobs, and an optional server thread."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        base_url: str | None = None,
        *,
        control: bool = False,
        quirks: Mapping[str, Any] | None = None,
        project_feature_flags_limit: int | str | None = None,
    ) -> None:
        """`quirks` switches on other servers' habits by name (see `gl_rollout.sandbox.quirks.Quirks`);
        `project_feature_flags_limit` sets how many project feature flags a project may hold (a number,
        0 for no limit, or a GitLab.com plan: `free` 50, `premium` 150, `ultimate` 200; default 200).
        """
        from gl_rollout.sandbox.app import SandboxApp

        self.store = Store(db_path)
        if project_feature_flags_limit is not None:
            try:
                self.project_feature_flags_limit = project_feature_flags_limit
            except ValueError:
                self.store.close()
                raise
        self.faults = Faults()
        self.quirks = Quirks()
        self.quirks.update(quirks or {})
        self.store.quirks = self.quirks
        self._log = RequestLog()
        self.tokens: dict[str, str] = dict(DEMO_TOKENS)
        self.project_path = PROJECT_PATH
        self.project_id = PROJECT_ID
        self.second_project_path = SECOND_PROJECT_PATH
        self.second_project_id = SECOND_PROJECT_ID
        self.group_paths = GROUP_PATHS
        self.app = SandboxApp(
            self.store, self.faults, self._log, base_url=base_url, control=control, quirks=self.quirks
        )
        self.url: str | None = base_url.rstrip("/") if base_url else None
        self._server: Any = None

    # ---- serving ------------------------------------------------------------------------------
    @property
    def control_secret(self) -> str | None:
        """The secret the HTTP control path wants in its `Sandbox-Secret` header (None without control)."""
        return self.app.control_secret

    def start(
        self, port: int = 0, *, idle_timeout: float | None = None, max_connections: int | None = None
    ) -> str:
        """Serve on 127.0.0.1 in a background thread; returns (and sets) `url`.

        `idle_timeout` (seconds a socket may stay silent) and `max_connections` (served at once)
        default to `gl_rollout.sandbox.server`'s IDLE_TIMEOUT and MAX_CONNECTIONS.
        """
        from gl_rollout.sandbox.server import IDLE_TIMEOUT, MAX_CONNECTIONS, ServerThread

        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._server = ServerThread(
            self.app,
            port,
            idle_timeout=IDLE_TIMEOUT if idle_timeout is None else idle_timeout,
            max_connections=MAX_CONNECTIONS if max_connections is None else max_connections,
        )
        self._server.start()
        self.url = self._server.url
        return self._server.url  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        self.store.close()

    @contextmanager
    def serve(
        self, port: int = 0, *, idle_timeout: float | None = None, max_connections: int | None = None
    ) -> Iterator[str]:
        url = self.start(port, idle_timeout=idle_timeout, max_connections=max_connections)
        try:
            yield url
        finally:
            self.stop()

    @property
    def api_url(self) -> str:
        if self.url is None:
            raise RuntimeError("sandbox not started")
        return f"{self.url}/api/v4"

    # ---- knobs --------------------------------------------------------------------------------
    def rate_limit(self, limit_per_minute: int | None, period: float = 60.0) -> None:
        """Throttle each client to `limit_per_minute` requests per `period` seconds (None lifts it)."""
        self.app.limiter = None if limit_per_minute is None else RateLimiter(limit_per_minute, period)

    @property
    def request_log(self) -> list[LoggedRequest]:
        return self._log.snapshot()

    def clear_log(self) -> None:
        self._log.clear()

    def wait_for_requests(self, done: Callable[[list[LoggedRequest]], bool], timeout: float = 10.0) -> bool:
        """Wait until the request log satisfies `done` (woken by each logged request, no polling), at most
        `timeout` seconds; whether it does. For tests waiting on a request the server is still handling."""
        return self._log.wait_for(done, timeout)

    # ---- state helpers for tests and benchmarks -----------------------------------------------
    def _project(self, project: str | int | None) -> dict[str, Any]:
        row = self.store.project_by_ref(self.project_path if project is None else project)
        if row is None:
            raise KeyError(f"no project {project!r}")
        return row

    def _user(self, role_or_username: str) -> dict[str, Any]:
        row = self.store.user_by_username(_ROLE_USERS.get(role_or_username, role_or_username))
        if row is None:
            raise KeyError(f"no user {role_or_username!r}")
        return row

    def create_issue(
        self,
        project: str | int | None = None,
        title: str = "Issue",
        description: str = "",
        labels: Sequence[str] = (),
        author: str = "developer",
        **fields: Any,
    ) -> dict[str, Any]:
        """Create an issue as the API would (quick actions, labels) and return its API entity.

        `fields` takes the API's create parameters; `state_event="close"` creates it closed, a
        shortcut for tests that the API itself does not offer.
        """
        from gl_rollout.sandbox import service

        row = self._project(project)
        params = {"title": title, "description": description, "labels": list(labels), **fields}
        issue = service.create_issue(self.store, row, self._user(author), params)
        return self._issue_entity(issue)

    def create_label(self, name: str, project: str | int | None = None) -> dict[str, Any]:
        """Create a project label (quick actions such as `/label ~name` only apply existing labels)."""
        from gl_rollout.sandbox import entities

        row = self.store.ensure_labels(self._project(project)["id"], [name])[0]
        return entities.label_entity(row)

    def edit_issue(
        self, project: str | int | None, iid: int, author: str = "alice", **params: Any
    ) -> dict[str, Any]:
        """Edit an issue as another person would (system notes included)."""
        from gl_rollout.sandbox import service

        row = self._project(project)
        issue = self.store.issue(row["id"], iid)
        if issue is None:
            raise KeyError(f"no issue {iid} in {row['full_path']}")
        updated = service.update_issue(self.store, row, issue, self._user(author), params)
        return self._issue_entity(updated)

    def add_note(
        self, project: str | int | None, iid: int, body: str, author: str = "alice"
    ) -> dict[str, Any]:
        from gl_rollout.sandbox import entities, service

        row = self._project(project)
        issue = self.store.issue(row["id"], iid)
        if issue is None:
            raise KeyError(f"no issue {iid} in {row['full_path']}")
        outcome = service.create_note(self.store, row, issue, self._user(author), body)
        if outcome.note is None:
            return {"commands_changes": outcome.commands_changes, "summary": outcome.summary}
        return entities.note_entity(self.store, outcome.note, issue, self._base())

    def get_issue(self, project: str | int | None, iid: int) -> dict[str, Any]:
        row = self._project(project)
        issue = self.store.issue(row["id"], iid)
        if issue is None:
            raise KeyError(f"no issue {iid} in {row['full_path']}")
        return self._issue_entity(issue)

    def notes(self, project: str | int | None, iid: int) -> list[dict[str, Any]]:
        """Every note of the issue, oldest first (system notes included)."""
        from gl_rollout.sandbox import entities

        row = self._project(project)
        issue = self.store.issue(row["id"], iid)
        if issue is None:
            raise KeyError(f"no issue {iid} in {row['full_path']}")
        return [
            entities.note_entity(self.store, n, issue, self._base()) for n in self.store.notes_of(issue["id"])
        ]

    def features(self) -> dict[str, dict[str, Any]]:
        """Feature name -> its API entity."""
        from gl_rollout.sandbox.features import feature_entity

        return {row["name"]: feature_entity(row["name"], row["gates"]) for row in self.store.features()}

    # ---- project feature flags ----------------------------------------------------------------
    @property
    def project_feature_flags_limit(self) -> int:
        """How many feature flags one project may hold (GitLab's `project_feature_flags` plan limit)."""
        from gl_rollout.sandbox.flag_store import flag_limit

        return flag_limit(self.store)

    @project_feature_flags_limit.setter
    def project_feature_flags_limit(self, limit: int | str) -> None:
        from gl_rollout.sandbox.flag_store import set_flag_limit

        set_flag_limit(self.store, limit)

    def unleash_url(self, project: str | int | None = None) -> str:
        """The URL an Unleash client is given for the project's flags (GitLab's "API URL")."""
        return f"{self.api_url}/feature_flags/unleash/{self._project(project)['id']}"

    def unleash_instance_id(self, project: str | int | None = None) -> str:
        """The project's instance ID, which Unleash clients send as `UNLEASH-INSTANCEID`."""
        from gl_rollout.sandbox.unleash import instance_id

        return instance_id(self.store, self._project(project)["id"])

    def reset_unleash_instance_id(self, project: str | int | None = None) -> str:
        """Regenerate the project's instance ID, as GitLab's button does; the old one gets 401."""
        from gl_rollout.sandbox.unleash import reset_instance_id

        return reset_instance_id(self.store, self._project(project)["id"])

    def project_flags(self, project: str | int | None = None) -> dict[str, dict[str, Any]]:
        """Flag name -> its API entity, for the project's feature flags."""
        from gl_rollout.sandbox.flag_store import flag_entity, flags_of, strategies_of

        rows = flags_of(self.store, self._project(project)["id"])
        strategies = strategies_of(self.store, [row["id"] for row in rows])
        return {row["name"]: flag_entity(row, strategies[row["id"]]) for row in rows}

    def create_project_flag(
        self, name: str, project: str | int | None = None, **params: Any
    ) -> dict[str, Any]:
        """Create a project feature flag as the API would (`params` as POST takes them); its entity."""
        from gl_rollout.sandbox import flag_model

        return flag_model.create_flag(self.store, self._project(project), {"name": name, **params})

    def edit_project_flag(self, name: str, project: str | int | None = None, **params: Any) -> dict[str, Any]:
        """Change a flag as a person would in GitLab's UI (`params` as PUT takes them); its entity."""
        from gl_rollout.sandbox import flag_model
        from gl_rollout.sandbox.flag_store import flag_by_name

        row = self._project(project)
        flag = flag_by_name(self.store, row["id"], name)
        if flag is None:
            raise KeyError(f"no feature flag {name!r} in {row['full_path']}")
        return flag_model.update_flag(self.store, row, flag, params)

    def create_user_list(self, name: str, user_xids: str, project: str | int | None = None) -> dict[str, Any]:
        """Create a feature flag user list; its entity (`id` for strategies, `iid` for URLs)."""
        from gl_rollout.sandbox.flag_store import user_list_entity
        from gl_rollout.sandbox.user_lists import create_user_list

        row = self._project(project)
        return user_list_entity(create_user_list(self.store, row, name, user_xids), row)

    @property
    def issue_figure(self) -> IssueFigure | None:
        """What an issue's web page draws under its description (`gl_rollout.sandbox.web.IssueFigure`):
        None, as GitLab, unless the tool that started the sandbox sets one."""
        return self.app.issue_figure

    @issue_figure.setter
    def issue_figure(self, figure: IssueFigure | None) -> None:
        self.app.issue_figure = figure

    # ---- the clock, deploy freezes, incidents (issue 15) --------------------------------------
    def now(self) -> dt.datetime:
        """The sandbox clock: what its `Date` header says and its next timestamp will be (UTC)."""
        return dt.datetime.fromtimestamp(self.store.clock_ms() / 1000, tz=dt.UTC)

    def advance_clock(self, seconds: float) -> dt.datetime:
        """Move the sandbox clock forward by `seconds` (never back); returns the new `now()`."""
        self.store.advance_clock(seconds)
        return self.now()

    def add_freeze_period(
        self,
        freeze_start: str,
        freeze_end: str,
        cron_timezone: str = "UTC",
        project: str | int | None = None,
    ) -> dict[str, Any]:
        """A deploy freeze as a Maintainer would create it (ValueError for what GitLab would refuse)."""
        from gl_rollout.sandbox import freeze_periods

        freeze_periods.check_values(freeze_start, freeze_end, cron_timezone)
        row = freeze_periods.add_freeze_period(
            self.store,
            self._project(project)["id"],
            freeze_start=freeze_start,
            freeze_end=freeze_end,
            cron_timezone=cron_timezone,
        )
        return freeze_periods.freeze_period_entity(row)

    def add_incident(
        self,
        title: str = "Incident",
        labels: Sequence[str] = ("severity::2",),
        project: str | int | None = None,
        *,
        closed: bool = False,
        author: str = "developer",
    ) -> dict[str, Any]:
        """An incident (an issue of type `incident`) with `labels`, open unless `closed`; its entity."""
        for label in labels:
            self.create_label(label, project)
        fields: dict[str, Any] = {"issue_type": "incident"}
        if closed:
            fields["state_event"] = "close"
        return self.create_issue(project, title, "", labels, author, **fields)

    def set_environments(self, names: Sequence[str], project: str | int | None = None) -> None:
        """The project's environments, as `GET /projects/:id/environments` lists them (default: staging,
        production)."""
        from gl_rollout.sandbox.environments import set_environment_names

        set_environment_names(self.store, self._project(project)["id"], list(names))

    def create_merge_request(
        self,
        files: Mapping[str, str],
        *,
        project: str | int | None = None,
        title: str = "Add feature flags",
        source_branch: str = "add-feature-flags",
        edited: Mapping[str, tuple[str, str]] | None = None,
        closes: Sequence[int] = (),
        collapsed: Sequence[str] = (),
        author: str = "developer",
    ) -> dict[str, Any]:
        """An open merge request whose source branch adds `files` (path -> text) and edits `edited`
        (path -> (old, new)), closing the project's issues `closes` (IIDs); paths in `collapsed` get an
        empty, collapsed diff. Returns its API entity."""
        from gl_rollout.sandbox import merge_requests

        row = self._project(project)
        issues = [self.store.issue(row["id"], iid) for iid in closes]
        if any(issue is None for issue in issues):
            raise KeyError(f"no issue among {list(closes)} in {row['full_path']}")
        mr = merge_requests.seed(
            self.store, row, self._user(author), title=title, source_branch=source_branch, files=files,
            edited=edited, closes=[issue for issue in issues if issue is not None], collapsed=collapsed,
        )  # fmt: skip
        return merge_requests.mr_entity(self.store, mr, row, self._base())

    def add_merge_request_note(
        self, iid: int, body: str, author: str = "alice", project: str | int | None = None
    ) -> int:
        """A comment by `author` on the MR, as `POST .../merge_requests/:iid/notes` stores it; its id."""
        row = self._project(project)
        mr = self.store.one(
            "SELECT id FROM merge_requests WHERE project_id = ? AND iid = ?", (row["id"], iid)
        )
        if mr is None:
            raise KeyError(f"no merge request !{iid} in {row['full_path']}")
        now = self.store.now_ms()
        note_id = self.store.execute(
            "INSERT INTO mr_notes (mr_id, author_id, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            (mr["id"], self._user(author)["id"], body, now, now),
        )
        return int(note_id)

    def merge_request_notes(self, iid: int, project: str | int | None = None) -> list[str]:
        """The bodies of the MR's comments, oldest first."""
        row = self._project(project)
        mr = self.store.one(
            "SELECT id FROM merge_requests WHERE project_id = ? AND iid = ?", (row["id"], iid)
        )
        if mr is None:
            raise KeyError(f"no merge request !{iid} in {row['full_path']}")
        return [
            n["body"]
            for n in self.store.all("SELECT body FROM mr_notes WHERE mr_id = ? ORDER BY id", (mr["id"],))
        ]

    def issue_links(self, iid: int, project: str | int | None = None) -> list[str]:
        """The references of the issues linked to the issue (`group/project#IID`)."""
        row = self._project(project)
        issue = self.store.issue(row["id"], iid)
        if issue is None:
            raise KeyError(f"no issue {iid} in {row['full_path']}")
        found = []
        for link in self.store.all(
            "SELECT * FROM issue_links WHERE source_id = ? OR target_id = ?", (issue["id"], issue["id"])
        ):
            other = self.store.issue_by_id(
                link["target_id"] if link["source_id"] == issue["id"] else link["source_id"]
            )
            other_project = self.store.project(other["project_id"]) if other else None
            if other is not None and other_project is not None:
                found.append(f"{other_project['full_path']}#{other['iid']}")
        return found

    def count_issues(
        self, project: str | int | None = None, state: str | None = None, title: str | None = None
    ) -> int:
        row = self._project(project)
        sql = "SELECT COUNT(*) AS n FROM issues WHERE project_id = ?"
        args: list[Any] = [row["id"]]
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        if title is not None:
            sql += " AND title = ?"
            args.append(title)
        found = self.store.one(sql, args)
        return int(found["n"]) if found else 0

    def _base(self) -> str:
        return self.url or "http://127.0.0.1"

    def _issue_entity(self, issue: dict[str, Any]) -> dict[str, Any]:
        from gl_rollout.sandbox import entities

        return entities.issue_entity(self.store, issue, self._base(), single=True)
