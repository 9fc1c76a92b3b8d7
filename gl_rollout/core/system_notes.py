"""What GitLab's system notes say about description edits, and what they prove about ours.

Pure: notes and texts in, verdicts out; `gl_rollout.workflows.issue_edit` does the reading and writing.
Nothing here asks who wrote a note: one token may be shared by many processes and a person, so a conflict is
judged by what changed, never by who changed it.

GitLab writes its notes for a description edit right after saving it, from the difference between the
text just before that save and the text saved: one "marked the checklist item **X** as
completed|incomplete" per box that flipped, or, when no box flipped, one "changed the description".
Note IDs only grow. So, with a *floor* (the newest note ID seen before the description was read):

- every description note above the floor is an edit made after the text we read was saved, or our own;
- when our write undid another edit's tick, our own notes say so: the box is marked back to the state
  we read, after the other edit marked it away;
- a "changed the description" that may precede our write is an edit we overwrote and cannot rebuild.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gl_rollout.core.checklist import Checklist, Step, StepState, parse_checklist
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.steps import STEP_MARKER
from gl_rollout.core.times import Timestamp

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
# Two marks of one box this close are a write and the undoing (or redoing) of it by a writer that had
# read the issue before: about the longest a gl-rollout read-to-write takes, far shorter than people.
SETTLE = dt.timedelta(seconds=10)
# A server that adds "changed the description" to a checklist edit's notes writes it in the same request.
COMPANION_DELAY = dt.timedelta(milliseconds=100)


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
    text = _MARKDOWN_ESCAPE.sub(r"\1", match.group("text"))
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


def item_text(text: str) -> str:
    """A checklist item's text as GitLab's notes quote it once read: no step marker or HTML comment,
    Markdown escapes undone, whitespace collapsed, case folded."""
    text = _MARKDOWN_ESCAPE.sub(r"\1", _HTML_COMMENT.sub(" ", STEP_MARKER.sub(" ", text)))
    return " ".join(text.split()).casefold()


def match_step(checklist: Checklist, said: ChecklistNote) -> Step | None:
    """The step a checklist system note is about: by the step ID it names, else by the item's text
    (only when exactly one step reads that way)."""
    if said.step_id is not None:
        step = checklist.find(said.step_id)
        if step is not None:
            return step
    wanted = item_text(said.text)
    found = [step for step in checklist.steps if item_text(step.text) == wanted]
    return found[0] if len(found) == 1 else None


def compare_times(a: str, b: str) -> int | None:
    """-1, 0 or 1 as instant `a` is before, not known apart from, or after `b`; None if one is unreadable.

    Instants are compared at the coarser of the two timestamps' resolutions: a server that writes
    whole seconds cannot say which of two events in the same second came first, so they tie.
    """
    return Timestamp.of(a).order(Timestamp.of(b))


def _before(note: Note, moment: str) -> bool:
    """The note was surely created before `moment` (an unreadable time proves nothing)."""
    return compare_times(note.created_at, moment) == -1


def _after(note: Note, moment: str) -> bool:
    return compare_times(note.created_at, moment) == 1


def newest_id(notes: Sequence[Note]) -> int:
    """The floor of an edit's window: the newest note ID of a list read before the description."""
    return max((note.id for note in notes), default=0)


# --- before writing: do the notes read after the issue show a later edit? ----------------------------


def edit_after_read(notes: Sequence[Note], read: Issue) -> bool:
    """Whether `notes`, read right after `read`, show (or may show) a description edit made after it.

    The edit that set `read.updated_at` wrote its notes at or just after that moment, before any later
    edit did. So the description notes not surely older than `updated_at` must be that edit's: either
    checklist notes that each name a different box and agree with the boxes read, or one "changed the
    description" that is the first note since. Anything else (a second text note, a box read otherwise,
    a comment or another change noted first, an issue never edited) is, or may be, a later edit: then
    the caller reads the issue again.
    """
    since = read.updated_at
    recent = sorted((n for n in notes if not _before(n, since)), key=lambda n: n.id)
    described = [n for n in recent if is_description_note(n)]
    if not described:
        return False
    said = [checklist_note(n.body) for n in described]
    if any(s is None for s in said):
        # One text note is the edit we read only if that edit is the one at `updated_at`: not the
        # issue's creation (never edited, or unknown) nor a comment or other change noted first.
        never_edited = not Timestamp.of(since).readable or compare_times(since, read.created_at) == 0
        return len(described) > 1 or never_edited or recent[0].id != described[0].id
    # Checklist notes agreeing with the boxes read, one per box, cannot be a later edit: it would have
    # marked a box away from the state read (or needed an earlier note that did).
    checklist = parse_checklist(read.description)
    named: set[str] = set()
    for item in said:
        assert item is not None
        step = match_step(checklist, item)
        if step is None or step.id in named or (step.state == "done") != item.completed:
            return True
        named.add(step.id)
    return False


