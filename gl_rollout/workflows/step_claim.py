"""Claim-then-verify: one comment, one tick and one flag change per ramp step, however many runners start.

GitLab offers no compare-and-swap on notes or issues, but it gives every note an id that only grows. So
the step's comment is the claim: each runner posts it carrying a marker with the step (`advance`) and a
token of its own run (`run`), lists the notes again, and the comment of that step with the LOWEST id
wins. A runner whose comment is not the lowest deletes its own comment (`DELETE .../notes/:note_id`, the
author's right) and stops with exit 4 before it ticks anything or, for a project flag, writes the flag
(`gl_rollout.workflows.project_flags` sends the PUT only once the claim is won). See
`gl_rollout.workflows.advance` for the cases this leaves open.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.model import Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.errors import ConflictError, GitLabError, RolloutError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.workflows.step_comments import read_notes

STEP_KEY = "advance"  # the marker value naming the plan step a comment takes
RUN_KEY = "run"  # the marker value naming the run that posted it


def new_run_token() -> str:
    """A token for one run's claim: which comment of the step is this run's own."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class StepClaim:
    """A runner's claim of `step` of `flag` on the issue `ref`, made by its comment carrying `run`, against
    the comments that take the same step and were not there when the run last read the notes."""

    api: GitLabAPI
    ref: IssueRef
    flag: str
    step: str
    run: str
    # The notes this run read right before it posted: a comment of the step among them is an earlier
    # taking of it (before a rollback), and the re-read before the write already refused newer ones.
    seen: frozenset[int] = frozenset()

    def claims(self, note: Note) -> bool:
        """Whether `note` is an `enable` comment taking this step of this flag (by any runner)."""
        if note.system or note.id in self.seen:
            return False
        marker = find_note_marker(note.body)
        return (
            marker is not None
            and marker.action == "enable"
            and marker.flag == self.flag
            and marker.values.get(STEP_KEY) == self.step
        )

    def verify(self, posted: Note | None) -> Note:
        """List the notes again: our comment when it is the step's first, else ours deleted and exit 4.

        `posted` is what the posting layer returned (found by key and run token after a lost answer);
        ours is found again by the run token in the fresh list, which also shows a second copy of it."""
        notes = read_notes(self.api, self.ref)
        taking = sorted((note for note in notes if self.claims(note)), key=lambda note: note.id)
        ours = [note for note in taking if self._is_ours(note)]
        first = taking[0] if taking else None
        if first is not None and ours and first.id == ours[0].id:
            self.withdraw(ours[1:], f"this run posted the comment of {self.step} twice")
            return ours[0]
        if first is None:  # not even ours is listed: nothing to verify against
            where = f" (note {posted.id})" if posted is not None else ""
            raise GitLabError(
                f"the comment of {self.step}{where} is not among the issue's comments right after "
                "posting it; nothing ticked",
                "run advance again: it starts from the comments GitLab has then",
            )
        said = f"another runner took {self.step} (note {first.id})"
        self.withdraw(ours, said)
        done = "this run removed its own comment" if ours else "this run left no comment of it"
        raise ConflictError(f"{said}; {done}", "nothing else was written: the next run goes on from there")

    def withdraw(self, notes: Sequence[Note], why: str) -> None:
        """Delete this run's `notes`; a delete GitLab refuses is exit 3 naming the comment left behind."""
        for note in notes:
            try:
                self.api.delete_note(self.ref.project, self.ref.iid, note.id)
            except GitLabError as exc:
                raise GitLabError(
                    f"{why}; this run could not delete its own comment, so a duplicate (note {note.id}) "
                    f"remains: {exc.message}",
                    f"delete note {note.id} of {self.ref} by hand; nothing was ticked",
                    status=exc.status,
                ) from None

    def give_up(self, ours: Note, error: RolloutError) -> RolloutError:
        """The step's write failed after its claim was won: the claim is deleted, and the error says so
        (with its own exit code), or says that it could not be (exit 3)."""
        self.withdraw([ours], f"{error.message} (after this run's comment of {self.step})")
        failed = RolloutError(
            f"{error.message}; this run removed its comment of {self.step} (note {ours.id})",
            error.hint,
            details=dict(error.details),
        )
        failed.exit_code = error.exit_code
        return failed

    def _is_ours(self, note: Note) -> bool:
        marker = find_note_marker(note.body)
        return marker is not None and marker.values.get(RUN_KEY) == self.run
