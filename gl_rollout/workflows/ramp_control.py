"""`pause`, `resume` and `rollback`: a person (or a probe) stops the ramp runner, lets it go on, or takes
the flag back to an earlier plan step. Each is a marker comment (`pause`, `resume`, `rollback` markers,
read by `gl_rollout.core.advance_rules.pause_state`) and, for rollback, the flag change.

- `pause REF --reason TEXT`: the comment; the flag stays where it is. `advance` takes no step until a
  `resume`. Already paused: nothing to do.
- `resume REF`: the comment, and the `rollout::rolled-back` label taken off. Not paused: nothing to do.
- `rollback REF --reason TEXT [--to STEP | --off]`: the comment first (so no runner advances while the
  flag goes back), then the `rollout::rolled-back` label, then the flag: by default to the step before
  the position, `--to STEP` to a step before it, `--off` off everywhere. Each change is the `enable` or
  `disable` of its environment (`gl_rollout.workflows.enable`, `gl_rollout.workflows.project_flags`):
  its own comment and its steps set back, so the position follows from the evidence as ever. Run again,
  it finds its comment and the flag already so, and writes nothing.

`--dry-run` reads the same and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gl_rollout.core.advance_rules import pause_state
from gl_rollout.core.markers import NoteMarker, find_note_marker, intent_key
from gl_rollout.core.model import Note
from gl_rollout.core.plans import PlanStep
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.stage import ROLLED_BACK_LABEL
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.enable import FlagOptions, set_flag
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.project_flags import ProjectFlagOptions, set_project_flag
from gl_rollout.workflows.ramp_read import InstanceApply, Ramp, read_ramp
from gl_rollout.workflows.step_comments import StepAction, comment_and_tick, read_notes


@dataclass(frozen=True)
class ControlOutcome:
    """What pause, resume or rollback did: the issue and flag, the position before, the rollback's
    target (a step ID, `off`, or None), whether the comment was posted (or, in a dry run, would be),
    the flag changes made (in words), and whether there was nothing to do."""

    issue: str
    flag: str
    action: str
    position: str | None
    to: str | None = None
    posted: bool = False
    changes: tuple[str, ...] = field(default=())
    label: str | None = None
    nothing_to_do: bool = False
    dry_run: bool = False


def _check_reason(reason: str | None, command: str) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise UsageError(f"{command} needs --reason TEXT", "say why, for the people who read the issue")
    if len(text) > 500:
        raise UsageError("--reason is longer than 500 characters", "keep it to a line or two")
    return text


def _post(
    api: GitLabAPI, ref: IssueRef, ramp: Ramp, marker: NoteMarker, text: str, *, dry_run: bool,
    patience: Patience,
) -> bool:  # fmt: skip
    """Post the control comment unless the newest control marker already says it; True if (it would be)
    posted."""
    current = pause_state(ramp.notes, ramp.flag)

    def posted(notes: Sequence[Note]) -> Note | None:
        if current is None:
            return None
        note = next((n for n in notes if n.id == current.note_id), None)
        found = find_note_marker(note.body) if note is not None else None
        return note if found is not None and found.key == marker.key else None

    action = StepAction(marker.action, marker, text, posted=posted)
    result = comment_and_tick(api, ref, ramp.issue, ramp.notes, action, dry_run=dry_run, patience=patience)
    if result.error is not None:
        raise result.error
    assert result.value is not None
    return not result.value.nothing_to_do


def pause(
    api: GitLabAPI, ref: IssueRef, reason: str | None, *, dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[ControlOutcome]:  # fmt: skip
    """`pause REF --reason TEXT` (see the module docstring)."""
    why = _check_reason(reason, "pause")
    ramp = read_ramp(api, ref)
    base = ControlOutcome(ramp.issue.reference, ramp.flag, "pause", _position(ramp), dry_run=dry_run)
    current = pause_state(ramp.notes, ramp.flag)
    if current is not None and current.holding:
        word = "rolled back" if current.action == "rollback" else "paused"
        return Result("pause", _nothing(base), messages=[f"{ramp.issue.reference} is already {word}"])
    # The key names the newest note: pausing again, after a resume, with the same reason is a new comment.
    key = intent_key("pause", ramp.flag, None, {"reason": why, "after": _last_note_id(ramp)})
    marker = NoteMarker("pause", ramp.flag, None, {"reason": why}, key)
    text = (
        f"**Paused** the rollout of `{ramp.flag}`: {why}\n\n"
        "`gl-rollout advance` takes no step until `gl-rollout resume`."
    )
    posted = _post(api, ref, ramp, marker, text, dry_run=dry_run, patience=patience)
    verb = "would pause" if dry_run else "paused"
    return Result("pause", _with(base, posted=posted), messages=[f"{ramp.issue.reference}: {verb}: {why}"])


def resume(
    api: GitLabAPI, ref: IssueRef, *, dry_run: bool = False, patience: Patience = DEFAULT_PATIENCE
) -> Result[ControlOutcome]:
    """`resume REF` (see the module docstring)."""
    ramp = read_ramp(api, ref)
    base = ControlOutcome(ramp.issue.reference, ramp.flag, "resume", _position(ramp), dry_run=dry_run)
    current = pause_state(ramp.notes, ramp.flag)
    if current is None or not current.holding:
        return Result("resume", _nothing(base), messages=[f"{ramp.issue.reference} is not paused"])
    key = intent_key("resume", ramp.flag, None, {"after": current.note_id})
    marker = NoteMarker("resume", ramp.flag, None, {"after": current.note_id}, key)
    text = f"**Resumed** the rollout of `{ramp.flag}`: `gl-rollout advance` takes its steps again."
    posted = _post(api, ref, ramp, marker, text, dry_run=dry_run, patience=patience)
    label = None
    if ROLLED_BACK_LABEL in ramp.issue.labels:
        label = f"-{ROLLED_BACK_LABEL}"
        if not dry_run:
            api.update_issue(ref.project, ref.iid, {"remove_labels": ROLLED_BACK_LABEL})
    verb = "would resume" if dry_run else "resumed"
    return Result(
        "resume", _with(base, posted=posted, label=label), messages=[f"{ramp.issue.reference}: {verb}"]
    )


def rollback(
    api: GitLabAPI, ref: IssueRef, reason: str | None, *, to: str | None = None, off: bool = False,
    dry_run: bool = False, patience: Patience = DEFAULT_PATIENCE, details: str = "",
    ramp: Ramp | None = None, apply: InstanceApply | None = None,
) -> Result[ControlOutcome]:  # fmt: skip
    """`rollback REF --reason TEXT [--to STEP | --off]` (see the module docstring). `details` (a probe's
    output) is quoted in the comment; `ramp` is the rollout when the caller has read it already; `apply`
    (`advance --apply`) sets its environment back through the Features API of its instance too."""
    why = _check_reason(reason, "rollback")
    if to is not None and off:
        raise UsageError("--to and --off do not go together", "give one: a step, or off")
    ramp = ramp if ramp is not None else read_ramp(api, ref, apply)
    current = pause_state(ramp.notes, ramp.flag)
    if to is None and not off and current is not None and current.action == "rollback" and current.to:
        # rolled back already: again, without --to or --off, means the same target, not one more step
        to, off = (None, True) if current.to == "off" else (current.to, False)
    target = _target(ramp, to, off)
    name = target.id if target is not None else "off"
    base = ControlOutcome(ramp.issue.reference, ramp.flag, "rollback", _position(ramp), name, dry_run=dry_run)
    values = {"reason": why, "to": name}
    key = intent_key("rollback", ramp.flag, None, {**values, "from": _position(ramp)})
    marker = NoteMarker("rollback", ramp.flag, None, values, key)
    where = f"back to `{name}` ({target.describe()})" if target is not None else "off everywhere"
    text = (
        f"**Rolled back** the rollout of `{ramp.flag}` {where}: {why}\n\n"
        "`gl-rollout advance` takes no step until `gl-rollout resume`."
    )
    if details:
        fence = "`" * max(
            3, max((len(run) for run in details.split("\n") if set(run) == {"`"}), default=0) + 1
        )
        text += f"\n\nWhat the probe said (its first lines):\n\n{fence}\n{details}\n{fence}"
    current = pause_state(ramp.notes, ramp.flag)
    already = (
        current is not None
        and current.action == "rollback"
        and _position(ramp) == (target.id if target is not None else None)
    )
    posted = False if already else _post(api, ref, ramp, marker, text, dry_run=dry_run, patience=patience)
    label = None
    if ROLLED_BACK_LABEL not in ramp.issue.labels:
        label = ROLLED_BACK_LABEL
        if not dry_run:
            api.update_issue(ref.project, ref.iid, {"add_labels": ROLLED_BACK_LABEL})
    changes = _set_flag_back(api, ref, ramp, target, dry_run=dry_run, patience=patience, apply=apply)
    verb = "would roll back" if dry_run else "rolled back"
    # `where` starts "back to" for a step: "rolled back to X", never "rolled back back to X"
    said = where.replace("`", "").removeprefix("back ")
    messages = [f"{ramp.issue.reference}: {verb} {said}: {why}"]
    messages += [f"  {line}" for line in changes]
    outcome = _with(base, posted=posted, changes=tuple(changes), label=label)
    return Result("rollback", outcome, messages=messages)


def _target(ramp: Ramp, to: str | None, off: bool) -> PlanStep | None:
    """The step to roll back to (None: off everywhere); UsageError for a step not before the position."""
    reached = ramp.at.reached
    if off:
        return None
    if reached is None and to is not None:
        raise UsageError(
            f"{ramp.issue.reference} has taken no step of its plan: --to {to} is not behind it",
            "give --off, or pause it: gl-rollout pause REF --reason TEXT",
        )
    if reached is None:
        raise UsageError(
            f"{ramp.issue.reference} has taken no step of its plan: nothing to roll back",
            "pause it instead: gl-rollout pause REF --reason TEXT",
        )
    index = ramp.plan.index(reached)
    if to is None:
        return ramp.plan.steps[index - 1] if index > 0 else None
    step = ramp.plan.step(to)
    if step is None:
        raise UsageError(
            f"the plan has no step {to!r}", f"use one of: {', '.join(s.id for s in ramp.plan.steps)}"
        )
    if ramp.plan.index(step) > index:  # the position itself: the flag stays, the runner stops
        raise UsageError(f"{step.id} is after the position {reached.id}", "give an earlier step, or --off")
    return step


def _set_flag_back(
    api: GitLabAPI, ref: IssueRef, ramp: Ramp, target: PlanStep | None, *, dry_run: bool,
    patience: Patience, apply: InstanceApply | None = None,
) -> list[str]:  # fmt: skip
    """The enable/disable of each environment that must go back; a line per change."""
    plan = ramp.plan
    envs = plan.environments
    keep = envs.index(target.environment) if target is not None else -1
    changes: list[str] = []
    if ramp.rollout is None:  # GitLab's own flags: the ChatOps commands, as comments
        # with --apply, the applied environment goes back through the Features API too (its own comment)
        applied = apply.environment_of(plan) if apply is not None else None
        later = tuple(env for env in envs[keep + 1 :])
        groups: list[tuple[str, ...]] = [(applied,)] if applied is not None and applied in later else []
        reached = ramp.at.reached
        if (
            target is not None and target.environment == applied and target.percent < 100
            and reached is not None and reached.environment == applied and reached.percent >= 100
        ):  # fmt: skip
            # Flipper keeps the boolean gate when a percentage is set: off first, then the percentage
            groups.append((applied,))
        groups.append(tuple(env for env in later if env != applied))
        for group in (g for g in groups if g):
            options = _applied(FlagOptions(envs=group, flag=ramp.flag), apply, group == (applied,))
            result = set_flag(api, ref, options, enable=False, dry_run=dry_run, patience=patience,
                              admin_api=apply.admin_api if options.apply and apply else None)  # fmt: skip
            changes.append(f"off in {', '.join(group)}: {_said(result, dry_run)}")
        if target is not None:
            percentage = target.percent if target.percent < 100 else None
            options = FlagOptions(envs=(target.environment,), percentage=percentage,
                                  actors=percentage is not None, flag=ramp.flag)  # fmt: skip
            options = _applied(options, apply, target.environment == applied)
            result = set_flag(api, ref, options, enable=True, dry_run=dry_run, patience=patience,
                              admin_api=apply.admin_api if options.apply and apply else None)  # fmt: skip
            changes.append(f"{target.describe()}: {_said(result, dry_run)}")
        return changes
    rollout = ramp.rollout
    if target is None:
        result = set_project_flag(api, ref, ramp.issue, read_notes(api, ref), rollout, ProjectFlagOptions(),
                                  enable=False, dry_run=dry_run, patience=patience)  # fmt: skip
        return [f"off everywhere: {_said(result, dry_run)}"]
    for env in reversed(envs[keep + 1 :]):
        result = set_project_flag(api, ref, ramp.issue, read_notes(api, ref), rollout,
                                  ProjectFlagOptions(envs=(env,)), enable=False, dry_run=dry_run,
                                  patience=patience)  # fmt: skip
        changes.append(f"off in {env}: {_said(result, dry_run)}")
    percentage = target.percent if target.percent < 100 else None
    back = ProjectFlagOptions(envs=(target.environment,), percentage=percentage, allow_decrease=True)
    result = set_project_flag(api, ref, ramp.issue, read_notes(api, ref), rollout, back, enable=True,
                              dry_run=dry_run, patience=patience)  # fmt: skip
    changes.append(f"{target.describe()}: {_said(result, dry_run)}")
    return changes


def _applied(options: FlagOptions, apply: InstanceApply | None, here: bool) -> FlagOptions:
    """`options` set through the Features API of `apply`'s instance when `here` (its environment)."""
    if apply is None or not here:
        return options
    return replace(options, apply=True, target_url=apply.target_url)


def _said(result: Result[Any], dry_run: bool) -> str:
    if result.error is not None:
        raise result.error
    if result.value is not None and getattr(result.value, "nothing_to_do", False):
        return "already so"
    return "would be set" if dry_run else "set"


def _position(ramp: Ramp) -> str | None:
    return ramp.at.reached.id if ramp.at.reached else None


def _last_note_id(ramp: Ramp) -> int:
    return max((note.id for note in ramp.notes), default=0)


def _nothing(base: ControlOutcome) -> ControlOutcome:
    return replace(base, nothing_to_do=True)


def _with(base: ControlOutcome, **changes: Any) -> ControlOutcome:
    return replace(base, **changes)