# --- after writing: what happened inside our window ------------------------------------------------------


@dataclass(frozen=True)
class Reverted:
    """A box another edit set after our read, which our write set back: its state is to be restored."""

    step_id: str
    state: StepState  # what the other edit made it
    note: Note  # that edit's note


@dataclass(frozen=True)
class Window:
    """The description edits above the floor, judged against our write."""

    overwritten: tuple[Note, ...] = ()  # edits our write replaced and that cannot be rebuilt
    reverted: tuple[Reverted, ...] = ()  # ticks our write undid, to be restored
    later: tuple[Note, ...] = ()  # text edits made right after our write (not lost)


@dataclass(frozen=True)
class OurWrite:
    """What we wrote and when GitLab saved it."""

    read_text: str  # the description our edit was planned on
    wrote_text: str  # what we sent
    targets: Collection[str]  # IDs of the steps our edit changed
    saved_at: str  # `updated_at` of our PUT's answer

    @property
    def text_change(self) -> bool:
        """GitLab notes this write as "changed the description": it turns a box into `[~]` or back, which
        GitLab does not count as a box, so the boxes after it no longer line up and none is said flipped;
        or it adds or removes lines (`adopt` inserting a status block), which moves the boxes too."""
        if self.read_text.count("\n") != self.wrote_text.count("\n"):
            return True
        before = {s.line: s.state for s in parse_checklist(self.read_text).steps}
        after = {s.line: s.state for s in parse_checklist(self.wrote_text).steps}
        return any(
            "skipped" in (before.get(line), state)
            for line, state in after.items()
            if state != before.get(line)
        )


