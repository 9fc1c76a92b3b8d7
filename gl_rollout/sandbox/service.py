"""What GitLab does when an issue or note is written: validation, quick actions, labels, system notes.

Used by the HTTP handlers and by the Python helpers on `Sandbox`, so both behave the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gl_rollout.sandbox import events, quickactions
from gl_rollout.sandbox.store import REPORTER, Row, Store, decode_list
from gl_rollout.sandbox.tasks import flipped_items

TITLE_MAX = 255
DESCRIPTION_MAX = 1_048_576
NOTE_MAX = 1_000_000


class ApiError(Exception):
    """An HTTP error answer: status, JSON (or text) body, extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def message_error(status: int, message: Any) -> ApiError:
    return ApiError(status, {"message": message})


def param_error(text: str) -> ApiError:
    """Grape's parameter-validation error: 400 `{"error": "..."}`."""
    return ApiError(400, {"error": text})


def validation_error(field_name: str, text: str) -> ApiError:
    """A model validation error: 400 with `message` as a dict of field -> messages."""
    return ApiError(400, {"message": {field_name: [text]}})


def note_error(text: str) -> ApiError:
    """The notes API's answer to an invalid note: `bad_request!("Note #{note.errors.messages}")`."""
    return ApiError(400, {"message": f'400 Bad request - Note {{:note=>["{text}"]}}'})


def check_length(field_name: str, value: str | None, maximum: int) -> None:
    if value is not None and len(value) > maximum:
        raise validation_error(field_name, f"is too long (maximum is {maximum} characters)")


@dataclass
class Changes:
    """The attribute changes one request asks for, after quick actions were merged in."""

    values: dict[str, Any] = field(default_factory=dict)
    add_labels: list[str] = field(default_factory=list)
    remove_labels: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    commands_changes: dict[str, Any] = field(default_factory=dict)


def available_commands(store: Store, project: Row, issue: Row | None, actor: Row) -> frozenset[str]:
    """The quick actions whose GitLab condition holds (`issue` is None while creating).

    From `Gitlab::QuickActions::IssueAndMergeRequestActions` and friends: label commands need project
    labels (and, to remove, labels on the issue); close/reopen, title and the removals need a saved
    issue in the matching state; all of them need the Reporter role (`admin_issue`) or better.
    """
    level = store.access_level(actor, project)
    if level < REPORTER:
        return frozenset()
    names = {"assign", "due", "confidential"}
    if store.labels(project["id"]):
        names |= {"label", "labels"}
    if store.one("SELECT id FROM milestones WHERE project_id = ?", (project["id"],)):
        names.add("milestone")
    if issue is not None:
        names.add("title")
        names.add("close" if issue["state"] == "opened" else "reopen")
        if decode_list(issue["labels"]):
            names |= {"unlabel", "remove_label", "relabel"}
        if decode_list(issue["assignee_ids"]):
            names.add("unassign")
        if issue["due_date"]:
            names.add("remove_due_date")
        if issue["milestone_id"]:
            names.add("remove_milestone")
        if issue["confidential"]:
            names.discard("confidential")
    return frozenset(names)


def _existing_labels(store: Store, project: Row, arg: str) -> list[Row]:
    """Quick actions name labels that must already exist (GitLab's LabelsFinder); others are ignored."""
    found: list[Row] = []
    for name in quickactions.label_names(arg):
        label = store.label(project["id"], name)
        if label is not None and label not in found:
            found.append(label)
    return found


def store_today(store: Store) -> dt.date:
    """Today's date (UTC) on the sandbox clock."""
    return dt.datetime.fromtimestamp(store.clock_ms() / 1000, tz=dt.UTC).date()


