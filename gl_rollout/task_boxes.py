"""Where GitLab draws a checkbox, read the way its renderer reads it. Pure: text in, values out.

GitLab renders descriptions with comrak, options `tasklist` with a relaxed task-list character, GFM tables,
strikethrough, autolinks (relaxed), footnotes, math, wikilinks, escaped-character spans and multiline
blockquotes. comrak's task-item rule, applied after inline parsing:

- the item's first block is a paragraph whose first inline node is text;
- that text starts with `[`, exactly one character other than `]` or a line break, and `]`;
- after the `]` comes whitespace or *the end of that text node*: `- [ ]` alone, or a box glued to a code
  span, a link, emphasis, an HTML comment, an escaped character or a line break is still a box. Character
  references are decoded into the text, so `[x]&amp;` is no box and `&#91; ] x` is one.
- `[ ]` (a plain space) is drawn open; any other character is drawn checked (`[x]`, `[-]`, `[/]`, a tab or a
  no-break space); GitLab draws `[~]` as inapplicable.

Block structure comes from markdown-it (block rules only: fast), with the places where it builds a different
tree from comrak's mended (`comrak_block_rules`). Inline parsing runs only for the rare items whose box is
glued to something, or whose box character could pair with a later delimiter (`*`, `_`, `` ` ``, `~`, `$`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock

# comrak's `spacechar`: what may follow the closing bracket of a box.
SPACE_CHARS = frozenset(" \t\n\r\x0b\x0c")
# Box characters that may open inline syntax reaching past the box (a code span, emphasis, strikethrough,
# math, an entity, a wikilink), or that escape the closing bracket.
_DELIMITER_SYMBOLS = frozenset("*_`~$&\\[")
# comrak's task-item scanner on the first text node (after inline parsing).
_SCANNER = re.compile(r"[ \t\n\r\x0b\x0c]*\[([^\r\n\]])\]")
_URL_AUTOLINK = re.compile(r"[A-Za-z]*://[A-Za-z0-9_-]")
_WIKILINK = re.compile(r"\[\[[^\[\]\r\n]+\]\]")
_MAX_MATH_DOLLARS = 2

BoxSymbol = str  # the one character between the brackets


def box_symbol(content: str, references: Mapping[str, Any]) -> tuple[BoxSymbol, str] | None:
    """The box a list item's first paragraph starts with, as (character, label text), or None.

    `content` is the paragraph's inline source (markdown-it's, leading indentation removed);
    `references` are the document's link reference definitions (markdown-it's `env["references"]`).
    """
    if len(content) >= 3 and content[0] == "[" and content[2] == "]":
        symbol = content[1]
        if symbol in "\n]" or symbol in _DELIMITER_SYMBOLS:
            return _box_by_inline_parse(content, references)
        if len(content) > 3 and content[3] not in SPACE_CHARS:
            return _box_by_inline_parse(content, references)  # glued to something
        if _reference_label(symbol) in references:
            return None  # `[x]: url` is defined: `[x]` is a link
        return symbol, content[3:]
    if content[:1] == "&":
        return _box_by_inline_parse(content, references)
    return None


def _reference_label(symbol: str) -> str:
    """The reference label `[symbol]` would look up (CommonMark case folding, as markdown-it does it)."""
    return symbol.lower().upper()


def _box_by_inline_parse(content: str, references: Mapping[str, Any]) -> tuple[BoxSymbol, str] | None:
    """The slow path: parse the paragraph's inlines and read the first text node as comrak would."""
    # `[^1]: ...` is a footnote definition for comrak, a link reference for markdown-it.
    links = {label: ref for label, ref in references.items() if not label.startswith("^")}
    md = _inline_parser()
    tokens: list[Any] = []
    md.inline.parse(content, md, {"references": links}, tokens)
    parts: list[str] = []
    for token in tokens:
        # comrak keeps character references and a backslash before a non-punctuation character in the
        # text node; an escaped punctuation character is a node of its own (escaped-character spans).
        if token.type == "text" or (
            token.type == "text_special" and (token.info == "entity" or token.content.startswith("\\"))
        ):
            parts.append(token.content)
        else:
            break
    first = "".join(parts)
    match = _SCANNER.match(first)
    if match is None:
        return None
    end = match.end()
    plain = content[:end] == first[:end]  # no character reference before the end of the box
    if plain and (_extension_node_at(content, 0, references) or _extension_node_at(content, 1, references)):
        return None
    # Where markdown-it's text goes on after the box, comrak may start one of GitLab's extension nodes.
    glued = end < len(first) and first[end] not in SPACE_CHARS
    if glued and not (plain and _extension_node_at(content, end, references)):
        return None
    return match.group(1), content[end:] if plain else first[end:]


