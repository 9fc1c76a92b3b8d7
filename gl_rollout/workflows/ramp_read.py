"""A rollout as the ramp runner reads it: the issue and its plan, its notes, the flag's position per
environment (a project flag's state, or for GitLab's own flags what the tool's comments record), the
position on the plan, and where the flag contradicts the comments (a change by hand). Shared by `advance`
and `ramp_control` (pause, resume, rollback).

With `advance --apply` (`InstanceApply`), one environment of a GitLab-flag rollout is set through the
Features API of a target instance: its position is then what that instance's gates say (one GET
/features; 100 when fully on, else the percentage gate, else 0), the other environments' what the
comments record, and a gate that contradicts the newest comment is a change by hand, as for project flags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gl_rollout.core.gates import fully_on, partial_percentage
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.plan_text import read_plan
from gl_rollout.core.plans import Plan
from gl_rollout.core.project_flag import FlagState
from gl_rollout.core.ramp_position import EnvironmentState, Position, RampEvent, events_from_notes, position
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import RolloutFlag, find_rollout_flag
from gl_rollout.core.times import Timestamp
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.workflows.announce import issue_flag
from gl_rollout.workflows.flag_backend import ProjectFlagBackend
from gl_rollout.workflows.issue_edit import require_open
from gl_rollout.workflows.step_comments import read_notes


def _step_percent(state: FlagState, env: str) -> float:
    serving = state.serving(env)
    if serving.on:
        return 100.0
    return float(serving.percentage or 0)


def _project_states(state: FlagState, plan: Plan) -> dict[str, EnvironmentState]:
    since = Timestamp.of(state.updated_at).moment if state.updated_at else None
    return {env: EnvironmentState(env, _step_percent(state, env), since) for env in plan.environments}


def _marker_states(events: Sequence[RampEvent]) -> dict[str, EnvironmentState]:
    """An instance rollout's position: the newest event per environment (events are oldest first)."""
    states: dict[str, EnvironmentState] = {}
    for event in events:
        states[event.environment] = EnvironmentState(event.environment, event.percent, event.at)
    return states


def hand_changes(plan: Plan, states: dict[str, EnvironmentState], events: Sequence[RampEvent]) -> list[str]:
    """Where the flag contradicts the newest enable/disable comment of its environment (or, with none,
    is at a share the plan never sets): a change made by hand."""
    found: list[str] = []
    for env in plan.environments:
        percent = states[env].percent if env in states else 0.0
        said = [event.percent for event in events if event.environment == env]
        planned = {float(step.percent) for step in plan.steps if step.environment == env} | {0.0}
        if said and said[-1] != percent:
            found.append(f"{env} is at {percent:g}% but the last gl-rollout comment set {said[-1]:g}%")
        elif not said and percent not in planned:
            found.append(f"{env} is at {percent:g}%, a share the plan never sets")
    return found


@dataclass(frozen=True)
class InstanceApply:
    """`advance --apply`: the plan environment whose steps go through the Features API of the target
    instance (None: the plan's last, production), its URL, and the admin connection to it (made when
    first needed; the admin token goes to that instance only, `gl_rollout.gitlab.connection`)."""

    target_url: str | None
    admin_api: Callable[[], GitLabAPI] = field(compare=False, repr=False)
    environment: str | None = None

    def environment_of(self, plan: Plan) -> str:
        """The applied environment; UsageError when the plan does not visit it."""
        env = self.environment or plan.environments[-1]
        if env not in plan.environments:
            raise UsageError(
                f"--apply-env {env}: the plan has no {env} step",
                f"give one of the plan's environments: {', '.join(plan.environments)}",
            )
        return env


def _gate_state(apply: InstanceApply, flag: str, env: str) -> EnvironmentState:
    """The applied environment's share, from the target instance's gates (a flag it does not list: 0)."""
    feature = next((f for f in apply.admin_api().list_features() if f.name == flag), None)
    gates = feature.gates if feature is not None else ()
    percent = 100.0 if fully_on(gates) else (partial_percentage(gates) or 0.0)
    return EnvironmentState(env, percent, None)


@dataclass(frozen=True)
class Ramp:
    """A rollout as the runner reads it: the issue, its plan and notes, the flag (and for a project flag
    its marker), the position, and where the flag contradicts the comments (a change by hand)."""

    issue: Issue
    plan: Plan
    notes: list[Note]
    flag: str
    rollout: RolloutFlag | None
    at: Position
    contradictions: tuple[str, ...] = ()


def read_ramp(api: GitLabAPI, ref: IssueRef, apply: InstanceApply | None = None) -> Ramp:
    """Read the issue (exit 2 when closed or without a plan), its notes and, for a project flag, the flag
    (for a GitLab flag with `apply`, its gates on the target instance); work out the position from that
    evidence (see the module docstring). 2 or 3 requests."""
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    plan = read_plan(issue.description).plan
    if plan is None:
        raise UsageError(
            f"{issue.reference} has no rollout plan",
            "add one with `gl-rollout create ... --ramp 1,10,25,50,100` or a '## Rollout plan' section",
        )
    notes = read_notes(api, ref)
    rollout = find_rollout_flag(issue.description)
    flag = rollout.flag if rollout is not None else issue_flag(issue, notes, None)
    events = events_from_notes(notes, flag)
    contradictions: list[str] = []
    if rollout is not None:
        backend = ProjectFlagBackend(api, rollout.project_for(ref.project), rollout)
        states = _project_states(backend.read_state(), plan)
        contradictions = hand_changes(plan, states, events)
    else:
        states = _marker_states(events)
        if apply is not None:
            env = apply.environment_of(plan)
            states[env] = _gate_state(apply, flag, env)
            contradictions = hand_changes(plan, states, events)
    at = position(plan, states, events)
    return Ramp(issue, plan, notes, flag, rollout, at, tuple(contradictions))
