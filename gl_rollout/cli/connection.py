"""Opening a GitLab client as the global options say: a real GitLab, or the embedded sandbox.

Where the URL, the token and the project come from is `gl_rollout.gitlab.connection`; this module connects
(`gl_rollout.gitlab.client`, imported when a client is opened), starts or opens the sandbox (the only
module outside `gl_rollout.sandbox` that imports it), and hands every connection's `Secrets` to the
options the printer masks with, and its warnings to stderr.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gl_rollout.core.refs import IssueRef, parse_issue_ref
from gl_rollout.errors import GitLabError, Secrets, UsageError
from gl_rollout.gitlab.connection import (
    Connection,
    ConnectionOptions,
    admin_connection,
    find_project,
    normalise_project,
    resolve_connection,
    retry_from_env,
)

if TYPE_CHECKING:
    from gl_rollout.core.model import Issue
    from gl_rollout.gitlab.api import GitLabAPI
    from gl_rollout.gitlab.retry import RateLimiter, RetryPolicy
    from gl_rollout.sandbox import Sandbox
    from gl_rollout.sandbox.server import ServerThread
    from gl_rollout.sandbox.web import IssueSeen

ADMIN_TOKEN_ENV = "GITLAB_ADMIN_TOKEN"
DEFAULT_REQUESTS_PER_MINUTE = 2000.0  # GitLab.com: authenticated API requests per user
DEFAULT_NOTES_PER_MINUTE = 60.0  # GitLab.com: note creation on issues


class ClientOptions(ConnectionOptions, Protocol):
    """Options `open_client` also needs: sandbox mode, the per-request timeout, and the secrets the
    printer masks (each connection's are added to them)."""

    secrets: Secrets

    def warn(self, text: str) -> None: ...
    @property
    def sandbox(self) -> bool: ...
    @property
    def sandbox_db(self) -> Path | None: ...
    @property
    def timeout(self) -> float: ...

    # Set when `--sandbox` ran on a sandbox of its own that closes with the command: the printer then
    # shows its links as paths and says how to serve them (`sandbox serve`).
    unserved_origin: str | None


@dataclass(frozen=True)
class Client:
    """A connected GitLab API plus what the command line said about the project and issue.

    `project_path` and `issue_ref` are already defaulted (`CI_PROJECT_PATH`, or the sandbox's seeded
    project in `--sandbox` mode); `project` and `issue` raise UsageError when the command needs one
    and none was given.
    """

    api: GitLabAPI
    connection: Connection
    project_path: str | None
    issue_ref: IssueRef | None
    sandbox_admin_token: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    options: ClientOptions | None = field(default=None, repr=False, compare=False)
    unleash: Unleash | None = None  # the sandbox's Unleash API for its seeded project (--sandbox only)

    @property
    def project(self) -> str:
        if self.project_path is None:
            raise UsageError(
                "no project: pass --project or set CI_PROJECT_PATH", "for example --project group/project"
            )
        return self.project_path

    @property
    def issue(self) -> IssueRef:
        if self.issue_ref is None:
            raise UsageError("no issue reference given", "for example group/project#42")
        return self.issue_ref

    def admin_api(
        self,
        target_url: str | None = None,
        token_env: str = ADMIN_TOKEN_ENV,
        *,
        source: str = "--target-url",
    ) -> GitLabAPI:
        """A second client for the Features API, with an administrator's token from `token_env`.

        In sandbox mode the target is the sandbox itself and its seeded admin token is used.
        `target_url` (named `source` in errors) defaults to this client's URL. The CA bundle is shared.
        """
        from gl_rollout.gitlab.client import connect

        if self.sandbox_admin_token is not None:
            conn = Connection(
                url=self.connection.url,
                token_kind="private",
                token=self.sandbox_admin_token,
                source="the sandbox",
                url_source="the sandbox",
            )
            return connect(conn, self.timeout)
        if self.options is None:
            raise UsageError(f"no environment to read {token_env} from")
        conn = learn(
            self.options,
            admin_connection(self.options, self.connection, target_url, token_env, source=source),
        )
        return connect(conn, self.timeout)


@dataclass(frozen=True)
class Unleash:
    """What an application's Unleash client is given for the seeded project's feature flags."""

    url: str
    instance_id: str


@dataclass(frozen=True)
class Serving:
    """A sandbox being served (`sandbox serve`): where, its seeded project and groups, its state file,
    its tokens, and the control path's secret."""

    url: str
    api_url: str
    project_path: str
    project_id: int
    second_project_path: str
    group_paths: tuple[str, ...]
    db: str
    tokens: Mapping[str, str]
    control: bool
    unleash: Unleash
    control_secret: str | None


class ServedSandbox:
    """The sandbox listening on 127.0.0.1 (`sandbox serve`): what it serves, until `close`.

    While it is open, a small file beside the state file (`serving_file`) names its URL and process, so
    that `--sandbox` commands on the same state use it (`running_serve`) and the links they print open.
    The file is written before the banner is printed and taken away on `close`; one left by a server
    that was killed names a dead process and is ignored.
    """

    def __init__(self, sandbox: Sandbox, server: ServerThread, serving: Serving) -> None:
        self._sandbox = sandbox
        self._server = server
        self.serving = serving
        self._marker = serving_file(Path(serving.db))
        # Unwritable: commands then run on a sandbox of their own, as without a server.
        with contextlib.suppress(OSError):
            self._marker.write_text(json.dumps(_marker_data(serving)) + "\n", "utf-8")

    def serve_forever(self) -> None:
        """Serve until Ctrl-C (werkzeug returns then)."""
        self._server.serve_forever()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if _read_serving(self._marker) == (self.serving.url, os.getpid()):
                self._marker.unlink()
        self._server.server.server_close()
        self._sandbox.close()


def serving_file(db_path: Path) -> Path:
    """Where a `sandbox serve` of `db_path` leaves its URL and process ID while it serves."""
    return db_path.with_name(db_path.name + ".serving.json")


def _marker_data(serving: Serving) -> dict[str, Any]:
    """What the serving file says: the server's URL and process, and its Unleash API for the seeded
    project (an instance ID is no secret of GitLab's API: any Developer sees it in the flags page)."""
    return {
        "url": serving.url,
        "pid": os.getpid(),
        "unleash_url": serving.unleash.url,
        "unleash_instance_id": serving.unleash.instance_id,
    }


def _read_serving(marker: Path) -> tuple[str, int] | None:
    try:
        data = json.loads(marker.read_text("utf-8"))
        return str(data["url"]), int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_unleash(marker: Path) -> Unleash | None:
    try:
        data = json.loads(marker.read_text("utf-8"))
        return Unleash(str(data["unleash_url"]), str(data["unleash_instance_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_serve(db_path: Path) -> tuple[str, Unleash] | None:
    """The URL and Unleash API of a `sandbox serve` running on `db_path`, else None.

    Cheap: one small file beside the database, a check that its process is alive, and a connection to
    its loopback port (no request); a file left by a server that died is taken for none.
    """
    marker = serving_file(db_path)
    found, unleash = _read_serving(marker), _read_unleash(marker)
    if found is None or unleash is None:
        return None
    url, pid = found
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # alive, but another user's: the port check decides
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.port is None:
        return None
    import socket

    try:
        with socket.create_connection(("127.0.0.1", parts.port), timeout=0.5):
            return url, unleash
    except OSError:
        return None


def serve_sandbox(db_path: Path, env: Mapping[str, str], *, port: int, control: bool) -> ServedSandbox:
    """The sandbox of `db_path` (`open_sandbox`) listening on 127.0.0.1:`port` (0: a free one).

    UsageError (exit 2) when the state file cannot be opened or the port cannot be listened on.
    """
    from gl_rollout.sandbox.server import ServerThread

    sandbox = open_sandbox(db_path, env, control=control)
    try:
        server = ServerThread(sandbox.app, port)
    except OSError as error:
        sandbox.close()
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port}: {error.strerror or error}",
            "choose another --port, or --port 0 for a free one",
        ) from None
    sandbox.url = server.url
    serving = Serving(
        url=server.url,
        api_url=f"{server.url}/api/v4",
        project_path=sandbox.project_path,
        project_id=sandbox.project_id,
        second_project_path=sandbox.second_project_path,
        group_paths=tuple(sandbox.group_paths),
        db=str(db_path),
        tokens=dict(sandbox.tokens),
        control=control,
        unleash=Unleash(sandbox.unleash_url(), sandbox.unleash_instance_id()),
        control_secret=sandbox.control_secret,
    )
    return ServedSandbox(sandbox, server, serving)


def check_sandbox_definition(options: ClientOptions, definition: Path, *, allowed: bool) -> None:
    """`--sandbox create --write-definition`: the sandbox's issue URL (a loopback address that means
    nothing elsewhere) goes only into a definition kept in the sandbox's own folder, unless `allowed`
    (`--allow-sandbox-url`). UsageError before anything is created or written."""
    if allowed or not options.sandbox:
        return
    folder = sandbox_db_path(options).resolve().parent
    target = definition.resolve()
    if target.is_relative_to(folder):
        return
    raise UsageError(
        f"will not write a sandbox issue URL into {definition}: it is outside the sandbox's folder {folder}",
        "copy the definition into that folder, or pass --allow-sandbox-url to write it anyway",
    )


def default_sandbox_db(env: Mapping[str, str] | None = None) -> Path:
    """`--sandbox-db` default: `sandbox.sqlite3` in the user's state folder for gl-rollout.

    On Linux and the BSDs that is `$XDG_STATE_HOME/gl-rollout` or `~/.local/state/gl-rollout`, read
    from the injected environment `env` (as platformdirs would from the real one); elsewhere, or
    without `env`, platformdirs decides.
    """
    import sys

    if env is not None and sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        state_home = env.get("XDG_STATE_HOME", "").strip()
        if state_home and Path(state_home).is_absolute():
            return Path(state_home) / "gl-rollout" / "sandbox.sqlite3"
        if env.get("HOME"):
            return Path(env["HOME"]) / ".local" / "state" / "gl-rollout" / "sandbox.sqlite3"
    import platformdirs

    return Path(platformdirs.user_state_path("gl-rollout")) / "sandbox.sqlite3"


@contextlib.contextmanager
def open_client(
    options: ClientOptions,
    *,
    need_write: bool,
    project: str | None = None,
    ref: str | None = None,
    retry: RetryPolicy | None = None,
    requests_per_minute: float | RateLimiter | None = DEFAULT_REQUESTS_PER_MINUTE,
    notes_per_minute: float | RateLimiter | None = DEFAULT_NOTES_PER_MINUTE,
) -> Iterator[Client]:
    """Connect as the options say (or start the embedded sandbox) and close everything afterwards.

    `project` is the `--project` option, `ref` the issue reference as typed. With `need_write`, a
    missing token or a `CI_JOB_TOKEN` is refused before any request is sent, since GitLab would
    refuse the write anyway after the reads were spent. Pass `requests_per_minute=None` to lift the
    client-side pacing (the benchmark does).
    """
    from gl_rollout.gitlab.client import connect

    retry = retry if retry is not None else retry_from_env(options.env)

    def connected(conn: Connection) -> GitLabAPI:
        return connect(
            conn,
            options.timeout,
            retry=retry,
            requests_per_minute=requests_per_minute,
            notes_per_minute=notes_per_minute,
        )

    if options.sandbox:
        with _sandbox_client(options, project=project, ref=ref) as (
            conn,
            project_path,
            issue_ref,
            admin,
            unleash,
        ):
            api = RecordingAPI(connected(conn))
            try:
                yield Client(api, conn, project_path, issue_ref, admin, options.timeout, options, unleash)
            finally:
                api.remember(options.env)
        return

    project_path = find_project(project, options.env)
    issue_ref = parse_issue_ref(ref, project_path) if ref is not None else None
    conn = learn(options, resolve_connection(options, ref_url=issue_ref.host if issue_ref else None))
    if issue_ref is not None:
        issue_ref = issue_ref.relative_to(conn.url)
    if need_write:
        require_write_token(conn)
    api = RecordingAPI(connected(conn))
    try:
        yield Client(api, conn, project_path, issue_ref, None, options.timeout, options)
    finally:
        api.remember(options.env)


class RecordingAPI:
    """The GitLab API, noting the issue a command read or wrote when it worked on one issue only, so that
    shell completion can offer its reference and step IDs later without a request (`cli.recent`)."""

    def __init__(self, api: GitLabAPI) -> None:
        self._api = api
        self.url = api.url
        self._last: Issue | None = None
        self._seen: set[tuple[str, int]] = set()

    def _note(self, issue: Issue) -> Issue:
        self._seen.add((issue.reference, issue.iid))
        self._last = issue
        return issue

    def remember(self, env: Mapping[str, str]) -> None:
        """Write the issue to the recent issues, when exactly one was touched."""
        if self._last is not None and len(self._seen) == 1:
            from gl_rollout.cli.recent import remember

            remember(env, self._last)

    def get_issue(self, project: str, iid: int) -> Issue:
        return self._note(self._api.get_issue(project, iid))

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        return self._note(self._api.create_issue(project, fields))

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        return self._note(self._api.update_issue(project, iid, fields))

    def __getattr__(self, name: str) -> Any:
        """Every other call of the Protocol goes to the API as is (calls added to it later too)."""
        return getattr(self._api, name)


def learn(options: ClientOptions, conn: Connection) -> Connection:
    """The connection, once its token is among the secrets the printer masks and its warnings are out."""
    options.secrets += conn.secrets.values
    for warning in conn.warnings:
        options.warn(warning)
    return conn


def require_write_token(conn: Connection) -> None:
    """Refuse a write up front when the token cannot do it (none at all, or a CI job token)."""
    if conn.token is None:
        raise UsageError(
            f"no GitLab token for {conn.url}",
            "set GITLAB_TOKEN to a personal/project access token with the api scope",
        )
    if conn.token_kind == "job":
        raise GitLabError(
            "CI_JOB_TOKEN can read issues but not write them",
            "set GITLAB_TOKEN to a project access token with the api scope",
        )


def open_sandbox(path: Path | None, env: Mapping[str, str], *, control: bool = False) -> Sandbox:
    """The embedded sandbox on `path` (`--sandbox-db`; else the user's state folder), created when new.

    UsageError (exit 2) for a folder, a file that is not the sandbox's database, a file another process
    keeps locked, or a path where no file can be made; such a file is never changed.
    """
    import sqlite3

    from gl_rollout.sandbox import Sandbox
    from gl_rollout.sandbox.store import NotASandboxDatabase, SandboxDatabaseLocked

    db_path = path if path is not None else default_sandbox_db(env)
    name = f"--sandbox-db {db_path}" if path is not None else f"the sandbox database {db_path}"
    if db_path.is_dir():
        raise UsageError(f"{name} is a folder", f"name a file, e.g. {db_path / 'sandbox.sqlite3'}")
    folder = next((p for p in db_path.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise UsageError(f"cannot open {name}: {folder} is a file, not a folder", "choose another path")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(db_path=db_path, control=control)
        sandbox.issue_figure = rollout_figure
        return sandbox
    except SandboxDatabaseLocked:
        raise UsageError(
            f"{name} is locked by another process",
            "wait for that process to finish (or stop it) and run again, or name another file",
        ) from None
    except sqlite3.DatabaseError as exc:
        reason = str(exc) if isinstance(exc, NotASandboxDatabase) else "not an SQLite database"
        raise UsageError(
            f"{name} is not a sandbox database ({reason})",
            "name a new file, or one that an earlier --sandbox run made",
        ) from None
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot open {name}: {why}", "choose a path in a folder you can write") from None


def rollout_figure(seen: IssueSeen) -> str | None:
    """The sandbox's issue page's figure: the rollout's step chart (`gl_rollout.render.rollout_chart`)
    when the issue has a plan, drawn from its notes by the sandbox's clock; None otherwise."""
    from gl_rollout.core.evidence import flag_of_issue
    from gl_rollout.core.model import Issue, Note
    from gl_rollout.render.rollout_chart import rollout_chart

    notes = [
        Note(int(n["id"]), str(n["body"]), str(n["author"]), str(n["created_at"]), system=bool(n["system"]))
        for n in seen.notes
    ]
    issue = Issue(
        id=0, iid=0, project_id=0, title=seen.title, description=seen.description, state="opened",
        labels=(), web_url="", reference=seen.reference, created_at="", updated_at="",
    )  # fmt: skip
    flag = flag_of_issue(issue, notes) or ""
    title = f"{flag or seen.title}: steps over time"
    return rollout_chart(seen.description, notes, flag, seen.now, title=title)


@contextlib.contextmanager
def _sandbox_client(
    options: ClientOptions, *, project: str | None, ref: str | None
) -> Iterator[tuple[Connection, str | None, IssueRef | None, str, Unleash]]:
    """Start the embedded sandbox on a loopback port, persistent in `--sandbox-db`, and stop it after."""
    if options.url:
        hint = "drop one of them" if options.sandbox_db is None else "--sandbox-db means --sandbox: drop one"
        raise UsageError("--sandbox and --url exclude each other", hint)
    served = running_serve(sandbox_db_path(options))
    if served is not None:  # `sandbox serve` runs on this state: use it, so the links printed open
        yield (*_served_connection(served[0], options, project=project, ref=ref), served[1])
        return
    sandbox = open_sandbox(options.sandbox_db, options.env)
    try:
        yield from _serve_sandbox(sandbox, options, project=project, ref=ref)
    finally:
        sandbox.close()


@dataclass(frozen=True)
class DemoSandbox:
    """`demo --ramp`'s sandbox: the client, the project incidents are filed in, and its clock's handle."""

    client: Client
    incident_project: str
    move_clock: Callable[[float], dt.datetime]


@contextlib.contextmanager
def open_demo_sandbox(options: ClientOptions, db_path: Path) -> Iterator[DemoSandbox]:
    """The sandbox of `db_path` (`open_sandbox`: a new file, or `--sandbox-db FILE`) served for the demo,
    with its clock's handle. Not the usual state file: the clock only goes forward, and the demo moves it
    by hours. Notes are not paced (a sandbox has no GitLab.com limit), so the demo never sleeps."""
    from gl_rollout.gitlab.client import connect

    if options.url:
        raise UsageError("demo runs against the sandbox; --url names a real GitLab", "drop --url")
    sandbox = open_sandbox(db_path, options.env)
    try:
        for conn, project_path, _ref, admin, unleash in _serve_sandbox(
            sandbox, options, project=None, ref=None
        ):
            api = connect(conn, options.timeout, retry=retry_from_env(options.env), notes_per_minute=None)
            client = Client(api, conn, project_path, None, admin, options.timeout, options, unleash)
            yield DemoSandbox(client, sandbox.second_project_path, sandbox.advance_clock)
    finally:
        sandbox.close()


def sandbox_db_path(options: ClientOptions) -> Path:
    """The sandbox state file `--sandbox` uses: `--sandbox-db`, else the user's state folder's."""
    return options.sandbox_db if options.sandbox_db is not None else default_sandbox_db(options.env)


def _served_connection(
    url: str, options: ClientOptions, *, project: str | None, ref: str | None
) -> tuple[Connection, str | None, IssueRef | None, str]:
    from gl_rollout.sandbox.store import DEMO_TOKENS, PROJECT_PATH

    project_path = normalise_project(project) if project else PROJECT_PATH
    issue_ref = parse_issue_ref(ref, project_path) if ref is not None else None
    if issue_ref is not None and issue_ref.host is not None:
        issue_ref = IssueRef(issue_ref.project, issue_ref.iid, None)
    developer, admin = DEMO_TOKENS["developer"], DEMO_TOKENS["admin"]
    options.secrets += (developer, admin)
    conn = Connection(
        url=url, token_kind="private", token=developer, source="the sandbox", url_source="the sandbox"
    )
    return conn, project_path, issue_ref, admin


def _serve_sandbox(
    sandbox: Sandbox, options: ClientOptions, *, project: str | None, ref: str | None
) -> Iterator[tuple[Connection, str | None, IssueRef | None, str, Unleash]]:
    # CI_PROJECT_PATH names a project of the real GitLab, so the sandbox's own project is the default.
    project_path = normalise_project(project) if project else sandbox.project_path
    # An issue URL printed by an earlier sandbox run names an old port: only its path matters.
    issue_ref = parse_issue_ref(ref, project_path) if ref is not None else None
    if issue_ref is not None and issue_ref.host is not None:
        issue_ref = IssueRef(issue_ref.project, issue_ref.iid, None)
    developer = sandbox.tokens["developer"]
    admin = sandbox.tokens["admin"]
    options.secrets += (developer, admin)
    with sandbox.serve() as url:
        options.unserved_origin = url  # closes with the command: its links open nothing afterwards
        conn = Connection(
            url=url, token_kind="private", token=developer, source="the sandbox", url_source="the sandbox"
        )
        unleash = Unleash(sandbox.unleash_url(), sandbox.unleash_instance_id())
        yield conn, project_path, issue_ref, admin, unleash
