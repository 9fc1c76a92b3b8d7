"""How results reach the user: the versioned JSON envelope, or human text. The only place that prints.

With `--json`, stdout carries exactly one envelope and all human text goes to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gl_rollout.cli.style import Cell, colour_allowed, paint, paint_diff, table_lines, terminal_width
from gl_rollout.errors import Secrets
from gl_rollout.result import Result

ENVELOPE_VERSION = 1
NO_SECRETS = Secrets()


def envelope(result: Result[Any], secrets: Secrets = NO_SECRETS) -> dict[str, Any]:
    """The one JSON document `--json` prints; its keys are a frozen contract
    (tests/e2e/test_envelope_contract.py)."""
    error = None
    if result.error is not None:
        error = {"code": int(result.exit_code), "message": secrets.mask(result.error.one_line())}
    elif not result.ok:
        error = {"code": int(result.exit_code), "message": "; ".join(result.messages) or "failed"}
    return {
        "version": ENVELOPE_VERSION,
        "command": result.command,
        "ok": result.ok,
        "data": result.data,
        "error": error,
    }


def dumps_envelope(result: Result[Any], secrets: Secrets = NO_SECRETS) -> str:
    import json  # only --json and --json-file need it

    text = json.dumps(envelope(result, secrets), ensure_ascii=False, indent=2, default=str)
    return secrets.mask(text)


UNSERVED_HINT = (
    "links: this command's sandbox closed with it, so its pages are shown as paths; to open them in a "
    "browser, run `gl-rollout sandbox serve` (it serves the same state) and run the command again"
)


@dataclass
class Printer:
    """Where human text goes, and whether it may be coloured. With `--json` all human text goes to stderr
    so stdout stays one envelope, which is never coloured.

    `unserved_origin` is the address of a `--sandbox` run's own server, which stops with the command:
    human text shows its links as paths (`/group/project/-/issues/1`) and the instance as "the sandbox"
    instead of addresses that open nothing, and `unserved_links` records that it showed a path. The JSON
    envelope keeps GitLab's values.
    """

    json_mode: bool = False
    secrets: Secrets = field(default_factory=Secrets)
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] | None = None  # NO_COLOR, FORCE_COLOR, TERM, COLUMNS; None: os.environ
    unserved_origin: str | None = None
    unserved_links: bool = False

    @property
    def human(self) -> IO[str]:
        return self.err if self.json_mode else self.out

    def shown(self, text: str) -> str:
        """`text` as printed: secrets masked, unserved links as paths."""
        text = self.secrets.mask(text)
        origin = self.unserved_origin
        if origin and origin + "/" in text:
            self.unserved_links = True
            text = text.replace(origin + "/", "/")
        if origin and origin in text:  # the instance itself ("the Features API of ..."), not a page
            text = text.replace(origin, "the sandbox")
        return text

    def _env(self) -> Mapping[str, str]:
        return os.environ if self.env is None else self.env

    def colour(self, stream: IO[str] | None = None) -> bool:
        """Whether `stream` (the human stream by default) gets colour."""
        return colour_allowed(self.human if stream is None else stream, self._env())

    def width(self) -> int:
        """The human stream's width: COLUMNS, the terminal's, or a default."""
        return terminal_width(self.human, self._env())

    def paint(self, text: str, style: str | None, stream: IO[str] | None = None) -> str:
        """`text` (masked) in `style` when the stream it goes to gets colour."""
        return paint(self.shown(text), style, self.colour(stream))

    def line(self, text: str = "", style: str | None = None) -> None:
        self.human.write(self.paint(text, style) + "\n")

    def note(self, text: str, style: str | None = None) -> None:
        """Progress and side remarks: always stderr."""
        self.err.write(self.paint(text, style, self.err) + "\n")

    def warning(self, text: str) -> None:
        """A warning on stderr, at once."""
        self.note(text, "warning")

    def error(self, text: str) -> None:
        """The one `error: ...` line of a failure, on stderr."""
        self.err.write(self.paint("error:", "error", self.err) + " " + self.shown(text) + "\n")

    def diff(self, text: str) -> None:
        """A unified diff on the human stream, its added and removed lines in colour."""
        self.human.write(paint_diff(self.shown(text), self.colour()))

    def table(self, columns: list[str], rows: list[list[Cell]], *, wrap: tuple[str, ...] = ()) -> None:
        """A table fitted to the terminal: the `wrap` columns wrap onto more lines, the others (IDs,
        references) are never cut; a cell given as (text, style) is coloured when colour is on."""
        masked: list[list[Cell]] = [
            [(self.shown(c[0]), c[1]) if isinstance(c, tuple) else self.shown(c) for c in row] for row in rows
        ]
        for text in table_lines(columns, masked, width=self.width(), wrap=wrap, colour=self.colour()):
            self.human.write(text + "\n")


HumanRenderer = Callable[[Result[Any], Printer], None]


def emit(
    result: Result[Any],
    printer: Printer,
    render_human: HumanRenderer | None = None,
    json_file: Path | None = None,
) -> int:
    """Print a result (envelope or human text), write `--json-file`, and return the exit code."""
    if json_file is not None:
        from gl_rollout.files import write_atomic

        write_atomic(json_file, dumps_envelope(result, printer.secrets) + "\n", streams=True)
    if printer.json_mode:
        for message in result.messages:
            printer.note(message)
        printer.out.write(dumps_envelope(result, printer.secrets) + "\n")
    else:
        if render_human is not None and (result.ok or result.value is not None):
            render_human(result, printer)
        else:
            for message in result.messages:
                printer.line(message)
        if result.error is not None:
            printer.error(result.error.one_line())
    return int(result.exit_code)
