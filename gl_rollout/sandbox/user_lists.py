"""Feature flag user lists (`Operations::FeatureFlags::UserList`): validation and writes.

A list has a global `id` (what a `gitlabUserList` strategy's `user_list_id` names) and a per-project
`iid` (what the API's URLs name); neither is ever reused. `user_xids` is one comma-separated string.
"""

from __future__ import annotations

import re
from typing import Any

from gl_rollout.sandbox.flag_store import invalid, next_id, next_in_sequence, user_list_by_id
from gl_rollout.sandbox.service import message_error
from gl_rollout.sandbox.store import Row, Store

USER_XID_MAX = 256
USER_XIDS_MESSAGE = (
    f"must be a string of unique comma separated values each {USER_XID_MAX} characters or less"
)


def valid_user_xids(value: Any) -> bool:
    """FeatureFlagUserXidsValidator: unique, comma-separated, each present, unpadded, <= 256 chars."""
    if not isinstance(value, str) or re.search(r"[\n\r\t]|,,", value):
        return False
    parts = value.split(",")
    while parts and parts[-1] == "":  # Ruby's split drops trailing empty fields
        parts.pop()
    if len(set(parts)) != len(parts):
        return False
    return all(part and part.strip() == part and len(part) <= USER_XID_MAX for part in parts)


def _user_list_errors(store: Store, project: Row, name: Any, user_xids: Any, own_id: int | None) -> list[str]:
    messages: list[str] = []
    text = name if isinstance(name, str) else ""
    if not text.strip():
        messages.append("Name can't be blank")
    other = store.one("SELECT id FROM ff_user_lists WHERE project_id = ? AND name = ?", (project["id"], text))
    if other is not None and other["id"] != own_id:
        messages.append("Name has already been taken")
    if len(text) < 1:
        messages.append("Name is too short (minimum is 1 character)")
    elif len(text) > 255:
        messages.append("Name is too long (maximum is 255 characters)")
    if not valid_user_xids(user_xids):
        messages.append(f"User xids user_xids {USER_XIDS_MESSAGE}")
    return messages


def create_user_list(store: Store, project: Row, name: str, user_xids: str) -> Row:
    with store.transaction():
        messages = _user_list_errors(store, project, name, user_xids, None)
        if messages:
            raise invalid(messages)
        now = store.now_ms()
        list_id = next_id(store, "ff_user_lists")
        iid = next_in_sequence(store, f"seq:ff_user_lists:iid:{project['id']}")
        store.execute(
            "INSERT INTO ff_user_lists (id, project_id, iid, name, user_xids, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (list_id, project["id"], iid, name, user_xids, now, now),
        )
    created = user_list_by_id(store, list_id)
    assert created is not None
    return created


def update_user_list(store: Store, project: Row, user_list: Row, changes: dict[str, Any]) -> Row:
    with store.transaction():
        name = changes.get("name", user_list["name"])
        user_xids = changes.get("user_xids", user_list["user_xids"])
        messages = _user_list_errors(store, project, name, user_xids, user_list["id"])
        if messages:
            raise invalid(messages)
        if (name, user_xids) != (user_list["name"], user_list["user_xids"]):
            store.execute(
                "UPDATE ff_user_lists SET name = ?, user_xids = ?, updated_at = ? WHERE id = ?",
                (name, user_xids, store.now_ms(), user_list["id"]),
            )
    updated = user_list_by_id(store, user_list["id"])
    assert updated is not None
    return updated


def delete_user_list(store: Store, user_list: Row) -> None:
    """A list a strategy still uses is kept: 409 with the model's base error."""
    with store.transaction():
        if store.one("SELECT id FROM ff_strategies WHERE user_list_id = ?", (user_list["id"],)):
            raise message_error(409, ["User list is associated with a strategy"])
        store.execute("DELETE FROM ff_user_lists WHERE id = ?", (user_list["id"],))
