"""The checklist against GitLab's renderer: comrak, through the `comrak-ext` binding (a test dependency).

GitLab renders descriptions with comrak through its `gitlab-glfm-markdown` gem. Its options, as set in
GitLab's `Banzai::Filter::MarkdownEngines::GlfmMarkdown`, and how this test sets them:

- set here as GitLab does: `tasklist`, relaxed task-list character (the binding's
  `relaxed_tasklist_matching`: any character in the box is drawn checked), `tasklist_in_table`, `table`,
  `strikethrough`, `autolink` with `relaxed_autolinks`, `footnotes`, `multiline_block_quotes`,
  `description_lists`, `alerts`, `math_dollars`, `math_code`, `wikilinks_title_before_pipe`,
  `cjk_friendly_emphasis`, `escaped_char_spans`;
- not in the binding: `inapplicable_tasks` (the gem draws `[~]` as an inapplicable box; comrak alone draws it
  checked, so this test reads comrak's `~` as skipped), `only_escape_chars` (the gem keeps escaped-character
  spans only for GitLab's reference characters: with comrak alone every escaped punctuation character is a
  span, so `[x]\\*` is a box here; whether the gem's option changes the tree is not documented, the test
  follows comrak), `placeholder_detection` (GitLab's `%{...}` placeholders, which do not touch boxes) and
  `header_accessibility` (heading anchors);
- render-only options that cannot change which boxes exist: `sourcepos`, `header_ids`, `unsafe`,
  `full_info_string`, `github_pre_lang`, `tasklist_classes`, `hardbreaks`, `smart`, `tagfilter`.
  Front matter is cut by GitLab's own filter before comrak; the generator writes none.

Each generated description is parsed by both; the steps must be comrak's task items, same line (of the box
character) and same state, in the same order. The allow-list, shapes where the tool knowingly differs:

1. A box alone in a table cell (`| [ ] |`, `tasklist_in_table`): GitLab draws it, but it has no label and
   GitLab's own counter never counts it; it is not a step.
2. A box inside a footnote definition: GitLab draws it only when the footnote is referenced, and at the end
   of the page, out of line order; it is not a step.

Disagreements the tool does not model, allowed only on the lines they concern (`ALLOWED`):

3. `[` as the box character glued to a wikilink (`- [[][[page]]`): whether comrak reads a wikilink there
   depends on bracket state this reader does not keep.
4. Dollar math that spans a line break (`cost $5` on one line, `[_]$m$` on the next) and so swallows a
   delimiter that decides whether a box is glued to emphasis.
5. A blockquote inside a list item followed by lines indented less than the item's text (lazy lines of
   the quote's paragraph), further nested: markdown-it's quote rule checks those lines in coordinates
   this reader cannot see from outside it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import comrak
import pytest

from gl_rollout.core.checklist import parse_checklist

EXTENSIONS = comrak.ExtensionOptions(
    tasklist=True,
    table=True,
    strikethrough=True,
    autolink=True,
    footnotes=True,
    multiline_block_quotes=True,
    description_lists=True,
    alerts=True,
    math_dollars=True,
    math_code=True,
    wikilinks_title_before_pipe=True,
    cjk_friendly_emphasis=True,
)
PARSING = comrak.ParseOptions(
    relaxed_tasklist_matching=True, tasklist_in_table=True, relaxed_autolinks=True, escaped_char_spans=True
)

CASES = 6000  # per generator; both run in a few seconds


def comrak_boxes(text: str) -> list[tuple[int, str]]:
    """comrak's task items as (line of the box character, state), leaving out the allow-listed ones."""
    found: list[tuple[int, str]] = []

    def walk(node: comrak.AstNode, aside: bool) -> None:
        kind = type(node.node_value).__name__
        if kind == "TaskItem" and not aside and type(node.parent.node_value).__name__ != "TableCell":
            item = node.node_value.value
            symbol = item.symbol
            state = "todo" if symbol is None else "skipped" if symbol == "~" else "done"
            found.append((item.symbol_sourcepos.start.line, state))
        for child in node.children:
            walk(child, aside or kind == "FootnoteDefinition")

    walk(comrak.parse_document(text, EXTENSIONS, PARSING), False)
    return found


def our_boxes(text: str) -> list[tuple[int, str]]:
    return [(step.line, step.state) for step in parse_checklist(text).steps]


# --- generated descriptions -----------------------------------------------------------------------

