"""The report as a file: Markdown, JSON, or one self-contained HTML page, chosen by the file name.

The HTML page is self-contained: inline CSS, no script, no font or image, nothing fetched; only the
links to the issues point elsewhere. A rollout with a plan gets its step chart as inline SVG.
Fit for GitLab Pages (`public/index.html`).

Text from issues (titles, step texts) is anyone's input: it is split into plain text and code spans
as CommonMark reads them (`text_segments`), and written back so that nothing in it can become markup:
HTML-escaped in the page, and in Markdown every character that could start HTML, a link, emphasis or a
table cell escaped, code spans re-fenced by us. Only http(s) issue URLs become links. Dates are UTC.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit

from gl_rollout.core.times import Timestamp, utc_iso
from gl_rollout.errors import UsageError
from gl_rollout.files import write_atomic

if TYPE_CHECKING:
    from gl_rollout.core.report import Report, ReportRow

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


# --- issue text, made inert -----------------------------------------------------------------------

_BACKTICKS = re.compile(r"`+")
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# Backslash-escaped in Markdown: what could start emphasis, a link or image, a code span, strikethrough,
# or end a table cell. `<`, `>` and `&` become entities instead (no HTML, no autolink, no entity).
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]|~])")


def text_segments(text: str) -> list[tuple[str, bool]]:
    """`text` as (part, is_code) pieces, code spans found as CommonMark finds them: a run of backticks
    opens a span that the next run of the same length closes; a backslash before a backtick outside a
    span makes it literal. Plain parts keep their backslash escapes; code parts are the span's content."""
    pieces: list[tuple[str, bool]] = []
    plain_from = search_from = 0
    while (run := _BACKTICKS.search(text, search_from)) is not None:
        start = run.start()
        slashes = len(text[plain_from:start]) - len(text[plain_from:start].rstrip("\\"))
        if slashes % 2:  # an escaped backtick is literal; the rest of the run may still open a span
            start += 1
        width = run.end() - start
        close = next((m for m in _BACKTICKS.finditer(text, run.end()) if len(m.group()) == width), None)
        if width == 0 or close is None:
            search_from = run.end()
            continue
        content = text[run.end() : close.start()].replace("\r\n", " ").replace("\n", " ")
        if len(content) > 1 and content[0] == content[-1] == " " and content.strip():
            content = content[1:-1]
        if text[plain_from:start]:
            pieces.append((text[plain_from:start], False))
        pieces.append((content, True))
        plain_from = search_from = close.end()
    if text[plain_from:]:
        pieces.append((text[plain_from:], False))
    return pieces


def _md_plain(text: str) -> str:
    entities = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_ACTIVE.sub(r"\\\1", entities)


def _md_code(content: str) -> str:
    """A code span around `content`, fenced by one more backtick than its longest run; `|` escaped
    for GFM tables (which unescape it inside code spans too)."""
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(content)), default=0) + 1)
    pad = " " if content[:1] in ("`", " ") or content[-1:] in ("`", " ") else ""
    cell = content.replace("|", "\\|")
    return f"{fence}{pad}{cell}{pad}{fence}"


def md_text(text: str) -> str:
    """Issue text for a Markdown table cell (one line): shown as in GitLab, code spans kept, never markup."""
    out = []
    for part, code in text_segments(" ".join(text.split())):
        if code and part.strip():
            out.append(_md_code(part))
        else:
            out.append(_md_plain(part if code else _MARKDOWN_ESCAPE.sub(r"\1", part)))
    return "".join(out)


def html_text(text: str) -> str:
    """Issue text as HTML: escaped, with its Markdown code spans as <code> (step texts carry commands)."""
    out = []
    for part, code in text_segments(text):
        if code:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            out.append(html.escape(_MARKDOWN_ESCAPE.sub(r"\1", part)))
    return "".join(out)


def link_target(url: str) -> str | None:
    """An issue URL fit to link to: http(s) only (never `javascript:`), odd characters percent-encoded."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%~-._")


def _days(row: ReportRow) -> str:
    return "unknown" if row.days_since_moved is None else str(row.days_since_moved)


def render_markdown(report: Report) -> str:
    """Markdown: a section per stage, a table of its rollouts."""
    lines = [
        "# Feature-flag rollouts",
        "",
        f"{_md_plain(_summary(report))} · generated {utc_iso(report.generated_at)}",
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
            flag = _md_code(row.flag) if row.flag else md_text(row.title)
            moved = f"{_days(row)} **stale**" if row.stale else _days(row)
            target = link_target(row.web_url)
            issue = f"[{md_text(row.reference)}]({target})" if target else md_text(row.reference)
            lines.append(
                f"| {flag} | {row.done} of {row.total} | {md_text(row.next_step or '—')} | "
                f"{md_text(Timestamp.of(row.last_activity).utc_date())} | {moved} | {issue} |"
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
figure.chart { margin: .6rem 0 0; overflow-x: auto; }
figure.chart svg { max-width: 100%; height: auto; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em;
  background: var(--bar); border-radius: .2rem; padding: 0 .25rem; overflow-wrap: anywhere; }
"""


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, a progress bar per rollout (and the step chart of each one
    with a plan, inline SVG), a section per stage."""
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
            name = esc(row.flag) if row.flag else html_text(row.title)
            next_step = f"Next: {html_text(row.next_step)}" if row.next_step else "All steps done"
            moved = (
                f"{row.days_since_moved} days since it moved"
                if row.days_since_moved is not None
                else "unknown days since it moved"
            )
            target = link_target(row.web_url)
            link = f'<a href="{esc(target)}">{esc(row.reference)}</a>' if target else esc(row.reference)
            moved_html = (
                f'<span class="stale">stale: {moved}</span>' if row.stale else f"<span>{moved}</span>"
            )
            parts += [
                f'<li class="rollout{" is-stale" if row.stale else ""}" data-flag="{esc(row.flag or "")}">',
                '<div class="top">',
                f'<span class="flag">{name}</span>',
                link,
                "</div>",
                f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{row.total}" '
                f'aria-valuenow="{row.done}" aria-label="{esc(row.progress)}">'
                f'<span style="width: {row.percent}%"></span></div>',
                '<div class="meta">',
                f'<span class="progress">{row.done} of {row.total} done</span>',
                f'<span class="next">{next_step}</span>',
                f"<span>last activity {esc(Timestamp.of(row.last_activity).utc_date())}</span>",
                moved_html,
                "</div>",
            ]
            if row.chart_svg:  # our own SVG: no script, every text in it escaped (`step_chart`)
                parts.append(f'<figure class="chart">{row.chart_svg}</figure>')
            parts.append("</li>")
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
    write_atomic(path, _RENDERERS[fmt](report), streams=True)
    return fmt
