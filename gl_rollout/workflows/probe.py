"""The ramp runner's health probe: a command whose exit status, or a URL whose answer, says whether the
rollout is healthy.

`command_probe(argv)` runs the command without a shell (no quoting or expansion surprises), with stdin
closed, a timeout, and an environment without gl-rollout's tokens; a non-zero exit, or no exit before
the timeout, is unhealthy. Its output (first lines, each cut short) goes into the rollback comment, so
the caller masks secrets in it. `check_probe_command` refuses, before any request, a command that
cannot run (exit 2).

`url_probe(url)` GETs the URL (standard library, no credentials sent, at most 3 redirects followed, a
10 s timeout): a 2xx answer is healthy; another status, a refused connection or no answer in time is
not, and the status line and the body's first lines are its output. `check_probe_url` refuses, before
any request, what is not an http(s) URL with a host (exit 2). With both options, `every_probe` runs
both and is healthy only when both are. `parse_settle` reads `advance --settle`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gl_rollout.errors import UsageError

PROBE_TIMEOUT = 60.0
FIRST_LINES = 5
LINE_WIDTH = 200
# Variables a probe never sees: the tokens gl-rollout uses (a probe queries metrics, not GitLab).
HIDDEN_VARIABLES = (
    "GITLAB_TOKEN",
    "GITLAB_PRIVATE_TOKEN",
    "GITLAB_OAUTH_TOKEN",
    "CI_JOB_TOKEN",
    "GITLAB_ADMIN_TOKEN",
)


@dataclass(frozen=True)
class ProbeResult:
    """Healthy or not, and the first lines of what the probe said (already masked)."""

    healthy: bool
    output: str


Probe = Callable[[], ProbeResult]


def check_probe_command(text: str) -> list[str]:
    """The probe's argv; UsageError (exit 2) when it is empty, cannot be split or names no runnable file."""
    import shlex

    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--probe {text!r} cannot be split into words: {exc}", "check its quotes") from None
    if not argv:
        raise UsageError("--probe is empty", "give a command, like --probe ./check-error-rate.sh")
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else program
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise UsageError(
            f"the probe command {program!r} cannot run: no such executable",
            "give a path to an executable file, or a command on PATH",
        )
    return argv


def first_lines(text: str) -> str:
    lines = [line[:LINE_WIDTH] for line in text.strip().splitlines()[:FIRST_LINES]]
    return "\n".join(lines)


