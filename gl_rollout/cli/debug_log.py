"""`--debug` on stderr: what the package logs while a command runs (each HTTP exchange from
`gl_rollout.gitlab.http_log`, retries and redirects from the transport), masked with every secret the
command has learnt, one `debug:` line per record.

Loaded only with `--debug`; the loggers are set back as they were when the command ends, so a test that
runs many commands in one process sees no handler left behind.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator

PACKAGE_LOGGER = "gl_rollout"
BODY_LOGGER = "gl_rollout.http.body"


class _StderrHandler(logging.Handler):
    """Writes each record to the current `sys.stderr` (tests redirect it), masked when written."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__(logging.DEBUG)
        self._mask = mask

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted is no reason to fail the command
            return
        lines = text.splitlines() or [""]
        sys.stderr.write("".join(self._mask(f"debug: {line}") + "\n" for line in lines))


@contextlib.contextmanager
def debug_log(mask: Callable[[str], str], *, bodies: bool) -> Iterator[None]:
    """While the block runs, the package's debug records go to stderr through `mask`; with `bodies` the
    HTTP bodies too."""
    package = logging.getLogger(PACKAGE_LOGGER)
    body = logging.getLogger(BODY_LOGGER)
    saved = (package.level, package.propagate, body.level)
    handler = _StderrHandler(mask)
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    package.propagate = False
    body.setLevel(logging.DEBUG if bodies else logging.INFO)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]
        body.setLevel(saved[2])
