"""Contract: project feature flags and user lists as GitLab documents them.

From doc/api/feature_flags.md and doc/api/feature_flag_user_lists.md, with the validation rules of
GitLab's feature flag models. Driven with python-gitlab's own managers (`project.feature_flags`,
`project.feature_flags_user_lists`) and with plain HTTP for status codes and error bodies.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gitlab
import gitlab.v4.objects
import pytest

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

# python-gitlab's own feature flag managers (8.2 and later) drive the sandbox in the journeys below;
# gl-rollout itself also supports older python-gitlab (through http_request), where they are skipped.
needs_flag_managers = pytest.mark.skipif(
    not hasattr(gitlab.v4.objects, "ProjectFeatureFlagManager"),
    reason="this python-gitlab has no feature flag managers (8.2 and later have them)",
)

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FLAGS = "/projects/42/feature_flags"
LISTS = "/projects/42/feature_flags_user_lists"
FLAG_FIELDS = {"name", "description", "active", "version", "created_at", "updated_at", "scopes", "strategies"}
STRATEGY_FIELDS = {"id", "name", "parameters", "scopes", "user_list"}
LIST_FIELDS = {
    "id",
    "iid",
    "project_id",
    "name",
    "user_xids",
    "created_at",
    "updated_at",
    "path",
    "edit_path",
}
ROLLOUT_25 = {"groupId": "default", "rollout": "25", "stickiness": "default"}


def developer(sb: Sandbox) -> gitlab.Gitlab:
    return gitlab.Gitlab(sb.url, private_token=sb.tokens["developer"])


def strategy(name: str, parameters: dict[str, Any], *environments: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "parameters": parameters,
        "scopes": [{"environment_scope": e} for e in environments],
        **extra,
    }


def create(api: PlainHTTP, name: str = "my_flag", **params: Any) -> Any:
    answer = api("POST", FLAGS, json={"name": name, "version": "new_version_flag", **params})
    assert answer.status == 201, answer.body
    return answer.body


# ---- python-gitlab's managers ------------------------------------------------------------------------
@needs_flag_managers
def test_python_gitlab_flag_journey(sandbox: Sandbox) -> None:
    """Create inactive, ramp a flexibleRollout in place by strategy id, add a scope, list, delete."""
    project = developer(sandbox).projects.get(sandbox.project_path, lazy=True)
    staging = strategy("default", {}, "staging")
    flag = project.feature_flags.create(
        {"name": "new_checkout", "version": "new_version_flag", "active": False, "strategies": [staging]}
    )
    assert (flag.name, flag.active, flag.version) == ("new_checkout", False, "new_version_flag")
    [default] = flag.strategies

    flag = project.feature_flags.get("new_checkout")
    flag.active = True
    flag.strategies = [
        {"id": default["id"], "scopes": [{"environment_scope": "production"}]},
        strategy("flexibleRollout", ROLLOUT_25, "production"),
    ]
    flag.save()
    flag = project.feature_flags.get("new_checkout")
    assert flag.active is True
    assert [(s["name"], [x["environment_scope"] for x in s["scopes"]]) for s in flag.strategies] == [
        ("default", ["staging", "production"]),
        ("flexibleRollout", ["production"]),
    ]
    ramp = flag.strategies[1]
    flag.strategies = [{"id": ramp["id"], "parameters": {**ROLLOUT_25, "rollout": "50"}}]
    flag.save()
    again = project.feature_flags.get("new_checkout")
    assert [s["id"] for s in again.strategies] == [default["id"], ramp["id"]]  # in place, no new strategy
    assert again.strategies[1]["parameters"]["rollout"] == "50"

    project.feature_flags.create({"name": "another_flag", "version": "new_version_flag", "active": False})
    assert [f.name for f in project.feature_flags.list()] == ["another_flag", "new_checkout"]  # by name
    assert [f.name for f in project.feature_flags.list(scope="enabled")] == ["new_checkout"]
    assert [f.name for f in project.feature_flags.list(scope="disabled")] == ["another_flag"]
    project.feature_flags.delete("another_flag")
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.feature_flags.get("another_flag")
    assert missing.value.response_code == 404


@needs_flag_managers
def test_python_gitlab_user_list_journey(sandbox: Sandbox) -> None:
    project = developer(sandbox).projects.get(sandbox.project_path, lazy=True)
    beta = project.feature_flags_user_lists.create({"name": "beta testers", "user_xids": ["u1", "u2"]})
    assert beta.user_xids == "u1,u2"  # sent and kept as one comma-separated string
    assert beta.iid == 1
    assert beta.id != beta.iid
    project.feature_flags_user_lists.create({"name": "staff", "user_xids": "s1"})
    assert [x.name for x in project.feature_flags_user_lists.list(search="BETA")] == ["beta testers"]
    fetched = project.feature_flags_user_lists.get(beta.iid)
    fetched.user_xids = "u1,u2,u3"
    fetched.save()
    assert project.feature_flags_user_lists.get(beta.iid).user_xids == "u1,u2,u3"
    fetched.delete()
    assert [x.name for x in project.feature_flags_user_lists.list()] == ["staff"]


# ---- entities ----------------------------------------------------------------------------------------
def test_created_flag_has_the_documented_entity(api: PlainHTTP) -> None:
    body = create(api, "awesome_feature", strategies=[strategy("default", {}, "production")])
    assert set(body) == FLAG_FIELDS
    assert (body["description"], body["active"], body["version"], body["scopes"]) == (
        None,
        True,  # active defaults to true
        "new_version_flag",
        [],
    )
    assert ISO_MS_Z.match(body["created_at"])
    assert body["created_at"] == body["updated_at"]
    [only] = body["strategies"]
    assert set(only) == STRATEGY_FIELDS
    assert (only["name"], only["parameters"], only["user_list"]) == ("default", {}, None)
    [scope] = only["scopes"]
    assert set(scope) == {"id", "environment_scope"}
    assert scope["environment_scope"] == "production"
    assert api("GET", f"{FLAGS}/awesome_feature").body == body
    assert api("GET", "/projects/acme%2Fplatform%2Frollouts/feature_flags/awesome_feature").body == body


def test_strategy_and_scope_ids_are_separate_sequences_never_reused(api: PlainHTTP) -> None:
    first = create(api, "one", strategies=[strategy("default", {}, "staging")])
    [s1] = first["strategies"]
    assert s1["id"] != s1["scopes"][0]["id"]
    removed = api("PUT", f"{FLAGS}/one", json={"strategies": [{"id": s1["id"], "_destroy": True}]})
    assert removed.body["strategies"] == []
    second = api("PUT", f"{FLAGS}/one", json={"strategies": [strategy("default", {}, "staging")]}).body
    [s2] = second["strategies"]
    assert s2["id"] > s1["id"]
    assert s2["scopes"][0]["id"] > s1["scopes"][0]["id"]


def test_list_is_paginated(api: PlainHTTP) -> None:
    for name in ("flag_c", "flag_a", "flag_b"):
        create(api, name)
    answer = api("GET", FLAGS, params={"per_page": 2})
    assert [f["name"] for f in answer.body] == ["flag_a", "flag_b"]
    assert (answer.headers["X-Total"], answer.headers["X-Next-Page"]) == ("3", "2")
    assert api("GET", FLAGS, params={"scope": "all"}).body == {"error": "scope does not have a valid value"}


# ---- updates: nested attributes --------------------------------------------------------------------------
def test_same_update_twice_changes_nothing_the_second_time(api: PlainHTTP) -> None:
    body = create(api, strategies=[strategy("flexibleRollout", ROLLOUT_25, "production")])
    ramp = body["strategies"][0]
    change = {"strategies": [{"id": ramp["id"], "parameters": {**ROLLOUT_25, "rollout": "50"}}]}
    once = api("PUT", f"{FLAGS}/my_flag", json=change).body
    twice = api("PUT", f"{FLAGS}/my_flag", json=change).body
    assert once == twice
    assert [s["parameters"]["rollout"] for s in twice["strategies"]] == ["50"]


def test_destroy_a_scope_and_a_strategy(api: PlainHTTP) -> None:
    body = create(
        api,
        strategies=[
            strategy("default", {}, "staging", "production"),
            strategy("userWithId", {"userIds": "a"}, "*"),
        ],
    )
    default, by_user = body["strategies"]
    staging = default["scopes"][0]
    kept = api(
        "PUT",
        f"{FLAGS}/my_flag",
        json={
            "strategies": [
                {"id": default["id"], "scopes": [{"id": staging["id"], "_destroy": True}]},
                {"id": by_user["id"], "_destroy": True},
                {"name": "default", "parameters": {}, "_destroy": True},  # a new one marked _destroy: skipped
            ]
        },
    ).body
    assert [(s["id"], [x["environment_scope"] for x in s["scopes"]]) for s in kept["strategies"]] == [
        (default["id"], ["production"])
    ]


def test_an_id_the_flag_does_not_have_is_404_and_changes_nothing(api: PlainHTTP) -> None:
    body = create(api, active=False, strategies=[strategy("default", {}, "staging")])
    other = create(api, "other_flag", strategies=[strategy("default", {}, "staging")])
    foreign = other["strategies"][0]
    scope_id = body["strategies"][0]["scopes"][0]["id"]
    for change in (
        {"active": True, "strategies": [{"id": foreign["id"], "parameters": {}}]},
        {"active": True, "strategies": [{"id": scope_id, "parameters": {}}]},  # a scope id is no strategy id
        {"active": True, "strategies": [{"id": body["strategies"][0]["id"], "scopes": [{"id": 99999}]}]},
    ):
        answer = api("PUT", f"{FLAGS}/my_flag", json=change)
        assert (answer.status, answer.body) == (404, {"message": "404 Not found"})
    assert api("GET", f"{FLAGS}/my_flag").body == body


def test_updated_at_moves_with_the_flag_not_with_its_strategies(api: PlainHTTP) -> None:
    body = create(api, strategies=[strategy("flexibleRollout", ROLLOUT_25, "production")])
    ramp = body["strategies"][0]
    ramped = api(
        "PUT",
        f"{FLAGS}/my_flag",
        json={"strategies": [{"id": ramp["id"], "parameters": ROLLOUT_25 | {"rollout": "75"}}]},
    ).body
    assert ramped["updated_at"] == body["updated_at"]  # a strategy is a row of its own
    toggled = api("PUT", f"{FLAGS}/my_flag", json={"active": False}).body
    assert toggled["updated_at"] > body["updated_at"]


def test_rename_and_leaving_a_user_list_strategy(api: PlainHTTP) -> None:
    beta = api("POST", LISTS, json={"name": "beta", "user_xids": "u1"}).body
    body = create(api, strategies=[strategy("gitlabUserList", {}, "production", user_list_id=beta["id"])])
    listed = body["strategies"][0]
    assert listed["user_list"] == {"id": beta["id"], "iid": beta["iid"], "name": "beta", "user_xids": "u1"}
    renamed = api("PUT", f"{FLAGS}/my_flag", json={"name": "my_flag_two"}).body
    assert renamed["name"] == "my_flag_two"
    assert api("GET", f"{FLAGS}/my_flag").status == 404
    changed = api(
        "PUT", f"{FLAGS}/my_flag_two", json={"strategies": [{"id": listed["id"], "name": "default"}]}
    )
    assert changed.status == 200, changed.body
    assert (changed.body["strategies"][0]["name"], changed.body["strategies"][0]["user_list"]) == (
        "default",
        None,
    )


# ---- validation ----------------------------------------------------------------------------------------
NAME_FORMAT = (
    "Name can contain only lowercase letters, digits, '_' and '-'. Must start with a letter, "
    "and cannot end with '-' or '_'"
)
SCOPE_FORMAT = (
    "Strategies scopes environment scope can contain only letters, digits, '-', '_', '/', '$', '{', '}', "
    "'.', '*' and spaces"
)
XIDS = "must be a string of unique comma separated values each 256 characters or less"


@pytest.mark.parametrize(
    ("strategies", "messages"),
    [
        ([strategy("fiftyPercent", {})], ["Strategies name strategy name is invalid"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"rollout": "101"})],
         ["Strategies parameters rollout must be a string between 0 and 100 inclusive"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"rollout": "-1"})],
         ["Strategies parameters rollout must be a string between 0 and 100 inclusive"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"rollout": "\u0662\u0665"})],  # not ASCII digits
         ["Strategies parameters rollout must be a string between 0 and 100 inclusive"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"rollout": 25})],
         ["Strategies parameters rollout must be a string between 0 and 100 inclusive"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"stickiness": "email"})],
         ["Strategies parameters stickiness parameter must be default, userId, sessionId, or random"]),
        ([strategy("flexibleRollout", ROLLOUT_25 | {"groupId": "Default"})],
         ["Strategies parameters groupId parameter is invalid"]),
        ([strategy("flexibleRollout", {"rollout": "25"})], ["Strategies parameters parameters are invalid"]),
        ([strategy("default", {"rollout": "25"})], ["Strategies parameters parameters are invalid"]),
        ([strategy("gradualRolloutUserId", {"groupId": "default", "percentage": "150"})],
         ["Strategies parameters percentage must be a string between 0 and 100 inclusive"]),
        ([strategy("userWithId", {"userIds": "a,a"})], [f"Strategies parameters userIds {XIDS}"]),
        ([strategy("userWithId", {"userIds": "a, b"})], [f"Strategies parameters userIds {XIDS}"]),
        ([strategy("gitlabUserList", {})], ["Strategies user list can't be blank"]),
        ([strategy("default", {}, "prod!")], [SCOPE_FORMAT]),
        ([strategy("default", {}, " ")],
         ["Strategies scopes environment scope can't be blank", SCOPE_FORMAT]),
    ],
)  # fmt: skip
def test_invalid_strategies_are_400_with_full_messages(
    api: PlainHTTP, strategies: list[dict[str, Any]], messages: list[str]
) -> None:
    answer = api("POST", FLAGS, json={"name": "my_flag", "strategies": strategies})
    assert (answer.status, answer.body) == (400, {"message": messages})
    assert api("GET", FLAGS).body == []


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("Upper", [NAME_FORMAT]),
        ("ends_", [NAME_FORMAT]),
        ("9lives", [NAME_FORMAT]),
        ("x", ["Name is too short (minimum is 2 characters)"]),
        ("a" * 64, ["Name is too long (maximum is 63 characters)"]),
        ("", ["Name can't be blank", "Name is too short (minimum is 2 characters)", NAME_FORMAT]),
    ],
)
def test_invalid_names_are_400(api: PlainHTTP, name: str, messages: list[str]) -> None:
    answer = api("POST", FLAGS, json={"name": name})
    assert (answer.status, answer.body) == (400, {"message": messages})


def test_duplicate_name_description_and_version(api: PlainHTTP) -> None:
    create(api)
    assert api("POST", FLAGS, json={"name": "my_flag"}).body == {"message": ["Name has already been taken"]}
    long = api("POST", FLAGS, json={"name": "other", "description": "d" * 256})
    assert long.body == {"message": ["Description is too long (maximum is 255 characters)"]}
    version = api("POST", FLAGS, json={"name": "other", "version": "legacy_flag"})
    assert (version.status, version.body) == (400, {"message": "Version is invalid"})
    create(api, "other_flag")
    ignored = api("PUT", f"{FLAGS}/other_flag", json={"description": "d", "version": "legacy_flag"})
    assert (ignored.status, ignored.body["description"]) == (200, "d")  # PUT does not declare `version`
    taken = api("PUT", f"{FLAGS}/other_flag", json={"name": "my_flag"})
    assert (taken.status, taken.body) == (400, {"message": ["Name has already been taken"]})


def test_update_validates_the_changed_strategy_and_keeps_the_old_one(api: PlainHTTP) -> None:
    body = create(api, strategies=[strategy("default", {}, "production")])
    old = body["strategies"][0]
    answer = api(
        "PUT", f"{FLAGS}/my_flag", json={"strategies": [{"id": old["id"], "name": "flexibleRollout"}]}
    )
    assert (answer.status, answer.body) == (
        400,
        {"message": ["Strategies parameters parameters are invalid"]},
    )
    assert api("GET", f"{FLAGS}/my_flag").body == body


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "name is missing"),
        ({"name": "f1", "strategies": [{"parameters": {}}]}, "strategies[0][name] is missing"),
        ({"name": "f1", "strategies": [{"name": "default", "scopes": [{}]}]},
         "strategies[0][scopes][0][environment_scope] is missing"),
        ({"name": "f1", "strategies": "default"}, "strategies is invalid"),
        ({"name": "f1", "strategies": [{"name": "default", "parameters": 5}]},
         "strategies[0][parameters] is invalid"),
        ({"name": "f1", "active": "maybe"}, "active is invalid"),
    ],
)  # fmt: skip
def test_parameter_errors_are_grape_errors(api: PlainHTTP, payload: dict[str, Any], error: str) -> None:
    answer = api("POST", FLAGS, json=payload)
    assert (answer.status, answer.body) == (400, {"error": error})


def test_parameters_may_be_a_json_string(api: PlainHTTP) -> None:
    body = create(api, strategies=[{"name": "userWithId", "parameters": '{"userIds":"user1"}'}])
    assert body["strategies"][0]["parameters"] == {"userIds": "user1"}


def test_missing_flag_is_404(api: PlainHTTP) -> None:
    for method in ("GET", "PUT", "DELETE"):
        answer = api(method, f"{FLAGS}/nothing_here", json={"active": False} if method == "PUT" else None)
        assert (answer.status, answer.body) == (404, {"message": "404 Not found"})


def test_delete_answers_the_flag_as_it_was(api: PlainHTTP) -> None:
    body = create(api, strategies=[strategy("default", {}, "staging")])
    gone = api("DELETE", f"{FLAGS}/my_flag")
    assert (gone.status, gone.body) == (200, body)
    assert api("GET", FLAGS).body == []


# ---- user lists in strategies ---------------------------------------------------------------------------
def test_user_list_is_named_by_its_id_not_its_iid(api: PlainHTTP, sandbox: Sandbox) -> None:
    beta = api("POST", LISTS, json={"name": "beta", "user_xids": "u1,u2"}).body
    by_iid = api(
        "POST",
        FLAGS,
        json={"name": "f1", "strategies": [strategy("gitlabUserList", {}, user_list_id=beta["iid"])]},
    )
    assert (by_iid.status, by_iid.body) == (404, {"message": "404 Not found"})
    elsewhere = sandbox.create_user_list("website beta", "w1", project=sandbox.second_project_path)
    foreign = api(
        "POST",
        FLAGS,
        json={"name": "f1", "strategies": [strategy("gitlabUserList", {}, user_list_id=elsewhere["id"])]},
    )
    assert foreign.body == {"message": ["Strategies user list must belong to the same project"]}
    misused = api(
        "POST", FLAGS, json={"name": "f1", "strategies": [strategy("default", {}, user_list_id=beta["id"])]}
    )
    assert misused.body == {"message": ["Strategies user list must be blank"]}
    body = create(api, "f1")
    update = api(
        "PUT",
        f"{FLAGS}/f1",
        json={"strategies": [strategy("gitlabUserList", {}, user_list_id=elsewhere["id"])]},
    )
    assert (update.status, update.body) == (404, {"message": "Not Found"})
    assert api("GET", f"{FLAGS}/f1").body == body


# ---- user lists -----------------------------------------------------------------------------------------
def test_user_list_entity_and_errors(api: PlainHTTP) -> None:
    created = api("POST", LISTS, json={"name": "beta", "user_xids": "u1,u2"})
    assert created.status == 201
    body = created.body
    assert set(body) == LIST_FIELDS
    assert (body["iid"], body["project_id"], body["user_xids"]) == (1, 42, "u1,u2")
    assert body["path"] == "/acme/platform/rollouts/-/feature_flags_user_lists/1"
    assert body["edit_path"] == "/acme/platform/rollouts/-/feature_flags_user_lists/1/edit"
    assert api("GET", f"{LISTS}/1").body == body
    assert api("GET", LISTS).headers["X-Total"] == "1"

    taken = api("POST", LISTS, json={"name": "beta", "user_xids": "u1"})
    assert (taken.status, taken.body) == (400, {"message": ["Name has already been taken"]})
    bad = api("PUT", f"{LISTS}/1", json={"user_xids": "u1,,u2"})
    assert bad.body == {"message": [f"User xids user_xids {XIDS}"]}
    missing = api("POST", LISTS, json={"name": "x"})
    assert (missing.status, missing.body) == (
        400,
        {"message": "user_xids is missing"},
    )  # this API's own format
    assert api("GET", f"{LISTS}/99").body == {"message": "404 Not found"}
    assert api("GET", f"{LISTS}/{body['id']}").status == 404  # URLs name the iid


def test_a_user_list_in_use_is_kept(api: PlainHTTP) -> None:
    beta = api("POST", LISTS, json={"name": "beta", "user_xids": "u1"}).body
    create(api, strategies=[strategy("gitlabUserList", {}, "production", user_list_id=beta["id"])])
    refused = api("DELETE", f"{LISTS}/{beta['iid']}")
    assert (refused.status, refused.body) == (409, {"message": ["User list is associated with a strategy"]})
    api("DELETE", f"{FLAGS}/my_flag")
    gone = api("DELETE", f"{LISTS}/{beta['iid']}")
    assert (gone.status, gone.body) == (204, None)
    again = api("POST", LISTS, json={"name": "beta", "user_xids": "u1"}).body
    assert again["iid"] == 2  # iids are never reused


# ---- who may ----------------------------------------------------------------------------------------------
def test_developer_role_is_needed_even_to_read(api: PlainHTTP) -> None:
    create(api)
    for path in (FLAGS, f"{FLAGS}/my_flag", LISTS):
        answer = api("GET", path, as_="reporter")
        assert (answer.status, answer.body) == (403, {"message": "403 Forbidden"})
        assert api("GET", path, as_="admin").status == 200
    write = api("PUT", f"{FLAGS}/my_flag", as_="reporter", json={"active": False})
    assert (write.status, write.body["error"]) == (403, "insufficient_scope")  # its token is read_api only


def test_a_reporter_with_an_api_token_may_not_write_either(api: PlainHTTP, sandbox: Sandbox) -> None:
    """The seeded reporter's token is read_api; with a full `api` token the role still says no."""
    reporter = sandbox.store.user_by_username("reporter")
    assert reporter is not None
    sandbox.store.execute(
        "INSERT INTO tokens (token, user_id, kind, scopes) VALUES (?, ?, 'personal', 'api')",
        ("glpat-reporter-api-scope", reporter["id"]),
    )
    create(api)
    for method, path, payload in (
        ("POST", FLAGS, {"name": "f2"}),
        ("PUT", f"{FLAGS}/my_flag", {"active": False}),
        ("DELETE", f"{FLAGS}/my_flag", None),
        ("POST", LISTS, {"name": "beta", "user_xids": "u1"}),
    ):
        answer = api(method, path, as_="glpat-reporter-api-scope", json=payload)
        assert (answer.status, answer.body) == (403, {"message": "403 Forbidden"})
    assert [f["name"] for f in api("GET", FLAGS).body] == ["my_flag"]
    assert api("GET", f"{FLAGS}/my_flag").body["active"] is True


