"""`advance`: the ramp runner through the real CLI against the sandbox over HTTP, time moved by the
sandbox's clock (never slept on): a whole ramp walked in seconds, every guard holding it, the request
budget when there is nothing to do, and the refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.health_server import Answer, health_server
from tests.workflow_cli import FLAG, Run, box, env_for, run, user_notes

MINUTE = 60


def new_rollout(sb: Sandbox, *extra: str) -> str:
    """A project-flag rollout whose issue carries a plan (`--ramp 10,50,100 --wait 15m --hold 1d` unless
    `extra` says otherwise)."""
    done = run(
        sb, "create", FLAG, "--project", sb.project_path, "--flag-backend", "project", "--create-flag",
        "--json", *(extra or ("--ramp", "10,50,100", "--wait", "15m", "--hold", "1d")),
    )  # fmt: skip
    assert done.code == 0, done.result.output
    return f"{sb.project_path}#{done.data['iid']}"


def advance(sb: Sandbox, ref: str, *args: str) -> Run:
    return run(sb, "advance", ref, "--json", *args)


def production(sb: Sandbox) -> list[dict[str, Any]]:
    """The strategies of the flag that cover production."""
    flag = sb.project_flags()[FLAG]
    return [
        s for s in flag["strategies"] if any(sc["environment_scope"] == "production" for sc in s["scopes"])
    ]


def guards(done: Run) -> list[str]:
    return [hold["guard"] for hold in done.data["blocked_by"]]


def test_a_whole_ramp_is_walked_in_seconds_by_moving_the_clock(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    taken: list[str] = []
    for _ in range(4):
        done = advance(sandbox, ref)
        assert done.code == 0, done.result.output
        taken.append(done.data["took"])
        # right after a step the next one waits for the plan's 15 minutes, by GitLab's clock
        held = advance(sandbox, ref)
        assert held.code == 0
        assert held.data["took"] is None
        if done.data["next_step"] is not None:
            assert guards(held) == ["wait"]
            # the step's comment starts the wait; what the step said errs late, never early
            assert held.data["blocked_by"][0]["until"] == held.data["next_at"]
            assert held.data["next_at"] <= done.data["next_at"]
            assert held.writes() == []
        sandbox.advance_clock(15 * MINUTE + 1)
    assert taken == ["staging-100", "production-10", "production-50", "production-100"]
    assert box(sandbox, iid, "enable-staging") == "[x]"
    assert box(sandbox, iid, "ramp-10") == "[x]"
    assert box(sandbox, iid, "ramp-50") == "[x]"
    assert box(sandbox, iid, "enable-production") == "[x]"
    flag = sandbox.project_flags()[FLAG]
    assert flag["active"] is True
    # each step is one comment carrying the enable marker and the runner's paragraph
    comments = [n for n in user_notes(sandbox, iid) if "gl-rollout advance" in n["body"]]
    assert len(comments) == 4
    markers = [find_note_marker(n["body"]) for n in comments]
    assert [m.values["advance"] for m in markers if m is not None] == taken
    assert "Next: `production-10`, not before" in comments[0]["body"]
    assert "This is the last step: hold it 1d before cleanup." in comments[-1]["body"]
    # after the last step: nothing to do, in at most 4 requests and no write
    done = advance(sandbox, ref)
    assert done.code == 0
    assert done.data["position"] == "production-100"
    assert done.data["next_step"] is None
    assert done.writes() == []
    assert len(done.requests) <= 4


def test_waiting_costs_four_requests_and_says_until_when(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    assert advance(sandbox, ref).code == 0
    sandbox.advance_clock(5 * MINUTE)
    done = advance(sandbox, ref)
    assert done.code == 0
    assert done.data["position"] == "staging-100"
    assert done.data["next_step"] == "production-10"
    assert guards(done) == ["wait"]
    assert done.data["blocked_by"][0]["until"] == done.data["next_at"]
    assert [r.method for r in done.requests] == ["GET"] * 4
    assert any(r.path.endswith("/freeze_periods") for r in done.requests)
    # the human form names the guard and the time
    human = run(sandbox, "advance", ref)
    assert "wait: staging on must stay so until" in human.result.stdout
    assert "next: production-10, not before" in human.result.stdout


def test_the_wait_is_measured_by_gitlabs_clock_not_this_machines(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    assert advance(sandbox, ref).code == 0
    sandbox.advance_clock(14 * MINUTE)
    assert guards(advance(sandbox, ref)) == ["wait"]
    sandbox.advance_clock(1 * MINUTE + 1)
    assert advance(sandbox, ref).data["took"] == "production-10"


def test_an_open_blocking_incident_holds_the_step_until_it_closes(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    incident = sandbox.add_incident("Checkout down", ("severity::2",))
    done = advance(sandbox, ref, "--incident-project", sandbox.project_path)
    assert done.code == 0
    assert guards(done) == ["incident"]
    assert done.data["next_at"] is None
    assert done.writes() == []
    assert sandbox.project_flags()[FLAG]["active"] is False
    # a severity::3 incident does not block; a label given with --blocking-label does
    sandbox.edit_issue(None, incident["iid"], state_event="close")
    sandbox.add_incident("Slow search", ("severity::3",))
    blocked = advance(
        sandbox, ref, "--incident-project", sandbox.project_path, "--blocking-label", "severity::3"
    )
    assert guards(blocked) == ["incident"]
    done = advance(sandbox, ref, "--incident-project", sandbox.project_path)
    assert done.data["took"] == "staging-100"


def test_an_active_deploy_freeze_holds_the_step_until_it_ends(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    sandbox.add_freeze_period("* * * * *", "59 23 * * *")  # frozen from every minute to 23:59: always
    done = advance(sandbox, ref)
    assert done.code == 0
    assert guards(done) == ["freeze"]
    assert done.data["blocked_by"][0]["until"] is not None
    assert done.writes() == []


def test_an_announced_eta_holds_production_steps_only(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    assert run(sandbox, "announce", ref, "--eta", "in 2h").code == 0
    assert advance(sandbox, ref).data["took"] == "staging-100"  # staging is not held by the ETA
    sandbox.advance_clock(16 * MINUTE)
    done = advance(sandbox, ref)
    assert guards(done) == ["eta"]
    sandbox.advance_clock(2 * 60 * MINUTE)
    assert advance(sandbox, ref).data["took"] == "production-10"


def test_a_step_with_approvers_waits_for_an_approval_comment(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox, "--ramp", "10,50,100", "--approver", "production-10=alice")
    iid = int(ref.rsplit("#", 1)[1])
    assert advance(sandbox, ref).data["took"] == "staging-100"
    sandbox.advance_clock(16 * MINUTE)
    done = advance(sandbox, ref)
    assert guards(done) == ["approval"]
    assert "gl-rollout approve production-10" in done.data["blocked_by"][0]["reason"]
    sandbox.add_note(None, iid, "gl-rollout approve production-10", author="alice")
    assert advance(sandbox, ref).data["took"] == "production-10"


def test_an_approver_gitlab_does_not_know_is_exit_2_before_any_write(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox, "--ramp", "10,50,100", "--approver", "production-10=alice")
    # `create` checks its approvers; a person then edits the plan to name somebody GitLab does not know.
    iid = int(ref.rsplit("#", 1)[1])
    text = sandbox.get_issue(None, iid)["description"]
    assert "| 15m | @alice |" in text
    sandbox.edit_issue(None, iid, description=text.replace("| 15m | @alice |", "| 15m | @nobody_here |"))
    assert advance(sandbox, ref).code == 0  # staging needs no approval
    sandbox.advance_clock(16 * MINUTE)
    done = advance(sandbox, ref)
    assert done.code == 2
    assert "@nobody_here" in done.envelope["error"]["message"]
    assert done.writes() == []


def test_dry_run_says_what_it_would_take_and_writes_nothing(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    done = advance(sandbox, ref, "-n")
    assert done.code == 0
    assert done.data["took"] == "staging-100"
    assert done.data["dry_run"] is True
    assert done.data["position"] is None
    assert done.writes() == []
    assert sandbox.project_flags()[FLAG]["active"] is False


def test_a_flag_changed_by_hand_is_exit_4_unless_adopted(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    assert advance(sandbox, ref).code == 0
    sandbox.advance_clock(16 * MINUTE)
    assert advance(sandbox, ref).data["took"] == "production-10"
    # someone raises production to 30% in GitLab's UI, which the plan never sets
    strategy = production(sandbox)[0]
    parameters = {**strategy["parameters"], "rollout": "30"}
    sandbox.edit_project_flag(FLAG, strategies=[{"id": strategy["id"], "parameters": parameters}])
    sandbox.advance_clock(16 * MINUTE)
    done = advance(sandbox, ref)
    assert done.code == 4
    assert "changed by hand" in done.envelope["error"]["message"]
    assert done.writes() == []
    adopted = advance(sandbox, ref, "--adopt")
    assert adopted.code == 0
    assert adopted.data["took"] == "production-50"


def test_an_issue_without_a_plan_is_exit_2(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--json")
    assert done.code == 0
    ref = f"{sandbox.project_path}#{done.data['iid']}"
    refused = advance(sandbox, ref)
    assert refused.code == 2
    assert "has no rollout plan" in refused.envelope["error"]["message"]
    assert refused.writes() == []


def test_a_guard_that_cannot_be_read_is_exit_3_and_nothing_changes(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    sandbox.faults.fail_next("GET", r"/freeze_periods", 500, count=10)
    done = advance(sandbox, ref)
    assert done.code == 3
    assert done.writes() == []
    assert sandbox.project_flags()[FLAG]["active"] is False


# --- pause, resume, rollback -----------------------------------------------------------------------------


def walk_to(sb: Sandbox, ref: str, step: str) -> None:
    """Advance (moving the clock past each wait) until the position is `step`."""
    for _ in range(10):
        done = advance(sb, ref)
        assert done.code == 0, done.result.output
        if done.data["position"] == step:
            return
        sb.advance_clock(15 * MINUTE + 1)
    raise AssertionError(f"never reached {step}")


def test_pause_holds_the_runner_until_resume_and_runs_twice_as_once(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    done = run(sandbox, "pause", ref, "--reason", "error rate up", "--json")
    assert done.code == 0, done.result.output
    assert done.data["posted"] is True
    again = run(sandbox, "pause", ref, "--reason", "error rate up", "--json")
    assert again.code == 0
    assert again.data["nothing_to_do"] is True
    assert again.writes() == []
    held = advance(sandbox, ref)
    assert guards(held) == ["paused"]
    assert "error rate up" in held.data["blocked_by"][0]["reason"]
    assert held.writes() == []
    assert run(sandbox, "resume", ref).code == 0
    assert run(sandbox, "resume", ref, "--json").data["nothing_to_do"] is True
    assert advance(sandbox, ref).data["took"] == "staging-100"
    assert len([n for n in user_notes(sandbox, iid) if "**Paused**" in n["body"]]) == 1


def test_pause_without_a_reason_is_exit_2_and_sends_nothing(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    done = run(sandbox, "pause", ref)
    assert done.code == 2
    assert "--reason" in done.result.stderr
    assert done.requests == []


def test_rollback_goes_one_step_back_labels_and_stops_the_runner(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    walk_to(sandbox, ref, "production-50")
    dry = run(sandbox, "rollback", ref, "--reason", "p99 latency", "-n", "--json")
    assert dry.code == 0, dry.result.output
    assert dry.data["to"] == "production-10"
    assert dry.writes() == []
    done = run(sandbox, "rollback", ref, "--reason", "p99 latency", "--json")
    assert done.code == 0, done.result.output
    assert done.data["to"] == "production-10"
    assert [s["parameters"]["rollout"] for s in production(sandbox)] == ["10"]
    assert "rollout::rolled-back" in sandbox.get_issue(None, iid)["labels"]
    assert box(sandbox, iid, "ramp-10") == "[x]"
    assert box(sandbox, iid, "ramp-50") == "[ ]"  # rolled back: no longer done
    # run again: nothing written
    again = run(sandbox, "rollback", ref, "--reason", "p99 latency", "--json")
    assert again.code == 0
    assert again.writes() == []
    # sync keeps the label: the stage is held until resume
    synced = run(sandbox, "sync", ref)
    assert synced.code == 0, synced.result.output
    assert "rollout::rolled-back" in sandbox.get_issue(None, iid)["labels"]
    # the runner stays put, however long it waits, until resume
    sandbox.advance_clock(60 * MINUTE)
    held = advance(sandbox, ref)
    assert held.data["position"] == "production-10"
    assert guards(held) == ["rolled-back"]
    assert run(sandbox, "resume", ref).code == 0
    assert "rollout::rolled-back" not in sandbox.get_issue(None, iid)["labels"]
    assert advance(sandbox, ref).data["took"] == "production-50"
    assert box(sandbox, iid, "ramp-50") == "[x]"


def test_rollback_of_a_gitlab_flag_comments_the_lower_share_and_unticks_the_steps_above(
    sandbox: Sandbox,
) -> None:
    done = run(sandbox, "create", "ramp_instance", "--project", sandbox.project_path, "--template",
               "rollout-detailed", "--ramp", "10,50,100", "--json")  # fmt: skip
    assert done.code == 0, done.result.output
    iid = done.data["iid"]
    ref = f"{sandbox.project_path}#{iid}"
    walk_to(sandbox, ref, "production-50")
    assert box(sandbox, iid, "ramp-50") == "[x]"
    back = run(sandbox, "rollback", ref, "--reason", "p99 latency", "--json")
    assert back.code == 0, back.result.output
    assert back.data["to"] == "production-10"
    newest = user_notes(sandbox, iid)[-1]["body"]
    assert "/chatops run feature set ramp_instance 10 --actors" in newest
    assert box(sandbox, iid, "ramp-10") == "[x]"
    assert box(sandbox, iid, "ramp-50") == "[ ]"  # rolled back: no longer done
    assert "rollout::rolled-back" in sandbox.get_issue(None, iid)["labels"]
    synced = run(sandbox, "sync", ref)  # the evidence agrees: sync ticks nothing back
    assert synced.code == 0, synced.result.output
    assert box(sandbox, iid, "ramp-50") == "[ ]"
    held = advance(sandbox, ref)
    assert held.data["position"] == "production-10"
    assert guards(held)[0] == "rolled-back"  # and the wait, restarted by the rollback's own comment
    again = run(sandbox, "rollback", ref, "--reason", "p99 latency", "--json")
    assert again.code == 0
    assert again.writes() == []


def test_rollback_off_turns_the_flag_off_everywhere(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    walk_to(sandbox, ref, "production-10")
    done = run(sandbox, "rollback", ref, "--reason", "data loss", "--off", "--json")
    assert done.code == 0, done.result.output
    assert done.data["to"] == "off"
    assert sandbox.project_flags()[FLAG]["active"] is False
    assert advance(sandbox, ref).data["position"] is None


def test_rollback_to_a_step_after_the_position_is_exit_2(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    walk_to(sandbox, ref, "production-10")
    done = run(sandbox, "rollback", ref, "--reason", "x", "--to", "production-50")
    assert done.code == 2
    assert "production-50 is after the position production-10" in done.result.stderr
    assert done.writes() == []


# --- every open rollout of a project ---------------------------------------------------------------------


def test_advance_project_walks_every_open_rollout_with_a_plan(sandbox: Sandbox) -> None:
    first = new_rollout(sandbox)
    done = run(
        sandbox, "create", "other_flag", "--project", sandbox.project_path, "--flag-backend", "project",
        "--create-flag", "--json", "--ramp", "25,50,100",
    )  # fmt: skip
    assert done.code == 0, done.result.output
    second = f"{sandbox.project_path}#{done.data['iid']}"
    plain = run(sandbox, "create", "no_plan_flag", "--project", sandbox.project_path, "--json")
    assert plain.code == 0
    dry = run(sandbox, "advance", "--project", sandbox.project_path, "-n", "--json")
    assert dry.code == 0, dry.result.output
    assert [r["took"] for r in dry.data["rollouts"]] == ["staging-100", "staging-100"]
    assert dry.data["skipped"] == 1
    assert dry.writes() == []
    many = run(sandbox, "advance", "--project", sandbox.project_path, "--json")
    assert many.code == 0, many.result.output
    assert [r["issue"] for r in many.data["rollouts"]] == [first, second]
    assert all(r["took"] == "staging-100" for r in many.data["rollouts"])
    again = run(sandbox, "advance", "--project", sandbox.project_path, "--json")
    assert again.code == 0
    assert [guards_of(r) for r in again.data["rollouts"]] == [["wait"], ["wait"]]
    assert again.writes() == []


def guards_of(rollout: dict[str, Any]) -> list[str]:
    return [hold["guard"] for hold in rollout["blocked_by"]]


def test_advance_without_an_issue_or_a_scope_is_exit_2(sandbox: Sandbox) -> None:
    done = run(sandbox, "advance")
    assert done.code == 2
    assert "--project/--group" in done.result.stderr
    assert done.requests == []


# --- a plan edited badly by hand -------------------------------------------------------------------------


def edit_plan_row(sb: Sandbox, iid: int, old: str, new: str) -> None:
    text = str(sb.get_issue(None, iid)["description"])
    assert old in text
    sb.edit_issue(None, iid, description=text.replace(old, new, 1))


def test_a_plan_edited_to_fall_or_jump_or_with_a_bad_wait_is_exit_2_and_nothing_changes(
    sandbox: Sandbox,
) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    original = str(sandbox.get_issue(None, iid)["description"])
    cases = [
        ("| production | 50% | 15m | |", "| production | 5% | 15m | |", "production falls from 10% to 5%"),
        ("| production | 50% | 15m | |", "| production | 70% | 15m | |", "jumps from 10% to 70%"),
        ("| production | 10% | 15m | |", "| production | 10% | soon | |", "soon"),
    ]
    for old, new, said in cases:
        sandbox.edit_issue(None, iid, description=original)
        edit_plan_row(sandbox, iid, old, new)
        done = advance(sandbox, ref)
        assert done.code == 2, (new, done.result.output)
        assert said in done.envelope["error"]["message"]
        assert done.writes() == []
    assert sandbox.project_flags()[FLAG]["active"] is False


# --- the health probe ------------------------------------------------------------------------------------


def probe_script(folder: Path) -> tuple[Path, Path]:
    """An executable probe that fails (printing what it saw) while the file `unhealthy` exists."""
    script = folder / "probe.sh"
    flag = folder / "unhealthy"
    script.write_text(
        f'#!/bin/sh\nif [ -e "{flag}" ]; then echo "error rate 7% (budget 1%)"; exit 1; fi\necho ok\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script, flag


def test_an_unhealthy_probe_after_a_step_rolls_back_one_step_and_pauses(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    script, unhealthy = probe_script(tmp_path)
    walk_to(sandbox, ref, "production-10")
    unhealthy.touch()
    done = advance(sandbox, ref, "--probe", str(script))
    assert done.code == 0, done.result.output
    assert done.data["halted"] == "staging-100"
    assert guards(done) == ["probe"]
    assert production(sandbox) == []  # production is off again
    assert "rollout::rolled-back" in sandbox.get_issue(None, iid)["labels"]
    comment = next(n["body"] for n in user_notes(sandbox, iid) if "**Rolled back**" in n["body"])
    assert "error rate 7% (budget 1%)" in comment
    assert sandbox.tokens["developer"] not in comment
    # paused: the probe is not run again and nothing moves, healthy or not
    sandbox.advance_clock(30 * MINUTE)
    unhealthy.unlink()
    assert guards(advance(sandbox, ref, "--probe", str(script))) == ["rolled-back"]
    assert run(sandbox, "resume", ref).code == 0
    assert advance(sandbox, ref, "--probe", str(script)).data["took"] == "production-10"


def test_an_unhealthy_probe_before_the_first_step_holds_the_ramp(sandbox: Sandbox, tmp_path: Path) -> None:
    ref = new_rollout(sandbox)
    script, unhealthy = probe_script(tmp_path)
    unhealthy.touch()
    done = advance(sandbox, ref, "--probe", str(script))
    assert done.code == 0
    assert guards(done) == ["probe"]
    assert done.writes() == []


def test_a_probe_that_cannot_run_is_exit_2_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    ref = new_rollout(sandbox)
    for probe in (str(tmp_path / "missing.sh"), "no-such-command-here --check", "'unclosed"):
        done = advance(sandbox, ref, "--probe", probe)
        assert done.code == 2, probe
        assert done.requests == []


# --- the health probe by URL, and the settle time -----------------------------------------------------------


def test_an_unhealthy_probe_url_after_a_step_rolls_back_and_pauses_with_the_status_in_the_comment(
    sandbox: Sandbox,
) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    walk_to(sandbox, ref, "production-10")
    with health_server() as health:
        url = health.answer("/health", Answer(503, "error rate 7% (budget 1%)\ncheckout p99 2.1 s"))
        done = advance(sandbox, ref, "--probe-url", url)
    assert done.code == 0, done.result.output
    assert done.data["halted"] == "staging-100"
    assert guards(done) == ["probe"]
    assert "HTTP 503 Service Unavailable" in done.data["blocked_by"][0]["reason"]
    assert production(sandbox) == []
    comment = next(n["body"] for n in user_notes(sandbox, iid) if "**Rolled back**" in n["body"])
    assert "HTTP 503 Service Unavailable\nerror rate 7% (budget 1%)\ncheckout p99 2.1 s" in comment
    # the probe's host saw one plain GET, with none of gl-rollout's credentials
    assert [path for path, _ in health.seen] == ["/health"]
    headers = health.seen[0][1]
    assert not {"authorization", "private-token", "job-token"} & set(headers)
    assert all(sandbox.tokens["developer"] not in value for value in headers.values())


def test_a_probe_url_on_gitlabs_own_host_gets_no_token(sandbox: Sandbox) -> None:
    """The probe URL is not the configured GitLab, even on its host: GitLab's API, probed, answers 401."""
    ref = new_rollout(sandbox)
    assert sandbox.url is not None
    done = advance(sandbox, ref, "--probe-url", f"{sandbox.url}/api/v4/user")
    assert done.code == 0, done.result.output
    assert guards(done) == ["probe"]
    assert "HTTP 401" in done.data["blocked_by"][0]["reason"]
    probed = [r for r in done.requests if r.path.endswith("/api/v4/user")]
    assert [r.status for r in probed] == [401]  # with the token it would have been 200
    assert done.writes() == []