def apply_commands(
    store: Store, project: Row, actor: Row, commands: list[quickactions.Command], changes: Changes
) -> None:
    """Turn quick actions into attribute changes (GitLab merges them into the request's params)."""
    for command in commands:
        name, arg = command.name, command.arg
        if name in ("label", "labels"):
            labels = _existing_labels(store, project, arg)
            if labels:
                names = [lab["name"] for lab in labels]
                changes.add_labels.extend(n for n in names if n not in changes.add_labels)
                changes.commands_changes.setdefault("add_label_ids", []).extend(lab["id"] for lab in labels)
                refs = " ".join(quickactions.label_reference(n) for n in names)
                changes.summary.append(f"Added {refs} {'label' if len(names) == 1 else 'labels'}.")
        elif name in ("unlabel", "remove_label"):
            if arg:
                labels = _existing_labels(store, project, arg)
                names = [lab["name"] for lab in labels]
                changes.remove_labels.extend(names)
                changes.commands_changes.setdefault("remove_label_ids", []).extend(
                    lab["id"] for lab in labels
                )
                if names:
                    refs = " ".join(quickactions.label_reference(n) for n in names)
                    changes.summary.append(f"Removed {refs} {'label' if len(names) == 1 else 'labels'}.")
            else:
                changes.values["labels"] = []
                changes.commands_changes["label_ids"] = []
                changes.summary.append("Removed all labels.")
        elif name == "relabel":
            labels = _existing_labels(store, project, arg)
            names = [lab["name"] for lab in labels]
            if not names:
                continue
            changes.values["labels"] = names
            changes.commands_changes["label_ids"] = [lab["id"] for lab in labels]
            changes.summary.append(
                "Replaced all labels with "
                + " ".join(quickactions.label_reference(n) for n in names)
                + (" label." if len(names) == 1 else " labels.")
            )
        elif name == "assign":
            users = _users(store, actor, arg)
            if users:
                current = changes.values.get("assignee_ids")
                ids = list(current) if isinstance(current, list) else []
                ids.extend(u["id"] for u in users if u["id"] not in ids)
                changes.values["assignee_ids"] = ids
                changes.values["_assign_add"] = True
                changes.commands_changes["assignee_ids"] = ids
                changes.summary.append("Assigned " + ", ".join(f"@{u['username']}" for u in users) + ".")
        elif name == "unassign":
            changes.values["assignee_ids"] = []
            changes.commands_changes["assignee_ids"] = []
            changes.summary.append("Removed assignees.")
        elif name == "due":
            due = quickactions.parse_due(arg, store_today(store))
            if due is not None:
                changes.values["due_date"] = due.isoformat()
                changes.commands_changes["due_date"] = due.isoformat()
                changes.summary.append(f"Set the due date to {_long_date(due)}.")
        elif name == "remove_due_date":
            changes.values["due_date"] = None
            changes.commands_changes["due_date"] = None
            changes.summary.append("Removed the due date.")
        elif name in ("close", "reopen"):
            changes.values["state_event"] = name
            changes.commands_changes["state_event"] = name
            changes.summary.append("Closed this issue." if name == "close" else "Reopened this issue.")
        elif name == "title" and arg:
            changes.values["title"] = arg
            changes.commands_changes["title"] = arg
            changes.summary.append(f'Changed the title to "{arg}".')
        elif name == "confidential":
            changes.values["confidential"] = True
            changes.commands_changes["confidential"] = True
            changes.summary.append("Made this issue confidential.")
        elif name == "milestone":
            title = arg.lstrip("%").strip('"')
            row = store.one(
                "SELECT * FROM milestones WHERE project_id = ? AND title = ?", (project["id"], title)
            )
            if row is not None:
                changes.values["milestone_id"] = row["id"]
                changes.commands_changes["milestone_id"] = row["id"]
                changes.summary.append(f"Set the milestone to %{row['title']}.")
        elif name == "remove_milestone":
            changes.values["milestone_id"] = None
            changes.commands_changes["milestone_id"] = None
            changes.summary.append("Removed the milestone.")


