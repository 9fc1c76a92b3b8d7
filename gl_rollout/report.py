"""Use case `report`: every open rollout issue of a project or group, written as Markdown, JSON or HTML.

Per issue: flag, stage, `N of M` done, next step, last activity, days since the rollout moved (stale
after `stale_days`), link. "Moved" is the newest step event of the issue's timeline (a checkbox
checked or unchecked, a gl-rollout announce/enable/disable comment), else its creation; it needs the
issue's notes (one request per issue, 8 at a time). A token that may list issues but not read notes
(`CI_JOB_TOKEN`) gets the issue's last activity (`updated_at`) instead, and the report says so.
The file formats live in `gl_rollout.report_formats`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gl_rollout.api import GitLabAPI, Issue, Note
from gl_rollout.checklist import parse_checklist, progress_line
from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.evidence import (
    build_timeline,
    flag_of_issue,
    last_moved,
    production_partial,
    unreadable_times,
    utc_iso,
)
from gl_rollout.gitlab_json import parse_time
from gl_rollout.output import Result
from gl_rollout.pool import MAX_CONCURRENCY, run_bounded
from gl_rollout.report_formats import plural, report_format, write_report
from gl_rollout.scope import Scope, is_rollout, project_of
from gl_rollout.stage import STAGES, rollout_stage, stage_from_labels

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
    unreadable_times: tuple[str, ...] = ()  # timestamps of the issue or its notes parse_time cannot read

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


def _staleness(stage: str, moved_at: str, *, now: datetime, stale_days: int) -> tuple[int | None, bool]:
    """Days since the rollout moved, and whether that makes it stale (a done rollout never is).

    A time that cannot be read gives no number (None) and is not called stale: no guess at 1970.
    """
    moment = parse_time(moved_at)
    if moment is None:
        return None, False
    days = max(0, (now - moment).days)
    return days, stage != "done" and days >= stale_days


def _first_readable(*values: str | None) -> str:
    """The first of the timestamps that can be read, else the first given (shown as written)."""
    given = [value for value in values if value]
    return next((value for value in given if parse_time(value) is not None), given[0] if given else "")


def report_row(issue: Issue, notes: list[Note] | None, *, now: datetime, stale_days: int) -> ReportRow | None:
    """The row of one issue (None when it has no rollout checklist). `notes` None: not readable."""
    checklist = parse_checklist(issue.description)
    if not is_rollout(checklist):
        return None
    if notes is None:
        flag = flag_of_issue(issue)
        partial = stage_from_labels(issue.labels) == "production-partial"
        moved_at = _first_readable(issue.updated_at, issue.created_at)
    else:
        flag = flag_of_issue(issue, notes)
        partial = production_partial(notes, flag=flag)
        timeline = build_timeline(issue, notes, flag=flag, checklist=checklist)
        moved_at = _first_readable(last_moved(timeline), issue.created_at, issue.updated_at)
    stage = rollout_stage(checklist, closed=issue.state == "closed", partial=partial)
    days, stale = _staleness(stage, moved_at, now=now, stale_days=stale_days)
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


def build_report(
    api: GitLabAPI,
    scope: Scope,
    *,
    stale_days: int = DEFAULT_STALE_DAYS,
    now: datetime | None = None,
    concurrency: int = MAX_CONCURRENCY,
    read_notes: bool = True,
) -> Report:
    """List the scope's open issues (100 a page) and read each rollout's notes, 8 requests at a time.

    `read_notes=False` (a CI job token, which GitLab does not let read notes) costs only the list pages.
    """
    if stale_days < 1:
        raise UsageError("--stale-days must be at least 1", f"got {stale_days}")
    now = now or datetime.now(UTC)
    rows: dict[int, ReportRow] = {}
    notes_readable = threading.Event()
    if read_notes:
        notes_readable.set()
    failures: list[BaseException] = []

    def work(issue: Issue) -> ReportRow | None:
        try:
            notes: list[Note] | None = None
            if notes_readable.is_set() and is_rollout(parse_checklist(issue.description)):
                try:
                    notes = api.list_notes(project_of(issue), issue.iid)
                except GitLabError as exc:
                    # CI_JOB_TOKEN may list issues but not read their notes: fall back for every issue.
                    if exc.status not in (401, 403):
                        raise
                    notes_readable.clear()
            return report_row(issue, notes, now=now, stale_days=stale_days)
        except Exception as exc:  # re-raised below, once the other workers have stopped
            failures.append(exc)
            return None

    def done(index: int, row: ReportRow | None) -> None:
        if row is not None:
            rows[index] = row

    run_bounded(api.list_issues(scope.query()), work, concurrency=concurrency, on_done=done)
    if failures:
        raise failures[0]
    moved_from: MovedFrom = "timeline"
    if not notes_readable.is_set():
        # Rows built before the fallback used notes; rebuild them all the same way for one meaning.
        moved_from = "last-activity"
        rows = {i: _moved_at_last_activity(row, now, stale_days) for i, row in rows.items()}
    return Report(scope, now, stale_days, moved_from, tuple(rows[i] for i in sorted(rows)))


def _moved_at_last_activity(row: ReportRow, now: datetime, stale_days: int) -> ReportRow:
    days, stale = _staleness(row.stage, row.last_activity, now=now, stale_days=stale_days)
    return replace(row, moved_at=row.last_activity, days_since_moved=days, stale=stale)


def report(
    api: GitLabAPI,
    scope: Scope,
    output: Path,
    *,
    stale_days: int = DEFAULT_STALE_DAYS,
    now: datetime | None = None,
    read_notes: bool = True,
) -> Result:
    """`gl-rollout report`: build the report and write it to `output` (.md, .json or .html)."""
    report_format(output)  # a bad file name fails before any request
    built = build_report(api, scope, stale_days=stale_days, now=now, read_notes=read_notes)
    fmt = write_report(built, output)
    data = {"path": str(output), "format": fmt, **built.to_dict()}
    messages = [f"wrote {plural(len(built.rows), 'rollout')} ({built.stale_count} stale) to {output}"]
    if built.moved_from == "last-activity":
        messages.append("this token cannot read comments: 'moved' is each issue's last activity")
    odd = [row for row in built.rows if row.unreadable_times]
    if odd:
        messages.append(
            f"{plural(len(odd), 'issue')} with timestamps gl-rollout cannot read "
            f"(such as {odd[0].unreadable_times[0]!r}): 'moved' counts from the newest readable one"
        )
    return Result(command="report", data=data, messages=messages)
