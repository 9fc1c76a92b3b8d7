"""Use case `report`: every open rollout issue of a project or group as Markdown, JSON or one HTML page.

Per issue: flag, stage, `N of M` done, next step, last activity, days since the rollout moved (stale
after `stale_days`), link. "Moved" is the newest step event of the issue's timeline (a checkbox
checked or unchecked, a gl-rollout announce/enable/disable comment), else its creation; it needs the
issue's notes (one request per issue, 8 at a time). A token that may list issues but not read notes
(`CI_JOB_TOKEN`) gets the issue's last activity (`updated_at`) instead, and the report says so.

The HTML page is self-contained: inline CSS, no script, no font or image, nothing fetched; only the
links to the issues point elsewhere. Fit for GitLab Pages (`public/index.html`).
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gl_rollout.api import GitLabAPI, Issue, Note
from gl_rollout.checklist import parse_checklist, progress_line
from gl_rollout.errors import GitLabError, UsageError
from gl_rollout.evidence import (
    STAGES,
    build_timeline,
    flag_of_issue,
    last_moved,
    parse_time,
    production_partial,
    rollout_stage,
    stage_from_labels,
)
from gl_rollout.files import write_atomic
from gl_rollout.output import Result
from gl_rollout.sync import MAX_CONCURRENCY, Scope, is_rollout, project_of, run_bounded

ReportFormat = Literal["md", "json", "html"]
DEFAULT_STALE_DAYS = 14
_FORMATS: dict[str, ReportFormat] = {
    ".md": "md",
    ".markdown": "md",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
}
STAGE_TITLES: dict[str, str] = {
    "planned": "Planned",
    "staging": "Staging",
    "beta": "Beta",
    "production-partial": "Production (partial)",
    "production": "Production",
    "cleanup": "Cleanup",
    "done": "Done",
}


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
    days_since_moved: int
    stale: bool

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
        }


@dataclass(frozen=True)
class Report:
    scope: Scope
    generated_at: datetime
    stale_days: int
    moved_from: Literal["timeline", "last-activity"]
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
        return {
            "scope": {"project": self.scope.project, "group": self.scope.group, "label": self.scope.label},
            "generated_at": _iso(self.generated_at),
            "stale_days": self.stale_days,
            "moved_from": self.moved_from,
            "rollouts": len(self.rows),
            "stale": self.stale_count,
            "stages": {stage: len(rows) for stage, rows in self.by_stage()},
            "issues": [row.to_dict() for _, rows in self.by_stage() for row in rows],
        }


def plural(count: int, noun: str) -> str:
    """`1 rollout`, `3 rollouts`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _days_between(earlier: str, now: datetime) -> int:
    return max(0, (now - parse_time(earlier)).days)


def report_row(issue: Issue, notes: list[Note] | None, *, now: datetime, stale_days: int) -> ReportRow | None:
    """The row of one issue (None when it has no rollout checklist). `notes` None: not readable."""
    checklist = parse_checklist(issue.description)
    if not is_rollout(checklist):
        return None
    if notes is None:
        flag = flag_of_issue(issue)
        partial = stage_from_labels(issue.labels) == "production-partial"
        moved_at = issue.updated_at
    else:
        flag = flag_of_issue(issue, notes)
        partial = production_partial(notes, flag=flag)
        moved_at = (
            last_moved(build_timeline(issue, notes, flag=flag, checklist=checklist)) or issue.created_at
        )
    stage = rollout_stage(checklist, closed=issue.state == "closed", partial=partial)
    days = _days_between(moved_at, now)
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
        stale=stage != "done" and days >= stale_days,
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

    def work(issue: Issue) -> ReportRow | None:
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

    def done(index: int, row: ReportRow | None) -> None:
        if row is not None:
            rows[index] = row

    failures: list[BaseException] = []

    def guarded(issue: Issue) -> ReportRow | None:
        try:
            return work(issue)
        except Exception as exc:  # re-raised below, once the other workers have stopped
            failures.append(exc)
            return None

    run_bounded(api.list_issues(scope.query()), guarded, concurrency=concurrency, on_done=done)
    if failures:
        raise failures[0]
    moved_from: Literal["timeline", "last-activity"] = (
        "timeline" if notes_readable.is_set() else "last-activity"
    )
    if not notes_readable.is_set():
        # Rows built before the fallback used notes; rebuild them all the same way for one meaning.
        rows = {i: _moved_at_last_activity(row, now, stale_days) for i, row in rows.items()}
    return Report(scope, now, stale_days, moved_from, tuple(rows[i] for i in sorted(rows)))


def _moved_at_last_activity(row: ReportRow, now: datetime, stale_days: int) -> ReportRow:
    days = _days_between(row.last_activity, now)
    return replace(
        row,
        moved_at=row.last_activity,
        days_since_moved=days,
        stale=row.stage != "done" and days >= stale_days,
    )


# --- rendering -------------------------------------------------------------------------------


