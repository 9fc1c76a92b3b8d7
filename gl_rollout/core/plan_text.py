"""The plan in the rollout issue: a section a person reads and edits, and a hidden copy the tool keeps. Pure.

The visible section, as `plan_section` writes it:

    ## Rollout plan

    (one paragraph saying how the plan is used; prose here is for people and is not read)

    | Environment | Target | Wait after | Approvers |
    |---|---|---|---|
    | staging | on | 15m | |
    | production | 25% | 15m | @alice, @bob |
    | production | on | 1d | |

    - Max jump: 50 (...)

    <!-- gl-rollout:plan v1 {...} -->

What a person may edit: the rows (add, remove, reorder, change a cell), the `Max jump` line (a number
of percentage points, or `none`), and any prose. The section is found by its heading (`Rollout plan`, at
any level, once) and ends at the next heading of the same or a higher level. Its table's columns are
found by name, in any order (`Approvers` may be left out); a target is `on` or a whole percentage
(`25%`); a wait is a duration (`15m`, `1h30m`, `1d`; the last row's is the hold before cleanup);
approvers are usernames, with or without `@`, separated by commas or spaces.

Reading is strict, never a guess: a second table, an unknown column, a row with another number of cells,
a cell that is not what its column holds, or a list item that looks like a setting but is not `Max jump`
is a PlanError naming the line, and so is a plan that breaks the rules of `gl_rollout.core.plans`.

The hidden copy (`<!-- gl-rollout:plan v1 {...} -->`) is what the tool last wrote. When the visible plan
differs, the visible one wins and the copy is stale: the next command that writes rewrites it
(`with_hidden_copy`). A hidden copy without its section is an error (was the section deleted, or moved
out of its heading?): the tool does not guess which.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from gl_rollout.core.plans import (
    Plan,
    PlanError,
    PlanStep,
    check_environment,
    check_username,
    describe_changes,
    hidden_copy_text,
    plan_from_json,
    validate_plan,
)
from gl_rollout.core.times import format_duration, parse_duration
from gl_rollout.errors import UsageError

HEADING = "Rollout plan"
COLUMNS = ("Environment", "Target", "Wait after", "Approvers")
APPROVE_WORDS = "gl-rollout approve"

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_HIDDEN_RE = re.compile(r"<!--\s*gl-rollout:plan\s+v(\d+)\s+(\{.*?\})\s*-->", re.DOTALL)
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DELIMITER_CELL = re.compile(r"^:?-+:?$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_MAX_JUMP = re.compile(r"^max\s+jump\s*:\s*(\S+?)(?:\s+(?:percentage\s+)?points?\b.*|\s*\(.*\))?\s*$", re.I)
_SETTING_LIKE = re.compile(r"^(max\s+jump|max[-_ ]?jump|hold|wait|approvers?|environments?)\s*:", re.I)
_TARGET = re.compile(r"^(on|(\d{1,3})\s*%?)$", re.I)


def plan_section(plan: Plan, *, level: int = 2) -> str:
    """The visible section and the hidden copy, ending with a line break."""
    rows = "\n".join(
        _row(
            (
                step.environment,
                step.target,
                format_duration(step.wait),
                ", ".join("@" + name for name in step.approvers),
            )
        )
        for step in plan.steps
    )
    jump = (
        f"- Max jump: {plan.max_jump} (the largest rise, in percentage points, from one "
        f"{plan.environments[-1]} step to the next, counting its first step from 0%)"
        if plan.max_jump is not None
        else "- Max jump: none (any rise is allowed)"
    )
    return (
        f"{'#' * level} {HEADING}\n\n"
        "The rollout goes one step at a time, in this order, and stays at each step at least the time "
        "shown before the next; the wait after the last step is the hold before cleanup. Edit the table "
        "to change the plan: gl-rollout follows your edit and updates its hidden copy below. A step with "
        f"approvers waits for one of them (not this issue's author) to comment `{APPROVE_WORDS} STEP` "
        "on its own line, STEP being the environment and target, like `production-25` or "
        "`production-on`.\n\n"
        f"| {' | '.join(COLUMNS)} |\n|{'---|' * len(COLUMNS)}\n{rows}\n\n"
        f"{jump}\n\n"
        f"{hidden_copy_text(plan)}\n"
    )


def _row(cells: tuple[str, ...]) -> str:
    """`| a | b |`, an empty cell as `| |`."""
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


@dataclass(frozen=True)
class PlanReading:
    """What the issue says about its plan.

    `plan` is the plan to follow (the visible one), None when the issue has none. `hidden` is the copy
    the tool last wrote (None when missing or unreadable); `stale` says it must be rewritten, and
    `changes` what the person's edit changed against it."""

    plan: Plan | None
    hidden: Plan | None = None
    stale: bool = False
    changes: tuple[str, ...] = field(default=())


