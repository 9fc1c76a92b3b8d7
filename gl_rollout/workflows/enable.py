"""`enable` and `disable`: the ChatOps command as a comment, the steps it completes, and with `--apply`
the Features API of the target instance.

Steps ticked by `enable` (decided here; the brief names the first three):
- a global `true` (or 100%) on staging ticks `enable-staging`;
- actor targets on production tick `enable-beta`; a global `true` (or 100%) on production ticks
  `enable-production`;
- a percentage of actors on production ticks the ramp step `ramp-N` of the detailed template when the
  issue has one; otherwise a partial percentage ticks nothing.
`disable` sets the matching enable steps back to todo (a global `false` on production also takes back
`enable-beta`, since Flipper's disable clears every gate), and ticks the detailed template's
`rollback-production` / `rollback-non-production` steps when present. The comment's marker records every
step it sets (`values.steps`); it counts as already posted when, for each environment it names, it is the
newest enable/disable comment for the same targets (so one comment for staging and production also
answers a later `enable --env staging`).

With `--apply`, the flag is read first (GET /features); when the gates already say what was asked, nothing
is sent; else POST /features/:name, then GET /features again, and the comment records what GitLab reports.
A failure there stops everything before the comment and the tick (exit 3). Actor gates are stored as
`Project:<id>` and the like, which a path cannot be compared with, so for actors the POST is always sent
(it is idempotent) unless this exact applied comment is already the last word.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gl_rollout.core import chatops
from gl_rollout.core.checklist import Checklist, StepState, parse_checklist
from gl_rollout.core.markers import NoteMarker, intent_key
from gl_rollout.core.model import Feature, Issue, Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.status_block import check_block
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.option_values import check_actor_values
from gl_rollout.result import OMIT_NONE, Result
from gl_rollout.workflows.announce import issue_flag, only_the_comment
from gl_rollout.workflows.issue_edit import require_open
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.step_comments import (
    Claimed,
    CommentOutcome,
    StepAction,
    already_posted,
    comment_and_tick,
    newest_in_scope,
    read_notes,
)

NON_PRODUCTION = frozenset(chatops.NON_PRODUCTION)


@dataclass(frozen=True)
class FlagOptions:
    """The `enable`/`disable` options, before the flag name is known."""

    envs: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    feature_group: str | None = None
    percentage: int | None = None
    actors: bool = False
    time: bool = False
    prefix: str = chatops.DEFAULT_PREFIX
    flag: str | None = None
    apply: bool = False
    target_url: str | None = None


@dataclass(frozen=True)
class RunnerNote:
    """What a ramp runner adds to an enable comment: a paragraph, and values for the marker (after its
    key, so the intent, and a run again, are the same as a person's `enable`)."""

    text: str
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateValue:
    """One gate of a flag as the Features API reports it."""

    key: str
    value: Any


@dataclass(frozen=True)
class FeaturesApiOutcome:
    """What `--apply` found and did on the Features API: whether a POST was needed and sent, and the
    flag's state and gates GitLab reports."""

    url: str
    needed: bool
    sent: bool
    state: str | None
    gates: tuple[GateValue, ...]


@dataclass(frozen=True)
class FlagSetOutcome:
    """What `enable`/`disable` report of their own: the ChatOps command, its value and environments."""

    command_line: str
    value: bool | int
    envs: tuple[str, ...]
    features_api: FeaturesApiOutcome | None = field(default=None, metadata=OMIT_NONE)


# ChatOps' option for each kind of actor -> the `enable`/`disable` option that takes it.
ACTOR_OPTIONS = {"project": "--project-actor", "group": "--group-actor"}


def feature_request(flag: str, value: bool | int, options: FlagOptions) -> chatops.FeatureSet:
    """The validated `feature set` request (ChatOps' rules); UsageError otherwise."""
    chatops.check_prefix(options.prefix)
    try:
        request = chatops.feature_set(
            flag,
            value,
            envs=options.envs,
            projects=options.projects,
            groups=options.groups,
            users=options.users,
            feature_group=options.feature_group,
            actors=options.actors,
            time=options.time,
        )
    except UsageError as exc:
        raise chatops.renamed_actor_error(exc, ACTOR_OPTIONS) from None
    if options.apply and len(request.environments) > 1:
        raise UsageError(
            "--apply sets the flag on one instance, but several environments were given",
            "run the command once per environment, each with its --target-url",
        )
    return request


def validate_options(value: bool | int, options: FlagOptions) -> None:
    """Check the options before any request (the flag name may only be known from the issue)."""
    feature_request(options.flag or "placeholder_flag", value, options)


def check_flag_command(options: FlagOptions, *, enable: bool) -> None:
    """What `enable`/`disable` refuse before any request (exit 2): an actor option that names nobody,
    a value or a combination ChatOps would refuse, and actor options that all came out empty."""
    check_actor_values("--project-actor", options.projects)
    check_actor_values("--group-actor", options.groups)
    check_actor_values("--user", options.users)
    check_actor_values("--feature-group", options.feature_group)
    value = requested_value(options, enable=enable)
    request = feature_request(options.flag or "placeholder_flag", value, options)
    named = any((options.projects, options.groups, options.users, options.feature_group))
    if named and not request.actors:
        # Never a silent global change: actors were asked for and none is left.
        command = "enable" if enable else "disable"
        raise UsageError(f"the actor options of {command} name nobody", "give an actor, or drop them")


def enable_steps(request: chatops.FeatureSet) -> list[str]:
    """The step IDs an enable request completes (see the module docstring)."""
    full = request.value is True or request.value == 100
    ids: list[str] = []
    envs = request.environments
    if "staging" in envs and full and not request.actors:
        ids.append("enable-staging")
    if "production" in envs:
        if request.actors and request.value is True:
            ids.append("enable-beta")
        elif not request.actors and full:
            ids.append("enable-production")
        if request.percentage_kind == "actors" and not isinstance(request.value, bool):
            ids.append(f"ramp-{request.value}")
    return ids


def done_above(request: chatops.FeatureSet, checklist: Checklist) -> tuple[str, ...]:
    """For a production percentage of actors (no named actors): the steps of a larger share ticked done
    (`Checklist.done_above`)."""
    value = request.value
    if "production" not in request.environments or request.actors or request.percentage_kind != "actors":
        return ()
    if isinstance(value, bool) or not 0 < value < 100:
        return ()
    return checklist.done_above(value)


def disable_steps(request: chatops.FeatureSet) -> tuple[list[str], list[str]]:
    """(back to todo, ticked) for a disable request."""
    envs = set(request.environments)
    untick: list[str] = []
    tick: list[str] = []
    if "staging" in envs and not request.actors:
        untick.append("enable-staging")
    if "production" in envs:
        if request.actors:
            untick.append("enable-beta")
        else:
            untick += ["enable-production", "enable-beta"]
            tick.append("rollback-production")
    if not request.actors and envs >= NON_PRODUCTION:
        tick.append("rollback-non-production")
    return untick, tick


def describe_targets(request: chatops.FeatureSet) -> str:
    """`on staging`, `for 25% of actors on production`, `on production for project a/b`."""
    where = " and ".join(request.environments)
    parts: list[str] = []
    if request.percentage_kind is not None and not isinstance(request.value, bool):
        kind = "actors" if request.percentage_kind == "actors" else "of the time"
        parts.append(f"for {request.value}% of {kind}" if kind == "actors" else f"{request.value}% {kind}")
    parts.append(f"on {where}")
    if request.actors:
        names = "; ".join(f"{kind.replace('-', ' ')} {', '.join(values)}" for kind, values in request.actors)
        parts.append(f"for {names}")
    return " ".join(parts)


def describe_feature(feature: Feature | None, *, markdown: bool = True) -> str:
    """What the Features API reports (state and gates), for the comment or, plain, for the terminal."""
    if feature is None:
        return "the flag is not set there (off)"
    tick = "`" if markdown else ""
    gates = ", ".join(
        f"{tick}{gate.key}: {json.dumps(gate.value, sort_keys=True)}{tick}" for gate in feature.gates
    )
    state = f"**{feature.state}**" if markdown else feature.state
    return f"state {state}, gates {gates or 'none'}"


def find_feature(features: Sequence[Feature], name: str) -> Feature | None:
    return next((feature for feature in features if feature.name == name), None)


def gates_match(feature: Feature | None, request: chatops.FeatureSet) -> bool | None:
    """Whether the flag already is as asked; None when the gates cannot tell (actor IDs vs paths)."""
    gates: dict[str, Any] = {gate.key: gate.value for gate in feature.gates} if feature else {}
    full_on = request.value is True or request.value == 100
    full_off = request.value is False or request.value == 0
    if request.actors:
        kinds = [kind for kind, _ in request.actors]
        if kinds != ["feature-group"]:
            return None
        names = set(request.actors[0][1])
        present = set(gates.get("groups") or [])
        return names <= present if request.value is True else not names & present
    if full_on:
        return gates.get("boolean") is True
    if full_off:
        return not any(value for value in gates.values())
    key = "percentage_of_actors" if request.percentage_kind == "actors" else "percentage_of_time"
    return gates.get("boolean") is not True and _number(gates.get(key)) == request.value


def _boolean_on(feature: Feature | None) -> bool:
    return feature is not None and any(gate.key == "boolean" and gate.value is True for gate in feature.gates)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Applied:
    """What the Features API did and reports."""

    url: str
    needed: bool  # the gates were not (known to be) as asked
    sent: bool
    feature: Feature | None


def apply_request(
    target: GitLabAPI, request: chatops.FeatureSet, *, dry_run: bool, trust_record: bool
) -> Applied:
    """GET /features; POST /features/:name unless already so (or a dry run); then GET /features again.
    From on down to a percentage it POSTs `false` first, since the boolean gate would outrank the
    percentage.

    GitLab caches flags per process for up to a minute, so the GET after the POST may come from a
    worker that has not seen it yet: when that read contradicts the request and the POST's own answer
    does not, the POST's answer is what GitLab reports.
    """
    before = find_feature(target.list_features(), request.flag)
    match = gates_match(before, request)
    needed = not (match is True or (match is None and trust_record))
    if dry_run or not needed:
        return Applied(target.url, needed, False, before)
    if request.is_percentage and not request.actors and _boolean_on(before):
        # Flipper keeps the boolean gate when a percentage gate is set: the flag would stay on for everyone.
        # Off first (GitLab's disable clears every gate), then the percentage: a moment at 0% between.
        target.set_feature(request.flag, {"value": "false"})
    posted = target.set_feature(request.flag, request.api_params())
    after = find_feature(target.list_features(), request.flag)
    if gates_match(after, request) is False and gates_match(posted, request) is not False:
        after = posted
    return Applied(target.url, True, True, after)


def requested_value(options: FlagOptions, *, enable: bool) -> bool | int:
    """The `feature set` value: the percentage or true for enable, false for disable."""
    if not enable:
        if options.percentage is not None:
            raise UsageError(
                "disable takes no --percentage", "use enable --percentage N to lower a percentage"
            )
        return False
    return options.percentage if options.percentage is not None else True


def planned_steps(
    request: chatops.FeatureSet, checklist: Checklist, *, enable: bool, dry_run: bool = False
) -> tuple[list[tuple[tuple[str, ...], StepState]], str | None, list[str]]:
    """(ticks, the step the marker names, remarks) for an enable or a disable on this checklist.

    Every step that goes with the request is in the ticks, whatever its state now: one already so
    is reported as such (`enable-staging: already todo`) and left alone.
    """
    ticks: list[tuple[tuple[str, ...], StepState]] = []
    messages: list[str] = []
    if enable:
        wanted = enable_steps(request)
        present = tuple(step_id for step_id in wanted if checklist.find(step_id) is not None)
        if present:
            ticks.append((present, "done"))
        elif wanted:
            messages.append(f"the issue has no {' or '.join(wanted)} step: {only_the_comment(dry_run)}")
        above = done_above(request, checklist)
        if above:  # a lower share in production (a rollback): the steps above it are not done any more
            ticks.append((above, "todo"))
        return ticks, (present[0] if present else None), messages
    untick, tick = disable_steps(request)
    present = tuple(step_id for step_id in untick if checklist.find(step_id) is not None)
    if present:
        ticks.append((present, "todo"))
    rollback = tuple(step_id for step_id in tick if checklist.find(step_id) is not None)
    if rollback:
        ticks.append((rollback, "done"))
    return ticks, (present[0] if present else None), messages


_INTENT_FIELDS = ("value", "percentage", "percentage_kind", "targets")


def last_word_per_env(
    notes: Sequence[Note],
    flag: str,
    command: str,
    intent: Mapping[str, Any],
    scope: Callable[[NoteMarker], bool],
    still_valid: Callable[[NoteMarker, Note], bool],
) -> Note | None:
    """The comment that already says what this enable/disable would, for every environment it names.

    Per environment, the newest enable/disable comment for the same targets that names it must be this
    command with the same value; then the newest of those comments is returned. So `enable --env
    staging` after `enable --env staging --env production` posts nothing, while enable, disable, enable
    again posts three comments.
    """
    wanted = json.dumps({k: intent.get(k) for k in _INTENT_FIELDS}, sort_keys=True)
    found: list[Note] = []
    for env in intent["envs"]:

        def names_env(marker: NoteMarker, env: str = env) -> bool:
            envs = marker.values.get("envs")
            return scope(marker) and isinstance(envs, list) and env in envs

        newest = newest_in_scope(notes, flag, names_env)
        if newest is None:
            return None
        note, marker = newest
        said = json.dumps({k: marker.values.get(k) for k in _INTENT_FIELDS}, sort_keys=True)
        if marker.action != command or said != wanted or not still_valid(marker, note):
            return None
        found.append(note)
    return max(found, key=lambda note: note.id) if found else None


def set_flag(
    api: GitLabAPI,
    ref: IssueRef,
    options: FlagOptions,
    *,
    enable: bool,
    admin_api: Callable[[], GitLabAPI] | None = None,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
    issue: Issue | None = None,
    runner: RunnerNote | None = None,
    claim: Callable[[Note | None], Claimed] | None = None,
) -> Result[CommentOutcome]:
    """`enable` (value true or the percentage) or `disable` (false) as described in the module docstring.

    `issue` is the issue when the caller has read it already (`gl_rollout.workflows.flag_command`);
    `runner` is what the ramp runner adds to the comment and its marker (`gl_rollout.workflows.advance`),
    `claim` what checks, once it is posted, that its comment is the step's only one (`step_claim`)."""
    command = "enable" if enable else "disable"
    value = requested_value(options, enable=enable)
    validate_options(value, options)
    if options.apply and admin_api is None:
        raise UsageError("--apply needs the Features API of a target instance", "pass --target-url URL")
    if issue is None:
        issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    check_block(issue.description)
    notes = read_notes(api, ref)
    flag = issue_flag(issue, notes, options.flag)
    request = feature_request(flag, value, options)
    command_line = request.command(options.prefix)

    ticks, primary, messages = planned_steps(
        request, parse_checklist(issue.description), enable=enable, dry_run=dry_run
    )
    if not ticks and not messages:
        messages.append(f"no checklist step of {issue.reference} goes with this command")

    intent: dict[str, Any] = {"value": request.value, "envs": list(request.environments)}
    if request.percentage_kind is not None:
        intent["percentage"] = request.value
        intent["percentage_kind"] = request.percentage_kind
    if request.actors:
        intent["targets"] = {kind: list(names) for kind, names in request.actors}
    key = intent_key(command, flag, None, intent)
    scope_targets = intent.get("targets")

    def scope(marker: NoteMarker) -> bool:
        return marker.action in ("enable", "disable") and marker.values.get("targets") == scope_targets

    def still_valid(marker: NoteMarker, _note: Note) -> bool:
        return not options.apply or bool(marker.values.get("applied_to"))

    def posted(notes: Sequence[Note]) -> Note | None:
        return last_word_per_env(notes, flag, command, intent, scope, still_valid)

    values = dict(intent)
    # Every step the comment sets, so the record says what the checklist shows (marker `step` is the first).
    values["steps"] = {step_id: state for ids, state in ticks for step_id in ids}
    verb = "Enabled" if enable else "Disabled"
    text = f"**{verb}** `{flag}` {describe_targets(request)}: `{command_line}`"
    if runner is not None:
        values.update(runner.values)
    features_api: FeaturesApiOutcome | None = None
    probe = StepAction(command, NoteMarker(command, flag, primary, values, key), text, scope=scope,
                       still_valid=still_valid, posted=posted)  # fmt: skip
    if options.apply and admin_api is not None:
        applied = apply_request(
            admin_api(), request, dry_run=dry_run, trust_record=already_posted(notes, probe) is not None
        )
        values["applied_to"] = applied.url
        reported = describe_feature(applied.feature)
        plain = describe_feature(applied.feature, markdown=False)
        if applied.sent:
            text += f"\n\nSet through the Features API of {applied.url}; GitLab now reports {reported}."
            messages.append(f"set {flag} through the Features API of {applied.url}: {plain}")
        elif applied.needed:  # a dry run
            messages.append(f"dry run: would set {flag} through the Features API of {applied.url}")
            messages.append(f"it reports now: {plain}")
            text += (
                f"\n\nSet through the Features API of {applied.url}; this comment will quote what it reports."
            )
        else:
            text += f"\n\nThe Features API of {applied.url} already reports {reported}."
            messages.append(f"{flag} was already so on {applied.url}: {plain}")
        feature = applied.feature
        features_api = FeaturesApiOutcome(
            applied.url,
            applied.needed,
            applied.sent,
            feature.state if feature else None,
            tuple(GateValue(g.key, g.value) for g in feature.gates) if feature else (),
        )
    details = FlagSetOutcome(command_line, request.value, tuple(request.environments), features_api)
    if runner is not None:
        text += "\n\n" + runner.text
    action = StepAction(
        command=command,
        marker=NoteMarker(command, flag, primary, values, key),
        text=text,
        ticks=tuple(ticks),
        scope=scope,
        still_valid=still_valid,
        posted=posted,
        details=details,
        messages=tuple(messages),
        claim=claim,
    )
    return comment_and_tick(api, ref, issue, notes, action, dry_run=dry_run, patience=patience)
