r"""Make tool-supplied values inert in GitLab Markdown, keeping how they read.

A value printed into a rollout issue must not run a quick action, mass-mention, close a code span, open an
HTML comment that hides steps, or add a task item. Some of that depends on where the value lands, which is
only known once the whole template has rendered: `neutralise` escapes what is always unsafe and leaves
marks, and `resolve_marks` settles the marks on the finished text.

The rules follow GitLab's own: a mention is `@name` not preceded by a word character *in the rendered text*
(GitLab's reference pattern `(?<!\w)@...` runs after Markdown, so `_@all_` and `.@all` mention everyone); a
task item is what GitLab's renderer and its `Taskable` counter take for one (any whitespace, blockquote
and list markers before the box), and character references (`&#91;`, `&lbrack;`, `&#64;`) are decoded
before either looks. Control characters, line separators and invisible format characters (bidi controls,
zero-width characters) are made visible as `⟨U+202E⟩`, so a value cannot hide, reorder or break lines.
"""

from __future__ import annotations

import re
from typing import Any

# Marks left in rendered text and resolved once the whole text is known, because what is safe depends on
# where a value lands. A value that begins with `/` gets `_SLASH_MARK`: it becomes a backslash where the value
# opens a line (GitLab would run a quick action there) and disappears elsewhere (e.g. inside a code span).
# `_BRACKET_MARK` before a value's leading `[` becomes a backslash where the text before it on the line is
# a list marker (the value would complete a task item there) and disappears elsewhere.
# `_NEWLINE_MARK` before each line break of a value becomes a space inside an HTML comment (GitLab's task
# counter takes a two-line comment for the start of a block that runs to the next line ending in `-->`,
# hiding the boxes in between from its count) and disappears elsewhere.
# A mass mention, or the `&` of a character reference, is wrapped in `_MENTION_OPEN`/`_MENTION_CLOSE`: a
# mention becomes code (`` `@all` ``) and `&` becomes `&amp;` in running text; both stay as they are inside
# code or an HTML comment, where they do nothing and an escape would only show.
_SLASH_MARK = "\ue000"
_MENTION_OPEN = "\ue001"
_MENTION_CLOSE = "\ue002"
_BRACKET_MARK = "\ue003"
_NEWLINE_MARK = "\ue004"
_MARKS = (_SLASH_MARK, _MENTION_OPEN, _MENTION_CLOSE, _BRACKET_MARK, _NEWLINE_MARK)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# GitLab: `(?<!\w)@` then a namespace path, matched on the rendered text. Only ASCII letters and digits
# before `@` are sure to stay next to it after rendering, and `_` after it may be an emphasis delimiter that
# Markdown removes (`_@all_`) unless a name goes on after it (`@all_hands` is someone else).
_MENTION_RE = re.compile(
    r"(?<![A-Za-z0-9])@(all|here|channel)(?![A-Za-z0-9-]|_+[A-Za-z0-9]|\.[A-Za-z0-9_])", re.IGNORECASE
)
# CommonMark's entity and numeric character references, decoded before GitLab looks for boxes or mentions;
# but `&lt;`, `&gt;` and `&amp;`, which `neutralise` writes itself and which decode to nothing that acts.
_CHAR_REF_RE = re.compile(
    r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|(?!(?i:lt|gt|amp);)[A-Za-z][A-Za-z0-9]{1,31};)"
)
_HTML_OPEN_RE = re.compile(r"<(?=[A-Za-z!?/])")
# Any mix of blockquote and list markers ending in a list marker, then whitespace, then the box.
_LIST_PREFIX = r"\s*(?:(?:>|[-+*]|\d+[.)])\s*)*?(?:[-+*]|\d+[.)])\s+"
_TASK_ITEM_RE = re.compile(rf"^({_LIST_PREFIX})\[")
_LIST_PREFIX_RE = re.compile(rf"^{_LIST_PREFIX}$")
_BOX_LINE_RE = re.compile(rf"^{_LIST_PREFIX}\[(?:\s|[xX~])\]")
_LEADING_BRACKET_RE = re.compile(r"^(\s*)\[")
_FENCE_RE = re.compile(r"^([ \t]{0,3})(~{3,})")
_LEADING_SLASH_RE = re.compile(r"^([ \t]*)/")
_INDEX_BASE = 0xF0000  # private-use plane 15: numbers the mention marks during one resolution
_INDEX_LIMIT = 0xFFFD
_NUMBERED_MENTION_RE = re.compile(f"{_MENTION_OPEN}([\U000f0000-\U000ffffd])(.*?){_MENTION_CLOSE}", re.DOTALL)


# Shown as `⟨U+XXXX⟩`: controls but tab and newline (Cc), line and paragraph separators (Zl, Zp), and the
# invisible format characters (Cf: soft hyphen, bidi marks, embeddings, overrides and isolates, zero-width
# space and joiners, word joiner, BOM, interlinear annotations, tags), as of Unicode 15.
_HIDDEN_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)


