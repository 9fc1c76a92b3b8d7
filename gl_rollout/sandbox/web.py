"""The sandbox's web pages, at GitLab's paths: what the links gl-rollout prints open in a browser.

Plain server-rendered HTML, no JavaScript (the pages forbid scripts in their Content-Security-Policy):

- `/` lists the projects and groups, with links to everything below;
- `/GROUP/PROJECT` a project; `/GROUP/PROJECT/-/issues` its issues (`?state=opened` by default, as
  GitLab's list, or `closed` or `all`);
- `/GROUP/PROJECT/-/issues/IID` and `/-/work_items/IID` an issue: title, state, labels, milestone, the
  description rendered as GitLab draws it (`markdown_html`: checkboxes checked, open or inapplicable),
  then the comments, system notes and resource events oldest first, each comment and system note with
  the anchor GitLab gives it (`#note_ID`);
- `/GROUP/PROJECT/-/feature_flags` the project's feature flags, `/admin/features` the instance's (the
  Features API's flags: GitLab has no page of its own for them);
- `/groups/GROUP` a group's projects.

GitLab draws no chart of a rollout, but the tool that starts the sandbox may: `Sandbox.issue_figure`,
when set, is called with what an issue page shows (`IssueSeen`) and its HTML goes under the
description (the sandbox draws nothing itself, so it stays free of the tool's code; see
`gl_rollout.cli.connection`, which sets it to the rollout's step chart).

A browser sends no token, so the pages show what an administrator would see. Everything a person wrote
(titles, labels, descriptions, comments, flag names) is escaped or goes through `markdown_html`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.markdown_html import render_markdown
from gl_rollout.sandbox.store import Row, Store, decode_list
from gl_rollout.sandbox.tasks import task_completion_status

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_COLOUR = re.compile(r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$")
_ISSUE = re.compile(r"^(?P<project>.+?)/-/(?:issues|work_items)/(?P<iid>\d+)/?$")
_SECTION = re.compile(r"^(?P<project>.+?)/-/(?P<section>issues|feature_flags)/?$")
STATES = ("opened", "closed", "all")

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1f1e24;background:#fbfafd}
header{background:#292961;color:#fff;padding:.6em 1.2em}header a{color:#fff;text-decoration:none}
main{max-width:960px;margin:1.2em auto;padding:0 1.2em}a{color:#1068bf}
.badge{display:inline-block;border-radius:1em;padding:0 .7em;font-size:.85em;margin-right:.3em}
.state-opened{background:#c3e6cd;color:#0a4020}.state-closed{background:#cbe2f9;color:#033464}
.label{color:#fff}.meta{color:#626168;font-size:.9em}
.description,.note{background:#fff;border:1px solid #dcdcde;border-radius:4px;padding:.6em 1em;margin:.8em 0}
.note.system,.note.event{background:none;border:none;padding:.2em 1em;color:#535158}
.note.internal{background:#fdf1dd}
li.task-list-item{list-style:none}ul.contains-task-list{padding-left:1.2em}
li.inapplicable>*:not(ul):not(ol),li.inapplicable{text-decoration:line-through}
li.inapplicable li{text-decoration:none}
table{border-collapse:collapse}td,th{border:1px solid #dcdcde;padding:.3em .6em;text-align:left}
nav.tabs a{margin-right:1em}nav.tabs a.current{font-weight:bold;color:#1f1e24}
code{background:#ececef;padding:0 .2em;border-radius:3px}
figure.issue-figure{margin:.8em 0;overflow-x:auto}figure.issue-figure svg{max-width:100%;height:auto}
"""


@dataclass(frozen=True)
class IssueSeen:
    """What a figure under an issue's description is drawn from: the issue's reference, title and
    description, its notes as the API lists them (`id`, `body`, `author` username, `created_at`,
    `system`), oldest first, and the sandbox clock."""

    reference: str
    title: str
    description: str
    notes: tuple[dict[str, Any], ...]
    now: dt.datetime


