"""Contract for `/features` (doc/api/features.md; Admin::SetFeatureFlagService semantics)."""

from __future__ import annotations

import gitlab
import pytest

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP


def set_flag(api: PlainHTTP, name: str, **params: object) -> tuple[int, object]:
    answer = api("POST", f"/features/{name}", as_="admin", json=params)
    return answer.status, answer.body


def test_features_are_admin_only(api: PlainHTTP) -> None:
    assert api("GET", "/features", as_=None).body == {"message": "401 Unauthorized"}
    assert api("GET", "/features", as_="developer").body == {"message": "403 Forbidden"}
    assert api("POST", "/features/x", as_="developer", json={"value": True}).status == 403
    assert api("DELETE", "/features/x", as_="developer").status == 403
    assert api("GET", "/features", as_="admin").body == []


@pytest.mark.parametrize(
    ("params", "state", "gates"),
    [
        ({"value": True}, "on", [{"key": "boolean", "value": True}]),
        ({"value": "true"}, "on", [{"key": "boolean", "value": True}]),
        ({"value": 100}, "on", [{"key": "boolean", "value": True}]),
        ({"value": False}, "off", [{"key": "boolean", "value": False}]),
        ({"value": "0"}, "off", [{"key": "boolean", "value": False}]),
        (
            {"value": 30},
            "conditional",
            [{"key": "boolean", "value": False}, {"key": "percentage_of_time", "value": 30}],
        ),
        (
            {"value": "42", "key": "percentage_of_actors"},
            "conditional",
            [{"key": "boolean", "value": False}, {"key": "percentage_of_actors", "value": 42}],
        ),
        (
            {"value": "0.5", "key": "percentage_of_time"},
            "conditional",
            [{"key": "boolean", "value": False}, {"key": "percentage_of_time", "value": 0.5}],
        ),
        (
            {"value": True, "project": "acme/platform/rollouts"},
            "conditional",
            [{"key": "boolean", "value": False}, {"key": "actors", "value": ["Project:42"]}],
        ),
        (
            {"value": True, "user": "dev,alice", "group": "acme"},
            "conditional",
            [
                {"key": "boolean", "value": False},
                {"key": "actors", "value": ["User:2", "User:4", "Group:10"]},
            ],
        ),
    ],
)
def test_set_feature_gates_and_state(
    api: PlainHTTP, params: dict[str, object], state: str, gates: list[dict[str, object]]
) -> None:
    status, body = set_flag(api, "my_flag", **params)
    assert status == 201
    assert body == {"name": "my_flag", "state": state, "gates": gates, "definition": None}
    listed = api("GET", "/features", as_="admin").body
    assert listed == [body]


def test_true_clears_other_gates_and_false_clears_everything(api: PlainHTTP) -> None:
    set_flag(api, "f", value=25)
    set_flag(api, "f", value=True, project="acme/platform/rollouts")
    assert set_flag(api, "f", value=True)[1]["gates"] == [{"key": "boolean", "value": True}]  # type: ignore[index]
    set_flag(api, "f", value=10, key="percentage_of_actors")
    assert set_flag(api, "f", value=False)[1]["gates"] == [{"key": "boolean", "value": False}]  # type: ignore[index]


def test_actor_disable_removes_only_that_actor(api: PlainHTTP) -> None:
    set_flag(api, "f", value=True, project="acme/platform/rollouts,acme/website")
    status, body = set_flag(api, "f", value=False, project="acme/website")
    assert status == 201
    assert body["gates"][1] == {"key": "actors", "value": ["Project:42"]}  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"value": "True"}, {"message": "400 Bad request - Cannot set 'f' to \"True\""}),
        ({"value": "maybe"}, {"message": "400 Bad request - Cannot set 'f' to \"maybe\""}),
        ({"value": "x", "key": "percentage_of_actors"}, {"message": "400 Bad request - Not a percentage"}),
        (
            {"value": 10, "key": "percentage_of_time", "project": "acme/website"},
            {"error": "key, project are mutually exclusive"},
        ),
        (
            {"value": True, "project": "nobody/nothing"},
            {"message": "400 Bad request - nobody/nothing is not found!"},
        ),
        ({}, {"error": "value is missing"}),
    ],
)
def test_bad_feature_requests_are_400(api: PlainHTTP, params: dict[str, object], expected: object) -> None:
    assert set_flag(api, "f", **params) == (400, expected)
    assert api("GET", "/features", as_="admin").body == []


def test_delete_is_204_whether_or_not_it_exists(api: PlainHTTP) -> None:
    set_flag(api, "f", value=True)
    first = api("DELETE", "/features/f", as_="admin")
    again = api("DELETE", "/features/f", as_="admin")
    assert (first.status, first.body, again.status) == (204, None, 204)
    assert api("GET", "/features", as_="admin").body == []


def test_python_gitlab_features_double_slash_and_query_params(sandbox: Sandbox) -> None:
    """python-gitlab posts to `/features//name` and sends `key`, `namespace` as query parameters."""
    gl = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["admin"])
    flag = gl.features.set("beta_thing", 40, key="percentage_of_actors")
    assert flag.gates == [{"key": "boolean", "value": False}, {"key": "percentage_of_actors", "value": 40}]
    scoped = gl.features.set("scoped", True, namespace="acme")
    assert scoped.gates[1] == {"key": "actors", "value": ["Group:10"]}
    with pytest.raises(gitlab.GitlabSetError) as caught:
        gl.features.set("bad", "True")  # type: ignore[arg-type]  # Python's str(True), which GitLab rejects
    assert caught.value.response_code == 400
    gl.features.delete("beta_thing")
    assert sorted(sandbox.features()) == ["scoped"]
    developer = gitlab.Gitlab(sandbox.url, private_token=sandbox.tokens["developer"])
    with pytest.raises(gitlab.GitlabSetError) as forbidden:
        developer.features.set("x", True)
    assert forbidden.value.response_code == 403
