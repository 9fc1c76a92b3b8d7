"""Use case `sync REF`: make one issue's checklist and `rollout::` stage label tell what the evidence shows.

The notes are read (one request per 100 notes), the evidence judged (`gl_rollout.core.evidence`), steps
proven done are ticked through the shared read-edit-write-verify core (`gl_rollout.workflows.issue_edit`, as
`check` does), and the stage label is set with `add_labels`/`remove_labels` only. An issue whose
checklist and label are already right costs no write. Ticked steps without evidence are reported as
`unverified` and left alone; with `strict`, they (and ticked steps the latest evidence contradicts)
are set back to todo. `gl_rollout.workflows.sync_many` runs `sync_issue` over every rollout issue of a scope.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gl_rollout.core.chatops_commands import LOG_PROJECT
from gl_rollout.core.checklist import Checklist, parse_checklist
from gl_rollout.core.evidence import (
    FlagReading,
    StepVerdict,
    build_timeline,
    collect_evidence,
    flag_of_issue,
    judge_steps,
    production_partial,
    unreadable_times,
)
from gl_rollout.core.gates import FeatureReading, FeaturesEnv, gates_fingerprint
from gl_rollout.core.model import Feature, Issue, Note
from gl_rollout.core.project_flag import ProjectFlagReading
from gl_rollout.core.rollout_marker import find_rollout_flag
from gl_rollout.core.scope import is_rollout, project_of
from gl_rollout.core.stage import label_changes, rollout_stage, stage_from_labels
from gl_rollout.core.status_block import check_block
from gl_rollout.core.system_notes import newest_id
from gl_rollout.core.times import utc_iso
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import FLATTEN, Result
from gl_rollout.workflows.chatops_record import ChatopsRecord, read_chatops_record
from gl_rollout.workflows.flag_backend import project_flag_reading
from gl_rollout.workflows.issue_edit import plan_step_edit, read_for_edit, require_open, write_description

IssueStatus = Literal[
    "updated", "would-update", "unchanged", "unchanged-since-last-sync", "not-a-rollout", "failed"
]
# The statuses as people read them (the JSON keeps the identifiers above).
STATUS_WORDS: dict[str, str] = {
    "updated": "updated",
    "would-update": "would update",
    "unchanged": "unchanged",
    "unchanged-since-last-sync": "unchanged since last sync",
    "not-a-rollout": "not a rollout issue",
    "failed": "failed",
}


@dataclass(frozen=True)
class FeaturesSnapshot:
    """All flags of one instance's Features API, read once per sync (one request)."""

    env: FeaturesEnv
    url: str
    observed_at: str
    by_name: Mapping[str, Feature]

    def reading(self, flag: str | None) -> FeatureReading | None:
        if flag is None:
            return None
        return FeatureReading(self.env, self.by_name.get(flag), self.observed_at, self.url)

    def to_dict(self) -> dict[str, Any]:
        """Where the gates were read and as which environment, for the JSON envelope."""
        return {"url": self.url, "env": self.env, "observed_at": self.observed_at, "flags": len(self.by_name)}


def read_features(admin_api: GitLabAPI, env: FeaturesEnv, url: str) -> FeaturesSnapshot:
    """One `GET /features` on the instance the flag's gates are read from."""
    features = admin_api.list_features()
    return FeaturesSnapshot(env, url, utc_iso(), {feature.name: feature for feature in features})


@dataclass(frozen=True)
class SyncOptions:
    """How to sync: write or only say what would change, untick unproven steps, read the gates."""

    dry_run: bool = False
    strict: bool = False
    features: FeaturesSnapshot | None = None
    detail: bool = True  # keep each issue's step verdicts and timeline (one issue); many keep a summary
    chatops_log_project: str | None = LOG_PROJECT  # where ChatOps logs flag changes; None: not read


