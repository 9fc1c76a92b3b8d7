"""GitLab's project feature flag JSON (`API::Entities::FeatureFlag`, its strategies, scopes and user
lists) as `gl_rollout.core.project_flag` values. Fields GitLab may leave out are read with defaults; a
missing name or strategy name raises KeyError/TypeError/ValueError, which the client words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gl_rollout.core.project_flag import NEW_VERSION_FLAG, FlagScope, ProjectFlag, Strategy, UserListRef


def _int_or_none(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def user_list_from_json(data: Mapping[str, Any]) -> UserListRef:
    return UserListRef(
        id=int(data["id"]),
        iid=int(data.get("iid") or 0),
        name=str(data["name"]),
        user_xids=str(data.get("user_xids") or ""),
    )


def strategy_from_json(data: Mapping[str, Any]) -> Strategy:
    scopes = tuple(
        FlagScope(_int_or_none(scope.get("id")), str(scope["environment_scope"]))
        for scope in data.get("scopes") or ()
    )
    listed = data.get("user_list")
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise TypeError("strategy parameters are not an object")
    return Strategy(
        id=_int_or_none(data.get("id")),
        name=str(data["name"]),
        parameters=dict(parameters),
        scopes=scopes,
        user_list=user_list_from_json(listed) if isinstance(listed, Mapping) else None,
    )


def project_flag_from_json(data: Mapping[str, Any]) -> ProjectFlag:
    description = data.get("description")
    return ProjectFlag(
        name=str(data["name"]),
        active=bool(data.get("active", True)),
        strategies=tuple(strategy_from_json(item) for item in data.get("strategies") or ()),
        description=str(description) if description is not None else None,
        version=str(data.get("version") or NEW_VERSION_FLAG),
        created_at=str(data.get("created_at") or ""),
        updated_at=str(data.get("updated_at") or ""),
    )
