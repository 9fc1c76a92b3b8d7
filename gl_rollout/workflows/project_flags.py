"""`enable` and `disable` for a project-flag rollout: GitLab's project feature flag set through the REST
API (the Developer role), the comment that records it, and the step it completes.

The issue says which flag and environments (`gl_rollout.core.rollout_marker`), so no option names them:
- `enable REF --env E`: everyone in E (a `default` strategy scoped to E), flag active; ticks
  `enable-<E>`, or `enable-production` for the last environment;
- `enable REF [--env P] --percentage N`: a `flexibleRollout` of N% in P (the last environment by
  default), changed in place on the next step; ticks `ramp-N`, or `enable-production` at 100;
  a lower share than the flag has now is exit 2 unless `--allow-decrease`, and then the `ramp-M`
  (M above N) and `enable-production` steps ticked done go back to todo (a rollback undoes them);
- `enable REF --user-list NAME`: a `gitlabUserList` strategy in P; ticks `enable-beta`;
- `disable REF --env E`: E's scopes removed; sets `enable-<E>` back to todo (on P also `enable-beta`);
- `disable REF`: the flag inactive; sets every enable step back to todo.

Requests: the issue and its notes, one GET of the flag, one PUT when it is not already so, then the
comment, the description and the check of what GitLab stored (`step_comments`): 7, or 5 when the flag
and the comment are already so. `--user-list` adds one GET (the list's id, for the strategy), and an
environment the issue does not name adds one GET of the project's environments (an unknown one is a
warning: GitLab accepts any scope, wildcards such as `review/*` too). A failure of the flag's write stops
before the comment and the tick (exit 3). The ramp runner's step (`advance`, with a `claim`) turns the
order round: the comment first, the notes listed again, and the PUT only once no other runner's comment
of the step came first (`gl_rollout.workflows.step_claim`); its failure then deletes the comment (exit 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gl_rollout.core.checklist import Checklist, StepState, parse_checklist
from gl_rollout.core.markers import NoteMarker, intent_key
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.project_flag import (
    FlagChange,
    check_environment,
    check_stickiness,
    enable_step,
    env_slug,
    is_wildcard,
)
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import RolloutFlag
from gl_rollout.errors import RolloutError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.announce import only_the_comment
from gl_rollout.workflows.enable import RunnerNote
from gl_rollout.workflows.flag_backend import AppliedChange, ProjectFlagBackend
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.step_claim import StepClaim
from gl_rollout.workflows.step_comments import (
    Claimed,
    CommentOutcome,
    StepAction,
    comment_and_tick,
    newest_in_scope,
)


@dataclass(frozen=True)
class ProjectFlagOptions:
    """The `enable`/`disable` options a project-flag rollout reads."""

    envs: tuple[str, ...] = ()
    percentage: int | None = None
    user_list: str | None = None
    stickiness: str | None = None  # None: the rollout's own
    allow_decrease: bool = False
    adopt: bool = False


@dataclass(frozen=True)
class ProjectFlagOutcome:
    """What `enable`/`disable` did to the project flag: where, the change, the strategy diff, whether
    the PUT was needed and sent, and the flag before and after."""

    backend: str
    flag_project: str
    change: str
    strategy_diff: tuple[str, ...]
    needed: bool
    sent: bool
    before: str
    after: str
    adopted: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def check_project_options(options: ProjectFlagOptions, *, enable: bool) -> None:
    """What is refused before any request (exit 2): a percentage outside 0..100, a bad environment or
    stickiness, options that do not go together."""
    for env in options.envs:
        check_environment(env)
    if len(options.envs) > 1:
        raise UsageError("a project flag takes one --env per command", "run the command once per environment")
    if options.percentage is not None and not 0 <= options.percentage <= 100:
        raise UsageError(f"--percentage {options.percentage} is outside 0..100", "give a whole number 0-100")
    if options.stickiness is not None:
        check_stickiness(options.stickiness)
    if not enable and (options.percentage is not None or options.user_list):
        raise UsageError("disable takes only --env", "use enable --percentage N to lower a percentage")
    if options.user_list is not None and not options.user_list.strip():
        raise UsageError("--user-list names no list", "give the user list's name")
    if options.user_list and options.percentage is not None:
        raise UsageError("--user-list and --percentage are two steps", "run them one after the other")


def _change(
    api: GitLabAPI, project: str, rollout: RolloutFlag, options: ProjectFlagOptions, *, enable: bool
) -> FlagChange:
    env = options.envs[0] if options.envs else None
    if not enable:
        return FlagChange("off", env) if env else FlagChange("inactive")
    where = env or rollout.production
    if options.user_list:
        found = api.find_user_list(project, options.user_list)
        if found is None:
            raise UsageError(
                f"{project} has no feature flag user list named {options.user_list!r}",
                "create it in GitLab (Deploy > Feature flags > User lists), or check the name",
            )
        return FlagChange("user-list", where, user_list=found)
    if options.percentage is not None:
        stickiness = options.stickiness or rollout.stickiness
        return FlagChange("percentage", where, options.percentage, stickiness)
    return FlagChange("on", where)


def _steps(
    change: FlagChange, rollout: RolloutFlag, *, enable: bool
) -> list[tuple[tuple[str, ...], StepState]]:
    envs = rollout.environments
    if change.kind == "on":
        return [((enable_step(change.env or rollout.production, envs),), "done")]
    if change.kind == "percentage":
        if change.percentage == 100 and change.env == rollout.production:
            return [(("enable-production",), "done")]
        if change.env == rollout.production:
            return [((f"ramp-{change.percentage}",), "done")]
        return []
    if change.kind == "user-list":
        return [(("enable-beta",), "done")]
    if change.kind == "off":
        env = change.env or rollout.production
        steps = [enable_step(env, envs)]
        if env == rollout.production:
            steps.append("enable-beta")
        return [(tuple(steps), "todo")]
    return [((*[enable_step(env, envs) for env in envs], "enable-beta"), "todo")]


def _ticked_above(change: FlagChange, rollout: RolloutFlag, checklist: Checklist) -> tuple[str, ...]:
    """For a production percentage below 100: the steps of a larger share ticked done
    (`Checklist.done_above`)."""
    if change.kind != "percentage" or change.env != rollout.production or (change.percentage or 0) >= 100:
        return ()
    return checklist.done_above(change.percentage or 0)


def _environment_warning(api: GitLabAPI, project: str, rollout: RolloutFlag, env: str | None) -> str | None:
    """A warning when `env` is not one of the project's environments (never for the issue's own, nor
    for a wildcard scope): GitLab accepts the scope, so it is set anyway."""
    if env is None or env in rollout.environments or is_wildcard(env):
        return None
    known = api.list_environment_names(project)
    if env in known:
        return None
    names = ", ".join(known) or "none"
    return (
        f"warning: {project} has no environment {env!r} (it has {names}); the scope is set anyway, "
        "and applies once such an environment deploys"
    )


def set_project_flag(
    api: GitLabAPI,
    ref: IssueRef,
    issue: Issue,
    notes: list[Note],
    rollout: RolloutFlag,
    options: ProjectFlagOptions,
    *,
    enable: bool,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
    runner: RunnerNote | None = None,
    claim: StepClaim | None = None,
) -> Result[CommentOutcome]:
    """`enable`/`disable` on a project-flag rollout, as the module docstring says (`runner`: what the
    ramp runner adds to the comment and its marker; `claim`: the comment comes first, as the ramp step's
    claim, and the flag is written only once it holds, `gl_rollout.workflows.step_claim`)."""
    command = "enable" if enable else "disable"
    check_project_options(options, enable=enable)
    project = rollout.project_for(ref.project)
    change = _change(api, project, rollout, options, enable=enable)
    warning = _environment_warning(api, project, rollout, change.env)
    backend = ProjectFlagBackend(
        api, project, rollout, options.allow_decrease, options.adopt, patience=patience
    )
    held = claim is not None and not dry_run  # the PUT waits for the claim
    applied: AppliedChange = backend.apply(change, dry_run=dry_run or held)  # exit 2/3: nothing written yet

    checklist = parse_checklist(issue.description)
    ticks: list[tuple[tuple[str, ...], StepState]] = []
    messages: list[str] = [warning] if warning else []
    for ids, state in _steps(change, rollout, enable=enable):
        present = tuple(step_id for step_id in ids if checklist.find(step_id) is not None)
        if present:
            ticks.append((present, state))
        elif enable:
            messages.append(f"the issue has no {' or '.join(ids)} step: {only_the_comment(dry_run)}")
    above = _ticked_above(change, rollout, checklist)
    if above:  # a lower share in production (a rollback): the steps above it are not done any more
        ticks.append((above, "todo"))
    primary = ticks[0][0][0] if ticks else None

    values: dict[str, object] = {
        "backend": "project",
        "project": project,
        "kind": change.kind,
        "change": change.describe(),
        "envs": [change.env] if change.env else list(rollout.environments),
        "value": change.percentage if change.kind == "percentage" else change.kind in ("on", "user-list"),
    }
    if change.kind == "percentage":
        values["percentage"] = change.percentage
        values["stickiness"] = change.stickiness
    if change.user_list is not None:
        values["user_list"] = change.user_list.name
    key = intent_key(command, rollout.flag, None, values)
    values["steps"] = {step_id: state for ids, state in ticks for step_id in ids}
    if runner is not None:
        values.update(runner.values)
    marker = NoteMarker(command, rollout.flag, primary, values, key)

    def scope(other: NoteMarker) -> bool:
        if other.action not in ("enable", "disable") or other.values.get("backend") != "project":
            return False
        if other.values.get("user_list") != values.get("user_list"):
            return False
        envs = other.values.get("envs")
        return (
            change.kind == "inactive"
            or other.values.get("kind") == "inactive"
            or (isinstance(envs, list) and change.env in envs)
        )

    def posted(notes: Sequence[Note]) -> Note | None:
        newest = newest_in_scope(notes, rollout.flag, scope)
        if newest is None or newest[1].key != key or applied.plan.needed:
            return None  # a flag changed by hand since the last comment gets a comment of its own
        return newest[0]

    text = _comment(command, rollout, project, applied, held=held)
    if runner is not None:
        text += "\n\n" + runner.text
    if applied.plan.diff:
        messages.append("strategy diff:" if not dry_run else "strategy diff (dry run, not sent):")
        messages += [f"  {line}" for line in applied.plan.diff]
    elif not dry_run:
        messages.append(f"{rollout.flag} was already so in {project}: {applied.before.summary()}")
    if applied.sent:
        messages.append(f"set {rollout.flag} in {project}: {applied.after.summary()}")
    if applied.recovered:
        messages.append("GitLab's answer was lost, but the change had landed: not sent twice")
    if not ticks and not any("has no" in m for m in messages):
        messages.append(f"no checklist step of {issue.reference} goes with this command")
    details = _outcome(project, applied, warning)

    def after_claim(note: Note | None) -> Claimed:
        assert claim is not None
        ours = claim.verify(note)
        if not applied.plan.needed:
            return Claimed(note=ours)
        try:
            done = backend.apply(change, dry_run=False)
        except RolloutError as exc:
            raise claim.give_up(ours, exc) from None
        said = [f"set {rollout.flag} in {project}: {done.after.summary()}"]
        if done.recovered:
            said.append("GitLab's answer was lost, but the change had landed: not sent twice")
        return Claimed(_outcome(project, done, warning), tuple(said), ours)

    action = StepAction(
        command=command,
        marker=marker,
        text=text,
        ticks=tuple(ticks),
        scope=scope,
        posted=posted,
        details=details,
        messages=tuple(messages),
        claim=after_claim if claim is not None else None,
    )
    return comment_and_tick(api, ref, issue, notes, action, dry_run=dry_run, patience=patience)


def _outcome(project: str, applied: AppliedChange, warning: str | None) -> ProjectFlagOutcome:
    return ProjectFlagOutcome(
        "project",
        project,
        applied.change.describe(),
        applied.plan.diff,
        applied.plan.needed,
        applied.sent,
        applied.before.summary(),
        applied.after.summary(),
        applied.plan.adopted,
        (warning,) if warning else (),
    )


def _comment(
    command: str, rollout: RolloutFlag, project: str, applied: AppliedChange, *, held: bool = False
) -> str:
    verb = "Enabled" if command == "enable" else "Disabled"
    if applied.change.kind == "inactive":
        verb = "Deactivated"
    lines = [
        f"**{verb}** the project feature flag `{rollout.flag}` of `{project}`: {applied.change.describe()}."
    ]
    if applied.plan.diff:
        lines += ["", "Strategies changed through GitLab's feature flags API:", ""]
        lines += [f"- `{line}`" for line in applied.plan.diff]
    if applied.plan.adopted:
        lines += ["", "Adopted (--adopt-flag): " + "; ".join(f"`{s}`" for s in applied.plan.adopted)]
    if applied.sent:
        lines += ["", f"GitLab now reports: {applied.after.summary()}."]
    elif not applied.plan.needed:
        lines += ["", f"GitLab already reported: {applied.before.summary()}."]
    elif held:  # the ramp runner's claim: the PUT follows once this is the step's only comment
        lines += ["", "Sent right after this comment, once no other runner's comment of the step came first."]
    else:  # a dry run: the comment posted for real quotes the flag as GitLab reports it after the PUT
        lines += ["", "GitLab now reports: (the flag as GitLab reports it after the change goes here)."]
    return "\n".join(lines)


def rollout_steps(rollout: RolloutFlag) -> list[str]:
    """The step IDs the `project-flag` template gives a rollout, in order (for tests and `templates`)."""
    envs = rollout.environments
    steps = ["create-flag"]
    for env in envs[:-1]:
        steps += [f"enable-{env_slug(env)}", f"test-{env_slug(env)}"]
    steps.append("docs-updated")
    if rollout.beta_user_list:
        steps.append("enable-beta")
    steps.append("announce-eta")
    steps += [f"ramp-{p}" for p in rollout.ramp if p < 100]
    steps += ["enable-production", "announce-enabled", "remove-flag", "cleanup"]
    return steps
