"""`gl-rollout enable` / `disable`: the ChatOps command as a comment, the step, and `--apply`."""

from __future__ import annotations

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.workflow_cli import FLAG, box, create, env_for, ref_of, run, user_notes


def _admin_env(sb: Sandbox, role: str = "admin") -> dict[str, str]:
    """GITLAB_ADMIN_TOKEN holding the token of `role` (the Features API needs an administrator's)."""
    return env_for(sb, GITLAB_ADMIN_TOKEN=sb.tokens[role])


def _apply(sb: Sandbox) -> list[str]:
    return ["--apply", "--target-url", str(sb.url)]


@pytest.mark.parametrize(
    ("args", "command", "step"),
    [
        (["--env", "staging"], f"/chatops run feature set {FLAG} true --staging", "enable-staging"),
        ([], f"/chatops run feature set {FLAG} true", "enable-production"),
        (["--env", "production"], f"/chatops run feature set {FLAG} true", "enable-production"),
        (
            ["--project-actor", "gitlab-org/gitlab", "--group-actor", "gitlab-com"],
            f"/chatops run feature set {FLAG} true --project=gitlab-org/gitlab --group=gitlab-com",
            "enable-beta",
        ),
        (
            ["--env", "staging", "--chatops-prefix", "/chatops gitlab run"],
            f"/chatops gitlab run feature set {FLAG} true --staging",
            "enable-staging",
        ),
    ],
)
def test_enable_comments_the_command_and_ticks_its_step(
    sandbox: Sandbox, args: list[str], command: str, step: str
) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), *args, "--json")
    assert done.code == 0, done.result.output
    (note,) = user_notes(sandbox, iid)
    assert f"`{command}`" in note["body"]
    assert box(sandbox, iid, step) == "[x]"
    ticked = [
        s for s in ("enable-staging", "enable-beta", "enable-production") if box(sandbox, iid, s) == "[x]"
    ]
    assert ticked == [step]
    assert len(done.requests) <= 5
    marker = find_note_marker(note["body"])
    assert marker is not None
    assert marker.action == "enable"
    assert marker.step == step
    again = run(sandbox, "enable", ref_of(sandbox, iid), *args, "--json")
    assert again.code == 0
    assert again.data["nothing_to_do"] is True
    assert not again.writes()


def test_a_partial_percentage_ticks_nothing_in_the_default_template(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--percentage", "25", "--actors")
    assert done.code == 0
    assert f"feature set {FLAG} 25 --actors" in user_notes(sandbox, iid)[0]["body"]
    assert "only the comment is posted" in done.result.stdout
    assert "[x]" not in sandbox.get_issue(None, iid)["description"]


def test_a_percentage_ticks_the_matching_ramp_step_of_the_detailed_template(sandbox: Sandbox) -> None:
    iid = create(sandbox, "--template", "rollout-detailed")["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--percentage", "25", "--actors")
    assert done.code == 0, done.result.output
    assert box(sandbox, iid, "ramp-25") == "[x]"
    assert box(sandbox, iid, "ramp-10") == "[ ]"
    assert box(sandbox, iid, "enable-production") == "[ ]"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--percentage", "25", "--actors", "--project-actor", "a/b"],
            "cannot be combined with actor targets",
        ),
        (["--percentage", "101", "--actors"], "out of range"),
        (["--user", "bad user!"], "invalid --user"),
        (["--chatops-prefix", "chatops run"], "invalid ChatOps prefix"),
        (["--apply", "--env", "staging", "--env", "production"], "several environments"),
    ],
)
def test_invalid_chatops_requests_are_refused_before_any_request(
    sandbox: Sandbox, args: list[str], says: str
) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), *args)
    assert done.code == 2
    assert says in done.result.stderr
    assert done.requests == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--percentage", "25"], "needs --actors or --time"),
        (["--env", "moon"], "unknown environment"),
    ],
)
def test_chatops_requests_valid_for_a_project_flag_are_refused_after_the_issue_read_only(
    sandbox: Sandbox, args: list[str], says: str
) -> None:
    """`--percentage N` alone and any environment name are right for a project-flag rollout (issue 11),
    so the issue says which rules apply: one GET of it, then the same refusal, nothing written."""
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), *args)
    assert done.code == 2
    assert says in done.result.stderr
    assert [(r.method, r.path.rsplit("/", 2)[-2:]) for r in done.requests] == [("GET", ["issues", str(iid)])]


