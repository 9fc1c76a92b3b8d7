"""`advance` against the in-memory GitLab: an instance rollout walked from its comments alone, the
runner that finds another runner's marker right before its write (exit 4), a paused rollout, the
request budget, and an unreadable guard (exit 3, nothing written). The same through the real CLI and
the sandbox is in `tests/e2e/test_advance.py`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gl_rollout.core.markers import NoteMarker, find_note_marker
from gl_rollout.core.model import Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.errors import ConflictError, GitLabError, UsageError
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.workflows.advance import AdvanceOptions, advance
from gl_rollout.workflows.create import CreateOptions, create
from gl_rollout.workflows.posting import Patience
from gl_rollout.workflows.probe import ProbeResult
from gl_rollout.workflows.ramp_read import InstanceApply
from tests.workflows.fake_gitlab import FakeGitLab

PROJECT = "acme/platform/rollouts"
FLAG = "product_analytics_aggregated_metrics"
NO_WAIT = Patience(timeout=1.0, server_timeout=2.0, clock=lambda: 0.0, sleep=lambda _: None)
MINUTE = 60


def new_rollout(api: FakeGitLab, **render: Any) -> IssueRef:
    """An instance rollout with the detailed template's plan (`--ramp 10,50,100` unless told)."""
    options = RenderOptions(flag=FLAG, template="rollout-detailed", **{"ramp": "10,50,100", **render})
    created = create(api, render_issue(options), CreateOptions(project=PROJECT, patience=NO_WAIT))
    assert created.value is not None
    assert created.value.issue.iid is not None
    return IssueRef(PROJECT, created.value.issue.iid)


def box(api: FakeGitLab, ref: IssueRef, step: str) -> str:
    text = api.issue(ref.project, ref.iid).description
    line = next(row for row in text.splitlines() if f"step:{step} " in row)
    return line[line.index("[") : line.index("[") + 3]


def test_an_instance_rollout_is_walked_from_its_own_comments() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    taken = []
    for _ in range(4):
        result = advance(api, ref, patience=NO_WAIT)
        assert result.ok
        assert result.value is not None
        taken.append(result.value.took)
        held = advance(api, ref, patience=NO_WAIT)
        assert held.value is not None
        assert held.value.took is None
        api.advance_clock(15 * MINUTE + 1)
    assert taken == ["staging-100", "production-10", "production-50", "production-100"]
    bodies = [note.body for note in api.notes_of(PROJECT, ref.iid) if "gl-rollout advance" in note.body]
    assert "/chatops run feature set product_analytics_aggregated_metrics true --staging" in bodies[0]
    assert "`/chatops run feature set product_analytics_aggregated_metrics 10 --actors`" in bodies[1]
    assert "`/chatops run feature set product_analytics_aggregated_metrics true`" in bodies[3]
    assert box(api, ref, "enable-staging") == "[x]"
    assert box(api, ref, "enable-production") == "[x]"
    assert api.features == {}  # comment-only: the Features API is never called


def test_nothing_to_do_costs_three_requests_for_an_instance_rollout() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    assert advance(api, ref, patience=NO_WAIT).ok
    api.requests.clear()
    held = advance(api, ref, patience=NO_WAIT)
    assert held.value is not None
    assert [h.guard for h in held.value.blocked_by] == ["wait"]
    assert api.requests == ["GET issue 1", "GET notes page 1", f"GET freeze_periods {PROJECT}"]


class RacingGitLab(FakeGitLab):
    """A GitLab where, between a runner's first read of the notes and its second, `meanwhile` runs
    (another runner posting its step)."""

    meanwhile: Callable[[], None] | None = None

    def list_notes(self, project: str, iid: int, **kwargs: Any) -> list[Note]:
        reads = sum(1 for r in self.requests if r.startswith("GET notes"))
        if reads == 1 and self.meanwhile is not None:
            action, self.meanwhile = self.meanwhile, None
            action()
        return super().list_notes(project, iid, **kwargs)


def test_a_marker_another_runner_wrote_since_the_read_is_exit_4_and_nothing_written() -> None:
    api = RacingGitLab()
    ref = new_rollout(api)
    marker = NoteMarker("enable", FLAG, "enable-staging", {"envs": ["staging"], "value": True})
    api.requests.clear()
    api.meanwhile = lambda: api.comment(PROJECT, ref.iid, "other runner\n\n" + marker.to_comment(), "bot")
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, patience=NO_WAIT)
    assert "another runner" in caught.value.one_line()
    assert [r for r in api.requests if not r.startswith("GET")] == []
    # run again: it starts from the other runner's step and waits its 15 minutes
    again = advance(api, ref, patience=NO_WAIT)
    assert again.value is not None
    assert again.value.position == "staging-100"
    assert [h.guard for h in again.value.blocked_by] == ["wait"]