def issue_fingerprint(issue: Issue) -> str:
    """A digest of what sync reads from an issue (description, labels, state), from a list row alone.

    A server with whole-second timestamps can show the same `updated_at` before and after an edit
    made in that second; the description and labels still tell."""
    text = json.dumps([issue.description, sorted(issue.labels), issue.state], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class IssueOutcome:
    """What sync found and did for one issue; one entry of the JSON envelope."""

    reference: str
    web_url: str
    title: str
    status: IssueStatus
    flag: str | None = None
    stage: str | None = None
    previous_stage: str | None = None
    done: int = 0
    total: int = 0
    ticked: tuple[str, ...] = ()
    unticked: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    contradicted: tuple[str, ...] = ()
    labels_added: tuple[str, ...] = ()
    labels_removed: tuple[str, ...] = ()
    updated_at: str = ""
    fingerprint: str = ""  # `issue_fingerprint` of the issue after our writes, for the state file
    features: str | None = None  # gates fingerprint, for the state file
    diff: str | None = None
    warnings: tuple[str, ...] = ()
    steps: tuple[StepVerdict, ...] = ()
    timeline: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    exit_code: int = 0
    detail: bool = True  # the JSON keeps `steps` and `timeline` (one issue); many keep a summary
    debug: tuple[str, ...] = ()  # what --debug shows (ChatOps records not read); not in the JSON

    @classmethod
    def of(cls, issue: Issue, status: IssueStatus) -> IssueOutcome:
        """The outcome for `issue` as listed: its identity, its `updated_at` and its stage label now."""
        return cls(
            reference=issue.reference,
            web_url=issue.web_url,
            title=issue.title,
            status=status,
            previous_stage=stage_from_labels(issue.labels),
            updated_at=issue.updated_at,
            fingerprint=issue_fingerprint(issue),
        )

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": self.reference,
            "web_url": self.web_url,
            "title": self.title,
            "status": self.status,
            "flag": self.flag,
            "stage": self.stage,
            "previous_stage": self.previous_stage,
            "done": self.done,
            "total": self.total,
            "ticked": list(self.ticked),
            "unticked": list(self.unticked),
            "unverified": list(self.unverified),
            "contradicted": list(self.contradicted),
            "labels_added": list(self.labels_added),
            "labels_removed": list(self.labels_removed),
            "error": self.error,
            "exit_code": self.exit_code,
        }
        if self.diff is not None:
            data["diff"] = self.diff
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.detail:
            data["steps"] = [verdict.to_dict() for verdict in self.steps]
            data["timeline"] = list(self.timeline)
        return data


@dataclass(frozen=True)
class _Judgement:
    """The flag, its Features API reading, and each step's verdict; the steps to tick and untick follow."""

    flag: str | None
    reading: FlagReading | None
    verdicts: tuple[StepVerdict, ...]
    strict: bool

    @property
    def tick(self) -> list[str]:
        return [v.step.id for v in self.verdicts if v.action == "tick"]

    @property
    def untick(self) -> list[str]:
        return [v.step.id for v in self.verdicts if v.action == "untick-if-strict"] if self.strict else []

    def ids(self, verdict: str) -> tuple[str, ...]:
        """The IDs of the steps with this verdict."""
        return tuple(v.step.id for v in self.verdicts if v.verdict == verdict)


def _judge(
    issue: Issue,
    checklist: Checklist,
    notes: list[Note],
    options: SyncOptions,
    record: ChatopsRecord,
    project_flag: ProjectFlagReading | None = None,
) -> _Judgement:
    flag = flag_of_issue(issue, notes)
    reading: FlagReading | None = project_flag
    if reading is None and options.features:
        reading = options.features.reading(flag)
    evidence = collect_evidence(checklist, notes, flag=flag, reading=reading, extra=record.evidence())
    return _Judgement(flag, reading, tuple(judge_steps(checklist, evidence)), options.strict)


def sync_issue(api: GitLabAPI, issue: Issue, options: SyncOptions) -> IssueOutcome:
    """Judge one issue's evidence and make its checklist and stage label say so (or, dry, say what)."""
    base = IssueOutcome.of(issue, "not-a-rollout")
    project = project_of(issue)
    check_block(issue.description)  # a damaged status block: exit 2, nothing written
    checklist = parse_checklist(issue.description)
    if not is_rollout(checklist):
        return base

    notes = api.list_notes(project, issue.iid)
    # A project-flag rollout's flag is read as evidence (one GET), as the gates are for instance flags.
    rollout = find_rollout_flag(issue.description)
    project_flag = project_flag_reading(api, project, rollout) if rollout is not None else None
    record = read_chatops_record(api, issue, notes, flag_of_issue(issue, notes), options.chatops_log_project)
    judged = _judge(issue, checklist, notes, options, record, project_flag)
    floor = newest_id(notes)
    if judged.tick or judged.untick:
        # A description edit may have landed after the issue was read: then it is read again.
        fresh, floor = read_for_edit(api, project, issue, notes)
        if fresh.description != issue.description:
            check_block(fresh.description)
            checklist = parse_checklist(fresh.description)
            judged = _judge(fresh, checklist, notes, options, record, project_flag)
        issue = fresh

    tick, untick = judged.tick, judged.untick
    current, new_checklist = issue, checklist
    diff: str | None = None
    warnings = _time_warnings(issue, notes) + record.warnings
    if tick or untick:
        current, new_text, diff, written_warnings = write_step_states(
            api, project, issue, floor, tick=tick, untick=untick, dry_run=options.dry_run
        )
        new_checklist = parse_checklist(new_text)
        warnings += written_warnings

    partial = production_partial(
        notes, flag=judged.flag, reading=judged.reading, extra=record.production_changes()
    )
    stage = rollout_stage(new_checklist, closed=issue.state == "closed", partial=partial)
    add, remove = label_changes(current.labels, stage)
    if (add or remove) and not options.dry_run:
        current = api.update_issue(project, issue.iid, label_fields(add, remove))

    status: IssueStatus = "unchanged"
    if tick or untick or add or remove:
        status = "would-update" if options.dry_run else "updated"
    timeline: tuple[dict[str, Any], ...] = ()
    if options.detail:
        events = build_timeline(
            issue,
            notes,
            flag=judged.flag,
            reading=judged.reading,
            checklist=checklist,
            extra=record.timeline(),
        )
        timeline = tuple(event.to_dict() for event in events)
    return replace(
        base,
        status=status,
        flag=judged.flag,
        stage=stage,
        done=new_checklist.done,
        total=new_checklist.total,
        ticked=tuple(tick),
        unticked=tuple(untick),
        unverified=judged.ids("unverified"),
        contradicted=judged.ids("contradicted"),
        labels_added=tuple(add),
        labels_removed=tuple(remove),
        updated_at=current.updated_at,
        fingerprint=issue_fingerprint(current),
        features=_fingerprint(judged.reading),
        diff=diff,
        warnings=warnings,
        steps=judged.verdicts if options.detail else (),
        timeline=timeline,
        debug=record.debug,
    )


