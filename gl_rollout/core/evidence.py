"""What a rollout's notes show: the evidence that proves each step, and what happened when. Pure.

Evidence comes from three places, read by `collect_evidence`:
- gl-rollout's own comment markers (`gl_rollout.core.markers`): `announce-eta` and `announce-enabled` prove
  those steps, `enable` proves the step it ticked (recorded in the marker), `disable` undoes it;
- GitLab's system notes "marked the checklist item **TEXT** as completed|incomplete", in every wording
  GitLab has used (read by `system_notes.checklist_note`, the one parser of them), matched to a step by
  the step ID the note names, else by the item's text (unique only: `system_notes.match_step`);
- with a Features API reading (`gl_rollout.core.gates`), the flag's gates on that instance: fully on proves
  `enable-production` when the instance is production, `enable-staging` when it is staging; explicitly
  off undoes that step; actor gates on production prove `enable-beta`. A reading is the gates as they
  are now: it is newer than every note, whatever their timestamps say (see `_NOW`);
- or, for a project-flag rollout, the project feature flag itself (`gl_rollout.core.project_flag`,
  `ProjectFlagReading.proofs`), read the same way.

The latest piece of evidence for a step decides (`StepVerdict`), actions before checkbox changes (see
`latest_by_step`). The timeline (`build_timeline`) is the same notes told as events, so both read
them through one walk (`_note_facts`). Timestamps are read by `core.times.Timestamp`; a note whose
timestamp cannot be read keeps its place among the others by its ID (GitLab's IDs grow with time),
never at 1970, and `unreadable_times` names such timestamps so callers can say so. Nothing here talks
to GitLab.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from gl_rollout.core.checklist import Checklist, Step, parse_checklist
from gl_rollout.core.gates import FeatureReading, actor_gates, fully_on, partial_percentage
from gl_rollout.core.markers import NoteMarker, find_note_marker, marker_envs, marker_percentage
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.project_flag import ProjectFlagReading
from gl_rollout.core.rollout_marker import find_rollout_flag
from gl_rollout.core.status_block import find_block
from gl_rollout.core.system_notes import checklist_note, match_step
from gl_rollout.core.times import Timestamp

EvidenceSource = Literal["marker", "system-note", "features-api", "project-flag", "chatops"]
# What a flag reading is: the gates of an instance's Features API, or a project feature flag.
FlagReading = FeatureReading | ProjectFlagReading

_EARLIEST = datetime.min.replace(tzinfo=UTC)
# A Features API reading is the gates as they are during this sync: newer than every note it is weighed
# against. Its time comes from this machine's clock and the notes' from GitLab's, so the two are not
# compared (a note from the same second, or a server clock ahead of ours, would otherwise outrank it).
_NOW = datetime.max.replace(tzinfo=UTC)
_FLAG_IN_TITLE = re.compile(r"`([a-z0-9]+(?:_[a-z0-9]+)*)`")

T = TypeVar("T")


@dataclass(frozen=True)
class Evidence:
    """One fact about one step: it was done (`done=True`) or undone, when, by whom, and from where."""

    step: str
    done: bool
    source: EvidenceSource
    at: str  # ISO 8601 as GitLab gives it
    by: str  # username; "" for a Features API reading
    detail: str
    note_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Verdict = Literal["verified", "proven", "unverified", "contradicted", "todo", "skipped"]


@dataclass(frozen=True)
class StepVerdict:
    """A step's checkbox against its latest evidence, and what sync does about it.

    - `verified`: ticked, and the latest evidence says done;
    - `proven`: not ticked, but the latest evidence says done: sync ticks it;
    - `unverified`: ticked with no evidence at all: left alone, or set back to todo with `--strict`;
    - `contradicted`: ticked, but the latest evidence says undone: left alone, or set back with `--strict`;
    - `todo`: not ticked and nothing says otherwise; `skipped`: `[~]`, never touched.
    """

    step: Step
    verdict: Verdict
    evidence: Evidence | None

    @property
    def action(self) -> Literal["tick", "untick-if-strict", "none"]:
        if self.verdict == "proven":
            return "tick"
        if self.verdict in ("unverified", "contradicted"):
            return "untick-if-strict"
        return "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.step.id,
            "text": self.step.text,
            "state": self.step.state,
            "line": self.step.line,
            "verdict": self.verdict,
            "evidence": self.evidence.to_dict() if self.evidence else None,
        }


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened in a rollout, for `status --timeline` and the sync JSON."""

    at: str
    by: str
    # created | announce-eta | announce-enabled | enable | disable | checked | unchecked | features
    # | project-flag | create-flag
    kind: str
    step: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- time ------------------------------------------------------------------------------------


