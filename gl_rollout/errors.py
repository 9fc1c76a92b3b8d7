"""The exception tree: every failure a user can cause or meet, with its exit code and a hint.

Use cases raise these; only the CLI turns them into a one-line message and an exit status.
Messages never contain a token (see `redact`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit statuses (README, `--help`)."""

    OK = 0  # done, or nothing to do
    UNEXPECTED = 1  # a bug or an unforeseen failure
    USAGE = 2  # bad usage or bad input
    GITLAB = 3  # GitLab API error (auth, permission, not found, rate limit, server)
    CONFLICT = 4  # someone else edited the issue between our read and write
    STEP = 5  # step not found or ambiguous
    REQUIRED = 6  # a required step is not done


class RolloutError(Exception):
    """Base of all errors the tool reports; carries a one-line message, a hint and an exit code."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, hint: str | None = None, *, details: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}

    def one_line(self) -> str:
        """Message and hint as the single line the CLI prints."""
        text = self.message.rstrip(".")
        if self.hint:  # after a question ("did you mean enable-staging?") no full stop comes
            text = f"{text}{' ' if text.endswith('?') else '. '}{self.hint}"
        return " ".join(text.split())


class UsageError(RolloutError):
    """Bad option, bad value, unreadable or malformed input file."""

    exit_code = ExitCode.USAGE


class GitLabError(RolloutError):
    """GitLab answered with an error, or could not be reached."""

    exit_code = ExitCode.GITLAB

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        details: dict[str, object] | None = None,
    ):
        super().__init__(message, hint, details=details)
        self.status = status


class ConflictError(RolloutError):
    """A concurrent edit was detected; nothing of ours was applied silently over it."""

    exit_code = ExitCode.CONFLICT


class StepError(RolloutError):
    """A step selector matched no step, or more than one."""

    exit_code = ExitCode.STEP


class RequiredStepError(RolloutError):
    """`--require` named a step that is not done."""

    exit_code = ExitCode.REQUIRED


@dataclass(frozen=True)
class Secrets:
    """Values never to show (tokens): the connection returns them, the printer masks them everywhere."""

    values: tuple[str, ...] = ()

    def __add__(self, more: Iterable[str | None]) -> Secrets:
        """These secrets and `more` (empty and known values are skipped)."""
        added = tuple(dict.fromkeys(v for v in more if v and v not in self.values))
        return Secrets(self.values + added) if added else self

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def mask(self, text: str) -> str:
        """`text` with every secret masked (`redact`)."""
        return redact(text, self.values)


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret (of 4+ characters) in `text` with a fixed mask, in every form it may take
    there: as is, as Python or JSON would escape it, URL-encoded, and base64-encoded (alone, or inside
    an `Authorization: Basic` value, where a user name comes before it)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in secret_forms(secret):
                text = text.replace(form, "[MASKED]")
    return text


@functools.lru_cache(maxsize=64)
def secret_forms(secret: str) -> tuple[str, ...]:
    """The spellings of `secret` that `redact` masks, longest first."""
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = secret.encode("utf-8", "surrogatepass")
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(raw)[2:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    # base64 turns 3 bytes into 4 characters, so what the token looks like depends on how many bytes
    # precede it (`user:` in Basic auth). For each alignment, mask the characters only the token decides.
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first = 4 if offset else 0
        whole_groups = (offset + len(raw)) // 3
        stable = encoded[first : 4 * whole_groups]
        if len(stable) >= 8:
            forms.add(stable)
        if offset == 0:
            forms.add(encoded)
            forms.add(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))
    return tuple(sorted((form for form in forms if len(form) >= 4), key=len, reverse=True))