def _extension_node_at(content: str, position: int, references: Mapping[str, Any]) -> bool:
    """Whether comrak, with GitLab's extensions, starts a node at `position` that markdown-it reads as text:
    dollar math, a bare URL, a wikilink or a footnote reference."""
    char = content[position : position + 1]
    if char == "$":
        return _math_closes(content, position)
    if char == "[":
        if content.startswith("[[", position):
            return _WIKILINK.match(content, position) is not None
        if content.startswith("[^", position):
            close = content.find("]", position)
            return close > position + 2 and content[position + 1 : close].upper() in references
        return False
    if position > 0 and content[position - 1] == "]" and char.isascii() and (char.isalpha() or char == ":"):
        return _URL_AUTOLINK.match(content, position) is not None
    return False


def _math_closes(content: str, start: int) -> bool:
    """comrak's inline math (`$...$`, `$$...$$`, `` $`...`$ ``): is there a closing delimiter?"""
    opening = len(content[start:]) - len(content[start:].lstrip("$"))
    position = start + opening
    if opening == 1 and content[position : position + 1] == "`":
        close = content.find("`$", position + 1)
        return close != -1
    if opening > _MAX_MATH_DOLLARS:
        return False
    if opening == 1 and content[position : position + 1] in SPACE_CHARS:
        return False
    while True:
        found = content.find("$", position)
        if found == -1:
            return False
        before = content[found - 1]
        if opening == 1 and before in SPACE_CHARS:
            return False
        if opening == 1 and before == "\\":
            position = found + 1
            continue
        run = len(content[found:]) - len(content[found:].lstrip("$"))
        taken = min(run, opening)
        after = content[found + taken : found + taken + 1]
        if opening == 1 and after.isascii() and after.isdigit():
            return False
        if taken == opening:
            return found + taken - start >= opening * 2 + 1
        position = found + taken


