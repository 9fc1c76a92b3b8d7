"""`render` and `create` write the rollout plan into the issue (issue 15): what a person sees and edits, the
hidden copy the tool keeps, and the options that shape them, through the real CLI (and the sandbox)."""

from __future__ import annotations

import datetime as dt
import json

from gl_rollout.core.chatops import ENVIRONMENTS
from gl_rollout.core.plan_text import read_plan
from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli
from tests.workflow_cli import FLAG, create, run


def test_render_shows_the_plan_a_person_can_read() -> None:
    done = run_cli(
        ["render", "my_flag", "--template", "rollout-detailed", "--approver", "production-on=alice"]
    )
    assert done.code == 0, done.stderr
    assert done.stderr == ""
    assert "| Environment | Target | Wait after | Approvers |" in done.stdout
    assert "| staging | on | 15m | |" in done.stdout
    assert "| production | 1% | 15m | |" in done.stdout
    assert "| production | on | 1d | @alice |" in done.stdout
    assert "- Max jump: 50 " in done.stdout
    assert "<!-- gl-rollout:plan v1 {" in done.stdout


def test_render_json_carries_the_plan_in_the_description() -> None:
    done = run_cli(
        ["render", "my_flag", "-t", "rollout-detailed", "--ramp", "10,50,100", "--hold", "2d", "--json"]
    )
    assert done.code == 0, done.stderr
    description = json.loads(done.stdout)["data"]["description"]
    plan = read_plan(description, ENVIRONMENTS).plan
    assert plan is not None
    assert [step.id for step in plan.steps] == [
        "staging-100",
        "production-10",
        "production-50",
        "production-100",
    ]
    assert plan.hold == dt.timedelta(days=2)


def test_create_writes_the_plan_into_the_issue(sandbox: Sandbox) -> None:
    data = create(
        sandbox, "--template", "rollout-detailed", "--wait", "30m", "--max-jump", "25", "--approver", "alice"
    )
    stored = str(sandbox.get_issue(None, data["iid"])["description"])
    reading = read_plan(stored, ENVIRONMENTS)
    assert reading.plan is not None
    assert not reading.stale  # the hidden copy matches what the table shows
    assert reading.plan.max_jump == 25
    assert {step.wait for step in reading.plan.steps[:-1]} == {dt.timedelta(minutes=30)}
    assert all(
        step.approvers == ("alice",) for step in reading.plan.steps if step.environment == "production"
    )
    # GitLab sees no extra checkbox in the plan: the detailed template's 29 steps
    assert sandbox.get_issue(None, data["iid"])["task_completion_status"]["count"] == 29


def test_create_with_a_plan_that_breaks_a_rule_sends_nothing(sandbox: Sandbox) -> None:
    done = run(
        sandbox,
        "create",
        FLAG,
        "--project",
        sandbox.project_path,
        "-t",
        "rollout-detailed",
        "--ramp",
        "1,100",
    )
    assert done.code == 2
    assert done.result.stderr.strip().startswith("error: production jumps from 1% to on")
    assert done.requests == []
    assert sandbox.count_issues() == 0


def test_create_dry_run_shows_the_plan_and_writes_nothing(sandbox: Sandbox) -> None:
    done = run(
        sandbox, "create", FLAG, "--project", sandbox.project_path, "-t", "rollout-detailed", "--dry-run"
    )
    assert done.code == 0, done.result.stderr
    assert "## Rollout plan" in done.result.output
    assert not done.writes()
    assert sandbox.count_issues() == 0


def test_a_persons_table_edit_wins_and_the_next_tick_rewrites_the_hidden_copy(sandbox: Sandbox) -> None:
    iid = create(sandbox, "--template", "rollout-detailed")["iid"]
    stored = str(sandbox.get_issue(None, iid)["description"])
    edited = stored.replace("| production | 50% | 15m | |", "| production | 50% | 2h | |", 1)
    assert edited != stored
    sandbox.edit_issue(None, iid, description=edited)  # alice, in GitLab's editor
    assert read_plan(edited, ENVIRONMENTS).stale
    assert run(sandbox, "check", f"{sandbox.project_path}#{iid}", "enable-staging").code == 0
    after = str(sandbox.get_issue(None, iid)["description"])
    reading = read_plan(after, ENVIRONMENTS)
    assert not reading.stale
    assert reading.plan is not None
    step = reading.plan.step("production-50")
    assert step is not None
    assert step.wait == dt.timedelta(hours=2)
    assert "| production | 50% | 2h | |" in after  # the person's row is kept as they wrote it
