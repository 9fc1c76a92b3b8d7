"""Contract: GitLab's Unleash API for a project's flags, and a real Unleash SDK reading it.

From lib/api/unleash.rb and GitLab's feature flag docs: an application points an Unleash client at
`/api/v4/feature_flags/unleash/<project id>` with the project's instance ID, and names its environment
as the client's app name. The second half evaluates flags with `UnleashClient` (the Python SDK from
PyPI), configured to stay on loopback, write no files and leave no threads behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from UnleashClient import UnleashClient
from UnleashClient.cache import BaseCache
from UnleashClient.utils import InstanceAllowType

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

ROLLOUT = {"groupId": "default", "rollout": "25", "stickiness": "default"}
USER_IDS = [str(number) for number in range(1000)]


def scoped(name: str, parameters: dict[str, Any], *environments: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "parameters": parameters,
        "scopes": [{"environment_scope": e} for e in environments],
        **extra,
    }


def fetch(
    sb: Sandbox, app_name: str | None, path: str = "/client/features", **headers: str
) -> requests.Response:
    sent = {"UNLEASH-INSTANCEID": sb.unleash_instance_id(), **headers}
    if app_name is not None:
        sent["UNLEASH-APPNAME"] = app_name
    return requests.get(sb.unleash_url() + path, headers=sent, timeout=10)


def features(sb: Sandbox, app_name: str | None) -> list[dict[str, Any]]:
    answer = fetch(sb, app_name)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 1
    return list(body["features"])


# ---- the API ----------------------------------------------------------------------------------------------
def test_the_instance_id_is_required(sandbox: Sandbox) -> None:
    url = sandbox.unleash_url() + "/client/features"
    for headers in (
        {},
        {"UNLEASH-INSTANCEID": "glffct-wrong"},
        {"PRIVATE-TOKEN": sandbox.tokens["developer"]},
    ):
        answer = requests.get(url, headers={"UNLEASH-APPNAME": "production", **headers}, timeout=10)
        assert (answer.status_code, answer.json()) == (401, {"message": "401 Unauthorized"})
    other = sandbox.unleash_instance_id(sandbox.second_project_path)
    assert requests.get(url, headers={"UNLEASH-INSTANCEID": other}, timeout=10).status_code == 401
    by_path = f"{sandbox.api_url}/feature_flags/unleash/acme%2Fplatform%2Frollouts/client/features"
    assert (
        requests.get(
            by_path, headers={"UNLEASH-INSTANCEID": sandbox.unleash_instance_id()}, timeout=10
        ).status_code
        == 401
    )
    by_params = requests.get(
        url, params={"instance_id": sandbox.unleash_instance_id(), "app_name": "production"}, timeout=10
    )
    assert by_params.json() == {"version": 1, "features": []}


def test_features_are_served_per_environment(sandbox: Sandbox) -> None:
    sandbox.create_project_flag(
        "checkout",
        description="New checkout",
        strategies=[
            scoped("default", {}, "staging"),
            scoped("flexibleRollout", ROLLOUT, "production"),
            scoped("userWithId", {"userIds": "qa1,qa2"}, "review/*"),
        ],
    )
    sandbox.create_project_flag("dark_mode", active=False, strategies=[scoped("default", {}, "*")])
    sandbox.create_project_flag("no_scope_yet", strategies=[scoped("default", {})])

    production = features(sandbox, "production")
    assert production == [
        {
            "name": "checkout",
            "description": "New checkout",
            "enabled": True,
            "strategies": [{"name": "flexibleRollout", "parameters": ROLLOUT}],
        },
        {"name": "dark_mode", "enabled": False, "strategies": [{"name": "default", "parameters": {}}]},
    ]
    assert [(f["name"], f["strategies"]) for f in features(sandbox, "staging")] == [
        ("checkout", [{"name": "default", "parameters": {}}]),
        ("dark_mode", [{"name": "default", "parameters": {}}]),
    ]
    review = features(sandbox, "review/fix-login")
    assert [(f["name"], [s["name"] for s in f["strategies"]]) for f in review] == [
        ("checkout", ["userWithId"]),
        ("dark_mode", ["default"]),
    ]
    assert [f["name"] for f in features(sandbox, "Production")] == ["dark_mode"]  # names are case-sensitive
    assert features(sandbox, None) == []  # no app name, no environment, no features
    assert fetch(sandbox, "production", "/features").json()["features"] == production  # the older path


def test_a_user_list_is_served_as_user_ids(sandbox: Sandbox) -> None:
    beta = sandbox.create_user_list("beta", "u1,u2")
    sandbox.create_project_flag(
        "beta_only", strategies=[scoped("gitlabUserList", {}, "production", user_list_id=beta["id"])]
    )
    [feature] = features(sandbox, "production")
    assert feature["strategies"] == [{"name": "userWithId", "parameters": {"userIds": "u1,u2"}}]


def test_register_metrics_and_root_are_accepted(sandbox: Sandbox) -> None:
    headers = {"UNLEASH-INSTANCEID": sandbox.unleash_instance_id(), "UNLEASH-APPNAME": "production"}
    base = sandbox.unleash_url()
    for method, path in (("POST", "/client/register"), ("POST", "/client/metrics"), ("GET", "")):
        answer = requests.request(
            method, base + path, headers=headers, json={"appName": "production"}, timeout=10
        )
        assert (answer.status_code, answer.json()) == (200, 200)
        assert requests.request(method, base + path, timeout=10).status_code == 401


def test_a_regenerated_instance_id_replaces_the_old_one(sandbox: Sandbox) -> None:
    old = sandbox.unleash_instance_id()
    assert old.startswith("glffct-")
    assert sandbox.unleash_instance_id() == old  # stable until regenerated
    new = sandbox.reset_unleash_instance_id()
    assert new != old
    url = sandbox.unleash_url() + "/client/features"
    assert requests.get(url, headers={"UNLEASH-INSTANCEID": old}, timeout=10).status_code == 401
    assert requests.get(url, headers={"UNLEASH-INSTANCEID": new}, timeout=10).status_code == 200


def test_flag_writes_through_the_rest_api_reach_unleash(api: PlainHTTP, sandbox: Sandbox) -> None:
    api(
        "POST",
        "/projects/42/feature_flags",
        json={"name": "f1", "strategies": [scoped("default", {}, "staging")]},
    )
    assert [f["name"] for f in features(sandbox, "staging")] == ["f1"]
    api("DELETE", "/projects/42/feature_flags/f1")
    assert features(sandbox, "staging") == []


# ---- a real Unleash client --------------------------------------------------------------------------------
class MemoryCache(BaseCache):
    """The SDK's cache kept in memory: the default one writes files under the user's cache folder."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def mset(self, data: dict[str, Any]) -> None:
        self.values.update(data)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self.values

    def destroy(self) -> None:
        self.values.clear()