def unreadable_times(issue: Issue | None, notes: Iterable[Note]) -> list[str]:
    """The issue's timestamps (created, updated) and its notes' that cannot be read, once each."""
    values = [issue.created_at, issue.updated_at] if issue is not None else []
    values += [note.created_at for note in notes]
    return list(dict.fromkeys(value for value in values if not Timestamp.of(value).readable))


def note_moments(notes: Sequence[Note]) -> dict[int, datetime]:
    """Each note's creation instant, by note ID. A note whose timestamp cannot be read takes the instant
    of the readable note with the next lower ID (GitLab's IDs grow with time), so it keeps its place in
    the story instead of sorting as 1970; with no such note it comes first."""
    readable = sorted(
        (note.id, moment) for note in notes if (moment := Timestamp.of(note.created_at).moment) is not None
    )
    moments: dict[int, datetime] = {}
    for note in notes:
        moment = Timestamp.of(note.created_at).moment
        if moment is None:
            before = [m for note_id, m in readable if note_id < note.id]
            moment = before[-1] if before else _EARLIEST
        moments[note.id] = moment
    return moments


def _chronological(items: Iterable[tuple[datetime, int, T]]) -> list[T]:
    """The items oldest first; equal times go by rank (a note's ID: GitLab's IDs grow with time)."""
    return [item for _, _, item in sorted(items, key=lambda entry: (entry[0], entry[1]))]


# --- reading notes ---------------------------------------------------------------------------


def flag_of_issue(issue: Issue, notes: Iterable[Note] = ()) -> str | None:
    """The flag a rollout issue is about: the project flag its description names, else the one its
    status block's marker names, else the `name` in its title, else the first marker's flag."""
    rollout = find_rollout_flag(issue.description) if "gl-rollout-flag" in issue.description else None
    if rollout is not None:
        return rollout.flag
    block = find_block(issue.description)
    if block is not None and block.flag:
        return block.flag
    match = _FLAG_IN_TITLE.search(issue.title)
    if match:
        return match.group(1)
    for note in notes:
        marker = find_note_marker(note.body)
        if marker is not None and marker.flag:
            return marker.flag
    return None


def _marker_step(marker: NoteMarker) -> tuple[str | None, bool]:
    """The step a marker speaks of and whether it says done (True) or undone (False)."""
    if marker.action in ("announce-eta", "announce-enabled", "create-flag"):
        return marker.step or marker.action, True
    if marker.action == "enable":
        return marker.step, True
    if marker.action == "disable":
        return marker.step, False
    return None, True


def _recorded_steps(values: Mapping[str, Any], primary: str | None) -> list[tuple[str, str]]:
    """`values["steps"]` of an enable/disable marker without its primary step: (step, done|todo)."""
    steps = values.get("steps")
    if not isinstance(steps, Mapping):
        return []
    return [
        (str(step), str(state))
        for step, state in steps.items()
        if step != primary and state in ("done", "todo")
    ]


def _flag_matches(marker: NoteMarker, flag: str | None) -> bool:
    return flag is None or not marker.flag or marker.flag == flag


def _has_actor_targets(values: Mapping[str, Any]) -> bool:
    """Whether an enable/disable was for named actors (projects, groups, users, a feature group)."""
    targets = values.get("targets")
    if isinstance(targets, Mapping):
        return any(bool(v) for v in targets.values())
    keys = ("projects", "groups", "users", "feature_group", "namespaces", "project", "group", "user")
    return any(values.get(key) for key in keys)


def describe_marker(marker: NoteMarker) -> str:
    """One human line for a marker: what the comment announced or enabled."""
    values = marker.values
    envs = ", ".join(marker_envs(values)) or "production"
    if marker.action == "announce-eta":
        eta = values.get("eta") or values.get("when")
        return f"announced the ETA{f' {eta}' if eta else ''}"
    if marker.action == "announce-enabled":
        return f"announced the flag enabled on {envs}"
    if marker.action == "create-flag":
        verb = "adopted" if values.get("adopted") else "created"
        return f"{verb} the project feature flag in {values.get('project') or 'the project'}"
    if values.get("backend") == "project" and isinstance(values.get("change"), str):
        return f"{marker.action}d the project flag: {values['change']}"
    targets = " for selected actors" if _has_actor_targets(values) else ""
    if marker.action == "disable":
        return f"disabled on {envs}{targets}"
    pct = marker_percentage(values)
    what = "true" if pct is None or pct == 100 else ("false" if pct == 0 else f"{pct:g}%")
    return f"enabled on {envs}{targets} ({what})"