def report_format(path: Path) -> ReportFormat:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the report format of {path}", "name the file .md, .json or .html")
    return fmt


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(report: Report) -> str:
    """Markdown: a section per stage, a table of its rollouts."""
    lines = [
        "# Feature-flag rollouts",
        "",
        f"{report.scope.name} · {plural(len(report.rows), 'rollout')} · {report.stale_count} stale "
        f"(no move for {report.stale_days}+ days) · generated {_iso(report.generated_at)}",
        "",
    ]
    if not report.rows:
        lines += ["No open rollout issues.", ""]
    for stage, rows in report.by_stage():
        lines += [f"## {STAGE_TITLES[stage]} ({len(rows)})", ""]
        lines += [
            "| Flag | Done | Next step | Last activity | Days since moved | Issue |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            flag = f"`{row.flag}`" if row.flag else _md_cell(row.title)
            moved = f"{row.days_since_moved} **stale**" if row.stale else str(row.days_since_moved)
            lines.append(
                f"| {flag} | {row.done} of {row.total} | {_md_cell(row.next_step or '—')} | "
                f"{row.last_activity[:10]} | {moved} | [{_md_cell(row.reference)}]({row.web_url}) |"
            )
        lines.append("")
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps({"version": 1, **report.to_dict()}, indent=2, ensure_ascii=False) + "\n"


_CSS = """
:root { color-scheme: light dark; --fg: #1f1e24; --muted: #626168; --line: #dcdcde; --bar: #e9e9ea;
  --ok: #108548; --stale: #c17d10; --link: #1f75cb; --card: #fbfafd; }
@media (prefers-color-scheme: dark) { :root { --fg: #ececef; --muted: #a4a3a8; --line: #434248;
  --bar: #333238; --ok: #2da160; --stale: #e9be74; --link: #63a6e9; --card: #232128; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; font: 15px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, "Noto Sans", Ubuntu, sans-serif; color: var(--fg); }
header p { color: var(--muted); margin: .25rem 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0; }
h2 { font-size: 1.15rem; border-bottom: 1px solid var(--line); padding-bottom: .3rem; margin-top: 2rem; }
h2 .count { color: var(--muted); font-weight: normal; }
ul.rollouts { list-style: none; padding: 0; margin: 0; display: grid; gap: .6rem; }
li.rollout { border: 1px solid var(--line); border-radius: .4rem; padding: .7rem .9rem;
  background: var(--card); }
.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline;
  justify-content: space-between; }
.flag { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600;
  overflow-wrap: anywhere; }
a { color: var(--link); }
.bar { height: .55rem; background: var(--bar); border-radius: 1rem; overflow: hidden;
  margin: .5rem 0 .35rem; }
.bar > span { display: block; height: 100%; background: var(--ok); }
.meta { color: var(--muted); font-size: .9rem; display: flex; flex-wrap: wrap; gap: .25rem 1.2rem; }
.stale { color: var(--stale); font-weight: 600; }
.empty { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em;
  background: var(--bar); border-radius: .2rem; padding: 0 .25rem; overflow-wrap: anywhere; }
"""


def _inline_code(text: str) -> str:
    """Escaped text with Markdown `code` spans as <code> (step texts carry ChatOps commands)."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show the text as written
        return html.escape(text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, a progress bar per rollout, a section per stage."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Feature-flag rollouts · {esc(report.scope.name)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Feature-flag rollouts</h1>",
        f"<p>{esc(report.scope.name)} · {plural(len(report.rows), 'rollout')} · {report.stale_count} stale "
        f"(no move for {report.stale_days}+ days) · generated "
        f'<time datetime="{_iso(report.generated_at)}">{_iso(report.generated_at)}</time></p>',
        "</header>",
        "<main>",
    ]
    if not report.rows:
        parts.append('<p class="empty">No open rollout issues.</p>')
    for stage, rows in report.by_stage():
        parts.append(f'<section class="stage" id="stage-{stage}" data-stage="{stage}">')
        parts.append(f'<h2>{esc(STAGE_TITLES[stage])} <span class="count">({len(rows)})</span></h2>')
        parts.append('<ul class="rollouts">')
        for row in rows:
            name = esc(row.flag) if row.flag else esc(row.title)
            next_step = f"Next: {_inline_code(row.next_step)}" if row.next_step else "All steps done"
            moved = f"{row.days_since_moved} days since it moved"
            moved_html = (
                f'<span class="stale">stale: {moved}</span>' if row.stale else f"<span>{moved}</span>"
            )
            parts += [
                f'<li class="rollout{" is-stale" if row.stale else ""}" data-flag="{esc(row.flag or "")}">',
                '<div class="top">',
                f'<span class="flag">{name}</span>',
                f'<a href="{esc(row.web_url)}">{esc(row.reference)}</a>',
                "</div>",
                f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{row.total}" '
                f'aria-valuenow="{row.done}" aria-label="{esc(row.progress)}">'
                f'<span style="width: {row.percent}%"></span></div>',
                '<div class="meta">',
                f'<span class="progress">{row.done} of {row.total} done</span>',
                f'<span class="next">{next_step}</span>',
                f"<span>last activity {esc(row.last_activity[:10])}</span>",
                moved_html,
                "</div>",
                "</li>",
            ]
        parts.append("</ul>")
        parts.append("</section>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


_RENDERERS: dict[ReportFormat, Callable[[Report], str]] = {
    "md": render_markdown,
    "json": render_json,
    "html": render_html,
}


def write_report(report: Report, path: Path) -> ReportFormat:
    """Write the report in the format the file name says, atomically; missing folders are created."""
    fmt = report_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, _RENDERERS[fmt](report))
    return fmt


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
    return Result(command="report", data=data, messages=messages)
