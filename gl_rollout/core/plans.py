"""A rollout plan: the steps a ramp runner takes, in order, and the rules they keep. Pure.

A step is an environment and a target: `on` (100), or N% of actors (instance flags, ChatOps' `--actors`)
or N% of a `flexibleRollout` strategy (project flags); the flag's kind decides how a percentage is
applied, the plan only says how far. After each step the runner waits at least the step's `wait`; the
last step's wait is the hold at 100% before cleanup. A step may name approvers (GitLab usernames): one
of them must approve it in a comment before it is taken (`gl_rollout.core.approvals`).

The rules, checked by `validate_plan`: at least one step; each environment's steps together, in the
plan's order, with `production` (ChatOps' consistency check: staging before production) last; on each
environment the percentages rise (never fall, never repeat); on the last environment no rise is larger
than `max_jump` percentage points, counting its first step from 0%; waits are durations; approvers are
valid usernames (whether they exist is for the runner to ask GitLab).

Defaults follow GitLab's `doc/development/feature_flags/controls.md`: staging first, then production at
1, 10, 25, 50, 75 and 100% of actors, at least 15 minutes between steps, at least a day at 100% before
the flag is removed. A step is named `ENV-PERCENT` (`staging-100`, `production-25`); `ENV-on` names
the same step as `ENV-100`.

The plan lives in the rollout issue: `gl_rollout.core.plan_text` writes and reads its visible section
and its hidden copy.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gl_rollout.core.times import format_duration
from gl_rollout.errors import UsageError

PRODUCTION = "production"
DEFAULT_ENVIRONMENTS: tuple[str, ...] = ("staging", PRODUCTION)
DEFAULT_RAMP: tuple[int, ...] = (1, 10, 25, 50, 75, 100)
DEFAULT_WAIT = dt.timedelta(minutes=15)
DEFAULT_HOLD = dt.timedelta(days=1)
DEFAULT_MAX_JUMP = 50  # the default ramp rises by at most 25; 50 keeps `--ramp 1,10,50,100` valid
MAX_STEPS = 100
PLAN_VERSION = 1

_ENV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# GitLab's username rule (Gitlab::PathRegex): letters, digits, `_`, `.`, `-`; not ending in `.`,
# `.git` or `.atom`.
_USERNAME_RE = re.compile(r"^(?:[A-Za-z0-9_.][A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-]|[A-Za-z0-9_])$")
# `@all` mentions everyone in a comment or description; GitLab reserves these names.
_RESERVED_USERNAMES = frozenset({"all", "here", "channel"})


class PlanError(UsageError):
    """A plan that breaks a rule, or a plan section that cannot be read: exit 2, nothing written."""


@dataclass(frozen=True)
class PlanStep:
    """One step: the environment, how far (`percent`, 100 is on), the least time to stay at it before
    the next step, and who may approve it (usernames; none means no approval is needed)."""

    environment: str
    percent: int
    wait: dt.timedelta
    approvers: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)  # where a person wrote it in the issue, for errors

    @property
    def id(self) -> str:
        """`production-25`, `staging-100`."""
        return f"{self.environment}-{self.percent}"

    @property
    def target(self) -> str:
        """`on` or `25%`, as the plan's table shows it."""
        return "on" if self.percent == 100 else f"{self.percent}%"

    def describe(self) -> str:
        """`production at 25%`, `staging on`."""
        return f"{self.environment} on" if self.percent == 100 else f"{self.environment} at {self.percent}%"