def test_no_token_and_job_token_see_no_project(api: PlainHTTP) -> None:
    create(api)
    assert api("GET", FLAGS, as_=None).body == {"message": "404 Project Not Found"}
    assert api("GET", FLAGS, as_="job", auth="job").body == {"message": "404 Project Not Found"}
    assert api("POST", FLAGS, as_="job", auth="job", json={"name": "x2"}).status == 404
    assert api("GET", "/projects/42/feature_flags/my_flag", as_="glpat-unknown").status == 401


# ---- the flag limit ----------------------------------------------------------------------------------------
def test_flag_limit_is_a_sandbox_setting(api: PlainHTTP, sandbox: Sandbox) -> None:
    assert sandbox.project_feature_flags_limit == 200  # GitLab's default plan limit
    sandbox.project_feature_flags_limit = 2
    create(api, "f1")
    create(api, "f2")
    answer = api("POST", FLAGS, json={"name": "f3"})
    assert (answer.status, answer.body) == (
        400,
        {"message": ["Maximum number of project feature flags (2) exceeded"]},
    )
    assert api("PUT", f"{FLAGS}/f2", json={"active": False}).status == 200  # updates are not counted
    elsewhere = api("POST", "/projects/43/feature_flags", json={"name": "f3"})
    assert elsewhere.status == 201  # the limit is per project
    sandbox.project_feature_flags_limit = 0  # as in GitLab, 0 lifts it
    create(api, "f3")


