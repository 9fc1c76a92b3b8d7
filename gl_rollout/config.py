"""Where the GitLab URL, the token and the project come from, in one documented order.

URL, first found wins:
  1. `--url`
  2. `GITLAB_URL`, `GITLAB_HOST` (a bare host gets `https://`), `CI_SERVER_URL`
  3. the `url` of the python-gitlab configuration section in use (see below)
  4. the scheme and host of an issue URL given as the reference
  5. https://gitlab.com

Token, first found wins (never from the command line):
  1. `GITLAB_TOKEN` or `GITLAB_PRIVATE_TOKEN` (sent as `PRIVATE-TOKEN`), `GITLAB_OAUTH_TOKEN` (Bearer)
  2. the section's `private_token`, `oauth_token` or `job_token` (`helper: CMD` runs CMD for it),
     used only when the section's url is on the same host as the URL above
  3. `CI_JOB_TOKEN`, used only on the host of `CI_SERVER_URL` (it can read issues, not write them)

The python-gitlab configuration file is `$PYTHON_GITLAB_CFG` alone when set, else
`/etc/python-gitlab.cfg` then `~/.python-gitlab.cfg` (later overrides). Its section is `--gitlab NAME`,
else the section whose url is the issue URL's host, else `[global] default`. It is read only when
`--gitlab` is given or no token variable is set, so a `GITLAB_TOKEN` meant for one host is never paired
with another host's section. A token is therefore never sent to a host it was not configured for,
except that a token variable follows the URL the user chose.

Everything is read from the injected environment mapping (`AppState.env`), never `os.environ`.
"""

from __future__ import annotations

import configparser
import contextlib
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.refs import IssueRef, parse_issue_ref

if TYPE_CHECKING:
    from gl_rollout.api import GitLabAPI
    from gl_rollout.retry import RateLimiter, RetryPolicy
    from gl_rollout.sandbox import Sandbox

TokenKind = Literal["private", "oauth", "job"]

DEFAULT_URL = "https://gitlab.com"
SYSTEM_CONFIG_FILE = "/etc/python-gitlab.cfg"
USER_CONFIG_FILE = ".python-gitlab.cfg"
ADMIN_TOKEN_ENV = "GITLAB_ADMIN_TOKEN"
DEFAULT_REQUESTS_PER_MINUTE = 2000.0  # GitLab.com: authenticated API requests per user
DEFAULT_NOTES_PER_MINUTE = 60.0  # GitLab.com: note creation on issues
HELPER_TIMEOUT = 120.0  # seconds for a `helper:` command; a keyring may prompt for a passphrase

_URL_VARIABLES = ("GITLAB_URL", "GITLAB_HOST", "CI_SERVER_URL")
_TOKEN_VARIABLES: tuple[tuple[str, TokenKind], ...] = (
    ("GITLAB_TOKEN", "private"),
    ("GITLAB_PRIVATE_TOKEN", "private"),
    ("GITLAB_OAUTH_TOKEN", "oauth"),
)
_SECTION_TOKENS: tuple[tuple[str, TokenKind], ...] = (
    ("private_token", "private"),
    ("oauth_token", "oauth"),
    ("job_token", "job"),
)


class ConnectionOptions(Protocol):
    """The global options a connection is resolved from (`gl_rollout.cli.app.AppState` has them)."""

    @property
    def url(self) -> str | None: ...
    @property
    def gitlab_name(self) -> str | None: ...
    @property
    def ca_bundle(self) -> Path | None: ...
    @property
    def env(self) -> Mapping[str, str]: ...
    def add_secret(self, value: str | None) -> None: ...


class ClientOptions(ConnectionOptions, Protocol):
    """Options `open_client` also needs: sandbox mode and the per-request timeout."""

    @property
    def sandbox(self) -> bool: ...
    @property
    def sandbox_db(self) -> Path | None: ...
    @property
    def timeout(self) -> float: ...


@dataclass(frozen=True)
class Connection:
    """Where to talk to GitLab and as whom. `token` is kept out of repr so it cannot leak by printing."""

    url: str
    token_kind: TokenKind | None
    token: str | None = field(repr=False)
    ca_bundle: str | None = None
    source: str = "none"  # where the token came from, e.g. "GITLAB_TOKEN", "python-gitlab config [work]"
    url_source: str = "default"  # where the URL came from, e.g. "--url", "GITLAB_HOST"

    @property
    def host(self) -> str:
        return host_of(self.url)

    def describe(self) -> str:
        """One line for --debug and error hints; never the token."""
        who = f"{self.token_kind} token from {self.source}" if self.token else "no token"
        return f"{self.url} (from {self.url_source}), {who}"


