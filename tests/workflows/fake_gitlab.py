"""An in-memory GitLab behind the `GitLabAPI` Protocol, for use-case tests without HTTP.

It keeps issues, notes and feature flags in dictionaries and answers as GitLab does where the use cases
depend on it: every description edit leaves GitLab's system notes ("marked the checklist item **X** as
completed|incomplete" per box that flipped, else "changed the description"), note IDs and timestamps
only grow (a clock injected as a counter: each write is 10 ms after the last), and every method is one
request (one per page for lists), counted in `requests`. `before_next_update` runs an edit of "another
person" right before the next PUT, as `Faults.edit_before_next_write` does in the sandbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.freezes import FreezePeriod
from gl_rollout.core.merge_requests import FileDiff, MergeRequest
from gl_rollout.core.model import Feature, Gate, Issue, IssueQuery, Note, User
from gl_rollout.core.project_flag import ProjectFlag, UserListRef
from gl_rollout.core.times import Timestamp, timestamp_at
from gl_rollout.errors import GitLabError
from gl_rollout.gitlab.flag_decoding import project_flag_from_json

START = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


@dataclass
class _Stored:
    issue: Issue
    notes: list[Note] = field(default_factory=list)


@dataclass
class _StoredMR:
    mr: MergeRequest
    diffs: list[FileDiff]
    files: dict[str, str]  # path -> content at the source branch
    closes: list[tuple[str, int]]
    notes: list[Note] = field(default_factory=list)


class FakeGitLab:
    """A GitLab in memory: projects by path, issues by (project, iid). See the module docstring."""

    def __init__(
        self, url: str = "https://gitlab.example", *, user: str = "dev", admin: bool = False
    ) -> None:
        self.url = url
        self.user = user
        self.admin = admin
        self.requests: list[str] = []
        self.features: dict[str, Feature] = {}
        self.before_next_update: Callable[[], None] | None = None
        # Run around each note this client posts: before it is stored (another runner's comment gets the
        # lower id) or after, with the note, before the answer comes back (issue 15's claim-then-verify).
        self.before_create_note: Callable[[], None] | None = None
        self.after_create_note: Callable[[Note], None] | None = None
        self.refuse_deletes: int | None = None  # the status DELETE of a note answers with instead of 204
        # Run before each listing of notes with its number (1, 2, ...): another runner acting between reads.
        self.before_list_notes: Callable[[int], None] | None = None
        self._notes_listed = 0
        self._issues: dict[tuple[str, int], _Stored] = {}
        self._ticks = 0
        self._ids = 0
        self.milestones = {"17.0": 1}
        self.users = {"dev": 2, "alice": 3}
        self.freeze_periods: dict[str, list[FreezePeriod]] = {}
        # project feature flags as GitLab's API returns them (JSON), by (project, name)
        self.project_flags: dict[tuple[str, str], dict[str, Any]] = {}
        self.user_lists: dict[str, list[UserListRef]] = {}
        self.environments: dict[str, list[str]] = {}
        self.reporter_only = False  # the token's role: Reporter cannot write flags (403)
        self.merge_requests: dict[tuple[str, int], _StoredMR] = {}
        self.links: set[frozenset[tuple[str, int]]] = set()

    # --- the clock and IDs ---------------------------------------------------------------------------------

    def now(self) -> str:
        """The next moment, 10 ms after the last one, as GitLab writes it."""
        self._ticks += 1
        moment = START + dt.timedelta(milliseconds=10 * self._ticks)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (the ramp runner's waits, issue 15)."""
        self._ticks += int(seconds * 100)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _stored(self, project: str, iid: int) -> _Stored:
        try:
            return self._issues[(project, iid)]
        except KeyError:
            raise GitLabError(f"project {project} or its issue #{iid} not found (404)", status=404) from None

    # --- what tests read and do directly -------------------------------------------------------------------

    def issue(self, project: str, iid: int) -> Issue:
        return self._stored(project, iid).issue

    def notes_of(self, project: str, iid: int) -> list[Note]:
        return list(self._stored(project, iid).notes)

    def edit(self, project: str, iid: int, description: str, author: str = "alice") -> Issue:
        """Another person edits the description (in GitLab's web UI): system notes as GitLab writes them."""
        stored = self._stored(project, iid)
        old = stored.issue.description
        stored.issue = replace(stored.issue, description=description, updated_at=self.now())
        self._note_edit(stored, old, description, author)
        return stored.issue

    def comment(self, project: str, iid: int, body: str, author: str) -> Note:
        """A comment by someone else (ChatOps' bot, a person), as GitLab stores it."""
        stored = self._stored(project, iid)
        note = Note(self._next_id(), body, author, self.now())
        stored.notes.append(note)
        return note

    def close(self, project: str, iid: int) -> Issue:
        stored = self._stored(project, iid)
        stored.issue = replace(stored.issue, state="closed", updated_at=self.now())
        return stored.issue

    def _note_edit(self, stored: _Stored, old: str, new: str, author: str) -> None:
        """GitLab's notes for an edit: one per task item that flipped (items paired in order, as GitLab
        pairs them), or "changed the description" when no box flipped or the items no longer pair up."""
        before, after = parse_checklist(old).steps, parse_checklist(new).steps
        flips = []
        if [s.state == "skipped" for s in before] == [s.state == "skipped" for s in after]:
            for was, step in zip(before, after, strict=True):
                if was.state != step.state:
                    item = step.source.split("]", 1)[1].strip()
                    status = "completed" if step.state == "done" else "incomplete"
                    flips.append(f"marked the checklist item **{item}** as {status}")
        if not flips and old != new:
            flips = ["changed the description"]
        for body in flips:
            stored.notes.append(Note(self._next_id(), body, author, self.now(), system=True))

    # --- GitLabAPI -----------------------------------------------------------------------------------------

    def current_user(self) -> User:
        self.requests.append("GET /user")
        return User(1 if self.admin else 2, self.user, is_admin=self.admin)

    def get_issue(self, project: str, iid: int) -> Issue:
        self.requests.append(f"GET issue {iid}")
        return self._stored(project, iid).issue

    def list_issues(self, query: IssueQuery) -> Iterator[Issue]:
        found = [
            stored.issue
            for (project, _), stored in sorted(self._issues.items())
            if (query.project is None or project == query.project)
            and (query.group is None or project.startswith(query.group + "/"))
            and query.state in (stored.issue.state, "all")
            and all(label in stored.issue.labels for label in query.labels)
            and (query.search is None or query.search in _searched(stored.issue, query.search_in))
            and (not query.iids or stored.issue.iid in query.iids)
            and (query.issue_type is None or stored.issue.raw.get("issue_type", "issue") == query.issue_type)
        ]
        found.sort(key=lambda issue: getattr(issue, query.order_by), reverse=query.sort == "desc")
        page = 0
        while True:
            self.requests.append(f"GET issues page {page + 1}")
            batch = found[page * query.per_page : (page + 1) * query.per_page]
            yield from batch
            page += 1
            if page * query.per_page >= len(found):
                return

    def create_issue(self, project: str, fields: Mapping[str, Any]) -> Issue:
        self.requests.append("POST issue")
        iid = 1 + max((i for p, i in self._issues if p == project), default=0)
        labels = fields.get("labels", ())
        labels = tuple(labels.split(",") if isinstance(labels, str) else labels)
        now = self.now()
        issue = Issue(
            id=self._next_id(), iid=iid, project_id=42, title=str(fields["title"]),
            description=str(fields.get("description", "")), state="opened", labels=labels,
            web_url=f"{self.url}/{project}/-/issues/{iid}", reference=f"{project}#{iid}",
            created_at=now, updated_at=now, author=self.user,
        )  # fmt: skip
        self._issues[(project, iid)] = _Stored(issue)
        return issue

    def update_issue(self, project: str, iid: int, fields: Mapping[str, Any]) -> Issue:
        if self.before_next_update is not None:
            person, self.before_next_update = self.before_next_update, None
            person()
        self.requests.append(f"PUT issue {iid}")
        stored = self._stored(project, iid)
        old = stored.issue
        labels = list(old.labels)
        for name in _names(fields.get("remove_labels")):
            labels = [label for label in labels if label != name]
        labels += [name for name in _names(fields.get("add_labels")) if name not in labels]
        description = str(fields.get("description", old.description))
        # GitLab saves first, then writes the edit's system notes: they come right after `updated_at`.
        stored.issue = replace(old, description=description, labels=tuple(labels), updated_at=self.now())
        self._note_edit(stored, old.description, description, self.user)
        return stored.issue

    def list_notes(
        self, project: str, iid: int, *, sort: str = "asc", per_page: int = 100, max_pages: int | None = None
    ) -> list[Note]:
        self._notes_listed += 1
        if self.before_list_notes is not None:
            self.before_list_notes(self._notes_listed)
        notes = sorted(self._stored(project, iid).notes, key=lambda n: n.id, reverse=sort == "desc")
        pages = max(1, -(-len(notes) // per_page))
        if max_pages is not None:
            pages = min(pages, max_pages)
        self.requests.extend(f"GET notes page {n + 1}" for n in range(pages))
        return notes[: pages * per_page]

    def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
        self.requests.append("POST note")
        if self.before_create_note is not None:
            self.before_create_note()
        stored = self._stored(project, iid)
        note = Note(self._next_id(), body, self.user, self.now(), internal=internal)
        stored.notes.append(note)
        stored.issue = replace(stored.issue, updated_at=note.created_at)
        if self.after_create_note is not None:
            self.after_create_note(note)
        return note

    def delete_note(self, project: str, iid: int, note_id: int) -> None:
        self.requests.append("DELETE note")
        stored = self._stored(project, iid)
        if self.refuse_deletes is not None:
            status = self.refuse_deletes
            raise GitLabError(f"GitLab refused to delete comment {note_id} ({status})", status=status)
        note = next((n for n in stored.notes if n.id == note_id), None)
        if note is None:
            return  # already gone: as the client, which takes GitLab's 404 as done
        if note.system or (note.author != self.user and not self.admin):
            raise GitLabError(f"GitLab refused to delete comment {note_id} (403)", status=403)
        stored.notes.remove(note)

    def find_user_ids(self, usernames: list[str]) -> dict[str, int]:
        self.requests.extend("GET /users" for _ in usernames)
        return {name: self.users[name] for name in usernames if name in self.users}

    def find_milestone_id(self, project: str, title: str) -> int | None:
        self.requests.append("GET milestones")
        return self.milestones.get(title)

    def list_features(self) -> list[Feature]:
        self.requests.append("GET /features")
        return list(self.features.values())

    def set_feature(self, name: str, params: Mapping[str, Any]) -> Feature:
        self.requests.append(f"POST /features/{name}")
        value = params.get("value")
        actors = [str(params[key]) for key in ("project", "group", "user") if params.get(key)]
        key = params.get("key")
        if actors:
            gates: tuple[Gate, ...] = (Gate("boolean", False), Gate("actors", actors))
        elif value is True or value in ("true", "100") or (type(value) is int and value == 100):
            gates = (Gate("boolean", True),)
        elif type(value) is int and 0 < value < 100 and key in ("percentage_of_actors", "percentage_of_time"):
            # a percentage gate is set beside the others, as Flipper does (a boolean gate stays)
            kept = self.features[name].gates if name in self.features else (Gate("boolean", False),)
            gates = (*(gate for gate in kept if gate.key != key), Gate(str(key), value))
        else:
            gates = (Gate("boolean", False),)
        on = any(gate.key == "boolean" and gate.value is True for gate in gates)
        self.features[name] = Feature(name, "on" if on else "conditional", gates)
        return self.features[name]

    def delete_feature(self, name: str) -> None:
        self.requests.append(f"DELETE /features/{name}")
        self.features.pop(name, None)

    def list_freeze_periods(self, project: str) -> list[FreezePeriod]:
        self.requests.append(f"GET freeze_periods {project}")
        return list(self.freeze_periods.get(project, []))

    def server_time(self) -> Timestamp | None:
        """The fake's clock as its last answer would date it (no request)."""
        if not self._ticks:
            return None
        return timestamp_at(START + dt.timedelta(milliseconds=10 * self._ticks))

    # --- project feature flags ----------------------------------------------------------------------------

    def flag_json(self, project: str, name: str) -> dict[str, Any]:
        return self.project_flags[(project, name)]

    def edit_flag(self, project: str, name: str, fields: Mapping[str, Any]) -> None:
        """Someone changes the flag by hand (GitLab's UI): the same update, not counted as our request."""
        self._update_flag(project, name, fields)

    def get_project_flag(self, project: str, name: str) -> ProjectFlag | None:
        self.requests.append(f"GET flag {name}")
        data = self.project_flags.get((project, name))
        return project_flag_from_json(data) if data is not None else None

    def _writable(self) -> None:
        if self.reporter_only:
            raise GitLabError("403 Forbidden: the token's role cannot change feature flags", status=403)

    def create_project_flag(self, project: str, fields: Mapping[str, Any]) -> ProjectFlag:
        self.requests.append("POST flag")
        self._writable()
        name = str(fields["name"])
        if (project, name) in self.project_flags:
            raise GitLabError("400 Bad request: Name has already been taken", status=400)
        now = self.now()
        self.project_flags[(project, name)] = {
            "name": name, "description": fields.get("description"),
            "active": bool(fields.get("active", True)), "version": fields.get("version", "new_version_flag"),
            "created_at": now, "updated_at": now, "strategies": [],
        }  # fmt: skip
        for strategy in fields.get("strategies") or ():
            self._add_strategy(project, name, strategy)
        return project_flag_from_json(self.project_flags[(project, name)])

    def update_project_flag(self, project: str, name: str, fields: Mapping[str, Any]) -> ProjectFlag:
        self.requests.append(f"PUT flag {name}")
        self._writable()
        self._update_flag(project, name, fields)
        return project_flag_from_json(self.project_flags[(project, name)])

    def _update_flag(self, project: str, name: str, fields: Mapping[str, Any]) -> None:
        """Rails nested attributes, as GitLab applies them: an `id` changes (or, with `_destroy`, removes)
        that strategy or scope, no `id` adds one. `updated_at` moves only with the flag's own fields."""
        flag = self.project_flags[(project, name)]
        if "active" in fields and bool(fields["active"]) != flag["active"]:
            flag["active"] = bool(fields["active"])
            flag["updated_at"] = self.now()
        for attrs in fields.get("strategies") or ():
            if "id" not in attrs:
                self._add_strategy(project, name, attrs)
                continue
            strategy = next(s for s in flag["strategies"] if s["id"] == attrs["id"])
            if attrs.get("_destroy"):
                flag["strategies"].remove(strategy)
                continue
            for key in ("name", "parameters"):
                if key in attrs:
                    strategy[key] = attrs[key]
            if "user_list_id" in attrs:
                strategy["user_list"] = self._user_list_json(project, attrs["user_list_id"])
            for scope in attrs.get("scopes") or ():
                if "id" not in scope:
                    strategy["scopes"].append({"id": self._next_id(), **scope})
                elif scope.get("_destroy"):
                    strategy["scopes"] = [s for s in strategy["scopes"] if s["id"] != scope["id"]]
                else:
                    next(s for s in strategy["scopes"] if s["id"] == scope["id"]).update(scope)

    def _add_strategy(self, project: str, name: str, attrs: Mapping[str, Any]) -> None:
        strategy: dict[str, Any] = {
            "id": self._next_id(), "name": attrs["name"], "parameters": dict(attrs.get("parameters") or {}),
            "scopes": [{"id": self._next_id(), **scope} for scope in attrs.get("scopes") or ()],
        }  # fmt: skip
        if "user_list_id" in attrs:
            strategy["user_list"] = self._user_list_json(project, attrs["user_list_id"])
        self.project_flags[(project, name)]["strategies"].append(strategy)

    def _user_list_json(self, project: str, list_id: int) -> dict[str, Any]:
        found = next(ul for ul in self.user_lists.get(project, []) if ul.id == list_id)
        return {"id": found.id, "iid": found.iid, "name": found.name, "user_xids": found.user_xids}

    def find_user_list(self, project: str, name: str) -> UserListRef | None:
        self.requests.append("GET user lists")
        return next((ul for ul in self.user_lists.get(project, []) if ul.name == name), None)

    def list_environment_names(self, project: str) -> list[str]:
        self.requests.append("GET environments")
        return list(self.environments.get(project, []))

    # --- merge requests ------------------------------------------------------------------------------------

    def add_merge_request(
        self,
        project: str,
        iid: int,
        files: Mapping[str, str],
        *,
        closes: tuple[tuple[str, int], ...] = (),
        collapsed: tuple[str, ...] = (),
        edited: Mapping[str, str] | None = None,
    ) -> MergeRequest:
        """An MR adding `files` (path -> content; paths in `collapsed` come with an empty diff) and
        editing `edited`, closing the issues `closes`."""
        mr = MergeRequest(
            iid, 42, f"Add {len(files)} files", "opened", f"feature-{iid}", f"{iid:040x}",
            f"{self.url}/{project}/-/merge_requests/{iid}", f"{project}!{iid}",
        )  # fmt: skip
        diffs = [
            FileDiff(
                path,
                path,
                True,
                False,
                False,
                "" if path in collapsed else _added_diff(text),
                path in collapsed,
            )
            for path, text in files.items()
        ]
        diffs += [FileDiff(p, p, False, False, False, "@@ -1 +1 @@\n-a\n+b\n") for p in edited or {}]
        self.merge_requests[(project, iid)] = _StoredMR(mr, diffs, {**(edited or {}), **files}, list(closes))
        return mr

    def _mr(self, project: str, iid: int) -> _StoredMR:
        try:
            return self.merge_requests[(project, iid)]
        except KeyError:
            raise GitLabError(f"merge request {project}!{iid} not found (404)", status=404) from None

    def get_merge_request(self, project: str, iid: int) -> MergeRequest:
        self.requests.append(f"GET mr {iid}")
        return self._mr(project, iid).mr

    def list_merge_request_diffs(self, project: str, iid: int) -> list[FileDiff]:
        self.requests.append(f"GET mr {iid} diffs")
        return list(self._mr(project, iid).diffs)

    def get_raw_file(self, project: str, path: str, ref: str) -> str:
        self.requests.append(f"GET raw {path}")
        for stored in self.merge_requests.values():
            if ref in (stored.mr.sha, stored.mr.source_branch) and path in stored.files:
                return stored.files[path]
        raise GitLabError(f"file {path} at {ref} not found (404)", status=404)

    def list_merge_request_closing_issues(self, project: str, iid: int) -> list[Issue]:
        self.requests.append(f"GET mr {iid} closes_issues")
        return [self._stored(p, i).issue for p, i in self._mr(project, iid).closes]

    def list_issue_links(self, project: str, iid: int) -> list[Issue]:
        self.requests.append(f"GET issue {iid} links")
        here = (project, iid)
        return [self._stored(*other).issue for link in self.links if here in link for other in link - {here}]

    def create_issue_link(self, project: str, iid: int, target_project: str, target_iid: int) -> None:
        self.requests.append(f"POST issue {iid} link")
        self._stored(project, iid), self._stored(target_project, target_iid)
        self.links.add(frozenset({(project, iid), (target_project, target_iid)}))

    def list_merge_request_notes(self, project: str, iid: int) -> list[Note]:
        self.requests.append(f"GET mr {iid} notes")
        return sorted(self._mr(project, iid).notes, key=lambda n: n.id, reverse=True)[:100]

    def create_merge_request_note(self, project: str, iid: int, body: str) -> Note:
        self.requests.append(f"POST mr {iid} note")
        note = Note(self._next_id(), body, self.user, self.now())
        self._mr(project, iid).notes.append(note)
        return note

    def request_count(self) -> int:
        return len(self.requests)


def _searched(issue: Issue, search_in: str | None) -> str:
    fields = (search_in or "title,description").split(",")
    return " ".join(getattr(issue, name) for name in fields)


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [name for name in value.split(",") if name]
    return [str(name) for name in value or ()]


def _added_diff(text: str) -> str:
    """A new file's diff as GitLab gives it: one hunk of `+` lines, no file header."""
    lines = text.splitlines()
    return f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)