# Trusted HTML (or None for nothing) to show under an issue's description: the caller escapes what it draws.
IssueFigure = Callable[[IssueSeen], "str | None"]


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    location: str | None = None  # a redirect's target


def page(store: Store, raw_path: str, query: str, base_url: str, figure: IssueFigure | None = None) -> Page:
    """The page at `raw_path` (as sent, percent-encoded), or a 404 page."""
    path = unquote(raw_path).strip("/")
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    site = Site(store, base_url, figure)
    if path == "":
        return site.index()
    if path == "admin/features":
        return site.instance_features()
    if path.startswith("groups/"):
        return site.group(path[len("groups/") :])
    found = _ISSUE.match(path)
    if found:
        return site.issue(found.group("project"), int(found.group("iid")))
    found = _SECTION.match(path)
    if found:
        if found.group("section") == "issues":
            return site.issues(found.group("project"), params.get("state", "opened"))
        return site.project_flags(found.group("project"))
    return site.project(path)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _document(title: str, body: str, crumbs: Iterable[tuple[str, str]] = ()) -> str:
    trail = " / ".join(f'<a href="{_e(href)}">{_e(text)}</a>' for href, text in crumbs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · GitLab sandbox</title><style>{STYLE}</style></head>\n"
        f'<body><header><a href="/">GitLab sandbox</a>{" · " + trail if trail else ""}</header>\n'
        f"<main>\n{body}\n</main></body></html>\n"
    )


def not_found_page(what: str = "This page") -> Page:
    body = f"<h1>404: Page not found</h1><p>{_e(what)} does not exist in this sandbox.</p>"
    return Page(404, _document("Not found", body))


