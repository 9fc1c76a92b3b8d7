"""A comment that records an action, and the checklist steps the action completes (or undoes).

Shared by `announce`, `enable` and `disable`. Requests: the caller's GET of the issue, one GET of its
notes (idempotency and the conflict baseline), then at most a POST of the comment, a PUT of the
description and a GET of the newest notes to verify: 5 in all, or 6 when the issue changed while it was
read (`gl_rollout.workflows.issue_edit.read_for_edit` reads it again), and 3 more per repair of a tick
the write undid (`gl_rollout.workflows.issue_edit.write_description`). Running the same command twice
finds its own comment by the marker key and the steps already set, and writes nothing.

Idempotency is by "the newest word in the same scope": a note of ours with the same key counts only if
no later note of ours in that scope said something else (so enable, disable, enable again posts three
comments, while enable twice posts one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gl_rollout.core.checklist import StepState, parse_checklist, progress_line
from gl_rollout.core.markers import NoteMarker, find_note_marker
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.times import Timestamp
from gl_rollout.errors import ConflictError, RolloutError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import FLATTEN, OMIT_NONE, Result
from gl_rollout.workflows.issue_edit import (
    Conflict,
    conflict_of,
    plan_step_edit,
    read_for_edit,
    write_description,
)
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience, post_note_once
from gl_rollout.workflows.summary import EditPreview, IssueSummary, issue_url, written_but

Scope = Callable[[NoteMarker], bool]


@dataclass(frozen=True)
class Claimed:
    """What a claim hook did once the comment was found to be the only one: the command's details as
    they are now (None: unchanged), lines to report, and the comment found to be this run's own."""

    details: object = None
    messages: tuple[str, ...] = ()
    note: Note | None = None


@dataclass(frozen=True)
class StepAction:
    """One comment to post (once) and the step states it brings about."""

    command: str
    marker: NoteMarker  # `key` filled in
    text: str  # the comment without its marker
    ticks: tuple[tuple[tuple[str, ...], StepState], ...] = ()
    scope: Scope = field(default=lambda marker: True)
    # Whether the newest same-scope note (same key) still stands: a relative ETA that has passed does not.
    still_valid: Callable[[NoteMarker, Note], bool] = field(default=lambda marker, note: True)
    # The note that already says it, when "the newest word in scope, same key" is not the rule.
    posted: Callable[[Sequence[Note]], Note | None] | None = None
    details: object = None  # what the command itself reports (a dataclass), between the flag and the edit
    messages: tuple[str, ...] = ()
    # Run right after this run posts the comment and before any tick: a ramp step's claim-then-verify
    # (`gl_rollout.workflows.step_claim`). It raises to stop, or says what it did once the claim held.
    claim: Callable[[Note | None], Claimed] | None = None

    @property
    def body(self) -> str:
        return f"{self.text.rstrip()}\n\n{self.marker.to_comment()}\n"


def read_notes(api: GitLabAPI, ref: IssueRef) -> list[Note]:
    """Every note of the issue, newest first (one request per 100)."""
    return api.list_notes(ref.project, ref.iid, sort="desc", per_page=100)


def newest_in_scope(notes: Sequence[Note], flag: str, scope: Scope) -> tuple[Note, NoteMarker] | None:
    """Our newest comment about `flag` that `scope` accepts."""
    ordered = sorted(notes, key=_newest_first_key, reverse=True)
    for note in ordered:
        if note.system:
            continue
        marker = find_note_marker(note.body)
        if marker is not None and marker.flag == flag and scope(marker):
            return note, marker
    return None


def _newest_first_key(note: Note) -> tuple[float, int]:
    moment = Timestamp.of(note.created_at).moment
    return (moment.timestamp() if moment else 0.0, note.id)


def already_posted(notes: Sequence[Note], action: StepAction) -> Note | None:
    """The note that already says what `action` would say, if it is still the last word in its scope."""
    if action.posted is not None:
        return action.posted(notes)
    newest = newest_in_scope(notes, action.marker.flag, action.scope)
    if newest is None:
        return None
    note, marker = newest
    if marker.key != action.marker.key or not action.still_valid(marker, note):
        return None
    return note


