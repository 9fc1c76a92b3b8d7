"""Project-flag rollouts through the real CLI against the sandbox over HTTP: `create --flag-backend
project --create-flag`, `enable`/`disable` driving the flag through GitLab's feature flags API, what a
real Unleash client (`UnleashClient`, the Python SDK) then evaluates through the sandbox's Unleash
endpoint after each ramp step, the project's own evaluator (`gl_rollout.core.unleash_eval`, what
`demo --flag-backend project` shows) checked against that SDK, the refusals, the request budgets, `sync`
of a flag changed by hand, and the demo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from gl_rollout.core.unleash_eval import is_enabled
from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli
from tests.sandbox.test_unleash import USER_IDS, unleash_client
from tests.workflow_cli import Run, box, description, run, user_notes

FLAG = "new-checkout"


def flag_requests(done: Run) -> list[str]:
    return [r.method for r in done.requests if "/feature_flags" in r.path and "user_lists" not in r.path]


def new_rollout(sb: Sandbox, *extra: str) -> str:
    """`create FLAG --flag-backend project --create-flag`; the issue's reference."""
    done = run(
        sb, "create", FLAG, "--project", sb.project_path, "--flag-backend", "project", "--create-flag",
        "--json", *extra,
    )  # fmt: skip
    assert done.code == 0, done.result.output
    return f"{sb.project_path}#{done.data['iid']}"


def enable(sb: Sandbox, ref: str, *args: str, role: str = "developer") -> Run:
    return run(sb, "enable", ref, *args, role=role)


def served(sb: Sandbox, environment: str) -> list[dict[str, Any]]:
    """The features GitLab's Unleash API serves an application in `environment`."""
    headers = {"UNLEASH-INSTANCEID": sb.unleash_instance_id(), "UNLEASH-APPNAME": environment}
    answer = requests.get(sb.unleash_url() + "/client/features", headers=headers, timeout=10)
    answer.raise_for_status()
    return list(answer.json()["features"])


def seen_by_sdk(sb: Sandbox, environment: str, flag: str = FLAG) -> set[str]:
    """The user ids for which the real Unleash SDK, in `environment`, evaluates the flag as on."""
    with unleash_client(sb, environment) as client:
        return {user for user in USER_IDS if client.is_enabled(flag, {"userId": user})}


def seen_by_ours(sb: Sandbox, environment: str, flag: str = FLAG) -> set[str]:
    feature = next((f for f in served(sb, environment) if f["name"] == flag), None)
    if feature is None:
        return set()
    return {user for user in USER_IDS if is_enabled(feature, {"userId": user})}


@pytest.fixture(autouse=True)
def _sdk_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's default cache folder, should it be used, is a temporary one."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))