def _users(store: Store, actor: Row, arg: str) -> list[Row]:
    found: list[Row] = []
    for name in quickactions.usernames(arg):
        user = actor if name == "me" else store.user_by_username(name)
        if user is not None and user not in found:
            found.append(user)
    return found


def _long_date(day: dt.date) -> str:
    return f"{day.strftime('%b')} {day.day}, {day.year}"


def _label_note(added: list[str], removed: list[str]) -> str:
    def refs(names: list[str]) -> str:
        word = "label" if len(names) == 1 else "labels"
        return " ".join(quickactions.label_reference(n) for n in names) + f" {word}"

    parts = []
    if added:
        parts.append(f"added {refs(added)}")
    if removed:
        parts.append(f"removed {refs(removed)}")
    return " and ".join(parts)


def create_issue(store: Store, project: Row, actor: Row, params: dict[str, Any]) -> Row:
    """Create an issue as `POST /projects/:id/issues` does (params already type-checked)."""
    title = params.get("title")
    if title is None:
        raise param_error("title is missing")
    description = params.get("description")
    changes = Changes()
    if description is not None:
        extraction = quickactions.extract(description, available_commands(store, project, None, actor))
        description = extraction.text
        apply_commands(store, project, actor, extraction.commands, changes)
    values = dict(params)
    values.update({k: v for k, v in changes.values.items() if not k.startswith("_")})
    title = str(values.get("title") or "")
    if not title.strip():
        raise validation_error("title", "can't be blank")
    check_length("title", title, TITLE_MAX)
    check_length("description", description, DESCRIPTION_MAX)
    labels: list[str] = list(values.get("labels") or [])
    for name in [*values.get("add_labels", []), *changes.add_labels]:
        if name not in labels:
            labels.append(name)
    removed = set(values.get("remove_labels", [])) | set(changes.remove_labels)
    labels = [name for name in labels if name not in removed]
    label_rows = store.ensure_labels(project["id"], labels)
    now = store.now_ms()
    created_at = values.get("created_at") or now
    state = "closed" if values.get("state_event") == "close" else "opened"
    with store.transaction():
        issue = store.insert_issue(
            {
                "project_id": project["id"],
                "iid": values.get("iid"),
                "title": title,
                "description": description,
                "state": state,
                "author_id": actor["id"],
                "assignee_ids": _valid_assignees(store, values.get("assignee_ids") or []),
                "labels": [row["name"] for row in label_rows],
                "milestone_id": _valid_milestone(store, project, values.get("milestone_id")),
                "due_date": values.get("due_date"),
                "confidential": int(bool(values.get("confidential"))),
                "discussion_locked": None
                if values.get("discussion_locked") is None
                else int(bool(values["discussion_locked"])),
                "issue_type": values.get("issue_type") or "issue",
                "created_at": created_at,
                "updated_at": created_at,
                "closed_at": now if state == "closed" else None,
                "closed_by_id": actor["id"] if state == "closed" else None,
            }
        )
        if state == "closed":
            if events.as_notes(store):
                store.insert_note(issue, actor["id"], "closed", system=True)
            else:
                events.record(store, issue, actor["id"], "state", state="closed")
        if not events.as_notes(store):
            # GitLab records the labels and milestone an issue is created with as events too.
            events.record_labels(store, issue, actor["id"], decode_list(issue["labels"]), [])
            if issue["milestone_id"]:
                events.record(
                    store, issue, actor["id"], "milestone", milestone_id=issue["milestone_id"], action="add"
                )
    return issue


def _milestone_events(
    store: Store, issue: Row, actor: Row, before: int | None, after: int | None
) -> list[Callable[[], None]]:
    """A milestone change as GitLab's `ChangeMilestoneService` records it: one event, "add" of the new
    milestone, or "remove" of the old one when none is left."""
    milestone_id, action = (after, "add") if after else (before, "remove")
    if not milestone_id:
        return []
    return [
        lambda: events.record(
            store, issue, actor["id"], "milestone", milestone_id=milestone_id, action=action
        )
    ]


