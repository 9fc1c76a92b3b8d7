"""`gl-rollout announce`: the comment, the tick, at most 5 requests, and nothing twice."""

from __future__ import annotations

import datetime as dt
import re

from gl_rollout.core.markers import find_note_marker
from gl_rollout.sandbox import Sandbox
from tests.workflow_cli import box, create, ref_of, run, user_notes


def _future(days: int = 3) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%d 14:00 UTC")


def test_eta_posts_utc_and_distance_then_ticks_in_five_requests(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h", "--json")
    assert done.code == 0, done.result.output
    notes = user_notes(sandbox, iid)
    assert len(notes) == 1
    body = notes[0]["body"]
    assert re.search(r"\*\*\d{4}-\d\d-\d\d \d\d:\d\d UTC\*\*", body)
    assert "in 2 hours" in body
    marker = find_note_marker(body)
    assert marker is not None
    assert marker.action == "announce-eta"
    assert marker.values["relative"] == "2h"
    assert box(sandbox, iid, "announce-eta") == "[x]"
    assert [r.method for r in done.requests] == ["GET", "GET", "POST", "PUT", "GET"]
    assert done.data["posted"] is True
    assert done.data["written"] is True
    assert done.data["note_url"].endswith(f"#note_{notes[0]['id']}")


def test_second_identical_run_posts_and_writes_nothing(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "announce", ref, "--eta", "in 2h").code == 0
    again = run(sandbox, "announce", ref, "--eta", "in 2h", "--json")
    assert again.code == 0
    assert again.data["nothing_to_do"] is True
    assert not again.writes()
    assert len(again.requests) == 2
    assert len(user_notes(sandbox, iid)) == 1


def test_a_different_eta_is_a_new_announcement(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "announce", ref, "--eta", _future(3)).code == 0
    moved = run(sandbox, "announce", ref, "--eta", _future(4), "--json")
    assert moved.code == 0
    assert moved.data["posted"] is True
    assert moved.data["written"] is False  # the step was already ticked
    assert len(user_notes(sandbox, iid)) == 2


def test_a_lost_tick_is_made_again_without_a_second_comment(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "announce", ref, "--eta", "in 2h").code == 0
    text = sandbox.get_issue(None, iid)["description"]
    sandbox.edit_issue(
        None,
        iid,
        description=text.replace("- [x] Announce on this issue when", "- [ ] Announce on this issue when"),
    )
    again = run(sandbox, "announce", ref, "--eta", "in 2h", "--json")
    assert again.code == 0
    assert again.data["posted"] is False
    assert again.data["written"] is True
    assert box(sandbox, iid, "announce-eta") == "[x]"
    assert len(user_notes(sandbox, iid)) == 1


def test_time_without_zone_or_in_the_past_is_refused_before_any_request(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    for when, says in (("2026-12-01 14:00", "has no time zone"), ("2020-01-01 10:00 UTC", "in the past")):
        done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", when)
        assert done.code == 2
        assert says in done.result.stderr
        assert "UTC" in done.result.stderr
        assert done.requests == []


def test_dry_run_shows_the_comment_and_the_diff_and_writes_nothing(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", _future(), "--dry-run", "--json")
    assert done.code == 0
    assert done.data["dry_run"] is True
    assert len(done.data["comments"]) == 1
    assert "14:00 UTC" in done.data["comments"][0]
    assert "+- [x] Announce on this issue when" in done.data["diff"]
    assert not done.writes()
    assert user_notes(sandbox, iid) == []

    human = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", _future(), "--dry-run")
    assert "Comment:" in human.result.stdout
    assert "Description diff:" in human.result.stdout


def test_enabled_ticks_announce_enabled_on_production_only(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    staging = run(sandbox, "announce", ref, "--enabled", "--env", "staging", "--json")
    assert staging.code == 0
    assert staging.data["written"] is False
    assert box(sandbox, iid, "announce-enabled") == "[ ]"
    assert run(sandbox, "check", ref, "enable-production").code == 0
    production = run(sandbox, "announce", ref, "--enabled", "--json")
    assert production.code == 0
    assert box(sandbox, iid, "announce-enabled") == "[x]"
    bodies = [n["body"] for n in user_notes(sandbox, iid)]
    assert len(bodies) == 2
    assert "now enabled on staging" in bodies[0]
    assert "now enabled on production" in bodies[1]
    again = run(sandbox, "announce", ref, "--enabled")
    assert again.code == 0
    assert not again.writes()


def test_enabled_on_production_is_refused_while_enable_production_is_todo(sandbox: Sandbox) -> None:
    """Audit #16: announcing that a flag is on, when the issue says it is not, misleads everyone."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    for args in ([], ["--env", "production"], ["--dry-run"]):
        refused = run(sandbox, "announce", ref, "--enabled", *args)
        assert refused.code == 2, refused.result.output
        lines = refused.result.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "enable-production" in lines[0]
        assert "not done" in lines[0]
        assert "enable it first" in lines[0]
        assert f"gl-rollout check {ref} enable-production" in lines[0]
        assert not refused.writes()
    assert user_notes(sandbox, iid) == []
    # Another environment is not about the enable-production step: announced, nothing ticked.
    staging = run(sandbox, "announce", ref, "--enabled", "--env", "staging")
    assert staging.code == 0, staging.result.output
    assert len(user_notes(sandbox, iid)) == 1
    # Ticked by hand (enabled outside gl-rollout): now it may be announced.
    assert run(sandbox, "check", ref, "enable-production").code == 0
    assert run(sandbox, "announce", ref, "--enabled").code == 0
    assert box(sandbox, iid, "announce-enabled") == "[x]"


def test_announce_needs_exactly_one_of_eta_and_enabled(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    for args in ([], ["--eta", "in 2h", "--enabled"]):
        done = run(sandbox, "announce", ref_of(sandbox, iid), *args)
        assert done.code == 2
        assert done.requests == []


def test_an_issue_that_names_no_flag_needs_flag(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Rollout", description="- [ ] Announce ETA <!-- step:announce-eta -->")
    ref = ref_of(sandbox, issue["iid"])
    done = run(sandbox, "announce", ref, "--eta", "in 1d")
    assert done.code == 2
    assert "--flag" in done.result.stderr
    named = run(sandbox, "announce", ref, "--eta", "in 1d", "--flag", "my_flag")
    assert named.code == 0
    assert box(sandbox, issue["iid"], "announce-eta") == "[x]"


def test_a_step_marked_inapplicable_stays_so(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    text = sandbox.get_issue(None, iid)["description"]
    skipped = text.replace("- [ ] Announce on this issue when", "- [~] Announce on this issue when")
    sandbox.edit_issue(None, iid, description=skipped)
    done = run(sandbox, "announce", ref_of(sandbox, iid), "--eta", "in 2h")
    assert done.code == 0
    assert "announce-eta is skipped" in done.result.stdout
    assert box(sandbox, iid, "announce-eta") == "[~]"
    assert len(user_notes(sandbox, iid)) == 1