@contextmanager
def unleash_client(sb: Sandbox, environment: str) -> Iterator[UnleashClient]:
    """An application's client in `environment`, fetched once at start; stopped and joined on exit."""
    url = sb.unleash_url()
    assert url.startswith("http://127.0.0.1:")  # loopback only
    client = UnleashClient(
        url=url,
        app_name=environment,  # GitLab reads the app name as the environment
        instance_id=sb.unleash_instance_id(),
        refresh_interval=3600,  # fetched once by initialize_client, never polled during the test
        disable_metrics=True,
        request_retries=0,
        request_timeout=10,
        cache=MemoryCache(),
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client()
    try:
        yield client
    finally:
        client.destroy()


def share_on(sb: Sandbox, environment: str, flag: str) -> float:
    """The share of 1,000 user ids for which the SDK itself evaluates the flag as on."""
    with unleash_client(sb, environment) as client:
        return sum(client.is_enabled(flag, {"userId": user}) for user in USER_IDS) / len(USER_IDS)


@pytest.fixture
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) - before == set()


@pytest.fixture
def no_files_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK's default cache would write under the user's cache folder: point that at an empty folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    yield
    assert list(home.rglob("*")) == []


@pytest.mark.usefixtures("no_leftover_threads", "no_files_written")
def test_an_unleash_client_sees_each_ramp_step(sandbox: Sandbox) -> None:
    flag = sandbox.create_project_flag(
        "new_checkout",
        strategies=[scoped("default", {}, "staging"), scoped("flexibleRollout", ROLLOUT, "production")],
    )
    ramp = flag["strategies"][1]
    assert share_on(sandbox, "staging", "new_checkout") == 1.0
    quarter = share_on(sandbox, "production", "new_checkout")
    assert 0.15 <= quarter <= 0.35, quarter

    sandbox.edit_project_flag(
        "new_checkout", strategies=[{"id": ramp["id"], "parameters": ROLLOUT | {"rollout": "100"}}]
    )
    assert share_on(sandbox, "production", "new_checkout") == 1.0

    sandbox.edit_project_flag("new_checkout", active=False)
    assert share_on(sandbox, "production", "new_checkout") == 0.0
    assert share_on(sandbox, "staging", "new_checkout") == 0.0

    sandbox.edit_project_flag("new_checkout", active=True)
    assert share_on(sandbox, "canary", "new_checkout") == 0.0  # outside every scope of the flag

    asked = [(r.method, r.path.rsplit("/", 2)[-2:]) for r in sandbox.request_log]
    assert ("POST", ["client", "register"]) in asked
    assert ("GET", ["client", "features"]) in asked
    assert all(r.status == 200 for r in sandbox.request_log)


@pytest.mark.usefixtures("no_leftover_threads", "no_files_written")
def test_the_same_users_stay_in_as_the_ramp_grows(sandbox: Sandbox) -> None:
    """flexibleRollout is sticky on the user id: everyone in at 25% is still in at 50%."""
    flag = sandbox.create_project_flag(
        "sticky", strategies=[scoped("flexibleRollout", ROLLOUT, "production")]
    )
    with unleash_client(sandbox, "production") as client:
        at_25 = {user for user in USER_IDS if client.is_enabled("sticky", {"userId": user})}
    ramp = flag["strategies"][0]
    sandbox.edit_project_flag(
        "sticky", strategies=[{"id": ramp["id"], "parameters": ROLLOUT | {"rollout": "50"}}]
    )
    with unleash_client(sandbox, "production") as client:
        at_50 = {user for user in USER_IDS if client.is_enabled("sticky", {"userId": user})}
    assert at_25 < at_50
    assert 0.40 <= len(at_50) / len(USER_IDS) <= 0.60


@pytest.mark.usefixtures("no_leftover_threads", "no_files_written")
def test_an_unleash_client_reads_a_user_list(sandbox: Sandbox) -> None:
    beta = sandbox.create_user_list("beta", "alice,bob")
    sandbox.create_project_flag(
        "beta_only", strategies=[scoped("gitlabUserList", {}, "production", user_list_id=beta["id"])]
    )
    with unleash_client(sandbox, "production") as client:
        assert [client.is_enabled("beta_only", {"userId": u}) for u in ("alice", "bob", "carol")] == [
            True,
            True,
            False,
        ]
