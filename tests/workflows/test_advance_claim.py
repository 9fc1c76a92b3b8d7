"""Two `advance` runners whose re-reads both come before either writes (issue 15, deliverable 5), against
the in-memory GitLab: the fake's note hooks run a second runner's whole `advance` at the moment the first
posts its step's comment, so the ids and the order of the requests are those of a real race. The step's
comment with the lower note id wins; the other runner deletes its own comment and exits 4, having ticked
nothing and written nothing to the flag. The same with real processes is in `tests/e2e/test_advance_race.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

from gl_rollout.core.markers import find_note_marker
from gl_rollout.core.model import Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.errors import ConflictError, GitLabError, RolloutError
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import Result
from gl_rollout.workflows.advance import AdvanceOutcome, advance
from gl_rollout.workflows.create import CreateOptions, create
from gl_rollout.workflows.posting import Patience
from gl_rollout.workflows.project_flag_create import create_with_flag
from tests.workflows.fake_gitlab import FakeGitLab

PROJECT = "acme/platform/rollouts"
FLAG = "product_analytics_aggregated_metrics"
PROJECT_FLAG = "new-checkout"
NO_WAIT = Patience(timeout=1.0, server_timeout=2.0, clock=lambda: 0.0, sleep=lambda _: None)


def instance_rollout(api: FakeGitLab) -> IssueRef:
    options = RenderOptions(flag=FLAG, template="rollout-detailed", ramp="10,50,100")
    created = create(api, render_issue(options), CreateOptions(project=PROJECT, patience=NO_WAIT))
    assert created.value is not None
    assert created.value.issue.iid is not None
    return IssueRef(PROJECT, created.value.issue.iid)


def project_rollout(api: FakeGitLab) -> IssueRef:
    rendered = render_issue(RenderOptions(flag=PROJECT_FLAG, flag_backend="project", ramp="10,50,100"))
    created = create_with_flag(api, rendered, CreateOptions(project=PROJECT, patience=NO_WAIT))
    assert created.ok, created.error
    assert created.value is not None
    assert created.value.issue.iid is not None
    return IssueRef(PROJECT, created.value.issue.iid)


def step_comments(api: FakeGitLab, ref: IssueRef, step: str) -> list[Note]:
    found = []
    for note in api.notes_of(ref.project, ref.iid):
        marker = find_note_marker(note.body)
        if marker is not None and marker.action == "enable" and marker.values.get("advance") == step:
            found.append(note)
    return found


def box(api: FakeGitLab, ref: IssueRef, step: str) -> str:
    text = api.issue(ref.project, ref.iid).description
    line = next(row for row in text.splitlines() if f"step:{step} " in row)
    return line[line.index("[") : line.index("[") + 3]


class Race:
    """The other runner: its whole `advance`, run once from one of the fake's note hooks."""

    def __init__(self, api: FakeGitLab, ref: IssueRef) -> None:
        self.api, self.ref = api, ref
        self.result: Result[AdvanceOutcome] | None = None
        self.error: RolloutError | None = None
        self.requests: list[str] = []

    def __call__(self, *_: Any) -> None:
        self.api.before_create_note = self.api.after_create_note = None  # once: its own post runs plainly
        start = len(self.api.requests)
        try:
            self.result = advance(self.api, self.ref, patience=NO_WAIT)
        except RolloutError as exc:
            self.error = exc
        self.requests = self.api.requests[start:]


def test_the_runner_whose_comment_came_second_removes_it_and_exits_4() -> None:
    """Both re-read before either posts; the other runner posts first (the lower id) and wins."""
    api = FakeGitLab()
    ref = instance_rollout(api)
    other = Race(api, ref)
    api.before_create_note = other  # right after this run's re-read, before its comment is stored
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, patience=NO_WAIT)
    winner = step_comments(api, ref, "staging-100")
    assert other.error is None
    assert other.result is not None
    assert other.result.value is not None
    assert other.result.value.took == "staging-100"
    assert len(winner) == 1  # ours was posted, then deleted
    assert caught.value.one_line().startswith(
        f"another runner took staging-100 (note {winner[0].id}); this run removed its own comment"
    )
    assert box(api, ref, "enable-staging") == "[x]"  # ticked once, by the winner
    assert api.requests[-2:] == ["GET notes page 1", "DELETE note"]  # no tick after the claim was lost
    assert api.issue(PROJECT, ref.iid).labels.count("rollout::staging") == 1


def test_the_runner_whose_comment_came_first_goes_on_when_another_posts_after_it() -> None:
    """The other side of the same race: the other runner posts after this one and is the one to go."""
    api = FakeGitLab()
    ref = instance_rollout(api)
    other = Race(api, ref)
    api.after_create_note = other  # this run's comment is stored; the other runner runs to its end
    first = advance(api, ref, patience=NO_WAIT)
    assert first.ok
    assert first.value is not None
    assert first.value.took == "staging-100"
    # the other runner's pre-read already saw this run's comment: held by the step's wait, nothing written
    assert other.error is None
    assert other.result is not None
    assert other.result.value is not None
    assert other.result.value.took is None
    assert [h.guard for h in other.result.value.blocked_by] == ["wait"]
    assert [r for r in other.requests if not r.startswith("GET")] == []
    assert len(step_comments(api, ref, "staging-100")) == 1
    assert box(api, ref, "enable-staging") == "[x]"


