"""Properties of the checklist engine on generated descriptions (hypothesis).

The descriptions mix task items (every list marker, indents, quotes, odd boxes, non-ASCII labels, trailing
whitespace, step markers) with fences, HTML comments, headings and prose, joined by LF, CRLF or CR.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from gl_rollout.core.checklist import (
    Step,
    StepState,
    apply_step_states,
    parse_checklist,
    set_step_state,
    split_lines,
)
from gl_rollout.errors import RolloutError, UsageError
from tests.refusals import assert_refusal_is_justified

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATES: tuple[StepState, ...] = ("todo", "done", "skipped")
CANONICAL = {"todo": " ", "done": "x", "skipped": "~"}

WORDS = st.sampled_from(
    ["Enable", "staging", "Ünïcödé", "日本", "🚀", "[x]", "[ ]", "`code`", "a_b", "#chan"]
)
LABEL_TAIL = st.text(alphabet=" \tabcxyzé€[]~*_`-", max_size=12)


@st.composite
def task_item(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["", "", " ", "  ", "   "]))
    quote = draw(st.sampled_from(["", "", "> ", ">", "> > "]))
    marker = draw(st.sampled_from(["-", "+", "*", "1.", "2)", "10."]))
    gap = draw(st.sampled_from([" ", " ", "  ", "\t"]))
    box = draw(st.sampled_from(["[ ]", "[ ]", "[x]", "[X]", "[~]", "[\t]", "[\u00a0]"]))
    label = " ".join(draw(st.lists(WORDS, min_size=1, max_size=4))) + draw(LABEL_TAIL)
    step_marker = draw(st.sampled_from(["", "", " <!-- step:custom -->", " <!-- note -->"]))
    trailing = draw(st.sampled_from(["", "", " ", "  ", "\t"]))
    return f"{indent}{quote}{marker}{gap}{box} {label}{step_marker}{trailing}"


@st.composite
def block(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["items", "items", "items", "fence", "comment", "heading", "prose", "blank"]))
    if kind == "items":
        return draw(st.lists(task_item(), min_size=1, max_size=5))
    inner = draw(st.lists(task_item(), max_size=2))
    if kind == "fence":
        fence = draw(st.sampled_from(["```", "~~~", "```shell"]))
        return [fence, *inner, fence[:3]]
    if kind == "comment":
        return ["<!--", *inner, "-->"]
    if kind == "heading":
        return [draw(st.sampled_from(["## Roll Out Steps", "### Étape 2", "# `x` *y*"]))]
    if kind == "prose":
        return [draw(st.sampled_from(["Some prose with [x] in it.", "Plain text  ", "/label ~x"]))]
    return [""]


@st.composite
def description(draw: st.DrawFn, ending: str | None = None) -> str:
    blocks = draw(st.lists(block(), max_size=8))
    lines = [line for b in blocks for line in [*b, ""]]
    sep = ending or draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return sep.join(lines) + draw(st.sampled_from(["", sep]))


def refused(text: str, step: Step, state: StepState) -> str | None:
    """The edited text, or None when the editor refused it for a reason that holds."""
    try:
        return set_step_state(text, step, state)
    except UsageError as exc:
        assert_refusal_is_justified(text, [step], state, exc)
        return None


@SETTINGS
@given(st.one_of(description(), st.text(max_size=300)))
def test_parse_never_raises_and_steps_point_at_their_lines(text: str) -> None:
    checklist = parse_checklist(text)
    lines = split_lines(text)
    assert len({s.id for s in checklist.steps}) == len(checklist.steps)
    for step in checklist.steps:
        assert lines[step.line - 1].rstrip("\r\n") == step.source
    assert checklist.total + checklist.skipped == len(checklist.steps)


@SETTINGS
@given(description(), st.data())
def test_an_edit_changes_one_bracket_and_its_inverse_restores_the_bytes(
    text: str, data: st.DataObject
) -> None:
    checklist = parse_checklist(text)
    assume(checklist.steps)
    step = data.draw(st.sampled_from(checklist.steps))
    state = data.draw(st.sampled_from([s for s in STATES if s != step.state]))

    edited = refused(text, step, state)
    if edited is None:
        return
    before, after = split_lines(text), split_lines(edited)
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [step.line - 1]
    old, new = before[step.line - 1], after[step.line - 1]
    assert len(old) == len(new)
    column = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert len(column) == 1
    assert new[column[0] - 1 : column[0] + 2] == f"[{CANONICAL[state]}]"

    reparsed = parse_checklist(edited)
    moved = next(s for s in reparsed.steps if s.line == step.line)
    inverse = set_step_state(edited, moved, step.state)
    if old[column[0]] == CANONICAL[step.state]:
        assert inverse == text
    else:  # [X], [\t], [\u00a0] come back as [x] and [ ]: the same state in the tool's spelling
        assert [s.state for s in parse_checklist(inverse).steps] == [s.state for s in checklist.steps]
        assert sum(a != b for a, b in zip(inverse, text, strict=True)) == 1


@SETTINGS
@given(description(), st.data())
def test_an_edit_changes_only_that_steps_state(text: str, data: st.DataObject) -> None:
    checklist = parse_checklist(text)
    assume(checklist.steps)
    step = data.draw(st.sampled_from(checklist.steps))
    state = data.draw(st.sampled_from(STATES))
    edited = refused(text, step, state)
    if edited is None:
        return
    if state == step.state:
        assert edited == text, "setting the state a step already has is a no-op"
    reparsed = parse_checklist(edited)

    def shape(s: Step) -> dict[str, object]:
        fields = s.to_dict()
        fields.pop("state")
        return fields

    assert [shape(s) for s in reparsed.steps] == [shape(s) for s in checklist.steps]
    assert [s.state for s in reparsed.steps] == [
        state if s.line == step.line else s.state for s in checklist.steps
    ]


@SETTINGS
@given(description(ending="\n"))
def test_line_endings_do_not_change_the_steps(text: str) -> None:
    expected = [s.to_dict() for s in parse_checklist(text).steps]
    for ending in ("\r\n", "\r"):
        converted = parse_checklist(text.replace("\n", ending))
        assert [s.to_dict() for s in converted.steps] == expected


@SETTINGS
@given(description(ending="\r\n"), st.data())
def test_crlf_stays_crlf_after_applying_states(text: str, data: st.DataObject) -> None:
    checklist = parse_checklist(text)
    assume(checklist.steps)
    picks = data.draw(st.lists(st.sampled_from([s.id for s in checklist.steps]), min_size=1, max_size=3))
    state = data.draw(st.sampled_from(STATES))
    try:
        new_text, changed = apply_step_states(text, picks, state)
    except UsageError as exc:
        chosen = [s for s in checklist.steps if s.id in picks and s.state != state]
        assert_refusal_is_justified(text, chosen, state, exc)
        return
    assert new_text.count("\r\n") == text.count("\r\n")
    assert new_text.replace("\r\n", "").count("\n") == 0
    assert len(changed) == len(split_lines(text)) - sum(
        a == b for a, b in zip(split_lines(text), split_lines(new_text), strict=True)
    )
    assert apply_step_states(new_text, picks, state) == (new_text, [])


@SETTINGS
@given(description(ending="\n"))
def test_nothing_inside_a_fence_is_a_step(text: str) -> None:
    assert parse_checklist("`````\n" + text + "\n`````\n").steps == ()


@SETTINGS
@given(description(), st.lists(st.text(max_size=12), min_size=1, max_size=3), st.sampled_from(STATES))
@example("- [ ] Enable~\n", ["enable"], "skipped")  # its [~] would pair with the ~ as strikethrough
def test_applying_raises_only_the_tools_errors(text: str, selectors: list[str], state: StepState) -> None:
    error: RolloutError | None = None
    try:
        apply_step_states(text, selectors, state)
    except RolloutError as exc:
        error = exc
    if error is not None:
        # 5: no such step, or an ambiguous one; 2: the edit would change what GitLab draws (issue 10), so it
        # is refused as the tool refuses every such edit, by naming why.
        assert error.exit_code in (2, 5)
        if error.exit_code == 2:
            assert error.one_line().startswith("cannot ")
        assert "\n" not in error.one_line()