def test_a_real_unleash_client_sees_each_step_the_cli_takes(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    made = sandbox.project_flags()[FLAG]
    assert (made["active"], made["version"], made["strategies"]) == (False, "new_version_flag", [])
    assert seen_by_sdk(sandbox, "production") == set()

    staged = enable(sandbox, ref, "--env", "staging")
    assert staged.code == 0, staged.result.output
    assert "+ default on staging" in staged.result.stdout
    assert flag_requests(staged) == ["GET", "PUT"]  # one GET of the flag, one write
    assert seen_by_sdk(sandbox, "staging") == set(USER_IDS)
    assert seen_by_sdk(sandbox, "production") == set()
    assert box(sandbox, int(ref.split("#")[1]), "enable-staging") == "[x]"

    before: set[str] = set()
    for percentage, step in ((10, "ramp-10"), (25, "ramp-25"), (50, "ramp-50"), (100, "enable-production")):
        stepped = enable(sandbox, ref, "--percentage", str(percentage))
        assert stepped.code == 0, stepped.result.output
        assert flag_requests(stepped) == ["GET", "PUT"]
        assert box(sandbox, int(ref.split("#")[1]), step) == "[x]"
        rollouts = [s for s in sandbox.project_flags()[FLAG]["strategies"] if s["name"] == "flexibleRollout"]
        assert len(rollouts) == 1
        assert rollouts[0]["parameters"]["rollout"] == str(percentage)
        sdk = seen_by_sdk(sandbox, "production")
        assert seen_by_ours(sandbox, "production") == sdk  # the demo's evaluator agrees user by user
        assert before <= sdk  # sticky: nobody who had it loses it as the share grows
        share = len(sdk) / len(USER_IDS)
        if percentage == 25:
            assert 0.15 <= share <= 0.35, share  # roughly a quarter of the users
        if percentage == 100:
            assert share == 1.0
        before = sdk

    again = enable(sandbox, ref, "--percentage", "100")
    assert again.code == 0, again.result.output
    assert flag_requests(again) == ["GET"]
    assert again.writes() == []


def test_the_evaluator_agrees_with_the_sdk_on_each_stickiness_and_strategy(sandbox: Sandbox) -> None:
    beta = sandbox.create_user_list("beta", "7,42,999")

    def scoped(name: str, parameters: dict[str, str], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "parameters": parameters,
            "scopes": [{"environment_scope": "production"}],
        } | extra

    sandbox.create_project_flag(
        "by-user",
        strategies=[
            scoped("flexibleRollout", {"groupId": "checkout", "rollout": "30", "stickiness": "userId"})
        ],
    )
    sandbox.create_project_flag(
        "gradual", strategies=[scoped("gradualRolloutUserId", {"groupId": "default", "percentage": "60"})]
    )
    sandbox.create_project_flag("listed", strategies=[scoped("gitlabUserList", {}, user_list_id=beta["id"])])
    sandbox.create_project_flag(
        "by-session",
        strategies=[
            scoped("flexibleRollout", {"groupId": "default", "rollout": "40", "stickiness": "sessionId"})
        ],
    )
    features = {f["name"]: f for f in served(sandbox, "production")}
    with unleash_client(sandbox, "production") as client:
        for name in ("by-user", "gradual", "listed"):
            sdk = [client.is_enabled(name, {"userId": user}) for user in USER_IDS]
            ours = [is_enabled(features[name], {"userId": user}) for user in USER_IDS]
            assert ours == sdk, name
            assert 0 < sum(sdk) < len(USER_IDS)
        sessions = [client.is_enabled("by-session", {"sessionId": s}) for s in USER_IDS]
        assert [is_enabled(features["by-session"], {"sessionId": s}) for s in USER_IDS] == sessions


def test_dry_runs_print_the_strategy_diff_and_write_nothing(sandbox: Sandbox) -> None:
    dry = run(
        sandbox, "create", FLAG, "--project", sandbox.project_path, "--flag-backend", "project",
        "--create-flag", "--dry-run",
    )  # fmt: skip
    assert dry.code == 0, dry.result.output
    assert f"would create feature flag {FLAG}" in dry.result.output
    assert dry.writes() == []
    assert sandbox.project_flags() == {}

    ref = new_rollout(sandbox)
    enable(sandbox, ref, "--percentage", "10")
    before = sandbox.project_flags()[FLAG]
    notes = len(user_notes(sandbox, 1))
    preview = enable(sandbox, ref, "--percentage", "25", "--dry-run")
    assert preview.code == 0, preview.result.output
    assert "10% -> 25%" in preview.result.stdout
    assert preview.writes() == []
    assert sandbox.project_flags()[FLAG] == before
    assert len(user_notes(sandbox, 1)) == notes


def test_disable_takes_an_environment_off_then_the_whole_flag(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    enable(sandbox, ref, "--env", "staging")
    enable(sandbox, ref, "--percentage", "25")
    off = run(sandbox, "disable", ref, "--env", "staging")
    assert off.code == 0, off.result.output
    assert flag_requests(off) == ["GET", "PUT"]
    assert [s["name"] for s in sandbox.project_flags()[FLAG]["strategies"]] == ["flexibleRollout"]
    assert seen_by_sdk(sandbox, "staging") == set()
    assert box(sandbox, 1, "enable-staging") == "[ ]"
    everywhere = run(sandbox, "disable", ref)
    assert everywhere.code == 0, everywhere.result.output
    assert sandbox.project_flags()[FLAG]["active"] is False
    assert seen_by_sdk(sandbox, "production") == set()
    comments = [note["body"] for note in user_notes(sandbox, 1)]
    assert any("Deactivated" in body for body in comments)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--percentage", "150"), "outside 0..100"),
        (("--percentage", "10"), "would lower it"),
        (("--user-list", "nobody"), "no feature flag user list named 'nobody'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    sandbox: Sandbox, args: tuple[str, ...], fragment: str
) -> None:
    ref = new_rollout(sandbox)
    enable(sandbox, ref, "--percentage", "25")
    before, notes, text = sandbox.project_flags(), len(user_notes(sandbox, 1)), description(sandbox, 1)
    refused = enable(sandbox, ref, *args)
    assert refused.code == 2, refused.result.output
    assert fragment in refused.result.stderr
    assert len(refused.result.stderr.strip().splitlines()) == 1
    assert refused.writes() == []
    assert (sandbox.project_flags(), len(user_notes(sandbox, 1)), description(sandbox, 1)) == (
        before,
        notes,
        text,
    )


def test_a_lower_share_is_taken_with_allow_decrease(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    enable(sandbox, ref, "--percentage", "50")
    lowered = enable(sandbox, ref, "--percentage", "10", "--allow-decrease")
    assert lowered.code == 0, lowered.result.output
    assert sandbox.project_flags()[FLAG]["strategies"][0]["parameters"]["rollout"] == "10"


def test_a_reporter_token_is_exit_3_with_nothing_written(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    refused = enable(sandbox, ref, "--env", "staging", role="reporter")
    assert refused.code == 3, refused.result.output
    assert len(refused.result.stderr.strip().splitlines()) == 1
    assert sandbox.tokens["reporter"] not in refused.result.output
    assert sandbox.project_flags()[FLAG]["strategies"] == []
    assert box(sandbox, 1, "enable-staging") == "[ ]"


def test_another_strategy_layout_is_reported_and_changed_only_when_adopted(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    sandbox.edit_project_flag(FLAG, strategies=[
        {"name": "gradualRolloutUserId", "parameters": {"groupId": "default", "percentage": "5"},
         "scopes": [{"environment_scope": "production"}]},
    ])  # fmt: skip
    before = sandbox.project_flags()[FLAG]
    refused = enable(sandbox, ref, "--percentage", "10")
    assert refused.code == 2, refused.result.output
    assert "gradualRolloutUserId" in refused.result.stderr
    assert "--adopt-flag" in refused.result.stderr
    assert sandbox.project_flags()[FLAG] == before
    adopted = enable(sandbox, ref, "--percentage", "10", "--adopt-flag")
    assert adopted.code == 0, adopted.result.output
    names = [s["name"] for s in sandbox.project_flags()[FLAG]["strategies"]]
    assert names == ["flexibleRollout"]


def test_create_refuses_a_flag_made_for_something_else(sandbox: Sandbox) -> None:
    sandbox.create_project_flag(FLAG, description="the payments team's experiment", active=True)
    refused = run(
        sandbox, "create", FLAG, "--project", sandbox.project_path, "--flag-backend", "project",
        "--create-flag",
    )  # fmt: skip
    assert refused.code == 2, refused.result.output
    assert "--adopt-flag" in refused.result.stderr
    assert refused.writes() == []
    assert sandbox.count_issues() == 0


def test_an_unknown_environment_warns_and_a_wildcard_scope_is_accepted(sandbox: Sandbox) -> None:
    sandbox.set_environments(["staging", "production"])
    ref = new_rollout(sandbox)
    odd = enable(sandbox, ref, "--env", "canary")
    assert odd.code == 0, odd.result.output
    assert "has no environment 'canary'" in odd.result.output
    review = enable(sandbox, ref, "--env", "review/*")
    assert review.code == 0, review.result.output
    assert "warning" not in review.result.output
    scopes = [
        sc["environment_scope"] for s in sandbox.project_flags()[FLAG]["strategies"] for sc in s["scopes"]
    ]
    assert scopes == ["canary", "review/*"]


def test_sync_reflects_a_flag_changed_by_hand_and_status_timeline_shows_it(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    enable(sandbox, ref, "--env", "staging")
    updated_at = sandbox.project_flags()[FLAG]["updated_at"]
    half = {"groupId": "default", "rollout": "50", "stickiness": "default"}
    sandbox.edit_project_flag(FLAG, strategies=[
        {"name": "flexibleRollout", "parameters": half, "scopes": [{"environment_scope": "production"}]},
    ])  # fmt: skip
    assert sandbox.project_flags()[FLAG]["updated_at"] == updated_at  # GitLab keeps no trace of it
    synced = run(sandbox, "sync", ref)
    assert synced.code == 0, synced.result.output
    for step in ("ramp-10", "ramp-25", "ramp-50"):
        assert box(sandbox, 1, step) == "[x]"
    assert box(sandbox, 1, "enable-production") == "[ ]"
    shown = run(sandbox, "status", ref, "--timeline")
    assert shown.code == 0, shown.result.output
    assert f"project flag {FLAG} in {sandbox.project_path}: active; staging on, production 50%" in (
        shown.result.stdout
    )


def test_render_records_the_backend_so_later_commands_need_no_option() -> None:
    rendered = run_cli(
        ["render", FLAG, "--flag-backend", "project", "--environments", "staging,canary,production",
         "--ramp", "5,50,100", "--stickiness", "userId", "--beta-user-list", "beta"],
    )  # fmt: skip
    assert rendered.code == 0, rendered.output
    text = rendered.stdout
    for step in ("create-flag", "enable-staging", "enable-canary", "enable-beta", "ramp-5", "ramp-50"):
        assert f"<!-- step:{step} -->" in text
    marker = next(line for line in text.splitlines() if line.startswith("<!-- gl-rollout-flag "))
    payload = json.loads(marker.removeprefix("<!-- gl-rollout-flag ").removesuffix(" -->"))
    assert payload["backend"] == "project"
    assert payload["environments"] == ["staging", "canary", "production"]
    assert (payload["ramp"], payload["stickiness"]) == ([5, 50, 100], "userId")


def test_demo_with_the_project_backend_ends_with_the_unleash_view(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    first = run_cli(
        ["demo", "--flag-backend", "project", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)}
    )
    assert first.code == 0, first.output
    assert "Unleash client in production, at the end: new-checkout enabled" in first.stdout
    assert "on for 1000 of 1000 sample users" in first.stdout
    second = run_cli(
        ["demo", "--flag-backend", "project", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)}
    )
    assert second.code == 0, second.output
    assert "nothing to do" in second.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--environments", ","), "--environments names none"),
        (("--environments", "staging,staging"), "one environment twice"),
        (("--ramp", "50,25"), "rise strictly"),
        (("--ramp", "10,150"), "from 1 to 100"),
        (("--stickiness", "bogus"), "use one of default, userId, sessionId, random"),
        (("--flag-project", "../x"), "is not a project path or ID"),
        (("--template", "rollout-detailed"), "for instance flags"),
    ],
)
def test_render_refuses_bad_project_flag_options_in_one_line(args: tuple[str, ...], fragment: str) -> None:
    refused = run_cli(["render", FLAG, "--flag-backend", "project", *args])
    assert refused.code == 2, refused.output
    assert fragment in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert refused.stdout == ""


def test_project_flag_options_need_the_project_backend() -> None:
    refused = run_cli(["render", "my_flag", "--stickiness", "userId"])
    assert refused.code == 2, refused.output
    assert "--flag-backend project" in refused.stderr


def test_templates_lists_the_project_flag_template_with_its_steps() -> None:
    listed = run_cli(["templates"])
    assert listed.code == 0, listed.output
    lines = listed.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("project-flag:"))
    assert lines[at + 1].strip() == (
        "12 steps: create-flag, enable-staging, test-staging, docs-updated, announce-eta, ramp-10, ramp-25, "
        "ramp-50, enable-production, announce-enabled, remove-flag, cleanup"
    )
    assert any(line.startswith("  stickiness:") for line in lines)