def test_a_paused_rollout_is_held_until_resumed() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    pause = NoteMarker("pause", FLAG, None, {"reason": "error rate up"})
    api.comment(PROJECT, ref.iid, "paused\n\n" + pause.to_comment(), "alice")
    held = advance(api, ref, patience=NO_WAIT)
    assert held.value is not None
    assert [h.guard for h in held.value.blocked_by] == ["paused"]
    assert "error rate up" in held.value.blocked_by[0].reason
    resume = NoteMarker("resume", FLAG, None, {})
    api.comment(PROJECT, ref.iid, "resumed\n\n" + resume.to_comment(), "alice")
    assert advance(api, ref, patience=NO_WAIT).value.took == "staging-100"  # type: ignore[union-attr]


def test_an_unreadable_freeze_list_is_exit_3_with_nothing_written() -> None:
    class Broken(FakeGitLab):
        def list_freeze_periods(self, project: str) -> list[Any]:
            raise GitLabError("GitLab answered 500 to GET freeze_periods", "try again")

    api = Broken()
    ref = new_rollout(api)
    api.requests.clear()
    with pytest.raises(GitLabError):
        advance(api, ref, AdvanceOptions(), patience=NO_WAIT)
    assert [r for r in api.requests if not r.startswith("GET")] == []


def test_the_runners_marker_names_the_step_it_took() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    assert advance(api, ref, patience=NO_WAIT).ok
    markers = [find_note_marker(n.body) for n in api.notes_of(PROJECT, ref.iid)]
    found = [m for m in markers if m is not None and m.action == "enable"]
    assert [m.values.get("advance") for m in found] == ["staging-100"]


# --- `--settle`: the probe again after the step, in the same run ------------------------------------------


class Probes:
    """A probe that answers `healthy` in turn (the last answer kept), and the waits the workflow asked for."""

    def __init__(self, *healthy: bool) -> None:
        self.answers = list(healthy)
        self.calls = 0
        self.slept: list[float] = []

    def __call__(self) -> ProbeResult:
        self.calls += 1
        healthy = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        said = "HTTP 200 OK" if healthy else "HTTP 503 Service Unavailable\nerror rate 7%"
        return ProbeResult(healthy, said)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def settled(probes: Probes, seconds: float = 300) -> AdvanceOptions:
    return AdvanceOptions(probe=probes, settle=seconds, sleep=probes.sleep)


def test_unhealthy_after_the_settle_time_rolls_the_step_back_and_pauses_in_the_same_run() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    assert advance(api, ref, patience=NO_WAIT).ok  # staging-100
    api.advance_clock(15 * MINUTE + 1)
    probes = Probes(True, False)  # healthy before the step, unhealthy once it has settled
    result = advance(api, ref, settled(probes), patience=NO_WAIT)
    assert result.ok
    assert result.value is not None
    assert result.value.took == "production-10"
    assert result.value.halted == "staging-100"
    assert [h.guard for h in result.value.blocked_by] == ["probe"]
    assert probes.calls == 2
    assert probes.slept == [300]
    comments = [n.body for n in api.notes_of(PROJECT, ref.iid)]
    rolled = next(body for body in comments if "**Rolled back**" in body)
    assert "HTTP 503 Service Unavailable\nerror rate 7%" in rolled
    assert box(api, ref, "rollback-production") == "[x]"  # production is disabled again
    # the next run is held by the rollback until resume, and runs no probe
    api.advance_clock(30 * MINUTE)
    again = advance(api, ref, settled(Probes(True)), patience=NO_WAIT)
    assert again.value is not None
    assert [h.guard for h in again.value.blocked_by] == ["rolled-back"]
    assert again.value.took is None
    assert again.value.position == "staging-100"


def test_healthy_after_the_settle_time_keeps_the_step() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    probes = Probes(True)
    result = advance(api, ref, settled(probes, 30), patience=NO_WAIT)
    assert result.value is not None
    assert result.value.took == "staging-100"
    assert result.value.halted is None
    assert result.value.blocked_by == ()
    assert (probes.calls, probes.slept) == (2, [30])
    assert "probe after 30 s of settling: healthy" in result.messages
    assert box(api, ref, "enable-staging") == "[x]"


def test_no_step_taken_or_a_dry_run_means_no_settle_wait() -> None:
    api = FakeGitLab()
    ref = new_rollout(api)
    probes = Probes(True)
    dry = advance(api, ref, settled(probes), dry_run=True, patience=NO_WAIT)
    assert dry.value is not None
    assert dry.value.took == "staging-100"
    assert probes.slept == []
    assert any("would wait 300 s" in line for line in dry.messages)
    assert advance(api, ref, settled(probes), patience=NO_WAIT).ok
    held = advance(api, ref, settled(probes), patience=NO_WAIT)  # waiting for the plan's 15 minutes
    assert held.value is not None
    assert held.value.took is None
    assert probes.slept == [300]  # only the run that took a step waited