def _state_event(store: Store, issue: Row, actor: Row, state: str) -> Callable[[], None]:
    return lambda: events.record(store, issue, actor["id"], "state", state=state)


def _valid_assignees(store: Store, ids: list[int]) -> list[int]:
    return [i for i in dict.fromkeys(ids) if i and store.user(i) is not None]


def _valid_milestone(store: Store, project: Row, milestone_id: Any) -> int | None:
    if not milestone_id:
        return None
    row = store.milestone(int(milestone_id))
    return row["id"] if row is not None and row["project_id"] == project["id"] else None


def update_issue(store: Store, project: Row, issue: Row, actor: Row, params: dict[str, Any]) -> Row:
    """Edit an issue as `PUT /projects/:id/issues/:iid` does, writing GitLab's system notes."""
    changes = Changes()
    description = params.get("description")
    if description is not None:
        extraction = quickactions.extract(description, available_commands(store, project, issue, actor))
        params = dict(params, description=extraction.text)
        apply_commands(store, project, actor, extraction.commands, changes)
    merged = dict(params)
    merged.update({k: v for k, v in changes.values.items() if not k.startswith("_")})
    if "title" in merged:
        title = str(merged["title"] or "")
        if not title.strip():
            raise validation_error("title", "can't be blank")
        check_length("title", title, TITLE_MAX)
    check_length("description", merged.get("description"), DESCRIPTION_MAX)
    changes.add_labels = [*merged.get("add_labels", []), *changes.add_labels]
    changes.remove_labels = [*merged.get("remove_labels", []), *changes.remove_labels]
    merged.pop("add_labels", None)
    merged.pop("remove_labels", None)
    with store.transaction():
        return _apply_update(store, project, issue, actor, merged, changes)


