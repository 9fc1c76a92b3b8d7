"""Resource events: who added or removed a label or milestone, and who closed or reopened an issue, when.

GitLab records these changes as resource events, not as system notes (label events since 11.3,
milestone events since 13.1, state events since 13.2), and serves them at
`/projects/:id/issues/:issue_iid/resource_{label,milestone,state}_events` (doc/api/resource_*_events.md):
oldest first, paginated, each with `user`, `created_at`, `resource_type`, `resource_id` and the change.

`Quirks.resource_events = False` is a GitLab from before them: the three routes do not exist (404
`{"error": "404 Not Found"}`) and the changes are system notes ("added ~x label", "closed", "changed
milestone to %x"), as the sandbox wrote them before. The routes are in `event_routes.py`.
"""

from __future__ import annotations

from typing import Any

from gl_rollout.sandbox import entities
from gl_rollout.sandbox.store import Row, Store

KINDS = {
    "label": "resource_label_events",
    "milestone": "resource_milestone_events",
    "state": "resource_state_events",
}


def as_notes(store: Store) -> bool:
    """Whether this sandbox answers as a GitLab without resource events (they become system notes)."""
    quirks = store.quirks
    return quirks is not None and not quirks.resource_events


def record(
    store: Store,
    issue: Row,
    user_id: int,
    kind: str,
    *,
    at: int | None = None,
    label_id: int | None = None,
    milestone_id: int | None = None,
    action: str | None = None,
    state: str | None = None,
) -> None:
    """Store one event (`kind` label|milestone|state); `action` add|remove, `state` closed|reopened."""
    store.execute(
        "INSERT INTO resource_events (kind, issue_id, user_id, created_at, label_id, milestone_id, action, "
        "state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, issue["id"], user_id, at if at is not None else store.now_ms(), label_id, milestone_id,
         action, state),
    )  # fmt: skip


def record_labels(store: Store, issue: Row, user_id: int, added: list[str], removed: list[str]) -> None:
    for action, names in (("add", added), ("remove", removed)):
        for name in names:
            label = store.label(issue["project_id"], name)
            if label is not None:
                record(store, issue, user_id, "label", label_id=label["id"], action=action)


def events_of(store: Store, issue_id: int, kind: str) -> list[Row]:
    return store.all(
        "SELECT * FROM resource_events WHERE issue_id = ? AND kind = ? ORDER BY id", (issue_id, kind)
    )


def event_entity(store: Store, event: Row, issue: Row, base_url: str) -> dict[str, Any]:
    """The entity of `lib/api/entities/resource_{label,milestone,state}_event.rb`."""
    user = store.user(event["user_id"])
    entity: dict[str, Any] = {
        "id": event["id"],
        "user": entities.user_basic(user, base_url) if user else None,
        "created_at": entities.iso_time(event["created_at"]),
        "resource_type": "Issue",
        "resource_id": issue["id"],
    }
    if event["kind"] == "label":
        label = store.one("SELECT * FROM labels WHERE id = ?", (event["label_id"],))
        entity["label"] = _label_basic(label) if label else None
        entity["action"] = event["action"]
    elif event["kind"] == "milestone":
        milestone = store.milestone(event["milestone_id"]) if event["milestone_id"] else None
        project = store.project(issue["project_id"])
        path = project["full_path"] if project else ""
        entity["milestone"] = (
            entities.milestone_entity(milestone, issue["project_id"], base_url, path) if milestone else None
        )
        entity["action"] = event["action"]
        entity["state"] = milestone["state"] if milestone else None
    else:
        entity["source_commit"] = None
        entity["source_merge_request_id"] = None
        entity["state"] = event["state"]
    return entity


def _label_basic(label: Row) -> dict[str, Any]:
    """`Entities::LabelBasic`."""
    return {
        "id": label["id"],
        "name": label["name"],
        "color": label["color"],
        "description": label["description"],
        "description_html": "",
        "text_color": "#FFFFFF",
        "remove_on_close": False,
    }
