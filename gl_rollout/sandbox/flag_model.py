"""GitLab's project feature flags as its models keep them: validated drafts, then saved.

Written from `doc/api/feature_flags.md` with the rules of GitLab's `Operations::FeatureFlag`,
`FeatureFlags::Strategy` and `FeatureFlags::Scope` models and the services behind the API:

- A flag's name is 2..63 characters of lowercase letters, digits, `_` and `-`, starting with a letter
  and not ending with `_` or `-`; unique in its project. Every flag is `new_version_flag`.
- Strategies `default`, `gitlabUserList` (no parameters, a user list of the same project),
  `gradualRolloutUserId` (`groupId`, `percentage`), `flexibleRollout` (`groupId`, `rollout`,
  `stickiness`) and `userWithId` (`userIds`); percentages are strings of digits between 0 and 100.
- An update takes Rails nested attributes: a strategy or scope with an `id` is changed in place (or
  removed with `_destroy: true`), one without an `id` is added, an `id` the flag does not have is 404.
  A flag's `updated_at` moves only when its own name, description or active state change: strategies
  and scopes are rows of their own, and GitLab does not touch the flag for them.
- Validation errors answer 400 with `{"message": [full messages]}`; creating more flags than the
  project's plan limit allows is refused the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gl_rollout.sandbox.flag_params import (
    grape_boolean,
    grape_string,
    raise_param_errors,
    strategy_params,
)
from gl_rollout.sandbox.flag_store import (
    NEW_VERSION_FLAG,
    flag_by_name,
    flag_limit,
    invalid,
    load_flag_entity,
    next_id,
    not_found,
    strategies_of,
    user_list_by_id,
)
from gl_rollout.sandbox.service import message_error
from gl_rollout.sandbox.store import Row, Store
from gl_rollout.sandbox.user_lists import USER_XIDS_MESSAGE, valid_user_xids

STRATEGY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "default": (),
    "gitlabUserList": (),
    "gradualRolloutUserId": ("groupId", "percentage"),
    "flexibleRollout": ("groupId", "rollout", "stickiness"),
    "userWithId": ("userIds",),
}
STICKINESS = ("default", "userId", "sessionId", "random")

_FLAG_NAME = re.compile(r"[a-z](?:[-_a-z0-9]*[a-z0-9])?")
_FLAG_NAME_MESSAGE = (
    "can contain only lowercase letters, digits, '_' and '-'. Must start with a letter, "
    "and cannot end with '-' or '_'"
)
_ENVIRONMENT_SCOPE = re.compile(r"[a-zA-Z0-9_/${}. *-]+")
_ENVIRONMENT_SCOPE_MESSAGE = (
    "can contain only letters, digits, '-', '_', '/', '$', '{', '}', '.', '*' and spaces"
)
_GROUP_ID = re.compile(r"[a-z]{1,32}")
_DIGITS = re.compile(r"[0-9]+")  # Ruby's \d is ASCII only


@dataclass
class ScopeDraft:
    id: int | None
    environment_scope: str | None
    destroy: bool = False
    changed: bool = True


@dataclass
class StrategyDraft:
    id: int | None
    name: str | None
    parameters: Any
    user_list: Row | None
    scopes: list[ScopeDraft] = field(default_factory=list)
    destroy: bool = False
    changed: bool = True

    def needs_validation(self) -> bool:
        return not self.destroy and (self.changed or any(s.changed and not s.destroy for s in self.scopes))


@dataclass
class FlagDraft:
    project: Row
    name: str | None
    description: str | None
    active: bool
    strategies: list[StrategyDraft]
    id: int | None = None


def _scope_value(text: str | None) -> str | None:
    # `environment_scope=` strips what it is given.
    return text.strip() if isinstance(text, str) else text


def _parameter_errors(name: str, parameters: Any) -> list[str]:
    if not isinstance(parameters, dict) or sorted(parameters) != sorted(STRATEGY_PARAMETERS[name]):
        return ["parameters are invalid"]

    def within(value: Any) -> bool:
        return isinstance(value, str) and bool(_DIGITS.fullmatch(value)) and 0 <= int(value) <= 100

    def group_id(value: Any) -> bool:
        return isinstance(value, str) and bool(_GROUP_ID.fullmatch(value))

    errors: list[str] = []
    if name == "gradualRolloutUserId":
        if not within(parameters["percentage"]):
            errors.append("percentage must be a string between 0 and 100 inclusive")
        if not group_id(parameters["groupId"]):
            errors.append("groupId parameter is invalid")
    elif name == "flexibleRollout":
        if parameters["stickiness"] not in STICKINESS:
            errors.append("stickiness parameter must be default, userId, sessionId, or random")
        if not group_id(parameters["groupId"]):
            errors.append("groupId parameter is invalid")
        if not within(parameters["rollout"]):
            errors.append("rollout must be a string between 0 and 100 inclusive")
    elif name == "userWithId" and not valid_user_xids(parameters["userIds"]):
        errors.append(f"userIds {USER_XIDS_MESSAGE}")
    return errors


def _strategy_errors(draft: StrategyDraft, project: Row) -> list[str]:
    """One strategy's full messages as its flag reports them (`Strategies <attribute> <message>`)."""
    messages: list[str] = []
    for scope in draft.scopes:
        if scope.destroy or not scope.changed:
            continue
        value = scope.environment_scope or ""
        if not value.strip():
            messages.append("Strategies scopes environment scope can't be blank")
        if not _ENVIRONMENT_SCOPE.fullmatch(value):
            messages.append(f"Strategies scopes environment scope {_ENVIRONMENT_SCOPE_MESSAGE}")
    known = draft.name in STRATEGY_PARAMETERS
    if not known:
        messages.append("Strategies name strategy name is invalid")
    else:
        assert draft.name is not None
        messages.extend(
            f"Strategies parameters {text}" for text in _parameter_errors(draft.name, draft.parameters)
        )
    if draft.name == "gitlabUserList" and draft.user_list is None:
        messages.append("Strategies user list can't be blank")
    if draft.name != "gitlabUserList" and draft.user_list is not None:
        messages.append("Strategies user list must be blank")
    if draft.user_list is not None and draft.user_list["project_id"] != project["id"]:
        messages.append("Strategies user list must belong to the same project")
    return messages