def test_a_step_comment_that_appears_after_the_re_read_is_another_runners_not_ours() -> None:
    """The other runner takes the whole step between this run's re-read and the notes read of its write:
    the comment it finds has the same marker key, but another run's token, so this run lost the claim."""
    api = FakeGitLab()
    ref = instance_rollout(api)
    other = Race(api, ref)

    def third_listing(number: int) -> None:  # 1: the first read, 2: the re-read, 3: the write's own read
        if number == 3:
            api.before_list_notes = None
            other()

    api.before_list_notes = third_listing
    start = len(api.requests)
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, patience=NO_WAIT)
    assert other.error is None
    assert other.result is not None
    assert other.result.value is not None
    assert other.result.value.took == "staging-100"
    winner = step_comments(api, ref, "staging-100")
    assert len(winner) == 1
    assert caught.value.one_line().startswith(
        f"another runner took staging-100 (note {winner[0].id}); this run left no comment of it"
    )
    mine = [r for r in api.requests[start:] if r not in other.requests]
    assert [r for r in mine if not r.startswith("GET")] == []  # this run wrote nothing


def test_a_project_flag_is_written_only_by_the_runner_that_won() -> None:
    api = FakeGitLab()
    ref = project_rollout(api)
    other = Race(api, ref)
    api.before_create_note = other
    api.requests.clear()
    with pytest.raises(ConflictError):
        advance(api, ref, patience=NO_WAIT)
    assert other.result is not None
    assert other.result.ok
    assert api.requests.count(f"PUT flag {PROJECT_FLAG}") == 1  # the winner's, inside the race
    assert f"PUT flag {PROJECT_FLAG}" in other.requests
    strategies = api.project_flags[(PROJECT, PROJECT_FLAG)]["strategies"]
    staging = [s for s in strategies if any(sc["environment_scope"] == "staging" for sc in s["scopes"])]
    assert len(staging) == 1, strategies  # one strategy, not one per runner
    assert len(step_comments(api, ref, "staging-100")) == 1
    assert box(api, ref, "enable-staging") == "[x]"


def test_a_winner_costs_the_re_list_and_the_stage_label() -> None:
    api = FakeGitLab()
    ref = project_rollout(api)
    api.requests.clear()
    took = advance(api, ref, patience=NO_WAIT)
    assert took.ok
    assert took.value is not None
    assert took.value.took == "staging-100"
    writes = [r for r in api.requests if not r.startswith("GET")]
    assert writes == ["POST note", f"PUT flag {PROJECT_FLAG}", "PUT issue 1", "PUT issue 1"]  # tick, label
    assert len(api.requests) == 12, api.requests
    assert "rollout::staging" in api.issue(PROJECT, ref.iid).labels
    assert any(line == "stage label: +rollout::staging" for line in took.messages)


def test_a_delete_gitlab_refuses_is_exit_3_naming_the_comment_left_behind() -> None:
    api = FakeGitLab()
    ref = instance_rollout(api)
    api.before_create_note = Race(api, ref)
    api.refuse_deletes = 403
    with pytest.raises(GitLabError) as caught:
        advance(api, ref, patience=NO_WAIT)
    comments = step_comments(api, ref, "staging-100")
    assert len(comments) == 2  # the duplicate stays, and the message names it
    assert f"a duplicate (note {comments[1].id}) remains" in caught.value.one_line()
    assert caught.value.exit_code == 3


def test_a_flag_write_that_fails_after_the_claim_takes_the_claim_back() -> None:
    class FailingPut(FakeGitLab):
        def update_project_flag(self, project: str, name: str, fields: Any) -> Any:
            self.requests.append(f"PUT flag {name}")
            raise GitLabError("GitLab answered 500 to PUT feature_flags", "try again", status=500)

    api = FailingPut()
    ref = project_rollout(api)
    with pytest.raises(RolloutError) as caught:
        advance(api, ref, patience=NO_WAIT)
    assert caught.value.exit_code == 3
    assert "this run removed its comment of staging-100" in caught.value.one_line()
    assert step_comments(api, ref, "staging-100") == []
    assert box(api, ref, "enable-staging") == "[ ]"


