"""Where the GitLab URL, the token and the project come from, in one documented order.

URL, first found wins:
  1. `--url`
  2. `GITLAB_URL`, `GITLAB_HOST` (a bare host gets `https://`), `CI_SERVER_URL`
  3. the `url` of the python-gitlab configuration section in use (see below)
  4. https://gitlab.com

An issue URL given as the reference never chooses the GitLab: it must be on the host above (else
UsageError, nothing sent), so a token only ever goes to the URL it was configured for, explicitly or by
default. `http://` is refused for anything but this machine (`localhost`, 127.0.0.0/8, ::1) unless
`--allow-http`, which prints a warning instead.

Token, first found wins (never from the command line):
  1. `GITLAB_TOKEN` or `GITLAB_PRIVATE_TOKEN` (sent as `PRIVATE-TOKEN`), `GITLAB_OAUTH_TOKEN` (Bearer)
  2. the section's `private_token`, `oauth_token` or `job_token` (`helper: CMD` runs CMD for it),
     used only when the section's url is on the same host as the URL above
  3. `CI_JOB_TOKEN`, used only on the host of `CI_SERVER_URL` (it can read issues, not write them)
A token is checked before use (`gl_rollout.gitlab.tokens`): one line of printable ASCII, else UsageError
naming where it came from, never its value.

The python-gitlab configuration file (read by `gl_rollout.gitlab.config_file`) is `$PYTHON_GITLAB_CFG` alone
when set, else `/etc/python-gitlab.cfg` then `~/.python-gitlab.cfg` (later overrides). Its section is
`--gitlab NAME`, else the section whose url is the issue URL's host, else `[global] default`. It is read
only when `--gitlab` is given or no token variable is set, so a `GITLAB_TOKEN` meant for one host is
never paired with another host's section.

Everything is read from the injected environment mapping (`AppState.env`), never `os.environ`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from gl_rollout.core.refs import check_path
from gl_rollout.core.urls import check_transport, host_of, normalise_url, same_host
from gl_rollout.errors import Secrets, UsageError
from gl_rollout.gitlab.config_file import ConfigSection, TokenKind, load_config_section, section_token
from gl_rollout.gitlab.tokens import check_token

if TYPE_CHECKING:
    from gl_rollout.gitlab.retry import RetryPolicy

DEFAULT_URL = "https://gitlab.com"

_URL_VARIABLES = ("GITLAB_URL", "GITLAB_HOST", "CI_SERVER_URL")
_TOKEN_VARIABLES: tuple[tuple[str, TokenKind], ...] = (
    ("GITLAB_TOKEN", "private"),
    ("GITLAB_PRIVATE_TOKEN", "private"),
    ("GITLAB_OAUTH_TOKEN", "oauth"),
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
    @property
    def allow_http(self) -> bool: ...


@dataclass(frozen=True)
class Connection:
    """Where to talk to GitLab and as whom. `token` is kept out of repr so it cannot leak by printing."""

    url: str
    token_kind: TokenKind | None
    token: str | None = field(repr=False)
    ca_bundle: str | None = None
    source: str = "none"  # where the token came from, e.g. "GITLAB_TOKEN", "python-gitlab config [work]"
    url_source: str = "default"  # where the URL came from, e.g. "--url", "GITLAB_HOST"
    warnings: tuple[str, ...] = ()  # to print at once, such as plain HTTP allowed by --allow-http

    @property
    def host(self) -> str:
        return host_of(self.url)

    @property
    def secrets(self) -> Secrets:
        """What must never be shown: the token (the printer masks it in every form)."""
        return Secrets((self.token,)) if self.token else Secrets()

    def describe(self) -> str:
        """One line for --debug and error hints; never the token."""
        who = f"{self.token_kind} token from {self.source}" if self.token else "no token"
        return f"{self.url} (from {self.url_source}), {who}"


# --- resolution ------------------------------------------------------------------------------


def resolve_connection(
    options: ConnectionOptions,
    env: Mapping[str, str] | None = None,
    *,
    ref_url: str | None = None,
) -> Connection:
    """URL, token and CA bundle in the order of this module's docstring (the token is in `secrets`).

    `ref_url` is the `scheme://host` of an issue URL the user gave: it may pick the configuration
    section of its host, and must be on the GitLab URL's host (else UsageError: a token is never sent
    to a host chosen only by a pasted link).
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
    if url is None:
        url, url_source = DEFAULT_URL, "default"
    if ref_url is not None and not same_host(url, ref_url):
        shown = normalise_url(ref_url, "the issue URL")
        raise UsageError(
            f"the issue URL is on {host_of(ref_url)} but the GitLab URL is {url} (from {url_source}); "
            "nothing was sent",
            f"set GITLAB_URL={shown} (or pass --url {shown}) to use that GitLab, "
            "or give the reference as group/project#IID",
        )
    warning = check_transport(url, url_source, allow_http=options.allow_http)

    token_kind: TokenKind | None = None
    token: str | None = None
    source = "none"
    if env_token is not None:
        token_kind, token, source = env_token
    elif section is not None and section.raw_token:
        if section.url is None or same_host(section.url, url):
            where = f"{section.label} {section.token_option}"
            helper_hint = "make its helper print the token alone, on one line"
            raw = section_token(section, env)
            hint = helper_hint if section.raw_token.lower().startswith("helper:") else None
            token_kind, source = section.token_kind, section.label
            token = check_token(raw, where, hint=hint) if raw else None
        elif options.gitlab_name:
            raise UsageError(
                f"{section.label} is for {host_of(section.url)} "
                f"but the GitLab URL is {url} (from {url_source})",
                "drop --url/GITLAB_URL or choose the section of that host with --gitlab",
            )
    if token is None and env.get("CI_JOB_TOKEN", "").strip():
        ci_server = env.get("CI_SERVER_URL")
        if not ci_server or same_host(ci_server, url):
            token_kind, source = "job", "CI_JOB_TOKEN"
            token = check_token(env["CI_JOB_TOKEN"], "CI_JOB_TOKEN")

    if ca_bundle is None and section is not None and section.label in {source, url_source}:
        ca_bundle = _section_ca_bundle(section)
    return Connection(
        url=url,
        token_kind=token_kind if token else None,
        token=token or None,
        ca_bundle=ca_bundle,
        source=source if token else "none",
        url_source=url_source,
        warnings=(warning,) if warning is not None else (),
    )