def test_apply_sets_the_flag_and_the_comment_records_what_gitlab_reports(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(
        sandbox, "enable", ref_of(sandbox, iid), "--env", "staging", *_apply(sandbox), "--json",
        env=_admin_env(sandbox),
    )  # fmt: skip
    assert done.code == 0, done.result.output
    gates = {g["key"]: g["value"] for g in sandbox.features()[FLAG]["gates"]}
    assert gates.get("boolean") is True
    body = user_notes(sandbox, iid)[0]["body"]
    assert "GitLab now reports state **on**" in body
    assert box(sandbox, iid, "enable-staging") == "[x]"
    assert done.data["features_api"]["sent"] is True
    feature_calls = [f"{r.method} {r.path}" for r in done.requests if "/features" in r.path]
    assert [call.split()[0] for call in feature_calls] == ["GET", "POST", "GET"]
    assert len(done.requests) - len(feature_calls) <= 5
    assert sandbox.tokens["admin"] not in done.result.output

    again = run(
        sandbox, "enable", ref_of(sandbox, iid), "--env", "staging", *_apply(sandbox), "--json",
        env=_admin_env(sandbox),
    )  # fmt: skip
    assert again.code == 0
    assert not again.writes()
    assert again.data["nothing_to_do"] is True


def test_apply_from_on_down_to_a_percentage_clears_the_boolean_gate_first(sandbox: Sandbox) -> None:
    """Flipper keeps the boolean gate when a percentage is set: the flag stayed on for everyone."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    on = run(sandbox, "enable", ref, "--env", "production", *_apply(sandbox), env=_admin_env(sandbox))
    assert on.code == 0, on.result.output
    down = run(
        sandbox, "enable", ref, "--env", "production", "--percentage", "25", "--actors", *_apply(sandbox),
        "--json", env=_admin_env(sandbox),
    )  # fmt: skip
    assert down.code == 0, down.result.output
    gates = {g["key"]: g["value"] for g in sandbox.features()[FLAG]["gates"]}
    assert gates.get("boolean") is not True
    assert gates.get("percentage_of_actors") == 25
    posts = [r for r in down.requests if r.method == "POST" and "/features/" in r.path]
    assert len(posts) == 2  # off, then the percentage
    assert "25%" in user_notes(sandbox, iid)[-1]["body"]


def test_apply_that_fails_posts_nothing_and_ticks_nothing(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(
        sandbox, "enable", ref_of(sandbox, iid), "--env", "staging", *_apply(sandbox),
        env=_admin_env(sandbox, "developer"),
    )  # fmt: skip
    assert done.code == 3
    assert "administrator" in done.result.stderr
    assert len(done.result.stderr.strip().splitlines()) == 1
    assert user_notes(sandbox, iid) == []
    assert box(sandbox, iid, "enable-staging") == "[ ]"
    assert FLAG not in sandbox.features()


def test_apply_without_an_admin_token_says_which_variable(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "enable", ref_of(sandbox, iid), "--apply", "--target-token-env", "MY_ADMIN_TOKEN")
    assert done.code == 2
    assert "MY_ADMIN_TOKEN" in done.result.stderr
    assert not done.writes()


def test_disable_rolls_back_and_enable_again_is_a_new_comment(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    apply = _apply(sandbox)
    env = _admin_env(sandbox)
    assert run(sandbox, "enable", ref, "--env", "staging", *apply, env=env).code == 0
    off = run(sandbox, "disable", ref, "--env", "staging", *apply, "--json", env=env)
    assert off.code == 0, off.result.output
    assert box(sandbox, iid, "enable-staging") == "[ ]"
    assert f"`/chatops run feature set {FLAG} false --staging`" in user_notes(sandbox, iid)[-1]["body"]
    assert not any(g["value"] for g in sandbox.features().get(FLAG, {"gates": []})["gates"])
    assert run(sandbox, "disable", ref, "--env", "staging", *apply, env=env).writes() == []
    on_again = run(sandbox, "enable", ref, "--env", "staging", *apply, env=env)
    assert on_again.code == 0
    assert box(sandbox, iid, "enable-staging") == "[x]"
    actions = [find_note_marker(n["body"]).action for n in user_notes(sandbox, iid)]  # type: ignore[union-attr]
    assert actions == ["enable", "disable", "enable"]


def test_dry_run_with_apply_reads_the_flag_but_sets_nothing(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(
        sandbox, "enable", ref_of(sandbox, iid), *_apply(sandbox), "--dry-run", "--json",
        env=_admin_env(sandbox),
    )  # fmt: skip
    assert done.code == 0
    assert not done.writes()
    assert done.data["comments"]
    assert "`/chatops run feature set" in done.data["comments"][0]
    assert "+- [x] Enable on GitLab.com, running the command" in done.data["diff"]
    assert FLAG not in sandbox.features()
