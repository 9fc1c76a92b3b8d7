"""What the property and fuzz tests accept when the checklist editor refuses an edit."""

from __future__ import annotations

from gl_rollout.core.checklist import BRACKETS, Step, StepState, parse_checklist, split_lines
from gl_rollout.errors import UsageError

_CONTAINER_CHARS = " \t>-+*0123456789.)"


def assert_refusal_is_justified(text: str, steps: list[Step], state: StepState, exc: UsageError) -> None:
    """The editor refused (exit 2, one line): writing the brackets anyway must indeed change what GitLab
    draws beyond the asked states (a box vanishes, or another box changes)."""
    assert exc.exit_code == 2
    assert "\n" not in exc.one_line()
    assert exc.one_line().startswith("cannot ")
    lines = split_lines(text)
    for step in steps:
        line = lines[step.line - 1]
        column = line.index("[", len(line) - len(line.lstrip(_CONTAINER_CHARS)) - 1)
        lines[step.line - 1] = line[:column] + BRACKETS[state] + line[column + 3 :]
    asked = {step.line for step in steps}
    expected = [(s.line, state if s.line in asked else s.state) for s in parse_checklist(text).steps]
    assert [(s.line, s.state) for s in parse_checklist("".join(lines)).steps] != expected