def make_visible(text: str) -> str:
    """Every character of `_HIDDEN_RE` as `⟨U+XXXX⟩` (tab and newline stay)."""
    return _HIDDEN_RE.sub(lambda m: f"⟨U+{ord(m.group(0)):04X}⟩", text)


def strip_marks(text: str) -> str:
    """Remove every mark (also the ones a template file or a value might smuggle in)."""
    for mark in _MARKS:
        text = text.replace(mark, "")
    return text


def neutralise(value: str) -> str:
    """Make a value inert in GitLab Markdown, keeping how it reads (marks are resolved by `resolve_marks`).

    - a line starting with `/` cannot run a quick action (`\\/close`, shown as `/close`);
    - `@all`, `@here`, `@channel` not preceded by a letter or digit become code (`` `@all` ``) in running
      text, which mentions nobody;
    - a backtick becomes U+02CB (modifier letter grave accent), so a value never closes a code span;
    - `<` before a tag or `<!--` becomes `&lt;` and `-->` becomes `--&gt;`, so a value opens or closes no
      HTML comment or block that could hide steps; a character reference (`&#91;`) is shown as typed;
    - a task-item line (`- [ ] ...`, after any whitespace and quote or list markers), a value that
      completes one (`[ ] x` after a template's `- `) or a `~~~` fence inside a value is escaped, so it
      adds or hides no step;
    - control characters, line separators, bidi controls and zero-width characters become `⟨U+XXXX⟩`.
    """
    text = strip_marks(value.replace("\r\n", "\n").replace("\r", "\n"))
    text = make_visible(text)
    text = text.replace("`", "\u02cb")
    text = _CHAR_REF_RE.sub(f"{_MENTION_OPEN}&{_MENTION_CLOSE}", text)
    text = _HTML_OPEN_RE.sub("&lt;", text)
    text = text.replace("-->", "--&gt;")
    text = _MENTION_RE.sub(lambda m: f"{_MENTION_OPEN}{m.group(0)}{_MENTION_CLOSE}", text)
    lines = []
    for i, raw in enumerate(text.split("\n")):
        line = _TASK_ITEM_RE.sub(r"\1\\[", raw)
        line = _FENCE_RE.sub(r"\1\\\2", line)
        if i == 0:  # only the first line can land after template text (`- {{ value }}`): decided later
            line = _LEADING_BRACKET_RE.sub(r"\1" + _BRACKET_MARK + "[", line)
        # Only the first line can land mid-line (e.g. in a code span); its fate is decided after rendering.
        lines.append(_LEADING_SLASH_RE.sub(r"\1" + (_SLASH_MARK if i == 0 else "\\\\") + "/", line))
    return (_NEWLINE_MARK + "\n").join(lines)


class Trusted(str):
    """Markdown gl-rollout wrote itself from validated values (the rollout plan's section, with its
    hidden copy): `finalize` prints it as it is. A template cannot make one: what it computes from it
    (`~`, filters, methods) is a plain `str` again, and neutralised."""

    __slots__ = ()


def finalize(value: Any) -> str:
    """Jinja `finalize`: every `{{ ... }}` output goes through `neutralise` (but `Trusted` text)."""
    if type(value) is Trusted:
        return strip_marks(str(value))
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


def resolve_newline_marks(text: str) -> str:
    """A value's line break becomes a space on a task item's line (the step stays one line, its marker
    with it) and inside an HTML comment; elsewhere it stays a line break.

    Every `<!--` and `-->` in the text is the template's (a value's are escaped), and so is every box a
    line starts with."""
    if _NEWLINE_MARK not in text:
        return text
    lines: list[str] = []
    for line in text.split("\n"):
        if lines and lines[-1].endswith(_NEWLINE_MARK) and _BOX_LINE_RE.match(lines[-1]):
            lines[-1] = lines[-1][: -len(_NEWLINE_MARK)] + " " + line
        else:
            lines.append(line)
    text = "\n".join(lines)
    text = _COMMENT_RE.sub(lambda m: m.group(0).replace(_NEWLINE_MARK + "\n", " "), text)
    return text.replace(_NEWLINE_MARK, "")


def resolve_bracket_marks(text: str) -> str:
    """Escape each value-leading `[` mark where the text before it on its line is a list marker (the value
    would complete a task item), and drop it elsewhere."""
    if _BRACKET_MARK not in text:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        pieces = line.split(_BRACKET_MARK)
        rebuilt = pieces[0]
        for piece in pieces[1:]:
            rebuilt += ("\\" if _LIST_PREFIX_RE.match(rebuilt) else "") + piece
        out.append(rebuilt)
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
        if body == "&":  # a character reference typed in a value: shown as typed, never decoded
            return "&amp;" if kinds & {"markdown", "html"} else body
        if "markdown" in kinds:
            return f"`{body}`"
        if "html" in kinds:
            return f"<code>{body}</code>"
        return body

    return _NUMBERED_MENTION_RE.sub(wrap, numbered)


def resolve_marks(text: str) -> str:
    """Resolve every mark `neutralise` left, now that the values' places in the text are known."""
    text = resolve_newline_marks(text)
    return strip_marks(resolve_bracket_marks(resolve_slash_marks(resolve_mention_marks(text))))


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
