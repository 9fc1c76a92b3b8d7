"""ChatOps' own record of feature flag changes, read as dated events. Pure.

Every `feature set` or `feature delete` ChatOps runs on an environment leaves two traces (ChatOps'
`lib/chatops/commands/feature.rb`):

- a *log issue* in `gitlab-com/gl-infra/feature-flag-log`, created and closed at once, labelled
  `host::<host>` and `change`. Its title says what happened, its description who did it and when,
  on which host, for which rollout issue, and (for `set`) a table of the actor scopes;
- for `set`, a comment on the rollout issue that the flag's definition names (`rollout_issue_url`,
  followed only in its `/-/issues/N` form): the log issue's title, then
  `. Feature flag state change log issue: <its URL>`, and a link between the two issues.

ChatOps has worded these three ways; all are read, by their structure:

- today: title `Feature flag 'NAME' has been set to 'VALUE' on ENV` (`'25%' of actors on ENV` with
  `--actors`; `has been deleted on ENV`), ENV one of ChatOps' environment names (`gprd`, `gstg`,
  `gstg-ref`, `pre`, `dev`, `ops`); description lines `Changed by [@user](...) at TIME (UTC)`,
  `Host: https://HOST`, `Rollout issue: URL`, and six scope columns (User, Project, Group, Feature
  group, Namespace, Repository), empty when unused;
- before: title `Feature flag "NAME" has been set to "VALUE"` (no environment: the description's
  `Host:` line tells), description lines `Feature flag:`, `New value:`, `Percentage of actors: true`,
  `Changed by:`, `Changed on (in UTC):`, `Host:`, and three or four scope columns holding Ruby's
  `"path"` or `nil`;
- quoted with backticks and the environment in bold (`` `NAME` ``, `**gprd**`), as people retell it.

A value is read as the Features API reads it: `true` or 100 is on, `false` or 0 is off, another number
a percentage of actors (with `--actors`) or of time. Wording that fits none of these is never guessed:
it is reported (`Unread`) for `--debug`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from gl_rollout.core.evidence import Evidence, TimelineEvent
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.times import Timestamp

#: ChatOps' environment names (`env_name`) and hosts, as gl-rollout names the environments.
ENV_NAMES: dict[str, str] = {
    "gprd": "production",
    "gprd-cny": "production",
    "gstg": "staging",
    "gstg-cny": "staging",
    "gstg-ref": "staging-ref",
    "pre": "pre",
    "dev": "dev",
    "ops": "ops",
}
HOSTS: dict[str, str] = {
    "gitlab.com": "production",
    "staging.gitlab.com": "staging",
    "staging-ref.gitlab.com": "staging-ref",
    "pre.gitlab.com": "pre",
    "dev.gitlab.org": "dev",
    "ops.gitlab.net": "ops",
}
#: The scope columns of the log issue's table, as ChatOps' actor options name them.
SCOPE_COLUMNS: dict[str, str] = {
    "user": "user",
    "project": "project",
    "group": "group",
    "feature group": "feature-group",
    "namespace": "namespace",
    "repository": "repository",
}

_Q = r"['\"`]?"
_TITLE = re.compile(
    rf"^Feature flag (?P<q>{_Q})(?P<flag>[A-Za-z0-9_]+)(?P=q) has been "
    rf"(?:(?P<deleted>deleted)|set to (?P<v>{_Q})(?P<value>[^'\"`\s]+?)(?P=v)(?P<of_actors> of actors)?)"
    r"(?: on \**(?P<env>[A-Za-z][A-Za-z0-9-]*)\**)?[ .]*$"
)
_COMMENT_LINK = re.compile(r"\.?\s*Feature flag state change log issue:\s*(?P<url>\S+)\s*$", re.DOTALL)
_CHANGED_BY = re.compile(r"Changed by:?\s*\[?`?@(?P<user>[A-Za-z0-9_.-]+)")
_AT_NEW = re.compile(r"\bat `(?P<at>[^`]+)` \(UTC\)")
_AT_OLD = re.compile(r"Changed on \(in UTC\):\s*`(?P<at>[^`]+)`")
_HOST = re.compile(r"^\W*Host:\s*(?:https?://)?(?P<host>[A-Za-z0-9.-]+)", re.MULTILINE)
_ROLLOUT_ISSUE = re.compile(r"^\W*Rollout issue:\s*(?P<url>\S+)", re.MULTILINE)
_OLD_ACTORS = re.compile(r"Percentage of actors:\s*`(?P<value>[^`]*)`")
_NUMBER = re.compile(r"^(?P<number>\d{1,3}(?:\.\d+)?)%?$")

Change = Literal["on", "off", "percentage", "deleted"]
Source = Literal["log-issue", "comment"]


@dataclass(frozen=True)
class Title:
    """What a log issue's title (or the comment that repeats it) says."""

    flag: str
    deleted: bool
    value: str  # as written: true, false, 25, 25%
    of_actors: bool
    env: str | None  # gl-rollout's name; None when the title names none (ChatOps' older wording)
    env_written: str | None