def test_flag_limit_names_a_plan_and_stays_with_the_state(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    first = Sandbox(db_path=db, project_feature_flags_limit="free")
    try:
        assert first.project_feature_flags_limit == 50
        first.create_project_flag("kept_flag", strategies=[strategy("default", {}, "production")])
    finally:
        first.close()
    second = Sandbox(db_path=db)
    try:
        assert second.project_feature_flags_limit == 50
        assert (
            second.project_flags()["kept_flag"]["strategies"][0]["scopes"][0]["environment_scope"]
            == "production"
        )
        second.project_feature_flags_limit = "premium"
        assert second.project_feature_flags_limit == 150
        with pytest.raises(ValueError, match="flag limit"):
            second.project_feature_flags_limit = "gold"
    finally:
        second.close()


def test_a_person_editing_the_flag_in_gitlab_is_seen_by_the_api(api: PlainHTTP, sandbox: Sandbox) -> None:
    body = create(api, strategies=[strategy("flexibleRollout", ROLLOUT_25, "production")])
    ramp = body["strategies"][0]
    sandbox.edit_project_flag(
        "my_flag", strategies=[{"id": ramp["id"], "parameters": ROLLOUT_25 | {"rollout": "10"}}]
    )
    assert api("GET", f"{FLAGS}/my_flag").body["strategies"][0]["parameters"]["rollout"] == "10"
