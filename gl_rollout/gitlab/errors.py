"""GitLab's refusals and requests' failures as one-line `GitLabError`s with a hint; never the token.

Part of the adapter family of `gl_rollout.gitlab.client` (which alone imports python-gitlab): this module
imports requests and urllib3 only inside `classify`, for their exception types.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gl_rollout.errors import GitLabError, redact
from gl_rollout.gitlab.decoding import is_generic_message
from gl_rollout.gitlab.retry import TRANSIENT_STATUSES

if TYPE_CHECKING:
    from gl_rollout.gitlab.calls import Call
    from gl_rollout.gitlab.connection import Connection

WRITE_HINT = "set GITLAB_TOKEN to a personal/project access token with the api scope"
READ_HINT = "set GITLAB_TOKEN to a personal/project access token (read_api scope to read, api to write)"
JOB_TOKEN_HINT = "set GITLAB_TOKEN to a project access token with the api scope"
JOB_TOKEN_READ_HINT = "set GITLAB_TOKEN to a project access token with the read_api scope instead"
#: The first GitLab version whose issue routes accept a CI job token (fine-grained job token permissions).
JOB_TOKEN_ISSUES_VERSION = "18.3"
ADMIN_HINT = "the Features API needs an administrator's personal access token with the api scope"
DEFAULT_RATE_LIMIT_WAIT = 60  # GitLab's throttles ask for 60 s when they send no Retry-After


class ErrorTranslator:
    """Builds the adapter's errors for one connection: hints name where its URL and token came from."""

    def __init__(self, conn: Connection, timeout: float) -> None:
        self.url = conn.url
        self._conn = conn
        self._timeout = timeout
        self._secrets: tuple[str, ...] = (conn.token,) if conn.token else ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The connection's token, to mask wherever this connection's requests are shown."""
        return self._secrets

    def error(
        self,
        message: str,
        hint: str | None = None,
        *,
        call: Call,
        status: int | None = None,
        ambiguous: bool = False,
    ) -> GitLabError:
        details: dict[str, object] = {"method": call.method.upper(), "what": call.what}
        if ambiguous:
            details["ambiguous"] = True
        return GitLabError(
            redact(" ".join(message.split()), self._secrets),
            redact(hint, self._secrets) if hint else None,
            status=status,
            details=details,
        )

    def http_error(
        self, call: Call, status: int, message: str, hinted: float | None, attempts: int
    ) -> GitLabError:
        job = self._conn.token_kind == "job"
        said = f": {message}" if message and not is_generic_message(message, status) else ""
        if job and status in {401, 403, 404} and not call.job_ok:
            # GitLab ignores a job token where it is not allowed, so the request looks anonymous.
            if call.write:
                return self.error(
                    "CI_JOB_TOKEN can read issues but not write them",
                    JOB_TOKEN_HINT,
                    call=call,
                    status=status,
                )
            return self.error(
                f"CI_JOB_TOKEN may not {call.what} ({status}): no GitLab version lets a job token read that",
                JOB_TOKEN_READ_HINT,
                call=call,
                status=status,
            )
        if job and status in {401, 404} and call.job_ok and not call.write:
            # Before 18.3 GitLab ignores a job token on issue routes too: anonymous, so 404 (or 401).
            return self.error(
                f"CI_JOB_TOKEN could not {call.what} ({status}): a job token reads issues only on GitLab "
                f"{JOB_TOKEN_ISSUES_VERSION} or later, in its own project or one whose job token allowlist "
                "names it",
                JOB_TOKEN_READ_HINT,
                call=call,
                status=status,
            )
        if status == 401:
            if job and call.write:
                return self.error(
                    "CI_JOB_TOKEN can read issues but not write them", JOB_TOKEN_HINT, call=call, status=401
                )
            if not self._conn.token:
                return self.error(
                    f"GitLab wants a token to {call.what} (401), and no token was sent",
                    WRITE_HINT if call.write else READ_HINT,
                    call=call,
                    status=401,
                )
            if call.admin:
                return self.error(
                    f"GitLab rejected the token (401) trying to {call.what}",
                    ADMIN_HINT,
                    call=call,
                    status=401,
                )
            return self.error(
                "GitLab rejected the token (401)",
                f"{WRITE_HINT} (the one from {self._conn.source} is wrong, expired or revoked)",
                call=call,
                status=401,
            )
        if status == 403:
            if job:
                if call.write:
                    return self.error(
                        "CI_JOB_TOKEN can read issues but not write them",
                        JOB_TOKEN_HINT,
                        call=call,
                        status=403,
                    )
                return self.error(
                    f"CI_JOB_TOKEN may not {call.what} (403)", JOB_TOKEN_HINT, call=call, status=403
                )
            if call.admin:
                return self.error(
                    f"GitLab refused to {call.what} (403){said}", ADMIN_HINT, call=call, status=403
                )
            hint = (
                "the token needs the api scope (read_api cannot write) and the Developer role on the project"
                if call.write
                else "check the token's scopes (read_api or api) and its access to the project"
            )
            return self.error(f"GitLab refused to {call.what} (403){said}", hint, call=call, status=403)
        if status == 404:
            if call.admin:
                return self.error(
                    f"the Features API was not found on {self.url} (404)",
                    "it exists on self-managed GitLab only, and needs an administrator's token",
                    call=call,
                    status=404,
                )
            if not self._conn.token:
                # Anonymous requests see public projects only: a private one answers 404, not 401.
                return self.error(
                    f"{call.missing} not found (404); no token was sent, and GitLab answers 404 to "
                    "anonymous requests for private projects",
                    READ_HINT,
                    call=call,
                    status=404,
                )
            missing, fix = which_is_missing(call, message)
            hint = f"{fix}; GitLab answers 404 for what the token may not see"
            if job:
                hint = (
                    "a CI_JOB_TOKEN reaches its own project and those whose job token allowlist names it; "
                    "or set GITLAB_TOKEN to a token with access to the project"
                )
            return self.error(f"{missing} not found, or you lack access (404)", hint, call=call, status=404)
        if status == 429:
            after = math.ceil(hinted) if hinted is not None else DEFAULT_RATE_LIMIT_WAIT
            return self.error(
                f"rate limited by GitLab; retry after {after} s",
                "lower --max-requests-per-minute, or run again later",
                call=call,
                status=429,
            )
        if status in TRANSIENT_STATUSES or status >= 500:
            if not call.replayable:
                return self.error(
                    f"GitLab answered {status} when asked to {call.what}; it may or may not have been done",
                    "rerun the command: it checks what landed before writing again",
                    call=call,
                    status=status,
                    ambiguous=True,
                )
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            return self.error(
                f"GitLab failed to {call.what} ({status}{tries}){said}",
                "GitLab is having trouble: try again later",
                call=call,
                status=status,
            )
        return self.error(
            f"GitLab refused to {call.what} ({status}){said or ': ' + (message or 'no reason given')}",
            "fix the value GitLab names above" if status in {400, 422} else None,
            call=call,
            status=status,
        )

    def transport_error(self, call: Call, kind: str, exc: BaseException) -> GitLabError:
        host = self._conn.host
        if kind == "tls":
            text = str(exc)
            if "certificate verify failed" in text.lower() or "certificate_verify_failed" in text.lower():
                hint = (
                    f"check that {self._conn.ca_bundle} holds the CA that signed it"
                    if self._conn.ca_bundle
                    else "pass --ca-bundle FILE for a private CA"
                )
                return self.error(f"TLS certificate of {host} not trusted", hint, call=call)
            return self.error(
                f"TLS handshake with {host} failed",
                "check the URL's scheme (https or http) and port",
                call=call,
            )
        if kind in {"dns", "refused", "connect-timeout"}:
            source = self._conn.url_source
            if source.startswith("--") and source != "--url":  # --target-url, --features-url
                hint = f"check {source}"
            elif source in {"--url", "GITLAB_URL", "default"}:
                hint = "check --url / GITLAB_URL"
            else:
                hint = f"check --url / GITLAB_URL (this URL came from {source})"
            reason = {"dns": "", "refused": ": connection refused", "connect-timeout": ": no answer"}[kind]
            return self.error(f"cannot reach {self.url}{reason}", hint, call=call)
        if not call.replayable and kind in {"timeout", "dropped"}:
            reason = (
                f"no answer within {self._timeout:g} s" if kind == "timeout" else "the connection dropped"
            )
            error = self.error(
                f"{reason} while trying to {call.what}; it may or may not have been applied",
                "rerun the command: it checks what landed before writing again",
                call=call,
                ambiguous=True,
            )
            error.details["kind"] = kind  # posting.look_times reads it
            return error
        if kind == "timeout":
            return self.error(
                f"GitLab did not answer within {self._timeout:g} s to {call.what}",
                "raise --timeout, or try again later",
                call=call,
            )
        if kind == "dropped":
            return self.error(
                f"the connection to {host} dropped while trying to {call.what}", "try again later", call=call
            )
        return self.error(
            f"cannot send the request to {call.what}: {type(exc).__name__}",
            "check --url / GITLAB_URL",
            call=call,
        )


def classify(exc: BaseException) -> str:
    """What a requests exception proves: tls, dns, refused or connect-timeout (never sent), timeout,
    dropped, other."""
    import requests.exceptions
    import urllib3.exceptions

    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-timeout"  # the connection was never opened: nothing was sent
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: object = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        name_error = getattr(urllib3.exceptions, "NameResolutionError", None)
        if name_error is not None and isinstance(reason, name_error):
            return "dns"
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            text = str(reason).lower()
            if any(
                sign in text for sign in ("name or service not known", "nodename nor servname", "getaddrinfo")
            ):
                return "dns"
            return "refused"
        return "dropped"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "dropped"
    return "other"


def which_is_missing(call: Call, message: str) -> tuple[str, str]:
    """What a 404 on an issue's path means, as GitLab's body tells it, and how to fix it: `404 Project
    Not Found` when the project is missing (or hidden from the token), `404 Not found` (or `404 Issue Not
    Found`) when the project is there but its issue is not. Any other body keeps the call's own words."""
    if call.project is None or call.iid is None:
        return call.missing, call.fix
    if message.strip() == "404 Not Found":  # a route GitLab does not have: it could be either
        return call.missing, call.fix
    said = " ".join(message.casefold().split())
    if "project not found" in said:
        return f"project {call.project}", "check --project, or the path in the reference"
    if said in {"404 not found", "not found", "404 issue not found", "issue not found"}:
        return f"issue #{call.iid} in project {call.project}", "check the issue number"
    return call.missing, call.fix