@dataclass(frozen=True)
class Plan:
    """The steps in order and the largest rise allowed between two steps of the last environment."""

    steps: tuple[PlanStep, ...]
    max_jump: int | None = DEFAULT_MAX_JUMP

    @property
    def environments(self) -> tuple[str, ...]:
        """The environments in the order the plan visits them."""
        return tuple(dict.fromkeys(step.environment for step in self.steps))

    @property
    def hold(self) -> dt.timedelta:
        """The least time at the final step before cleanup: the last step's wait."""
        return self.steps[-1].wait if self.steps else dt.timedelta(0)

    def step(self, step_id: str) -> PlanStep | None:
        """The step named `step_id` (`production-25`, `production-on`, case-insensitive), or None."""
        wanted = step_id.strip().lower()
        if wanted.endswith("-on"):
            wanted = wanted[: -len("on")] + "100"
        return next((step for step in self.steps if step.id.lower() == wanted), None)

    def index(self, step: PlanStep) -> int:
        return self.steps.index(step)

    def next_after(self, step: PlanStep | None) -> PlanStep | None:
        """The step after `step` (the first step when `step` is None), or None after the last."""
        position = -1 if step is None else self.index(step)
        return self.steps[position + 1] if position + 1 < len(self.steps) else None

    def to_json(self) -> dict[str, Any]:
        """The hidden copy's payload: every field, waits in seconds."""
        return {
            "v": PLAN_VERSION,
            "steps": [
                {
                    "env": step.environment,
                    "percent": step.percent,
                    "wait": int(step.wait.total_seconds()),
                    "approvers": list(step.approvers),
                }
                for step in self.steps
            ],
            "max_jump": self.max_jump,
        }

    def to_data(self) -> dict[str, Any]:
        """The plan as JSON output shows it (`--json`, templates): step IDs, targets, waits as text."""
        return {
            "steps": [
                {
                    "id": step.id,
                    "environment": step.environment,
                    "percent": step.percent,
                    "target": step.target,
                    "wait": format_duration(step.wait),
                    "approvers": list(step.approvers),
                }
                for step in self.steps
            ],
            "hold": format_duration(self.hold),
            "max_jump": self.max_jump,
            "environments": list(self.environments),
        }