# --- URLs ------------------------------------------------------------------------------------


def normalise_url(value: str, source: str) -> str:
    """`https://host[:port][/prefix]` without a trailing slash or `/api/v4`; a bare host gets https."""
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(
            f"{source} is not a GitLab URL: {value!r}", "use a URL like https://gitlab.example.com"
        )
    path = parts.path.rstrip("/")
    path = re.sub(r"/api/v4$", "", path)
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def host_of(url: str) -> str:
    """`host[:port]` of a URL, lower-case, with the scheme's default port dropped."""
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url.lower()
    default = 443 if parts.scheme == "https" else 80
    return host if port in (None, default) else f"{host}:{port}"


def same_host(a: str, b: str) -> bool:
    return host_of(a) == host_of(b)


# --- python-gitlab configuration file --------------------------------------------------------


@dataclass(frozen=True)
class ConfigSection:
    """One `[name]` of a python-gitlab configuration file, token not yet resolved (it may be a helper)."""

    name: str
    files: tuple[str, ...]
    url: str | None
    token_option: str | None  # "private_token" | "oauth_token" | "job_token"
    token_kind: TokenKind | None
    raw_token: str | None = field(repr=False)
    ssl_verify: bool | str | None

    @property
    def label(self) -> str:
        return f"python-gitlab config [{self.name}]"


def config_files(env: Mapping[str, str]) -> list[Path]:
    """The files python-gitlab would read: `$PYTHON_GITLAB_CFG` alone, else the existing defaults."""
    named = env.get("PYTHON_GITLAB_CFG")
    if named:
        path = Path(_expand(named, env))
        if not path.is_file():
            raise UsageError(
                f"PYTHON_GITLAB_CFG names {named}, which is not a readable file",
                "point PYTHON_GITLAB_CFG at a python-gitlab configuration file, or unset it",
            )
        return [path]
    candidates = [Path(SYSTEM_CONFIG_FILE)]
    home = env.get("HOME")
    if home:
        candidates.append(Path(home) / USER_CONFIG_FILE)
    return [path for path in candidates if path.is_file()]


def load_config_section(
    env: Mapping[str, str], name: str | None, *, prefer_host: str | None = None
) -> ConfigSection | None:
    """The section to use: `name` (it must exist), else one on `prefer_host`, else `[global] default`."""
    files = config_files(env)
    if not files:
        if name:
            raise UsageError(
                f"--gitlab {name}: no python-gitlab configuration file found",
                "create ~/.python-gitlab.cfg or set PYTHON_GITLAB_CFG",
            )
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read([str(path) for path in files], encoding="utf-8")
    except configparser.Error as exc:
        raise UsageError(
            f"cannot parse the python-gitlab configuration: {_one_line(str(exc))}",
            "fix the file named above",
        ) from None
    sections = [s for s in parser.sections() if s != "global"]
    chosen = name
    if chosen is not None and chosen not in sections:
        raise UsageError(
            f"--gitlab {chosen}: no such section in {', '.join(str(p) for p in files)}",
            f"sections: {', '.join(sections) or '(none)'}",
        )
    if chosen is None and prefer_host is not None:
        chosen = next(
            (s for s in sections if same_host(parser.get(s, "url", fallback=""), prefer_host)),
            None,
        )
    if chosen is None:
        default = parser.get("global", "default", fallback=None)
        if not default or default not in sections:
            return None
        chosen = default
    try:
        url = parser.get(chosen, "url", fallback=None)
        present = [(opt, kind) for opt, kind in _SECTION_TOKENS if parser.has_option(chosen, opt)]
        if len(present) > 1:
            raise UsageError(
                f"python-gitlab config [{chosen}] sets {' and '.join(o for o, _ in present)}",
                "keep only one of private_token, oauth_token and job_token",
            )
        option, kind = present[0] if present else (None, None)
        raw = parser.get(chosen, option) if option else None
        ssl_verify = _ssl_verify(parser, chosen)
    except configparser.Error as exc:
        raise UsageError(
            f"cannot read python-gitlab config [{chosen}]: {_one_line(str(exc))}", "fix that section"
        ) from None
    return ConfigSection(
        name=chosen,
        files=tuple(str(p) for p in files),
        url=url.strip() if url else None,
        token_option=option,
        token_kind=kind,
        raw_token=raw.strip() if raw else None,
        ssl_verify=ssl_verify,
    )


