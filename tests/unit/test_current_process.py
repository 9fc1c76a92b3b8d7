"""Today's process, pure parts: the status block's rules, ChatOps command lines read back, ChatOps' log
wording (today's, the older one, retold), and the steps `adopt` recognises in each template version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gl_rollout.core.adoption import recognise
from gl_rollout.core.chatops import auto_deploy_status_command, feature_delete_command, feature_get_command
from gl_rollout.core.chatops_commands import find_commands, parse_command
from gl_rollout.core.chatops_log import Unread, event_of_comment, event_of_log_issue, parse_title, step_facts
from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.status_block import DamagedBlock, check_block, damage, insert_block
from gl_rollout.errors import UsageError
from tests.chatops_record import delete_title, log_description, log_title, old_log, rollout_comment

BLOCK = (
    "<!-- gl-rollout:status -->\n- [x] On staging <!-- step:enable-staging -->\n<!-- /gl-rollout:status -->"
)


# --- the status block ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("# T\n\n<!-- gl-rollout:status -->\n- [ ] a\n", 3, "no closing"),
        ("# T\n- [ ] a\n<!-- /gl-rollout:status -->\n", 3, "no <!-- gl-rollout:status --> opens"),
        ("# T\n" + BLOCK.replace("- [x]", "Some words\n- [x]") + "\n", 3, "not a task list item"),
        (BLOCK + "\n\n" + BLOCK, 5, "another gl-rollout status marker"),
        ("<!-- gl-rollout:status -->\n<!-- gl-rollout:status -->\n", 2, "opens a second"),
    ],
)
def test_a_damaged_block_names_its_line(text: str, line: int, says: str) -> None:
    with pytest.raises(DamagedBlock, match=says) as refused:
        check_block(text)
    assert refused.value.line == line
    assert refused.value.exit_code == 2
    assert "--repair" in (refused.value.hint or "")


def test_only_the_boxes_inside_an_intact_block_are_the_checklist() -> None:
    text = "# T\n\n- [ ] a box of the template\n\n" + BLOCK + "\n\n```\n<!-- gl-rollout:status -->\n```\n"
    assert [(s.id, s.state) for s in parse_checklist(text).steps] == [("enable-staging", "done")]
    assert check_block("```\n" + BLOCK.splitlines()[0] + "\n```\n") is None  # a marker in code is text


def test_the_block_goes_after_the_first_heading_else_at_the_end_keeping_line_endings() -> None:
    assert insert_block("# Title\r\nText\r\n", BLOCK).split("\r\n")[:3] == [
        "# Title",
        "",
        BLOCK.split("\n", maxsplit=1)[0],
    ]
    assert insert_block("Only text\n", BLOCK) == "Only text\n\n" + BLOCK + "\n"
    assert insert_block("```\n# not a heading\n```\n", BLOCK).endswith(BLOCK + "\n")


def test_damage_takes_the_items_next_to_a_lone_marker() -> None:
    found = damage("# T\n\n<!-- gl-rollout:status -->\n- [x] a <!-- step:cleanup -->\n- [ ] mine\n\nafter\n")
    assert found is not None
    assert (found.start, found.end) == (2, 4)
    assert found.items == ("- [x] a <!-- step:cleanup -->", "- [ ] mine")


# --- ChatOps commands ---------------------------------------------------------------------------------------


def test_command_lines_in_every_form_are_read() -> None:
    command = parse_command("/chatops gitlab run feature set --project=a/b,c/d my_flag true --staging --dev")
    assert command is not None
    assert (command.prefix, command.flag, command.value) == ("/chatops gitlab run", "my_flag", "true")
    assert command.environments == ("dev", "staging")
    assert command.actor_targets == (("project", ("a/b", "c/d")),)
    ramp = parse_command("`/chatops run feature set my_flag 25 --actors` # a quarter")
    assert ramp is not None
    assert (ramp.value_meaning(), ramp.percentage_kind, ramp.environments) == (
        "percentage",
        "actors",
        ("production",),
    )
    text = "Run `/chatops run feature get my_flag --pre` then\n    /chatops run auto_deploy status abc1234\n"
    assert [(line, c.command, c.subcommand) for line, c in find_commands(text)] == [
        (0, "feature", "get"),
        (1, "auto_deploy", "status"),
    ]


def test_commands_are_written_in_todays_forms() -> None:
    assert feature_get_command("my_flag", envs=["staging", "production"], prefix="/chatops gitlab run") == (
        "/chatops gitlab run feature get my_flag --staging --production"
    )
    assert feature_delete_command("my_flag", envs=["dev", "pre", "staging", "staging-ref", "production"]) == (
        "/chatops run feature delete my_flag --dev --pre --staging --staging-ref --production"
    )
    assert auto_deploy_status_command("ABC1234def") == "/chatops run auto_deploy status abc1234def"
    with pytest.raises(UsageError, match="invalid commit SHA"):
        auto_deploy_status_command("main; rm -rf")


# --- ChatOps' log -------------------------------------------------------------------------------------------


def log_issue(title: str, description: str, iid: int = 1) -> Issue:
    return Issue(
        id=iid, iid=iid, project_id=9, title=title, description=description, state="closed",
        labels=("change",),
        web_url=f"https://gitlab.example/log/-/issues/{iid}", reference=f"log#{iid}",
        created_at="2026-12-01T12:00:00Z", updated_at="2026-12-01T12:00:00Z", author="chatops",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Feature flag 'my_flag' has been set to 'true' on gprd", ("true", False, "production")),
        ("Feature flag 'my_flag' has been set to '25%' of actors on gstg-ref", ("25%", True, "staging-ref")),
        ('Feature flag "my_flag" has been set to "false"', ("false", False, None)),
        ("Feature flag `my_flag` has been set to `50` on **gstg**", ("50", False, "staging")),
        ("Feature flag 'my_flag' has been deleted on pre", ("", False, "pre")),
    ],
)
def test_log_titles_of_every_wording(title: str, expected: tuple[str, bool, str | None]) -> None:
    parsed = parse_title(title)
    assert parsed is not None
    assert (parsed.value, parsed.of_actors, parsed.env) == expected


def test_an_unknown_environment_or_wording_is_not_guessed() -> None:
    assert parse_title("Feature flag 'my_flag' has been set to 'true' on mars") is None
    read = event_of_log_issue(log_issue("Feature flag my_flag was flipped", ""), "my_flag")
    assert isinstance(read, Unread)
    assert "not in ChatOps' wording" in read.line()


def test_a_log_issue_gives_environment_value_actor_kind_time_and_person() -> None:
    description = log_description(
        "alice", "2026-12-01 09:30:00", "production", "https://x/-/issues/1", {"group": "gitlab-org"}
    )
    event = event_of_log_issue(log_issue(log_title("my_flag", "true", "production"), description), "my_flag")
    assert event is not None
    data = event.to_dict()  # type: ignore[union-attr]
    assert (data["env"], data["change"], data["actor_kind"], data["by"], data["at"]) == (
        "production", "on", "group", "alice", "2026-12-01 09:30:00",
    )  # fmt: skip
    title, old = old_log("my_flag", "30", "staging", "bob", "2026-12-01 08:00:00", actors=True)
    older = event_of_log_issue(log_issue(title, old), "my_flag")
    assert older is not None
    assert (older.env, older.kind, older.percentage) == ("staging", "percentage_of_actors", 30.0)  # type: ignore[union-attr]
    timed = event_of_log_issue(
        log_issue(*old_log("my_flag", "30", "staging", "bob", "2026-12-01 08:00:00")), "my_flag"
    )
    assert timed is not None
    assert timed.kind == "percentage_of_time"  # type: ignore[union-attr]


def test_a_comment_about_another_flag_is_ignored_and_one_about_ours_is_read() -> None:
    other = Note(
        5, rollout_comment(log_title("their_flag", "true", "staging"), "https://x/-/issues/2"), "bot", "t"
    )
    ignored = event_of_comment(other, "my_flag")
    assert ignored is not None
    assert "not my_flag: ignored" in ignored.line()  # type: ignore[union-attr]
    ours = Note(6, rollout_comment(delete_title("my_flag", "production"), "https://x/-/issues/3"), "bot", "t")
    event = event_of_comment(ours, "my_flag")
    assert event is not None
    assert (event.change, event.env, event.url) == ("deleted", "production", "https://x/-/issues/3")  # type: ignore[union-attr]


def test_a_delete_after_everyone_is_the_cleanup_and_before_it_a_rollback() -> None:
    def event(title: str, scopes: dict[str, str] | None = None) -> object:
        description = log_description(
            "a", "2026-12-01 10:00:00", "production", "https://x/-/issues/1", scopes
        )
        return event_of_log_issue(log_issue(title, description), "my_flag")

    on = event(log_title("my_flag", "true", "production"))
    beta = event(log_title("my_flag", "true", "production"), {"project": "a/b"})
    deleted = event(delete_title("my_flag", "production"))
    assert [(f.step, f.done) for f in step_facts([on, deleted])] == [
        ("enable-production", True),
        ("cleanup", True),
    ]  # type: ignore[list-item]
    assert [(f.step, f.done) for f in step_facts([beta, deleted])] == [  # type: ignore[list-item]
        ("enable-beta", True), ("enable-production", False), ("enable-beta", False),
    ]  # fmt: skip


# --- steps recognised by `adopt` ----------------------------------------------------------------------------


def test_the_newest_structure_yields_todays_steps_and_rollback_commands_count_for_nothing() -> None:
    text = (Path(__file__).resolve().parents[1] / "data" / "current" / "commands-only.md").read_text("utf-8")
    found = recognise(text, "my_other_flag")
    # commands for another flag pass over; `release check` names no flag
    assert [r.step for r in found] == ["docs-updated", "remove-flag"]
    found = recognise(text, "fast_search")
    assert [(r.step, r.line) for r in found] == [
        ("enable-staging", 17), ("docs-updated", 29), ("enable-production", 23), ("remove-flag", 36),
        ("cleanup", 37),
    ]  # fmt: skip


def test_a_checklist_issue_keeps_its_boxes_as_the_block_states() -> None:
    text = "# Rollout\n\n- [x] Enable on staging `/chatops run feature set my_flag true --staging`\n"
    found = recognise(text, "my_flag", parse_checklist(text))
    assert ("enable-staging", "done") in [(r.step, r.state) for r in found]


# --- the gitlab-current template ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/chatops run", "/chatops gitlab run"])
def test_gitlab_current_is_sections_of_commands_and_the_status_block(prefix: str) -> None:
    from gl_rollout.render.issue import RenderOptions, render_issue

    rendered = render_issue(
        RenderOptions(
            flag="fast_search", template="gitlab-current", chatops_prefix=prefix, beta_projects=("a/b",)
        )
    )
    text = rendered.description
    block = check_block(text)
    assert block is not None
    assert block.open_line == 2  # right after the first heading
    steps = [s.id for s in parse_checklist(text).steps]
    assert steps == [
        "enable-staging",
        "enable-beta",
        "docs-updated",
        "enable-production",
        "remove-flag",
        "cleanup",
    ]
    lines = text.splitlines()
    assert f"{prefix} feature set fast_search 50 --actors --dev --pre --staging --staging-ref" in lines
    assert f"{prefix} feature get fast_search --dev --pre --staging --staging-ref --production" in lines
    assert f"{prefix} auto_deploy status <merge-commit-sha>" in lines
    assert f"{prefix} feature set fast_search true --project=a/b" in lines
    assert f"{prefix} feature delete fast_search --dev --pre --staging --staging-ref --production" in lines
    # what adopt would recognise in it are the block's own steps
    assert [r.step for r in recognise(text, "fast_search")] == [
        "enable-staging", "docs-updated", "enable-beta", "enable-production", "remove-flag", "cleanup",
    ]  # fmt: skip


def test_the_cli_default_log_project_is_where_chatops_logs() -> None:
    from gl_rollout.cli.options import DEFAULT_CHATOPS_LOG_PROJECT, log_project
    from gl_rollout.core.chatops_commands import LOG_PROJECT

    assert DEFAULT_CHATOPS_LOG_PROJECT == LOG_PROJECT == "gitlab-com/gl-infra/feature-flag-log"
    assert log_project("  ") is None  # '' skips the log
    assert log_project("ops/flag-log") == "ops/flag-log"