def command_probe(
    argv: Sequence[str],
    env: Mapping[str, str],
    mask: Callable[[str], str],
    timeout: float = PROBE_TIMEOUT,
) -> Probe:
    """A probe that runs `argv` (see the module docstring)."""
    import subprocess

    def run() -> ProbeResult:
        clean = {key: value for key, value in env.items() if key not in HIDDEN_VARIABLES}
        try:
            # no shell: argv is the user's own probe command, split by shlex
            done = subprocess.run(
                list(argv), env=clean, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return ProbeResult(False, f"the probe did not finish within {timeout:g} s")
        except OSError as exc:
            return ProbeResult(False, mask(f"the probe could not run: {exc.strerror or exc}"))
        said = first_lines(mask((done.stdout or "") + (done.stderr or "")))
        status = f"exit {done.returncode}"
        return ProbeResult(done.returncode == 0, f"{status}\n{said}" if said else status)

    return run


# --- `--probe-url URL`: an HTTP(S) GET whose 2xx answer is healthy --------------------------------------

URL_TIMEOUT = 10.0
MAX_REDIRECTS = 3
BODY_LIMIT = 64 * 1024  # enough for a health page's first lines; a probe never downloads a whole page


def check_probe_url(text: str) -> tuple[str, str | None]:
    """The probe URL, and a warning when it is plain HTTP off this machine (it carries no secret, so that
    is allowed); UsageError (exit 2) when it is not an http(s) URL with a host, or holds credentials."""
    from urllib.parse import urlsplit

    from gl_rollout.core.urls import is_loopback, without_credentials

    url = text.strip()
    shown = without_credentials(url)
    hint = "give an http(s) URL, like --probe-url https://status.example.com/health"
    if not url or any(char.isspace() or char < " " or char == "\x7f" for char in url):
        raise UsageError(f"--probe-url {shown!r} is not a URL: it is empty or holds a space", hint)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        raise UsageError(f"--probe-url {shown!r} has a host or port that cannot be read", hint) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--probe-url {shown!r} is not an http(s) URL with a host", hint)
    if "@" in parts.netloc:
        # a password on the command line would land in CI logs and in the rollback comment
        raise UsageError(
            f"--probe-url holds credentials ({shown})",
            "give a health URL that needs none (a probe command can read a secret from its environment)",
        )
    warning = None
    if parts.scheme.lower() == "http" and not is_loopback(url):
        warning = f"warning: --probe-url is plain HTTP ({shown}): its answer can be altered on the way"
    return url, warning


def _where(url: str) -> str:
    """The URL without its query and fragment (a query may carry a key), for messages."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def url_probe(
    url: str,
    mask: Callable[[str], str],
    timeout: float = URL_TIMEOUT,
    max_redirects: int = MAX_REDIRECTS,
) -> Probe:
    """A probe that GETs `url`: healthy on a 2xx answer within `timeout` seconds, following at most
    `max_redirects` redirects. The request carries no credentials of any kind: it is built here with a
    User-Agent and Accept only, never through the GitLab client, so neither the GitLab token nor an
    Authorization header reaches the probe's host (nor, through a redirect, any other)."""

    def run() -> ProbeResult:
        import http.client
        import urllib.error
        import urllib.request

        from gl_rollout import __version__

        class LimitedRedirects(urllib.request.HTTPRedirectHandler):
            max_redirections = max_redirects

        opener = urllib.request.build_opener(LimitedRedirects)
        # the scheme is http(s), checked by check_probe_url; a redirect elsewhere is refused by urllib
        request = urllib.request.Request(  # noqa: S310
            url, headers={"User-Agent": f"gl-rollout/{__version__} probe", "Accept": "*/*"}, method="GET"
        )
        where = _where(url)
        try:
            with opener.open(request, timeout=timeout) as answer:
                status, reason = int(answer.status), str(answer.reason)
                body = answer.read(BODY_LIMIT)
        except urllib.error.HTTPError as exc:
            status, reason = int(exc.code), str(exc.reason)
            if 300 <= status < 400:
                said = f"HTTP {status}: not followed (more than {max_redirects} redirects, or not to http(s))"
                return ProbeResult(False, mask(said))
            try:
                body = exc.read(BODY_LIMIT) if exc.fp is not None else b""
            except (OSError, http.client.HTTPException):
                body = b""
        except urllib.error.URLError as exc:
            cause = exc.reason
            if isinstance(cause, TimeoutError):
                return ProbeResult(False, mask(f"no answer from {where} within {timeout:g} s"))
            text = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
            return ProbeResult(False, mask(f"GET {where} failed: {text}"))
        except TimeoutError:
            return ProbeResult(False, mask(f"no answer from {where} within {timeout:g} s"))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return ProbeResult(False, mask(f"GET {where} failed: {exc}"))
        said = first_lines(mask(body.decode("utf-8", errors="replace")))
        status_line = mask(f"HTTP {status} {reason}".strip())
        return ProbeResult(200 <= status < 300, f"{status_line}\n{said}" if said else status_line)

    return run


def every_probe(probes: Mapping[str, Probe]) -> Probe:
    """One probe of several (`--probe` and `--probe-url` together): healthy when every one is; each runs
    (so the comment shows all that failed), and its output comes under its option's name."""
    if len(probes) == 1:
        return next(iter(probes.values()))

    def run() -> ProbeResult:
        results = {name: probe() for name, probe in probes.items()}
        parts = [f"{name}: {said.output}" for name, said in results.items()]
        return ProbeResult(all(said.healthy for said in results.values()), "\n".join(parts))

    return run


SETTLE_LIMIT = 3600  # a CI job waits through the settle time; GitLab's default job timeout is an hour
_SECONDS = ("s", "sec", "secs", "second", "seconds")


def parse_settle(text: str) -> float:
    """`--settle`: seconds (`30s`) or a duration as plans write it (`5m`, `1h`), or `0`; at most an hour.
    UsageError (exit 2) otherwise."""
    import re

    from gl_rollout.core.times import parse_duration

    given = " ".join(text.split()).lower()
    found = re.fullmatch(r"(\d{1,6})\s*([a-z]+)", given)
    if found is not None and found.group(2) in _SECONDS:
        seconds = float(found.group(1))
    else:
        try:
            seconds = parse_duration(text, "--settle time").total_seconds()
        except UsageError:
            raise UsageError(
                f"--settle {text.strip()!r} is not a duration", "write it with units, like 30s, 5m or 1h"
            ) from None
    if seconds > SETTLE_LIMIT:
        raise UsageError(
            f"--settle {text.strip()} is longer than an hour: the job would wait through it",
            "give at most 1h; for longer, let the next scheduled run's probe be the check (--settle 0)",
        )
    return seconds