@dataclass(frozen=True)
class ChatopsEvent:
    """One change ChatOps made: the flag, the environment, what it set, for whom, when and by whom.

    `actors` is () for everyone and None when not known: a comment repeats the log issue's title,
    which names no actor scopes, so a `true` read from a comment alone cannot tell "everyone" from
    "these projects" until its log issue is read.
    """

    flag: str
    env: str  # production | staging | staging-ref | pre | dev | ops
    change: Change
    kind: str  # boolean | percentage_of_actors | percentage_of_time | deleted
    percentage: float | None
    actors: tuple[tuple[str, tuple[str, ...]], ...] | None
    at: str
    by: str
    url: str  # the log issue's web URL ("" when not known)
    sources: tuple[Source, ...]
    note_id: int | None = None

    @property
    def actor_kind(self) -> str:
        """`everyone`, the actor kinds (`project`, `group+user`), or `unknown`."""
        if self.actors is None:
            return "unknown"
        return "+".join(kind for kind, _ in self.actors) or "everyone"

    def value_text(self) -> str:
        if self.change == "deleted":
            return "deleted"
        if self.change in ("on", "off"):
            return "true" if self.change == "on" else "false"
        amount = f"{self.percentage:g}%"
        return f"{amount} of actors" if self.kind == "percentage_of_actors" else f"{amount} of the time"

    def describe(self) -> str:
        """`ChatOps: set to 25% of actors on production`, `ChatOps: deleted on staging`, ..."""
        what = "deleted" if self.change == "deleted" else f"set to {self.value_text()}"
        whom = ""
        if self.actors is None and self.change in ("on", "off"):
            whom = " (for whom not known: its log issue was not read)"
        elif self.actors:
            whom = " for " + "; ".join(f"{kind} {', '.join(names)}" for kind, names in self.actors)
        return f"ChatOps: {what} on {self.env}{whom}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["actors"] = None if self.actors is None else {kind: list(names) for kind, names in self.actors}
        data["actor_kind"] = self.actor_kind
        data["sources"] = list(self.sources)
        return data


@dataclass(frozen=True)
class Unread:
    """Something that looked like ChatOps' record but was not read: what, where, and why."""

    where: str
    why: str

    def line(self) -> str:
        return f"ChatOps record not read: {self.where}: {self.why}"


def parse_title(text: str) -> Title | None:
    """A log issue's title in any of ChatOps' wordings, or None."""
    match = _TITLE.match(" ".join(text.split()))
    if match is None:
        return None
    written = match.group("env")
    env = ENV_NAMES.get(written.lower()) if written else None
    if written and env is None:
        return None  # an environment name ChatOps never used: not guessed
    return Title(
        match.group("flag"),
        match.group("deleted") is not None,
        match.group("value") or "",
        match.group("of_actors") is not None,
        env,
        written,
    )


def parse_comment(body: str) -> tuple[Title, str] | None:
    """A ChatOps comment on a rollout issue: the log title it repeats and the log issue's URL."""
    text = body.strip()
    link = _COMMENT_LINK.search(text)
    if link is None:
        return None
    title = parse_title(text[: link.start()])
    return (title, link.group("url")) if title is not None else None


def looks_like_chatops_comment(body: str) -> bool:
    """A comment in ChatOps' shape, read or not (`Feature flag ... has been ...`)."""
    text = body.strip()
    return text.startswith("Feature flag ") and "has been" in text and "log issue" in text


@dataclass(frozen=True)
class Description:
    """What a log issue's description says beside its title."""

    by: str | None
    at: str | None
    env: str | None
    rollout_issue: str | None
    scopes: tuple[tuple[str, tuple[str, ...]], ...] | None  # None: no scope table
    of_actors: bool | None  # ChatOps' older `Percentage of actors:` line