def validate_flag(store: Store, draft: FlagDraft, *, creating: bool) -> None:
    """Every full message, in the order GitLab's callbacks add them; raises 400 if there is any."""
    messages: list[str] = []
    limit = flag_limit(store)
    if creating and limit:
        row = store.one("SELECT COUNT(*) AS n FROM ff_flags WHERE project_id = ?", (draft.project["id"],))
        if row is not None and int(row["n"]) >= limit:
            messages.append(f"Maximum number of project feature flags ({limit}) exceeded")
    for strategy in draft.strategies:
        if strategy.needs_validation():
            messages.extend(_strategy_errors(strategy, draft.project))
    name = draft.name or ""
    if not name.strip():
        messages.append("Name can't be blank")
    if len(name) < 2:
        messages.append("Name is too short (minimum is 2 characters)")
    elif len(name) > 63:
        messages.append("Name is too long (maximum is 63 characters)")
    if not _FLAG_NAME.fullmatch(name):
        messages.append(f"Name {_FLAG_NAME_MESSAGE}")
    other = flag_by_name(store, draft.project["id"], name)
    if other is not None and other["id"] != draft.id:
        messages.append("Name has already been taken")
    if draft.description is not None and len(draft.description) > 255:
        messages.append("Description is too long (maximum is 255 characters)")
    if messages:
        raise invalid(messages)


def _insert_strategy(store: Store, flag_id: int, draft: StrategyDraft) -> None:
    strategy_id = next_id(store, "ff_strategies")
    store.execute(
        "INSERT INTO ff_strategies (id, flag_id, name, parameters, user_list_id) VALUES (?, ?, ?, ?, ?)",
        (strategy_id, flag_id, draft.name, json.dumps(draft.parameters), _user_list_id(draft)),
    )
    for scope in draft.scopes:
        if not scope.destroy:
            _insert_scope(store, strategy_id, scope)


def _insert_scope(store: Store, strategy_id: int, scope: ScopeDraft) -> None:
    store.execute(
        "INSERT INTO ff_scopes (id, strategy_id, environment_scope) VALUES (?, ?, ?)",
        (next_id(store, "ff_scopes"), strategy_id, scope.environment_scope),
    )


def _user_list_id(draft: StrategyDraft) -> int | None:
    return None if draft.user_list is None else int(draft.user_list["id"])


