"""What proves a rollout step was done, which stage a rollout is in, and what happened when. Pure.

Evidence comes from three places, read by `collect_evidence`:
- gl-rollout's own comment markers (`gl_rollout.markers`): `announce-eta` and `announce-enabled` prove
  those steps, `enable` proves the step it ticked (recorded in the marker), `disable` undoes it;
- GitLab's system notes "marked the checklist item **TEXT** as completed|incomplete", matched to a step
  by its `<!-- step:ID -->` marker, else by its exact text;
- with a Features API reading, the flag's gates on that instance: fully on (a boolean gate, or a
  100% percentage gate) proves `enable-production` when the instance is production, `enable-staging`
  when it is staging; explicitly off (the flag is listed with no gate) undoes that step; actor gates on
  production prove `enable-beta`. A flag the instance does not list proves nothing either way: it may
  never have been set, or it was deleted at cleanup.

The latest piece of evidence for a step decides (`StepVerdict`), actions before checkbox changes (see
`latest_by_step`). Nothing here talks to GitLab.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from gl_rollout.api import Feature, Gate, Issue, Note
from gl_rollout.checklist import Checklist, Step, parse_checklist
from gl_rollout.markers import STEP_MARKER, NoteMarker, find_note_marker

EvidenceSource = Literal["marker", "system-note", "features-api"]
FeaturesEnv = Literal["production", "staging"]
FEATURES_ENVS: tuple[FeaturesEnv, ...] = ("production", "staging")

# The one scoped label per rollout, in the order a rollout moves through them.
STAGES: tuple[str, ...] = (
    "planned",
    "staging",
    "beta",
    "production-partial",
    "production",
    "cleanup",
    "done",
)
STAGE_LABEL_PREFIX = "rollout::"

# GitLab's wording since 15.x ("checklist item") and before it ("task").
_SYSTEM_CHECKLIST_NOTE = re.compile(
    r"^marked the (?:checklist item|task) \*\*(?P<text>.+)\*\* as (?P<status>completed|incomplete)\s*$",
    re.DOTALL,
)
_FLAG_IN_TITLE = re.compile(r"`([a-z0-9]+(?:_[a-z0-9]+)*)`")


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
        return {
            "step": self.step,
            "done": self.done,
            "source": self.source,
            "at": self.at,
            "by": self.by,
            "detail": self.detail,
            "note_id": self.note_id,
        }


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
            "verdict": self.verdict,
            "evidence": self.evidence.to_dict() if self.evidence else None,
        }


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened in a rollout, for `status --timeline` and the sync JSON."""

    at: str
    by: str
    kind: str  # created | announce-eta | announce-enabled | enable | disable | checked | unchecked | features
    step: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "kind": self.kind, "step": self.step, "text": self.text}


@dataclass(frozen=True)
class FeatureReading:
    """The flag's gates as one instance's Features API showed them, and when.

    `feature` is None when the instance does not list the flag at all.
    """

    env: FeaturesEnv
    feature: Feature | None
    observed_at: str
    url: str = ""


# --- reading notes ---------------------------------------------------------------------------


def flag_of_issue(issue: Issue, notes: Iterable[Note] = ()) -> str | None:
    """The flag a rollout issue is about: the `name` in its title, else the first marker's flag."""
    match = _FLAG_IN_TITLE.search(issue.title)
    if match:
        return match.group(1)
    for note in notes:
        marker = find_note_marker(note.body)
        if marker is not None and marker.flag:
            return marker.flag
    return None


def checklist_note(body: str) -> tuple[str, bool] | None:
    """The item text and new state (True = completed) of a "marked the checklist item" system note."""
    match = _SYSTEM_CHECKLIST_NOTE.match(body.strip())
    if not match:
        return None
    return match.group("text"), match.group("status") == "completed"


def _normalise(text: str) -> str:
    return " ".join(STEP_MARKER.sub("", text).split()).casefold()