@dataclass(frozen=True)
class _NoteFact:
    """What one note says about the rollout: a checkbox change or a gl-rollout action."""

    note: Note
    kind: str  # checked | unchecked | the marker's action
    step: str | None  # None when no step of the checklist (or of the catalogue) is named
    done: bool
    source: EvidenceSource
    text: str


def _note_facts(checklist: Checklist, notes: Sequence[Note], flag: str | None) -> Iterator[_NoteFact]:
    """Checkbox system notes and the flag's gl-rollout markers, in note order; other notes are skipped."""
    for note in notes:
        if note.system:
            said = checklist_note(note.body)
            if said is None:
                continue
            step = match_step(checklist, said)
            kind = "checked" if said.completed else "unchecked"
            step_id = step.id if step else None
            yield _NoteFact(note, kind, step_id, said.completed, "system-note", f"{kind} “{said.text}”")
            continue
        marker = find_note_marker(note.body)
        if marker is None or not _flag_matches(marker, flag):
            continue
        step_id, done = _marker_step(marker)
        text = describe_marker(marker)
        yield _NoteFact(note, marker.action, step_id, done, "marker", text)
        if marker.action in ("enable", "disable"):
            # The other steps the comment set, as its marker records them: a rollback's lower share sets
            # the steps of the larger one back to todo, and that is the last word on them.
            for other, state in _recorded_steps(marker.values, step_id):
                yield _NoteFact(note, marker.action, other, state == "done", "marker", text)


def _reading_evidence(reading: FlagReading, checklist: Checklist) -> list[Evidence]:
    """What the gates prove; a flag the instance does not list proves nothing (never set, or deleted)."""
    if isinstance(reading, ProjectFlagReading):
        ids = [step.id for step in checklist.steps]
        return [
            Evidence(step, done, "project-flag", reading.observed_at, "", reading.summary)
            for step, done in reading.proofs(ids)
        ]
    feature = reading.feature
    if feature is None:
        return []
    step = "enable-production" if reading.env == "production" else "enable-staging"
    found: list[Evidence] = []
    if fully_on(feature.gates):
        found.append(Evidence(step, True, "features-api", reading.observed_at, "", reading.summary))
    elif not feature.gates:
        found.append(Evidence(step, False, "features-api", reading.observed_at, "", reading.summary))
    if reading.env == "production" and actor_gates(feature.gates):
        found.append(Evidence("enable-beta", True, "features-api", reading.observed_at, "", reading.summary))
    return found


# --- evidence and verdicts -------------------------------------------------------------------


def collect_evidence(
    checklist: Checklist,
    notes: Sequence[Note],
    *,
    flag: str | None,
    reading: FlagReading | None = None,
    extra: Sequence[Evidence] = (),
) -> list[Evidence]:
    """Every piece of evidence in the notes (and the flag reading, and `extra` evidence read elsewhere,
    such as ChatOps' log), oldest first."""
    moments = note_moments(notes)
    found = [
        (
            moments[fact.note.id],
            fact.note.id,
            Evidence(
                fact.step,
                fact.done,
                fact.source,
                fact.note.created_at,
                fact.note.author,
                fact.text,
                fact.note.id,
            ),
        )
        for fact in _note_facts(checklist, notes, flag)
        if fact.step is not None
    ]
    found += [(_moment(item.at), item.note_id or 0, item) for item in extra]
    if reading is not None:
        found += [(_NOW, 0, evidence) for evidence in _reading_evidence(reading, checklist)]
    return _chronological(found)


def _moment(at: str) -> datetime:
    """The instant of a timestamp read from elsewhere than a note (unreadable: first)."""
    return Timestamp.of(at).moment or _EARLIEST


def latest_by_step(evidence: Iterable[Evidence]) -> dict[str, Evidence]:
    """The last word on each step (evidence oldest first, as `collect_evidence` returns it).

    An action (a gl-rollout comment marker, a Features API reading) outranks a checkbox change (a
    system note): a step gl-rollout enabled stays proven until a disable comment or the gates say
    otherwise, even if a later description edit unticked it; that is how a tick lost to a concurrent
    edit comes back. Checkbox system notes decide only for steps no action speaks of.
    """
    actions: dict[str, Evidence] = {}
    checkboxes: dict[str, Evidence] = {}
    for item in evidence:
        (checkboxes if item.source == "system-note" else actions)[item.step] = item
    return {**checkboxes, **actions}


