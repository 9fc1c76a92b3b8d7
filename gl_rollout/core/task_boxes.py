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
_WIKILINK = re.compile(r"\[\[[^\r\n]*?[^\[\]\r\n][^\r\n]*?\]\]")
_MAX_MATH_DOLLARS = 2

BoxSymbol = str  # the one character between the brackets


def box_symbol(content: str, references: Mapping[str, Any]) -> tuple[BoxSymbol, str] | None:
    """The box a list item's first paragraph starts with, as (character, label text), or None.

    `content` is the paragraph's inline source (markdown-it's, leading indentation removed);
    `references` are the document's link reference definitions (markdown-it's `env["references"]`).
    """
    if len(content) >= 3 and content[0] == "[" and content[2] == "]":
        symbol = content[1]
        if symbol in "\n]":
            return None
        # `[x]: url` makes `[x]` a link, unless an undefined link label follows (`[x][other]`).
        if _reference_label(symbol) in references and not _literal_before_label(content, references):
            return None
        if symbol in _DELIMITER_SYMBOLS or (len(content) > 3 and content[3] not in SPACE_CHARS):
            return _box_by_inline_parse(content, references)  # glued to something, or may pair
        return symbol, content[3:]
    if content[:1] == "&" or content[:2] == "[&":  # a bracket or a box character spelt as a reference
        return _box_by_inline_parse(content, references)
    return None


_LINK_LABEL = re.compile(r"\[((?:[^\[\]\\]|\\.){0,999})\]", re.DOTALL)