def _fingerprint(reading: FlagReading | None) -> str | None:
    """The flag as it was read, for the state file: the gates, or the project flag's state."""
    if reading is None:
        return None
    if isinstance(reading, ProjectFlagReading):
        return "project:" + reading.state.summary()
    return gates_fingerprint(reading.feature)


def _time_warnings(issue: Issue, notes: list[Note]) -> tuple[str, ...]:
    """Say so when timestamps could not be read: the evidence was then ordered by note ID instead."""
    odd = unreadable_times(issue, notes)
    if not odd:
        return ()
    return (
        f"{len(odd)} timestamp{'' if len(odd) == 1 else 's'} of {issue.reference} could not be read "
        f"(such as {odd[0]!r}): those notes were taken in the order of their IDs",
    )


def label_fields(add: list[str], remove: list[str]) -> dict[str, str]:
    """The PUT body for a stage change: only `add_labels`/`remove_labels`, so no other label is rewritten."""
    fields = {}
    if add:
        fields["add_labels"] = ",".join(add)
    if remove:
        fields["remove_labels"] = ",".join(remove)
    return fields


def write_step_states(
    api: GitLabAPI,
    project: str,
    issue: Issue,
    floor: int,
    *,
    tick: list[str],
    untick: list[str],
    dry_run: bool,
) -> tuple[Issue, str, str | None, tuple[str, ...]]:
    """Tick and untick steps by ID with the shared edit core, as `check` does: one PUT of the
    description and one read of the newest notes to catch an edit that raced ours (a tick it undid is
    set again; a text edit it replaced is a ConflictError).

    `floor` is the newest note ID known to be older than `issue` (`read_for_edit`).
    Returns the issue as GitLab now has it, the new text, the diff (dry run only) and warnings.
    """
    edit = plan_step_edit(issue, [(tick, "done"), (untick, "todo")])
    if not edit.needed:
        return issue, issue.description, None, ()
    if dry_run:
        return issue, edit.new_text, edit.diff(), ()
    written = write_description(api, project, edit, floor=floor)
    return written.issue, written.issue.description, None, written.warnings


@dataclass(frozen=True)
class SyncOneOutcome:
    """`sync REF`: the issue's outcome in detail, and how the sync ran."""

    issue: IssueOutcome = field(metadata=FLATTEN)
    dry_run: bool = False
    strict: bool = False
    features: FeaturesSnapshot | None = None


def sync_one(api: GitLabAPI, project: str, iid: int, options: SyncOptions) -> Result[SyncOneOutcome]:
    """`gl-rollout sync REF`: one read of the issue, its notes, and the writes the evidence calls for."""
    issue = api.get_issue(project, iid)
    require_open(issue)  # as check, announce, enable do; the many-issue sync lists open issues only
    outcome = sync_issue(api, issue, options)
    if outcome.status == "not-a-rollout":
        raise UsageError(
            f"{issue.reference} has no rollout checklist",
            f"sync works on issues with rollout steps: `gl-rollout adopt {issue.reference}` gives it a "
            "status block (see also `gl-rollout render`)",
        )
    result = Result("sync", SyncOneOutcome(outcome, options.dry_run, options.strict, options.features))
    result.debug = list(outcome.debug)
    return result
