"""`advance REF`: take the rollout's next plan step when every guard holds, else say what holds it.

Reads, in order: the issue (its plan, `gl_rollout.core.plan_text`), its notes (the tool's markers: the
steps taken and when, the announced ETA, pauses, approvals), the flag (a project-flag rollout: one GET
of the project feature flag; an instance rollout: no request, its state is what the `enable` comments
record, since `advance` writes the ChatOps command as `enable` does without `--apply`; with `--apply`,
one GET /features of the target instance for the applied environment), the project's freeze periods,
and the open incidents of each `--incident-project`. "Now" is GitLab's time, from the `Date` header of
those answers (`gl_rollout.gitlab.clock`). With nothing to do that is 4 requests, 3 for an instance
rollout without `--apply` (an approver check, or incident projects, add one each).

When no guard holds (`gl_rollout.core.advance_rules`) the notes are read again right before the write:
a marker of the flag that appeared since the first read means another runner (or a person) acted, and
the run stops with exit 4, nothing written. Two runners whose re-reads both come before either write
are told apart by claim-then-verify (`gl_rollout.workflows.step_claim`; GitLab has no compare-and-swap
on notes): the step's comment, the `enable` of its environment and percentage with the runner's
paragraph (the step, the guards that held, the next step and its earliest time), is posted FIRST, as the
claim, its marker naming the step and this run. Then the notes are listed again: when another comment
taking the same step has a lower note id, this run lost; it deletes its own comment and exits 4
("another runner took STEP (note N)"), having ticked nothing and, for a project flag, written nothing
to the flag. The winner then writes the project flag (one PUT, `gl_rollout.workflows.project_flags`;
an instance rollout's comment is the ChatOps command itself), ticks the step and sets the stage label
as `sync` would (`rollout::staging`, `rollout::production-partial`, ...; one PUT of `add_labels` /
`remove_labels`, none when it is right or while `rollout::rolled-back` is on). So two runners leave one
step comment, one tick and one flag change; a runner whose first read already sees the winner's comment
is held by the step's wait (exit 0, nothing written), or, when the winner's comment is there but its PUT
not yet, exit 4 ("another runner is taking STEP", nothing written). A step costs 12 requests for a
project flag (the 4 reads, the re-read, the flag's GET for the plan, the comment, the re-list, the PUT,
the tick's PUT and check, the label's PUT). A read that fails is exit 3 before anything is written.

Edge cases, decided:
- The delete of a losing comment fails (403, 5xx after the client's retries): exit 3, saying that a
  duplicate comment remains and naming its note; nothing is ticked and the flag is not written by it.
- The flag's PUT fails after the claim was won: the claim is deleted and the PUT's error is the exit
  (3), so no comment claims a step the flag never took; a failed delete then is exit 3 naming the note.
- GitLab's answer to our POST is lost (502 after commit, a timeout, a dropped connection): the posting
  layer looks for the comment by its marker key AND this run's token (`posting.post_note_once`), so
  another runner's comment of the same step is never taken for ours; it looks until GitLab's request
  timeout has passed, so a POST that commits late is found (and then loses or wins by its id) rather than
  left behind after the run ended. The claim then finds ours again by the token in the fresh list.
- Note ids are handed out when GitLab inserts a note, in its transaction, so id order can disagree with
  commit order: runner A takes id 10, runner B id 11, B commits and lists before A's insert commits, and
  both see themselves first. The residual window is that gap inside GitLab (the time between a note's id
  being assigned and its transaction committing, milliseconds), against the whole read-to-write time
  (seconds) before; the CI template's `resource_group` serialises scheduled runs and closes it there.
- Another runner takes the whole step between this run's re-read and the notes read of its write: the
  comment found there has the step's marker key but another run's token, so it is not taken as "already
  posted" by us but as the claim lost: exit 4, "another runner took STEP (note N); this run left no
  comment of it", nothing written.
- A runner's first read that falls between another runner's comment and its PUT sees the flag behind
  the newest comment: exit 4, "another runner is taking STEP (note N)" while that comment is younger than
  GitLab's request timeout (60 s), else the flag was changed by hand (exit 4, `--adopt` to go on). A crash
  between the comment and the PUT so reads, after that minute, as a change by hand: deleting the comment
  or `--adopt` lets the ramp go on.

A project flag whose state contradicts the newest enable comment (changed by hand) is exit 4 with
nothing written, unless `adopt`: then the flag as it is is the position.

The health probe (`AdvanceOptions.probe`: `--probe`, `--probe-url`, or both) runs first on every run
that is not paused. With `settle` seconds, a run that took a step waits them (`AdvanceOptions.sleep`),
probes again, and when unhealthy reads the rollout afresh and rolls that step back and pauses, as the
next run's probe would have (`_halt`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gl_rollout.core.advance_rules import (
    PAUSE_ACTIONS,
    Hold,
    announced_eta,
    holds,
    next_time,
    pause_state,
)
from gl_rollout.core.checklist import apply_step_states, parse_checklist
from gl_rollout.core.guards import DEFAULT_BLOCKING_LABELS, find_approval
from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.model import Issue, IssueQuery, Note
from gl_rollout.core.plan_text import HEADING
from gl_rollout.core.plans import Plan, PlanStep
from gl_rollout.core.ramp_position import Position
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import RolloutFlag
from gl_rollout.core.stage import label_changes, rollout_stage
from gl_rollout.core.times import Timestamp, format_utc, utc_iso
from gl_rollout.errors import ConflictError, ExitCode, RolloutError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.gitlab.clock import ServerClock
from gl_rollout.result import OMIT_NONE, Result
from gl_rollout.workflows.enable import FlagOptions, RunnerNote, set_flag
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, SERVER_TIMEOUT, Patience
from gl_rollout.workflows.probe import Probe, ProbeResult
from gl_rollout.workflows.project_flags import ProjectFlagOptions, set_project_flag
from gl_rollout.workflows.ramp_guards import check_approvers, current_freezes, open_blocking_incidents
from gl_rollout.workflows.ramp_read import InstanceApply, Ramp, read_ramp
from gl_rollout.workflows.step_claim import RUN_KEY, STEP_KEY, StepClaim, new_run_token
from gl_rollout.workflows.step_comments import Claimed, CommentOutcome, read_notes
from gl_rollout.workflows.sync import label_fields

RUNNER_ACTIONS = ("enable", "disable", *PAUSE_ACTIONS)


@dataclass(frozen=True)
class AdvanceOptions:
    """What `advance` is told beyond the issue: where incidents are filed and which labels block, and
    whether a flag changed by hand is taken as it is (`--adopt`)."""

    incident_projects: tuple[str, ...] = ()
    blocking_labels: tuple[str, ...] = DEFAULT_BLOCKING_LABELS
    adopt: bool = False
    # The health probe (`gl_rollout.workflows.probe`), run on every run that is not paused: unhealthy
    # before any step holds the ramp; unhealthy once a step is taken rolls back one step and pauses.
    probe: Probe | None = field(default=None, compare=False)
    # `--settle`: seconds to wait after taking a step before probing again in the same run (0: the next
    # run's probe is the check); `sleep` waits them (tests pass one that returns at once).
    settle: float = 0.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    # `--apply`: a GitLab-flag rollout's steps of one environment set through the Features API of the
    # target instance, and its position read from that instance's gates (`ramp_read.InstanceApply`).
    apply: InstanceApply | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AdvanceOutcome:
    """Where the rollout stands and what `advance` did: `position` and `next_step` are plan step IDs
    (None before the first step / after the last), `next_at` the next step's earliest time as far as
    the timed guards tell, `blocked_by` every guard holding it, `took` the step taken now (or, in a dry
    run, that would be)."""

    issue: str
    flag: str
    backend: str
    position: str | None
    next_step: str | None
    next_at: str | None
    blocked_by: tuple[Hold, ...]
    took: str | None = None
    guards_held: tuple[str, ...] = ()
    dry_run: bool = False
    now: str = ""
    write: CommentOutcome | None = field(default=None, metadata=OMIT_NONE)
    halted: str | None = field(default=None, metadata=OMIT_NONE)  # the probe's rollback: its target


def _runner_text(step: PlanStep, plan: Plan, held: Sequence[str], now: dt.datetime) -> str:
    following = plan.next_after(step)
    lines = [
        f"Step `{step.id}` of the rollout plan, taken by `gl-rollout advance` at {format_utc(now)}.",
        f"Guards that held: {', '.join(held)}.",
    ]
    if following is None:
        lines.append(f"This is the last step: hold it {_duration(step.wait)} before cleanup.")
    else:
        lines.append(f"Next: `{following.id}`, not before {format_utc(now + step.wait)}.")
    return "\n".join(lines)


def _duration(delta: dt.timedelta) -> str:
    from gl_rollout.core.times import format_duration

    return format_duration(delta)


def _contradiction(api: GitLabAPI, ramp: Ramp) -> ConflictError:
    """Exit 4 for a flag that contradicts the newest comment: another runner in the middle of its step
    (its claim posted less than GitLab's request timeout ago, its flag change not yet), else a change by
    hand."""
    newest = max((note for note in ramp.notes if not note.system), key=lambda note: note.id, default=None)
    marker = find_note_marker(newest.body) if newest is not None else None
    now = ServerClock(api).now().moment
    posted = Timestamp.of(newest.created_at).moment if newest is not None else None
    recent = now is not None and posted is not None and (now - posted).total_seconds() < SERVER_TIMEOUT
    if newest is not None and marker is not None and marker.flag == ramp.flag and marker.values.get(RUN_KEY) \
            and recent:  # fmt: skip
        return ConflictError(
            f"another runner is taking {marker.values.get(STEP_KEY)} (note {newest.id}): its comment is "
            f"there, its change of {ramp.flag} not yet; nothing changed",
            "run advance again: it starts from the new evidence",
        )
    return ConflictError(
        f"{ramp.flag} was changed by hand: {ramp.contradictions[0]}; nothing changed",
        "set it back to the plan, or run advance --adopt to continue from the flag as it is",
    )


def _new_runner_marker(before: Sequence[Note], after: Sequence[Note], flag: str) -> Note | None:
    seen = {note.id for note in before}
    for note in after:
        if note.id in seen or note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is not None and marker.action in RUNNER_ACTIONS and marker.flag in ("", flag):
            return note
    return None


def advance(
    api: GitLabAPI,
    ref: IssueRef,
    options: AdvanceOptions = AdvanceOptions(),
    *,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[AdvanceOutcome]:
    """Take the next step of the issue's plan when every guard holds (see the module docstring)."""
    ramp = read_ramp(api, ref, options.apply)
    issue, plan, notes, flag, at = ramp.issue, ramp.plan, ramp.notes, ramp.flag, ramp.at
    rollout = ramp.rollout
    messages: list[str] = []
    if options.apply is not None and rollout is not None:
        messages.append(f"{issue.reference}: a project flag; --apply is for GitLab's own flags, not needed")
    if ramp.contradictions and not options.adopt:
        raise _contradiction(api, ramp)
    messages += [f"adopted: {line}" for line in ramp.contradictions]
    now = ServerClock(api).now().moment
    assert now is not None  # ServerClock refuses a missing Date
    kind = "project" if rollout is not None else "instance"
    base = AdvanceOutcome(
        issue=issue.reference,
        flag=flag,
        backend=kind,
        position=at.reached.id if at.reached else None,
        next_step=at.next.id if at.next else None,
        next_at=None,
        blocked_by=(),
        dry_run=dry_run,
        now=utc_iso(now),
    )
    if options.probe is not None:
        halted = _probe(api, ref, ramp, base, options, messages, dry_run, patience)
        if halted is not None:
            return halted
    if at.next is None:
        until = at.hold_until
        hold = f", hold until {format_utc(until)} before cleanup" if until else ""
        messages.append(f"{issue.reference}: every step of the plan is taken{hold}; nothing to do")
        return Result("advance", base, messages=messages)
    found = _guards(api, ref, issue, plan, at, now, notes, flag, options)
    if found:
        next_at = next_time(at, found)
        messages.append(f"{issue.reference}: {at.next.id} is held")
        messages += [f"  {hold.guard}: {hold.reason}" for hold in found]
        when = f"not before {format_utc(next_at)}" if next_at else "when the guards above clear"
        messages.append(f"next: {at.next.id}, {when}")
        outcome = replace(base, next_at=utc_iso(next_at) if next_at else None, blocked_by=tuple(found))
        return Result("advance", outcome, messages=messages)
    held = _guard_names(at.next, bool(options.incident_projects))
    taken = _take(api, ref, issue, plan, at, now, notes, rollout, base, held, messages, dry_run, patience,
                  options.apply)  # fmt: skip
    return _settle(api, ref, taken, options, dry_run, patience)


def _probe(
    api: GitLabAPI, ref: IssueRef, ramp: Ramp, base: AdvanceOutcome, options: AdvanceOptions,
    messages: list[str], dry_run: bool, patience: Patience,
) -> Result[AdvanceOutcome] | None:  # fmt: skip
    """Run the probe unless the rollout is paused; None when healthy (or paused), else the outcome: held
    before the first step, rolled back one step and paused after one (`ramp_control.rollback`)."""
    paused = pause_state(ramp.notes, ramp.flag)
    if paused is not None and paused.holding:
        return None
    assert options.probe is not None
    said = options.probe()
    if said.healthy:
        messages.append("probe: healthy")
        return None
    return _halt(api, ref, ramp, base, said, messages, dry_run, patience, options.apply)


def _halt(
    api: GitLabAPI, ref: IssueRef, ramp: Ramp, base: AdvanceOutcome, said: ProbeResult, messages: list[str],
    dry_run: bool, patience: Patience, apply: InstanceApply | None,
) -> Result[AdvanceOutcome]:  # fmt: skip
    """An unhealthy probe: held before the first step, else rolled back one step and paused."""
    first = said.output.splitlines()[0] if said.output else "unhealthy"
    hold = Hold("probe", f"the probe says unhealthy ({first})")
    if ramp.at.reached is None:
        messages.append(f"{ramp.issue.reference}: held by the probe: {said.output}")
        return Result("advance", replace(base, blocked_by=(hold,)), messages=messages)
    from gl_rollout.workflows.ramp_control import rollback  # it reads the ramp as advance does

    back = rollback(api, ref, f"the probe says unhealthy ({first})", details=said.output, dry_run=dry_run,
                    patience=patience, ramp=ramp, apply=apply)  # fmt: skip
    messages.append(f"{ramp.issue.reference}: the probe says unhealthy after {ramp.at.reached.id}:")
    messages += [f"  {line}" for line in said.output.splitlines()]
    messages += back.messages
    target = back.value.to if back.value is not None else None
    outcome = replace(base, blocked_by=(hold,), halted=target)
    if back.error is not None:
        failed = Result.failure("advance", back.error, outcome)
        failed.messages = messages
        return failed
    return Result("advance", outcome, messages=messages)


def _settle(
    api: GitLabAPI, ref: IssueRef, taken: Result[AdvanceOutcome], options: AdvanceOptions, dry_run: bool,
    patience: Patience,
) -> Result[AdvanceOutcome]:  # fmt: skip
    """`--settle`: after a step is taken, wait, probe again, and when unhealthy roll that step back and
    pause (`_halt`, from the rollout read afresh) in this same run."""
    took = taken.value
    if options.probe is None or options.settle <= 0 or took is None or took.took is None or taken.error:
        return taken
    messages = taken.messages
    wait = f"{options.settle:g} s"
    if dry_run:
        messages.append(f"dry run: would wait {wait} after {took.took} and run the probe again")
        return taken
    options.sleep(options.settle)
    said = options.probe()
    if said.healthy:
        messages.append(f"probe after {wait} of settling: healthy")
        return taken
    messages.append(f"probe after {wait} of settling: unhealthy")
    ramp = read_ramp(api, ref, options.apply)
    return _halt(api, ref, ramp, took, said, messages, dry_run, patience, options.apply)


def _guards(
    api: GitLabAPI,
    ref: IssueRef,
    issue: Issue,
    plan: Plan,
    at: Position,
    now: dt.datetime,
    notes: Sequence[Note],
    flag: str,
    options: AdvanceOptions,
) -> list[Hold]:
    step = at.next
    assert step is not None
    freezes = current_freezes(api, ref.project, now)
    incidents = (
        open_blocking_incidents(api, options.incident_projects, options.blocking_labels)
        if options.incident_projects
        else []
    )
    approval = None
    if step.approvers:
        check_approvers(api, [step], "fix the Approvers cell of the plan in the issue")
        approval = find_approval(plan, step, notes, issue_author=issue.author, not_before=at.reached_at)
    return holds(
        plan,
        at,
        now,
        freezes=freezes,
        incidents=incidents,
        approval=approval,
        eta=announced_eta(notes, flag),
        paused=pause_state(notes, flag),
    )


def _guard_names(step: PlanStep, options_incidents: bool) -> list[str]:
    names = ["not paused", "order (every earlier step reached)", "wait", "announced ETA", "no deploy freeze"]
    if options_incidents:
        names.append("no blocking incident")
    if step.approvers:
        names.append("approval")
    return names


def _take(
    api: GitLabAPI,
    ref: IssueRef,
    issue: Issue,
    plan: Plan,
    at: Position,
    now: dt.datetime,
    notes: list[Note],
    rollout: RolloutFlag | None,
    base: AdvanceOutcome,
    held: list[str],
    messages: list[str],
    dry_run: bool,
    patience: Patience,
    apply: InstanceApply | None = None,
) -> Result[AdvanceOutcome]:
    step, flag = at.next, base.flag
    assert step is not None
    fresh = read_notes(api, ref)
    other = _new_runner_marker(notes, fresh, flag)
    if other is not None:
        raise ConflictError(
            f"another runner wrote about {flag} (note {other.id}) since this run read the issue; "
            "nothing changed",
            "run advance again: it starts from the new evidence",
        )
    claim = StepClaim(api, ref, flag, step.id, new_run_token(), frozenset(note.id for note in fresh))
    runner = RunnerNote(_runner_text(step, plan, held, now), {STEP_KEY: step.id, RUN_KEY: claim.run})
    percentage = step.percent if step.percent < 100 else None
    if rollout is not None:
        written = set_project_flag(
            api, ref, issue, fresh, rollout,
            ProjectFlagOptions(envs=(step.environment,), percentage=percentage),
            enable=True, dry_run=dry_run, patience=patience, runner=runner, claim=claim,
        )  # fmt: skip
    else:
        applied = apply is not None and apply.environment_of(plan) == step.environment
        written = set_flag(
            api, ref,
            FlagOptions(envs=(step.environment,), percentage=percentage, actors=percentage is not None,
                        flag=flag, apply=applied, target_url=apply.target_url if apply else None),
            enable=True, dry_run=dry_run, patience=patience, issue=issue, runner=runner,
            admin_api=apply.admin_api if applied and apply else None,
            claim=lambda note: Claimed(note=claim.verify(note)),
        )  # fmt: skip
    following = plan.next_after(step)
    # GitLab's time after the write, never before the comment that starts the wait: "not before" errs late.
    after = ServerClock(api).now().moment if not dry_run else now
    next_at = (after or now) + step.wait if following is not None else None
    verb = "would take" if dry_run else "took"
    messages.append(f"{issue.reference}: {verb} {step.id} ({step.describe()})")
    messages += written.messages
    if written.error is None and written.value is not None:
        messages += _stage_label(api, ref, issue, plan, step, written.value, dry_run)
    if following is not None and next_at is not None:
        messages.append(f"next: {following.id}, not before {format_utc(next_at)}")
    else:
        messages.append(f"that is the last step: hold {_duration(step.wait)} before cleanup")
    outcome = replace(
        base,
        position=base.position if dry_run else step.id,
        next_step=following.id if following else None,
        next_at=utc_iso(next_at) if next_at else None,
        took=step.id,
        guards_held=tuple(held),
        write=written.value,
    )
    if written.error is not None:  # the flag is set and the comment posted, but the tick conflicted
        failed = Result.failure("advance", written.error, outcome)
        failed.messages = messages
        return failed
    return Result("advance", outcome, messages=messages)


def _stage_label(
    api: GitLabAPI, ref: IssueRef, issue: Issue, plan: Plan, step: PlanStep, written: CommentOutcome,
    dry_run: bool,
) -> list[str]:  # fmt: skip
    """Make the `rollout::` label say the stage the step brings, as `sync` would from the same evidence
    (`gl_rollout.core.stage`): one PUT of `add_labels`/`remove_labels`, none when it is right already or
    while `rollout::rolled-back` holds it."""
    ticked = [change.id for change in written.steps_changed if change.state == "done"]
    text = apply_step_states(issue.description, ticked, "done")[0] if ticked else issue.description
    partial = step.environment == plan.environments[-1] and step.percent < 100
    stage = rollout_stage(parse_checklist(text), partial=partial)
    add, remove = label_changes(issue.labels, stage)
    if not add and not remove:
        return []
    change = ", ".join([*(f"+{label}" for label in add), *(f"-{label}" for label in remove)])
    if dry_run:
        return [f"would set the stage label: {change}"]
    api.update_issue(ref.project, ref.iid, label_fields(add, remove))
    return [f"stage label: {change}"]


# --- every open rollout of a project or group ------------------------------------------------------------


@dataclass(frozen=True)
class RolloutFailure:
    """A rollout `advance --project/--group` could not advance: its reference, exit code and message."""

    issue: str
    code: int
    message: str


@dataclass(frozen=True)
class AdvanceManyOutcome:
    """Each open rollout with a plan, advanced (or held) in turn, and those that failed."""

    scope: str
    rollouts: tuple[AdvanceOutcome, ...]
    failed: tuple[RolloutFailure, ...] = ()
    skipped: int = 0  # open rollout issues without a plan


def advance_many(
    api: GitLabAPI,
    *,
    project: str | None = None,
    group: str | None = None,
    label: str = "feature flag",
    options: AdvanceOptions = AdvanceOptions(),
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[AdvanceManyOutcome]:
    """`advance --project P` / `--group G`: every open issue labelled `label` whose description has a
    rollout plan, one after the other (oldest first). One failing rollout does not stop the others; the
    exit code is the first failure's."""
    query = IssueQuery(project=project, group=group, state="opened", labels=(label,) if label else (),
                       order_by="created_at", sort="asc")  # fmt: skip
    found = list(api.list_issues(query))
    done: list[AdvanceOutcome] = []
    failed: list[RolloutFailure] = []
    messages: list[str] = []
    skipped = 0
    for issue in found:
        if "gl-rollout:plan" not in issue.description and f"## {HEADING}" not in issue.description:
            skipped += 1
            continue
        path = issue.reference.rsplit("#", 1)[0] if "#" in issue.reference else (project or "")
        try:
            result = advance(api, IssueRef(path, issue.iid), options, dry_run=dry_run, patience=patience)
        except RolloutError as exc:
            failed.append(RolloutFailure(issue.reference, int(exc.exit_code), exc.one_line()))
            messages.append(f"{issue.reference}: error: {exc.one_line()}")
            continue
        messages += result.messages
        if result.value is not None:
            done.append(result.value)
        if result.error is not None:
            failed.append(RolloutFailure(issue.reference, int(result.exit_code), result.error.one_line()))
    scope = f"project {project}" if project else f"group {group}"
    messages.append(
        f"{scope}: {len(done)} rollout(s) with a plan, {sum(1 for o in done if o.took)} step(s) "
        f"{'would be ' if dry_run else ''}taken, {len(failed)} failed, {skipped} without a plan"
    )
    outcome = AdvanceManyOutcome(scope, tuple(done), tuple(failed), skipped)
    if failed:
        first = failed[0]
        error = _failure_error(first)
        result_many = Result.failure("advance", error, outcome)
        result_many.messages = messages
        return result_many
    return Result("advance", outcome, messages=messages)


def _failure_error(failure: RolloutFailure) -> RolloutError:
    error = RolloutError(f"{failure.issue}: {failure.message}", "see the lines above; the others ran")
    error.exit_code = ExitCode(failure.code)
    return error
