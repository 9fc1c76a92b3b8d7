"""What GitLab's system notes say about description edits: who edited, and was it before or after a read.

Pure: notes and issues in, verdicts out; `gl_rollout.issue_edit` does the reading and writing. GitLab
writes a system note for every description edit ("changed the description", or "marked the checklist
item **X** as completed|incomplete" when only boxes changed), created just *after* it saves the issue
and without touching `updated_at`.

Telling the edit we read from an edit after it:
- with a *baseline* (the notes read right after the issue, as announce, enable and sync do anyway), a
  note missing from the baseline was created after our read: exact. Before writing, the baseline itself
  is judged (below); if it shows or may show a later edit, the issue is read once more and edited fresh;
- without one (`check`, whose budget is 3 requests), the edit we read is recognised by its own notes:
  none when the issue was never edited or `updated_at` is a comment's touch, else the system notes within
  `SAME_EDIT_WINDOW` after `updated_at` by one author, minus checklist notes that contradict the boxes
  read. A second edit by that same author inside those seconds, racing our write, goes unseen.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gl_rollout.api import Issue, Note
from gl_rollout.checklist import Step, parse_checklist
from gl_rollout.gitlab_json import parse_time, time_resolution
from gl_rollout.steps import STEP_MARKER

# GitLab creates its system note right after saving the issue; this bounds how far after.
SAME_EDIT_WINDOW = dt.timedelta(seconds=2)

COMMENT_TOUCH = dt.timedelta(milliseconds=250)  # a comment touches `updated_at` right after it is saved

# GitLab's wording: "changed the description" (perhaps followed by more), and per checkbox "marked the
# checklist item **X** as completed" ("task" before 15.x), matched without regard to case.
_DESCRIPTION_NOTE = re.compile(r"^(?:changed the description|marked the (?:checklist item|task) )", re.I)
_CHECKLIST_NOTE = re.compile(
    r"^marked the (?:checklist item|task) \*\*(?P<text>.+)\*\* as (?P<status>completed|incomplete)\.?\s*$",
    re.DOTALL | re.IGNORECASE,
)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_BARE_STEP_MARKER = re.compile(r"(?<![\w-])step:([a-z0-9][a-z0-9._-]*)\s*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def is_description_note(note: Note) -> bool:
    return note.system and bool(_DESCRIPTION_NOTE.match(note.body.strip()))


@dataclass(frozen=True)
class ChecklistNote:
    """What a "marked the checklist item **X** as completed|incomplete" system note says."""

    text: str  # the item's text: unescaped, without its step marker or HTML comments, whitespace collapsed
    completed: bool
    step_id: str | None  # from the item's `<!-- step:ID -->`, or the `step:ID` text newer GitLab keeps of it


def checklist_note(body: str) -> ChecklistNote | None:
    """Read a checklist system note in any of GitLab's forms, None for any other note.

    GitLab before 15.x says "task"; before 17.x the item's markdown source is quoted as written; newer
    versions escape its markdown (`step\\-id`) and keep only the text of HTML comments (`step:ID`).
    """
    match = _CHECKLIST_NOTE.match(body.strip())
    if match is None:
        return None
    text = _unescape(match.group("text"))
    step_id: str | None = None
    marker = STEP_MARKER.search(text)
    if marker is not None:
        step_id = marker.group(1)
    else:
        bare = _BARE_STEP_MARKER.search(_HTML_COMMENT.sub(" ", text))
        if bare is not None:
            step_id = bare.group(1)
            text = text[: bare.start()] + text[bare.end() :]
    shown = " ".join(_HTML_COMMENT.sub(" ", text).split())
    return ChecklistNote(shown, match.group("status").lower() == "completed", step_id)


def _unescape(text: str) -> str:
    return _MARKDOWN_ESCAPE.sub(r"\1", text)


def compare_times(a: str, b: str) -> int | None:
    """-1, 0 or 1 as instant `a` is before, not known apart from, or after `b`; None if one is unreadable.

    Instants are compared at the coarser of the two timestamps' resolutions: a server that writes
    whole seconds cannot say which of two events in the same second came first, so they tie.
    """
    first, second = parse_time(a), parse_time(b)
    if first is None or second is None:
        return None
    step = max(time_resolution(a), time_resolution(b))
    x, y = (first - _EPOCH) // step, (second - _EPOCH) // step
    return (x > y) - (x < y)


def _maybe_after(note: Note, moment: str) -> bool:
    """The note may have been created after `moment` (after it, or in the same tick)."""
    order = compare_times(note.created_at, moment)
    return order is not None and order >= 0


def _surely_after(note: Note, moment: str) -> bool:
    order = compare_times(note.created_at, moment)
    return order is not None and order > 0


@dataclass(frozen=True)
class SinceRead:
    """Description edits seen in notes created after our read: surely others', or perhaps the read one's."""

    others: tuple[Note, ...] = ()
    uncertain: tuple[Note, ...] = ()  # "changed the description" taken as the read edit's own note


def judge_since_read(notes: Sequence[Note], read: Issue) -> SinceRead:
    """Which description notes created after `read.updated_at` are edits that are not in `read`.

    GitLab writes an edit's system notes just after saving it, so the edit we read may have notes a
    little after `updated_at`. They are: checklist notes whose item reads that way in `read`; else none
    when the issue was never edited, or when `updated_at` is a comment's touch; else the system notes
    within `SAME_EDIT_WINDOW`, by the first one's author. A note in the same tick as `updated_at`
    (whole-second timestamps) may be either, and is judged the same way.
    """
    if parse_time(read.updated_at) is None:
        return SinceRead()
    candidates = sorted(
        (n for n in notes if is_description_note(n) and _maybe_after(n, read.updated_at)), key=_order
    )
    if not candidates:
        return SinceRead()
    own = _notes_of_read_edit(notes, read)
    others = tuple(n for n in candidates if n.id not in own)
    uncertain = tuple(n for n in candidates if n.id in own and checklist_note(n.body) is None)
    if len(uncertain) == 1 and _only_note_after_read_edit(notes, read, uncertain[0]):
        uncertain = ()
    return SinceRead(others, uncertain)


def _only_note_after_read_edit(notes: Sequence[Note], read: Issue, note: Note) -> bool:
    """`note` is the only system note in the seconds after `read.updated_at`: then it is the read
    edit's own note, for certain.

    The edit we read writes its system notes right after it saves, and so before we read the notes. A
    later edit by the same person would add a second note, and an edit that writes no system note at
    all is one GitLab does not make to the description: so a lone note cannot be a later edit.
    """
    since = parse_time(read.updated_at)
    if since is None:
        return False
    window = [
        n
        for n in notes
        if n.system
        and _maybe_after(n, read.updated_at)
        and (created := parse_time(n.created_at)) is not None
        and created - since <= SAME_EDIT_WINDOW
    ]
    return [n.id for n in window] == [note.id]


def edits_since_read(notes: Sequence[Note], read: Issue) -> list[Note]:
    """Description edits by anyone that landed after `read` was taken (see `judge_since_read`)."""
    return list(judge_since_read(notes, read).others)


def _order(note: Note) -> tuple[dt.datetime, int]:
    return (parse_time(note.created_at) or _EPOCH, note.id)


def _notes_of_read_edit(notes: Sequence[Note], read: Issue) -> set[int]:
    """The system notes GitLab wrote for the edit whose `updated_at` we read (see `judge_since_read`)."""
    since = parse_time(read.updated_at)
    if since is None:
        return set()
    never_edited = compare_times(read.updated_at, read.created_at) == 0
    steps = parse_checklist(read.description).steps
    # `updated_at` right after a comment is that comment's touch: then no edit of ours to explain.
    touch = COMMENT_TOUCH + time_resolution(read.updated_at)
    touched_by_comment = any(
        not n.system
        and (created := parse_time(n.created_at)) is not None
        and since - touch <= created
        and not _surely_after(n, read.updated_at)
        for n in notes
    )
    window = sorted(
        (
            n
            for n in notes
            if n.system
            and _maybe_after(n, read.updated_at)
            and (created := parse_time(n.created_at)) is not None
            and created - since <= SAME_EDIT_WINDOW
        ),
        key=_order,
    )
    run = _first_author_run(window, since)
    time_rule = not never_edited and not touched_by_comment
    candidates = sorted(
        (n for n in notes if is_description_note(n) and _maybe_after(n, read.updated_at)), key=_order
    )
    verdicts = {n.id: _checklist_verdict(n, steps) for n in candidates}
    own: set[int] = set()
    for index, note in enumerate(candidates):
        verdict = verdicts[note.id]
        if verdict is True or (verdict is None and time_rule and note.id in run):
            own.add(note.id)
        elif verdict is False and not _surely_after(note, read.updated_at):
            # In the same tick as our read (whole-second timestamps), a flip that a later note of that
            # tick flipped back to what we read was before our read, not after it.
            item = _item_key(note)
            if any(
                _item_key(later) == item
                and verdicts[later.id] is True
                and not _surely_after(later, read.updated_at)
                for later in candidates[index + 1 :]
            ):
                own.add(note.id)
    return own


def _item_key(note: Note) -> tuple[str | None, str] | None:
    said = checklist_note(note.body)
    return (said.step_id, said.text.casefold() if said.step_id is None else "") if said is not None else None


def _checklist_verdict(note: Note, steps: Sequence[Step]) -> bool | None:
    """For "marked the checklist item X as completed|incomplete": does X read that way in `steps`?

    True: the boxes we read agree, so the edit is in our read (a later one would have flipped X from the
    state we read). False: they disagree, so it came after. None: not such a note, or X not found.
    """
    said = checklist_note(note.body)
    if said is None:
        return None
    if said.step_id is not None:
        found = [step for step in steps if step.id == said.step_id]
    else:
        found = [step for step in steps if _plain(_unescape(step.text)) == said.text.casefold()]
    if not found:
        return None
    return any((step.state == "done") == said.completed for step in found)


def _plain(text: str) -> str:
    return " ".join(_HTML_COMMENT.sub(" ", text).split()).casefold()


def interference(
    notes: Sequence[Note],
    read: Issue,
    written: Issue,
    baseline: Sequence[Note] | None,
    whoami: Callable[[], str | None] | None = None,
) -> tuple[list[Note], list[Note]]:
    """(overwritten, later): others' description edits inside our window, and any right after our write.

    Even an edit that ticked the very box we ticked counts as overwritten: GitLab writes only the
    checklist note when boxes changed, so other text that edit changed would not show. An edit whose
    note that may be before our write is placed by note ID against our own write's notes (GitLab
    orders notes by time, then ID, and IDs only grow); `whoami` (our username) is asked only when our
    write's own checklist notes do not tell.
    """
    until = written.updated_at
    if baseline is not None:
        # The baseline was read after the issue: a note missing from it was created after our read.
        known = {n.id for n in baseline}
        inside = sorted(
            (
                n
                for n in notes
                if is_description_note(n)
                and n.id not in known
                and (parse_time(read.updated_at) is None or _maybe_after(n, read.updated_at))
            ),
            key=_order,
        )
    else:
        inside = edits_since_read(notes, read)
    if parse_time(until) is None:
        return inside, []
    if all(_surely_after(n, until) for n in inside):
        after = sorted((n for n in notes if n.system and _surely_after(n, until)), key=_order)
        ours = _first_author_run(after, parse_time(until) or _EPOCH)
        return [], [n for n in inside if n.id not in ours]

    def me() -> str | None:
        found = _our_author(notes, read, written)
        return found if found is not None or whoami is None else whoami()

    return _place_by_id(notes, read, inside, baseline, me)


def _place_by_id(
    notes: Sequence[Note],
    read: Issue,
    inside: Sequence[Note],
    baseline: Sequence[Note] | None,
    whoami: Callable[[], str | None],
) -> tuple[list[Note], list[Note]]:
    """(overwritten, later) by note ID, which GitLab only ever increases: whole-second timestamps tie.

    Our write's notes are the last run of our own description notes. Another person's note with a
    lower ID came before our write, and was overwritten unless one of our earlier notes (from before
    our read: an earlier gl-rollout run whose edit is in the text we read) comes after it too; a
    higher ID came after. Our own earlier notes are never reported: their edit is in the text. Who we
    are (`whoami`) is asked only when two people's notes are there.
    """
    known = {n.id for n in baseline} if baseline is not None else set()
    inside_ids = {n.id for n in inside}
    seq = sorted(
        {
            n.id: n
            for n in [
                *inside,
                *(
                    n
                    for n in notes
                    if is_description_note(n)
                    and n.id not in known
                    and (parse_time(read.updated_at) is None or _maybe_after(n, read.updated_at))
                ),
            ]
        }.values(),
        key=lambda n: n.id,
    )
    if len({n.author for n in seq}) <= 1:
        # One person's notes alone: ours, or theirs when our write matched their text and left none.
        return [], []
    me = whoami()
    if me is None:
        # Without knowing who we are, the author of the newest note is taken as us.
        me = seq[-1].author
    mine = [index for index, n in enumerate(seq) if n.author == me]
    if not mine:
        return [n for n in seq if n.id in inside_ids], []
    end = mine[-1]
    start = end
    while start > 0 and seq[start - 1].author == me:
        start -= 1
    prior = [n.id for n in seq[:start] if n.author == me]
    bound = max(prior, default=None)
    overwritten = [
        n for n in seq[:start] if n.author != me and n.id in inside_ids and (bound is None or n.id > bound)
    ]
    later = [n for n in seq[end + 1 :] if n.author != me and n.id in inside_ids]
    return overwritten, later


def _our_author(notes: Sequence[Note], read: Issue, written: Issue) -> str | None:
    """Who we are, from our own write's checklist notes: the newest note that says a box we changed
    now reads as we wrote it. None when our write left no such note."""
    before = {s.line: s for s in parse_checklist(read.description).steps}
    changed = [
        s
        for s in parse_checklist(written.description).steps
        if s.line in before and before[s.line].state != s.state and before[s.line].id == s.id
    ]
    if not changed:
        return None
    for note in sorted(notes, key=lambda n: n.id, reverse=True):
        said = checklist_note(note.body) if note.system else None
        if said is None:
            continue
        for step in changed:
            named = (
                said.step_id == step.id
                if said.step_id is not None
                else _plain(_unescape(step.text)) == said.text.casefold()
            )
            if named and said.completed == (step.state == "done"):
                return note.author
    return None


def _first_author_run(ordered: Sequence[Note], since: dt.datetime) -> set[int]:
    if not ordered:
        return set()
    author = ordered[0].author
    run: set[int] = set()
    for note in ordered:
        created = parse_time(note.created_at)
        if note.author != author or created is None or created - since > SAME_EDIT_WINDOW:
            break
        run.add(note.id)
    return run
