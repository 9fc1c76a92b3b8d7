"""The pure parts of project-flag rollouts: the issue's hidden marker, what a flag means per environment,
steps planned as one PUT, and the Unleash evaluator's hash (checked against `mmh3`, the hash library the
Unleash SDK itself uses, installed with `UnleashClient`)."""

from __future__ import annotations

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gl_rollout.core.project_flag import (
    FlagChange,
    FlagScope,
    LayoutError,
    ProjectFlag,
    Strategy,
    env_state,
    flag_state,
    plan_change,
)
from gl_rollout.core.rollout_marker import RolloutFlag, find_rollout_flag
from gl_rollout.core.unleash_eval import bucket, murmur3_32
from gl_rollout.errors import UsageError


def flag(*strategies: Strategy, active: bool = True) -> ProjectFlag:
    return ProjectFlag("new-checkout", active, tuple(strategies))


def strategy(sid: int, name: str, params: dict[str, str], *scopes: str) -> Strategy:
    return Strategy(sid, name, params, tuple(FlagScope(sid * 10 + n, s) for n, s in enumerate(scopes)))


ROLLOUT_25 = {"groupId": "default", "rollout": "25", "stickiness": "default"}


@given(st.binary(max_size=200))
def test_the_hash_is_murmur3_x86_32_as_the_sdk_computes_it(data: bytes) -> None:
    assert murmur3_32(data) == mmh3.hash(data, 0, signed=False)


def test_a_bucket_is_1_to_100_of_group_and_id() -> None:
    assert bucket("42", "default") == mmh3.hash("default:42", 0, signed=False) % 100 + 1
    assert {bucket(str(n), "default") for n in range(2000)} == set(range(1, 101))


def test_the_marker_round_trips_and_a_damaged_one_reads_as_an_instance_rollout() -> None:
    rollout = RolloutFlag(
        "new-checkout", project="acme/website", environments=("staging", "review/*", "production"),
        ramp=(5, 50, 100), stickiness="userId", beta_user_list="beta--testers",
    )  # fmt: skip
    line = rollout.to_comment()
    assert "--" not in line.removeprefix("<!--").removesuffix("-->")  # cannot close the comment early
    assert find_rollout_flag(f"text\n\n{line}\n") == rollout
    assert find_rollout_flag("no marker") is None
    assert find_rollout_flag(line.replace('"project"', '"instance"', 1)) is None
    assert find_rollout_flag(line.replace("new-checkout", "Bad Name")) is None
    assert find_rollout_flag(line.replace("{", "{{", 1)) is None


def test_the_state_reads_scopes_as_gitlab_matches_them() -> None:
    current = flag(
        strategy(1, "default", {}, "review/*"),
        strategy(2, "flexibleRollout", ROLLOUT_25, "production"),
        strategy(3, "flexibleRollout", ROLLOUT_25 | {"rollout": "100"}, "staging"),
    )
    state = flag_state(current, "new-checkout", ("staging", "production"))
    assert state.summary() == "active; staging on, production 25%"
    assert env_state(current, "review/app-1").on
    assert env_state(current, "reviews").off
    assert flag_state(None, "new-checkout", ("production",)).summary() == "absent"
    inactive = flag_state(
        flag(strategy(1, "default", {}, "*"), active=False), "new-checkout", ("production",)
    )
    assert inactive.env("production").on
    assert inactive.serving("production").off  # an inactive flag serves nobody


def test_an_environment_reached_only_by_a_wildcard_scope_serves_what_the_wildcard_says() -> None:
    current = flag(
        strategy(1, "default", {}, "review/*"),
        strategy(2, "flexibleRollout", ROLLOUT_25, "*"),
    )
    # The rollout names only production; the plan (edited by a person) also walks canary and review/x.
    state = flag_state(current, "new-checkout", ("production",))
    assert state.serving("production").percentage == 25
    assert state.serving("canary").percentage == 25  # only `*` reaches it
    assert state.serving("review/x").on
    assert flag_state(flag(), "new-checkout", ("production",)).serving("canary").off


def test_a_ramp_step_changes_the_one_rollout_in_place_and_keeps_its_stickiness_visible() -> None:
    current = flag(strategy(2, "flexibleRollout", ROLLOUT_25, "production"))
    plan = plan_change(current, FlagChange("percentage", "production", 50, "default"))
    assert plan.fields == {"strategies": [{"id": 2, "parameters": ROLLOUT_25 | {"rollout": "50"}}]}
    assert plan.diff == ("~ flexibleRollout on production (id 2): 25% -> 50%",)
    assert not plan_change(current, FlagChange("percentage", "production", 25, "default")).needed


def test_turning_an_environment_off_destroys_its_scope_or_its_strategy() -> None:
    current = flag(
        strategy(1, "default", {}, "staging", "production"),
        strategy(2, "flexibleRollout", ROLLOUT_25, "canary"),
    )
    plan = plan_change(current, FlagChange("off", "staging"))
    assert plan.fields == {"strategies": [{"id": 1, "scopes": [{"id": 10, "_destroy": True}]}]}
    gone = plan_change(current, FlagChange("off", "canary"))
    assert gone.fields == {"strategies": [{"id": 2, "_destroy": True}]}


def test_an_environment_on_through_a_wildcard_cannot_be_turned_off_alone() -> None:
    with pytest.raises(UsageError, match="covers other environments"):
        plan_change(flag(strategy(1, "default", {}, "*")), FlagChange("off", "production"))


def test_two_rollouts_in_one_environment_are_another_layout() -> None:
    current = flag(
        strategy(2, "flexibleRollout", ROLLOUT_25, "production"),
        strategy(3, "flexibleRollout", ROLLOUT_25 | {"rollout": "5"}, "production"),
    )
    with pytest.raises(LayoutError, match="another strategy layout"):
        plan_change(current, FlagChange("percentage", "production", 50, "default"))
    adopted = plan_change(current, FlagChange("percentage", "production", 50, "default"), adopt=True)
    assert {"id": 3, "_destroy": True} in adopted.fields["strategies"]
    assert {"id": 2, "parameters": ROLLOUT_25 | {"rollout": "50"}} in adopted.fields["strategies"]
