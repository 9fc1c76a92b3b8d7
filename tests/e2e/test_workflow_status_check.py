"""`status REF` (one request, a pipeline gate) and `check REF` (at most three, one line, no overwrite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from gl_rollout.workflows.issue_edit import MAX_WRITES
from tests.helpers import run_cli
from tests.workflow_cli import box, create, description, env_for, ref_of, run

DOCS = (
    "Make sure the documentation is up to date, including the flag's version history "
    "<!-- step:docs-updated -->"
)
CHECKLISTS = sorted((Path(__file__).resolve().parents[1] / "data/checklists").glob("*.md"))


# --- status -----------------------------------------------------------------------------------------


def test_status_is_one_request_with_the_steps_and_the_issue(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "status", ref_of(sandbox, iid), "--json")
    assert done.code == 0, done.result.output
    data = done.data
    assert [r.method for r in done.requests] == ["GET"]
    assert {"iid", "web_url", "reference", "title", "state"} <= set(data)
    assert data["state"] == "opened"
    assert (data["done"], data["total"], data["skipped"], data["next"]) == (0, 11, 0, "enable-staging")
    assert data["progress"] == "0 of 11 checklist items completed"
    assert data["task_completion_status"] == {"count": 11, "completed_count": 0}
    assert {"id", "text", "state", "line", "section", "depth"} == set(data["steps"][0])

    human = run(sandbox, "status", ref_of(sandbox, iid))
    assert "0 of 11 checklist items completed" in human.result.stdout
    assert "next: enable-staging" in human.result.stdout


@pytest.mark.parametrize("fixture", CHECKLISTS, ids=[p.stem for p in CHECKLISTS])
def test_status_of_an_issue_equals_status_of_its_text(
    sandbox: Sandbox, fixture: Path, tmp_path: Path
) -> None:
    """The GitLab form and the file form read the same description the same way."""
    issue = sandbox.create_issue(title="Rollout", description=fixture.read_text(encoding="utf-8"))
    stored = tmp_path / "stored.md"
    stored.write_bytes(str(issue["description"] or "").encode("utf-8"))
    from_gitlab = run(sandbox, "status", ref_of(sandbox, issue["iid"]), "--json")
    from_file = run_cli(["status", "--file", str(stored), "--json"])
    assert from_gitlab.code == 0, from_gitlab.result.output
    file_data = dict(json.loads(from_file.stdout)["data"])
    for key in ("steps", "done", "total", "skipped", "next", "progress"):
        assert from_gitlab.data[key] == file_data[key], key


def test_require_is_a_gate_exit_6_until_the_step_is_done(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    blocked = run(
        sandbox, "status", ref, "--require", "enable-staging", "--require", "test-staging", "--json"
    )
    assert blocked.code == 6
    assert blocked.envelope["ok"] is False
    assert blocked.envelope["error"]["code"] == 6
    assert blocked.data["missing"] == ["enable-staging", "test-staging"]
    assert len(blocked.requests) == 1
    assert run(sandbox, "check", ref, "enable-staging", "test-staging").code == 0
    passed = run(sandbox, "status", ref, "--require", "enable-staging", "--require", "test-staging")
    assert passed.code == 0
    unknown = run(sandbox, "status", ref, "--require", "no-such-step")
    assert unknown.code == 5


def test_status_works_with_the_ci_job_token(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(
        sandbox, "status", ref_of(sandbox, iid), "--require", "enable-staging", env=env_for(sandbox, "job")
    )
    assert done.code == 6
    assert "required step not done" in done.result.stderr


def test_status_timeline_costs_one_more_request(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "enable", ref, "--env", "staging").code == 0
    done = run(sandbox, "status", ref, "--timeline", "--json")
    assert done.code == 0
    assert len(done.requests) == 2
    kinds = [event["kind"] for event in done.data["timeline"]]
    assert kinds[0] == "created"
    assert "enable" in kinds
    assert "checked" in kinds


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ([], 2, "needs the issue"),
        (["1", "--file", "x.md"], 2, "not both"),
        (["acme/platform/rollouts#99"], 3, "not found"),
    ],
)
def test_status_errors_are_one_line(sandbox: Sandbox, args: list[str], code: int, says: str) -> None:
    done = run(sandbox, "status", *args)
    assert done.code == code
    assert says in done.result.stderr
    assert len(done.result.stderr.strip().splitlines()) == 1


def test_a_bad_token_is_exit_3_and_never_shown(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    secret = "glpat-this-one-is-wrong-0123456789"
    env = {**env_for(sandbox), "GITLAB_TOKEN": secret}
    for extra in ([], ["--debug"], ["--json"]):
        done = run(sandbox, "status", ref_of(sandbox, iid), *extra, env=env)
        assert done.code == 3
        assert "401" in done.result.output
        assert secret not in done.result.output


# --- check ------------------------------------------------------------------------------------------


def _changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


def test_check_changes_one_line_in_four_requests(sandbox: Sandbox) -> None:
    """The issue, the newest notes (whose newest ID bounds the edit's window from below), the write, and
    the notes again to judge the window."""
    iid = create(sandbox)["iid"]
    before = description(sandbox, iid)
    done = run(sandbox, "check", ref_of(sandbox, iid), "enable-staging", "--json")
    assert done.code == 0, done.result.output
    assert [r.method for r in done.requests] == ["GET", "GET", "PUT", "GET"]
    assert [r.path.rsplit("/", 1)[-1] for r in done.requests] == [str(iid), "notes", str(iid), "notes"]
    after = description(sandbox, iid)
    ((old, new),) = _changed_lines(before, after)
    assert old.replace("- [ ]", "- [x]", 1) == new
    assert done.data["changed"] == ["enable-staging"]
    assert done.data["written"] is True
    assert done.data["progress"] == "1 of 11 checklist items completed"


def test_check_already_done_is_one_request_and_no_write(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "enable-staging").code == 0
    again = run(sandbox, "check", ref, "enable-staging", "--json")
    assert again.code == 0
    assert len(again.requests) == 1
    assert again.data["written"] is False
    assert again.data["unchanged"] == ["enable-staging"]


@pytest.mark.parametrize(("flag", "bracket"), [("--undo", "[ ]"), ("--skip", "[~]")])
def test_check_undo_and_skip(sandbox: Sandbox, flag: str, bracket: str) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "test-staging").code == 0
    done = run(sandbox, "check", ref, "test-staging", flag)
    assert done.code == 0
    assert box(sandbox, iid, "test-staging") == bracket


def test_check_by_position_and_by_text(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "2").code == 0
    assert box(sandbox, iid, "test-staging") == "[x]"
    assert run(sandbox, "check", ref, "changelog").code == 0
    assert box(sandbox, iid, "remove-flag") == "[x]"


def test_check_dry_run_reads_and_writes_nothing(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    before = description(sandbox, iid)
    done = run(sandbox, "check", ref_of(sandbox, iid), "docs-updated", "--dry-run", "--json")
    assert done.code == 0
    assert not done.writes()
    assert done.data["dry_run"] is True
    assert done.data["comments"] == []
    assert "+- [x] Make sure the documentation" in done.data["diff"]
    assert description(sandbox, iid) == before


@pytest.mark.parametrize(("step", "says"), [("no-such-step", "not found"), ("enable", "ambiguous")])
def test_check_unknown_or_ambiguous_step_is_exit_5(sandbox: Sandbox, step: str, says: str) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "check", ref_of(sandbox, iid), step)
    assert done.code == 5
    assert says in done.result.stderr
    assert not done.writes()


def test_check_keeps_crlf_and_every_other_byte(sandbox: Sandbox) -> None:
    text = "Intro\u00a0text  \r\n\r\n- [ ] First\tstep\r\n- [ ] Second step \u2013 ok\r\n"
    issue = sandbox.create_issue(title="CRLF", description=text)
    done = run(sandbox, "check", ref_of(sandbox, issue["iid"]), "second")
    assert done.code == 0, done.result.output
    assert description(sandbox, issue["iid"]) == text.replace("- [ ] Second", "- [x] Second")


def test_check_with_a_job_token_is_refused_before_any_request(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run(sandbox, "check", ref_of(sandbox, iid), "enable-staging", env=env_for(sandbox, "job"))
    assert done.code == 3
    assert "CI_JOB_TOKEN can read issues but not write them" in done.result.stderr
    assert done.requests == []


def test_check_refuses_to_overwrite_an_edit_made_between_its_read_and_write(sandbox: Sandbox) -> None:
    """Alice's text edit lands after check's last read, right before its write: GitLab's notes cannot
    rebuild a text edit, so check says what it wrote and whose edit it replaced (exit 4)."""
    iid = create(sandbox)["iid"]
    sandbox.faults.edit_before_next_write(
        sandbox.project_path, iid, lambda text: text.replace("## Owners", "## Owners\n\nAlice's note.")
    )
    done = run(sandbox, "check", ref_of(sandbox, iid), "enable-staging", "--json")
    assert done.code == 4
    assert done.envelope["error"]["code"] == 4
    conflict = done.data["conflict"]
    assert [change["after"].startswith("- [x] Enable on staging") for change in conflict["wrote"]] == [True]
    assert [edit["author"] for edit in conflict["other_edits"]] == ["alice"]
    assert "restore it from the issue's description history" in done.envelope["error"]["message"]
    assert [r.method for r in done.requests] == ["GET", "GET", "PUT", "GET"]


def test_check_keeps_an_edit_made_right_after_its_read(sandbox: Sandbox) -> None:
    """Alice edits right after check read the issue: the notes check reads next show an edit the text
    lacks, so it reads the issue again and edits that (one more request), and her edit stays."""
    iid = create(sandbox)["iid"]
    sandbox.faults.edit_between_read_and_write(
        sandbox.project_path, iid, lambda text: text.replace("## Owners", "## Owners\n\nAlice's note.")
    )
    done = run(sandbox, "check", ref_of(sandbox, iid), "enable-staging", "--json")
    assert done.code == 0, done.result.output
    assert "Alice's note." in description(sandbox, iid)
    assert box(sandbox, iid, "enable-staging") == "[x]"
    assert [r.method for r in done.requests] == ["GET", "GET", "GET", "PUT", "GET"]


def test_conflict_is_seen_after_an_earlier_tick_too(sandbox: Sandbox) -> None:
    """The edit read is our own earlier tick; the person's text edit lands right after, within the same
    second."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "enable-staging").code == 0
    sandbox.faults.edit_before_next_write(
        sandbox.project_path, iid, lambda text: text.replace("## Owners", "## Owners\n\nAlice's note.")
    )
    done = run(sandbox, "check", ref, "test-staging")
    assert done.code == 4, done.result.output
    assert "alice" in done.result.stderr
    assert "gl-rollout wrote line" in done.result.stdout


def test_a_tick_made_between_the_read_and_the_write_is_set_again(sandbox: Sandbox) -> None:
    """The person ticks a box after our last read; our write undoes it (GitLab notes "marked ... as
    incomplete"): gl-rollout reads the issue again and sets the box back, so both ticks stay."""
    iid = create(sandbox)["iid"]
    ref = ref_of(sandbox, iid)
    assert run(sandbox, "check", ref, "enable-staging").code == 0
    sandbox.faults.edit_before_next_write(
        sandbox.project_path,
        iid,
        lambda text: text.replace("- [ ] Make sure the documentation", "- [x] Make sure the documentation"),
    )
    done = run(sandbox, "check", ref, "test-staging", "--json")
    assert done.code == 0, done.result.output
    for step in ("enable-staging", "test-staging", "docs-updated"):
        assert box(sandbox, iid, step) == "[x]", step
    assert done.data["restored"] == ["docs-updated"]
    assert done.data["changed"] == ["test-staging"]
    # notes, issue, write, notes; then the repair: issue, write, notes
    assert [r.method for r in done.requests] == ["GET", "GET", "PUT", "GET", "GET", "PUT", "GET"]
    bodies = [n["body"] for n in sandbox.notes(None, iid) if n["system"]]
    assert [b for b in bodies if "Make sure the documentation" in b][-3:] == [
        f"marked the checklist item **{DOCS}** as {word}" for word in ("completed", "incomplete", "completed")
    ]


def test_gitlab_storing_other_text_than_sent_is_exit_4(sandbox: Sandbox) -> None:
    """A line that runs as a quick action on write (imported text) changes what GitLab stores."""
    issue = sandbox.create_issue(title="Imported", description="- [ ] Step one\n- [ ] Step two\n")
    row = sandbox.store.issue(sandbox.project_id, issue["iid"])
    assert row is not None
    sandbox.store.update_issue(
        row["id"], {"description": "- [ ] Step one\n- [ ] Step two\n/due 2026-12-24\n"}
    )
    done = run(sandbox, "check", ref_of(sandbox, issue["iid"]), "step one")
    assert done.code == 4
    assert "GitLab stored a different description" in done.result.stderr


def test_require_works_on_a_file_too(tmp_path: Path) -> None:
    text = (
        "- [x] Enable on staging <!-- step:enable-staging -->\n"
        "- [ ] Test on staging <!-- step:test-staging -->\n"
    )
    path = tmp_path / "issue.md"
    path.write_text(text, encoding="utf-8")
    assert run_cli(["status", "--file", str(path), "--require", "enable-staging"]).code == 0
    blocked = run_cli(["status", "--file", str(path), "--require", "test-staging", "--json"])
    assert blocked.code == 6
    assert json.loads(blocked.stdout)["data"]["missing"] == ["test-staging"]
    timeline = run_cli(["status", "--file", str(path), "--timeline"])
    assert timeline.code == 2


def test_ticks_that_keep_landing_before_each_write_end_in_exit_4(sandbox: Sandbox) -> None:
    """Right before each of check's writes someone ticks another box, which that write undoes: after
    MAX_WRITES writes check stops with exit 4 rather than writing on, and names the tick it could not
    set back."""
    iid = create(sandbox)["iid"]
    others = [
        "docs-updated",
        "coordinate",
        "cross-post",
        "remove-flag",
        "cleanup",
        "enable-beta",
        "announce-eta",
    ]
    for step in others:
        marker = f"<!-- step:{step} -->"
        sandbox.faults.edit_before_next_write(
            sandbox.project_path,
            iid,
            lambda text, marker=marker: "\n".join(
                line.replace("[ ]", "[x]", 1) if marker in line else line for line in text.split("\n")
            ),
        )
    done = run(sandbox, "check", ref_of(sandbox, iid), "test-staging", "--json")
    assert done.code == 4, done.result.output
    assert "kept landing" in done.envelope["error"]["message"]
    named = [edit["note"] for edit in done.data["conflict"]["other_edits"]]
    assert len(named) == 1
    assert f"<!-- step:{others[MAX_WRITES - 1]} -->" in named[0]
    assert [r.method for r in done.requests].count("PUT") == MAX_WRITES
    assert box(sandbox, iid, "test-staging") == "[x]"
    # every tick but the one the last write undid was set back
    assert [step for step in others[:MAX_WRITES] if box(sandbox, iid, step) != "[x]"] == [
        others[MAX_WRITES - 1]
    ]
