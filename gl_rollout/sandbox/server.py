"""A threaded werkzeug server for the sandbox, bound to loopback only, run in a background thread."""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

HOST = "127.0.0.1"


class QuietHandler(WSGIRequestHandler):
    """No per-request lines on stderr: the sandbox keeps its own request log."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return


class ServerThread:
    """Serve `app` on 127.0.0.1:`port` (0 picks a free port) until `stop()`."""

    def __init__(self, app: WSGIApplication, port: int = 0, *, quiet: bool = True) -> None:
        # Bind here rather than in werkzeug, which prints and exits the process when the port is taken;
        # an OSError lets the caller say what went wrong.
        handler = QuietHandler if quiet else None
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name == "posix":
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, port))
            listener.listen(128)
            if os.name == "posix":
                # werkzeug serves on its own duplicate of this descriptor: no window to lose the port.
                self.server: BaseWSGIServer = make_server(
                    HOST, port, app, threaded=True, request_handler=handler, fd=listener.fileno()
                )
        finally:
            listener.close()
        if os.name != "posix":  # no descriptor passing: the probe above proved the port free
            self.server = make_server(HOST, port, app, threaded=True, request_handler=handler)
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
