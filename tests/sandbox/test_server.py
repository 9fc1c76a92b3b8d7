"""The sandbox's server under idle and slow clients: sockets time out, threads stay bounded, stop() stops.

The property behind "1,000 idle connections" is checked with fewer sockets and a low timeout: idle
sockets are closed by the server after the timeout, no more connections are served at once than the
bound, and a real client waiting behind them is still answered.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from gl_rollout.sandbox import Sandbox


def connection_threads(sb: Sandbox) -> list[threading.Thread]:
    assert sb.url is not None
    name = f"gl-sandbox-{urlsplit(sb.url).port}-conn"
    return [thread for thread in threading.enumerate() if thread.name == name]


def idle_sockets(sb: Sandbox, count: int) -> list[socket.socket]:
    assert sb.url is not None
    address = ("127.0.0.1", int(urlsplit(sb.url).port or 0))
    opened = []
    for _ in range(count):
        client = socket.create_connection(address, timeout=30)
        opened.append(client)
    return opened


def closed_by_server(client: socket.socket) -> bool:
    """Blocks until the server ends the connection (True) or the 30 s socket timeout passes (False)."""
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.fixture
def strict() -> Iterator[Sandbox]:
    sb = Sandbox()
    sb.start(idle_timeout=0.3, max_connections=4)
    try:
        yield sb
    finally:
        sb.close()


def test_idle_connections_are_closed_and_threads_stay_bounded(strict: Sandbox) -> None:
    clients = idle_sockets(strict, 24)
    try:
        # Sampled while the server accepts them: never more than 4 served at once.
        seen = [len(connection_threads(strict)) for _ in range(20) if not threading.Event().wait(0.01)]
        assert max(seen) <= 4
        # A real request queued behind them is answered once idle ones time out.
        headers = {"PRIVATE-TOKEN": strict.tokens["developer"]}
        answer = requests.get(f"{strict.url}/api/v4/version", headers=headers, timeout=30)
        assert answer.status_code == 200
        assert len(connection_threads(strict)) <= 4
        assert all(closed_by_server(client) for client in clients)
    finally:
        for client in clients:
            client.close()


def test_a_client_that_stops_sending_its_body_is_dropped(strict: Sandbox) -> None:
    (client,) = idle_sockets(strict, 1)
    with client:
        head = (
            "POST /api/v4/projects/42/issues HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nPRIVATE-TOKEN: {}\r\n"
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"title": '
        ).format(urlsplit(strict.url or "").port, strict.tokens["developer"])
        client.sendall(head.encode())
        assert closed_by_server(client)
    assert strict.count_issues() == 0
    assert [entry.status for entry in strict.request_log] == [0]


def test_stop_ends_idle_connections_at_once() -> None:
    """With a 10-minute idle timeout, close() still returns: it does not wait for idle clients."""
    sb = Sandbox()
    sb.start(idle_timeout=600, max_connections=2)
    clients = idle_sockets(sb, 5)
    try:
        sb.close()
        assert closed_by_server(clients[0])
        assert closed_by_server(clients[1])
    finally:
        for client in clients:
            with contextlib.suppress(OSError):
                client.close()


def test_stop_lets_an_answer_in_progress_finish() -> None:
    sb = Sandbox()
    sb.start()
    sb.faults.delay("GET", "/version$", 0.5, count=1)
    answers: list[int] = []

    def ask() -> None:
        headers = {"PRIVATE-TOKEN": sb.tokens["developer"]}
        answers.append(requests.get(f"{sb.url}/api/v4/version", headers=headers, timeout=30).status_code)

    asking = threading.Thread(target=ask)
    asking.start()
    while sb.faults.armed():  # the delay rule is used up once the request is being answered
        threading.Event().wait(0.01)
    sb.close()
    asking.join(30)
    assert answers == [200]


def test_server_settings_are_checked() -> None:
    sb = Sandbox()
    try:
        with pytest.raises(ValueError, match="idle_timeout"):
            sb.start(idle_timeout=0)
        with pytest.raises(ValueError, match="max_connections"):
            sb.start(max_connections=0)
    finally:
        sb.close()