def judge_window(notes: Sequence[Note], floor: int, ours: OurWrite) -> Window:
    """Which description edits above `floor` our write overwrote, undid (boxes) or was followed by.

    Our own notes are told by what they say and by time, never by author: those that may have come after
    our save (not surely before `saved_at`) and mark a box as we wrote it; the newest of them on a step we
    changed is the *anchor*, and a note with a higher ID came after our save. A box we did not change
    was undone by our write when another edit marked it away from the state we read and the last note
    about it, one that may be ours, marks it back; it is then to be set to what the first of its quick
    marks said (`_burst_start`): a mark that only undid another was a stale write its writer repairs.
    A lone note above the floor is our own write's (every write leaves one, unless another edit had
    already made the same change).
    """
    window = sorted((n for n in notes if n.id > floor and is_description_note(n)), key=lambda n: n.id)
    if len(window) <= 1:
        return Window()
    checklist = parse_checklist(ours.read_text)
    wrote = {s.id: s.state for s in parse_checklist(ours.wrote_text).steps}
    saved = ours.saved_at
    flips: dict[str, list[tuple[Note, bool]]] = {}
    unknown: dict[str, list[Note]] = {}
    texts: list[Note] = []
    history: dict[str, list[tuple[Note, bool]]] = {}  # every checklist note read, the floor's too
    for note in sorted(notes, key=lambda n: n.id):
        said = checklist_note(note.body) if note.system else None
        step = match_step(checklist, said) if said is not None else None
        if said is not None and step is not None:
            history.setdefault(step.id, []).append((note, said.completed))
    for note in window:
        said = checklist_note(note.body)
        if said is None:
            texts.append(note)
            continue
        step = match_step(checklist, said)
        if step is None:
            unknown.setdefault(said.step_id or item_text(said.text), []).append(note)
        else:
            flips.setdefault(step.id, []).append((note, said.completed))
    mine = {
        note.id
        for step_id, seq in flips.items()
        for note, done in seq
        if not _before(note, saved) and done == (wrote.get(step_id) == "done")
    }
    silent = ours.text_change
    own_text = _own_text_note(texts, saved) if silent else None
    anchor = None
    if own_text is not None:
        anchor = own_text.id
    elif not silent:
        anchor = max((n.id for t in ours.targets for n, _ in flips.get(t, ()) if n.id in mine), default=None)

    overwritten: list[Note] = []
    later: list[Note] = []
    for note in texts:
        if own_text is not None and note.id == own_text.id:
            continue
        if _before(note, saved):
            overwritten.append(note)
        elif (anchor is not None and note.id > anchor) or (_after(note, saved) and (mine or own_text)):
            if not _follows(note, mine, notes):
                later.append(note)
        else:
            overwritten.append(note)

    reverted: list[Reverted] = []
    for step_id, seq in flips.items():
        if step_id in ours.targets:
            continue
        step = checklist.find(step_id)
        read_done = step is not None and step.state == "done"
        away = [n for n, done in seq if done != read_done]
        if not away:
            continue
        last, last_done = seq[-1]
        undone = last_done == read_done and not _before(last, saved)
        # A write GitLab notes as text says nothing of the boxes it set back: the fresh read will tell.
        unnoted = silent and last_done != read_done and not _after(last, saved)
        if not (undone or unnoted):
            continue
        meant = _burst_start(history[step_id], away[-1])
        if meant is not None and meant[1] != read_done:
            reverted.append(Reverted(step_id, "done" if meant[1] else "todo", meant[0]))
    for seq_notes in unknown.values():
        # A box gl-rollout cannot find in the text, marked back perhaps by our write (or, after a write
        # noted as text, marked before it): it cannot be rebuilt.
        last = seq_notes[-1]
        if len(seq_notes) > 1 and not _before(last, saved):
            overwritten.extend(seq_notes[:-1])
        elif silent and not _after(last, saved):
            overwritten.extend(seq_notes)
    return Window(tuple(overwritten), tuple(reverted), tuple(later))


def _burst_start(history: Sequence[tuple[Note, bool]], away: Note) -> tuple[Note, bool] | None:
    """The first mark of the burst of quick marks of one box that ends with `away`: the one meant.

    Marks a box gets within `SETTLE` of the one before are taken as undoing or redoing it: the write
    of another process that read the issue before that mark (and will set it back itself), or such a
    repair. Notes cannot tell them from a person's quick second thought, which this rule loses.
    """
    upto = [item for item in history if item[0].id <= away.id]
    if not upto:
        return None
    index = len(upto) - 1
    while index > 0:
        earlier = Timestamp.of(upto[index - 1][0].created_at).moment
        later = Timestamp.of(upto[index][0].created_at).moment
        if earlier is None or later is None or later - earlier > SETTLE:
            break
        index -= 1
    return upto[index]


def _own_text_note(texts: Sequence[Note], saved: str) -> Note | None:
    """Our write's own "changed the description": the first one not surely before our save, when the
    next one is surely after it (two in the same tick cannot be told apart)."""
    candidates = [n for n in texts if not _before(n, saved)]
    if not candidates:
        return None
    if len(candidates) > 1 and compare_times(candidates[1].created_at, candidates[0].created_at) != 1:
        return None
    return candidates[0]


def _follows(note: Note, mine: Collection[int], notes: Sequence[Note]) -> bool:
    """The note comes right after one of our own checklist notes, with no other note between, and
    within the same request's moments (some servers add a text note to a checklist edit's own)."""
    ordered = sorted(notes, key=lambda n: n.id)
    index = next((i for i, n in enumerate(ordered) if n.id == note.id), 0)
    if index == 0 or ordered[index - 1].id not in mine:
        return False
    previous = ordered[index - 1]
    first, second = Timestamp.of(previous.created_at).moment, Timestamp.of(note.created_at).moment
    if compare_times(note.created_at, previous.created_at) == 0:
        return True
    return first is not None and second is not None and second - first <= COMPANION_DELAY
