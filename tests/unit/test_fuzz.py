"""Fuzzing the pure parsers: the checklist parser and editor, and the issue-reference parser.

Two promises are checked on generated input: nothing raises except the tool's own errors (a
`RolloutError`, which the CLI turns into one line and an exit code), and an edit followed by its
inverse gives back the description byte for byte.
"""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gl_rollout.core.checklist import (
    BRACKETS,
    StepState,
    apply_step_states,
    parse_checklist,
    select_steps,
    set_step_state,
    split_lines,
)
from gl_rollout.core.refs import IssueRef, parse_issue_ref
from gl_rollout.errors import RolloutError, StepError, UsageError
from tests.refusals import assert_refusal_is_justified

# Generated descriptions are built from line shapes that occur in real rollout issues (and in GitLab's
# templates), plus the awkward ones: code, comments, quotes, <details>, odd whitespace and non-ASCII.
LABELS = st.sampled_from(
    [
        "Enable on staging",
        "Test on staging",
        "Ensure the documentation is updated",
        "Coordinate a time to enable the flag",
        "Announce on Slack",
        "Remove the feature flag",
        "Déployer en production ✓",
        "`code` and **bold** [link](https://example.com)",
        "tab\tinside",
        "Enable on staging <!-- step:enable-staging -->",
        "Cleanup <!-- step:cleanup -->",
        "Cleanup <!-- step:cleanup -->",  # a repeated marker
        "[ ] a box inside a label",
        "@all /label ~x",
        "x",
    ]
)
BOXES = st.sampled_from(["[ ]", "[x]", "[X]", "[~]", "[\t]", "[\u00a0]", "[  ]", "[y]", "[]", "\\[ ]", "[x]"])
MARKERS = st.sampled_from(["-", "*", "+", "1.", "2)", "10.", "- ", "-\t"])
INDENTS = st.sampled_from(["", "", "  ", "   ", "    ", "\t", "> ", "> > ", ">  - "])
TRAILING = st.sampled_from(["", "", " ", "  ", "\t", " \u00a0"])


@st.composite
def task_lines(draw: st.DrawFn) -> str:
    return (
        draw(INDENTS)
        + draw(MARKERS)
        + draw(st.sampled_from([" ", " ", "  ", "\t"]))
        + draw(BOXES)
        + draw(st.sampled_from([" ", " ", "\t", ""]))
        + draw(LABELS)
        + draw(TRAILING)
    )


OTHER_LINES = st.sampled_from(
    [
        "",
        "",
        "## Roll Out Steps",
        "### Global rollout",
        "Some prose with a [x] in the middle.",
        "```",
        "```shell",
        "~~~",
        "<!-- a comment",
        "-->",
        "<!-- one-line comment -->",
        "<details>",
        "<summary>More</summary>",
        "</details>",
        "---",
        "| a | b |",
        "|---|---|",
        "| [ ] | [x] |",
        "/chatops run feature set my_flag true --staging",
        '/label ~"feature flag"',
        "[x]: https://example.com",
        "    indented code - [ ] not a box",
        "> quoted text",
        "Unicode: 日本語, emoji 🚀, RTL \u202e",
        "\ufeffBOM line",
    ]
)

# A `[x]: url` link definition makes GitLab draw `[x]` as a link, not a box: ticking a box there hides it
# (GitLab's own editor does the same). Properties about re-reading an edit leave such descriptions out.
_X_LINK = re.compile(r"^ {0,3}\[[xX~]\]:", re.MULTILINE)


def defines_box_link(text: str) -> bool:
    return bool(_X_LINK.search(text.replace("\r", "\n")))


LINE_ENDINGS = st.sampled_from(["\n", "\n", "\r\n", "\r"])


