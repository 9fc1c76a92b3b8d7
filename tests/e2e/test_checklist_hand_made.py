"""Hand-made checklists, tried as a new user would: the counts GitLab shows, `check 2` ticking GitLab's second
box, a glued box selected by its text, and edits that would make a box disappear refused (exit 2, nothing
written). The real CLI against the sandbox over HTTP, and `check --file`.
"""

from __future__ import annotations

from pathlib import Path

from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli
from tests.workflow_cli import description, ref_of, run

# Shapes people type when they edit a rollout issue by hand. GitLab draws five boxes here: line 2 ticked,
# line 3 (nothing after it) open, line 4 (`[-]`) ticked, line 5 (glued to its code span) and line 6 open.
HAND_MADE = (
    "## Roll out\n"
    "- [x] Enable on staging\n"
    "- [ ]\n"
    "- [-] Check the dashboards\n"
    "- [ ]`/chatops run feature set my_flag true --staging`\n"
    "- [ ] Verify on staging\n"
)


def test_status_counts_the_boxes_gitlab_draws(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Rollout", description=HAND_MADE)
    done = run(sandbox, "status", ref_of(sandbox, issue["iid"]), "--json")
    assert done.code == 0, done.result.output
    assert [(s["line"], s["state"]) for s in done.data["steps"]] == [
        (2, "done"),
        (3, "todo"),
        (4, "done"),
        (5, "todo"),
        (6, "todo"),
    ]
    assert done.data["progress"] == "2 of 5 checklist items completed"
    # GitLab's own counter (a regex) counts lines 2, 6 and 3 (its label pattern reads on into line 4), not
    # lines 4 and 5: "1 of 3". The README says why the tool follows the drawing.
    assert done.data["task_completion_status"] == {"count": 3, "completed_count": 1}


def test_check_2_ticks_gitlabs_second_box(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Rollout", description=HAND_MADE)
    done = run(sandbox, "check", ref_of(sandbox, issue["iid"]), "2")
    assert done.code == 0, done.result.output
    assert description(sandbox, issue["iid"]) == HAND_MADE.replace("- [ ]\n", "- [x]\n", 1)


def test_a_glued_box_is_selected_by_its_text_and_staging_is_ambiguous(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Rollout", description=HAND_MADE)
    ref = ref_of(sandbox, issue["iid"])
    ambiguous = run(sandbox, "check", ref, "staging")
    assert ambiguous.code == 5, ambiguous.result.output  # two open steps say staging: never a guess
    assert run(sandbox, "check", ref, "set my_flag true").code == 0
    assert "- [x]`/chatops run feature set my_flag true --staging`\n" in description(sandbox, issue["iid"])
    assert "- [ ] Verify on staging\n" in description(sandbox, issue["iid"])


LINK_DEFINED = "- [ ] Enable on staging\n- [ ] Test on staging\n\n[x]: https://example.com/x\n"


def test_ticking_where_x_is_a_link_is_refused_and_nothing_is_written(sandbox: Sandbox) -> None:
    issue = sandbox.create_issue(title="Rollout", description=LINK_DEFINED)
    done = run(sandbox, "check", ref_of(sandbox, issue["iid"]), "test-staging")
    assert done.code == 2, done.result.output
    assert "would no longer draw its box on line 2" in done.result.stderr
    assert "[x]:" in done.result.stderr
    assert len(done.result.stderr.strip().splitlines()) == 1
    assert done.writes() == []
    assert description(sandbox, issue["iid"]) == LINK_DEFINED
    # Skipping stays possible: `[~]` is not defined as a link.
    assert run(sandbox, "check", ref_of(sandbox, issue["iid"]), "2", "--skip").code == 0


def test_skipping_where_the_tilde_would_pair_is_refused_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rollout.md"
    text = "- [ ] skip, see issue~\n- [ ] other\n"
    path.write_text(text, encoding="utf-8")
    done = run_cli(["check", "--file", str(path), "1", "--skip", "--in-place"])
    assert done.code == 2, done.output
    assert "strikethrough" in done.stderr
    assert path.read_text(encoding="utf-8") == text
    assert run_cli(["check", "--file", str(path), "2", "--skip", "--in-place"]).code == 0


def test_enable_refuses_before_posting_when_its_tick_would_hide_the_box(sandbox: Sandbox) -> None:
    text = "- [ ] Enable on staging <!-- step:enable-staging -->\n\n[x]: https://example.com/x\n"
    issue = sandbox.create_issue(title="Rollout", description=text)
    done = run(sandbox, "enable", ref_of(sandbox, issue["iid"]), "--env", "staging")
    assert done.code == 2, done.result.output
    assert done.writes() == []
    assert description(sandbox, issue["iid"]) == text