BOXES = [
    "[ ]", "[ ]", "[x]", "[X]", "[~]", "[-]", "[/]", "[?]", "[v]", "[\t]", "[\u00a0]", "[  ]", "[]", "[é]",
    "[*]", "[_]", "[`]", "[\\]", "[[]", "[!]", "[<]", "[&]", "[$]", "\\[ ]", "[xx]", "&#91; ]", "[&#120;]",
]  # fmt: skip
GLUED = [
    " ", " ", " ", "\t", "", "`code`", "`unclosed", "[link](u)", "**a**", "*a", "_a_", "<!-- c -->",
    "<span>", "<http://a.b>", "\\*", "\\a", "&amp;", "&#32;", "~~s~~", "~s~", "![i](u)", "x", "$m$", "$ m",
    "https://e.x", "[[page]]", "[^1]", "\\",
]  # fmt: skip
LABELS = [
    "Enable on staging", "Test on staging", "text `/chatops run x` more", "see issue~", "a *b* c",
    "[x] inside", "", "<!-- step:custom -->", "tail  ", "cost $5", "ends with ~~",
]  # fmt: skip
MARKERS = ["-", "*", "+", "1.", "2.", "1)", "10."]


def item(r: random.Random, indent: str = "") -> str:
    gap = r.choice([" ", " ", " ", "  ", "\t", "   ", "     "])
    return f"{indent}{r.choice(MARKERS)}{gap}{r.choice(BOXES)}{r.choice(GLUED)}{r.choice(LABELS)}"


def block(r: random.Random) -> list[str]:
    kind = r.choice(
        ["list", "list", "list", "nested", "fence", "comment", "html", "quote", "multiline-quote",
         "reference", "footnote", "table", "prose", "heading", "indented", "blank", "lazy"]
    )  # fmt: skip
    if kind == "list":
        return [item(r) for _ in range(r.randint(1, 4))]
    if kind == "nested":
        lines = []
        for _ in range(r.randint(1, 3)):
            lines.append(item(r))
            indent = r.choice(["  ", "   ", "    ", "     ", "\t", "      "])
            for _ in range(r.randint(0, 2)):
                lines.append(item(r, indent))
                if r.random() < 0.4:
                    continuation = r.choice(
                        ["cont", "```", "~~~", "<!--", "- [ ] x", "[x]: u", "2. [ ] y", "-"]
                    )
                    lines.append(
                        r.choice([indent + "  ", indent + "    ", "    ", "      ", indent]) + continuation
                    )
        return lines
    if kind == "fence":
        fence = r.choice(["```", "~~~", "````"])
        inside = [item(r) for _ in range(r.randint(0, 2))]
        return [r.choice(["", " ", "  "]) + fence, *inside, r.choice([fence, fence, "```", ""])]
    if kind == "comment":
        return [
            "<!--",
            *[item(r) for _ in range(r.randint(0, 2))],
            r.choice(["-->", "--> tail", "remove-->"]),
        ]
    if kind == "html":
        opening = r.choice(["<details>", "<div>", "<details><summary>s</summary>"])
        return [opening, r.choice(["", "", "text"]), item(r), "", r.choice(["</details>", "</div>"])]
    if kind == "quote":
        return [r.choice(["> ", ">", "> > ", "    > "]) + item(r) for _ in range(r.randint(1, 3))]
    if kind == "multiline-quote":
        return [">>>", item(r), item(r), ">>>"]
    if kind == "reference":
        definition = r.choice(
            ["[x]: https://e.x", "[X]: u", "[~]: u", "[a]: u", "[-]: u", "[ ]: u", "[y]: u 'title'"]
        )
        after = r.choice(
            [
                "2. [ ] after ref",
                "-",
                "- [ ] after ref",
                "1. [x] after",
                "   [x]: u2",
                "| a |\n|---|",
                "<span>",
            ]
        )
        return [definition, *([after] if r.random() < 0.6 else [])]
    if kind == "footnote":
        return [
            r.choice(["[^1]: note", "[^1]:", "[^a b]: no footnote"]),
            r.choice(["2. [ ] after", "    - [ ] in", "lazy", "[x]: u"]),
            "",
            "ref[^1]",
        ]
    if kind == "table":
        return ["| a | b |", "|---|---|", r.choice(["| [ ] | x |", "| - [ ] a | b |", "| [x] |  |"])]
    if kind == "prose":
        return [
            r.choice(
                ["Some prose.", "text [x] here", "- [x] line right after prose", "2. [ ] not after prose"]
            )
        ]
    if kind == "heading":
        return [r.choice(["## Steps", "# H", "Setext", "---", "Term", ": - [ ] details"])]
    if kind == "indented":
        return ["    - [ ] indented code", "    more"]
    if kind == "lazy":
        return [item(r), r.choice(["lazy line", "    lazy4", "- [ ] next", "  - [ ] sub", "with ~ tilde"])]
    return [""]


