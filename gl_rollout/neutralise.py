"""Make tool-supplied values inert in GitLab Markdown, keeping how they read.

A value printed into a rollout issue must not run a quick action, mass-mention, close a code span or
open an HTML comment that hides steps. Some of that depends on where the value lands, which is only
known once the whole template has rendered: `neutralise` escapes what is always unsafe and leaves marks,
and `resolve_marks` settles the marks on the finished text.
"""

from __future__ import annotations

import re
from typing import Any

# Marks left in rendered text and resolved once the whole text is known, because what is safe depends on
# where a value lands. A value that begins with `/` gets `_SLASH_MARK`: it becomes a backslash where the value
# opens a line (GitLab would run a quick action there) and disappears elsewhere (e.g. inside a code span).
# A mass mention is wrapped in `_MENTION_OPEN`/`_MENTION_CLOSE`: it becomes code (`` `@all` ``) in running
# text and stays as it is inside code or an HTML comment, where it mentions nobody and backticks would
# only break the span it sits in.
_SLASH_MARK = "\ue000"
_MENTION_OPEN = "\ue001"
_MENTION_CLOSE = "\ue002"
_MARKS = (_SLASH_MARK, _MENTION_OPEN, _MENTION_CLOSE)
_MENTION_RE = re.compile(
    r"(?<![A-Za-z0-9_.+-])@(all|here|channel)(?![A-Za-z0-9_-]|\.[A-Za-z0-9_])", re.IGNORECASE
)
_HTML_OPEN_RE = re.compile(r"<(?=[A-Za-z!?/])")
_TASK_ITEM_RE = re.compile(r"^([ \t]*(?:>[ \t]*)*(?:[-+*]|\d{1,9}[.)])[ \t]+)\[")
_FENCE_RE = re.compile(r"^([ \t]{0,3})(~{3,})")
_LEADING_SLASH_RE = re.compile(r"^([ \t]*)/")
_INDEX_BASE = 0xF0000  # private-use plane 15: numbers the mention marks during one resolution
_INDEX_LIMIT = 0xFFFD
_NUMBERED_MENTION_RE = re.compile(f"{_MENTION_OPEN}([\U000f0000-\U000ffffd])(.*?){_MENTION_CLOSE}", re.DOTALL)


def strip_marks(text: str) -> str:
    """Remove every mark (also the ones a template file or a value might smuggle in)."""
    for mark in _MARKS:
        text = text.replace(mark, "")
    return text


def neutralise(value: str) -> str:
    """Make a value inert in GitLab Markdown, keeping how it reads (marks are resolved by `resolve_marks`).

    - a line starting with `/` cannot run a quick action (`\\/close`, shown as `/close`);
    - `@all`, `@here`, `@channel` become code (`` `@all` ``) in running text, which mentions nobody;
    - a backtick becomes U+02CB (modifier letter grave accent), so a value never closes a code span;
    - `<` before a tag or `<!--` becomes `&lt;` and `-->` becomes `--&gt;`, so a value opens or closes no
      HTML comment or block that could hide steps;
    - a task-item line (`- [ ] ...`) or a `~~~` fence inside a value is escaped, so it adds or hides no step.
    """
    text = strip_marks(value.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("`", "\u02cb")
    text = _HTML_OPEN_RE.sub("&lt;", text)
    text = text.replace("-->", "--&gt;")
    text = _MENTION_RE.sub(lambda m: f"{_MENTION_OPEN}{m.group(0)}{_MENTION_CLOSE}", text)
    lines = []
    for i, raw in enumerate(text.split("\n")):
        line = _TASK_ITEM_RE.sub(r"\1\\[", raw)
        line = _FENCE_RE.sub(r"\1\\\2", line)
        # Only the first line can land mid-line (e.g. in a code span); its fate is decided after rendering.
        lines.append(_LEADING_SLASH_RE.sub(r"\1" + (_SLASH_MARK if i == 0 else "\\\\") + "/", line))
    return "\n".join(lines)


def finalize(value: Any) -> str:
    """Jinja `finalize`: every `{{ ... }}` output goes through `neutralise`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(finalize(v) for v in value)
    return neutralise(str(value))


def resolve_slash_marks(text: str) -> str:
    """Turn each value-leading `/` mark into `\\` where it opens a line, and drop it elsewhere."""
    if _SLASH_MARK not in text:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        index = line.find(_SLASH_MARK)
        if index < 0:
            out.append(line)
            continue
        head = line[:index]
        tail = line[index + 1 :].replace(_SLASH_MARK, "")
        out.append(head + ("\\" if not head.strip(" \t") else "") + tail)
    return "\n".join(out)


def _mention_contexts(numbered: str) -> dict[int, set[str]]:
    """For each numbered mention mark: `code` (in code or an HTML comment: inert as it is), `html` (in raw
    HTML, where backticks are no code) or `markdown` (running text)."""
    from markdown_it import MarkdownIt

    contexts: dict[int, set[str]] = {}

    def note(content: str, kind: str, start: int = 0, end: int | None = None) -> None:
        for match in re.finditer(f"{_MENTION_OPEN}(.)", content[start:end], re.DOTALL):
            contexts.setdefault(ord(match.group(1)) - _INDEX_BASE, set()).add(kind)

    stack = list(MarkdownIt("commonmark").parse(numbered))
    while stack:
        token = stack.pop()
        if token.children:  # an inline token: its children say where each part of its content went
            stack.extend(token.children)
        elif token.type in ("code_inline", "code_block", "fence", "html_inline"):
            note(token.content, "code")  # html_inline is a tag alone: a mention in an attribute is inert
        elif token.type == "html_block":
            position = 0
            for comment in re.finditer(r"<!--.*?(?:-->|\Z)", token.content, re.DOTALL):
                note(token.content, "html", position, comment.start())
                note(token.content, "code", comment.start(), comment.end())
                position = comment.end()
            note(token.content, "html", position)
        else:
            note(token.content, "markdown")
    return contexts


def resolve_mention_marks(text: str) -> str:
    """Make each marked mass mention inert where it landed: `` `@all` `` in running text,
    `<code>@all</code>` in raw HTML, unchanged in code and HTML comments."""
    pieces = text.split(_MENTION_OPEN)
    if len(pieces) == 1:
        return text
    count = min(len(pieces) - 1, _INDEX_LIMIT)
    # Past the limit marks share a number; a shared number takes the strongest treatment any of them needs.
    numbered = pieces[0] + "".join(
        _MENTION_OPEN + chr(_INDEX_BASE + min(i, count - 1)) + piece for i, piece in enumerate(pieces[1:])
    )
    contexts = _mention_contexts(numbered)

    def wrap(match: re.Match[str]) -> str:
        kinds = contexts.get(ord(match.group(1)) - _INDEX_BASE, {"markdown"})
        body = match.group(2)
        if "markdown" in kinds:
            return f"`{body}`"
        if "html" in kinds:
            return f"<code>{body}</code>"
        return body

    return _NUMBERED_MENTION_RE.sub(wrap, numbered)


def resolve_marks(text: str) -> str:
    """Resolve every mark `neutralise` left, now that the values' places in the text are known."""
    return strip_marks(resolve_slash_marks(resolve_mention_marks(text)))


def inert_title(title: str) -> str:
    """A title on one line with its marks resolved; a mass mention outside code becomes code too."""
    text = " ".join(resolve_marks(title).split())
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(
        part
        if part.startswith("`") and part.endswith("`") and len(part) > 1
        else _MENTION_RE.sub(r"`\g<0>`", part)
        for part in parts
    )
