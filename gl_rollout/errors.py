"""The exception tree: every failure a user can cause or meet, with its exit code and a hint.

Use cases raise these; only the CLI turns them into a one-line message and an exit status.
Messages never contain a token (see `redact`).
"""

from __future__ import annotations

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
        if self.hint:
            text = f"{text}. {self.hint}"
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


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret (of 4+ characters) in `text` with a fixed mask."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[MASKED]")
    return text
