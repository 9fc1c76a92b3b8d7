"""gl-rollout's status block: a short task list it keeps between two hidden markers. Pure.

    <!-- gl-rollout:status -->
    - [ ] Enabled on non-production: dev, pre, staging and staging-ref <!-- step:enable-staging -->
    - [x] ...
    <!-- /gl-rollout:status -->

GitLab's newest rollout template has no task list at all: its sections hold ChatOps commands in code
blocks. On such an issue (or any issue gl-rollout is pointed at with `adopt`), the block is the
checklist: GitLab draws its boxes, a person may tick them, and when a description has an intact block
`gl_rollout.core.checklist.parse_checklist` reads the boxes inside it and no others.

A marker counts only alone on its line, outside fenced code. Between the markers only task list items
and blank lines may stand. A block that breaks these rules (one marker missing, two blocks, text that is
not a task list item) is *damaged*: `check_block` says where, and nothing is written until it is put
back by hand or rebuilt by `gl-rollout adopt --repair`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gl_rollout.errors import UsageError

OPEN_MARKER = "<!-- gl-rollout:status -->"
CLOSE_MARKER = "<!-- /gl-rollout:status -->"
#: The opening marker, which may name the flag when the title does not: `<!-- gl-rollout:status flag=x -->`.
_OPEN = re.compile(
    r"^[ ]{0,3}<!--[ \t]*gl-rollout:status(?:[ \t]+flag=(?P<flag>[a-z0-9]+(?:_[a-z0-9]+)*))?[ \t]*-->[ \t]*$"
)
_CLOSE = re.compile(r"^[ ]{0,3}<!--[ \t]*/gl-rollout:status[ \t]*-->[ \t]*$")
_FENCE = re.compile(r"^[ ]{0,3}(?P<fence>`{3,}|~{3,})")
#: A task list item line: a list marker (at any depth, in a quote too) and a box.
TASK_ITEM = re.compile(r"^[ \t>]*(?:[-+*]|[0-9]{1,9}[.)])[ \t]+\[[^\]\r\n]\](?:[ \t]|$)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HINT = "put it back by hand, or rebuild it from the evidence with `gl-rollout adopt REF --repair`"


@dataclass(frozen=True)
class StatusBlock:
    """Where an intact block stands: the 0-based line indices of its two markers, and the flag the
    opening marker names (None when it names none)."""

    open_line: int
    close_line: int
    flag: str | None = None

    def holds(self, line_index: int) -> bool:
        """Whether a 0-based line index lies between the markers."""
        return self.open_line < line_index < self.close_line


@dataclass(frozen=True)
class Marker:
    """A marker line: its 0-based index, whether it opens, and the flag it names."""

    line: int
    opens: bool
    flag: str | None = None


class DamagedBlock(UsageError):
    """A status block that breaks its rules; `line` is the 1-based line that shows it."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message, _HINT, details={"line": line})
        self.line = line


def mentions_block(text: str) -> bool:
    """A cheap test: could `text` hold a marker at all?"""
    return "gl-rollout:status" in text


