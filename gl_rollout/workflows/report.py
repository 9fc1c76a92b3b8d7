"""Use case `report`: every open rollout issue of a project or group, written as Markdown, JSON or HTML.

Per issue: flag, stage, `N of M` done, next step, last activity, days since the rollout moved (stale
after `stale_days`), link. "Moved" is the newest step event of the issue's timeline (a checkbox
checked or unchecked, a gl-rollout announce/enable/disable comment), else its creation; it needs the
issue's notes (one request per issue, 8 at a time). A token that may list issues but not read notes
(`CI_JOB_TOKEN`) gets the issue's last activity (`updated_at`) instead, and the report says so.
A rollout with a plan also gets its step chart (`gl_rollout.render.rollout_chart`), drawn from the same
notes at no extra request; without notes there is no evidence to draw, so no chart.
The file formats live in `gl_rollout.render.report_formats`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.report import (
    DEFAULT_STALE_DAYS,
    MovedFrom,
    Report,
    ReportRow,
    moved_at_last_activity,
    report_row,
)
from gl_rollout.core.scope import Scope, is_rollout, project_of
from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.report_formats import plural, render_markdown, report_format, write_report
from gl_rollout.result import FLATTEN, OMIT_NONE, Result
from gl_rollout.workflows.pool import MAX_CONCURRENCY, run_bounded


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
            row = report_row(issue, notes, now=now, stale_days=stale_days)
            if row is not None and notes is not None:
                row = replace(row, chart_svg=_chart(api, issue, notes, row, now))
            return row
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
        # ... and without notes there is no evidence to draw a chart from.
        rows = {
            i: replace(moved_at_last_activity(row, now, stale_days), chart_svg=None)
            for i, row in rows.items()
        }
    return Report(scope, now, stale_days, moved_from, tuple(rows[i] for i in sorted(rows)))


def _chart(api: GitLabAPI, issue: Issue, notes: list[Note], row: ReportRow, now: datetime) -> str | None:
    """The rollout's step chart from the notes already read (no request): None without a plan. Its "now"
    is GitLab's, from the last answer's `Date` header, as `advance` measures waits; else `now`."""
    from gl_rollout.render.rollout_chart import rollout_chart

    served = api.server_time()
    moment = served.moment if served is not None and served.moment is not None else now
    title = f"{row.flag or row.title}: steps over time"
    return rollout_chart(issue.description, notes, row.flag or "", moment, title=title)


@dataclass(frozen=True)
class ReportOutcome:
    """The file written (None: the Markdown is in `markdown`, for standard output), its format, and the
    report it holds."""

    path: str | None
    format: str
    report: Report = field(metadata=FLATTEN)
    markdown: str | None = field(default=None, metadata=OMIT_NONE, repr=False)


def report(
    api: GitLabAPI,
    scope: Scope,
    output: Path | None,
    *,
    stale_days: int = DEFAULT_STALE_DAYS,
    now: datetime | None = None,
    read_notes: bool = True,
    markdown: bool = True,
) -> Result[ReportOutcome]:
    """`gl-rollout report`: build the report and write it to `output` (.md, .json or .html), or with no
    `output` return it as Markdown (for standard output; not even that without `markdown`, as with
    `--json`, whose envelope holds the report)."""
    if output is not None:
        report_format(output)  # a bad file name fails before any request
    built = build_report(api, scope, stale_days=stale_days, now=now, read_notes=read_notes)
    counted = f"{plural(len(built.rows), 'rollout')} ({built.stale_count} stale)"
    if output is None:
        text = render_markdown(built) if markdown else None
        outcome = ReportOutcome(None, "md", built, text)
        messages = [f"{counted}, of {built.scope.name}"]
    else:
        outcome = ReportOutcome(str(output), write_report(built, output), built)
        messages = [f"wrote {counted} to {output}"]
    if built.moved_from == "last-activity":
        messages.append("this token cannot read comments: 'moved' is each issue's last activity")
    odd = [row for row in built.rows if row.unreadable_times]
    if odd:
        messages.append(
            f"{plural(len(odd), 'issue')} with timestamps gl-rollout cannot read "
            f"(such as {odd[0].unreadable_times[0]!r}): 'moved' counts from the newest readable one"
        )
    return Result("report", outcome, messages=messages)
