"""Descriptions and comments as HTML for the sandbox's pages: Markdown as GitLab draws it, made safe.

markdown-it-py renders CommonMark with GitLab's GFM extensions that matter on a rollout issue (tables,
strikethrough with one or two tildes) and task lists drawn as GitLab draws them: a list item whose text
starts with `[`, one character, `]` and then whitespace, nothing, or markup that is not plain text is a
box; `[ ]` is open, `[~]` inapplicable (struck through, counted neither done nor open), any other
character checked. `[x]` is no box where the text defines a `[x]: url` link (it is a link then).

Descriptions are written by anyone, so nothing in them reaches the page as markup of their own: HTML
comments are dropped (GitLab hides them), a short list of tags GitLab's sanitiser keeps (`<details>`,
`<summary>`, `<b>`, `<kbd>`, ...) is re-emitted without any attribute and only where it closes
properly, and every other tag, attribute, script or style is shown as text. Links keep markdown-it's
check of the URL (no `javascript:`, `vbscript:`, `file:` or non-image `data:`) and get
`rel="nofollow noreferrer noopener"`; images are shown as links, so a description cannot make the page
load anything.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

# Tags kept from raw HTML, always without attributes. Void tags have no closing tag.
KEPT_TAGS = frozenset(
    {"details", "summary", "b", "i", "strong", "em", "kbd", "sub", "sup", "code", "s", "del", "ins",
     "mark", "small", "p", "div", "span", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "br", "hr"}
)  # fmt: skip
VOID_TAGS = frozenset({"br", "hr"})
_HTML_PIECE = re.compile(r"<!--.*?(?:-->|$)|<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^<>]*?(/?)>", re.DOTALL)
_BOX = re.compile(r"^\[([^\n\r])\](?=\s|$)")
_OPEN_TAGS = "gl_sandbox_open_tags"


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    options = {"html": True, "linkify": False, "typographer": False, "strikethrough_single_tilde": True}
    md = MarkdownIt("commonmark", options)
    md.enable(["table", "strikethrough"])
    md.core.ruler.after("inline", "gl_task_lists", _task_lists)
    md.add_render_rule("html_block", _render_html)
    md.add_render_rule("html_inline", _render_html)
    md.add_render_rule("link_open", _render_link_open)
    md.add_render_rule("image", _render_image)
    return md


def render_markdown(text: str) -> str:
    """`text` as safe HTML (see the module's docstring)."""
    env: dict[str, Any] = {}
    body = str(_parser().render(text, env))
    # Tags a description opened and never closed are closed here, so they cannot swallow the page.
    still_open: list[str] = env.get(_OPEN_TAGS, [])
    return body + "".join(f"</{tag}>" for tag in reversed(still_open))


# --- task lists --------------------------------------------------------------------------------------


def _task_lists(state: StateCore) -> None:
    """Turn the boxes GitLab draws into checkboxes (see the module's docstring)."""
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type != "list_item_open" or index + 2 >= len(tokens):
            continue
        paragraph, inline = tokens[index + 1], tokens[index + 2]
        if paragraph.type != "paragraph_open" or inline.type != "inline" or not inline.children:
            continue
        first = inline.children[0]
        if first.type != "text":
            continue
        # `$`: the text ends at the box, so what follows is nothing, a line break or markup
        found = _BOX.match(first.content)
        if found is None:
            continue
        mark = found.group(1)
        first.content = first.content[found.end() :].lstrip(" \t")
        from markdown_it.token import Token

        box = Token("html_inline", "", 0)
        box.content = _checkbox(mark)
        box.meta = {"gl_box": True}
        inline.children.insert(0, box)
        classes = "task-list-item" + (" inapplicable" if mark == "~" else "")
        token.attrSet("class", classes)
        _mark_list(tokens, index)


def _checkbox(mark: str) -> str:
    if mark == "~":
        return '<input type="checkbox" class="task-list-item-checkbox" disabled data-inapplicable> '
    checked = " checked" if mark != " " else ""
    return f'<input type="checkbox" class="task-list-item-checkbox" disabled{checked}> '


def _mark_list(tokens: Sequence[Token], item_index: int) -> None:
    """Give the list holding the item at `item_index` GitLab's `contains-task-list` class."""
    level = tokens[item_index].level - 1
    for token in reversed(tokens[:item_index]):
        if token.level == level and token.type in ("bullet_list_open", "ordered_list_open"):
            token.attrSet("class", "contains-task-list")
            return


# --- raw HTML ------------------------------------------------------------------------------------------


def _render_html(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    if token.meta.get("gl_box"):
        return token.content
    return sanitise(token.content, env)


def sanitise(raw: str, env: EnvType) -> str:
    """Raw HTML from a description: comments dropped, kept tags re-emitted bare and balanced, the rest
    escaped."""
    open_tags: list[str] = env.setdefault(_OPEN_TAGS, [])
    out: list[str] = []
    position = 0
    for piece in _HTML_PIECE.finditer(raw):
        out.append(html.escape(raw[position : piece.start()]))
        position = piece.end()
        text = piece.group(0)
        if text.startswith("<!--"):
            continue
        closing, name = piece.group(1) == "/", piece.group(2).lower()
        if name not in KEPT_TAGS:
            out.append(html.escape(text))
        elif name in VOID_TAGS:
            out.append(f"<{name}>")
        elif not closing:
            open_tags.append(name)
            out.append(f"<{name}>")
        elif name in open_tags:
            while open_tags:  # close what was left open inside it first
                inner = open_tags.pop()
                out.append(f"</{inner}>")
                if inner == name:
                    break
        else:
            out.append(html.escape(text))  # a closing tag nothing opened
    out.append(html.escape(raw[position:]))
    return "".join(out)


# --- links and images ------------------------------------------------------------------------------------


def _render_link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow noreferrer noopener")
    return self.renderToken(tokens, idx, options, env)


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    src = html.escape(str(token.attrGet("src") or ""), quote=True)
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env)) or "image"
    return f'<a href="{src}" rel="nofollow noreferrer noopener" class="image-link">{alt}</a>'
