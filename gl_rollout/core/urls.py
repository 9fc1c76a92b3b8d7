"""GitLab base URLs: normalised as the user gave them, compared by host, and checked before a token
travels to them (plain HTTP only to this machine unless `--allow-http`; no credentials inside)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from gl_rollout.errors import UsageError

LOOPBACK_NAMES = frozenset({"localhost"})


def normalise_url(value: str, source: str) -> str:
    """`https://host[:port][/prefix]` without a trailing slash or `/api/v4`; a bare host gets https.

    A URL holding a user name or password (`https://oauth2:TOKEN@host`) is refused, and shown without it.
    """
    text = value.strip()
    if any(char.isspace() or char < " " or "\ud800" <= char <= "\udfff" for char in text):
        raise UsageError(
            f"{source} is not a GitLab URL: {without_credentials(value)!r} holds a space, a control "
            "character or bytes that are not UTF-8",
            "use a URL like https://gitlab.example.com",
        )
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  raises ValueError for a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if "@" in parts.netloc:
        raise UsageError(
            f"{source} holds credentials ({without_credentials(value)})",
            "give the URL alone and the token in GITLAB_TOKEN",
        )
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(
            f"{source} is not a GitLab URL: {without_credentials(value)!r}",
            "use a URL like https://gitlab.example.com",
        )
    path = parts.path.rstrip("/")
    path = re.sub(r"/api/v4$", "", path)
    return urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))


def without_credentials(value: str) -> str:
    """`value` with anything between `://` and an `@` of its authority replaced by `***`."""
    return re.sub(r"(?<=://)[^/?#]*@", "***@", value.strip())


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine: `localhost`, 127.0.0.0/8 or ::1 (nothing leaves it)."""
    import ipaddress

    try:
        host = (urlsplit(url if "://" in url else "https://" + url).hostname or "").lower()
    except ValueError:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address.is_loopback  # 127.0.0.0/8
    return address == ipaddress.IPv6Address("::1")


def check_transport(url: str, source: str, *, allow_http: bool) -> str | None:
    """Refuse `http://` to anything but this machine (the token would cross the network in clear text).

    With `allow_http` the URL is accepted and the warning to print is returned; None when all is well.
    """
    if not url.lower().startswith("http://") or is_loopback(url):
        return None
    if not allow_http:
        raise UsageError(
            f"{source} is plain HTTP ({url}): the token would cross the network unencrypted",
            "use https://, or pass --allow-http if this network is trusted",
        )
    return f"warning: {source} is plain HTTP ({url}): the token travels unencrypted (--allow-http)"


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