def test_the_stage_label_is_production_partial_on_a_production_percentage() -> None:
    api = FakeGitLab()
    ref = instance_rollout(api)
    assert advance(api, ref, patience=NO_WAIT).ok
    api.advance_clock(15 * 60 + 1)
    dry = advance(api, ref, dry_run=True, patience=NO_WAIT)
    assert "would set the stage label: +rollout::production-partial, -rollout::staging" in dry.messages
    assert "rollout::staging" in api.issue(PROJECT, ref.iid).labels  # a dry run writes nothing
    assert advance(api, ref, patience=NO_WAIT).ok
    labels = [label for label in api.issue(PROJECT, ref.iid).labels if label.startswith("rollout::")]
    assert labels == ["rollout::production-partial"]


def test_a_comment_that_commits_after_the_client_gave_up_is_found_and_removed() -> None:
    """Our POST times out and GitLab commits it a little later; the other runner's comment of the step
    (same marker key) is there meanwhile. The looks wait for OUR comment (by the run token) instead of
    taking the other's for it, so ours is found, loses by its id, and is deleted: no stray duplicate."""

    class LateCommit(FakeGitLab):
        pending: tuple[str, int, str] | None = None
        other: Race | None = None
        looks = 0

        def create_note(self, project: str, iid: int, body: str, *, internal: bool = False) -> Note | None:
            if self.other is not None:  # this run's POST: the other runner posts first, ours is held
                other, self.other = self.other, None
                other()
                self.pending = (project, iid, body)  # held by GitLab (logged once it commits); timed out
                self.looks = 0
                raise GitLabError("timed out", details={"ambiguous": True})
            return super().create_note(project, iid, body, internal=internal)

        def list_notes(self, project: str, iid: int, **kwargs: Any) -> list[Note]:
            self.looks += 1
            if self.pending is not None and self.looks == 3:  # the held POST commits during the looks
                held, self.pending = self.pending, None
                FakeGitLab.create_note(self, *held)
            return super().list_notes(project, iid, **kwargs)

    api = LateCommit()
    ref = instance_rollout(api)
    api.requests.clear()
    other = api.other = Race(api, ref)
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, patience=NO_WAIT)
    assert other.result is not None
    assert other.result.ok
    comments = step_comments(api, ref, "staging-100")
    assert len(comments) == 1, [c.body for c in comments]  # ours landed late and was deleted
    assert "this run removed its own comment" in caught.value.one_line()
    assert api.requests.count("POST note") == 2  # ours once (never sent again), the other runner's
    assert box(api, ref, "enable-staging") == "[x]"


def test_the_stage_label_is_left_alone_when_right_and_while_rolled_back() -> None:
    api = FakeGitLab()
    ref = instance_rollout(api)
    for _ in range(2):  # staging, then production 10%
        assert advance(api, ref, patience=NO_WAIT).ok
        api.advance_clock(15 * 60 + 1)
    api.requests.clear()
    assert advance(api, ref, patience=NO_WAIT).ok  # production 50%: still production-partial
    assert [r for r in api.requests if r.startswith("PUT")] == ["PUT issue 1"]  # the tick alone
    # as GitLab's scoped labels leave it (the fake does not drop the other `rollout::` label by itself)
    api.update_issue(
        PROJECT,
        ref.iid,
        {"add_labels": "rollout::rolled-back", "remove_labels": "rollout::production-partial"},
    )
    api.advance_clock(15 * 60 + 1)
    api.requests.clear()
    took = advance(api, ref, patience=NO_WAIT)  # no rollback comment: only the label is there
    assert took.ok
    assert took.value is not None
    assert took.value.took == "production-100"
    labels = [label for label in api.issue(PROJECT, ref.iid).labels if label.startswith("rollout::")]
    assert labels == ["rollout::rolled-back"]
    assert [r for r in api.requests if r.startswith("PUT")] == ["PUT issue 1"]


def test_a_step_caught_between_its_comment_and_its_flag_change_is_exit_4_naming_it() -> None:
    """Another runner's first read falls after this runner's comment and before its PUT (here the runner
    stops there for good): the flag is behind the comment. For GitLab's request timeout that is a step in
    progress; after it, a change by hand (`--adopt` goes on from the flag)."""

    class Crash(Exception):
        pass

    class StopsBeforeThePut(FakeGitLab):
        crash = True

        def update_project_flag(self, project: str, name: str, fields: Any) -> Any:
            if self.crash:
                raise Crash
            return super().update_project_flag(project, name, fields)

    api = StopsBeforeThePut()
    ref = project_rollout(api)
    with pytest.raises(Crash):
        advance(api, ref, patience=NO_WAIT)
    claim = step_comments(api, ref, "staging-100")
    assert len(claim) == 1
    api.crash = False
    api.requests.clear()
    with pytest.raises(ConflictError) as caught:
        advance(api, ref, patience=NO_WAIT)
    assert caught.value.one_line().startswith(f"another runner is taking staging-100 (note {claim[0].id})")
    assert [r for r in api.requests if not r.startswith("GET")] == []
    api.advance_clock(61)
    with pytest.raises(ConflictError) as later:
        advance(api, ref, patience=NO_WAIT)
    assert f"{PROJECT_FLAG} was changed by hand" in later.value.one_line()
