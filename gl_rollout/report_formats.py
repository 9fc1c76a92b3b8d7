"""The report as a file: Markdown, JSON, or one self-contained HTML page, chosen by the file name.

The HTML page is self-contained: inline CSS, no script, no font or image, nothing fetched; only the
links to the issues point elsewhere. Fit for GitLab Pages (`public/index.html`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gl_rollout.errors import UsageError
from gl_rollout.evidence import utc_iso
from gl_rollout.files import write_atomic

if TYPE_CHECKING:
    from gl_rollout.report import Report

ReportFormat = Literal["md", "json", "html"]
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


def plural(count: int, noun: str) -> str:
    """`1 rollout`, `3 rollouts`."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def report_format(path: Path) -> ReportFormat:
    """The format the file name asks for; any other suffix is a usage error."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"cannot tell the report format of {path}", "name the file .md, .json or .html")
    return fmt


def _summary(report: Report) -> str:
    """`project p, label x · 3 rollouts · 1 stale (no move for 14+ days)`, as both pages open."""
    return (
        f"{report.scope.name} · {plural(len(report.rows), 'rollout')} · {report.stale_count} stale "
        f"(no move for {report.stale_days}+ days)"
    )


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(report: Report) -> str:
    """Markdown: a section per stage, a table of its rollouts."""
    lines = [
        "# Feature-flag rollouts",
        "",
        f"{_summary(report)} · generated {utc_iso(report.generated_at)}",
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
    generated = utc_iso(report.generated_at)
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
        f'<p>{esc(_summary(report))} · generated <time datetime="{generated}">{generated}</time></p>',
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