@st.composite
def descriptions(draw: st.DrawFn, *, ending: str | None = None) -> str:
    """A description: lines of task items and other shapes joined by one line-ending style (or mixed)."""
    lines = draw(st.lists(st.one_of(task_lines(), task_lines(), OTHER_LINES), min_size=0, max_size=25))
    if ending is None and draw(st.booleans()):
        # Mixed endings happen when people paste into the web editor.
        parts = [line + draw(LINE_ENDINGS) for line in lines]
        text = "".join(parts)
    else:
        sep = ending if ending is not None else draw(LINE_ENDINGS)
        text = sep.join(lines) + draw(st.sampled_from(["", sep]))
    return text


FUZZ = settings(
    max_examples=300,
    deadline=None,  # speed is the benchmark's business, never a test's
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.one_of(descriptions(), st.text(max_size=400)))
def test_parser_never_raises_and_counts_agree(text: str) -> None:
    checklist = parse_checklist(text)
    states = [s.state for s in checklist.steps]
    assert checklist.done == states.count("done")
    assert checklist.skipped == states.count("skipped")
    assert checklist.total == len(states) - states.count("skipped")
    assert len({s.id for s in checklist.steps}) == len(checklist.steps), "step IDs must be unique"
    lines = split_lines(text)
    for step in checklist.steps:
        # Every step points at a real line that still reads as its source: what an edit relies on.
        assert 1 <= step.line <= len(lines)
        assert lines[step.line - 1].rstrip("\r\n") == step.source
        assert step.depth >= 0


@FUZZ
@given(descriptions(), st.data())
def test_edit_then_inverse_gives_back_identical_bytes(text: str, data: st.DataObject) -> None:
    checklist = parse_checklist(text)
    assume(checklist.steps)
    step = data.draw(st.sampled_from(checklist.steps), label="step")
    new_state = data.draw(st.sampled_from(sorted(BRACKETS)), label="state")

    try:
        edited = set_step_state(text, step, new_state)  # type: ignore[arg-type]
    except UsageError as exc:
        # Refused, writing nothing: the edit would make a box vanish or change another one.
        assert_refusal_is_justified(text, [step], new_state, exc)  # type: ignore[arg-type]
        return
    before, after = split_lines(text), split_lines(edited)
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    if new_state == step.state:
        assert edited == text, "setting the state a step already has must be a no-op"
        return
    assert changed == [step.line - 1], "an edit changes exactly the step's line"
    old_line, new_line = before[step.line - 1], after[step.line - 1]
    assert len(old_line) == len(new_line)
    differing = [i for i, (a, b) in enumerate(zip(old_line, new_line, strict=True)) if a != b]
    assert len(differing) == 1, "only the character inside the brackets changes"
    assert new_line[differing[0] - 1] == "["
    assert new_line[differing[0] + 1] == "]"

    assume(not defines_box_link(text))
    reparsed = parse_checklist(edited)
    moved = next(s for s in reparsed.steps if s.line == step.line)
    assert moved.state == new_state
    assert moved.id == step.id
    inverse = set_step_state(edited, moved, step.state)
    written = old_line[differing[0]]
    if written in " x~":
        assert inverse == text, "an edit and its inverse give back identical bytes"
    else:
        # `[X]` (done) and `[\t]`/`[\u00a0]` (todo) come back in the tool's spelling, `[x]` and `[ ]`:
        # the same state, one character apart, nothing else touched.
        assert len(inverse) == len(text)
        assert [i for i, (a, b) in enumerate(zip(inverse, text, strict=True)) if a != b] == [
            len("".join(before[: step.line - 1])) + differing[0]
        ]


@FUZZ
@given(descriptions(ending="\r\n"), st.data())
def test_crlf_descriptions_stay_crlf_after_edits(text: str, data: st.DataObject) -> None:
    checklist = parse_checklist(text)
    assume(checklist.steps)
    step = data.draw(st.sampled_from(checklist.steps))
    state: StepState = "skipped" if step.state != "skipped" else "todo"
    try:
        edited = set_step_state(text, step, state)
    except UsageError as exc:
        assert_refusal_is_justified(text, [step], state, exc)
        return
    assert edited.count("\r\n") == text.count("\r\n")
    assert edited.count("\n") == text.count("\n")
    assert edited.count("\r") == text.count("\r")