def match_step(checklist: Checklist, item_text: str) -> Step | None:
    """The step a checklist-item text names: by its step marker, else by equal text (unique only)."""
    marker = STEP_MARKER.search(item_text)
    if marker:
        return checklist.find(marker.group(1))
    wanted = _normalise(item_text)
    found = [step for step in checklist.steps if _normalise(step.text) == wanted]
    return found[0] if len(found) == 1 else None


def _marker_steps(marker: NoteMarker) -> tuple[str | None, bool]:
    """The step a marker speaks of and whether it says done (True) or undone (False)."""
    if marker.action in ("announce-eta", "announce-enabled"):
        return marker.step or marker.action, True
    if marker.action == "enable":
        return marker.step, True
    if marker.action == "disable":
        return marker.step, False
    return None, True


def _marker_envs(values: Mapping[str, Any]) -> tuple[str, ...]:
    raw = values.get("envs", values.get("env"))
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list | tuple):
        return tuple(str(e) for e in raw)
    return ()


def _marker_percentage(values: Mapping[str, Any]) -> float | None:
    for key in ("percentage", "value"):
        raw = values.get(key)
        if isinstance(raw, bool):
            return 100.0 if raw else 0.0
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            if raw.lower() in ("true", "false"):
                return 100.0 if raw.lower() == "true" else 0.0
            try:
                return float(raw)
            except ValueError:
                continue
    return None


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
    envs = ", ".join(_marker_envs(values)) or "production"
    if marker.action == "announce-eta":
        eta = values.get("eta") or values.get("when")
        return f"announced the ETA{f' {eta}' if eta else ''}"
    if marker.action == "announce-enabled":
        return f"announced the flag enabled on {envs}"
    pct = _marker_percentage(values)
    what = "true" if pct is None or pct == 100 else ("false" if pct == 0 else f"{pct:g}%")
    targets = " for selected actors" if _has_actor_targets(values) else ""
    verb = "enabled" if marker.action == "enable" else "disabled"
    if marker.action == "disable":
        return f"disabled on {envs}{targets}"
    return f"{verb} on {envs}{targets} ({what})"


# --- gates -----------------------------------------------------------------------------------


