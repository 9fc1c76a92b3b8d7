"""`/features`: instance feature flags with Flipper's gates, as GitLab's admin API exposes them.

Semantics follow `Admin::SetFeatureFlagService`: `true`/`100` enable and `false`/`0` disable
(for the named actors only when actors are given), other numbers set a percentage gate
(`percentage_of_time` unless `key=percentage_of_actors`), anything else is 400. Enabling with the
boolean gate clears every other gate, as Flipper does; disabling clears them all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.auth import require_admin
from gl_rollout.sandbox.http import Ctx, offset_page
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError, param_error

if TYPE_CHECKING:
    from gl_rollout.sandbox.router import Router

ACTOR_PARAMS = ("feature_group", "user", "group", "namespace", "project", "repository")
# Flipper groups GitLab registers; a flag enabled for one shows `{"key": "groups", "value": [name]}`.
FEATURE_GROUPS = ("gitlab_team_members",)
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def register(router: Router) -> None:
    router.add("GET", "/features", list_features)
    router.add("GET", "/features/definitions", list_definitions)
    router.add("POST", "/features/:name", set_feature)
    router.add("DELETE", "/features/:name", delete_feature)


def empty_gates() -> dict[str, Any]:
    return {"boolean": False, "actors": [], "percentage_of_actors": 0, "percentage_of_time": 0, "groups": []}


def feature_state(gates: dict[str, Any]) -> str:
    """Flipper's state: on (boolean or 100% of time), conditional (any other gate), off."""
    if gates.get("boolean") or gates.get("percentage_of_time") == 100:
        return "on"
    if (
        gates.get("actors")
        or gates.get("groups")
        or gates.get("percentage_of_actors")
        or gates.get("percentage_of_time")
    ):
        return "conditional"
    return "off"


def feature_entity(name: str, gates: dict[str, Any]) -> dict[str, Any]:
    """`{name, state, gates, definition}`; zero percentages and empty actor sets are left out."""
    shown = []
    for key in ("boolean", "actors", "percentage_of_actors", "percentage_of_time", "groups"):
        value = gates.get(key, empty_gates()[key])
        if isinstance(value, list) and not value:
            continue
        if not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0:
            continue
        shown.append({"key": key, "value": value})
    return {"name": name, "state": feature_state(gates), "gates": shown, "definition": None}


def list_features(ctx: Ctx) -> Reply:
    """Every flag in one answer, no pagination headers (`present Feature.all`), unless a quirk pages it."""
    require_admin(ctx)
    rows = ctx.store.features()
    if ctx.quirks is not None:
        rows = ctx.quirks.features_read(rows)
    if ctx.quirks is None or not ctx.quirks.features_paginated:
        return Reply(200, [feature_entity(row["name"], row["gates"]) for row in rows])
    page = offset_page(ctx, rows)
    return Reply(200, [feature_entity(row["name"], row["gates"]) for row in page.items], page.headers)


def list_definitions(ctx: Ctx) -> Reply:
    require_admin(ctx)
    return Reply(200, [])


def _value_text(ctx: Ctx) -> str:
    if "value" not in ctx.params:
        raise param_error("value is missing")
    value = ctx.params["value"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)) or value is None:
        raise param_error("value is invalid")
    return str(value)


def _percentage(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _actors(ctx: Ctx) -> list[str]:
    """Flipper actor ids (`Project:42`) of the named targets; an unknown one is 400 `<name> is not found!`."""
    actors: list[str] = []
    store = ctx.store
    for group in ctx.csv_list("feature_group") or []:
        if group not in FEATURE_GROUPS:
            raise _bad_request(f"{group} is not found!")
        actors.append(f"group:{group}")
    for param in ("user", "group", "namespace", "project", "repository"):
        for ref in ctx.csv_list(param) or []:
            actor: str | None = None
            if param == "user":
                row = store.user_by_username(ref)
                actor = f"User:{row['id']}" if row else None
            elif param == "group":
                row = store.group_by_ref(ref) if not ref.isdigit() else None
                actor = f"Group:{row['id']}" if row else None
            elif param == "namespace":
                row = store.one("SELECT * FROM namespaces WHERE lower(full_path) = lower(?)", (ref,))
                actor = f"Group:{row['id']}" if row else None
            elif param == "project":
                row = store.project_by_ref(ref) if not ref.isdigit() else None
                actor = f"Project:{row['id']}" if row else None
            else:
                path = ref.removesuffix(".git").removesuffix(".wiki")
                row = store.project_by_ref(path) if not path.isdigit() else None
                actor = f"Repository:{row['full_path']}.git" if row else None
            if actor is None:
                raise _bad_request(f"{ref} is not found!")
            if actor not in actors:
                actors.append(actor)
    return actors


def _bad_request(reason: str) -> ApiError:
    """`bad_request!(reason)`: 400 `{"message": "400 Bad request - <reason>"}`."""
    return ApiError(400, {"message": f"400 Bad request - {reason}"})


def set_feature(ctx: Ctx) -> Reply:
    """`Admin::SetFeatureFlagService`: actors first, else the global gates; the order of checks matters."""
    require_admin(ctx)
    name = ctx.route_args["name"]
    value = _value_text(ctx)
    key = ctx.string("key")
    for param in ACTOR_PARAMS:
        if key is not None and ctx.has(param):
            raise param_error(f"key, {param} are mutually exclusive")
    ctx.boolean("force")
    actors = _actors(ctx)
    stored = ctx.store.feature(name)
    gates = empty_gates() if stored is None else {**empty_gates(), **stored["gates"]}
    enable = value in ("100", "100.0", "true")
    disable = value in ("0", "0.0", "false")
    numeric = bool(_NUMBER.match(value))
    if actors:
        groups = [a.split(":", 1)[1] for a in actors if a.startswith("group:")]
        others = [a for a in actors if not a.startswith("group:")]
        if enable:
            gates["actors"] = [*gates["actors"], *(a for a in others if a not in gates["actors"])]
            gates["groups"] = [*gates["groups"], *(g for g in groups if g not in gates["groups"])]
        elif disable:
            gates["actors"] = [a for a in gates["actors"] if a not in others]
            gates["groups"] = [g for g in gates["groups"] if g not in groups]
        elif value in ("opt_out", "remove_opt_out"):
            raise _bad_request("opt-outs are not modelled by the sandbox")
        else:
            raise _bad_request(f"Cannot set '{name}' to \"{value}\" for {actors[0]}")
    elif enable:
        gates = {**empty_gates(), "boolean": True}
    elif disable:
        gates = empty_gates()
    elif key in {"percentage_of_actors", "percentage_of_time"} or (key is None and numeric):
        if not numeric:
            raise _bad_request("Not a percentage")
        percentage = _percentage(value)
        if percentage > 100:
            raise _bad_request(f"value must be a positive number less than or equal to 100, but was {value}")
        gates[key or "percentage_of_time"] = percentage
    elif key is not None:
        raise _bad_request(f'Cannot set \'{name}\' ("{key}") to "{value}"')
    else:
        raise _bad_request(f"Cannot set '{name}' to \"{value}\"")
    ctx.store.save_feature(name, gates)
    if ctx.quirks is not None:
        ctx.quirks.feature_set(name, stored["gates"] if stored is not None else None)
    return Reply(201, feature_entity(name, gates))


def delete_feature(ctx: Ctx) -> Reply:
    require_admin(ctx)
    ctx.store.delete_feature(ctx.route_args["name"])
    return Reply(204)