def test_with_settle_a_step_that_turns_unhealthy_is_rolled_back_in_the_same_run(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    walk_to(sandbox, ref, "production-10")
    sandbox.advance_clock(15 * MINUTE + 1)
    with health_server() as health:
        url = health.answer("/health", Answer(200, "ok"), Answer(500, "p99 latency 4 s"))
        done = advance(sandbox, ref, "--probe-url", url, "--settle", "1s")
    assert done.code == 0, done.result.output
    assert done.data["took"] == "production-50"
    assert done.data["halted"] == "production-10"
    assert len(health.seen) == 2  # before the step, and after the settle time
    strategies = production(sandbox)
    assert [s["parameters"].get("rollout") for s in strategies] == ["10"]
    comment = next(n["body"] for n in user_notes(sandbox, iid) if "**Rolled back**" in n["body"])
    assert "HTTP 500 Internal Server Error\np99 latency 4 s" in comment
    assert "rolled-back" in guards(advance(sandbox, ref))  # paused until resume


def test_a_bad_probe_url_or_settle_is_exit_2_before_any_request(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    for args in (
        ("--probe-url", "ftp://status.example.com/health"),
        ("--probe-url", "https://user:pw@status.example.com/"),
        ("--probe-url", "not a url"),
        ("--settle", "1s"),  # nothing to run after the wait
        ("--probe", "true", "--settle", "soon"),
        ("--probe", "true", "--settle", "2h"),
    ):
        done = advance(sandbox, ref, *args)
        assert done.code == 2, (args, done.result.output)
        assert done.requests == []
        assert "pw@" not in done.result.output


def test_a_probe_that_prints_the_token_has_it_masked_in_the_comment(sandbox: Sandbox, tmp_path: Path) -> None:
    """The probe's environment has no token variable, but a probe may still come by it (here a copy under
    another name): its output is masked with the connection's token, known only once connected."""
    ref = new_rollout(sandbox)
    iid = int(ref.rsplit("#", 1)[1])
    walk_to(sandbox, ref, "production-10")
    script = tmp_path / "leaky.sh"
    script.write_text('#!/bin/sh\necho "calling the API with $COPY_OF_TOKEN"\nexit 1\n', encoding="utf-8")
    script.chmod(0o755)
    token = sandbox.tokens["developer"]
    done = run(sandbox, "advance", ref, "--json", "--probe", str(script),
               env=env_for(sandbox, COPY_OF_TOKEN=token))  # fmt: skip
    assert done.code == 0, done.result.output
    assert done.data["halted"] == "staging-100"
    comment = next(n["body"] for n in user_notes(sandbox, iid) if "**Rolled back**" in n["body"])
    assert "calling the API with [MASKED]" in comment
    assert token not in comment
    assert token not in done.result.output


# --- `--apply`: GitLab's own flags through the Features API -----------------------------------------------


def test_apply_sets_the_instance_gate_of_a_ramp_step_and_reads_the_position_back(sandbox: Sandbox) -> None:
    done = run(sandbox, "create", FLAG, "--project", sandbox.project_path, "--template", "rollout-detailed",
               "--ramp", "10,50,100", "--wait", "15m", "--json")  # fmt: skip
    assert done.code == 0, done.result.output
    ref = f"{sandbox.project_path}#{done.data['iid']}"
    assert sandbox.url is not None
    admin = env_for(sandbox, GITLAB_ADMIN_TOKEN=sandbox.tokens["admin"])
    apply = ("--apply", "--target-url", sandbox.url)
    first = run(sandbox, "advance", ref, "--json", *apply, env=admin)
    assert first.code == 0, first.result.output
    assert first.data["took"] == "staging-100"
    assert FLAG not in sandbox.features()  # staging is another instance: its step is the ChatOps comment
    sandbox.advance_clock(15 * MINUTE + 1)
    second = run(sandbox, "advance", ref, "--json", *apply, env=admin)
    assert second.code == 0, second.result.output
    assert second.data["took"] == "production-10"
    gates = {g["key"]: g["value"] for g in sandbox.features()[FLAG]["gates"]}
    assert gates["percentage_of_actors"] == 10
    # waiting: the position is read from the instance's gates, in 4 requests and no write
    held = run(sandbox, "advance", ref, "--json", *apply, env=admin)
    assert held.data["position"] == "production-10"
    assert guards(held) == ["wait"]
    assert [r.method for r in held.requests] == ["GET"] * 4
    assert any(r.path.endswith("/features") for r in held.requests)
    # without --apply the instance flag is not read: 3 requests
    assert len(run(sandbox, "advance", ref, "--json").requests) == 3


def test_apply_options_are_checked_before_any_request(sandbox: Sandbox) -> None:
    ref = new_rollout(sandbox)
    for args, said in (
        (("--target-url", "https://gitlab.example.com"), "go with --apply"),
        (("--apply-env", "production"), "go with --apply"),
        (("--apply", "--target-url", "http://gitlab.example.com"), "plain HTTP"),
    ):
        done = advance(sandbox, ref, *args)
        assert done.code == 2, (args, done.result.output)
        assert said in done.envelope["error"]["message"]
        assert done.requests == []