def judge_steps(checklist: Checklist, evidence: Sequence[Evidence]) -> list[StepVerdict]:
    """Each step's verdict: its checkbox against the latest evidence about it."""
    latest = latest_by_step(evidence)
    verdicts = []
    for step in checklist.steps:
        last = latest.get(step.id)
        verdict: Verdict
        if step.state == "skipped":
            verdict = "skipped"
        elif step.state == "done":
            verdict = "unverified" if last is None else ("verified" if last.done else "contradicted")
        else:
            verdict = "proven" if last is not None and last.done else "todo"
        verdicts.append(StepVerdict(step, verdict, last))
    return verdicts


def production_partial(
    notes: Sequence[Note],
    *,
    flag: str | None,
    reading: FlagReading | None = None,
    extra: Sequence[tuple[str, bool]] = (),
) -> bool:
    """Whether the flag is on for part of production: the newest production enable/disable was a
    percentage between 0 and 100 (or, with a production Features API reading or a project flag, the
    flag says so). `extra` holds changes read elsewhere (ChatOps' log): (time, whether it left the flag
    partly on)."""
    if isinstance(reading, ProjectFlagReading):
        if reading.flag is not None:
            return reading.production_partial()
    elif reading is not None and reading.env == "production":
        if reading.feature is None:
            return False
        return partial_percentage(reading.feature.gates) is not None
    changes: list[tuple[datetime, int, bool]] = [(_moment(at), 0, partly) for at, partly in extra]
    moments = note_moments(notes)
    for note in notes:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is None or marker.action not in ("enable", "disable") or not _flag_matches(marker, flag):
            continue
        envs = marker_envs(marker.values)
        if envs and "production" not in envs:
            continue
        if marker.action == "disable":
            changes.append((moments[note.id], note.id, False))
            continue
        if _has_actor_targets(marker.values):
            continue
        pct = marker_percentage(marker.values)
        changes.append((moments[note.id], note.id, pct is not None and 0 < pct < 100))
    ordered = _chronological(changes)
    return ordered[-1] if ordered else False


# --- timeline --------------------------------------------------------------------------------


def build_timeline(
    issue: Issue,
    notes: Sequence[Note],
    *,
    flag: str | None = None,
    reading: FlagReading | None = None,
    checklist: Checklist | None = None,
    extra: Sequence[TimelineEvent] = (),
) -> list[TimelineEvent]:
    """What happened in the rollout, oldest first: creation, gl-rollout's comments (announce,
    enable, disable), checklist items checked and unchecked, `extra` events read elsewhere (ChatOps'
    log), and the Features API reading if any."""
    checklist = checklist if checklist is not None else parse_checklist(issue.description)
    flag = flag if flag is not None else flag_of_issue(issue, notes)
    created = TimelineEvent(issue.created_at, issue.author, "created", None, "opened the rollout issue")
    events = [(Timestamp.of(issue.created_at).moment or _EARLIEST, -1, created)]
    moments = note_moments(notes)
    events += [
        (
            moments[fact.note.id],
            fact.note.id,
            TimelineEvent(fact.note.created_at, fact.note.author, fact.kind, fact.step, fact.text),
        )
        for fact in _note_facts(checklist, notes, flag)
    ]
    events += [(_moment(event.at), 0, event) for event in extra]
    if reading is not None:
        kind = "project-flag" if isinstance(reading, ProjectFlagReading) else "features"
        features = TimelineEvent(reading.observed_at, "", kind, None, reading.summary)
        events.append((_NOW, 0, features))
    return _chronological(events)


def timeline_lines(events: Sequence[TimelineEvent]) -> list[str]:
    """Human lines for `status --timeline`: `2026-03-04 10:00 UTC  alice  enable  enabled on ...`.

    A timestamp gl-rollout cannot read is shown as the server wrote it, never as a made-up date.
    """
    lines = []
    for event in events:
        step = f" [{event.step}]" if event.step else ""
        lines.append(f"{Timestamp.of(event.at).human()}  {event.by or '-'}  {event.kind}{step}: {event.text}")
    return lines


def last_moved(timeline: Sequence[TimelineEvent]) -> str | None:
    """When the rollout last moved: its newest step event (checked, enable, announce, ...), else creation.

    Events whose timestamp cannot be read are passed over: they say nothing about when.
    """
    for event in reversed(timeline):
        if event.kind not in ("features", "project-flag") and Timestamp.of(event.at).readable:
            return event.at
    return None