def _literal_before_label(content: str, references: Mapping[str, Any]) -> bool:
    """...except before a link label that is not defined (`[x][other]`): then `[x]` is text (CommonMark)."""
    if content[3:4] != "[":
        return False
    label = _LINK_LABEL.match(content, 3)
    if label is None or not label.group(1).strip():
        return False  # `[x][]` or `[x][[...`: `[x]` is still a link
    name = " ".join(label.group(1).split()).lower().upper()
    return name.startswith("^") or name not in references  # `[^1]` is a footnote, not a link label


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
    if content[:end] == first[:end]:
        raw_end = end
        if _extension_node_at(content, 0, references) or _extension_node_at(content, 1, references):
            return None
    else:  # the box is spelt with character references; none holds a `]`
        raw_end = content.index("]") + 1
    # Where markdown-it's text goes on after the box, comrak may start one of GitLab's extension nodes.
    glued = end < len(first) and first[end] not in SPACE_CHARS
    if glued and not _extension_node_at(content, raw_end, references):
        return None
    return match.group(1), content[raw_end:]


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
    - Description lists (GitLab enables them): a paragraph (the term) followed, directly or after blank
      lines, by a line starting with `:` or `~` and a space opens the details, a container like a list
      item (`: - [ ] x` holds a list). markdown-it reads the line as paragraph text.
    - A line that is not inside the innermost container of a paragraph (outdented from a list item, no `>`
      for a quote, not indented for a footnote) may start any block, as if no paragraph were open: an
      HTML tag alone on its line (HTML block type 7) ends the list or quote there. markdown-it keeps it as
      lazy paragraph text, since that kind of HTML block cannot interrupt a paragraph.
    """
    _wrap_rule(md, "reference", _reference_in_paragraph)
    md.block.ruler.before(
        "reference",
        "footnote_definition",
        _footnote_definition,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.block.ruler.before("list", "description_details", _description_details, {"alt": ["paragraph"]})
    _wrap_rule(md, "blockquote", _no_indented_quote_markers)
    _wrap_rule(md, "list", _tracking_containers)


def guard_interruptions(md: MarkdownIt) -> None:
    """Give the block rules, where they are asked whether a line ends the block above (the ruler's chains
    other than the main one), the checks on lazy lines of `comrak_block_rules`. Call after the last
    `enable`/`disable`: those rebuild the chains. The main chain keeps the plain rules (speed)."""
    ruler = md.block.ruler
    ruler.getRules("")  # compile the chains
    chains = ruler.__cache__
    assert chains is not None
    for chain in [name for name in chains if name]:
        chains[chain] = [
            _no_interruption_from_code_indent(
                _html_starts_on_lazy_lines(rule.fn) if rule.name == "html_block" else rule.fn
            )
            for rule in ruler.__rules__
            if rule.enabled and chain in rule.alt
        ]


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


@functools.cache
def _html_tag_line() -> re.Pattern[str]:
    from markdown_it.common.html_re import HTML_OPEN_CLOSE_TAG_STR

    return re.compile(f"(?:{HTML_OPEN_CLOSE_TAG_STR})\\s*$")


def _html_starts_on_lazy_lines(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if rule(state, start_line, end_line, silent):
            return True
        lazy = (
            state.parentType in ("blockquote", "reference", "table")
            or state.sCount[start_line] < state.blkIndent
        )
        if not (silent and lazy) or state.is_code_block(start_line):
            return False
        text = state.src[state.bMarks[start_line] + state.tShift[start_line] : state.eMarks[start_line]]
        return _html_tag_line().match(text) is not None

    return wrapped


def _no_interruption_from_code_indent(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        indent = state.sCount[start_line]
        if 4 <= indent < state.blkIndent:  # (less than four columns is never code)
            # The innermost container the line belongs to; four columns more than its text is code there.
            inside = [column for column in state.env.get(_CONTAINERS, ()) if column <= indent]
            if inside and indent - inside[-1] >= 4:
                return False
        return rule(state, start_line, end_line, silent)

    return wrapped


def _no_indented_quote_markers(rule: BlockRule) -> BlockRule:
    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if silent or state.src[state.bMarks[start_line] + state.tShift[start_line]] != ">":
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
    # With no text after `]:` there is no paragraph for the next line to continue lazily.
    lazy = bool(state.src[match.end() : state.eMarks[start_line]].strip())
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
            if state.sCount[line] - state.blkIndent < 4 and (
                not lazy or any(terminate(state, line, end_line, True) for terminate in terminators)
            ):
                break
            lazy = True
            line += 1
    finally:
        state.parentType = old_parent
    token = state.push("footnote_definition", "", 0)
    token.map = [start_line, line]
    state.env.setdefault("references", {})["^" + _reference_label(match.group(1))] = {"map": token.map}
    state.line = line
    return True


_DETAILS_START = re.compile(r"[:~][ \t]+")


def _description_details(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.is_code_block(start_line) or state.sCount[start_line] < state.blkIndent:
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    match = _DETAILS_START.match(state.src, start, state.eMarks[start_line])
    if match is None:
        return False
    if silent:
        return state.parentType == "paragraph"  # the paragraph being read becomes the term
    previous = state.tokens[-1] if state.tokens else None
    if (
        previous is None
        or previous.level != state.level
        or previous.type not in ("paragraph_close", "dd_close")
    ):
        return False
    column = state.sCount[start_line] + 1
    for char in state.src[start + 1 : match.end()]:
        column += 4 - (column + state.bsCount[start_line]) % 4 if char == "\t" else 1
    old = (state.blkIndent, state.tShift[start_line], state.sCount[start_line], state.parentType)
    opening = state.push("dd_open", "dd", 1)
    opening.map = [start_line, start_line]
    state.blkIndent = column
    state.tShift[start_line] = match.end() - state.bMarks[start_line]
    state.sCount[start_line] = column
    state.parentType = "list"  # the details' lines are their own, like a list item's
    try:
        state.md.block.tokenize(state, start_line, end_line)
    finally:
        state.blkIndent, state.tShift[start_line], state.sCount[start_line], state.parentType = old
    state.push("dd_close", "dd", -1)
    opening.map[1] = state.line
    return True


def _reference_in_paragraph(reference: BlockRule) -> BlockRule:
    def rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        defined = None if silent else set(state.env.get("references", {}))
        if not reference(state, start_line, end_line, silent):
            return False
        if silent:
            return True
        while state.line < end_line and not state.isEmpty(state.line):
            if _footnote_definition(state, state.line, end_line, True):
                break  # a footnote definition interrupts the paragraph
            if not reference(state, state.line, end_line, False):
                break
        text_start = state.line
        end, heading, kept = _paragraph_after_definitions(state, text_start, end_line)
        if heading:
            _push_paragraph(state, text_start, end, "heading")
            state.line = end + 1
        elif (
            defined is not None
            and not kept
            and (_table_starts(state, end, end_line) or _details_start(state, end, end_line))
        ):
            # comrak takes a table's header row (or a description term) from the end of the paragraph:
            # the paragraph is then plain text, and defines nothing.
            references = state.env["references"]
            for label in set(references) - defined:
                del references[label]
            _push_paragraph(state, start_line, end)
        elif text_start < end:
            _push_paragraph(state, text_start, end)
        return True

    return rule


def _details_start(state: StateBlock, line: int, end_line: int) -> bool:
    old_parent = state.parentType
    state.parentType = "paragraph"
    try:
        return line < end_line and _description_details(state, line, end_line, True)
    finally:
        state.parentType = old_parent


def _table_starts(state: StateBlock, line: int, end_line: int) -> bool:
    if "table" not in state.md.block.ruler.get_active_rules():
        return False
    table = state.md.block.ruler.__rules__[state.md.block.ruler.__find__("table")].fn
    old_parent = state.parentType
    state.parentType = "paragraph"
    try:
        return line < end_line and table(state, line, end_line, True)
    finally:
        state.parentType = old_parent


def _paragraph_after_definitions(state: StateBlock, text_start: int, end_line: int) -> tuple[int, bool, bool]:
    """Where the paragraph that holds link reference definitions ends, as comrak reads it.

    Returns (end line, whether it ends as a setext heading underlined on the end line, whether the
    definitions were already read for good). A setext underline right after the definitions makes comrak
    read them, and then is paragraph text (`-`, `===`) or a thematic break (`---`).
    """
    terminators = state.md.block.ruler.getRules("paragraph")
    hr = state.md.block.ruler.__rules__[state.md.block.ruler.__find__("hr")].fn
    kept = False
    line = text_start
    old_parent = state.parentType
    state.parentType = "paragraph"
    try:
        while line < end_line and not state.isEmpty(line):
            if state.sCount[line] - state.blkIndent > 3 or state.sCount[line] < 0:
                line += 1
                continue
            if _is_setext_underline(state, line):
                if line > text_start:
                    return line, True, kept
                kept = True
                if hr(state, line, end_line, True):
                    break
                line += 1
                continue
            if any(terminate(state, line, end_line, True) for terminate in terminators):
                break
            line += 1
    finally:
        state.parentType = old_parent
    return line, False, kept


_SETEXT_UNDERLINE = re.compile(r"(?:=+|-+)[ \t]*$")


def _is_setext_underline(state: StateBlock, line: int) -> bool:
    if state.sCount[line] - state.blkIndent > 3 or state.sCount[line] < state.blkIndent:
        return False
    start = state.bMarks[line] + state.tShift[line]
    return _SETEXT_UNDERLINE.match(state.src[start : state.eMarks[line]]) is not None


def _push_paragraph(state: StateBlock, start_line: int, end_line: int, kind: str = "paragraph") -> None:
    token = state.push(f"{kind}_open", "p" if kind == "paragraph" else "h2", 1)
    token.map = [start_line, end_line]
    token = state.push("inline", "", 0)
    token.content = state.getLines(start_line, end_line, state.blkIndent, False).strip()
    token.map = [start_line, end_line]
    token.children = []
    state.push(f"{kind}_close", "p" if kind == "paragraph" else "h2", -1)
    state.line = end_line
