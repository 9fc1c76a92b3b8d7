"""Colour and layout of human output: step states, errors, warnings and diffs in colour, and tables that
wrap their text to the terminal's width instead of cutting it.

Colour is ANSI SGR codes, no library. It is on for a stream that is a terminal (and not `TERM=dumb`), or
whenever `FORCE_COLOR` is set to anything; `NO_COLOR` set to anything turns it off whatever else says
(https://no-color.org). The JSON envelope is never coloured: it is not written through here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import IO

STYLES: dict[str, str] = {
    "done": "32",  # green
    "todo": "33",  # yellow
    "skipped": "2",  # dim
    "error": "1;31",  # bold red
    "warning": "33",
    "added": "32",
    "removed": "31",
    "hunk": "36",  # cyan
    "strong": "1",
    "dim": "2",
}
DEFAULT_WIDTH = 120  # a table's width when neither COLUMNS nor a terminal says
MIN_WRAPPED = 24  # narrowest a wrapped column gets before the table is stacked instead
GAP = "  "

Cell = str | tuple[str, str | None]  # text, or (text, style)


def colour_allowed(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """Whether text written to `stream` may carry colour, as `NO_COLOR`, `FORCE_COLOR` and `TERM` say."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def paint(text: str, style: str | None, on: bool) -> str:
    """`text` in `style` (a key of `STYLES`) when `on`; as is otherwise, or when empty."""
    if not on or not style or not text:
        return text
    return f"\x1b[{STYLES[style]}m{text}\x1b[0m"


def paint_diff(diff: str, on: bool) -> str:
    """A unified diff with added lines green, removed red, hunk headers cyan and file names bold."""
    if not on:
        return diff
    painted = []
    for line in diff.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        if body.startswith(("+++", "---")):
            style = "strong"
        elif body.startswith("+"):
            style = "added"
        elif body.startswith("-"):
            style = "removed"
        elif body.startswith("@@"):
            style = "hunk"
        else:
            style = None
        painted.append(paint(body, style, on) + end)
    return "".join(painted)


def terminal_width(stream: IO[str], env: Mapping[str, str]) -> int:
    """`COLUMNS` when it is a number, else the terminal's width, else `DEFAULT_WIDTH`."""
    columns = env.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    fileno = getattr(stream, "fileno", None)
    try:
        if fileno is not None and stream.isatty():
            return os.get_terminal_size(fileno()).columns or DEFAULT_WIDTH
    except (OSError, ValueError):
        pass
    return DEFAULT_WIDTH


def table_lines(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]], *, width: int, wrap: Sequence[str], colour: bool
) -> list[str]:
    """A table as text lines: columns not in `wrap` are never cut (they hold what users type: step IDs,
    references); the `wrap` columns share what is left of `width` and wrap onto more lines. When even
    that leaves a wrapped column narrower than `MIN_WRAPPED`, each row is stacked instead: the other
    columns on one line, each wrapped cell below it, indented."""
    import textwrap

    texts = [[_text(cell) for cell in row] for row in rows]
    natural = [max([len(name)] + [len(row[i]) for row in texts]) for i, name in enumerate(columns)]
    wrapped = [i for i, name in enumerate(columns) if name in wrap]
    fixed = [i for i in range(len(columns)) if i not in wrapped]
    room = width - sum(natural[i] for i in fixed) - len(GAP) * (len(columns) - 1)
    widths = list(natural)
    stacked = False
    if wrapped and sum(natural[i] for i in wrapped) > room:
        share = _share(room, [natural[i] for i in wrapped])
        if any(given < min(MIN_WRAPPED, natural[i]) for i, given in zip(wrapped, share, strict=True)):
            stacked = True
        for i, given in zip(wrapped, share, strict=True):
            widths[i] = given

    def cells(row: Sequence[Cell], index: int) -> list[str]:
        return [_styled(row[i], texts[index][i], widths[i], colour) for i in range(len(columns))]

    def header(order: Sequence[int]) -> str:
        return GAP.join(name.ljust(widths[i]) for i, name in ((i, columns[i]) for i in order)).rstrip()

    lines: list[str] = []
    if stacked:
        lines.append(header(fixed))
        indent = " " * (natural[fixed[0]] + len(GAP)) if fixed else ""
        for index, row in enumerate(rows):
            lines.append(GAP.join(cells(row, index)[i] for i in fixed).rstrip())
            for i in wrapped:
                room_left = max(width - len(indent), MIN_WRAPPED)
                for piece in textwrap.wrap(texts[index][i], room_left, break_on_hyphens=False):
                    lines.append(indent + paint(piece, _style(row[i]), colour))
        return lines
    lines.append(header(range(len(columns))))
    for index, row in enumerate(rows):
        pieces = [
            textwrap.wrap(texts[index][i], widths[i], break_on_hyphens=False) or [""]
            if i in wrapped
            else [texts[index][i]]
            for i in range(len(columns))
        ]
        for line_no in range(max(len(p) for p in pieces)):
            parts = []
            for i, column_lines in enumerate(pieces):
                part = column_lines[line_no] if line_no < len(column_lines) else ""
                parts.append(paint(part, _style(row[i]), colour) + " " * (widths[i] - len(part)))
            lines.append(GAP.join(parts).rstrip())
    return lines


def _share(room: int, wanted: list[int]) -> list[int]:
    """`room` split fairly among columns that want `wanted` characters: a column that wants less than an
    even share gets what it wants, and the rest is shared again among the others."""
    given = [0] * len(wanted)
    left = max(room, 0)
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    for done, i in enumerate(order):
        given[i] = min(wanted[i], left // (len(order) - done))
        left -= given[i]
    return given


def _text(cell: Cell) -> str:
    return cell[0] if isinstance(cell, tuple) else cell


def _style(cell: Cell) -> str | None:
    return cell[1] if isinstance(cell, tuple) else None


def _styled(cell: Cell, text: str, width: int, colour: bool) -> str:
    return paint(text, _style(cell), colour) + " " * (width - len(text))
