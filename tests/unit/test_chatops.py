"""ChatOps `feature set` / `feature delete` commands and their Features API form."""

from __future__ import annotations

from typing import Any

import pytest

from gl_rollout.core.chatops import (
    feature_api_params,
    feature_delete_command,
    feature_set,
    feature_set_command,
)
from gl_rollout.errors import ExitCode, UsageError

F = "my_flag"

# (value, keyword arguments, expected command)
VALID_COMMANDS: list[tuple[Any, dict[str, Any], str]] = [
    (True, {}, "/chatops run feature set my_flag true"),
    ("false", {}, "/chatops run feature set my_flag false"),
    ("TRUE", {"envs": ["staging"]}, "/chatops run feature set my_flag true --staging"),
    (True, {"envs": ["production"]}, "/chatops run feature set my_flag true"),
    (
        True,
        {"envs": ["production", "staging-ref", "dev", "staging", "pre", "ops"]},
        "/chatops run feature set my_flag true --dev --pre --staging --staging-ref --ops --production",
    ),
    (
        True,
        {"envs": ["staging", "production"]},
        "/chatops run feature set my_flag true --staging --production",
    ),
    (25, {"actors": True}, "/chatops run feature set my_flag 25 --actors"),
    ("50", {"actors": True, "envs": ["staging"]}, "/chatops run feature set my_flag 50 --actors --staging"),
    (
        10,
        {"time": True},
        "/chatops run feature set my_flag 10 --random --ignore-random-deprecation-check",
    ),
    (0, {}, "/chatops run feature set my_flag 0"),
    (100, {}, "/chatops run feature set my_flag 100"),
    (100, {"actors": True}, "/chatops run feature set my_flag 100 --actors"),
    (
        True,
        {"projects": ["gitlab-org/gitlab", "gitlab-org/gitlab-foss"]},
        "/chatops run feature set my_flag true --project=gitlab-org/gitlab,gitlab-org/gitlab-foss",
    ),
    (
        True,
        {"groups": ["gitlab-org,gitlab-com"]},
        "/chatops run feature set my_flag true --group=gitlab-org,gitlab-com",
    ),
    (True, {"users": ["@jdoe", "asmith"]}, "/chatops run feature set my_flag true --user=jdoe,asmith"),
    (
        True,
        {"feature_group": "gitlab_team_members"},
        "/chatops run feature set my_flag true --feature-group=gitlab_team_members",
    ),
    (True, {"namespaces": ["gitlab-org"]}, "/chatops run feature set my_flag true --namespace=gitlab-org"),
    (
        True,
        {"repositories": ["gitlab-org/gitlab"]},
        "/chatops run feature set my_flag true --repository=gitlab-org/gitlab",
    ),
    (
        False,
        {"projects": ["a/b"], "groups": ["c"], "users": ["d"], "envs": ["staging"]},
        "/chatops run feature set my_flag false --project=a/b --group=c --user=d --staging",
    ),
    (True, {"prefix": "/chatops gitlab run"}, "/chatops gitlab run feature set my_flag true"),
    (True, {"prefix": "  /chatops   gitlab run "}, "/chatops gitlab run feature set my_flag true"),
]


@pytest.mark.parametrize(("value", "kwargs", "expected"), VALID_COMMANDS)
def test_feature_set_command(value: Any, kwargs: dict[str, Any], expected: str) -> None:
    assert feature_set_command(F, value, **kwargs) == expected


