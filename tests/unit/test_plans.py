"""The rollout plan: its rules, defaults, section in the issue, a person's edits and the hidden copy."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gl_rollout.core.chatops import ENVIRONMENTS
from gl_rollout.core.plan_text import plan_section, read_plan, with_hidden_copy
from gl_rollout.core.plans import (
    DEFAULT_HOLD,
    DEFAULT_WAIT,
    Plan,
    PlanError,
    PlanStep,
    build_plan,
    hidden_copy_text,
    validate_plan,
)
from gl_rollout.errors import ExitCode

MIN = dt.timedelta(minutes=1)


BEFORE, AFTER = "# Rollout\n\nText.\n\n", "\n## Next\n\n- [ ] a\n"
R25 = "| production | 25% | 15m | |"


def issue_with(plan: Plan, before: str = BEFORE, after: str = AFTER) -> str:
    return before + plan_section(plan) + after


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error_of(text: str) -> str:
    with pytest.raises(PlanError) as caught:
        read_plan(text, ENVIRONMENTS)
    assert caught.value.exit_code == ExitCode.USAGE
    line = caught.value.one_line()
    assert "\n" not in line
    return line


# --- defaults and options ----------------------------------------------------------------------


def test_the_default_plan_follows_gitlabs_controls() -> None:
    plan = build_plan()
    assert [(s.environment, s.target) for s in plan.steps] == [
        ("staging", "on"),
        ("production", "1%"),
        ("production", "10%"),
        ("production", "25%"),
        ("production", "50%"),
        ("production", "75%"),
        ("production", "on"),
    ]
    assert all(step.wait == DEFAULT_WAIT == 15 * MIN for step in plan.steps[:-1])
    assert plan.hold == DEFAULT_HOLD == dt.timedelta(days=1)
    assert plan.environments == ("staging", "production")
    assert [s.id for s in plan.steps][:2] == ["staging-100", "production-1"]


def test_options_shape_the_plan() -> None:
    plan = build_plan(
        (5, 30, 60, 100),
        wait=dt.timedelta(hours=1),
        hold=dt.timedelta(days=2),
        max_jump=40,
        approvers=["alice", "production-on=bob,@carol", "staging=dave"],
    )
    assert [s.percent for s in plan.steps] == [100, 5, 30, 60, 100]
    assert plan.steps[1].wait == dt.timedelta(hours=1)
    assert plan.hold == dt.timedelta(days=2)
    assert plan.step("staging-100").approvers == ("dave",)  # type: ignore[union-attr]
    assert plan.step("production-5").approvers == ("alice",)  # type: ignore[union-attr]
    assert plan.step("production-on").approvers == ("alice", "bob", "carol")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"ramp": (10, 5, 100)}, "falls from 10% to 5%"),
        ({"ramp": (10, 10, 100)}, "repeats"),
        ({"ramp": (1, 10, 100)}, "jumps from 10% to on, more than the max jump of 50"),
        ({"ramp": (1, 10, 100), "max_jump": 25}, "max jump of 25"),
        ({"approvers": ["nobody-step=alice"]}, "no step or environment"),
        ({"approvers": ["all"]}, "would mention everyone"),
        ({"approvers": ["bad/name"]}, "'bad/name' is not a GitLab username"),
        ({"approvers": ["a..git"]}, "is not a GitLab username"),
        ({"approvers": ["production="]}, "names nobody"),
        ({"environments": ("production", "staging")}, "staging comes after production"),
        ({"max_jump": 0}, "max jump 0 is out of range"),
    ],
)
def test_options_that_break_a_rule_are_refused(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(PlanError, match=says.replace("(", r"\(")):
        build_plan(**kwargs)  # type: ignore[arg-type]


def test_without_a_max_jump_any_rise_is_allowed() -> None:
    assert build_plan((100,), max_jump=None).steps[-1].percent == 100


def test_known_environments_are_checked() -> None:
    with pytest.raises(PlanError, match="unknown environment 'canary'"):
        build_plan(environments=("canary", "production"), known_environments=ENVIRONMENTS)
    assert build_plan(environments=("canary", "production")).environments == ("canary", "production")


def test_an_environment_that_comes_back_is_refused() -> None:
    steps = (
        PlanStep("staging", 50, MIN),
        PlanStep("production", 10, MIN),
        PlanStep("staging", 100, MIN),
    )
    with pytest.raises(PlanError, match="staging comes back after production"):
        validate_plan(Plan(steps))


# --- the section in the issue ------------------------------------------------------------------


def test_the_section_reads_back_as_the_plan_it_shows() -> None:
    plan = build_plan(approvers=["alice"])
    reading = read_plan(issue_with(plan), ENVIRONMENTS)
    assert reading.plan == plan
    assert reading.hidden == plan
    assert not reading.stale
    assert reading.changes == ()


def test_an_issue_without_a_plan_has_none() -> None:
    reading = read_plan("# Rollout\n\n- [ ] enable\n")
    assert reading.plan is None
    assert not reading.stale


def test_a_persons_edit_wins_and_says_what_changed() -> None:
    plan = build_plan()
    text = issue_with(plan)
    text = edit(text, "| production | 75% | 15m | |", "| production | 75% | 1h | @alice |")
    text = edit(text, "| production | 10% | 15m | |\n", "")
    reading = read_plan(text, ENVIRONMENTS)
    assert reading.stale
    assert reading.hidden == plan
    assert reading.plan is not None
    assert [s.percent for s in reading.plan.steps] == [100, 1, 25, 50, 75, 100]
    assert reading.plan.step("production-75") == PlanStep("production", 75, dt.timedelta(hours=1), ("alice",))
    assert reading.changes == (
        "production-75: approvers none -> alice",
        "production-75: wait 15m -> 1h",
        "removed production-10",
    )


def test_a_person_may_reorder_columns_drop_approvers_quote_cells_and_add_prose() -> None:
    text = (
        "## Rollout plan\n\nOur notes: go slowly | carefully.\n\n"
        "| Target | Wait after | Environment |\n| :--- | ---: | --- |\n"
        "| on | `30m` | **staging** |\n|25%|15 min|production|\n| ON | 2d | production |\n\n"
        "* Max jump: 75 percentage points\n- remember the dashboards\n"
    )
    reading = read_plan(text, ENVIRONMENTS)
    assert reading.plan == Plan(
        (
            PlanStep("staging", 100, 30 * MIN),
            PlanStep("production", 25, 15 * MIN),
            PlanStep("production", 100, dt.timedelta(days=2)),
        ),
        75,
    )
    assert reading.stale  # no hidden copy yet
    assert reading.changes == ("the plan has no hidden copy yet",)


def test_crlf_descriptions_read_the_same() -> None:
    plan = build_plan()
    assert read_plan(issue_with(plan).replace("\n", "\r\n")).plan == plan


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (R25, "| production | 25% | soon | |", "line 14: 'soon' is not a wait"),
        (
            R25,
            "| production | 25 percent | 15m | |",
            "line 14: '25 percent' is not",
        ),
        (
            R25,
            "| production | 0% | 15m | |",
            "line 14: production at 0% is out of",
        ),
        (
            R25,
            "| production | 25% | 15m |",
            "line 14: 3 cells where the header has 4",
        ),
        (
            R25,
            "| prod uction | 25% | 15m | |",
            "line 14: 'prod uction' is not an env",
        ),
        (R25, "| canary | 25% | 15m | |", "line 14: unknown environment 'canary'"),
        (R25, "| production | 25% | 15m | @all |", "line 14: @all would mention"),
        (
            R25,
            "| production | 5% | 15m | |",
            "line 14: production falls from 10% to",
        ),
        (
            "| production | 25% | 15m | |\n| production | 50% | 15m | |\n",
            "",
            "line 14: production jumps from 10%",
        ),
        (R25, "| staging | 25% | 15m | |", "line 14: staging comes back"),
        (
            "| Environment | Target | Wait after | Approvers |",
            "| Environment | Target | Wait | Approvers |",
            "line 9: unknown column 'wait'",
        ),
        (
            "| Environment | Target | Wait after | Approvers |",
            "| Environment | Target | Approvers |",
            "line 9: the plan's table has no 'Wait after' column",
        ),
        ("|---|---|---|---|\n", "", "line 10: the plan's table lacks the |---| line"),
        ("- Max jump: 50", "- Max jump: fifty", "line 19: max jump 'fifty' is not a number"),
        ("- Max jump: 50", "- Hold: 2d", "line 19: 'Hold' is not a plan setting"),
        ("- Max jump: 50 (", "Max jump is 50 (", "line 5: the 'Rollout plan' section has no 'Max jump' line"),
    ],
)
def test_a_malformed_edit_is_one_line_naming_the_line(old: str, new: str, says: str) -> None:
    text = issue_with(build_plan())
    assert error_of(edit(text, old, new)).startswith(says)


def test_a_table_that_is_gone_or_doubled_is_refused() -> None:
    text = issue_with(build_plan())
    start, end = text.index("| Environment"), text.index("\n\n- Max jump")
    assert "has no table" in error_of(text[:start] + "no table here" + text[end:])
    table = text[start:end]
    assert "a second table" in error_of(text.replace(table, table + "\n\nbetween\n\n" + table))


def test_two_plan_sections_are_refused() -> None:
    section = plan_section(build_plan())
    assert "2 'Rollout plan' sections (lines 1, " in error_of(section + "\n" + section)


def test_a_hidden_copy_without_its_section_is_refused_not_guessed() -> None:
    text = issue_with(build_plan())
    without_section = text[: text.index("## Rollout plan")] + hidden_copy_text(build_plan()) + "\n"
    assert "hidden copy of a rollout plan but has no 'Rollout plan' section" in error_of(without_section)


def test_a_plan_heading_inside_code_is_no_section() -> None:
    assert read_plan("```\n## Rollout plan\n```\n").plan is None


def test_a_damaged_hidden_copy_is_stale_and_the_visible_plan_wins() -> None:
    plan = build_plan()
    text = issue_with(plan).replace('"percent":25', '"percent":"x"')
    reading = read_plan(text)
    assert reading.plan == plan
    assert reading.hidden is None
    assert reading.stale


def test_the_hidden_copy_is_rewritten_in_place_and_nothing_else_moves() -> None:
    plan = build_plan()
    text = issue_with(plan).replace("\n", "\r\n")
    edited = edit(text, "| production | 75% | 15m | |", "| production | 75% | 45m | |")
    reading = read_plan(edited)
    assert reading.plan is not None
    assert reading.stale
    rewritten = with_hidden_copy(edited, reading.plan)
    assert rewritten == edited.replace(hidden_copy_text(plan), hidden_copy_text(reading.plan))
    assert not read_plan(rewritten).stale
    assert with_hidden_copy(rewritten, reading.plan) == rewritten


def test_a_missing_hidden_copy_is_added_at_the_end_of_the_section() -> None:
    text = (
        "## Rollout plan\n\n| Environment | Target | Wait after |\n|---|---|---|\n"
        "| production | on | 1d |\n\n- Max jump: none\n## Steps\n- [ ] x\n"
    )
    reading = read_plan(text)
    assert reading.plan is not None
    written = with_hidden_copy(text, reading.plan)
    assert written.startswith(text[: text.index("## Steps")].rstrip("\n") + "\n\n<!-- gl-rollout:plan v1 ")
    assert written.endswith("-->\n\n## Steps\n- [ ] x\n")
    assert not read_plan(written).stale


def test_hidden_copy_cannot_end_its_comment_early() -> None:
    plan = validate_plan(Plan((PlanStep("a--b", 100, MIN),), None))
    text = hidden_copy_text(plan)
    assert text.count("--") == 2  # the opening and closing of the comment only
    assert read_plan(plan_section(plan)).plan == plan


@given(
    ramp=st.lists(st.integers(1, 100), min_size=1, max_size=8, unique=True).map(sorted),
    wait=st.integers(0, 3000),
    hold=st.integers(0, 3000),
    approvers=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), max_size=3),
)
def test_every_plan_reads_back_from_its_section(
    ramp: list[int], wait: int, hold: int, approvers: list[str]
) -> None:
    approvers = [name for name in approvers if name not in ("all", "here", "channel")]
    plan = build_plan(
        tuple(ramp),
        wait=wait * MIN,
        hold=hold * MIN,
        max_jump=None,
        approvers=[",".join(approvers)] if approvers else (),
    )
    reading = read_plan(issue_with(plan), ENVIRONMENTS)
    assert reading.plan == plan
    assert not reading.stale