def read_plan(description: str, known_environments: Collection[str] | None = None) -> PlanReading:
    """The issue's plan: the visible section wins over the hidden copy; PlanError (exit 2) for a
    section that cannot be read or breaks a rule, naming the line."""
    hidden, hidden_ok = _hidden_copy(description)
    lines = description.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    section = _find_section(lines)
    if section is None:
        if hidden_ok or hidden is not None:
            raise PlanError(
                f"the issue keeps a hidden copy of a rollout plan but has no '{HEADING}' section",
                f"restore the '## {HEADING}' section (see the description's history), or delete the "
                "'gl-rollout:plan' comment to drop the plan",
            )
        return PlanReading(None)
    visible = _parse_section(lines, *section, known_environments)
    if hidden is None:
        return PlanReading(visible, None, stale=True, changes=("the plan has no hidden copy yet",))
    if hidden == visible:
        return PlanReading(visible, hidden)
    return PlanReading(visible, hidden, stale=True, changes=tuple(describe_changes(hidden, visible)))


def _hidden_copy(description: str) -> tuple[Plan | None, bool]:
    """(the hidden copy, whether a marker is there at all)."""
    found = _HIDDEN_RE.findall(description)
    if not found:
        return None, False
    if len(found) > 1:
        return None, True  # two copies: neither is trusted, the visible plan decides
    version, payload = found[0]
    try:
        return plan_from_json(json.loads(payload)) if version == "1" else None, True
    except (ValueError, UsageError):
        return None, True


def with_hidden_copy(description: str, plan: Plan) -> str:
    """`description` with the plan's hidden copy written (replacing the one there, else at the end of
    the plan section); every other byte stays. Unchanged when the copy is already current."""
    text = hidden_copy_text(plan)
    matches = list(_HIDDEN_RE.finditer(description))
    if len(matches) == 1:
        match = matches[0]
        return (
            description
            if match.group(0) == text
            else description[: match.start()] + text + description[match.end() :]
        )
    for match in reversed(matches):  # several copies: keep none of them but the one written below
        description = description[: match.start()] + description[match.end() :]
    newline = "\r\n" if "\r\n" in description else "\n"
    lines = description.replace("\r\n", "\n").split("\n")
    section = _find_section(lines)
    if section is None:
        raise PlanError(f"the issue has no '{HEADING}' section", "render the issue with a plan first")
    _, end = section
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = ["", text]
    if end + 2 < len(lines) and lines[end + 2].strip():
        lines.insert(end + 2, "")
    return newline.join(lines)


def refreshed_hidden_copy(description: str, known_environments: Collection[str] | None = None) -> str:
    """`description` with its one hidden copy rewritten from the visible plan when a person's edit made it
    stale; otherwise unchanged. For commands that write the issue anyway (a tick): a plan that cannot be
    read, no copy or several, are left as they are for the command that follows the plan to report, and
    the line count never changes (box edits rely on it)."""
    if len(_HIDDEN_RE.findall(description)) != 1:
        return description
    try:
        reading = read_plan(description, known_environments)
    except UsageError:
        return description
    if reading.plan is None or not reading.stale:
        return description
    refreshed = with_hidden_copy(description, reading.plan)
    return refreshed if refreshed.count("\n") == description.count("\n") else description


# --- reading the visible section -------------------------------------------------------------


def _find_section(lines: list[str]) -> tuple[int, int] | None:
    """(index of the heading line, index after the section's last line), or None; PlanError for two."""
    found: list[tuple[int, int]] = []
    fence: str | None = None
    for index, line in enumerate(lines):
        opening = _FENCE_RE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING_RE.match(line)
        if heading and heading.group(2).strip().lower() == HEADING.lower():
            found.append((index, len(heading.group(1))))
    if not found:
        return None
    if len(found) > 1:
        raise PlanError(
            f"the issue has {len(found)} '{HEADING}' sections (lines "
            f"{', '.join(str(i + 1) for i, _ in found)})",
            "keep one",
        )
    start, level = found[0]
    end = len(lines)
    for index in range(start + 1, len(lines)):
        heading = _HEADING_RE.match(lines[index])
        if heading and len(heading.group(1)) <= level:
            end = index
            break
    return start, end


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def _unquote(cell: str) -> str:
    """A cell's text without surrounding code backticks or emphasis a person may add."""
    text = cell.strip()
    for mark in ("`", "**", "*", "_"):
        if len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
            text = text[len(mark) : -len(mark)].strip()
    return text


