"""Ways other GitLab servers answer differently from this sandbox's defaults, to be switched on by tests.

GitLab versions, the proxies in front of them, and other implementations of GitLab's documented API
each have their own habits. By default the sandbox answers as current GitLab does; every knob here
turns on one habit another server may have, so tests can prove gl-rollout depends on nothing the API
does not promise:

    sb = Sandbox(quirks={"pagination": "link_only", "time_format": "seconds"})
    sb.quirks.checklist_notes = "escaped"

Most knobs reshape the JSON a handler produced (`reshape`), so the handlers stay GitLab-faithful;
the rest are read where the behaviour lives (pagination, the notes list, `/features`, auth, faults).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

PAGINATION = ("gitlab", "no_totals", "link_only", "next_page_only", "none")
TIME_FORMATS = ("ms", "ms_offset", "local", "seconds", "micro")
CHECKLIST_NOTES = ("source", "escaped", "task")
RATE_LIMIT_HEADERS = ("retry_after", "http_date", "reset_only", "none")
RATE_LIMIT_BODIES = ("text", "json")
ERROR_PAGES = ("gitlab", "html")
NOTES_SORT = ("honour", "ignore")
FEATURE_STATES = ("flipper", "on_if_any")

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z$")
_CHECKLIST = re.compile(
    r"^marked the checklist item \*\*(?P<label>.*)\*\* as (?P<status>completed|incomplete)$", re.S
)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|=\"<>~])")
_LOCAL = dt.timezone(dt.timedelta(hours=1))


@dataclass
class Quirks:
    """One sandbox's deviations from GitLab.com's answers; every default is GitLab's own behaviour."""

    # Pagination headers: all of GitLab's (`gitlab`); without X-Total/X-Total-Pages and rel="last", as
    # above 10,000 rows or behind some proxies (`no_totals`); `Link` only (`link_only`); `X-Next-Page`
    # and `X-Page` only (`next_page_only`); none at all (`none`).
    pagination: str = "gitlab"
    # Link URLs on another origin (e.g. "https://gitlab.example.com"): GitLab's external_url behind a proxy.
    link_origin: str | None = None
    # The largest per_page the server honours (GitLab: 100).
    max_per_page: int = 100
    # `sort` on the notes list honoured, or ignored with the oldest note first.
    notes_sort: str = "honour"
    # Notes whose body matches this regex are dropped after pagination (notes the reader may not see).
    hidden_notes: str | None = None
    # Timestamps: `…03.456Z` (ms), `…03.456+00:00` (ms_offset), `…04:02:03.456+01:00` (local),
    # `…03Z` (seconds), `…03.456000+00:00` (micro).
    time_format: str = "ms"
    # Every timestamp shown as this one whole second ("2026-11-29T02:38:47"): a server whose clock ticks
    # in seconds, with everything a test does falling in one tick; ids and order still tell them apart.
    frozen_second: str | None = None
    # Checklist system notes: the item's source (`source`), GitLab 17+'s markdown-escaped text with HTML
    # comments' text kept (`escaped`), or the pre-15.x wording "marked the task" (`task`).
    checklist_notes: str = "source"
    # A "changed the description" note also for an edit that only flipped boxes (after its checklist
    # notes), as some servers write.
    description_note_with_checklist: bool = False
    # Label, milestone and state changes recorded as resource events (GitLab 13.2+), or, with False, as
    # system notes ("added ~x label", "closed") with no `resource_*_events` routes, as older GitLab did.
    resource_events: bool = True
    # The body of the system note for any other description edit.
    description_note: str = "changed the description"
    # Issue entity fields left out, as older or partial implementations do ("references",
    # "task_completion_status", "project_id", ...).
    omit_issue_fields: tuple[str, ...] = ()
    # An empty description answered as null.
    null_empty_description: bool = False
    # Descriptions answered with LF line endings and no trailing whitespace, however they were sent.
    normalised_descriptions: bool = False
    # Labels as objects (what `with_labels_details=true` gives) instead of names.
    labels_details: bool = False
    # Issue web URLs in the work-items form (`/-/work_items/IID`), as newer GitLab answers.
    work_items_urls: bool = False
    # Old project path -> current path: requests naming the old path are answered 301 (all methods).
    moved_projects: dict[str, str] = field(default_factory=dict)
    # 429 answers: Retry-After in seconds (`retry_after`), as an HTTP-date (`http_date`), only
    # RateLimit-Reset (`reset_only`), or no hint at all (`none`); body Rack::Attack's text or app JSON.
    rate_limit_headers: str = "retry_after"
    rate_limit_body: str = "text"
    # 5xx answers: GitLab's (JSON 500, a proxy's small HTML for 502-504) or a big HTML page with styles,
    # scripts and no <title> for every 5xx (`html`).
    error_pages: str = "gitlab"
    # What `GET /version` reports. From 18.3 GitLab lets a CI job token read issues (the project's issue
    # list and one issue: fine-grained job token permissions); before, it ignores the token there, so the
    # request is anonymous (404 on a private project). No version lets a job token read notes.
    gitlab_version: str = "18.6.0"
    # A CI job token on a route it may not use: None = ignored (anonymous, as GitLab: 401 or 404), else
    # this status (401, 403 or 404) whatever the route.
    job_token_refusal: int | None = None
    # `/features` paginated like other lists (GitLab returns every flag in one unpaginated answer).
    features_paginated: bool = False
    # Feature gate values as strings ("25", "true") instead of numbers and booleans.
    feature_gates_as_strings: bool = False
    # Feature `state`: Flipper's (`flipper`), or "on" as soon as any gate is set (`on_if_any`).
    feature_state: str = "flipper"
    # After a flag is set, this many `GET /features` still show it as before: GitLab caches flags in each
    # process for up to a minute, and the next request may reach another worker.
    stale_feature_reads: int = 0
    # flag name -> (gates before the last set, stale reads left); state, not a knob
    _stale: dict[str, tuple[dict[str, Any] | None, int]] = field(default_factory=dict, repr=False)

    def job_token_reads_issues(self) -> bool:
        """Whether the reported version lets a CI job token read issues (GitLab 18.3 and later)."""
        major, minor = (int(part) for part in self.gitlab_version.split("-")[0].split(".")[:2])
        return (major, minor) >= (18, 3)

    def update(self, values: Mapping[str, Any]) -> None:
        """Set knobs by name, all or none: an unknown name or value is a ValueError."""
        known = knob_names(self)
        changes: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown quirk {name!r}; known: {', '.join(sorted(known))}")
            changes[name] = tuple(value) if name == "omit_issue_fields" else value
        replace(self, **changes).check()
        for name, value in changes.items():
            setattr(self, name, value)

    def check(self) -> None:
        choices = {
            "pagination": PAGINATION,
            "time_format": TIME_FORMATS,
            "checklist_notes": CHECKLIST_NOTES,
            "rate_limit_headers": RATE_LIMIT_HEADERS,
            "rate_limit_body": RATE_LIMIT_BODIES,
            "error_pages": ERROR_PAGES,
            "notes_sort": NOTES_SORT,
            "feature_state": FEATURE_STATES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"quirk {name} must be one of {', '.join(allowed)}")
        if not re.fullmatch(r"\d{1,3}\.\d{1,3}\.\d{1,3}(?:-ee)?", self.gitlab_version):
            raise ValueError("quirk gitlab_version must read like 18.3.0")
        if self.job_token_refusal not in (None, 401, 403, 404):
            raise ValueError("quirk job_token_refusal must be None, 401, 403 or 404")
        if not 1 <= self.max_per_page <= 100:
            raise ValueError("quirk max_per_page must be between 1 and 100")
        if self.frozen_second is not None and not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", self.frozen_second
        ):
            raise ValueError("quirk frozen_second must read YYYY-MM-DDTHH:MM:SS")
        if self.stale_feature_reads < 0:
            raise ValueError("quirk stale_feature_reads must not be negative")

    # ---- JSON bodies ------------------------------------------------------------------------
    def reshape(self, body: Any) -> Any:
        """The handler's JSON as a server with these quirks would send it."""
        if isinstance(body, list):
            return [self.reshape(item) for item in body]
        if not isinstance(body, dict):
            return body
        data = {key: self.reshape(value) for key, value in body.items()}
        if "noteable_type" in data and "system" in data:
            data = self._note(data)
        elif "iid" in data and "task_completion_status" in body:
            data = self._issue(data)
        elif "gates" in data and "state" in data and "name" in data:
            data = self._feature(data)
        for key, value in data.items():
            if key.endswith("_at") and isinstance(value, str):
                data[key] = self.timestamp(value)
        return data

    def timestamp(self, text: str) -> str:
        """A GitLab timestamp (`2026-11-29T01:02:03.456Z`) in this server's format."""
        match = _TIME.match(text)
        if match is not None and self.frozen_second is not None:
            return f"{self.frozen_second}Z"
        if match is None or self.time_format == "ms":
            return text
        whole, millis = match.groups()
        if self.time_format == "ms_offset":
            return f"{whole}.{millis}+00:00"
        if self.time_format == "seconds":
            return f"{whole}Z"
        if self.time_format == "micro":
            return f"{whole}.{millis}000+00:00"
        moment = dt.datetime.fromisoformat(f"{whole}.{millis}+00:00").astimezone(_LOCAL)
        return moment.isoformat(timespec="milliseconds")

    def _note(self, note: dict[str, Any]) -> dict[str, Any]:
        body = note.get("body")
        if not note.get("system") or not isinstance(body, str):
            return note
        if body == "changed the description":
            note["body"] = self.description_note
        match = _CHECKLIST.match(body)
        if match is not None and self.checklist_notes != "source":
            label, status = match.group("label"), match.group("status")
            if self.checklist_notes == "task":
                note["body"] = f"marked the task **{label}** as {status}"
            else:
                text = _MARKDOWN_SPECIAL.sub(r"\\\1", re.sub(r"<!--|-->", "", label).strip())
                note["body"] = f"marked the checklist item **{text}** as {status}"
        return note

    def _issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        description = issue.get("description")
        if self.normalised_descriptions and isinstance(description, str):
            lines = description.replace("\r\n", "\n").split("\n")
            issue["description"] = "\n".join(line.rstrip() for line in lines).rstrip()
        if self.null_empty_description and not issue.get("description"):
            issue["description"] = None
        if self.labels_details and isinstance(issue.get("labels"), list):
            issue["labels"] = [
                {
                    "id": 1000 + index,
                    "name": name,
                    "color": "#6699cc",
                    "text_color": "#FFFFFF",
                    "description": None,
                }
                for index, name in enumerate(issue["labels"])
            ]
        if self.work_items_urls and isinstance(issue.get("web_url"), str):
            issue["web_url"] = issue["web_url"].replace("/-/issues/", "/-/work_items/")
        for name in self.omit_issue_fields:
            issue.pop(name, None)
        return issue

    def _feature(self, feature: dict[str, Any]) -> dict[str, Any]:
        gates = feature.get("gates")
        if not isinstance(gates, list):
            return feature
        if self.feature_state == "on_if_any" and gates:
            feature["state"] = "on"
        if self.feature_gates_as_strings:
            for gate in gates:
                value = gate.get("value")
                if isinstance(value, bool):
                    gate["value"] = "true" if value else "false"
                elif isinstance(value, int | float):
                    gate["value"] = str(value)
        return feature

    # ---- headers ----------------------------------------------------------------------------
    def page_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """GitLab's pagination headers as this server sends them."""
        kept = dict(headers)
        link, origin = kept.get("Link"), self.link_origin
        if link and origin:
            kept["Link"] = re.sub(r"<([^>]*)>", lambda m: f"<{_with_origin(m.group(1), origin)}>", link)
        if self.pagination == "gitlab":
            return kept
        for name in ("X-Total", "X-Total-Pages"):
            kept.pop(name, None)
        if "Link" in kept:
            kept["Link"] = ", ".join(part for part in kept["Link"].split(", ") if 'rel="last"' not in part)
        if self.pagination in ("link_only", "none"):
            for name in ("X-Page", "X-Per-Page", "X-Next-Page", "X-Prev-Page"):
                kept.pop(name, None)
        if self.pagination in ("next_page_only", "none"):
            kept.pop("Link", None)
        return kept

    def rate_limit_headers_for(self, retry_after: int | None, now: float) -> dict[str, str]:
        """The hint a 429 carries about when to come back, in this server's style."""
        if retry_after is None or self.rate_limit_headers == "none":
            return {}
        if self.rate_limit_headers == "http_date":
            return {"Retry-After": email.utils.formatdate(now + retry_after, usegmt=True)}
        if self.rate_limit_headers == "reset_only":
            return {"RateLimit-Reset": str(int(now + retry_after + 0.999))}
        return {"Retry-After": str(retry_after)}

    # ---- moved projects ---------------------------------------------------------------------
    def moved_location(self, raw_path: str, query: str) -> str | None:
        """The path (and query) a request naming a moved project's old path is redirected to."""
        for old, new in self.moved_projects.items():
            encoded = "/projects/" + quote(old, safe="")
            for form in (encoded, encoded.replace("%2F", "%2f")):
                at = raw_path.find(form)
                if at < 0:
                    continue
                end = at + len(form)
                if end < len(raw_path) and raw_path[end] != "/":
                    continue
                moved = raw_path[:at] + "/projects/" + quote(new, safe="") + raw_path[end:]
                return moved + (f"?{query}" if query else "")
        return None

    # ---- stale feature reads ---------------------------------------------------------------
    def feature_set(self, name: str, before: dict[str, Any] | None) -> None:
        """A flag was set: remember how it looked, for the stale reads that follow."""
        if self.stale_feature_reads > 0:
            self._stale[name] = (before, self.stale_feature_reads)

    def features_read(self, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`GET /features` rows (`{name, gates}`) as a worker with an older cache would list them."""
        if not self._stale:
            return current
        shown = [row for row in current if row["name"] not in self._stale]
        for name, (before, left) in list(self._stale.items()):
            if before is not None:
                shown.append({"name": name, "gates": before})
            if left <= 1:
                del self._stale[name]
            else:
                self._stale[name] = (before, left - 1)
        return sorted(shown, key=lambda row: row["name"])


def knob_names(quirks: Quirks) -> list[str]:
    """The knobs of `Quirks` (its fields, without its private state)."""
    return [f.name for f in fields(quirks) if not f.name.startswith("_")]


def _with_origin(url: str, origin: str) -> str:
    parts, target = urlsplit(url), urlsplit(origin)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def html_error_page(status: int) -> str:
    """A load balancer's error page: styles, a script, markup and no <title>."""
    style = "body{font-family:sans-serif;margin:0}.box{padding:2em;color:#333}" * 20
    script = "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}" * 10
    return (
        "<!-- edge error page -->\n<html lang=en>\n<head><meta charset=utf-8>"
        f"<style>{style}</style><script>{script}</script></head>\n"
        f'<body><div class="box"><h2>Error {status}</h2><p>The upstream server did not answer. '
        "Ray ID: 7f3a9c1e5b2d4a60</p>"
        + "<p>Please try again in a few minutes.</p>" * 30
        + "</div></body></html>\n"
    )