def description(seed: int) -> str:
    r = random.Random(seed)  # noqa: S311 (reproducible test data)
    lines: list[str] = []
    for _ in range(r.randint(1, 7)):
        lines += block(r)
        if r.random() < 0.7:
            lines.append("")
    if next((line for line in lines if line.strip()), "").rstrip() in ("---", "+++", ";;;"):
        lines.insert(0, "intro")  # not front matter: GitLab cuts that before comrak
    ending = r.choice(["\n", "\n", "\r\n", "\r"])
    return ending.join(lines) + r.choice(["", ending])


def nested_lists(seed: int) -> str:
    """Lines of random indentation: list items, text, fences, comments and quotes, inside nested lists."""
    r = random.Random(seed)  # noqa: S311 (reproducible test data)
    lines = []
    for _ in range(r.randint(2, 6)):
        indent = " " * r.randint(0, 10)
        kind = r.choice(["item", "item", "item", "text", "fence", "blank", "tilde", "html", "quote", "code"])
        if kind == "item":
            marker = r.choice(["-", "*", "1.", "10.", "-  ", "-    ", "1.   "])
            lines.append(f"{indent}{marker}{r.choice([' ', ' ', chr(9)])}[{r.choice(' x~')}] t")
        else:
            shape = {"text": "text", "fence": "```", "tilde": "~~~", "html": "<!--", "quote": "> - [ ] q"}
            lines.append(indent + shape.get(kind, "") if kind != "code" else "\t- [ ] c")
    lines.append("- [ ] end")
    return "\n".join(lines) + "\n"


def _wikilink_after_bracket_box(lines: list[str], index: int) -> bool:
    return "[[][[" in lines[index]


def _math_across_lines(lines: list[str], index: int) -> bool:
    near = lines[max(index - 1, 0) : index + 2]
    return "$" in lines[index] and sum("$" in line for line in near) >= 2


def _lazy_lines_after_nested_quote(lines: list[str], index: int) -> bool:
    def indent(line: str) -> int:
        return len(line) - len(line.lstrip(" \t"))

    for above in range(index):
        if re.match(r"[ \t]{2,}>", lines[above]):
            between = [line for line in lines[above + 1 : index + 1] if line.strip()]
            if any(indent(line) < indent(lines[above]) for line in between):
                return True
    return False


ALLOWED: tuple[Callable[[list[str], int], bool], ...] = (
    _wikilink_after_bracket_box,
    _math_across_lines,
    _lazy_lines_after_nested_quote,
)


def disagreement(text: str) -> str | None:
    """How comrak and the tool differ on `text` outside the allow-list, or None."""
    theirs, ours = comrak_boxes(text), our_boxes(text)
    if theirs == ours:
        return None
    lines = re.split(r"\r\n|\r|\n", text)
    differing = {line for line, _ in set(theirs) ^ set(ours)}
    if differing and all(any(allowed(lines, line - 1) for allowed in ALLOWED) for line in differing):
        return None
    return f"{text!r}\n  comrak {theirs}\n  ours   {ours}"


# The minimal example of each allowed shape, and a neighbour line that must still agree.
ALLOWED_EXAMPLES = (
    "[x]: u\n\n- [[][[page]][x] y\n- [ ] z\n",
    "- [ ]_a_cost $5\n  [_]$m$\n\n- [ ] z\n",
    "  1.\t[ ] t\n        > - [ ] q\n          > - [ ] q\n     > - [ ] q\n         > - [ ] q\n- [ ] z\n",
)


@pytest.mark.parametrize("text", ALLOWED_EXAMPLES)
def test_each_allowed_shape_still_differs_and_only_on_its_lines(text: str) -> None:
    """An allowed shape that no longer differs should leave the list; the lines around it must agree."""
    theirs, ours = comrak_boxes(text), our_boxes(text)
    assert theirs != ours
    assert disagreement(text) is None
    last = len(re.split(r"\r\n|\r|\n", text.rstrip("\n")))
    assert (last, "todo") in theirs
    assert (last, "todo") in ours