def existing_steps(issue: Issue, ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """(present, absent): which step IDs the issue's checklist has."""
    checklist = parse_checklist(issue.description)
    present = [step_id for step_id in ids if checklist.find(step_id) is not None]
    return present, [step_id for step_id in ids if step_id not in present]


@dataclass(frozen=True)
class StepChange:
    """A step whose box the command set: its ID, its new state, its line."""

    id: str
    state: StepState
    line: int


@dataclass(frozen=True)
class CommentOutcome:
    """What a comment command (announce, enable, disable) did: the issue, the flag, the command's own
    details, the edit (`--dry-run`'s diff and the comment), whether the comment was posted and the
    description written, and where the comment is."""

    issue: IssueSummary = field(metadata=FLATTEN)
    flag: str
    details: object = field(metadata=FLATTEN)
    preview: EditPreview = field(metadata=FLATTEN)
    steps_changed: tuple[StepChange, ...] = ()
    posted: bool = False
    written: bool = False
    restored: tuple[str, ...] = ()
    note_url: str | None = None
    nothing_to_do: bool = False
    progress: str | None = field(default=None, metadata=OMIT_NONE)
    conflict: Conflict | None = field(default=None, metadata=OMIT_NONE)


def comment_and_tick(
    api: GitLabAPI,
    ref: IssueRef,
    issue: Issue,
    notes: list[Note],
    action: StepAction,
    *,
    dry_run: bool,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[CommentOutcome]:
    """Post the action's comment unless already there, then set its steps; nothing twice."""
    messages = list(action.messages)
    # Someone may have edited the description between our two reads: then start from their text.
    issue, floor = read_for_edit(api, ref.project, issue, notes)
    ticks, skipped = _leave_skipped(issue, action.ticks)
    messages += [f"{step_id} is skipped ([~]) in the issue: left as it is" for step_id in skipped]
    edit = plan_step_edit(issue, ticks)
    messages += _already(issue, ticks)
    posted_before = already_posted(notes, action)
    address = issue_url(api, issue, ref.project)
    outcome = CommentOutcome(
        issue=IssueSummary.of(issue),
        flag=action.marker.flag,
        details=action.details,
        preview=EditPreview.of(edit, dry_run=dry_run, comments=[] if posted_before else [action.body]),
        steps_changed=tuple(StepChange(s.id, s.state, s.line) for s in edit.changed),
        note_url=_note_url(address, posted_before) if posted_before else None,
    )
    if (
        posted_before is not None
        and action.claim is not None
        and not dry_run
        and not _same_run(posted_before, action)
    ):
        # A ramp step's comment another runner posted after this run's last read: the claim is lost.
        action.claim(None)  # raises ConflictError: another runner took the step
    if posted_before is not None:
        messages.append(f"the comment is already there: {outcome.note_url}")
    if posted_before is not None and not edit.needed:
        messages.append("nothing to do")
        return Result(action.command, replace(outcome, nothing_to_do=True), messages=messages)
    if dry_run:
        would = [] if posted_before is not None else ["would post the comment shown below"]
        would += edit.change_lines()
        if edit.needed:
            would.append(progress_line(parse_checklist(edit.new_text)))
        would.append("dry run: nothing written")
        return Result(action.command, outcome, messages=[*messages, *would])

    if posted_before is None:
        run = action.marker.values.get("run") if action.claim is not None else None
        landed = post_note_once(
            api, ref.project, ref.iid, action.body, action.marker.key, patience=patience,
            run=run if isinstance(run, str) else None,
        )  # fmt: skip
        note: Note | None = landed.value
        outcome = replace(
            outcome, posted=True, note_url=_note_url(address, note) if note is not None else None
        )
        messages.append(f"posted the comment: {outcome.note_url or address}")
        if landed.recovered:
            messages.append("GitLab's answer was lost, but the comment had landed: not posted twice")
        if action.claim is not None:
            claimed = action.claim(note)  # raises when another runner's comment came first: no tick
            if claimed.details is not None:
                outcome = replace(outcome, details=claimed.details)
            if claimed.note is not None:
                outcome = replace(outcome, note_url=_note_url(address, claimed.note))
            messages += claimed.messages
    if edit.needed:
        try:
            written = write_description(api, ref.project, edit, floor=floor, sleep=patience.sleep)
        except ConflictError as exc:
            conflicted = replace(outcome, written=True, conflict=conflict_of(exc))
            return Result.failure(action.command, exc, conflicted)
        except RolloutError as exc:
            if not outcome.posted:
                raise
            what = f"posted the comment ({outcome.note_url or address})"
            return Result.failure(action.command, written_but(what, exc), outcome)
        progress = progress_line(parse_checklist(written.issue.description))
        outcome = replace(outcome, written=True, restored=tuple(written.restored), progress=progress)
        messages += edit.change_lines()
        messages += written.warnings
        messages.append(progress)
    return Result(action.command, outcome, messages=messages)


def _same_run(note: Note, action: StepAction) -> bool:
    """Whether `note` carries this run's token (a ramp step's claim, `gl_rollout.workflows.step_claim`)."""
    marker = find_note_marker(note.body)
    return marker is not None and marker.values.get("run") == action.marker.values.get("run")


def _leave_skipped(
    issue: Issue, ticks: Sequence[tuple[tuple[str, ...], StepState]]
) -> tuple[list[tuple[list[str], StepState]], list[str]]:
    """The ticks without steps marked inapplicable (`[~]`): people said they do not apply here."""
    checklist = parse_checklist(issue.description)
    kept: list[tuple[list[str], StepState]] = []
    skipped: list[str] = []
    for ids, state in ticks:
        chosen = []
        for step_id in ids:
            step = checklist.find(step_id)
            if step is not None and step.state == "skipped" and state != "skipped":
                skipped.append(step_id)
            else:
                chosen.append(step_id)
        kept.append((chosen, state))
    return kept, skipped


def _already(issue: Issue, ticks: Sequence[tuple[Sequence[str], StepState]]) -> list[str]:
    """`ID: already STATE` for each step the action sets that already reads so."""
    checklist = parse_checklist(issue.description)
    lines: list[str] = []
    for ids, state in ticks:
        for step_id in ids:
            step = checklist.find(step_id)
            if step is not None and step.state == state:
                lines.append(f"{step_id}: already {state}")
    return lines


def _note_url(issue_address: str, note: Note | None) -> str | None:
    if note is None:
        return None
    return f"{issue_address}#note_{note.id}"