def _percent(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def fully_on(gates: Sequence[Gate]) -> bool:
    """A boolean gate set, or a 100% percentage gate: everyone has the flag."""
    for gate in gates:
        if gate.key == "boolean" and gate.value is True:
            return True
        if gate.key in ("percentage_of_time", "percentage_of_actors") and _percent(gate.value) == 100.0:
            return True
    return False


def partial_percentage(gates: Sequence[Gate]) -> float | None:
    """The percentage of a gate between 0 and 100 exclusive, when the flag is not fully on."""
    if fully_on(gates):
        return None
    for gate in gates:
        if gate.key in ("percentage_of_time", "percentage_of_actors"):
            pct = _percent(gate.value)
            if pct is not None and 0 < pct < 100:
                return pct
    return None


def actor_gates(gates: Sequence[Gate]) -> bool:
    return any(gate.key in ("actors", "groups") and gate.value for gate in gates)


def describe_gates(feature: Feature | None) -> str:
    if feature is None:
        return "not set on this instance"
    if not feature.gates:
        return "off (no gates)"
    parts = []
    for gate in feature.gates:
        if gate.key == "boolean":
            parts.append("on for everyone" if gate.value is True else "boolean off")
        elif gate.key in ("percentage_of_time", "percentage_of_actors"):
            parts.append(f"{gate.value}% of {gate.key.removeprefix('percentage_of_')}")
        elif isinstance(gate.value, list | tuple | set):
            parts.append(f"{gate.key}: {len(gate.value)}")
        else:
            parts.append(f"{gate.key}: {gate.value}")
    return ", ".join(parts)


def gates_fingerprint(feature: Feature | None) -> str:
    """A stable text of a flag's gates, so a sync state file can tell when they changed."""
    if feature is None:
        return "absent"
    parts = []
    for gate in sorted(feature.gates, key=lambda g: g.key):
        value = (
            sorted(str(v) for v in gate.value) if isinstance(gate.value, list | tuple | set) else gate.value
        )
        parts.append(f"{gate.key}={value}")
    return ";".join(parts) or "off"


def _reading_evidence(reading: FeatureReading) -> list[Evidence]:
    feature = reading.feature
    if feature is None:
        return []
    step = "enable-production" if reading.env == "production" else "enable-staging"
    detail = f"Features API on {reading.env}: {describe_gates(feature)}"
    found: list[Evidence] = []
    if fully_on(feature.gates):
        found.append(Evidence(step, True, "features-api", reading.observed_at, "", detail))
    elif not feature.gates:
        found.append(Evidence(step, False, "features-api", reading.observed_at, "", detail))
    if reading.env == "production" and actor_gates(feature.gates):
        found.append(Evidence("enable-beta", True, "features-api", reading.observed_at, "", detail))
    return found


# --- evidence and verdicts -------------------------------------------------------------------


def parse_time(value: str) -> datetime:
    """GitLab's ISO 8601 timestamps (with `Z` or an offset) as aware datetimes; unparseable → epoch."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _flag_matches(marker: NoteMarker, flag: str | None) -> bool:
    return flag is None or not marker.flag or marker.flag == flag


def collect_evidence(
    checklist: Checklist,
    notes: Sequence[Note],
    *,
    flag: str | None,
    reading: FeatureReading | None = None,
) -> list[Evidence]:
    """Every piece of evidence in the notes (and the Features API reading), oldest first."""
    found: list[tuple[datetime, int, Evidence]] = []
    for order, note in enumerate(notes):
        if note.system:
            parsed = checklist_note(note.body)
            if parsed is None:
                continue
            text, completed = parsed
            step = match_step(checklist, text)
            if step is None:
                continue
            detail = f"{'checked' if completed else 'unchecked'} “{_plain(text)}”"
            found.append(
                (
                    parse_time(note.created_at),
                    order,
                    Evidence(
                        step.id, completed, "system-note", note.created_at, note.author, detail, note.id
                    ),
                )
            )
            continue
        marker = find_note_marker(note.body)
        if marker is None or not _flag_matches(marker, flag):
            continue
        step_id, done = _marker_steps(marker)
        if step_id is None:
            continue
        found.append(
            (
                parse_time(note.created_at),
                order,
                Evidence(
                    step_id, done, "marker", note.created_at, note.author, describe_marker(marker), note.id
                ),
            )
        )
    if reading is not None:
        for evidence in _reading_evidence(reading):
            found.append((parse_time(reading.observed_at), len(notes), evidence))
    found.sort(key=lambda item: (item[0], item[1]))
    return [evidence for _, _, evidence in found]


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


# --- stage -----------------------------------------------------------------------------------


def production_partial(
    notes: Sequence[Note], *, flag: str | None, reading: FeatureReading | None = None
) -> bool:
    """Whether the flag is on for part of production: the newest production enable/disable was a
    percentage between 0 and 100 (or, with a production Features API reading, its gates say so)."""
    if reading is not None and reading.env == "production":
        if reading.feature is None:
            return False
        return partial_percentage(reading.feature.gates) is not None
    partial = False
    ordered = sorted(enumerate(notes), key=lambda item: (parse_time(item[1].created_at), item[0]))
    for _, note in ordered:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is None or marker.action not in ("enable", "disable") or not _flag_matches(marker, flag):
            continue
        envs = _marker_envs(marker.values)
        if envs and "production" not in envs:
            continue
        if marker.action == "disable":
            partial = False
            continue
        if _has_actor_targets(marker.values):
            continue
        pct = _marker_percentage(marker.values)
        partial = pct is not None and 0 < pct < 100
    return partial


def rollout_stage(checklist: Checklist, *, closed: bool = False, partial: bool = False) -> str:
    """The stage a checklist shows (one of `STAGES`): the furthest milestone step that is done.

    done: the issue is closed, `cleanup` is done, or every step is done or skipped; cleanup:
    `remove-flag` done; production: `enable-production` done; production-partial: on for a
    percentage of production (`partial`); beta: `enable-beta` done; staging: `enable-staging` or
    `test-staging` done; planned: none of these.
    """

    def done(step_id: str) -> bool:
        step = checklist.find(step_id)
        return step is not None and step.state == "done"

    if closed or done("cleanup") or (checklist.total > 0 and checklist.done == checklist.total):
        return "done"
    if done("remove-flag"):
        return "cleanup"
    if done("enable-production"):
        return "production"
    if partial:
        return "production-partial"
    if done("enable-beta"):
        return "beta"
    if done("enable-staging") or done("test-staging"):
        return "staging"
    return "planned"


def stage_label(stage: str) -> str:
    return STAGE_LABEL_PREFIX + stage


def stage_from_labels(labels: Iterable[str]) -> str | None:
    """The stage a `rollout::` label names, when exactly one known stage label is present."""
    stages = [label[len(STAGE_LABEL_PREFIX) :] for label in labels if label.startswith(STAGE_LABEL_PREFIX)]
    known = [stage for stage in stages if stage in STAGES]
    return known[0] if len(known) == 1 else None


def label_changes(labels: Iterable[str], stage: str) -> tuple[list[str], list[str]]:
    """`(add_labels, remove_labels)` that make `rollout::<stage>` the only rollout label; empty when right."""
    wanted = stage_label(stage)
    current = list(labels)
    remove = [label for label in current if label.startswith(STAGE_LABEL_PREFIX) and label != wanted]
    add = [] if wanted in current else [wanted]
    return add, remove


# --- timeline --------------------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(STEP_MARKER.sub("", text).split())


def build_timeline(
    issue: Issue,
    notes: Sequence[Note],
    *,
    flag: str | None = None,
    reading: FeatureReading | None = None,
    checklist: Checklist | None = None,
) -> list[TimelineEvent]:
    """What happened in the rollout, oldest first: creation, gl-rollout's comments (announce,
    enable, disable), checklist items checked and unchecked, and the Features API reading if any."""
    checklist = checklist if checklist is not None else parse_checklist(issue.description)
    flag = flag if flag is not None else flag_of_issue(issue, notes)
    events: list[tuple[datetime, int, TimelineEvent]] = [
        (
            parse_time(issue.created_at),
            -1,
            TimelineEvent(issue.created_at, issue.author, "created", None, "opened the rollout issue"),
        )
    ]
    for order, note in enumerate(notes):
        if note.system:
            parsed = checklist_note(note.body)
            if parsed is None:
                continue
            text, completed = parsed
            step = match_step(checklist, text)
            kind = "checked" if completed else "unchecked"
            events.append(
                (
                    parse_time(note.created_at),
                    order,
                    TimelineEvent(
                        note.created_at,
                        note.author,
                        kind,
                        step.id if step else None,
                        f"{kind} “{_plain(text)}”",
                    ),
                )
            )
            continue
        marker = find_note_marker(note.body)
        if marker is None or not _flag_matches(marker, flag):
            continue
        step_id, _ = _marker_steps(marker)
        events.append(
            (
                parse_time(note.created_at),
                order,
                TimelineEvent(note.created_at, note.author, marker.action, step_id, describe_marker(marker)),
            )
        )
    if reading is not None:
        events.append(
            (
                parse_time(reading.observed_at),
                len(notes),
                TimelineEvent(
                    reading.observed_at,
                    "",
                    "features",
                    None,
                    f"Features API on {reading.env}: {describe_gates(reading.feature)}",
                ),
            )
        )
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in events]


def timeline_lines(events: Sequence[TimelineEvent]) -> list[str]:
    """Human lines for `status --timeline`: `2026-03-04 10:00 UTC  alice  enable  enabled on ...`."""
    lines = []
    for event in events:
        moment = parse_time(event.at).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        step = f" [{event.step}]" if event.step else ""
        lines.append(f"{moment}  {event.by or '-'}  {event.kind}{step}: {event.text}")
    return lines


def last_moved(timeline: Sequence[TimelineEvent]) -> str | None:
    """When the rollout last moved: its newest step event (checked, enable, announce, ...), else creation."""
    for event in reversed(timeline):
        if event.kind != "features":
            return event.at
    return None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