@FUZZ
@given(
    descriptions(),
    st.lists(
        st.text(min_size=1, max_size=20) | st.sampled_from(["1", "2", "99", "0", "-1", "staging", "enable"]),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(sorted(BRACKETS)),
)
def test_selecting_and_applying_raise_only_step_errors_or_justified_refusals(
    text: str, selectors: list[str], state: str
) -> None:
    checklist = parse_checklist(text)
    try:
        chosen = select_steps(checklist, selectors)
    except StepError as exc:
        message = exc.one_line()
        with pytest.raises(StepError) as again_exc:
            apply_step_states(text, selectors, state)  # type: ignore[arg-type]
        assert again_exc.value.one_line() == message
        assert "\n" not in message
        return
    try:
        new_text, changed = apply_step_states(text, selectors, state)  # type: ignore[arg-type]
    except UsageError as exc:
        asked = [s for s in chosen if s.state != state]
        assert_refusal_is_justified(text, asked, state, exc)  # type: ignore[arg-type]
        return
    assert {s.line for s in changed} <= {s.line for s in chosen}
    assume(not defines_box_link(text))
    again, changed_again = apply_step_states(new_text, selectors, state)  # type: ignore[arg-type]
    assert again == new_text, "applying the same state twice is a no-op"
    assert changed_again == []


@FUZZ
@given(descriptions(), st.data())
def test_stale_step_is_a_conflict_not_a_crash(text: str, data: st.DataObject) -> None:
    """A person edits the step's line after we parsed it: the editor stops with ConflictError."""
    checklist = parse_checklist(text)
    assume(checklist.steps)
    step = data.draw(st.sampled_from(checklist.steps))
    lines = split_lines(text)
    lines[step.line - 1] = lines[step.line - 1].replace(step.source, step.source + " (edited)", 1)
    edited_by_someone = "".join(lines)
    with pytest.raises(RolloutError) as exc:
        set_step_state(edited_by_someone, step, "done" if step.state != "done" else "todo")
    assert exc.value.exit_code == 4


# --- issue references ---------------------------------------------------------------------------

SEGMENTS = st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)


@st.composite
def reference_like(draw: st.DrawFn) -> str:
    """Strings near the accepted forms: URLs, `group/project#N`, `#N`, with random damage."""
    project = "/".join(draw(st.lists(SEGMENTS, min_size=1, max_size=4)))
    iid = draw(st.one_of(st.integers(-5, 10**6).map(str), st.sampled_from(["", "0", "9" * 5000, "١٢", "x"])))
    host = draw(
        st.sampled_from(
            ["gitlab.com", "127.0.0.1:8080", "[::1]", "[::1", "h:99999", "h:port", "", "ü.example"]
        )
    )
    scheme = draw(st.sampled_from(["https://", "http://", "ftp://", "", "https:/"]))
    middle = draw(
        st.sampled_from(["/-/issues/", "/issues/", "/-/work_items/", "/-/merge_requests/", "#", "/"])
    )
    base = f"{project}#{iid}" if middle == "#" else f"{scheme}{host}/{project}{middle}{iid}"
    suffix = draw(st.sampled_from(["", "/", "#note_1", "?x=1", " ", "\n", "%2F"]))
    return draw(st.sampled_from(["", " ", "#"])) + base + suffix


@FUZZ
@given(
    st.one_of(reference_like(), st.text(max_size=80)), st.one_of(st.none(), SEGMENTS.map(lambda s: f"g/{s}"))
)
def test_reference_parser_raises_only_usage_errors(text: str, project: str | None) -> None:
    ref: IssueRef | None = None
    try:
        ref = parse_issue_ref(text, project)
    except UsageError as exc:
        message = exc.one_line()
    if ref is None:
        assert "\n" not in message
        return
    assert ref.iid > 0
    # The short form of an accepted reference reads back as the same issue.
    assert parse_issue_ref(str(ref)) == IssueRef(ref.project, ref.iid)
