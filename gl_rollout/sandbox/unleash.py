"""`/feature_flags/unleash/:project_id/...`: GitLab's Unleash-compatible API for a project's feature flags.

From `lib/api/unleash.rb`, `Operations::FeatureFlagsClient` and the Unleash entities:

- Every route needs the project's instance ID (its feature-flags client token, `glffct-...`) in the
  `UNLEASH-INSTANCEID` header or the `instance_id` parameter; the project is named by its numeric id
  only. Anything else is 401 `{"message": "401 Unauthorized"}`.
- `GET client/features` (and the older `GET features`) answer `{"version": 1, "features": [...]}` for
  the environment named by the app name (`UNLEASH-APPNAME` header or `app_name`): each flag with a
  strategy scoped to that environment, `*`, or a matching wildcard scope such as `review/*`, with only
  those strategies; `enabled` is the flag's active state, `description` is left out when empty, and a
  `gitlabUserList` strategy is served as `userWithId` with the list's user ids. Without an app name
  there are no features.
- `POST client/register`, `POST client/metrics` and `GET` of the project's root are accepted and
  ignored, answering 200 as GitLab does.

The sandbox's instance IDs are stable (`glffct-sandbox-instance-<project id>`) so they can be pasted,
until `reset_instance_id` replaces one as GitLab's "Regenerate instance ID" does.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

from gl_rollout.sandbox.flag_store import strategies_of
from gl_rollout.sandbox.router import Reply
from gl_rollout.sandbox.service import ApiError
from gl_rollout.sandbox.store import Row, Store

if TYPE_CHECKING:
    from gl_rollout.sandbox.http import Ctx
    from gl_rollout.sandbox.router import Router

UNLEASH_API_VERSION = 1
TOKEN_PREFIX = "glffct-"


def register(router: Router) -> None:
    base = "/feature_flags/unleash/:project_id"
    router.add("GET", base, accepted)
    router.add("GET", f"{base}/features", client_features)
    router.add("GET", f"{base}/client/features", client_features)
    router.add("POST", f"{base}/client/register", accepted)
    router.add("POST", f"{base}/client/metrics", accepted)


def instance_id(store: Store, project_id: int) -> str:
    """The project's feature-flags client token, made on first use as GitLab makes it."""
    with store.transaction():
        row = store.one("SELECT token FROM ff_clients WHERE project_id = ?", (project_id,))
        if row is not None:
            return str(row["token"])
        token = f"{TOKEN_PREFIX}sandbox-instance-{project_id}"
        store.execute("INSERT INTO ff_clients (project_id, token) VALUES (?, ?)", (project_id, token))
        return token


def reset_instance_id(store: Store, project_id: int) -> str:
    """A new random token for the project; the old one stops working."""
    instance_id(store, project_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(15)
    store.execute("UPDATE ff_clients SET token = ? WHERE project_id = ?", (token, project_id))
    return token


def scope_matches(environment_scope: str, environment: str) -> bool:
    """`HasEnvironmentScope.on_environment`: `*`, the exact name, or a glob where `*` is any text."""
    if environment_scope in ("*", environment):
        return True
    pattern = ".*".join(re.escape(part) for part in environment_scope.split("*"))
    return re.fullmatch(pattern, environment, flags=re.DOTALL) is not None


def features_for(store: Store, project_id: int, environment: str | None) -> list[dict[str, Any]]:
    """The Unleash features an application in `environment` sees, flags in creation order."""
    if not environment:
        return []
    flags = store.all("SELECT * FROM ff_flags WHERE project_id = ? ORDER BY id", (project_id,))
    strategies = strategies_of(store, [flag["id"] for flag in flags])
    features = []
    for flag in flags:
        served = [
            _unleash_strategy(strategy)
            for strategy in strategies[flag["id"]]
            if any(scope_matches(s["environment_scope"], environment) for s in strategy["scopes"])
        ]
        if not served:
            continue
        feature: dict[str, Any] = {"name": flag["name"]}
        if flag["description"] is not None:
            feature["description"] = flag["description"]
        feature["enabled"] = bool(flag["active"])
        feature["strategies"] = served
        features.append(feature)
    return features


def _unleash_strategy(strategy: Row) -> dict[str, Any]:
    if strategy["name"] == "gitlabUserList" and strategy["user_list"] is not None:
        return {"name": "userWithId", "parameters": {"userIds": strategy["user_list"]["user_xids"]}}
    return {"name": strategy["name"], "parameters": strategy["parameters"]}


def _authorized_project(ctx: Ctx) -> int:
    """The project whose instance ID the request carries, or 401."""
    token = ctx.request.headers.get("UNLEASH-INSTANCEID") or ctx.string("instance_id")
    ref = ctx.route_args["project_id"]
    if token and ref.isdigit() and ctx.store.project(int(ref)) is not None:
        project_id = int(ref)
        if secrets.compare_digest(instance_id(ctx.store, project_id).encode(), token.encode()):
            return project_id
    raise ApiError(401, {"message": "401 Unauthorized"})


def client_features(ctx: Ctx) -> Reply:
    project_id = _authorized_project(ctx)
    app_name = ctx.request.headers.get("UNLEASH-APPNAME") or ctx.string("app_name")
    body = {"version": UNLEASH_API_VERSION, "features": features_for(ctx.store, project_id, app_name)}
    return Reply(200, body)


def accepted(ctx: Ctx) -> Reply:
    """GitLab's `status :ok` endpoints: nothing is kept, and Grape renders the status as the body."""
    _authorized_project(ctx)
    return Reply(200, 200)