def test_agreeing_and_disagreeing_descriptions_are_told_apart() -> None:
    assert disagreement("- [x]`code`\n- [ ]<!-- c -->x\n- [ ]\n- [-] a\n") is None
    assert disagreement("- [ ] a\n- [ ]x\n") is None
    # The allow-list does not hide a plain disagreement: a box the tool would miss is reported.
    assert comrak_boxes("- [ ]`x`\n") == [(1, "todo")]


@pytest.mark.parametrize("generate", [description, nested_lists])
def test_steps_are_the_boxes_comrak_draws(generate: Callable[[int], str]) -> None:
    disagreements = []
    for seed in range(CASES):
        found = disagreement(generate(seed))
        if found is not None:
            disagreements.append(f"seed {seed}: {found}")
    assert not disagreements, f"{len(disagreements)} of {CASES}:\n" + "\n".join(disagreements[:5])


# --- each place where markdown-it alone reads another tree or box than comrak, minimal examples ----------

# name -> (description, comrak's boxes as (line, state)); markdown-it alone gets each of these wrong.
NAMED_CASES: dict[str, tuple[str, list[tuple[int, str]]]] = {
    # Boxes (comrak's task-item rule, relaxed character).
    "box with nothing after it": ("- [ ]\n- [x]\n\n  more text\n", [(1, "todo"), (2, "done")]),
    "any character is drawn checked": (
        "- [-] a\n- [/] b\n- [?] c\n- [\t] d\n",
        [(1, "done"), (2, "done"), (3, "done"), (4, "done")],
    ),
    "box glued to a code span": ("- [x]`/chatops run x`\n- [ ]`unclosed\n", [(1, "done")]),
    "box glued to a link, emphasis, a comment": (
        "- [x][l](u)\n- [x]**a**\n- [ ]<!-- c -->x\n",
        [(1, "done"), (2, "done"), (3, "todo")],
    ),
    "box glued to an escape, not to an entity": (
        "- [x]\\*a\n- [x]&amp;\n- [x]&#32;a\n",
        [(1, "done"), (3, "done")],
    ),
    "box spelt with a character reference": ("- &#91; ] a\n", [(1, "todo")]),
    "[~] pairs with a later ~ as strikethrough": ("- [~] skip, see issue~\n- [~] skip\n", [(2, "skipped")]),
    "[x] is a link when [x]: is defined": ("- [x] a\n- [x][other](u)\n\n[x]: u\n", [(2, "done")]),
    "no-break space before the box": ("- \u00a0[ ] a\n", []),
    # Block structure.
    "2. after a link reference definition is paragraph text": ("[a]: u\n2. [ ] x\n", []),
    "empty item after a link reference definition is text": ("[a]: u\n*\n  [ ] x\n", []),
    "setext underline after definitions is text": ("[a]: u\n-\n2. [ ] x\n", []),
    "table header taken from a definition's paragraph": ("[x]: u\n| a |\n|---|\n\n- [x] b\n", [(5, "done")]),
    "footnote definition ends at any list item": ("[^1]: two words\n2. [ ] a\n", [(2, "todo")]),
    "footnote text continues lazily": ("[^1]: note\n[x]: u\n\n- [x] b\n\nref[^1]\n", [(4, "done")]),
    "lazy line indented 4+ past the list's container": (
        "1.    [ ] t\n    ```\n         * [ ] u\n",
        [(1, "todo"), (3, "todo")],
    ),
    "lazy fence in a nested list, short of its text": (
        "1. [x] t\n     1.    [~] t\n       * [~] t\n    ~~~\n- [ ] end\n",
        [(1, "done"), (5, "todo")],
    ),
    "> indented four columns is lazy text": ("> - [ ] q\n     > - [ ] r\n", [(1, "todo")]),
    "HTML tag line outdented from an item ends the list": ("1. x\n<span>\n\n    - [ ] c\n", []),
    "HTML tag line after a table ends it": ("| a |\n|---|\n<span>\n- [ ] step\n", []),
    "description list details hold a list": ("Term\n\n: - [ ] details\n", [(3, "todo")]),
}


@pytest.mark.parametrize("name", sorted(NAMED_CASES))
def test_named_differences_follow_comrak(name: str) -> None:
    text, boxes = NAMED_CASES[name]
    assert comrak_boxes(text) == boxes
    assert our_boxes(text) == boxes
