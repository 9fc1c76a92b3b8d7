"""A tiny health endpoint for the `--probe-url` tests: an `http.server` on a free loopback port, in a
thread, answering each path as the test says (status, body, a redirect, or no answer until released) and
keeping every request's path and headers, so a test can see what the probe sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    """What a path answers: a status and body, or a redirect to `location`, or (`hang`) nothing until
    the server is stopped."""

    status: int = 200
    body: str = "ok"
    location: str | None = None
    hang: bool = False


@dataclass
class HealthServer:
    """The answers by path (`queue[path]`, taken in turn, the last one kept) and the requests seen."""

    url: str = ""
    queue: dict[str, list[Answer]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    def answer(self, path: str, *answers: Answer) -> str:
        """Answer `path` with `answers` in turn (the last one from then on); its full URL."""
        self.queue[path] = list(answers)
        return self.url + path

    def next_for(self, path: str) -> Answer:
        answers = self.queue.get(path) or [Answer(404, "no such health check")]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@contextmanager
def health_server() -> Iterator[HealthServer]:
    state = HealthServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, {key.lower(): value for key, value in self.headers.items()}))
            answer = state.next_for(self.path.split("?", 1)[0])
            if answer.hang:
                state.released.wait(30)  # until the test is over: the probe's timeout fires first
                return
            body = answer.body.encode()
            self.send_response(answer.status)
            if answer.location is not None:
                self.send_header("Location", answer.location)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
