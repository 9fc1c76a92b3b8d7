"""The checklist engine: read the task items of an issue description and tick them. Pure: text in, text out.

The steps are the checkboxes GitLab *draws*. GitLab renders Markdown with comrak (CommonMark + GFM, task
lists with a relaxed box character); `gl_rollout.core.task_boxes` reads boxes by comrak's rule and mends
markdown-it's block rules where they build another tree:

- list markers `-` `+` `*` `1.` `1)`, nested lists, lists inside blockquotes, inside `<details>` where
  GitLab renders them as Markdown (the HTML lines separated from the list by blank lines), and inside
  description-list details;
- a box is `[`, one character, `]` at the start of the item's text, followed by whitespace, nothing, or
  non-text markup (a code span, link, emphasis, comment); `[ ]` is todo, `[~]` GitLab's "inapplicable"
  (here `skipped`, left out of both counts as in GitLab's `task_completion_status`), any other character
  is drawn checked: done;
- nothing in fenced or indented code, HTML comments, HTML blocks, footnotes or YAML front matter counts;
  an escaped `\\[ ]` is no box, and neither is `[x]` when the description defines a `[x]: url` link;
- a description with gl-rollout's status block (`gl_rollout.core.status_block`) has the boxes inside
  the block as its checklist, and no others.

GitLab *counts* with a line regex (`Taskable`) that disagrees with its drawing in some shapes (a box with
nothing after it, other box characters, glued boxes). The mid-2020 rollout template is one: a
`<!-- ...-->` comment written without a space before `-->` makes the regex skip four items, so GitLab
reports 11 while it renders (and lets people tick) 15. We follow the drawing there: 15.

Speed: a 1 MiB description (GitLab's maximum) must cost no more than one plain `MarkdownIt().parse()`.
So parsing is one block-level markdown-it pass (inline parsing only for the rare glued boxes) without the
block rules whose syntax is absent from the text, with the cyclic garbage collector paused, and no pass
at all when nothing could be a box.

Edits change only the bracket of one line (`[ ]`, `[x]`, `[~]`); every other byte stays as it was,
CRLF included. An edit first checks that the line still reads as when it was parsed (`ConflictError`),
and afterwards that the text draws the same boxes with only the asked ones changed (`UsageError`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from gl_rollout.core.status_block import find_block, mentions_block
from gl_rollout.core.steps import STEP_MARKER, normalise_text, ramp_share, recognise_normalised
from gl_rollout.core.task_boxes import box_symbol, comrak_block_rules, guard_interruptions
from gl_rollout.errors import ConflictError, StepError, UsageError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

StepState = Literal["todo", "done", "skipped"]

#: What each state is written as, and the state each bracket character means.
BRACKETS: dict[str, str] = {"todo": "[ ]", "done": "[x]", "skipped": "[~]"}

# Text that could hold a box (a bracketed character, or a bracket spelt as a character reference): a cheap
# test that lets most descriptions skip the parse.
_BOX_HINT = re.compile(r"\[(?:[^\r\n\]]|&[#0-9A-Za-z]{1,32};)\]|&(?:#0*91|#[xX]0*5[bB]|lsqb|lbrack);")
# Container syntax before the box on its line: indentation, blockquote `>`, list markers, the `:`/`~` of
# description-list details.
_BOX_PREFIX = re.compile(r"(?:[ \t>]|[-+*:~](?=[ \t])|[0-9]{1,9}[.)](?=[ \t]))*\[")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_FRONT_MATTER_OPEN = re.compile(r"(---|\+\+\+|;;;)[ \t]*\S*\Z")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 48
# IDs come from the start of a step's text (catalogue rules are anchored, slugs are short).
_ID_TEXT_MAX = 1000
# Deeper nesting than this is not a real description; markdown-it stops parsing past its limit, and a far
# higher limit would exhaust Python's recursion.
_MAX_NESTING = 100


@dataclass(frozen=True)
class Step:
    """One rendered checkbox of a description."""

    id: str  # from `<!-- step:ID -->`, else the catalogue match on the text, else a slug of the text
    text: str  # label text, marker and HTML comments removed, whitespace collapsed
    state: StepState
    line: int  # 1-based line of the box
    section: str | None  # text of the nearest heading above (code and emphasis marks dropped)
    depth: int  # 0 for top-level list items, 1 for nested, ...
    source: str  # the exact line (without line ending), checked again before an edit

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "text": self.text,
            "state": self.state,
            "line": self.line,
            "section": self.section,
            "depth": self.depth,
        }


@dataclass(frozen=True)
class Checklist:
    """The steps of a description and GitLab's progress counts (`[~]` is in neither count)."""

    steps: tuple[Step, ...]
    done: int
    total: int
    skipped: int
    next: Step | None  # first todo step

    @classmethod
    def of(cls, steps: Sequence[Step]) -> Checklist:
        done = sum(1 for s in steps if s.state == "done")
        skipped = sum(1 for s in steps if s.state == "skipped")
        first_todo = next((s for s in steps if s.state == "todo"), None)
        return cls(tuple(steps), done, len(steps) - skipped, skipped, first_todo)

    def find(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def done_above(self, share: float) -> tuple[str, ...]:
        """The production steps of a larger share than `share` that are ticked done: `ramp-M` with M above
        it, and `enable-production`. What a rollback to `share` sets back to todo (skipped stays so)."""
        return tuple(
            step.id
            for step in self.steps
            if step.state == "done" and (step.id == "enable-production" or (ramp_share(step.id) or 0) > share)
        )

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape shared by the status commands."""
        return {
            "steps": [s.to_dict() for s in self.steps],
            "done": self.done,
            "total": self.total,
            "skipped": self.skipped,
            "next": self.next.id if self.next else None,
        }


def progress_line(checklist: Checklist) -> str:
    """GitLab's wording: "N of M checklist items completed" ("item" when M is 1)."""
    return progress_text(checklist.done, checklist.total)


def progress_text(done: int, total: int) -> str:
    """`progress_line` from the two counts (for data that has left its Checklist, such as `--json`)."""
    return f"{done} of {total} checklist {'item' if total == 1 else 'items'} completed"


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split where Markdown splits them (`\\r\\n`, `\\r`, `\\n`)."""
    return _LINE_WITH_END.findall(text)


# Block rules and the text each one needs to match anywhere: a rule whose text is absent cannot change
# the parse, so it is left out (the cost of a markdown-it parse is mostly rules trying lines).
_RULE_NEEDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("table", ("|",)),
    ("code", ("    ", "\t")),  # indented code needs four columns of indentation
    ("fence", ("```", "~~~")),
    ("blockquote", (">",)),
    ("html_block", ("<",)),
    ("heading", ("#",)),
    ("reference", ("]:",)),
    ("footnote_definition", ("[^",)),
)
# Description-list details start a line with `:` or `~` and a space or tab.
_DETAILS_LINE = re.compile(r"(?:\A|[\r\n])[ \t>]*[:~][ \t]")


@functools.cache
def _block_parser(without: frozenset[str] = frozenset()) -> MarkdownIt:
    """markdown-it with GitLab's block syntax (CommonMark + GFM tables), block level only."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING}).enable(["table", "strikethrough"])
    md.core.ruler.enableOnly(["normalize", "block"])
    comrak_block_rules(md)
    if without:
        md.block.ruler.disable(sorted(without))
    guard_interruptions(md)
    return md


def _parser_for(text: str) -> MarkdownIt:
    absent = {rule for rule, needs in _RULE_NEEDS if not any(n in text for n in needs)}
    if _DETAILS_LINE.search(text) is None:
        absent.add("description_details")
    return _block_parser(frozenset(absent))


_LIST_OPEN = frozenset({"bullet_list_open", "ordered_list_open"})
_LIST_CLOSE = frozenset({"bullet_list_close", "ordered_list_close"})


class _Found(NamedTuple):
    text: str
    state: StepState
    line_index: int
    section: str | None
    depth: int
    marker: str | None


def parse_checklist(text: str) -> Checklist:
    """The checkboxes GitLab renders in `text`, with IDs, states, lines, sections and depths."""
    if not _BOX_HINT.search(text):
        return Checklist.of(())
    with _cyclic_gc_paused():
        return _parse(text)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a parse allocates its tokens.

    A 1 MiB description makes ~10^5 tokens, none in a reference cycle (reference counting frees them all);
    the collector would only walk them again and again, which costs as much as the parse itself.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _parse(text: str) -> Checklist:
    env: dict[str, Any] = {}
    tokens = _parser_for(text).parse(text[1:] if text.startswith("\ufeff") else text, env)
    references: dict[str, Any] = env.get("references", {})
    lines = _LINE_BREAK.split(text)
    first_line = _front_matter_end(lines)

    found: list[_Found] = []
    section: str | None = None
    list_depth = 0
    previous = ""  # type of the token before the last one
    last = ""
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "inline":
            if previous == "list_item_open" and last == "paragraph_open":
                item = _task_item(token, references, section, list_depth - 1, first_line, lines)
                if item is not None:
                    found.append(item)
        elif kind in _LIST_OPEN:
            list_depth += 1
        elif kind in _LIST_CLOSE:
            list_depth -= 1
        elif kind == "heading_open" and token.map is not None and token.map[0] >= first_line:
            section = normalise_text(_clean(tokens[index + 1].content)) or None
        previous, last = last, kind
    if mentions_block(text) and (block := find_block(text)) is not None:
        # gl-rollout's status block is the checklist of an issue that has one (core.status_block).
        found = [item for item in found if block.holds(item.line_index)]
    return Checklist.of(_make_steps(found, lines))


def _task_item(
    token: Token,
    references: dict[str, Any],
    section: str | None,
    depth: int,
    first_line: int,
    lines: list[str],
) -> _Found | None:
    if token.map is None or token.map[0] < first_line:
        return None
    box = box_symbol(token.content, references)
    if box is None:
        return None
    # markdown-it strips Unicode spaces before a paragraph; comrak keeps them as text, and draws no box.
    if token.content[0] == "[" and _text_column(lines[token.map[0]], token.map[0]) is None:
        return None
    symbol, label = box
    marker = None
    if "<!--" in label:
        found_marker = STEP_MARKER.search(label)
        marker = found_marker.group(1) if found_marker else None
    return _Found(_clean(label), symbol_state(symbol), token.map[0], section, max(depth, 0), marker)


def symbol_state(symbol: str) -> StepState:
    """The state GitLab draws for a box character: `[ ]` open, `[~]` inapplicable, anything else checked."""
    if symbol == " ":
        return "todo"
    return "skipped" if symbol == "~" else "done"


def _bracket_column(line: str, line_index: int) -> int | None:
    """Where the box's `[` sits on its line, after indentation, `>` and list markers (a plain `[c]` box)."""
    column = _text_column(line, line_index)
    if column is None or len(line) < column + 3 or line[column + 2] != "]":
        return None
    return column


def _text_column(line: str, line_index: int) -> int | None:
    """Where a paragraph starting with `[` starts on its line, if only container syntax comes before."""
    offset = 1 if line_index == 0 and line.startswith("\ufeff") else 0
    match = _BOX_PREFIX.match(line, offset)
    return None if match is None else match.end() - 1


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after YAML/TOML/JSON front matter (GitLab renders it as code), else 0."""
    index = 0
    if lines and "coding:" in lines[0]:
        index = 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines):
        return 0
    opening = _FRONT_MATTER_OPEN.match(lines[index].lstrip("\ufeff") if index == 0 else lines[index])
    if opening is None:
        return 0
    for end in range(index + 1, len(lines)):
        if lines[end].rstrip(" \t") in ("---", "+++", ";;;", "..."):
            return end + 1
    return 0


def _clean(text: str) -> str:
    """Text as shown: HTML comments (and so step markers) removed, whitespace collapsed."""
    if "<!--" in text:
        parts: list[str] = []
        position = 0
        # find() rather than a regex: linear even on a label full of unclosed `<!--`.
        while (start := text.find("<!--", position)) != -1:
            end = text.find("-->", start + 4)
            if end == -1:
                break
            parts.append(text[position:start])
            position = end + 3
        parts.append(text[position:])
        text = " ".join(parts)
    return " ".join(text.split())


def _make_steps(found: list[_Found], lines: list[str]) -> list[Step]:
    """Markers claim their IDs first, then catalogue matches, then slugs; repeats get `-2`, `-3`."""
    ids: list[str] = [""] * len(found)
    taken: dict[str, int] = {}
    for i, item in enumerate(found):
        if item.marker:
            ids[i] = _unique(item.marker, taken)
    plain: dict[int, str] = {}
    for i, item in enumerate(found):
        if not ids[i]:
            plain[i] = normalise_text(item.text[:_ID_TEXT_MAX])
            known = recognise_normalised(plain[i])
            if known is not None and known not in taken:
                ids[i] = _unique(known, taken)
    for i, plain_text in plain.items():
        if not ids[i]:
            ids[i] = _unique(_slug(plain_text, i + 1), taken)
    return [
        Step(
            id=step_id,
            text=item.text,
            state=item.state,
            line=item.line_index + 1,
            section=item.section,
            depth=item.depth,
            source=lines[item.line_index],
        )
        for step_id, item in zip(ids, found, strict=True)
    ]


def _unique(base: str, taken: dict[str, int]) -> str:
    """`base`, or `base-2`, `base-3`, ... when taken; `taken` maps each ID to the next suffix to try."""
    candidate = base
    n = taken.get(base, 1)
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken[base] = n
    taken.setdefault(candidate, 1)
    return candidate


def _slug(plain: str, position: int) -> str:
    """Lowercase ASCII words of normalised text joined by `-`, at most ~48 characters, cut at a word end."""
    if not plain.isascii():
        plain = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", plain.lower()).strip("-")
    if len(slug) > _SLUG_MAX:
        cut = slug.rfind("-", 0, _SLUG_MAX + 1)
        slug = slug[: cut if cut >= _SLUG_MAX // 2 else _SLUG_MAX].strip("-")
    if not slug:
        return f"step-{position}"
    # An all-digit ID would read as a position.
    return f"step-{slug}" if slug.isdigit() else slug


def select_steps(checklist: Checklist, selectors: Sequence[str]) -> list[Step]:
    """Steps named by ID, by 1-based position, or by a case-insensitive text substring matching one step.

    Each step appears once, in the order first selected. Unknown or ambiguous selectors raise StepError.
    """
    chosen: list[Step] = []
    for selector in selectors:
        step = _select_one(checklist, selector)
        if step not in chosen:
            chosen.append(step)
    return chosen


def _select_one(checklist: Checklist, selector: str) -> Step:
    steps = checklist.steps
    by_id = checklist.find(selector)
    if by_id is not None:
        return by_id
    hint = "name a step by its ID or position, as `gl-rollout status` lists them"
    if selector.isascii() and selector.isdigit():
        position = int(selector)
        if 1 <= position <= len(steps):
            return steps[position - 1]
        count = f"{len(steps)} step" + ("" if len(steps) == 1 else "s")
        raise StepError(f"no step at position {position}: the checklist has {count}", hint)
    needle = selector.casefold().strip()
    matches = [s for s in steps if needle and _text_contains(s.text, needle)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise StepError(f'step "{selector}" is ambiguous: {_id_list(matches)}', hint)
    if not steps:
        raise StepError(f'step "{selector}" not found: the description has no checklist items', None)
    close = _closest_ids(selector, steps)
    if close:
        raise StepError(f'step "{selector}" not found; did you mean {" or ".join(close)}?', hint)
    raise StepError(f'step "{selector}" not found; steps: {_id_list(steps)}', hint)


def _closest_ids(selector: str, steps: Sequence[Step]) -> list[str]:
    """The one or two step IDs a mistyped selector most likely meant (`enable-stagng`), else none."""
    import difflib  # only a mistyped step needs it

    ids = list(dict.fromkeys(step.id for step in steps))
    close = difflib.get_close_matches(selector.strip().casefold(), ids, n=2, cutoff=0.75)
    # A second ID only when it is about as close as the first ("enable-staging or enable-beta" is noise).
    best = difflib.SequenceMatcher(None, selector.casefold(), close[0]).ratio() if close else 0.0
    return close[:1] + [
        other
        for other in close[1:]
        if difflib.SequenceMatcher(None, selector.casefold(), other).ratio() >= best - 0.02
    ]


def _text_contains(text: str, needle: str) -> bool:
    """Case-insensitive match on the text as written or as read (link targets and code marks dropped)."""
    return needle in text.casefold() or needle in normalise_text(text).casefold()


def _id_list(steps: Sequence[Step], limit: int = 15) -> str:
    ids = [s.id for s in steps[:limit]]
    more = len(steps) - limit
    return ", ".join(ids) + (f", and {more} more" if more > 0 else "")


def set_step_state(text: str, step: Step, state: StepState) -> str:
    """`text` with the box of `step` set to `state`; only that bracket changes, and nothing if already so.

    Raises ConflictError when the step's line no longer reads as it did when parsed, and UsageError when
    the edited text would not draw the same boxes with only this one changed (see `check_edit`).
    """
    edited = _set_bracket(text, step, state)
    if edited != text:
        check_edit(parse_checklist(text), edited, {step.line: state})
    return edited


def _set_bracket(text: str, step: Step, state: StepState) -> str:
    if state not in BRACKETS:
        raise ValueError(f"unknown step state {state!r}")
    lines = split_lines(text)
    index = step.line - 1
    conflict = ConflictError(
        f"line {step.line} changed since it was read (step {step.id})",
        "read the description again and retry",
    )
    if not 0 <= index < len(lines):
        raise conflict
    line = lines[index]
    body = line.rstrip("\r\n")
    if body != step.source:
        raise conflict
    column = _bracket_column(body, index)
    if column is None:
        raise UsageError(
            f"cannot set {step.id} to {state}: "
            f"its box on line {step.line} is written with character references",
            "edit that box by hand",
        )
    if symbol_state(body[column + 1]) == state:
        return text
    lines[index] = line[:column] + BRACKETS[state] + line[column + 3 :]
    return "".join(lines)


def check_edit(before: Checklist, edited: str, states: dict[int, StepState]) -> Checklist:
    """The checklist of `edited`, after checking that it has the boxes of `before` with only the boxes on the
    lines of `states` set to those states; else UsageError, so that nothing is written.

    A one-character edit can change what GitLab draws elsewhere: `[x]` is a link when the description
    defines `[x]: url`, and `[~]` pairs with a later `~` as strikethrough; the box then disappears.
    """
    after = parse_checklist(edited)
    expected = [_shape(s, states.get(s.line, s.state)) for s in before.steps]
    if expected == [_shape(s, s.state) for s in after.steps]:
        return after
    drawn = {s.line for s in after.steps}
    for line, state in sorted(states.items()):
        step = next((s for s in before.steps if s.line == line), None)
        if step is not None and line not in drawn:
            raise UsageError(
                f"cannot set {step.id} to {state}: GitLab would no longer draw its box on line {line}"
                + _why_box_vanishes(edited, state),
                "edit that line by hand",
            )
    raise UsageError(
        "cannot make this change: it would change other boxes than the ones asked for",
        "edit the description by hand",
    )


def _shape(step: Step, state: str) -> tuple[object, ...]:
    return (step.line, step.id, step.text, step.depth, step.section, state)


def _why_box_vanishes(text: str, state: StepState) -> str:
    symbol = BRACKETS[state][1]
    if re.search(rf"^ {{0,3}}\[{re.escape(symbol)}\]:", text, re.MULTILINE | re.IGNORECASE):
        return f" (the description defines a `[{symbol}]:` link, which turns `[{symbol}]` into a link)"
    if symbol == "~":
        return " (its `[~]` would pair with a later `~` as strikethrough)"
    return ""


def apply_step_states(text: str, selectors: Sequence[str], state: StepState) -> tuple[str, list[Step]]:
    """Parse, select and set each selected step to `state`; the new text and the steps that changed.

    The returned steps describe the new text (their `state` and `source` are the new ones). The edited text
    is checked to draw the same boxes with only those changed (`check_edit`).
    """
    checklist = parse_checklist(text)
    original = text
    changed: list[Step] = []
    for step in select_steps(checklist, selectors):
        if step.state == state:
            continue
        text = _set_bracket(text, step, state)
        new_source = split_lines(text)[step.line - 1].rstrip("\r\n")
        changed.append(replace(step, state=state, source=new_source))
    if text != original:
        check_edit(checklist, text, {step.line: state for step in changed})
    return text, changed
