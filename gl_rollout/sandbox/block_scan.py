"""GitLab's "regions to skip" patterns (code fences, HTML blocks, HTML comments), scanned in linear time.

GitLab runs these as one regex (RE2 for task items, whose engine is linear). Their block forms are
`^OPEN.*?\\n(?s:.)*?\\nCLOSE$`: Python's backtracking engine tries every later line as the closer from
every opener, so 20 kB of unclosed `<!--` lines took seconds. The scanner here gives the same matches as
`re.finditer` over the alternation, in the same order, without that: each block kind's closers are found
once, up front, and an opener takes the first closer that starts at least two characters after its own
line's end (the `\\n` that ends the opener's first line, then the `(?s:.)*?\\n` before the closer),
found by bisection. Single-line alternatives (a one-line comment, a task item) stay regexes, matched
anchored at each line start. `tests/sandbox/test_block_scan.py` compares both on generated texts.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

_SPACES_TO_EOL = re.compile(r" *(?=\n|\Z)")
_CODE_CLOSER = re.compile(r"``` *")
_COMMENT_CLOSER = re.compile(r".*--> *")


class Text:
    """The text with its line starts and `>` positions, each found once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.gts = [m.start() for m in re.finditer(">", text)]

    def line_end(self, start: int) -> int:
        end = self.text.find("\n", start)
        return len(self.text) if end < 0 else end

    def next_gt(self, at: int) -> int:
        """The first `>` at or after `at`, or -1."""
        i = bisect.bisect_left(self.gts, at)
        return self.gts[i] if i < len(self.gts) else -1


# An opener: from a line start, the position of the `\n` that ends it (None: no opener there).
Opener = Callable[[Text, int], "int | None"]
# A closer: from a line start, where its match ends (None: no closer there).
Closer = Callable[[Text, int], "int | None"]


def code_open(t: Text, pos: int) -> int | None:  # ^```.*?\n
    if not t.text.startswith("```", pos):
        return None
    end = t.text.find("\n", pos)
    return None if end < 0 else end


def code_close(t: Text, pos: int) -> int | None:  # ```\ *$
    end = t.line_end(pos)
    return end if _CODE_CLOSER.fullmatch(t.text, pos, end) else None


def comment_open(t: Text, pos: int) -> int | None:  # ^<!--.*?\n
    if not t.text.startswith("<!--", pos):
        return None
    end = t.text.find("\n", pos)
    return None if end < 0 else end


def comment_close(t: Text, pos: int) -> int | None:  # .*?-->\ *$
    end = t.line_end(pos)
    return end if _COMMENT_CLOSER.fullmatch(t.text, pos, end) else None


def html_open(t: Text, pos: int) -> int | None:  # ^<[^>]+?>\ *\n  ([^>] takes newlines too)
    if not t.text.startswith("<", pos):
        return None
    gt = t.next_gt(pos + 1)
    if gt <= pos + 1:  # no `>`, or `<>`
        return None
    spaces = _SPACES_TO_EOL.match(t.text, gt + 1)
    if spaces is None or spaces.end() == len(t.text):  # something after the `>`, or no `\n` to end it
        return None
    return spaces.end()


def html_close(t: Text, pos: int) -> int | None:  # </[^>]+?>\ *$
    if not t.text.startswith("</", pos):
        return None
    gt = t.next_gt(pos + 2)
    if gt <= pos + 2:
        return None
    spaces = _SPACES_TO_EOL.match(t.text, gt + 1)
    return spaces.end() if spaces is not None else None


@dataclass(frozen=True)
class Block:
    """A block alternative: its opener and closer."""

    name: str
    opener: Opener
    closer: Closer


@dataclass(frozen=True)
class Line:
    """A single-line (or at least single-start) alternative: a regex matched anchored at a line start."""

    name: str
    pattern: re.Pattern[str]


Alternative = Block | Line


@dataclass(frozen=True)
class Found:
    """A match: which alternative, where, and the regex match for a `Line` alternative."""

    name: str
    start: int
    end: int
    match: re.Match[str] | None = None


def scan(text: str, alternatives: Sequence[Alternative]) -> Iterator[Found]:
    """What `re.finditer` over the alternation (in this order, MULTILINE, each starting with `^`) finds."""
    t = Text(text)
    closers: dict[str, tuple[list[int], list[int]]] = {}
    for alternative in alternatives:
        if isinstance(alternative, Block):
            found = [(pos, alternative.closer(t, pos)) for pos in t.starts]
            starts = [pos for pos, end in found if end is not None]
            ends = [end for _, end in found if end is not None]
            closers[alternative.name] = (starts, ends)
    index = 0
    while index < len(t.starts):
        pos = t.starts[index]
        hit = _first(t, pos, alternatives, closers)
        if hit is None:
            index += 1
            continue
        yield hit
        index = bisect.bisect_left(t.starts, hit.end, lo=index + 1)


def _first(
    t: Text, pos: int, alternatives: Sequence[Alternative], closers: dict[str, tuple[list[int], list[int]]]
) -> Found | None:
    for alternative in alternatives:
        if isinstance(alternative, Line):
            match = alternative.pattern.match(t.text, pos)
            if match is not None:
                return Found(alternative.name, match.start(), match.end(), match)
            continue
        opened = alternative.opener(t, pos)
        if opened is None:
            continue
        starts, ends = closers[alternative.name]
        i = bisect.bisect_left(starts, opened + 2)  # the closer's line starts after `\n(?s:.)*?\n`
        if i < len(starts):
            return Found(alternative.name, pos, ends[i])
    return None