def plan_from_json(payload: object) -> Plan:
    """A plan from its hidden copy's payload; PlanError when it is not one (checked like any plan)."""
    if not isinstance(payload, Mapping) or payload.get("v") != PLAN_VERSION:
        raise PlanError("the plan's hidden copy is not a version-1 plan", "let gl-rollout rewrite it")
    steps_data = payload.get("steps")
    max_jump = payload.get("max_jump")
    if not isinstance(steps_data, list) or not (max_jump is None or _is_int(max_jump)):
        raise PlanError("the plan's hidden copy is damaged", "let gl-rollout rewrite it")
    steps = []
    for item in steps_data:
        if not isinstance(item, Mapping):
            raise PlanError("the plan's hidden copy is damaged", "let gl-rollout rewrite it")
        env, percent, wait, approvers = (item.get(k) for k in ("env", "percent", "wait", "approvers"))
        if not (
            isinstance(env, str)
            and _is_int(percent)
            and _is_int(wait)
            and isinstance(approvers, list)
            and all(isinstance(a, str) for a in approvers)
        ):
            raise PlanError("the plan's hidden copy is damaged", "let gl-rollout rewrite it")
        assert isinstance(percent, int)  # _is_int said so
        assert isinstance(wait, int)
        steps.append(PlanStep(env, percent, dt.timedelta(seconds=wait), tuple(approvers)))
    return validate_plan(Plan(tuple(steps), None if max_jump is None else int(max_jump)))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def hidden_copy_text(plan: Plan) -> str:
    """`<!-- gl-rollout:plan v1 {...} -->`: the machine-readable copy of the plan kept in the issue."""
    text = json.dumps(plan.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"<!-- gl-rollout:plan v{PLAN_VERSION} " + text.replace("--", "-\\u002d") + " -->"


# --- checking --------------------------------------------------------------------------------


def _where(step: PlanStep) -> str:
    return f"line {step.line}: " if step.line else ""


def check_environment(name: str, known: Collection[str] | None = None, *, where: str = "") -> str:
    """An environment name a plan may use: letters, digits, `_`, `.`, `-`; one of `known` when given."""
    if not _ENV_RE.match(name):
        raise PlanError(
            f"{where}{name!r} is not an environment name",
            "use letters, digits, '_', '.' or '-', like staging or production",
        )
    if known is not None and name not in known:
        raise PlanError(f"{where}unknown environment {name!r}", f"use one of: {', '.join(known)}")
    return name


def check_username(name: str, *, where: str = "") -> str:
    """An approver as GitLab spells usernames (a leading `@` is dropped); `all` and the like are refused."""
    username = name.strip().removeprefix("@")
    if not _USERNAME_RE.match(username) or username.lower().endswith((".git", ".atom")):
        raise PlanError(
            f"{where}{name.strip()!r} is not a GitLab username",
            "give approvers as usernames, like alice or @alice",
        )
    if username.lower() in _RESERVED_USERNAMES:
        raise PlanError(f"{where}@{username} would mention everyone, not approve", "name a person")
    return username


def validate_plan(plan: Plan, known_environments: Collection[str] | None = None) -> Plan:
    """The plan if it keeps every rule of the module docstring; PlanError naming the first broken one
    (with the line of the issue it was written on, when it was read from one)."""
    if not plan.steps:
        raise PlanError("the plan has no steps", "give at least one environment and target")
    if len(plan.steps) > MAX_STEPS:
        raise PlanError(f"the plan has {len(plan.steps)} steps", f"a plan may have at most {MAX_STEPS}")
    if plan.max_jump is not None and not 1 <= plan.max_jump <= 100:
        raise PlanError(f"max jump {plan.max_jump} is out of range", "give 1 to 100 percentage points")
    seen_envs: list[str] = []
    for step in plan.steps:
        where = _where(step)
        check_environment(step.environment, known_environments, where=where)
        if not 1 <= step.percent <= 100:
            raise PlanError(
                f"{where}{step.environment} at {step.percent}% is out of range",
                "a step's target is on or 1% to 99% (turning the flag off is a rollback, not a step)",
            )
        if step.wait < dt.timedelta(0):
            raise PlanError(f"{where}the wait after {step.id} is negative", "give a duration like 15m")
        for approver in step.approvers:
            check_username(approver, where=where)
        if len({a.lower() for a in step.approvers}) != len(step.approvers):
            raise PlanError(f"{where}an approver of {step.id} is named twice", "name each approver once")
        if seen_envs and step.environment != seen_envs[-1] and step.environment in seen_envs:
            raise PlanError(
                f"{where}{step.environment} comes back after {seen_envs[-1]}",
                "keep each environment's steps together, in the order the rollout visits them",
            )
        if not seen_envs or seen_envs[-1] != step.environment:
            seen_envs.append(step.environment)
    if PRODUCTION in seen_envs and seen_envs[-1] != PRODUCTION:
        later = seen_envs[seen_envs.index(PRODUCTION) + 1]
        raise PlanError(
            f"{later} comes after production in the plan",
            "production is the last environment: staging and the others come before it",
        )
    for env, group in itertools.groupby(plan.steps, key=lambda step: step.environment):
        steps = list(group)
        for before, after in itertools.pairwise(steps):
            if after.percent <= before.percent:
                word = "falls" if after.percent < before.percent else "repeats"
                raise PlanError(
                    f"{_where(after)}{env} {word} from {before.target} to {after.target}",
                    "percentages on an environment rise from step to step",
                )
    if plan.max_jump is not None:
        last = [step for step in plan.steps if step.environment == seen_envs[-1]]
        previous = 0
        for step in last:
            if step.percent - previous > plan.max_jump:
                raise PlanError(
                    f"{_where(step)}{step.environment} jumps from {previous}% to {step.target}, "
                    f"more than the max jump of {plan.max_jump} points",
                    "add steps in between, or raise the max jump (--max-jump)",
                )
            previous = step.percent
    return plan


# --- the default plan and the options that shape it -------------------------------------------


def parse_approver_option(text: str) -> tuple[str | None, tuple[str, ...]]:
    """`--approver [SCOPE=]USER[,USER...]`: (scope or None, usernames). SCOPE is an environment or a
    step ID (`production-50`, `production-on`); without one the users approve every step of the last
    environment."""
    scope, sep, users = text.partition("=")
    if not sep:
        scope, users = "", text
    names = tuple(check_username(name) for name in re.split(r"[,\s]+", users.strip()) if name)
    if not names:
        raise PlanError(f"--approver {text!r} names nobody", "give --approver USER or --approver STEP=USER")
    return (scope.strip() or None), names


def build_plan(
    ramp: Sequence[int] = DEFAULT_RAMP,
    *,
    wait: dt.timedelta = DEFAULT_WAIT,
    hold: dt.timedelta = DEFAULT_HOLD,
    max_jump: int | None = DEFAULT_MAX_JUMP,
    approvers: Iterable[str] = (),
    environments: Sequence[str] = DEFAULT_ENVIRONMENTS,
    known_environments: Collection[str] | None = None,
) -> Plan:
    """The plan the options ask for: each environment before the last turned on in one step, then the
    last one (production) along `ramp`; `wait` after each step, `hold` after the last; `approvers` as
    `--approver` takes them. PlanError for anything the rules refuse."""
    if not environments:
        raise PlanError("the plan has no environments", "name at least production")
    bare = [PlanStep(env, 100, wait) for env in environments[:-1]]
    bare += [PlanStep(environments[-1], percent, wait) for percent in ramp]
    if bare:
        bare[-1] = PlanStep(bare[-1].environment, bare[-1].percent, hold)
    scoped: dict[str, list[str]] = {}
    for text in approvers:
        scope, names = parse_approver_option(text)
        key = scope or environments[-1]
        scoped.setdefault(key.lower(), []).extend(names)
    probe = Plan(tuple(bare), max_jump)
    for key in scoped:
        if probe.step(key) is None and key not in (env.lower() for env in environments):
            raise PlanError(
                f"--approver names {key!r}, which is no step or environment of the plan",
                f"use an environment ({', '.join(environments)}) or a step such as {bare[-1].id}",
            )
    steps: list[PlanStep] = []
    for step in bare:
        chosen = scoped.get(step.environment.lower(), []) + scoped.get(step.id.lower(), [])
        if step.percent == 100:
            chosen += scoped.get(f"{step.environment}-on".lower(), [])
        steps.append(PlanStep(step.environment, step.percent, step.wait, tuple(dict.fromkeys(chosen))))
    return validate_plan(Plan(tuple(steps), max_jump), known_environments)


def describe_changes(old: Plan, new: Plan) -> list[str]:
    """What an edit changed, in words: `production-75: wait 15m -> 30m`, `removed production-10`."""
    lines: list[str] = []
    old_steps = {step.id: step for step in old.steps}
    new_steps = {step.id: step for step in new.steps}
    for step_id in old_steps.keys() - new_steps.keys():
        lines.append(f"removed {step_id}")
    for step_id in new_steps.keys() - old_steps.keys():
        lines.append(f"added {step_id}")
    for step_id in old_steps.keys() & new_steps.keys():
        was, now = old_steps[step_id], new_steps[step_id]
        if was.wait != now.wait:
            lines.append(f"{step_id}: wait {format_duration(was.wait)} -> {format_duration(now.wait)}")
        if was.approvers != now.approvers:
            before, after = ", ".join(was.approvers) or "none", ", ".join(now.approvers) or "none"
            lines.append(f"{step_id}: approvers {before} -> {after}")
    if [s.id for s in old.steps if s.id in new_steps] != [s.id for s in new.steps if s.id in old_steps]:
        lines.append("steps reordered")
    if old.max_jump != new.max_jump:
        lines.append(f"max jump {old.max_jump or 'none'} -> {new.max_jump or 'none'}")
    return sorted(lines)
