"""The sandbox's state in SQLite: users, tokens, groups, projects, labels, issues, notes, resource events,
award emoji on notes, features, and project feature flags (`ff_*`: flags, strategies, scopes, user lists,
Unleash client tokens).

One connection shared by the server's threads, guarded by a re-entrant lock (SQLite objects are not
safe to share across threads otherwise). Rows come back as plain dicts; the HTTP shapes live in
`entities.py`. Times are integer milliseconds since the epoch, made strictly increasing so that
`updated_at` ordering and `updated_after` filters behave deterministically.
"""

# ruff: noqa: S608  SQL text is built only from our own column names and "?" marks; values are bound
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.mr_seed import seed_demo

if TYPE_CHECKING:
    from gl_rollout.sandbox.quirks import Quirks

Row = dict[str, Any]

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT 'active');
CREATE TABLE IF NOT EXISTS tokens (
  token TEXT PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL,
  scopes TEXT NOT NULL, project_id INTEGER);
CREATE TABLE IF NOT EXISTS namespaces (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, full_path TEXT NOT NULL UNIQUE,
  parent_id INTEGER, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL, namespace_id INTEGER NOT NULL,
  full_path TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (
  source_kind TEXT NOT NULL, source_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  access_level INTEGER NOT NULL, PRIMARY KEY (source_kind, source_id, user_id));
CREATE TABLE IF NOT EXISTS labels (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, name TEXT NOT NULL, color TEXT NOT NULL,
  description TEXT, UNIQUE (project_id, name));
CREATE TABLE IF NOT EXISTS milestones (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, iid INTEGER NOT NULL, title TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active', created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS issues (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, iid INTEGER NOT NULL, title TEXT NOT NULL,
  description TEXT, state TEXT NOT NULL DEFAULT 'opened', author_id INTEGER NOT NULL,
  assignee_ids TEXT NOT NULL DEFAULT '[]', labels TEXT NOT NULL DEFAULT '[]', milestone_id INTEGER,
  due_date TEXT, confidential INTEGER NOT NULL DEFAULT 0, discussion_locked INTEGER,
  issue_type TEXT NOT NULL DEFAULT 'issue', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  closed_at INTEGER, closed_by_id INTEGER, updated_by_id INTEGER, lock_version INTEGER NOT NULL DEFAULT 0,
  UNIQUE (project_id, iid));
CREATE INDEX IF NOT EXISTS issues_project_created ON issues (project_id, created_at);
CREATE INDEX IF NOT EXISTS issues_project_updated ON issues (project_id, updated_at);
CREATE TABLE IF NOT EXISTS notes (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, issue_id INTEGER NOT NULL,
  author_id INTEGER NOT NULL, body TEXT NOT NULL, system INTEGER NOT NULL DEFAULT 0,
  internal INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS notes_issue ON notes (issue_id, created_at);
CREATE TABLE IF NOT EXISTS features (name TEXT PRIMARY KEY, gates TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ff_flags (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, name TEXT NOT NULL, description TEXT,
  active INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  UNIQUE (project_id, name));
CREATE TABLE IF NOT EXISTS ff_strategies (
  id INTEGER PRIMARY KEY, flag_id INTEGER NOT NULL, name TEXT NOT NULL, parameters TEXT NOT NULL,
  user_list_id INTEGER);
CREATE INDEX IF NOT EXISTS ff_strategies_flag ON ff_strategies (flag_id);
CREATE TABLE IF NOT EXISTS ff_scopes (
  id INTEGER PRIMARY KEY, strategy_id INTEGER NOT NULL, environment_scope TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ff_scopes_strategy ON ff_scopes (strategy_id);
CREATE TABLE IF NOT EXISTS ff_user_lists (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, iid INTEGER NOT NULL, name TEXT NOT NULL,
  user_xids TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  UNIQUE (project_id, iid));
CREATE TABLE IF NOT EXISTS ff_clients (project_id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS freeze_periods (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, freeze_start TEXT NOT NULL, freeze_end TEXT NOT NULL,
  cron_timezone TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS resource_events (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, issue_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL, label_id INTEGER, milestone_id INTEGER, action TEXT, state TEXT);
CREATE INDEX IF NOT EXISTS resource_events_issue ON resource_events (issue_id, kind, id);
CREATE TABLE IF NOT EXISTS award_emoji (
  id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL, user_id INTEGER NOT NULL, name TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE (note_id, user_id, name));
-- merge requests (`create --from-mr`): the MR, its changed files, the issues it closes, its notes;
-- the files of its source branch; links between issues
CREATE TABLE IF NOT EXISTS merge_requests (
  id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, iid INTEGER NOT NULL, title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'opened', source_branch TEXT NOT NULL,
  target_branch TEXT NOT NULL, sha TEXT NOT NULL, author_id INTEGER NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, UNIQUE (project_id, iid));
CREATE TABLE IF NOT EXISTS mr_files (
  mr_id INTEGER NOT NULL, position INTEGER NOT NULL, old_path TEXT NOT NULL, new_path TEXT NOT NULL,
  a_mode TEXT NOT NULL, b_mode TEXT NOT NULL, new_file INTEGER NOT NULL, renamed_file INTEGER NOT NULL,
  deleted_file INTEGER NOT NULL, diff TEXT NOT NULL, collapsed INTEGER NOT NULL DEFAULT 0,
  too_large INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (mr_id, position));
CREATE TABLE IF NOT EXISTS mr_closes (mr_id INTEGER NOT NULL, issue_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mr_notes (
  id INTEGER PRIMARY KEY, mr_id INTEGER NOT NULL, author_id INTEGER NOT NULL, body TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS repo_files (
  project_id INTEGER NOT NULL, ref TEXT NOT NULL, path TEXT NOT NULL, content TEXT NOT NULL,
  PRIMARY KEY (project_id, ref, path));
CREATE TABLE IF NOT EXISTS issue_links (
  id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, target_id INTEGER NOT NULL, link_type TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
"""

# Stable demo tokens: the sandbox is a local toy, and documented values let people paste them.
DEMO_TOKENS = {
    "admin": "glpat-sandbox-admin-token",
    "developer": "glpat-sandbox-developer-token",
    "reporter": "glpat-sandbox-reporter-token",
    "job": "glcbt-sandbox-job-token",
}
PROJECT_PATH = "acme/platform/rollouts"
SECOND_PROJECT_PATH = "acme/website"
GROUP_PATHS = ("acme", "acme/platform")
SEEDED_LABEL = "feature flag"
PROJECT_ID = 42
SECOND_PROJECT_ID = 43
# Issue IDs are instance-wide and start far above any IID, as on a GitLab that has seen other projects:
# a client that mixes up `id` and `iid` then asks for an issue that does not exist.
FIRST_ISSUE_ID = 1001


def _seed(db: sqlite3.Connection, now: int) -> None:
    users = [
        (1, "root", "Administrator", 1),
        (2, "dev", "Dana Developer", 0),
        (3, "reporter", "Rita Reporter", 0),
        (4, "alice", "Alice Editor", 0),
    ]
    db.executemany("INSERT INTO users (id, username, name, is_admin) VALUES (?, ?, ?, ?)", users)
    db.executemany(
        "INSERT INTO tokens (token, user_id, kind, scopes, project_id) VALUES (?, ?, ?, ?, ?)",
        [
            (DEMO_TOKENS["admin"], 1, "personal", "api", None),
            (DEMO_TOKENS["developer"], 2, "personal", "api", None),
            # "read-only reporter": a Reporter whose token has only the read_api scope.
            (DEMO_TOKENS["reporter"], 3, "personal", "read_api", None),
            # A CI job of the seeded project, running as the developer.
            (DEMO_TOKENS["job"], 2, "job", "api", PROJECT_ID),
        ],
    )
    db.executemany(
        "INSERT INTO namespaces (id, name, path, full_path, parent_id, kind) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (10, "Acme", "acme", "acme", None, "group"),
            (11, "Platform", "platform", "acme/platform", 10, "group"),
        ],
    )
    db.executemany(
        "INSERT INTO projects (id, name, path, namespace_id, full_path, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (PROJECT_ID, "Rollouts", "rollouts", 11, PROJECT_PATH, now),
            (SECOND_PROJECT_ID, "Website", "website", 10, SECOND_PROJECT_PATH, now),
        ],
    )
    db.executemany(
        "INSERT INTO members (source_kind, source_id, user_id, access_level) VALUES (?, ?, ?, ?)",
        [("group", 10, 2, DEVELOPER), ("group", 10, 3, REPORTER), ("group", 10, 4, DEVELOPER)],
    )
    db.execute(
        "INSERT INTO milestones (id, project_id, iid, title, created_at) VALUES (1, ?, 1, '17.0', ?)",
        (PROJECT_ID, now),
    )
    # Real rollout projects carry this label; quick actions only apply labels that already exist.
    db.executemany(
        "INSERT INTO labels (project_id, name, color, description) VALUES (?, ?, ?, ?)",
        [
            (PROJECT_ID, SEEDED_LABEL, "#6699cc", "Feature flag rollouts"),
            (SECOND_PROJECT_ID, SEEDED_LABEL, "#6699cc", "Feature flag rollouts"),
        ],
    )
    seed_demo(db, PROJECT_ID, 2, now)


class NotASandboxDatabase(sqlite3.DatabaseError):
    """The file is an SQLite database, but not one the sandbox made: it is left untouched."""


class SandboxDatabaseLocked(sqlite3.OperationalError):
    """Another process holds a lock on the file for longer than the sandbox waits (SQLite's busy)."""


def is_locked(error: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection's lock ("database is locked")."""
    code = getattr(error, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(error).lower()


class Store:
    """SQLite-backed state with the few queries the API needs; every public method holds the lock."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        target = ":memory:" if db_path is None else str(db_path)
        if db_path is not None:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._last_ms = 0
        self._clock_offset_ms = 0  # how far the sandbox's clock runs ahead of this machine's (advance_clock)
        self._user_cache: dict[int, Row] = {}
        # The sandbox's quirks, for the writes that depend on the GitLab version played (`events.py`).
        self.quirks: Quirks | None = None
        try:
            self._open(persistent=db_path is not None)
        except sqlite3.Error as error:
            self.db.close()
            if isinstance(error, sqlite3.OperationalError) and is_locked(error):
                raise SandboxDatabaseLocked(f"{target} is locked by another process") from None
            raise

    def _open(self, *, persistent: bool) -> None:
        """Create the schema and seed a new database; refuse a file that holds something else.

        sqlite3.DatabaseError when the file is not an SQLite database, NotASandboxDatabase when it is
        one with other tables (it is never changed then).
        """
        self.db.row_factory = sqlite3.Row
        tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "meta" not in tables:
            raise NotASandboxDatabase("it holds the tables of something else")
        if persistent:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)  # executescript commits on its own, so it stays outside BEGIN
        with self.transaction():
            seeded = self.db.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
            if seeded is None:
                _seed(self.db, self.now_ms())
                self.db.execute("INSERT INTO meta (key, value) VALUES ('seeded', '1')")
            offset = self.db.execute("SELECT value FROM meta WHERE key = 'clock_offset_ms'").fetchone()
            self._clock_offset_ms = int(offset[0]) if offset is not None else 0

    def meta(self, key: str) -> str | None:
        """A value kept beside the state (sandbox settings, id sequences), so a served file keeps it."""
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested uses join the outer one."""
        with self.lock:
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def now_ms(self) -> int:
        """The sandbox clock's milliseconds, strictly increasing across calls."""
        with self.lock:
            self._last_ms = max(self.clock_ms(), self._last_ms + 1)
            return self._last_ms

    def clock_ms(self) -> int:
        """The sandbox clock (this machine's, moved forward by `advance_clock`), for the `Date` header."""
        return int(time.time() * 1000) + self._clock_offset_ms

    @property
    def clock_offset_ms(self) -> int:
        return self._clock_offset_ms

    def advance_clock(self, seconds: float) -> int:
        """Move the sandbox clock forward (never back: stored times stay in order); returns its new ms.
        Kept in `meta`, so a sandbox served from a file keeps its clock."""
        if not 0 <= seconds <= 10 * 366 * 86400:
            raise ValueError("the sandbox clock only moves forward: give 0 to 10 years of seconds")
        with self.lock:
            self._clock_offset_ms += round(seconds * 1000)
            self.set_meta("clock_offset_ms", str(self._clock_offset_ms))
            return self.clock_ms()

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.lock:
            row = self.db.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, params).fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write; returns lastrowid."""
        with self.lock:
            return int(self.db.execute(sql, params).lastrowid or 0)

    # ---- users, tokens, members -------------------------------------------------------------
    def user(self, user_id: int) -> Row | None:
        cached = self._user_cache.get(user_id)
        if cached is None:
            cached = self.one("SELECT * FROM users WHERE id = ?", (user_id,))
            if cached is not None:
                self._user_cache[user_id] = cached
        return cached

    def user_by_username(self, username: str) -> Row | None:
        return self.one("SELECT * FROM users WHERE lower(username) = lower(?)", (username,))

    def token(self, value: str) -> Row | None:
        return self.one("SELECT * FROM tokens WHERE token = ?", (value,))

    def access_level(self, user: Row, project: Row) -> int:
        """The user's highest role on the project, through the project or any ancestor group."""
        if user["is_admin"]:
            return OWNER
        sources = [("project", project["id"])] + [("group", ns_id) for ns_id in self.ancestors(project)]
        level = 0
        for kind, source_id in sources:
            row = self.one(
                "SELECT access_level FROM members WHERE source_kind = ? AND source_id = ? AND user_id = ?",
                (kind, source_id, user["id"]),
            )
            if row is not None:
                level = max(level, int(row["access_level"]))
        return level

    def group_access_level(self, user: Row, group: Row) -> int:
        if user["is_admin"]:
            return OWNER
        level = 0
        ns_id: int | None = group["id"]
        while ns_id is not None:
            row = self.one(
                "SELECT access_level FROM members WHERE source_kind = 'group' AND source_id = ? "
                "AND user_id = ?",
                (ns_id, user["id"]),
            )
            if row is not None:
                level = max(level, int(row["access_level"]))
            parent = self.namespace(ns_id)
            ns_id = parent["parent_id"] if parent else None
        return level

    # ---- namespaces and projects ------------------------------------------------------------
    def namespace(self, ns_id: int) -> Row | None:
        return self.one("SELECT * FROM namespaces WHERE id = ?", (ns_id,))

    def group_by_ref(self, ref: str) -> Row | None:
        if ref.isdigit():
            return self.one("SELECT * FROM namespaces WHERE id = ? AND kind = 'group'", (int(ref),))
        return self.one(
            "SELECT * FROM namespaces WHERE lower(full_path) = lower(?) AND kind = 'group'", (ref,)
        )

    def ancestors(self, project: Row) -> list[int]:
        ids: list[int] = []
        ns_id: int | None = project["namespace_id"]
        while ns_id is not None:
            ids.append(ns_id)
            ns = self.namespace(ns_id)
            ns_id = ns["parent_id"] if ns else None
        return ids

    def descendant_group_ids(self, group_id: int) -> list[int]:
        ids = [group_id]
        frontier = [group_id]
        while frontier:
            children = self.all(
                f"SELECT id FROM namespaces WHERE parent_id IN ({','.join('?' * len(frontier))})",
                frontier,
            )
            frontier = [child["id"] for child in children]
            ids.extend(frontier)
        return ids

    def project(self, project_id: int) -> Row | None:
        return self.one("SELECT * FROM projects WHERE id = ?", (project_id,))

    def project_by_ref(self, ref: str | int) -> Row | None:
        """A project by numeric id or by full path (case-insensitive, as GitLab routes are)."""
        text = str(ref)
        if text.isdigit():
            return self.project(int(text))
        return self.one("SELECT * FROM projects WHERE lower(full_path) = lower(?)", (text,))

    # ---- labels and milestones --------------------------------------------------------------
    def labels(self, project_id: int) -> list[Row]:
        return self.all("SELECT * FROM labels WHERE project_id = ? ORDER BY lower(name)", (project_id,))

    def label(self, project_id: int, name: str) -> Row | None:
        return self.one("SELECT * FROM labels WHERE project_id = ? AND name = ?", (project_id, name))

    def ensure_labels(self, project_id: int, names: Sequence[str]) -> list[Row]:
        """Find each label by name, creating missing ones as GitLab does for issue labels."""
        rows: list[Row] = []
        with self.transaction():
            for name in names:
                row = self.label(project_id, name)
                if row is None:
                    color = _label_colour(name)
                    label_id = self.execute(
                        "INSERT INTO labels (project_id, name, color) VALUES (?, ?, ?)",
                        (project_id, name, color),
                    )
                    row = {
                        "id": label_id,
                        "project_id": project_id,
                        "name": name,
                        "color": color,
                        "description": None,
                    }
                rows.append(row)
        return rows

    def milestone(self, milestone_id: int) -> Row | None:
        return self.one("SELECT * FROM milestones WHERE id = ?", (milestone_id,))

    # ---- issues -----------------------------------------------------------------------------
    def issue(self, project_id: int, iid: int) -> Row | None:
        return self.one("SELECT * FROM issues WHERE project_id = ? AND iid = ?", (project_id, iid))

    def issue_by_id(self, issue_id: int) -> Row | None:
        return self.one("SELECT * FROM issues WHERE id = ?", (issue_id,))

    def insert_issue(self, fields: Row) -> Row:
        with self.transaction():
            row = self.one(
                "SELECT COALESCE(MAX(iid), 0) + 1 AS iid FROM issues WHERE project_id = ?",
                (fields["project_id"],),
            )
            iid = fields.get("iid") or (row["iid"] if row else 1)
            top = self.one("SELECT COALESCE(MAX(id), ?) + 1 AS id FROM issues", (FIRST_ISSUE_ID - 1,))
            values = dict(fields, iid=iid, id=top["id"] if top else FIRST_ISSUE_ID)
            values.setdefault("assignee_ids", [])
            values.setdefault("labels", [])
            values["assignee_ids"] = json.dumps(values["assignee_ids"])
            values["labels"] = json.dumps(values["labels"])
            columns = ", ".join(values)
            marks = ", ".join("?" * len(values))
            issue_id = self.execute(f"INSERT INTO issues ({columns}) VALUES ({marks})", list(values.values()))
        issue = self.issue_by_id(issue_id)
        assert issue is not None
        return issue

    def update_issue(self, issue_id: int, changes: Row) -> None:
        if not changes:
            return
        values = dict(changes)
        for key in ("assignee_ids", "labels"):
            if key in values:
                values[key] = json.dumps(values[key])
        assignments = ", ".join(f"{key} = ?" for key in values)
        self.execute(
            f"UPDATE issues SET {assignments}, lock_version = lock_version + 1 WHERE id = ?",
            [*values.values(), issue_id],
        )

    def user_notes_count(self, issue_id: int) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM notes WHERE issue_id = ? AND system = 0", (issue_id,))
        return int(row["n"]) if row else 0

    # ---- notes ------------------------------------------------------------------------------
    def insert_note(
        self,
        issue: Row,
        author_id: int,
        body: str,
        *,
        system: bool = False,
        internal: bool = False,
        at: int | None = None,
    ) -> Row:
        when = at if at is not None else self.now_ms()
        note_id = self.execute(
            "INSERT INTO notes (project_id, issue_id, author_id, body, system, internal, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (issue["project_id"], issue["id"], author_id, body, int(system), int(internal), when, when),
        )
        note = self.note(note_id)
        assert note is not None
        return note

    def note(self, note_id: int) -> Row | None:
        return self.one("SELECT * FROM notes WHERE id = ?", (note_id,))

    def notes_of(self, issue_id: int) -> list[Row]:
        return self.all("SELECT * FROM notes WHERE issue_id = ? ORDER BY created_at, id", (issue_id,))

    # ---- features ---------------------------------------------------------------------------
    def features(self) -> list[Row]:
        rows = self.all("SELECT * FROM features ORDER BY name")
        return [{"name": row["name"], "gates": json.loads(row["gates"])} for row in rows]

    def feature(self, name: str) -> Row | None:
        row = self.one("SELECT * FROM features WHERE name = ?", (name,))
        return {"name": row["name"], "gates": json.loads(row["gates"])} if row else None

    def save_feature(self, name: str, gates: Row) -> None:
        self.execute(
            "INSERT INTO features (name, gates) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET gates = excluded.gates",
            (name, json.dumps(gates)),
        )

    def delete_feature(self, name: str) -> None:
        self.execute("DELETE FROM features WHERE name = ?", (name,))


def _label_colour(name: str) -> str:
    """A stable colour per label name, like GitLab's palette pick but deterministic."""
    palette = ("#6699cc", "#009966", "#8fbc8f", "#dc143c", "#ed9121", "#9400d3", "#cd5b45", "#428bca")
    return palette[sum(name.encode()) % len(palette)]


def decode_list(value: str | None) -> list[Any]:
    return list(json.loads(value)) if value else []
