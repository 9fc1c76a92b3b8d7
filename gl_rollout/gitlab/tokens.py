"""A token is checked before it is used: GitLab's tokens are printable ASCII on one line, so anything
else (a second line from a `helper:`, a stray CR, a space, a non-ASCII character) is a mistake that
would otherwise surface deep in the HTTP library, with the token inside the error."""

from __future__ import annotations

from gl_rollout.errors import UsageError


def check_token(value: str, where: str, *, hint: str | None = None) -> str:
    """`value` stripped of surrounding whitespace, or UsageError naming `where` (never the value).

    `where` is the variable or configuration key the token came from, e.g. `GITLAB_TOKEN`.
    """
    token = value.strip()
    problem = token_problem(token)
    if problem is not None:
        raise UsageError(
            f"{where} is malformed: it holds {problem}",
            hint or f"set {where} to the token alone, on one line",
        )
    return token


def token_problem(token: str) -> str | None:
    """What makes `token` unusable as an HTTP header value, in words; None when it is fine."""
    for char in token:
        code = ord(char)
        if char in "\r\n":
            return "a line break"
        if char.isspace():
            return "whitespace"
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            return "a control character"
        if code > 0x7E:
            return "a character that is not ASCII"
    return None