@functools.cache
def _inline_parser() -> MarkdownIt:
    """markdown-it's inline rules with GFM strikethrough (`~` or `~~`, same length on both sides)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"strikethrough_single_tilde": True}).enable(["strikethrough"])


# --- block structure ------------------------------------------------------------------------------

BlockRule = Callable[["StateBlock", int, int, bool], bool]


def comrak_block_rules(md: MarkdownIt) -> None:
    """Mend markdown-it's block rules where they build another tree than comrak does (CommonMark's
    reference implementation and comrak agree on each of these):

    - Link reference definitions are read out of a finished paragraph. Lines after a definition that
      continue that paragraph (`2. x`, an empty list item, a type-7 HTML line) stay paragraph text;
      markdown-it parses what follows a definition as new blocks.
    - `[^label]: text` is a footnote definition (GitLab enables footnotes): a block of its own, which may
      interrupt a paragraph, whose text lines continue lazily and whose indented lines belong to it.
      markdown-it reads it as a link reference definition, or as paragraph text. Boxes inside a footnote
      are not steps: GitLab draws them at the end of the page, and only when the footnote is referenced.
    - A line inside a list item that is indented less than the item's text but four or more columns more
      than the list's container would be indented code there, which cannot interrupt a paragraph: it is a
      lazy continuation line. markdown-it lets it start a fence, a list, a quote... inside the item and so
      ends the item's text (and loses the boxes that follow).
    - A `>` indented four or more columns does not continue a blockquote (it is lazy paragraph text);
      markdown-it continues the quote with it.
    """
    _wrap_rule(md, "reference", _reference_in_paragraph)
    md.block.ruler.before(
        "reference", "footnote_definition", _footnote_definition, {"alt": ["paragraph", "reference"]}
    )
    _wrap_rule(md, "blockquote", _no_indented_quote_markers)
    for rule in md.block.ruler.__rules__:
        if "paragraph" in rule.alt:
            _wrap_rule(md, rule.name, _no_interruption_from_code_indent)
    _wrap_rule(md, "list", _tracking_containers)


def _wrap_rule(md: MarkdownIt, name: str, wrapper: Callable[[BlockRule], BlockRule]) -> None:
    rule = md.block.ruler.__rules__[md.block.ruler.__find__(name)]
    md.block.ruler.at(name, wrapper(rule.fn), {"alt": list(rule.alt)})


# state.env key: the content columns of the list items around the current block (outermost first), in the
# coordinates of the innermost blockquote.
_CONTAINERS = "gl_rollout_containers"


def _tracking_containers(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if silent:
            return rule(state, start_line, end_line, silent)
        containers: list[int] = state.env.setdefault(_CONTAINERS, [])
        containers.append(state.blkIndent)
        try:
            return rule(state, start_line, end_line, silent)
        finally:
            containers.pop()

    return wrapped


def _no_interruption_from_code_indent(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        indent = state.sCount[start_line]
        if silent and 0 <= indent < state.blkIndent:
            # The innermost container the line belongs to; four columns more than its text is code there.
            inside = [column for column in state.env.get(_CONTAINERS, ()) if column <= indent]
            if inside and indent - inside[-1] >= 4:
                return False
        return rule(state, start_line, end_line, silent)

    return wrapped


def _no_indented_quote_markers(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if silent:
            return rule(state, start_line, end_line, silent)
        hidden: list[int] = []
        line = start_line + 1
        # markdown-it continues the quote with any line whose text starts with `>`: hide the `>` of the
        # lines indented too far (point their text start at the space before it) while the rule runs.
        while line < end_line and not state.isEmpty(line):
            start = state.bMarks[line] + state.tShift[line]
            if state.src[start] == ">" and state.sCount[line] - state.blkIndent >= 4:
                state.tShift[line] -= 1
                hidden.append(line)
            line += 1
        outer = state.env.get(_CONTAINERS, [])
        state.env[_CONTAINERS] = []  # list columns inside the quote are counted from the quote's text
        try:
            return rule(state, start_line, end_line, silent)
        finally:
            state.env[_CONTAINERS] = outer
            for line in hidden:
                state.tShift[line] += 1

    return wrapped


_FOOTNOTE_DEFINITION = re.compile(r"\[\^([^\]\s]+)\]:")


def _footnote_definition(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.is_code_block(start_line):
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    match = _FOOTNOTE_DEFINITION.match(state.src, start, state.eMarks[start_line])
    if match is None:
        return False
    if silent:
        return True
    line = start_line + 1
    terminators = state.md.block.ruler.getRules("reference")
    old_parent = state.parentType
    state.parentType = "reference"  # a list of any kind, even `2.` or an empty item, ends the text
    try:
        while line < end_line:
            if state.isEmpty(line):
                following = line + 1
                while following < end_line and state.isEmpty(following):
                    following += 1
                if following < end_line and state.sCount[following] - state.blkIndent >= 4:
                    line = following
                    continue
                break
            if state.sCount[line] - state.blkIndent < 4 and any(
                terminate(state, line, end_line, True) for terminate in terminators
            ):
                break
            line += 1
    finally:
        state.parentType = old_parent
    token = state.push("footnote_definition", "", 0)
    token.map = [start_line, line]
    state.env.setdefault("references", {})["^" + _reference_label(match.group(1))] = {"map": token.map}
    state.line = line
    return True


def _reference_in_paragraph(reference: BlockRule) -> BlockRule:
    def rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if silent or "table" not in state.md.block.ruler.get_active_rules():
            defined = None
        else:
            defined = set(state.env.get("references", {}))
        if not reference(state, start_line, end_line, silent):
            return False
        if silent:
            return True
        end = _paragraph_end(state, start_line, end_line)
        while state.line < end and reference(state, state.line, end_line, False):
            pass
        if defined is not None and _table_starts(state, end, end_line):
            # comrak takes a table's header row from the end of a paragraph: the paragraph is then
            # plain text, and defines nothing.
            references = state.env["references"]
            for label in set(references) - defined:
                del references[label]
            _push_paragraph(state, start_line, end)
        elif state.line < end:
            _push_paragraph(state, state.line, end)
        return True

    return rule


def _table_starts(state: StateBlock, line: int, end_line: int) -> bool:
    table = state.md.block.ruler.__rules__[state.md.block.ruler.__find__("table")].fn
    old_parent = state.parentType
    state.parentType = "paragraph"
    try:
        return line < end_line and table(state, line, end_line, True)
    finally:
        state.parentType = old_parent


def _paragraph_end(state: StateBlock, start_line: int, end_line: int) -> int:
    """The line after the paragraph starting at `start_line`, as markdown-it's paragraph rule finds it."""
    terminators = state.md.block.ruler.getRules("paragraph")
    line = start_line + 1
    old_parent = state.parentType
    state.parentType = "paragraph"
    try:
        while line < end_line and not state.isEmpty(line):
            if state.sCount[line] - state.blkIndent > 3 or state.sCount[line] < 0:
                line += 1
                continue
            if any(terminate(state, line, end_line, True) for terminate in terminators):
                break
            line += 1
    finally:
        state.parentType = old_parent
    return line


def _push_paragraph(state: StateBlock, start_line: int, end_line: int) -> None:
    token = state.push("paragraph_open", "p", 1)
    token.map = [start_line, end_line]
    token = state.push("inline", "", 0)
    token.content = state.getLines(start_line, end_line, state.blkIndent, False).strip()
    token.map = [start_line, end_line]
    token.children = []
    state.push("paragraph_close", "p", -1)
    state.line = end_line