def outside_code(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(index, line) of the lines outside fenced code blocks (a fence closes with the same character,
    at least as long, and nothing after it)."""
    fence: str | None = None
    for index, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is not None:
            if (
                opening is not None
                and opening.group("fence").startswith(fence)
                and not line[opening.end() :].strip()
            ):
                fence = None
            continue
        if opening is not None:
            fence = opening.group("fence")
            continue
        yield index, line


def markers(lines: Sequence[str]) -> list[Marker]:
    """The marker lines outside fenced code, in order."""
    found: list[Marker] = []
    for index, line in outside_code(lines):
        if "gl-rollout:status" not in line:
            continue
        if (match := _OPEN.match(line)) is not None:
            found.append(Marker(index, True, match.group("flag")))
        elif _CLOSE.match(line):
            found.append(Marker(index, False))
    return found


def split(text: str) -> list[str]:
    """The description's lines without their endings, split where Markdown splits them."""
    return _LINE_BREAK.split(text)


def find_block(text: str) -> StatusBlock | None:
    """The intact block of `text`, or None when there is none or it is damaged (see `check_block`)."""
    if not mentions_block(text):
        return None
    try:
        return check_block(text)
    except DamagedBlock:
        return None


def check_block(text: str) -> StatusBlock | None:
    """The block of `text` (None when there is none); DamagedBlock (exit 2) naming the line that shows
    the damage: a marker without its pair, a second block, or a line inside that is no task list item."""
    if not mentions_block(text):
        return None
    lines = split(text)
    found = markers(lines)
    if not found:
        return None
    first = found[0]
    if not first.opens:
        raise DamagedBlock(
            f"line {first.line + 1} closes gl-rollout's status block, but no {OPEN_MARKER} opens it",
            first.line + 1,
        )
    if len(found) == 1:
        raise DamagedBlock(
            f"gl-rollout's status block opened on line {first.line + 1} has no closing {CLOSE_MARKER}",
            first.line + 1,
        )
    second = found[1]
    if second.opens:
        raise DamagedBlock(
            f"line {second.line + 1} opens a second gl-rollout status block before the one on line "
            f"{first.line + 1} is closed",
            second.line + 1,
        )
    if len(found) > 2:
        extra = found[2]
        raise DamagedBlock(
            f"line {extra.line + 1} holds another gl-rollout status marker after the block of lines "
            f"{first.line + 1}-{second.line + 1}",
            extra.line + 1,
        )
    for index in range(first.line + 1, second.line):
        line = lines[index]
        if line.strip() and not TASK_ITEM.match(line):
            shown = line.strip()
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise DamagedBlock(
                f"line {index + 1} inside gl-rollout's status block is not a task list item: {shown!r}",
                index + 1,
            )
    return StatusBlock(first.line, second.line, first.flag)


# --- writing a block ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockItem:
    """One item of the block: its step ID, its text, and its box (`[ ]`, `[x]` or `[~]`)."""

    step: str
    text: str
    box: str = "[ ]"

    def line(self) -> str:
        return f"- {self.box} {self.text} <!-- step:{self.step} -->"


def render_block(items: Sequence[BlockItem], *, flag: str | None = None, extra: Sequence[str] = ()) -> str:
    """The block's text (markers included, no line break at the end); `extra` are task item lines a
    person added, kept after ours. `flag` goes into the opening marker when the title does not name it."""
    opening = OPEN_MARKER if flag is None else f"<!-- gl-rollout:status flag={flag} -->"
    body = [item.line() for item in items] + [line.rstrip("\r\n") for line in extra]
    return "\n".join([opening, *body, CLOSE_MARKER])


_HEADING = re.compile(r"^[ ]{0,3}#{1,6}(?:[ \t]|$)")


def insert_block(text: str, block: str) -> str:
    """`text` with `block` after its first heading (outside code), or at the end when it has none.

    A blank line separates the block from what comes before and after it, so GitLab draws it as a
    list of its own; every other byte of `text` stays as it was. The description's line ending is used.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    block = block.replace("\n", newline)
    lines = text.splitlines(keepends=True)
    for index, line in outside_code([line.rstrip("\r\n") for line in lines]):
        if _HEADING.match(line):
            head = "".join(lines[: index + 1])
            if not head.endswith(("\n", "\r")):
                head += newline
            after = "".join(lines[index + 1 :]).lstrip("\r\n")
            return head + newline + block + newline + (newline + after if after else "")
    if not text.strip():
        return block + newline
    body = text.rstrip("\r\n")
    return body + newline + newline + block + newline


def replace_region(text: str, start: int, end: int, replacement: Sequence[str]) -> str:
    """`text` with its lines `start`..`end` (0-based, inclusive) replaced by `replacement` lines; line
    endings of the rest are kept, new lines take the description's ending."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    tail_ending = ""
    if end < len(lines):
        ending = lines[end][len(lines[end].rstrip("\r\n")) :]
        tail_ending = ending
    new = [line + newline for line in replacement]
    if new and not tail_ending:
        new[-1] = new[-1][: -len(newline)]
    return "".join(lines[:start] + new + lines[end + 1 :])


# --- repairing a damaged block --------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """The lines a damaged block spans (0-based, inclusive), its task items and the other text in it."""

    start: int
    end: int
    items: tuple[str, ...]  # task item lines found there, in order
    other: tuple[str, ...]  # text lines that are neither markers nor task items (a person's: kept)
    flag: str | None


def damage(text: str) -> Damage | None:
    """What `adopt --repair` replaces: from the first marker to the last; a marker left alone takes the
    run of task items next to it (after an opening, before a closing). None when there is no marker."""
    lines = split(text)
    found = markers(lines)
    if not found:
        return None
    start, end = found[0].line, found[-1].line
    if not any(not m.opens for m in found):
        while end + 1 < len(lines) and TASK_ITEM.match(lines[end + 1]):
            end += 1
    if not any(m.opens for m in found):
        while start > 0 and TASK_ITEM.match(lines[start - 1]):
            start -= 1
    marker_lines = {m.line for m in found}
    region = [(index, lines[index]) for index in range(start, end + 1) if index not in marker_lines]
    items = tuple(line for _, line in region if TASK_ITEM.match(line))
    other = tuple(line for _, line in region if line.strip() and not TASK_ITEM.match(line))
    flag = next((m.flag for m in found if m.opens and m.flag), None)
    return Damage(start, end, items, other, flag)
