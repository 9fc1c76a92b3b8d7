"""What the sandbox checks before any handler runs: who it answers to, from where, and how much.

The sandbox listens on loopback with well-known tokens, so a web page the developer visits must not
be able to use it: a `Host` other than the loopback names with the server's own port (DNS rebinding)
is answered 421, an `Origin` or `Sec-Fetch-Site` of another site 403. Bodies are bounded (10 MiB, far
above GitLab's 1 MiB description) and checked against `Content-Length` before a byte is read; a
chunked body is read in bounded pieces. URLs in answers are built from the server's own address,
never from `Host`. The request log keeps query strings with token values replaced by `[FILTERED]`,
as GitLab's own logs filter them.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

MAX_BODY_BYTES = 10 * 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TOKEN_PARAMS = frozenset({"private_token", "job_token", "access_token"})
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class Refusal(Exception):
    """A request answered before routing: status and a JSON body in GitLab's error shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def own_base_url(environ: WSGIEnvironment) -> str:
    """`scheme://address:port` of the socket the server listens on (never the client's `Host`)."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    name = str(environ.get("SERVER_NAME", "127.0.0.1"))
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"{scheme}://{name}:{environ.get('SERVER_PORT', '80')}"


def _split_authority(authority: str, scheme: str) -> tuple[str, str]:
    """("host", "port") of `host[:port]`, IPv6 literals kept in brackets; port defaults by scheme."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[: end + 1], authority[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ("" if not rest else "?")
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
    else:
        host, port = authority, ""
    return host, port or _DEFAULT_PORTS.get(scheme, "")


def allowed_authorities(environ: WSGIEnvironment, extra: str | None = None) -> set[tuple[str, str]]:
    """The (host, port) pairs this server answers to: loopback names with its own port, plus `extra`."""
    port = str(environ.get("SERVER_PORT", ""))
    allowed = {(name, port) for name in LOOPBACK_NAMES}
    if extra:
        scheme, _, rest = extra.partition("://")
        allowed.add(_split_authority(rest.split("/", 1)[0], scheme))
    return allowed


def check_host(environ: WSGIEnvironment, extra: str | None = None) -> None:
    """Refuse (421) a `Host` that is not this server under a loopback name: a DNS-rebinding page's."""
    host = environ.get("HTTP_HOST")
    if host is None:
        return  # HTTP/1.0 without Host: no browser sends that
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    allowed = allowed_authorities(environ, extra)
    if _split_authority(str(host), scheme) in allowed:
        return
    port = environ.get("SERVER_PORT", "")
    names = ", ".join(f"{name}:{port}" for name in LOOPBACK_NAMES)
    raise Refusal(421, {"message": f"421 Misdirected Request: this sandbox answers only to Host {names}"})


def check_origin(environ: WSGIEnvironment, extra: str | None = None) -> None:
    """Refuse (403) a request a browser sent from another site; same-origin requests pass."""
    fetch_site = str(environ.get("HTTP_SEC_FETCH_SITE", "")).strip().lower()
    origin = environ.get("HTTP_ORIGIN")
    if origin is None and fetch_site not in ("cross-site", "same-site"):
        return
    if origin is not None:
        scheme, _, rest = str(origin).strip().partition("://")
        own_scheme = str(environ.get("wsgi.url_scheme", "http"))
        if (
            scheme.lower() == own_scheme
            and "/" not in rest
            and _split_authority(rest, own_scheme) in allowed_authorities(environ, extra)
        ):
            return
    raise Refusal(403, {"message": "403 Forbidden: the sandbox refuses requests sent from another site"})


def too_large() -> Refusal:
    # The connection is closed after the answer (werkzeug closes every one), so no unread rest is
    # taken for the next request.
    return Refusal(413, {"message": "413 Request Entity Too Large"})


def bound_body(environ: WSGIEnvironment, limit: int = MAX_BODY_BYTES) -> None:
    """Read the body (at most `limit` bytes) into memory in place of `wsgi.input`, or refuse it.

    A declared `Content-Length` above the limit is refused before reading; a chunked body is read in
    64 KiB pieces and refused as soon as it passes the limit. The client's unread rest is the
    server's to discard.
    """
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream = environ["wsgi.input"]
    if declared:
        if not declared.isdigit():
            raise Refusal(400, {"error": "400 Bad Request"})
        length = int(declared)
        if length > limit:
            raise too_large()
        body = _read_up_to(stream, length)
    elif environ.get("wsgi.input_terminated"):
        body = _read_up_to(stream, limit + 1)
        if len(body) > limit:
            raise too_large()
    else:
        body = b""
    # From here on the body is plain bytes of a known length, however it arrived.
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)


def _read_up_to(stream: Any, size: int) -> bytes:
    pieces: list[bytes] = []
    left = size
    while left > 0:
        piece = stream.read(min(_CHUNK, left))
        if not piece:
            break
        pieces.append(piece)
        left -= len(piece)
    return b"".join(pieces)


def redact_query(query: str) -> str:
    """The query string with the values of token parameters replaced by `[FILTERED]`."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, _value = part.partition("=")
        key = unquote_plus(name).strip().lower()
        if key.endswith("[]"):
            key = key[:-2]
        parts.append(f"{name}=[FILTERED]" if sep and key in TOKEN_PARAMS else part)
    return "&".join(parts)