def parse_description(text: str) -> Description:
    """The lines and the scope table of a log issue's description (whatever is missing is None)."""
    by = _CHANGED_BY.search(text)
    at = _AT_NEW.search(text) or _AT_OLD.search(text)
    host = _HOST.search(text)
    rollout = _ROLLOUT_ISSUE.search(text)
    old_actors = _OLD_ACTORS.search(text)
    return Description(
        by.group("user") if by else None,
        at.group("at").strip() if at else None,
        HOSTS.get(host.group("host").lower()) if host else None,
        rollout.group("url") if rollout and rollout.group("url").startswith("http") else None,
        _scope_table(text),
        None if old_actors is None else old_actors.group("value").strip().lower() == "true",
    )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _scope_table(text: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """The actor scopes of ChatOps' table: header cells among its columns, the first data row."""
    lines = [line for line in text.splitlines() if line.strip().startswith("|")]
    for index, line in enumerate(lines):
        headers = [cell.lower() for cell in _cells(line)]
        if not headers or not all(cell in SCOPE_COLUMNS for cell in headers if cell):
            continue
        if index + 2 >= len(lines) or not re.fullmatch(r"[\s|:-]+", lines[index + 1]):
            return None
        values = _cells(lines[index + 2])
        scopes: list[tuple[str, tuple[str, ...]]] = []
        for header, value in zip(headers, values, strict=False):
            names = _scope_value(value)
            if header and names:
                scopes.append((SCOPE_COLUMNS[header], names))
        return tuple(scopes)
    return None


def _scope_value(cell: str) -> tuple[str, ...]:
    """A scope cell: `` `gitlab-org/gitlab` ``, `` `"a,b"` `` (Ruby's inspect), `` `nil` `` or empty."""
    value = cell.strip().strip("`").strip()
    if value in ("", "nil", "null"):
        return ()
    value = value.strip('"')
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _change(title: Title, of_actors: bool) -> tuple[Change, str, float | None] | None:
    """What a value means to the Features API: (change, gate kind, percentage), None if no value."""
    if title.deleted:
        return "deleted", "deleted", None
    value = title.value.lower()
    if value == "true":
        return "on", "boolean", None
    if value == "false":
        return "off", "boolean", None
    number = _NUMBER.match(value)
    if number is None:
        return None
    amount = float(number.group("number"))
    kind = "percentage_of_actors" if of_actors or value.endswith("%") else "percentage_of_time"
    if amount >= 100:
        return "on", kind, 100.0
    if amount <= 0:
        return "off", kind, 0.0
    return "percentage", kind, amount


def event_of_log_issue(issue: Issue, flag: str) -> ChatopsEvent | Unread | None:
    """The event a log issue records; None when it is about another flag; Unread when its wording
    is not ChatOps'."""
    title = parse_title(issue.title)
    where = f"log issue {issue.reference or issue.web_url}"
    if title is None:
        if issue.title.startswith("Feature flag") and _names(issue.title, flag):
            return Unread(where, f"its title is not in ChatOps' wording: {issue.title!r}")
        return None
    if title.flag != flag:
        return None
    said = parse_description(issue.description)
    env = title.env or said.env
    if env is None:
        return Unread(where, "neither its title nor its Host line names a known environment")
    change = _change(title, title.of_actors or bool(said.of_actors))
    if change is None:
        return Unread(where, f"its value {title.value!r} is not one ChatOps sets")
    actors: tuple[tuple[str, tuple[str, ...]], ...] | None = said.scopes
    if change[0] in ("percentage", "deleted") or change[1] == "percentage_of_actors":
        actors = ()  # ChatOps takes no actor scopes with a percentage, and a delete drops them all
    elif actors is None:
        return Unread(where, "its description has no table of actor scopes")
    return ChatopsEvent(
        flag,
        env,
        change[0],
        change[1],
        change[2],
        actors,
        said.at or issue.created_at,
        said.by or issue.author,
        issue.web_url,
        ("log-issue",),
    )


def _names(text: str, flag: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(flag)}(?![A-Za-z0-9_])", text) is not None


def event_of_comment(note: Note, flag: str) -> ChatopsEvent | Unread | None:
    """The event a ChatOps comment on the rollout issue records; None when it is no such comment;
    Unread when it is about another flag, or in a wording not ChatOps'."""
    if note.system or not looks_like_chatops_comment(note.body):
        return None
    where = f"comment {note.id}"
    parsed = parse_comment(note.body)
    if parsed is None:
        first = " ".join(note.body.split())[:100]
        return Unread(where, f"not in ChatOps' wording: {first!r}")
    title, url = parsed
    if title.flag != flag:
        return Unread(where, f"it is about the flag {title.flag}, not {flag}: ignored")
    if title.env is None:
        return Unread(where, "it names no environment; its log issue tells")
    change = _change(title, title.of_actors)
    if change is None:
        return Unread(where, f"its value {title.value!r} is not one ChatOps sets")
    actors: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    if change[0] in ("percentage", "deleted") or change[1] == "percentage_of_actors":
        actors = ()
    return ChatopsEvent(
        flag, title.env, change[0], change[1], change[2], actors, note.created_at, note.author, url,
        ("comment",), note.id,
    )  # fmt: skip


def merge_events(
    from_comments: Sequence[ChatopsEvent], from_log: Sequence[ChatopsEvent]
) -> list[ChatopsEvent]:
    """One event per change, in the log's order: a comment and the log issue it links to are the same
    change told twice (the log issue knows the actor scopes and the person; the comment, where it was
    said). Comments whose log issue was not read follow."""
    by_url = {event.url: event for event in from_comments if event.url}
    merged: list[ChatopsEvent] = []
    used: set[str] = set()
    for logged in from_log:
        comment = by_url.get(logged.url) if logged.url else None
        if comment is None:
            merged.append(logged)
            continue
        used.add(logged.url)
        merged.append(replace(logged, sources=("comment", "log-issue"), note_id=comment.note_id))
    merged += [event for event in from_comments if event.url not in used]
    return merged


# --- what the events prove -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepFact:
    """One step an event proves done (`done=True`) or undoes."""

    step: str
    done: bool
    event: ChatopsEvent


def step_facts(events: Iterable[ChatopsEvent]) -> list[StepFact]:
    """What the events prove, in their order (oldest first):

    - on for everyone on staging: `enable-staging`; off for everyone there undoes it;
    - on for named actors on production: `enable-beta`; off for them undoes it;
    - on for everyone on production: `enable-production`; off for everyone undoes it and `enable-beta`
      (Flipper's disable clears every gate); a percentage of actors: the ramp step `ramp-N`;
    - deleted on production: `cleanup` when the flag was on for everyone there before (the last step
      of a rollout), else a rollback: it undoes `enable-production` and `enable-beta`;
    - a `true` or `false` whose actors are not known proves nothing. Deletes elsewhere prove nothing.
    """
    facts: list[StepFact] = []
    fully_on = False  # on for everyone on production, as the events so far tell
    for event in events:
        if event.change == "deleted":
            if event.env == "production":
                if fully_on:
                    facts.append(StepFact("cleanup", True, event))
                else:
                    facts += [
                        StepFact("enable-production", False, event),
                        StepFact("enable-beta", False, event),
                    ]
                fully_on = False
            continue
        if event.actors is None:
            continue
        everyone = event.actors == ()
        if event.env == "staging" and everyone and event.change in ("on", "off"):
            facts.append(StepFact("enable-staging", event.change == "on", event))
        if event.env != "production":
            continue
        if everyone:
            fully_on = event.change == "on"
        if not everyone and event.change in ("on", "off"):
            facts.append(StepFact("enable-beta", event.change == "on", event))
        elif everyone and event.change == "on":
            facts.append(StepFact("enable-production", True, event))
        elif everyone and event.change == "off":
            facts += [StepFact("enable-production", False, event), StepFact("enable-beta", False, event)]
        elif everyone and event.kind == "percentage_of_actors" and event.percentage is not None:
            facts.append(StepFact(f"ramp-{event.percentage:g}", True, event))
    return facts


def production_changes(events: Iterable[ChatopsEvent]) -> list[tuple[str, bool]]:
    """(time, partly on) for each change of the flag for everyone on production: whether it left the
    flag on for a percentage between 0 and 100."""
    return [
        (event.at, event.change == "percentage")
        for event in events
        if event.env == "production" and (event.actors == () or event.change == "deleted")
    ]


def chronological(events: Iterable[ChatopsEvent]) -> list[ChatopsEvent]:
    """The events oldest first (an unreadable time first; equal times keep their order)."""
    listed = list(events)
    return [
        event
        for _, _, event in sorted(
            ((Timestamp.of(event.at).moment, index, event) for index, event in enumerate(listed)),
            key=lambda entry: (entry[0] is not None, entry[0].timestamp() if entry[0] else 0.0, entry[1]),
        )
    ]


def evidence_of(events: Sequence[ChatopsEvent]) -> list[Evidence]:
    """The steps the events prove (`step_facts`), as evidence beside the notes'."""
    return [
        Evidence(
            fact.step,
            fact.done,
            "chatops",
            fact.event.at,
            fact.event.by,
            fact.event.describe(),
            fact.event.note_id,
        )
        for fact in step_facts(events)
    ]


def timeline_of(events: Sequence[ChatopsEvent]) -> list[TimelineEvent]:
    """The events as `status --timeline` tells them, each with the step it proves (if one)."""
    proves = {id(fact.event): fact.step for fact in step_facts(events) if fact.done}
    return [
        TimelineEvent(event.at, event.by, "chatops", proves.get(id(event)), event.describe())
        for event in events
    ]