def _delete_strategy(store: Store, strategy_id: int) -> None:
    store.execute("DELETE FROM ff_scopes WHERE strategy_id = ?", (strategy_id,))
    store.execute("DELETE FROM ff_strategies WHERE id = ?", (strategy_id,))


def _strategy_drafts_for_create(store: Store, attrs_list: list[dict[str, Any]]) -> list[StrategyDraft]:
    drafts = []
    for attrs in attrs_list:
        user_list = None
        if attrs.get("user_list_id") is not None:
            # `user_list_id=` looks the list up by its global id: a missing one is RecordNotFound.
            user_list = user_list_by_id(store, attrs["user_list_id"])
            if user_list is None:
                raise not_found()
        scopes = [ScopeDraft(None, _scope_value(s.get("environment_scope"))) for s in attrs.get("scopes", [])]
        parameters = attrs.get("parameters")
        drafts.append(
            StrategyDraft(
                None, attrs.get("name"), {} if parameters is None else parameters, user_list, scopes
            )
        )
    return drafts


def create_flag(store: Store, project: Row, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /projects/:id/feature_flags` after authorization: the new flag's entity, or an ApiError."""
    errors: list[str] = []
    if "name" not in params:
        errors.append("name is missing")
    name = grape_string(params.get("name"), "name", errors)
    description = grape_string(params.get("description"), "description", errors)
    active = grape_boolean(params.get("active"), "active", errors)
    version = grape_string(params.get("version"), "version", errors)
    attrs_list = (
        strategy_params(params["strategies"], creating=True, errors=errors) if "strategies" in params else []
    )
    raise_param_errors(errors)
    if "version" in params and version != NEW_VERSION_FLAG:
        raise message_error(400, "Version is invalid")
    with store.transaction():
        draft = FlagDraft(
            project,
            name,
            description,
            True if active is None else active,
            _strategy_drafts_for_create(store, attrs_list),
        )
        validate_flag(store, draft, creating=True)
        now = store.now_ms()
        flag_id = next_id(store, "ff_flags")
        store.execute(
            "INSERT INTO ff_flags (id, project_id, name, description, active, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (flag_id, project["id"], draft.name, draft.description, int(draft.active), now, now),
        )
        for strategy in draft.strategies:
            _insert_strategy(store, flag_id, strategy)
        flag = store.one("SELECT * FROM ff_flags WHERE id = ?", (flag_id,))
        assert flag is not None
        return load_flag_entity(store, flag)


def _current_drafts(store: Store, flag: Row) -> list[StrategyDraft]:
    drafts = []
    for row in strategies_of(store, [flag["id"]])[flag["id"]]:
        scopes = [ScopeDraft(s["id"], s["environment_scope"], changed=False) for s in row["scopes"]]
        drafts.append(
            StrategyDraft(row["id"], row["name"], row["parameters"], row["user_list"], scopes, changed=False)
        )
    return drafts


def _assign_scopes(draft: StrategyDraft, attrs_list: list[dict[str, Any]]) -> None:
    for attrs in attrs_list:
        if attrs.get("id") is None:
            if not attrs.get("_destroy"):
                draft.scopes.append(ScopeDraft(None, _scope_value(attrs.get("environment_scope"))))
            continue
        scope = next((s for s in draft.scopes if s.id == attrs["id"] and s.id is not None), None)
        if scope is None:  # nested attributes name a record the parent does not have: RecordNotFound
            raise not_found()
        if "environment_scope" in attrs:
            value = _scope_value(attrs["environment_scope"])
            if value != scope.environment_scope:
                scope.environment_scope, scope.changed = value, True
        if attrs.get("_destroy"):
            scope.destroy = True


def _assign_strategies(store: Store, drafts: list[StrategyDraft], attrs_list: list[dict[str, Any]]) -> None:
    for attrs in attrs_list:
        user_list: Row | None = None
        if attrs.get("user_list_id") is not None:
            user_list = user_list_by_id(store, attrs["user_list_id"])
            if user_list is None:
                raise not_found()
        if attrs.get("id") is None:
            if attrs.get("_destroy"):
                continue
            parameters = attrs.get("parameters")
            draft = StrategyDraft(
                None, attrs.get("name"), {} if parameters is None else parameters, user_list
            )
            for scope in attrs.get("scopes", []):
                if scope.get("id") is not None:
                    raise not_found()
            _assign_scopes(draft, attrs.get("scopes", []))
            drafts.append(draft)
            continue
        found = next((d for d in drafts if d.id == attrs["id"] and d.id is not None), None)
        if found is None:
            raise not_found()
        old_name = found.name
        if "name" in attrs and attrs["name"] != found.name:
            found.name, found.changed = attrs["name"], True
        if "parameters" in attrs and attrs["parameters"] != found.parameters:
            found.parameters, found.changed = attrs["parameters"], True
        if user_list is not None and user_list != found.user_list:
            found.user_list, found.changed = user_list, True
        if found.name != old_name and old_name == "gitlabUserList":
            found.user_list = None  # UpdateService drops the list of a strategy that stops using one
        _assign_scopes(found, attrs.get("scopes", []))
        if attrs.get("_destroy"):
            found.destroy = True


def update_flag(store: Store, project: Row, flag: Row, params: dict[str, Any]) -> dict[str, Any]:
    """`PUT /projects/:id/feature_flags/:name` after authorization: the flag's entity, or an ApiError."""
    errors: list[str] = []
    changes: dict[str, Any] = {}
    for key, coerce in (("name", grape_string), ("description", grape_string), ("active", grape_boolean)):
        if key in params:
            changes[key] = coerce(params[key], key, errors)
    attrs_list = (
        strategy_params(params["strategies"], creating=False, errors=errors) if "strategies" in params else []
    )
    raise_param_errors(errors)
    wanted = [a["user_list_id"] for a in attrs_list if a.get("user_list_id")]
    for list_id in wanted:
        row = user_list_by_id(store, list_id)
        if row is None or row["project_id"] != project["id"]:
            raise message_error(404, "Not Found")  # UpdateService's own check, before any assignment
    with store.transaction():
        fresh = store.one("SELECT * FROM ff_flags WHERE id = ?", (flag["id"],))
        if fresh is None:
            raise not_found()
        drafts = _current_drafts(store, fresh)
        _assign_strategies(store, drafts, attrs_list)
        draft = FlagDraft(
            project,
            changes.get("name", fresh["name"]),
            changes.get("description", fresh["description"]),
            bool(changes["active"]) if changes.get("active") is not None else bool(fresh["active"]),
            drafts,
            id=fresh["id"],
        )
        validate_flag(store, draft, creating=False)
        own = {"name": draft.name, "description": draft.description, "active": int(draft.active)}
        moved = {key: value for key, value in own.items() if value != fresh[key]}
        if moved:
            moved["updated_at"] = store.now_ms()
            assignments = ", ".join(f"{key} = ?" for key in moved)
            store.execute(f"UPDATE ff_flags SET {assignments} WHERE id = ?", [*moved.values(), fresh["id"]])  # noqa: S608
        _save_strategies(store, fresh["id"], drafts)
        saved = store.one("SELECT * FROM ff_flags WHERE id = ?", (fresh["id"],))
        assert saved is not None
        return load_flag_entity(store, saved)


def _save_strategies(store: Store, flag_id: int, drafts: list[StrategyDraft]) -> None:
    for draft in drafts:
        if draft.id is None:
            if not draft.destroy:
                _insert_strategy(store, flag_id, draft)
            continue
        if draft.destroy:
            _delete_strategy(store, draft.id)
            continue
        if draft.changed:
            store.execute(
                "UPDATE ff_strategies SET name = ?, parameters = ?, user_list_id = ? WHERE id = ?",
                (draft.name, json.dumps(draft.parameters), _user_list_id(draft), draft.id),
            )
        for scope in draft.scopes:
            if scope.id is None:
                if not scope.destroy:
                    _insert_scope(store, draft.id, scope)
            elif scope.destroy:
                store.execute("DELETE FROM ff_scopes WHERE id = ?", (scope.id,))
            elif scope.changed:
                store.execute(
                    "UPDATE ff_scopes SET environment_scope = ? WHERE id = ?",
                    (scope.environment_scope, scope.id),
                )


def delete_flag(store: Store, flag: Row) -> dict[str, Any]:
    """`DELETE /projects/:id/feature_flags/:name`: the flag as it was, with its strategies gone."""
    with store.transaction():
        entity = load_flag_entity(store, flag)
        for strategy in store.all("SELECT id FROM ff_strategies WHERE flag_id = ?", (flag["id"],)):
            _delete_strategy(store, strategy["id"])
        store.execute("DELETE FROM ff_flags WHERE id = ?", (flag["id"],))
    return entity
