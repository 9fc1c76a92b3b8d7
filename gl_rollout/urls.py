"""GitLab base URLs: normalised as the user gave them, and compared by host."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from gl_rollout.errors import UsageError


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
