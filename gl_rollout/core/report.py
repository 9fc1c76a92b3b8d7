"""The rollout report's rows: one open rollout issue as the report shows it, and the report itself. Pure.

A row tells the flag, its stage, `N of M` done, the next step, the last activity and how many days since
the rollout moved (stale after `stale_days`): "moved" is the newest step event of the issue's timeline, else
its creation; without notes, the issue's last activity. `gl_rollout.workflows.report` reads the issues and
`gl_rollout.render.report_formats` writes the rows as a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from gl_rollout.core.checklist import parse_checklist, progress_line
from gl_rollout.core.evidence import (
    build_timeline,
    flag_of_issue,
    last_moved,
    production_partial,
    unreadable_times,
)
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.scope import Scope, is_rollout
from gl_rollout.core.stage import STAGES, rollout_stage, stage_from_labels
from gl_rollout.core.times import Timestamp, utc_iso

DEFAULT_STALE_DAYS = 14
MovedFrom = Literal["timeline", "last-activity"]


@dataclass(frozen=True)
class ReportRow:
    """One rollout issue as the report shows it."""

    flag: str | None
    title: str
    reference: str
    web_url: str
    stage: str
    done: int
    total: int
    progress: str  # "N of M checklist items completed"
    next_step_id: str | None
    next_step: str | None
    last_activity: str
    moved_at: str
    days_since_moved: int | None  # None when no timestamp of the issue could be read
    stale: bool
    unreadable_times: tuple[str, ...] = ()  # timestamps of the issue or its notes that cannot be read
    # The rollout's step chart (an inline `<svg>`) when it has a plan and its notes were read; the HTML
    # report draws it, the other formats leave it out.
    chart_svg: str | None = field(default=None, repr=False, compare=False)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "title": self.title,
            "reference": self.reference,
            "web_url": self.web_url,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "progress": self.progress,
            "next_step": {"id": self.next_step_id, "text": self.next_step} if self.next_step else None,
            "last_activity": self.last_activity,
            "moved_at": self.moved_at,
            "days_since_moved": self.days_since_moved,
            "stale": self.stale,
            "unreadable_times": list(self.unreadable_times),
        }


@dataclass(frozen=True)
class Report:
    scope: Scope
    generated_at: datetime
    stale_days: int
    moved_from: MovedFrom
    rows: tuple[ReportRow, ...]

    def by_stage(self) -> list[tuple[str, list[ReportRow]]]:
        """Stages in rollout order, each with its rows (flag order); empty stages left out."""
        groups = []
        for stage in STAGES:
            rows = sorted(
                (r for r in self.rows if r.stage == stage), key=lambda r: ((r.flag or r.title), r.reference)
            )
            if rows:
                groups.append((stage, rows))
        return groups

    @property
    def stale_count(self) -> int:
        return sum(1 for row in self.rows if row.stale)

    def to_dict(self) -> dict[str, Any]:
        by_stage = self.by_stage()
        return {
            "scope": self.scope.to_dict(),
            "generated_at": utc_iso(self.generated_at),
            "stale_days": self.stale_days,
            "moved_from": self.moved_from,
            "rollouts": len(self.rows),
            "stale": self.stale_count,
            "stages": {stage: len(rows) for stage, rows in by_stage},
            "issues": [row.to_dict() for _, rows in by_stage for row in rows],
        }


def staleness(stage: str, moved_at: str, *, now: datetime, stale_days: int) -> tuple[int | None, bool]:
    """Days since the rollout moved, and whether that makes it stale (a done rollout never is).

    A time that cannot be read gives no number (None) and is not called stale: no guess at 1970.
    """
    moment = Timestamp.of(moved_at).moment
    if moment is None:
        return None, False
    days = max(0, (now - moment).days)
    return days, stage != "done" and days >= stale_days


def first_readable(*values: str | None) -> str:
    """The first of the timestamps that can be read, else the first given (shown as written)."""
    given = [value for value in values if value]
    return next((value for value in given if Timestamp.of(value).readable), given[0] if given else "")


def report_row(issue: Issue, notes: list[Note] | None, *, now: datetime, stale_days: int) -> ReportRow | None:
    """The row of one issue (None when it has no rollout checklist). `notes` None: not readable."""
    checklist = parse_checklist(issue.description)
    if not is_rollout(checklist):
        return None
    if notes is None:
        flag = flag_of_issue(issue)
        partial = stage_from_labels(issue.labels) == "production-partial"
        moved_at = first_readable(issue.updated_at, issue.created_at)
    else:
        flag = flag_of_issue(issue, notes)
        partial = production_partial(notes, flag=flag)
        timeline = build_timeline(issue, notes, flag=flag, checklist=checklist)
        moved_at = first_readable(last_moved(timeline), issue.created_at, issue.updated_at)
    stage = rollout_stage(checklist, closed=issue.state == "closed", partial=partial)
    days, stale = staleness(stage, moved_at, now=now, stale_days=stale_days)
    nxt = checklist.next
    return ReportRow(
        flag=flag,
        title=issue.title,
        reference=issue.reference,
        web_url=issue.web_url,
        stage=stage,
        done=checklist.done,
        total=checklist.total,
        progress=progress_line(checklist),
        next_step_id=nxt.id if nxt else None,
        next_step=nxt.text if nxt else None,
        last_activity=issue.updated_at,
        moved_at=moved_at,
        days_since_moved=days,
        stale=stale,
        unreadable_times=tuple(unreadable_times(issue, notes or ())),
    )


def moved_at_last_activity(row: ReportRow, now: datetime, stale_days: int) -> ReportRow:
    days, stale = staleness(row.stage, row.last_activity, now=now, stale_days=stale_days)
    return replace(row, moved_at=row.last_activity, days_since_moved=days, stale=stale)