def _parse_section(lines: list[str], start: int, end: int, known: Collection[str] | None) -> Plan:
    table: list[tuple[int, str]] = []
    table_done = False
    max_jump: int | None = None
    jump_line = 0
    in_comment = False
    fence: str | None = None
    for index in range(start + 1, end):
        line, number = lines[index], index + 1
        if in_comment:
            in_comment = "-->" not in line
            continue
        stripped = line.strip()
        opening = _FENCE_RE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0]:
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        if stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith("|"):
            if table_done:
                raise PlanError(f"line {number}: a second table in the '{HEADING}' section", "keep one table")
            table.append((number, line))
            continue
        if table:
            table_done = True
        item = _LIST_ITEM.match(line)
        if item:
            text = item.group(1).strip()
            jump = _MAX_JUMP.match(text)
            if jump:
                if jump_line:
                    raise PlanError(f"line {number}: a second 'Max jump' line", "keep one")
                max_jump, jump_line = _max_jump(jump.group(1), number), number
            elif _SETTING_LIKE.match(text):
                raise PlanError(
                    f"line {number}: {text.split(':')[0]!r} is not a plan setting",
                    "the plan reads only 'Max jump: N'; waits, the hold and approvers are table columns",
                )
    if not table:
        raise PlanError(
            f"line {start + 1}: the '{HEADING}' section has no table",
            f"give a table with the columns {', '.join(COLUMNS)}",
        )
    if not jump_line:
        raise PlanError(
            f"line {start + 1}: the '{HEADING}' section has no 'Max jump' line",
            "add '- Max jump: N' (percentage points) or '- Max jump: none'",
        )
    steps = _rows(table, known)
    return validate_plan(Plan(tuple(steps), max_jump), known)


def _max_jump(value: str, number: int) -> int | None:
    if value.lower() in ("none", "any"):
        return None
    if not re.fullmatch(r"\d{1,3}", value):
        raise PlanError(f"line {number}: max jump {value!r} is not a number", "give 1 to 100, or none")
    return int(value)


def _rows(table: list[tuple[int, str]], known: Collection[str] | None) -> list[PlanStep]:
    header_line, header = table[0]
    names = [_unquote(cell).lower() for cell in _cells(header)]
    wanted = {column.lower(): column for column in COLUMNS}
    for name in names:
        if name not in wanted:
            raise PlanError(
                f"line {header_line}: unknown column {name!r} in the plan's table",
                f"the columns are {', '.join(COLUMNS)}",
            )
    if len(set(names)) != len(names):
        raise PlanError(f"line {header_line}: a column is named twice", "name each column once")
    for required in COLUMNS[:3]:
        if required.lower() not in names:
            raise PlanError(f"line {header_line}: the plan's table has no {required!r} column", "add it")
    if len(table) < 2 or not all(_DELIMITER_CELL.match(c.replace(" ", "")) for c in _cells(table[1][1])):
        raise PlanError(
            f"line {header_line + 1}: the plan's table lacks the |---| line under its header",
            "put a line like |---|---|---|---| under the header",
        )
    steps: list[PlanStep] = []
    for number, line in table[2:]:
        cells = _cells(line)
        if len(cells) != len(names):
            raise PlanError(
                f"line {number}: {len(cells)} cells where the header has {len(names)}",
                "give each row one cell per column (an empty cell is written | |)",
            )
        row = dict(zip(names, (_unquote(cell) for cell in cells), strict=True))
        where = f"line {number}: "
        environment = check_environment(row["environment"], known, where=where)
        target = _TARGET.match(row["target"])
        if target is None:
            raise PlanError(
                f"{where}{row['target'] or 'an empty target'!r} is not a target",
                "write on, or a whole percentage such as 25%",
            )
        percent = 100 if target.group(1).lower() == "on" else int(target.group(2))
        try:
            wait = parse_duration(row["wait after"], "wait")
        except UsageError as exc:
            raise PlanError(f"{where}{exc.message}", exc.hint) from None
        approvers = tuple(
            check_username(name, where=where)
            for name in re.split(r"[,\s]+", row.get("approvers", ""))
            if name
        )
        steps.append(PlanStep(environment, percent, wait, approvers, line=number))
    if not steps:
        raise PlanError(f"line {header_line}: the plan's table has no rows", "give at least one step")
    return steps
