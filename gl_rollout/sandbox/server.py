"""A threaded werkzeug server for the sandbox, bound to loopback only, run in a background thread.

It holds up against idle and slow clients: every socket read or write gives up after `idle_timeout`
seconds (10 by default; a connection that sends nothing is closed, as Puma's first-data timeout does),
and at most `max_connections` (128) connections are served at once; more wait in the listen queue.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

HOST = "127.0.0.1"
IDLE_TIMEOUT = 10.0
MAX_CONNECTIONS = 128


class ClockHandler(WSGIRequestHandler):
    """Writes the `Date` header by the sandbox clock (moved by `Sandbox.advance_clock`)."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        clock = getattr(getattr(self.server, "app", None), "clock_seconds", None)
        if timestamp is None and callable(clock):
            timestamp = clock()
        return super().date_time_string(timestamp)


class QuietHandler(ClockHandler):
    """No per-request lines on stderr: the sandbox keeps its own request log. It names itself as the
    web server in front of GitLab does (`Server: nginx`), not as werkzeug and Python."""

    def version_string(self) -> str:
        return "nginx"

    def log(self, type: str, message: str, *args: Any) -> None:
        return


class BoundedServer(ThreadedWSGIServer):
    """One thread per connection, at most `max_connections` of them; named for tests and debuggers."""

    max_connections = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before werkzeug's __init__, which calls server_close() on the way.
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._stopping = threading.Event()
        self._workers: dict[threading.Thread, socket.socket] = {}
        self._workers_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Waiting here keeps the next connection in the listen queue; checking `_stopping` lets
        # shutdown() finish while every slot is taken.
        while not self._slots.acquire(timeout=0.05):
            if self._stopping.is_set():
                self.shutdown_request(request)
                return
        worker = threading.Thread(
            target=self._serve_one, args=(request, client_address), name=f"gl-sandbox-{self.port}-conn"
        )
        worker.daemon = True
        with self._workers_lock:
            self._workers[worker] = request
        try:
            worker.start()
        except BaseException:
            # Ctrl-C may land while start() waits for a thread that did start: that one gives its slot
            # back itself (releasing it here too raised "Semaphore released too many times").
            if worker.ident is None:
                with self._workers_lock:
                    self._workers.pop(worker, None)
                self._slots.release()
            raise

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._workers_lock:
                self._workers.pop(threading.current_thread(), None)
            self._slots.release()

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        """Close the listener and end every connection: idle ones at once, busy ones after their answer.

        Shutting the reading side wakes a connection waiting for its request (it sees the end of the
        stream) while one already being answered can still write its response.
        """
        super().server_close()
        with self._workers_lock:
            running = dict(self._workers)
        for connection in running.values():
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RD)
        for worker in running:
            worker.join()


def _server(
    app: WSGIApplication, port: int, handler: type[WSGIRequestHandler], max_connections: int, fd: int | None
) -> BaseWSGIServer:
    server_class = type("SandboxServer", (BoundedServer,), {"max_connections": max_connections})
    server: BaseWSGIServer = server_class(HOST, port, app, handler, fd=fd)
    return server


class ServerThread:
    """Serve `app` on 127.0.0.1:`port` (0 picks a free port) until `stop()`."""

    def __init__(
        self,
        app: WSGIApplication,
        port: int = 0,
        *,
        quiet: bool = True,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if idle_timeout <= 0 or max_connections < 1:
            raise ValueError("idle_timeout must be above 0 and max_connections at least 1")
        # Every socket of a connection gets this timeout (socketserver's StreamRequestHandler.timeout).
        base = QuietHandler if quiet else ClockHandler
        handler = type("SandboxHandler", (base,), {"timeout": idle_timeout})
        # Bind here rather than in werkzeug, which prints and exits the process when the port is taken;
        # an OSError lets the caller say what went wrong.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name == "posix":
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, port))
            listener.listen(128)
            if os.name == "posix":
                # werkzeug serves on its own duplicate of this descriptor: no window to lose the port.
                self.server: BaseWSGIServer = _server(app, port, handler, max_connections, listener.fileno())
        finally:
            listener.close()
        if os.name != "posix":  # no descriptor passing: the probe above proved the port free
            self.server = _server(app, port, handler, max_connections, None)
        self.port = int(self.server.port)
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(
            # A short poll interval makes `stop()` quick: shutdown waits for the loop's next poll.
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"gl-sandbox-{self.port}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI), until interrupted."""
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