def _ssl_verify(parser: configparser.ConfigParser, section: str) -> bool | str | None:
    value: bool | str | None = None
    for where in ("global", section):
        if not parser.has_option(where, "ssl_verify"):
            continue
        try:
            value = parser.getboolean(where, "ssl_verify")
        except ValueError:
            value = parser.get(where, "ssl_verify").strip()
    return value


def section_token(section: ConfigSection, env: Mapping[str, str]) -> str | None:
    """The section's token, running its `helper:` command when it names one."""
    raw = section.raw_token
    if not raw:
        return None
    if not raw.lower().startswith("helper:"):
        return raw
    command = [_expand(word, env) for word in shlex.split(raw[len("helper:") :].strip())]
    if not command:
        raise UsageError(f"{section.label}: {section.token_option} has an empty helper command")
    try:
        done = subprocess.run(  # the user's own configured helper, never through a shell
            command,
            capture_output=True,
            env=dict(env),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(
            f"{section.label}: cannot run the {section.token_option} helper {command[0]}: "
            f"{_one_line(str(exc))}",
            "fix the helper: command in the configuration file",
        ) from None
    if done.returncode != 0:
        stderr = _one_line(done.stderr.decode("utf-8", "replace"))[:200]
        raise UsageError(
            f"{section.label}: the {section.token_option} helper {command[0]} failed "
            f"(exit {done.returncode}){': ' + stderr if stderr else ''}",
            "fix the helper: command in the configuration file",
        )
    token = done.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise UsageError(f"{section.label}: the {section.token_option} helper printed nothing")
    return token


_VARIABLE = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


def _expand(word: str, env: Mapping[str, str]) -> str:
    """`~` and `$VAR`/`${VAR}` from the injected environment (unknown variables stay as written)."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    word = _VARIABLE.sub(variable, word)
    if (word == "~" or word.startswith("~/")) and env.get("HOME"):
        word = env["HOME"] + word[1:]
    return word


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- resolution ------------------------------------------------------------------------------


def resolve_connection(
    options: ConnectionOptions,
    env: Mapping[str, str] | None = None,
    *,
    ref_url: str | None = None,
) -> Connection:
    """URL, token and CA bundle in the order of this module's docstring; registers the token as a secret.

    `ref_url` is the `scheme://host` of an issue URL the user gave: it becomes the URL when none is
    configured, and must be on the configured host otherwise (else UsageError: the token must not be
    sent to a host chosen only implicitly).
    """
    env = options.env if env is None else env
    ca_bundle = check_ca_bundle(options.ca_bundle)
    url, url_source = _url_from_options(options.url, env)
    env_token = _token_from_env(env)

    section: ConfigSection | None = None
    if options.gitlab_name or env_token is None:
        section = load_config_section(env, options.gitlab_name, prefer_host=ref_url if url is None else None)
    if url is None and section is not None and section.url:
        url, url_source = normalise_url(section.url, section.label), section.label
    if ref_url is not None:
        if url is None:
            url, url_source = normalise_url(ref_url, "the issue URL"), "the issue URL"
        elif not same_host(url, ref_url):
            raise UsageError(
                f"the issue URL is on {host_of(ref_url)} but the GitLab URL is {url} (from {url_source})",
                f"pass --url {ref_url} to use that GitLab, or give the reference as group/project#IID",
            )
    if url is None:
        url, url_source = DEFAULT_URL, "default"

    token_kind: TokenKind | None = None
    token: str | None = None
    source = "none"
    if env_token is not None:
        token_kind, token, source = env_token
    elif section is not None and section.raw_token:
        if section.url is None or same_host(section.url, url):
            token_kind, token, source = section.token_kind, section_token(section, env), section.label
        elif options.gitlab_name:
            raise UsageError(
                f"{section.label} is for {host_of(section.url)} "
                f"but the GitLab URL is {url} (from {url_source})",
                "drop --url/GITLAB_URL or choose the section of that host with --gitlab",
            )
    if token is None and env.get("CI_JOB_TOKEN"):
        ci_server = env.get("CI_SERVER_URL")
        if not ci_server or same_host(ci_server, url):
            token_kind, token, source = "job", env["CI_JOB_TOKEN"], "CI_JOB_TOKEN"

    if ca_bundle is None and section is not None and section.label in {source, url_source}:
        ca_bundle = _section_ca_bundle(section)
    options.add_secret(token)
    return Connection(
        url=url,
        token_kind=token_kind if token else None,
        token=token or None,
        ca_bundle=ca_bundle,
        source=source if token else "none",
        url_source=url_source,
    )


def check_ca_bundle(path: Path | str | None) -> str | None:
    """`--ca-bundle FILE` must name an existing file; returned as a string for requests."""
    if path is None:
        return None
    candidate = Path(path)
    if not candidate.is_file():
        raise UsageError(
            f"--ca-bundle {path}: no such file",
            "give a PEM file holding the CA that signed GitLab's certificate",
        )
    return str(candidate)


def _section_ca_bundle(section: ConfigSection) -> str | None:
    if section.ssl_verify is False:
        raise UsageError(
            f"{section.label} sets ssl_verify = false; gl-rollout always verifies TLS",
            "set ssl_verify (or --ca-bundle) to the CA bundle of your GitLab instead",
        )
    if isinstance(section.ssl_verify, str):
        return check_ca_bundle(section.ssl_verify)
    return None


def _url_from_options(flag: str | None, env: Mapping[str, str]) -> tuple[str | None, str]:
    if flag:
        return normalise_url(flag, "--url"), "--url"
    for name in _URL_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return normalise_url(value, name), name
    return None, "default"


def _token_from_env(env: Mapping[str, str]) -> tuple[TokenKind, str, str] | None:
    for name, kind in _TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return kind, value, name
    return None


def find_project(option: str | None, env: Mapping[str, str], default: str | None = None) -> str | None:
    """`--project/-R PATH|ID`, else `CI_PROJECT_PATH`, else `default`; None when none is known."""
    if option is not None and option.strip():
        return _normalise_project(option)
    ci_project = env.get("CI_PROJECT_PATH", "").strip()
    if default is None and ci_project:
        return _normalise_project(ci_project)
    return default


def resolve_project(option: str | None, env: Mapping[str, str], default: str | None = None) -> str:
    """As `find_project`, but a missing project is a usage error."""
    project = find_project(option, env, default)
    if project is None:
        raise UsageError(
            "no project: pass --project or set CI_PROJECT_PATH", "for example --project group/project"
        )
    return project


def _normalise_project(value: str) -> str:
    """A project path or numeric ID; a pasted project URL is reduced to its path."""
    text = value.strip()
    if "://" in text:
        try:
            path = urlsplit(text).path
        except ValueError:
            path = ""
        text = path.split("/-/", 1)[0]
    text = text.strip("/")
    if text.endswith(".git"):
        text = text[: -len(".git")]
    if not text or not (text.isdigit() or re.fullmatch(r"[\w.][\w.\-]*(/[\w.][\w.\-]*)+", text)):
        raise UsageError(
            f"not a project path or ID: {value!r}", "use the full path like group/subgroup/project, or its ID"
        )
    return text


# --- opening a client ------------------------------------------------------------------------


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
    options: ConnectionOptions | None = field(default=None, repr=False, compare=False)

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

    def admin_api(self, target_url: str | None = None, token_env: str = ADMIN_TOKEN_ENV) -> GitLabAPI:
        """A second client for the Features API, with an administrator's token from `token_env`.

        In sandbox mode the target is the sandbox itself and its seeded admin token is used.
        `target_url` defaults to this client's URL. The CA bundle is shared.
        """
        from gl_rollout.gitlab import connect

        if self.sandbox_admin_token is not None:
            conn = Connection(
                url=self.connection.url,
                token_kind="private",
                token=self.sandbox_admin_token,
                source="the sandbox",
                url_source="the sandbox",
            )
            return connect(conn, self.timeout)
        env = self.options.env if self.options is not None else {}
        token = env.get(token_env, "").strip()
        url = normalise_url(target_url, "--target-url") if target_url else self.connection.url
        if not token:
            raise UsageError(
                f"the Features API of {url} needs an administrator's token: {token_env} is not set",
                f"set {token_env} to an admin's personal access token with the api scope",
            )
        if self.options is not None:
            self.options.add_secret(token)
        conn = Connection(
            url=url,
            token_kind="private",
            token=token,
            ca_bundle=self.connection.ca_bundle,
            source=token_env,
            url_source="--target-url" if target_url else self.connection.url_source,
        )
        return connect(conn, self.timeout)


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
    from gl_rollout.gitlab import connect

    retry = retry if retry is not None else retry_from_env(options.env)
    if options.sandbox:
        with _sandbox_client(options, project=project, ref=ref) as (conn, project_path, issue_ref, admin):
            api = connect(
                conn,
                options.timeout,
                retry=retry,
                requests_per_minute=requests_per_minute,
                notes_per_minute=notes_per_minute,
            )
            yield Client(api, conn, project_path, issue_ref, admin, options.timeout, options)
        return

    project_path = find_project(project, options.env)
    issue_ref = parse_issue_ref(ref, project_path) if ref is not None else None
    conn = resolve_connection(options, ref_url=issue_ref.host if issue_ref else None)
    if issue_ref is not None:
        issue_ref = issue_ref.relative_to(conn.url)
    if need_write:
        require_write_token(conn)
    api = connect(
        conn,
        options.timeout,
        retry=retry,
        requests_per_minute=requests_per_minute,
        notes_per_minute=notes_per_minute,
    )
    yield Client(api, conn, project_path, issue_ref, None, options.timeout, options)


RETRY_VARIABLES = {
    "GL_ROLLOUT_RETRY_ATTEMPTS": "max_attempts",
    "GL_ROLLOUT_RETRY_BASE": "base",
    "GL_ROLLOUT_RETRY_CAP": "cap",
    "GL_ROLLOUT_RETRY_MAX_WAIT": "max_total_wait",
}


def retry_from_env(env: Mapping[str, str]) -> RetryPolicy | None:
    """The retry policy the environment asks for (`GL_ROLLOUT_RETRY_*`, seconds), None for the default.

    For test suites and impatient pipelines: attempts, the first backoff, its cap, and the total wait.
    """
    from gl_rollout.retry import RetryPolicy

    values: dict[str, float] = {}
    for name, attribute in RETRY_VARIABLES.items():
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value < float("inf") or (
            attribute == "max_attempts" and (value < 1 or value != int(value))
        ):
            raise UsageError(f"{name}={text!r} is not a usable number", f"{name} takes seconds, e.g. 0.5")
        values[attribute] = value
    if not values:
        return None
    default = RetryPolicy()
    return replace(
        default,
        max_attempts=int(values.get("max_attempts", default.max_attempts)),
        base=values.get("base", default.base),
        cap=values.get("cap", default.cap),
        max_total_wait=values.get("max_total_wait", default.max_total_wait),
    )


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

    UsageError (exit 2) for a folder, a file that is not the sandbox's database, or a path where no
    file can be made; such a file is never changed.
    """
    import sqlite3

    from gl_rollout.sandbox import Sandbox
    from gl_rollout.sandbox.store import NotASandboxDatabase

    db_path = path if path is not None else default_sandbox_db(env)
    name = f"--sandbox-db {db_path}" if path is not None else f"the sandbox database {db_path}"
    if db_path.is_dir():
        raise UsageError(f"{name} is a folder", f"name a file, e.g. {db_path / 'sandbox.sqlite3'}")
    folder = next((p for p in db_path.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise UsageError(f"cannot open {name}: {folder} is a file, not a folder", "choose another path")
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return Sandbox(db_path=db_path, control=control)
    except sqlite3.DatabaseError as exc:
        reason = str(exc) if isinstance(exc, NotASandboxDatabase) else "not an SQLite database"
        raise UsageError(
            f"{name} is not a sandbox database ({reason})",
            "name a new file, or one that an earlier --sandbox run made",
        ) from None
    except (OSError, sqlite3.Error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot open {name}: {why}", "choose a path in a folder you can write") from None


@contextlib.contextmanager
def _sandbox_client(
    options: ClientOptions, *, project: str | None, ref: str | None
) -> Iterator[tuple[Connection, str | None, IssueRef | None, str]]:
    """Start the embedded sandbox on a loopback port, persistent in `--sandbox-db`, and stop it after."""
    if options.url:
        hint = "drop one of them" if options.sandbox_db is None else "--sandbox-db means --sandbox: drop one"
        raise UsageError("--sandbox and --url exclude each other", hint)
    sandbox = open_sandbox(options.sandbox_db, options.env)
    try:
        yield from _serve_sandbox(sandbox, options, project=project, ref=ref)
    finally:
        sandbox.close()


def _serve_sandbox(
    sandbox: Sandbox, options: ClientOptions, *, project: str | None, ref: str | None
) -> Iterator[tuple[Connection, str | None, IssueRef | None, str]]:
    # CI_PROJECT_PATH names a project of the real GitLab, so the sandbox's own project is the default.
    project_path = _normalise_project(project) if project else sandbox.project_path
    # An issue URL printed by an earlier sandbox run names an old port: only its path matters.
    issue_ref = parse_issue_ref(ref, project_path) if ref is not None else None
    if issue_ref is not None and issue_ref.host is not None:
        issue_ref = IssueRef(issue_ref.project, issue_ref.iid, None)
    developer = sandbox.tokens["developer"]
    admin = sandbox.tokens["admin"]
    options.add_secret(developer)
    options.add_secret(admin)
    with sandbox.serve() as url:
        conn = Connection(
            url=url, token_kind="private", token=developer, source="the sandbox", url_source="the sandbox"
        )
        yield conn, project_path, issue_ref, admin
