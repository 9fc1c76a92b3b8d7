"""Quick actions (`/label ~x`, `/close`, ...) found at the start of a line, outside code and HTML.

GitLab runs them when an issue is created or edited and when a note is posted, and removes the
command lines from the stored text. Unknown commands stay in the text, as GitLab leaves them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from gl_rollout.sandbox import block_scan

_ANY = r"(?s:.)"
# Regions where a slash line is text, not a command: fenced code, HTML blocks and HTML comments.
_SKIP = re.compile(
    "|".join(
        (
            r"^```.*?\n" + _ANY + r"*?\n```\ *$",
            r"^<[^>]+?>\ *\n" + _ANY + r"*?\n</[^>]+?>\ *$",
            r"^<!--\ .*?\ -->\ *$",
            r"^<!--.*?\n" + _ANY + r"*?\n.*?-->\ *$",
        )
    ),
    re.MULTILINE,
)
# The same alternation, scanned in linear time (`gl_rollout.sandbox.block_scan`; _SKIP is its reference).
_SKIP_SCAN = (
    block_scan.Block("code", block_scan.code_open, block_scan.code_close),
    block_scan.Block("html", block_scan.html_open, block_scan.html_close),
    block_scan.Line("comment_line", re.compile(r"^<!--\ .*?\ -->\ *$", re.MULTILINE)),
    block_scan.Block("comment", block_scan.comment_open, block_scan.comment_close),
)
# The argument runs to the end of the line and is stripped afterwards: a lazy argument followed by
# `[ \t]*$` would retry every split of a long run of blanks (quadratic on a 1 MiB description).
_COMMAND_LINE = re.compile(r"^/(?P<name>[a-z_]+)(?:[ \t]+(?P<arg>[^\n]*))?$", re.MULTILINE)
_LABEL_REF = re.compile(r'~"(?P<quoted>[^"]+)"|~?(?P<plain>[^\s"~,]+)')
_USER_REF = re.compile(r"@?(?P<name>[\w.\-]+)")

KNOWN = {
    "label", "labels", "unlabel", "remove_label", "relabel", "assign", "unassign", "due",
    "remove_due_date", "close", "reopen", "title", "confidential", "milestone", "remove_milestone",
}  # fmt: skip


@dataclass(frozen=True)
class Command:
    name: str
    arg: str


@dataclass
class Extraction:
    text: str
    commands: list[Command] = field(default_factory=list)


def extract(text: str, available: Collection[str] = KNOWN) -> Extraction:
    """Split `text` into the text to store and the commands to run, in their order.

    Only `available` commands are taken out: GitLab leaves a command whose condition does not hold
    (say `/close` while creating, or `/label` in a project without labels) in the text, untouched.
    """
    if "/" not in text:
        return Extraction(text)
    skipped = [(found.start, found.end) for found in block_scan.scan(text, _SKIP_SCAN)]
    commands: list[Command] = []
    spans: list[tuple[int, int]] = []
    for match in _COMMAND_LINE.finditer(text):
        name = match.group("name")
        if name not in available or any(start <= match.start() < end for start, end in skipped):
            continue
        commands.append(Command(name, (match.group("arg") or "").strip()))
        end = match.end()
        if end < len(text) and text[end] == "\n":
            end += 1
        spans.append((match.start(), end))
    if not commands:
        return Extraction(text)
    pieces: list[str] = []
    position = 0
    for start, end in spans:
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    cleaned = "".join(pieces)
    # A removed last line must not leave a dangling line break the author never wrote.
    if text == text.rstrip():
        cleaned = cleaned.rstrip()
    return Extraction(cleaned, commands)


def label_names(arg: str) -> list[str]:
    """`~a ~"b c" d` -> ["a", "b c", "d"]."""
    names: list[str] = []
    for match in _LABEL_REF.finditer(arg):
        name = (match.group("quoted") or match.group("plain") or "").strip()
        if name and name not in names:
            names.append(name)
    return names


def usernames(arg: str) -> list[str]:
    return [m.group("name") for m in _USER_REF.finditer(arg) if m.group("name")]


def parse_due(arg: str, today: dt.date | None = None) -> dt.date | None:
    """The dates `/due` understands here: ISO dates, today, tomorrow, `in N days|weeks`."""
    today = today or dt.datetime.now(dt.UTC).date()
    text = arg.strip().lower()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    if text == "today":
        return today
    if text == "tomorrow":
        return today + dt.timedelta(days=1)
    match = re.fullmatch(r"in (\d+) (day|days|week|weeks)", text)
    if match:
        count = int(match.group(1))
        return today + dt.timedelta(days=count * (7 if match.group(2).startswith("week") else 1))
    return None


def label_reference(name: str) -> str:
    """How GitLab writes a label reference: `~bug`, or `~"two words"` when quoting is needed."""
    return f"~{name}" if re.fullmatch(r"[A-Za-z0-9_\-?.&:]+", name) else f'~"{name}"'