def admin_connection(
    options: ConnectionOptions,
    base: Connection,
    target_url: str | None,
    token_env: str,
    *,
    source: str = "--target-url",
) -> Connection:
    """The Features API's connection: `target_url` (else `base`'s URL) with the admin token of `token_env`.

    UsageError (before any request) for a missing or malformed token, or a plain-HTTP target.
    """
    url = normalise_url(target_url, source) if target_url else base.url
    url_source = source if target_url else base.url_source
    warning = check_transport(url, url_source, allow_http=options.allow_http) if target_url else None
    token = options.env.get(token_env, "").strip()
    if not token:
        raise UsageError(
            f"the Features API of {url} needs an administrator's token: {token_env} is not set",
            f"set {token_env} to an admin's personal access token with the api scope",
        )
    token = check_token(token, token_env)
    return Connection(
        url=url,
        token_kind="private",
        token=token,
        ca_bundle=base.ca_bundle,
        source=token_env,
        url_source=url_source,
        warnings=(warning,) if warning is not None else (),
    )


def check_admin_target(
    options: ConnectionOptions, target_url: str | None, token_env: str, *, source: str = "--target-url"
) -> None:
    """What `admin_connection` will refuse, refused before any request: a bad or plain-HTTP target URL,
    a malformed admin token. (A missing token is reported when the Features API is needed.)"""
    if target_url:
        check_transport(normalise_url(target_url, source), source, allow_http=options.allow_http)
    token = options.env.get(token_env, "")
    if token.strip():
        check_token(token, token_env)


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
            return kind, check_token(value, name), name
    return None


def find_project(option: str | None, env: Mapping[str, str], default: str | None = None) -> str | None:
    """`--project/-R PATH|ID`, else `CI_PROJECT_PATH`, else `default`; None when none is known."""
    if option is not None and option.strip():
        return normalise_project(option)
    ci_project = env.get("CI_PROJECT_PATH", "").strip()
    if default is None and ci_project:
        return normalise_project(ci_project)
    return default


def resolve_project(option: str | None, env: Mapping[str, str], default: str | None = None) -> str:
    """As `find_project`, but a missing project is a usage error."""
    project = find_project(option, env, default)
    if project is None:
        raise UsageError(
            "no project: pass --project or set CI_PROJECT_PATH", "for example --project group/project"
        )
    return project


def normalise_project(value: str) -> str:
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
    return check_path(text, value)


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
    from gl_rollout.gitlab.retry import RetryPolicy

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