def _apply_update(
    store: Store, project: Row, issue: Row, actor: Row, merged: dict[str, Any], changes: Changes
) -> Row:
    fresh = store.issue_by_id(issue["id"])
    if fresh is None or fresh["lock_version"] != issue["lock_version"]:
        # Rails optimistic locking: another write committed between this request's load and its save.
        raise ApiError(409, {"message": "409 Conflict: Resource lock"})
    now = store.now_ms()
    row: dict[str, Any] = {}
    notes: list[str] = []
    recorded: list[Callable[[], None]] = []  # resource events, written after the notes as GitLab does
    if "title" in merged and merged["title"] != issue["title"]:
        row["title"] = merged["title"]
        notes.append(f"changed title from **{issue['title']}** to **{merged['title']}**")
    if "description" in merged and (merged["description"] or "") != (issue["description"] or ""):
        row["description"] = merged["description"]
        flips = flipped_items(issue["description"], merged["description"])
        if flips:
            for item in flips:
                status = "completed" if item.complete else "incomplete"
                notes.append(f"marked the checklist item **{item.label}** as {status}")
        else:
            notes.append("changed the description")
    old_labels = decode_list(issue["labels"])
    labels = list(old_labels)
    if "labels" in merged:
        labels = list(dict.fromkeys(merged["labels"] or []))
    for name in changes.add_labels:
        if name not in labels:
            labels.append(name)
    labels = [name for name in labels if name not in set(changes.remove_labels)]
    if labels != old_labels:
        store.ensure_labels(project["id"], labels)
        row["labels"] = labels
        added = [n for n in labels if n not in old_labels]
        removed = [n for n in old_labels if n not in labels]
        if added or removed:
            if events.as_notes(store):
                notes.append(_label_note(added, removed))
            else:
                recorded.append(lambda: events.record_labels(store, issue, actor["id"], added, removed))
    if "assignee_ids" in merged:
        new_ids = _valid_assignees(store, merged["assignee_ids"] or [])
        old_ids = decode_list(issue["assignee_ids"])
        if new_ids != old_ids:
            row["assignee_ids"] = new_ids
            gained = [store.user(i) for i in new_ids if i not in old_ids]
            lost = [store.user(i) for i in old_ids if i not in new_ids]
            parts = []
            if gained:
                parts.append("assigned to " + " ".join(f"@{u['username']}" for u in gained if u))
            if lost:
                parts.append("unassigned " + " ".join(f"@{u['username']}" for u in lost if u))
            notes.append(" and ".join(parts))
    if "due_date" in merged and merged["due_date"] != issue["due_date"]:
        row["due_date"] = merged["due_date"]
        if merged["due_date"]:
            notes.append(f"changed due date to {_long_date(dt.date.fromisoformat(merged['due_date']))}")
        else:
            notes.append("removed due date")
    if "milestone_id" in merged:
        milestone_id = _valid_milestone(store, project, merged["milestone_id"])
        if milestone_id != issue["milestone_id"]:
            row["milestone_id"] = milestone_id
            milestone = store.milestone(milestone_id) if milestone_id else None
            if events.as_notes(store):
                notes.append(
                    f"changed milestone to %{milestone['title']}" if milestone else "removed milestone"
                )
            else:
                recorded.extend(_milestone_events(store, issue, actor, issue["milestone_id"], milestone_id))
    if "confidential" in merged and bool(merged["confidential"]) != bool(issue["confidential"]):
        row["confidential"] = int(bool(merged["confidential"]))
        notes.append(
            "made the issue confidential" if merged["confidential"] else "made the issue visible to everyone"
        )
    if "discussion_locked" in merged:
        row["discussion_locked"] = int(bool(merged["discussion_locked"]))
    if "issue_type" in merged and merged["issue_type"] != issue["issue_type"]:
        row["issue_type"] = merged["issue_type"]
    event = merged.get("state_event")
    for wanted, before, after in (("close", "opened", "closed"), ("reopen", "closed", "reopened")):
        if event == wanted and issue["state"] == before:
            if after == "closed":
                row.update(state="closed", closed_at=now, closed_by_id=actor["id"])
            else:
                row.update(state="opened", closed_at=None, closed_by_id=None)
            if events.as_notes(store):
                notes.append(after)
            else:
                recorded.append(_state_event(store, issue, actor, after))
    if row:
        row["updated_at"] = merged.get("updated_at") or now
        row["updated_by_id"] = actor["id"]
        store.update_issue(issue["id"], row)
        for body in notes:
            store.insert_note(issue, actor["id"], body, system=True)
        for write in recorded:
            write()
    updated = store.issue_by_id(issue["id"])
    assert updated is not None
    return updated


@dataclass(frozen=True)
class NoteOutcome:
    note: Row | None
    commands_changes: dict[str, Any]
    summary: list[str]


def create_note(
    store: Store,
    project: Row,
    issue: Row,
    actor: Row,
    body: str,
    *,
    internal: bool = False,
    created_at: int | None = None,
) -> NoteOutcome:
    """Post a comment; quick actions in it are applied, and a body of only commands stores no note."""
    if len(body) > NOTE_MAX:
        raise note_error(f"is too long (maximum is {NOTE_MAX} characters)")
    extraction = quickactions.extract(body, available_commands(store, project, issue, actor))
    changes = Changes()
    with store.transaction():
        if extraction.commands:
            apply_commands(store, project, actor, extraction.commands, changes)
            params = {k: v for k, v in changes.values.items() if not k.startswith("_")}
            _apply_update(store, project, issue, actor, params, changes)
        text = extraction.text
        if not text.strip():
            if extraction.commands:
                return NoteOutcome(None, changes.commands_changes, changes.summary)
            raise note_error("can't be blank")
        note = store.insert_note(issue, actor["id"], text, internal=internal, at=created_at)
        store.update_issue(issue["id"], {"updated_at": note["created_at"]})
    return NoteOutcome(note, changes.commands_changes, changes.summary)
