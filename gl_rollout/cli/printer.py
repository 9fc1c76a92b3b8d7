"""How results reach the user: the versioned JSON envelope, or human text. The only place that prints.

With `--json`, stdout carries exactly one envelope and all human text goes to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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


def colour_allowed(stream: IO[str], env: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal and never when NO_COLOR is set (https://no-color.org)."""
    env = dict(os.environ) if env is None else env
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


UNSERVED_HINT = (
    "links: this command's sandbox closed with it, so its pages are shown as paths; to open them in a "
    "browser, run `gl-rollout sandbox serve` (it serves the same state) and run the command again"
)


@dataclass
class Printer:
    """Where human text goes. With `--json` it all goes to stderr so stdout stays one envelope.

    `unserved_origin` is the address of a `--sandbox` run's own server, which stops with the command:
    human text shows its links as paths (`/group/project/-/issues/1`) and the instance as "the sandbox"
    instead of addresses that open nothing, and `unserved_links` records that it showed a path. The JSON
    envelope keeps GitLab's values.
    """

    json_mode: bool = False
    secrets: Secrets = field(default_factory=Secrets)
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
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

    def line(self, text: str = "") -> None:
        self.human.write(self.shown(text) + "\n")

    def note(self, text: str) -> None:
        """Progress and side remarks: always stderr."""
        self.err.write(self.shown(text) + "\n")

    def table(self, columns: list[str], rows: list[list[str]], title: str | None = None) -> None:
        """A plain-text table (rich only on a colour terminal, to keep pipes and CI logs clean)."""
        stream = self.human
        if colour_allowed(stream):
            from rich.console import Console
            from rich.table import Table

            table = Table(title=title)
            for col in columns:
                table.add_column(col)
            for row in rows:
                table.add_row(*[self.shown(c) for c in row])
            Console(file=stream).print(table)
            return
        widths = [len(c) for c in columns]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        if title:
            stream.write(title + "\n")
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        stream.write(fmt.format(*columns).rstrip() + "\n")
        for row in rows:
            stream.write(self.shown(fmt.format(*row).rstrip()) + "\n")


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
            printer.err.write("error: " + printer.shown(result.error.one_line()) + "\n")
    return int(result.exit_code)
