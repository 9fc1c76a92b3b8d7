"""Shared fixtures, and the fault matrix's gathering across workers.

- `sandbox`: a fresh GitLab sandbox (in-memory state) served on a free loopback port for one test.
- `api`: plain HTTP to that sandbox with `requests`, no python-gitlab in between, for contract tests.
- The fault matrix's cells (`tests/e2e/test_fault_matrix.py`): each process keeps the cells it ran
  (`outcomes_of`); a pytest-xdist worker hands them to the controller when its session ends
  (`workeroutput`), and the controller (or a run without xdist) writes the table once every worker is
  done, so no two processes ever write `benchmarks/fault_matrix.md`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from werkzeug.serving import make_server

from gl_rollout.sandbox import Sandbox

# Property tests judge what is generated, not how fast: on a shared 2-core runner a per-example deadline
# or the "generation too slow" health check fails a correct test by load alone. Speed lives in benchmarks/.
settings.register_profile("shared-runner", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-runner")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox (`.url`, `.tokens`, `.project_path`), stopped and discarded after the test."""
    sb = Sandbox()
    sb.start()
    try:
        yield sb
    finally:
        sb.close()


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as a client sees it."""

    status: int
    headers: dict[str, str]
    body: Any  # decoded JSON, else the text (None when empty)


class PlainHTTP:
    """`api("GET", "/projects/42/issues", as_="developer")`: one request to /api/v4 with a chosen credential.

    `auth` picks the header: "private" (PRIVATE-TOKEN), "bearer" (Authorization), "job" (JOB-TOKEN), or None.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def __call__(
        self,
        method: str,
        path: str,
        *,
        as_: str | None = "developer",
        auth: str | None = "private",
        json: Any = None,
        params: Any = None,
        data: Any = None,
        timeout: float = 10,
    ) -> Answer:
        headers: dict[str, str] = {}
        if as_ is not None and auth is not None:
            secret = self.sandbox.tokens.get(as_, as_)
            if auth == "private":
                headers["PRIVATE-TOKEN"] = secret
            elif auth == "bearer":
                headers["Authorization"] = f"Bearer {secret}"
            elif auth == "job":
                headers["JOB-TOKEN"] = secret
        url = path if path.startswith("http") else f"{self.sandbox.url}/api/v4{path}"
        response = requests.request(
            method, url, headers=headers, json=json, params=params, data=data, timeout=timeout
        )
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        return Answer(response.status_code, dict(response.headers), body)


@pytest.fixture
def api(sandbox: Sandbox) -> PlainHTTP:
    return PlainHTTP(sandbox)


# --- TLS: the sandbox behind a self-signed certificate (test_bad_input, test_security) ------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_sandbox(tmp_path: Path) -> Iterator[tuple[Sandbox, str, Path]]:
    """The sandbox's application behind TLS with a self-signed certificate, on a loopback port."""
    cert, key = self_signed(tmp_path)
    sb = Sandbox()
    server = make_server("127.0.0.1", 0, sb.app, threaded=True, ssl_context=(str(cert), str(key)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sb, f"https://127.0.0.1:{server.server_port}", cert
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        sb.close()


# --- the fault matrix, across pytest-xdist workers ------------------------------------------------------

_OUTCOMES = pytest.StashKey[dict[tuple[str, str], str]]()
_WORKER_KEY = "fault_matrix"


def outcomes_of(config: pytest.Config) -> dict[tuple[str, str], str]:
    """This process's fault-matrix cells: (command, fault) -> outcome."""
    return config.stash.setdefault(_OUTCOMES, {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    outcomes = outcomes_of(config)
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes
        workeroutput[_WORKER_KEY] = json.dumps([[*cell, text] for cell, text in outcomes.items()])
        return
    if outcomes:
        from tests.e2e.test_fault_matrix import write_if_complete

        write_if_complete(outcomes)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist's controller: gather the cells a worker ran."""
    cells = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if cells:
        outcomes = outcomes_of(node.config)
        outcomes.update({(command, fault): text for command, fault, text in json.loads(cells)})
