"""The seam between a rollout and the flag it drives: read where the flag stands, apply one step.

`FlagBackend` is what a use case needs from a flag, whatever kind it is: `read_state()` gives a
`gl_rollout.core.project_flag.FlagState` (per environment: off, on, a percentage, user lists, user ids)
and `apply(change)` makes one `FlagChange` so, idempotently, or says in a dry run what it would send.
`ProjectFlagBackend` drives GitLab's project feature flags through the Developer-role token the other
writes use: one GET of the flag (kept for the command), and at most one PUT per step. The instance
backend (GitLab's own flags, the admin Features API and ChatOps) predates this seam and lives in
`gl_rollout.workflows.enable`.

A lost answer to the PUT is never sent again blindly (a strategy without an id would be added twice):
the flag is read again and the step planned again on what GitLab now holds. A PUT that may still land
(a timeout, a dropped connection) is looked for as a comment is (`gl_rollout.workflows.posting.
write_once`): re-reads until GitLab's request timeout has passed, and only then, planned again on the
last read, a new PUT (at most three in all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gl_rollout.core.project_flag import (
    FlagChange,
    FlagPlan,
    FlagState,
    ProjectFlag,
    ProjectFlagReading,
    flag_state,
    plan_change,
)
from gl_rollout.core.rollout_marker import RolloutFlag
from gl_rollout.core.times import utc_iso
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience, write_once


@dataclass(frozen=True)
class AppliedChange:
    """What `apply` found and did: the plan (the strategy diff), whether the PUT was sent, and the
    flag as GitLab reports it afterwards (as it was, when nothing was sent)."""

    change: FlagChange
    plan: FlagPlan
    sent: bool
    before: FlagState
    after: FlagState
    recovered: bool = False  # the PUT's answer was lost, but a fresh read shows it landed


class FlagBackend(Protocol):
    """A rollout's flag: where it stands, and one step applied to it."""

    kind: str  # "project" (or, later, "instance")

    def read_state(self) -> FlagState: ...

    def apply(self, change: FlagChange, *, dry_run: bool) -> AppliedChange: ...


@dataclass
class ProjectFlagBackend:
    """A project feature flag behind `FlagBackend`: `GET /projects/:id/feature_flags/:name` once, then at
    most one `PUT` per step (see the module docstring)."""

    api: GitLabAPI
    project: str
    rollout: RolloutFlag
    allow_decrease: bool = False
    adopt: bool = False
    kind: str = "project"
    patience: Patience = DEFAULT_PATIENCE
    _flag: ProjectFlag | None = field(default=None, init=False, repr=False)
    _read: bool = field(default=False, init=False, repr=False)

    def read(self) -> ProjectFlag | None:
        """The flag as GitLab has it now (read once per command; None when the project has none)."""
        if not self._read:
            self._flag = self.api.get_project_flag(self.project, self.rollout.flag)
            self._read = True
        return self._flag

    def read_state(self) -> FlagState:
        return flag_state(self.read(), self.rollout.flag, self.rollout.environments)

    def reading(self) -> ProjectFlagReading:
        """The flag as evidence for `sync` and `status --timeline`."""
        return ProjectFlagReading(
            self.project, self.rollout.flag, self.read(), self.rollout.environments, utc_iso()
        )

    def existing(self) -> ProjectFlag:
        """The flag, or UsageError (exit 2) when the project has no such flag: nothing is created here."""
        flag = self.read()
        if flag is None:
            raise UsageError(
                f"{self.project} has no feature flag {self.rollout.flag}",
                "create it with `gl-rollout create ... --flag-backend project --create-flag`, "
                "or in GitLab (Deploy > Feature flags)",
            )
        return flag

    def plan(self, change: FlagChange) -> FlagPlan:
        return plan_change(self.existing(), change, allow_decrease=self.allow_decrease, adopt=self.adopt)

    def apply(self, change: FlagChange, *, dry_run: bool) -> AppliedChange:
        flag = self.existing()
        before = flag_state(flag, self.rollout.flag, self.rollout.environments)
        plan = self.plan(change)
        if dry_run or not plan.needed:
            return AppliedChange(change, plan, False, before, before)
        sent = 0

        def send() -> ProjectFlag:
            # The first PUT is the plan above; a later one is planned on the read `landed` has just made.
            nonlocal sent
            current = plan if sent == 0 else self.plan(change)
            sent += 1
            return self.api.update_project_flag(self.project, flag.name, current.fields)

        def landed() -> ProjectFlag | None:
            self._read = False  # what landed decides: read the flag again and plan again
            fresh = self.read()
            return fresh if fresh is not None and not self.plan(change).needed else None

        done = write_once(send, landed, self.patience)
        self._flag = done.value
        after = flag_state(done.value, self.rollout.flag, self.rollout.environments)
        return AppliedChange(change, plan, True, before, after, recovered=done.recovered)


def project_flag_reading(api: GitLabAPI, issue_project: str, rollout: RolloutFlag) -> ProjectFlagReading:
    """One GET of a project-flag rollout's flag, as evidence."""
    return ProjectFlagBackend(api, rollout.project_for(issue_project), rollout).reading()