class Site:
    """The pages of one sandbox state."""

    def __init__(self, store: Store, base_url: str, figure: IssueFigure | None = None) -> None:
        self.store = store
        self.base_url = base_url
        self.figure = figure

    # ---- finding things ---------------------------------------------------------------------
    def _project(self, path: str) -> Row | None:
        return self.store.one("SELECT * FROM projects WHERE lower(full_path) = lower(?)", (path,))

    def _crumbs(self, project: Row) -> list[tuple[str, str]]:
        return [(f"/{project['full_path']}", project["full_path"])]

    # ---- pages ------------------------------------------------------------------------------
    def index(self) -> Page:
        projects = self.store.all("SELECT * FROM projects ORDER BY full_path")
        groups = self.store.all("SELECT * FROM namespaces WHERE kind = 'group' ORDER BY full_path")
        items = "".join(
            f'<li><a href="/{_e(p["full_path"])}">{_e(p["full_path"])}</a> · '
            f'<a href="/{_e(p["full_path"])}/-/issues">issues</a> ({self._open_count(p)} open) · '
            f'<a href="/{_e(p["full_path"])}/-/feature_flags">feature flags</a></li>'
            for p in projects
        )
        group_items = "".join(
            f'<li><a href="/groups/{_e(g["full_path"])}">{_e(g["full_path"])}</a></li>' for g in groups
        )
        body = (
            "<h1>GitLab sandbox</h1><h2>Projects</h2><ul>" + items + "</ul><h2>Groups</h2><ul>" + group_items
            + '</ul><h2>Instance</h2><ul><li><a href="/admin/features">Feature flags (Features API)</a></li>'
            + f'</ul><p class="meta">REST API: <code>{_e(self.base_url)}/api/v4</code></p>'
        )  # fmt: skip
        return Page(200, _document("Projects", body))

    def _open_count(self, project: Row) -> int:
        row = self.store.one(
            "SELECT COUNT(*) AS n FROM issues WHERE project_id = ? AND state = 'opened'", (project["id"],)
        )
        return int(row["n"]) if row else 0

    def group(self, path: str) -> Page:
        group = self.store.group_by_ref(path) if not path.isdigit() else None
        if group is None:
            return not_found_page(f"The group {path}")
        ids = self.store.descendant_group_ids(group["id"])
        marks = ",".join("?" * len(ids))
        projects = self.store.all(
            f"SELECT * FROM projects WHERE namespace_id IN ({marks}) ORDER BY full_path",  # noqa: S608
            ids,
        )
        items = "".join(
            f'<li><a href="/{_e(p["full_path"])}/-/issues">{_e(p["full_path"])}</a></li>' for p in projects
        )
        body = f"<h1>{_e(group['name'])}</h1><p class='meta'>{_e(group['full_path'])}</p><ul>{items}</ul>"
        return Page(200, _document(group["full_path"], body, [(f"/groups/{group['full_path']}", path)]))

    def project(self, path: str) -> Page:
        project = self._project(path)
        if project is None:
            return not_found_page(f"/{path}")
        full = _e(project["full_path"])
        body = (
            f"<h1>{_e(project['name'])}</h1><p class='meta'>{full} · project ID {project['id']}</p><ul>"
            f'<li><a href="/{full}/-/issues">Issues</a> ({self._open_count(project)} open)</li>'
            f'<li><a href="/{full}/-/feature_flags">Feature flags</a></li></ul>'
        )
        return Page(200, _document(project["full_path"], body, self._crumbs(project)))

    def issues(self, path: str, state: str) -> Page:
        project = self._project(path)
        if project is None:
            return not_found_page(f"/{path}/-/issues")
        state = state if state in STATES else "opened"
        sql = "SELECT * FROM issues WHERE project_id = ?"
        args: list[Any] = [project["id"]]
        if state != "all":
            sql += " AND state = ?"
            args.append(state)
        rows = self.store.all(sql + " ORDER BY created_at DESC, id DESC", args)
        full = project["full_path"]
        tabs = " ".join(
            f'<a href="/{_e(full)}/-/issues?state={name}"'
            f"{' class=current' if name == state else ''}>{label}</a>"
            for name, label in (("opened", "Open"), ("closed", "Closed"), ("all", "All"))
        )
        items = "".join(self._issue_row(full, row) for row in rows) or "<p>No issues.</p>"
        body = f"<h1>Issues</h1><nav class='tabs'>{tabs}</nav><ul class='issues'>{items}</ul>"
        return Page(200, _document(f"Issues · {full}", body, self._crumbs(project)))

    def _issue_row(self, full_path: str, row: Row) -> str:
        status = task_completion_status(row["description"])
        tasks = (
            f' · <span class="tasks">{status["completed_count"]} of {status["count"]} checklist items '
            "completed</span>"
            if status["count"]
            else ""
        )
        return (
            f'<li class="issue" id="issue_{row["iid"]}"><a href="/{_e(full_path)}/-/issues/{row["iid"]}">'
            f"{_e(row['title'])}</a> {self._labels(decode_list(row['labels']), row['project_id'])}"
            f"<div class='meta'>#{row['iid']} · {_state_badge(row['state'])} · updated "
            f"{_e(entities.iso_time(row['updated_at']))}{tasks}</div></li>"
        )

    def _labels(self, names: list[str], project_id: int) -> str:
        shown = []
        for name in sorted(names):
            label = self.store.label(project_id, name)
            colour = label["color"] if label and _COLOUR.match(str(label["color"])) else "#6699cc"
            shown.append(f'<span class="badge label" style="background:{colour}">{_e(name)}</span>')
        return "".join(shown)

    def issue(self, path: str, iid: int) -> Page:
        project = self._project(path)
        issue = self.store.issue(project["id"], iid) if project is not None else None
        if project is None or issue is None:
            return not_found_page(f"/{path}/-/issues/{iid}")
        author = self.store.user(issue["author_id"])
        milestone = self.store.milestone(issue["milestone_id"]) if issue["milestone_id"] else None
        status = task_completion_status(issue["description"])
        assignees = [u for u in (self.store.user(i) for i in decode_list(issue["assignee_ids"])) if u]
        facts = [
            _state_badge(issue["state"]),
            f"<span class='reference'>{_e(project['full_path'])}#{issue['iid']}</span>",
            f"opened {_e(entities.iso_time(issue['created_at']))} by {_e(author['name'] if author else '?')}",
        ]
        if issue["confidential"]:
            facts.append("<span class='badge'>confidential</span>")
        details = []
        if milestone is not None:
            details.append(f"Milestone: {_e(milestone['title'])}")
        if issue["due_date"]:
            details.append(f"Due: {_e(issue['due_date'])}")
        if assignees:
            details.append("Assignees: " + ", ".join(_e("@" + u["username"]) for u in assignees))
        if status["count"]:
            details.append(
                f"<span class='tasks'>{status['completed_count']} of {status['count']} checklist items "
                "completed</span>"
            )
        description = render_markdown(issue["description"] or "")
        body = (
            f"<h1 class='title'>{_e(issue['title'])}</h1><p class='meta'>{' · '.join(facts)}</p>"
            f"<p class='labels'>{self._labels(decode_list(issue['labels']), project['id'])}</p>"
            f"<p class='meta'>{' · '.join(details)}</p>"
            f"<div class='description'>{description}</div>{self._figure(project, issue)}"
            f"<h2>Activity</h2><div class='activity'>{self._activity(issue)}</div>"
        )
        crumbs = [*self._crumbs(project), (f"/{project['full_path']}/-/issues", "Issues")]
        return Page(200, _document(f"{issue['title']} (#{issue['iid']})", body, crumbs))

    def _figure(self, project: Row, issue: Row) -> str:
        """What `figure` draws of the issue, under its description ("" without one)."""
        if self.figure is None:
            return ""
        notes = []
        for note in self.store.notes_of(issue["id"]):
            author = self.store.user(note["author_id"])
            notes.append({
                "id": note["id"], "body": note["body"], "author": author["username"] if author else "",
                "created_at": entities.iso_time(note["created_at"]), "system": bool(note["system"]),
            })  # fmt: skip
        seen = IssueSeen(
            f"{project['full_path']}#{issue['iid']}",
            issue["title"],
            issue["description"] or "",
            tuple(notes),
            dt.datetime.fromtimestamp(self.store.clock_ms() / 1000, tz=dt.UTC),
        )
        drawn = self.figure(seen)
        return f"<figure class='issue-figure'>{drawn}</figure>" if drawn else ""

    def _activity(self, issue: Row) -> str:
        entries: list[tuple[int, int, int, str]] = []
        for note in self.store.notes_of(issue["id"]):
            entries.append((note["created_at"], 0, note["id"], self._note(note)))
        rows = self.store.all("SELECT * FROM resource_events WHERE issue_id = ? ORDER BY id", (issue["id"],))
        for event in rows:
            entries.append((event["created_at"], 1, event["id"], self._event(event, issue["project_id"])))
        entries.sort(key=lambda entry: entry[:3])
        return "".join(entry[3] for entry in entries) or "<p class='meta'>Nothing yet.</p>"

    def _note(self, note: Row) -> str:
        author = self.store.user(note["author_id"])
        who = _e(author["name"] if author else "?")
        handle = _e("@" + author["username"]) if author else ""
        anchor = f"note_{note['id']}"
        when = _e(entities.iso_time(note["created_at"]))
        link = f'<a class="anchor" href="#{anchor}">{when}</a>'
        if note["system"]:
            text = render_markdown(note["body"])
            return (
                f'<div class="note system" id="{anchor}"><span class="meta">{who} {handle} · {link}'
                f"</span>{text}</div>"
            )
        internal = " internal" if note["internal"] else ""
        badge = " <span class='badge'>internal</span>" if note["internal"] else ""
        return (
            f'<div class="note{internal}" id="{anchor}"><div class="meta"><b>{who}</b> {handle} · '
            f"{link}{badge}</div>{render_markdown(note['body'])}</div>"
        )

    def _event(self, event: Row, project_id: int) -> str:
        user = self.store.user(event["user_id"])
        who = _e(user["name"] if user else "?")
        when = _e(entities.iso_time(event["created_at"]))
        kind = event["kind"]
        if kind == "label":
            label = self.store.one("SELECT * FROM labels WHERE id = ?", (event["label_id"],))
            shown = self._labels([label["name"]], project_id) if label else "a deleted label"
            what = f"{'added' if event['action'] == 'add' else 'removed'} {shown} label"
        elif kind == "milestone":
            milestone = self.store.milestone(event["milestone_id"]) if event["milestone_id"] else None
            title = _e(milestone["title"]) if milestone else "a deleted milestone"
            added = event["action"] == "add"
            what = f"changed milestone to %{title}" if added else f"removed milestone %{title}"
        else:
            what = "closed" if event["state"] == "closed" else "reopened"
        kind_class = _e(f"{kind}-event")
        return f'<div class="note event {kind_class}"><span class="meta">{who} · {when}</span> {what}</div>'

    def project_flags(self, path: str) -> Page:
        from gl_rollout.sandbox.flag_store import flags_of, strategies_of, strategy_entity

        project = self._project(path)
        if project is None:
            return not_found_page(f"/{path}/-/feature_flags")
        rows = flags_of(self.store, project["id"])
        strategies = strategies_of(self.store, [row["id"] for row in rows])
        lines = []
        for row in rows:
            shown = []
            for strategy in strategies[row["id"]]:
                entity = strategy_entity(strategy)
                scopes = ", ".join(s["environment_scope"] for s in entity["scopes"]) or "no environment"
                parameters = json.dumps(entity["parameters"], sort_keys=True) if entity["parameters"] else ""
                shown.append(f"{_e(entity['name'])} {_e(parameters)} on {_e(scopes)}")
            lines.append(
                f'<tr class="flag"><td class="name">{_e(row["name"])}</td>'
                f"<td>{'active' if row['active'] else 'inactive'}</td><td>{_e(row['description'] or '')}</td>"
                f"<td>{'<br>'.join(shown) or '-'}</td></tr>"
            )
        table = (
            "<table><tr><th>Flag</th><th>Status</th><th>Description</th><th>Strategies</th></tr>"
            + "".join(lines)
            + "</table>"
            if lines
            else "<p>No feature flags.</p>"
        )
        body = f"<h1>Feature flags</h1>{table}"
        return Page(200, _document(f"Feature flags · {project['full_path']}", body, self._crumbs(project)))

    def instance_features(self) -> Page:
        from gl_rollout.sandbox.features import feature_entity

        lines = []
        for row in self.store.features():
            entity = feature_entity(row["name"], row["gates"])
            gates = ", ".join(f"{g['key']}: {json.dumps(g['value'])}" for g in entity["gates"]) or "none"
            lines.append(
                f'<tr class="feature"><td class="name">{_e(entity["name"])}</td>'
                f'<td class="state">{_e(entity["state"])}</td><td>{_e(gates)}</td></tr>'
            )
        table = (
            "<table><tr><th>Flag</th><th>State</th><th>Gates</th></tr>" + "".join(lines) + "</table>"
            if lines
            else "<p>No feature flag has been set.</p>"
        )
        body = (
            "<h1>Feature flags of this instance</h1>"
            f"<p class='meta'>The Features API (/api/v4/features).</p>{table}"
        )
        return Page(200, _document("Feature flags", body))


def _state_badge(state: str) -> str:
    shown = "Open" if state == "opened" else "Closed"
    return f'<span class="badge state state-{_e(state)}">{shown}</span>'
