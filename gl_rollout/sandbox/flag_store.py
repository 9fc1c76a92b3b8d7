"""Project feature flags in the sandbox's store: id sequences, the flag limit, reads, and GitLab's entities.

The rows live in the `ff_*` tables of `store.py`; this module reads them back in the shapes of
`API::Entities::FeatureFlag` (with `Strategy`, `Scope`, `BasicUserList`) and
`API::Entities::FeatureFlag::UserList`. Strategy, scope and user-list ids come from sequences of their
own that never reuse a number (as PostgreSQL's do) and start apart (strategies at 1, scopes at 101,
user lists at 1001), so a client that mixes one kind of id up with another is caught.
"""

from __future__ import annotations

import json
from typing import Any

from gl_rollout.sandbox.entities import iso_time
from gl_rollout.sandbox.service import ApiError, message_error
from gl_rollout.sandbox.store import Row, Store

# GitLab.com's plan limits for `project_feature_flags`; 200 is also GitLab's default on self-managed.
PLAN_LIMITS = {"free": 50, "premium": 150, "ultimate": 200}
DEFAULT_FLAG_LIMIT = 200
FLAG_LIMIT_SETTING = "setting:project_feature_flags_limit"
NEW_VERSION_FLAG = "new_version_flag"
_SEQUENCE_BASES = {"ff_flags": 0, "ff_strategies": 0, "ff_scopes": 100, "ff_user_lists": 1000}


def not_found() -> ApiError:
    """`find_by!` failing: ActiveRecord::RecordNotFound, rescued by the API as below."""
    return message_error(404, "404 Not found")


def invalid(messages: list[str]) -> ApiError:
    """`render_api_error!(record.errors.full_messages, 400)`."""
    return message_error(400, messages)


# ---- settings and sequences ----------------------------------------------------------------------
def flag_limit(store: Store) -> int:
    """The project's `project_feature_flags` plan limit; 0 means no limit, as in GitLab."""
    value = store.meta(FLAG_LIMIT_SETTING)
    return DEFAULT_FLAG_LIMIT if value is None else int(value)


def set_flag_limit(store: Store, limit: int | str) -> int:
    """Set the limit to a number, or to a GitLab.com plan's: `free` 50, `premium` 150, `ultimate` 200."""
    number = PLAN_LIMITS.get(limit, -1) if isinstance(limit, str) else limit
    if isinstance(number, bool) or number < 0:
        raise ValueError(f"a flag limit is a number >= 0 or one of {', '.join(PLAN_LIMITS)}, not {limit!r}")
    store.set_meta(FLAG_LIMIT_SETTING, str(number))
    return number


def next_id(store: Store, table: str) -> int:
    """The next id of `table`'s own sequence (never reused, like PostgreSQL's)."""
    return next_in_sequence(store, f"seq:{table}", _SEQUENCE_BASES[table])


def next_in_sequence(store: Store, key: str, base: int = 0) -> int:
    with store.transaction():
        value = int(store.meta(key) or base) + 1
        store.set_meta(key, str(value))
    return value


# ---- reading -------------------------------------------------------------------------------------
def flag_by_name(store: Store, project_id: int, name: str) -> Row | None:
    return store.one("SELECT * FROM ff_flags WHERE project_id = ? AND name = ?", (project_id, name))


def flags_of(store: Store, project_id: int) -> list[Row]:
    """The project's flags ordered by name, as `FeatureFlagsFinder` orders them."""
    return store.all("SELECT * FROM ff_flags WHERE project_id = ? ORDER BY name, id", (project_id,))


def strategies_of(store: Store, flag_ids: list[int]) -> dict[int, list[Row]]:
    """flag id -> its strategies (each with `scopes` and `user_list` filled in), by id."""
    found: dict[int, list[Row]] = {flag_id: [] for flag_id in flag_ids}
    if not flag_ids:
        return found
    marks = ",".join("?" * len(flag_ids))
    rows = store.all(f"SELECT * FROM ff_strategies WHERE flag_id IN ({marks}) ORDER BY id", flag_ids)  # noqa: S608
    scopes: dict[int, list[Row]] = {row["id"]: [] for row in rows}
    if rows:
        strategy_marks = ",".join("?" * len(rows))
        for scope in store.all(
            f"SELECT * FROM ff_scopes WHERE strategy_id IN ({strategy_marks}) ORDER BY id",  # noqa: S608
            [row["id"] for row in rows],
        ):
            scopes[scope["strategy_id"]].append(scope)
    for row in rows:
        strategy = dict(row, parameters=json.loads(row["parameters"]), scopes=scopes[row["id"]])
        strategy["user_list"] = user_list_by_id(store, row["user_list_id"]) if row["user_list_id"] else None
        found[row["flag_id"]].append(strategy)
    return found


def user_list_by_id(store: Store, list_id: int) -> Row | None:
    return store.one("SELECT * FROM ff_user_lists WHERE id = ?", (list_id,))


def user_list_by_iid(store: Store, project_id: int, iid: int) -> Row | None:
    return store.one("SELECT * FROM ff_user_lists WHERE project_id = ? AND iid = ?", (project_id, iid))


# ---- entities ------------------------------------------------------------------------------------
def flag_entity(flag: Row, strategies: list[Row]) -> dict[str, Any]:
    """`API::Entities::FeatureFlag`; `scopes` is the legacy field, always empty."""
    return {
        "name": flag["name"],
        "description": flag["description"],
        "active": bool(flag["active"]),
        "version": NEW_VERSION_FLAG,
        "created_at": iso_time(flag["created_at"]),
        "updated_at": iso_time(flag["updated_at"]),
        "scopes": [],
        "strategies": [strategy_entity(s) for s in strategies],
    }


def strategy_entity(strategy: Row) -> dict[str, Any]:
    user_list = strategy["user_list"]
    return {
        "id": strategy["id"],
        "name": strategy["name"],
        "parameters": strategy["parameters"],
        "scopes": [{"id": s["id"], "environment_scope": s["environment_scope"]} for s in strategy["scopes"]],
        "user_list": None
        if user_list is None
        else {
            "id": user_list["id"],
            "iid": user_list["iid"],
            "name": user_list["name"],
            "user_xids": user_list["user_xids"],
        },
    }


def user_list_entity(user_list: Row, project: Row) -> dict[str, Any]:
    """`API::Entities::FeatureFlag::UserList`: the basic fields, the project, times and web paths."""
    path = f"/{project['full_path']}/-/feature_flags_user_lists/{user_list['iid']}"
    return {
        "id": user_list["id"],
        "iid": user_list["iid"],
        "name": user_list["name"],
        "user_xids": user_list["user_xids"],
        "project_id": user_list["project_id"],
        "created_at": iso_time(user_list["created_at"]),
        "updated_at": iso_time(user_list["updated_at"]),
        "path": path,
        "edit_path": f"{path}/edit",
    }


def load_flag_entity(store: Store, flag: Row) -> dict[str, Any]:
    return flag_entity(flag, strategies_of(store, [flag["id"]])[flag["id"]])