# --- `--apply`: an instance rollout's production steps through the Features API -----------------------------


def applied(api: FakeGitLab, env: str | None = None, **more: Any) -> AdvanceOptions:
    """`advance --apply` with the fake as its own target instance (its admin connection)."""
    return AdvanceOptions(apply=InstanceApply("https://gitlab.example", lambda: api, env), **more)


def gates(api: FakeGitLab) -> dict[str, Any]:
    return {gate.key: gate.value for gate in api.features[FLAG].gates} if FLAG in api.features else {}


def test_apply_sets_production_steps_through_the_features_api_and_reads_the_position_from_the_gates() -> None:
    api = FakeGitLab(admin=True)
    ref = new_rollout(api)
    first = advance(api, ref, applied(api), patience=NO_WAIT)
    assert first.value is not None
    assert first.value.took == "staging-100"
    assert api.features == {}  # staging is not the applied environment: its step stays a ChatOps comment
    api.advance_clock(15 * MINUTE + 1)
    api.requests.clear()
    second = advance(api, ref, applied(api), patience=NO_WAIT)
    assert second.value is not None
    assert second.value.took == "production-10"
    assert gates(api)["percentage_of_actors"] == 10
    assert f"POST /features/{FLAG}" in api.requests
    body = [n.body for n in api.notes_of(PROJECT, ref.iid) if "gl-rollout advance" in n.body][-1]
    assert "Set through the Features API of https://gitlab.example" in body
    # waiting: the position comes from the gates, in 4 requests (the issue, notes, the flag, freezes)
    api.requests.clear()
    held = advance(api, ref, applied(api), patience=NO_WAIT)
    assert held.value is not None
    assert held.value.position == "production-10"
    assert [h.guard for h in held.value.blocked_by] == ["wait"]
    assert api.requests == [
        "GET issue 1",
        "GET notes page 1",
        "GET /features",
        f"GET freeze_periods {PROJECT}",
    ]


def test_apply_refuses_a_gate_changed_by_hand_and_adopt_continues_from_it() -> None:
    api = FakeGitLab(admin=True)
    ref = new_rollout(api)
    for _ in range(2):
        assert advance(api, ref, applied(api), patience=NO_WAIT).ok
        api.advance_clock(15 * MINUTE + 1)
    api.set_feature(FLAG, {"value": 50, "key": "percentage_of_actors"})  # someone ran ChatOps by hand
    api.requests.clear()
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, applied(api), patience=NO_WAIT)
    assert "production is at 50% but the last gl-rollout comment set 10%" in caught.value.one_line()
    assert [r for r in api.requests if not r.startswith("GET")] == []
    adopted = advance(api, ref, applied(api, adopt=True), patience=NO_WAIT)
    assert adopted.value is not None
    assert adopted.value.position == "production-50"


def test_an_unhealthy_probe_with_apply_sets_the_gates_back_too() -> None:
    api = FakeGitLab(admin=True)
    ref = new_rollout(api)
    for _ in range(5):  # to production-100: the boolean gate on
        advance(api, ref, applied(api), patience=NO_WAIT)
        api.advance_clock(15 * MINUTE + 1)
    assert gates(api).get("boolean") is True
    probes = Probes(False)
    halted = advance(api, ref, applied(api, probe=probes), patience=NO_WAIT)
    assert halted.value is not None
    assert halted.value.halted == "production-50"
    # off first (Flipper keeps the boolean gate beside a percentage), then 50% of actors
    assert gates(api).get("boolean") is not True
    assert gates(api)["percentage_of_actors"] == 50
    resumed = NoteMarker("resume", FLAG, None, {})
    api.comment(PROJECT, ref.iid, "resumed\n\n" + resumed.to_comment(), "alice")
    after = advance(api, ref, applied(api), patience=NO_WAIT)
    assert after.value is not None
    assert after.value.position == "production-50"  # the gates and the comments agree: no exit 4


def test_apply_to_an_environment_the_plan_does_not_visit_is_a_usage_error() -> None:
    api = FakeGitLab(admin=True)
    ref = new_rollout(api)
    api.requests.clear()
    with pytest.raises(UsageError) as caught:
        advance(api, ref, applied(api, "canary"), patience=NO_WAIT)
    assert "the plan has no canary step" in caught.value.one_line()
    assert api.requests == ["GET issue 1", "GET notes page 1"]  # nothing written, the flag not read