# (flag, value, keyword arguments, words the one-line reason must contain)
INVALID: list[tuple[str, Any, dict[str, Any], str]] = [
    (F, 50, {}, "needs --actors or --time"),
    (F, 1, {"envs": ["staging"]}, "needs --actors or --time"),
    (F, 101, {"actors": True}, "out of range"),
    (F, "50%", {"actors": True}, "invalid feature flag value"),
    (F, "0.5", {"actors": True}, "invalid feature flag value"),
    (F, "yes", {}, "invalid feature flag value"),
    (F, -1, {}, "out of range"),
    (F, 50, {"actors": True, "time": True}, "cannot be combined"),
    (F, 50, {"actors": True, "projects": ["a/b"]}, "cannot be combined with actor targets"),
    (F, 50, {"time": True, "users": ["jdoe"]}, "cannot be combined with actor targets"),
    (F, 50, {"projects": ["a/b"]}, "needs --actors or --time"),
    (F, 100, {"groups": ["g"]}, "actor targets take true or false"),
    (F, True, {"actors": True}, "--actors needs a percentage"),
    (F, False, {"time": True}, "--time needs a percentage"),
    (F, True, {"envs": ["prod"]}, "unknown environment"),
    (F, True, {"envs": ["staging_ref"]}, "unknown environment"),
    (F, True, {"projects": ["a b"]}, "invalid --project value"),
    (F, True, {"groups": ["`evil`"]}, "invalid --group value"),
    (F, True, {"users": ["@all here"]}, "invalid --user value"),
    (F, True, {"feature_group": "Team Members"}, "invalid --feature-group value"),
    (F, True, {"prefix": "chatops run"}, "invalid ChatOps prefix"),
    (F, True, {"prefix": "/chatops run`"}, "invalid ChatOps prefix"),
    ("My-Flag", True, {}, "invalid feature flag name"),
    ("my__flag", True, {}, "invalid feature flag name"),
    ("", True, {}, "invalid feature flag name"),
]


@pytest.mark.parametrize(("flag", "value", "kwargs", "reason"), INVALID)
def test_feature_set_command_refuses(flag: str, value: Any, kwargs: dict[str, Any], reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        feature_set_command(flag, value, **kwargs)
    assert caught.value.exit_code == ExitCode.USAGE
    assert reason in caught.value.one_line()
    assert "\n" not in caught.value.one_line()


API: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
    (True, {}, {"value": "true"}),
    ("false", {}, {"value": "false"}),
    (25, {"actors": True}, {"value": 25, "key": "percentage_of_actors"}),
    ("10", {"time": True}, {"value": 10, "key": "percentage_of_time"}),
    (
        True,
        {
            "projects": ["a/b", "c/d"],
            "groups": ["g"],
            "users": ["@u"],
            "feature_group": ["gitlab_team_members"],
        },
        {
            "value": "true",
            "project": "a/b,c/d",
            "group": "g",
            "user": "u",
            "feature_group": "gitlab_team_members",
        },
    ),
    (
        False,
        {"namespaces": ["n"], "repositories": ["r/s"]},
        {"value": "false", "namespace": "n", "repository": "r/s"},
    ),
]


@pytest.mark.parametrize(("value", "kwargs", "expected"), API)
def test_feature_api_params(value: Any, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert feature_api_params(F, value, **kwargs) == expected


def test_api_params_and_command_come_from_one_validation() -> None:
    with pytest.raises(UsageError, match="needs --actors or --time"):
        feature_api_params(F, 30)
    request = feature_set(F, 30, actors=True, envs=["staging"])
    assert request.command() == "/chatops run feature set my_flag 30 --actors --staging"
    assert request.api_params() == {"value": 30, "key": "percentage_of_actors"}
    assert request.is_percentage


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "/chatops run feature delete my_flag"),
        (
            {"envs": ["production", "staging", "dev", "pre", "staging-ref"]},
            "/chatops run feature delete my_flag --dev --pre --staging --staging-ref --production",
        ),
        (
            {"envs": ["staging"], "prefix": "/chatops gitlab run"},
            "/chatops gitlab run feature delete my_flag --staging",
        ),
    ],
)
def test_feature_delete_command(kwargs: dict[str, Any], expected: str) -> None:
    assert feature_delete_command(F, **kwargs) == expected


def test_feature_delete_refuses_bad_input() -> None:
    with pytest.raises(UsageError, match="unknown environment"):
        feature_delete_command(F, envs=["canary"])
    with pytest.raises(UsageError, match="invalid feature flag name"):
        feature_delete_command("Bad Flag")
