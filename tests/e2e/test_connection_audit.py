"""Findings of the QA audit on connecting: a forgotten token, hints that name the option to fix,
`--sandbox-db` values that are not a sandbox database, and `--sandbox-db` without `--sandbox`."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli
from tests.workflow_cli import FLAG, create, env_for, ref_of


def one_error_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- #3: no token sent ---------------------------------------------------------------------------------


def test_a_read_without_a_token_says_no_token_was_sent_and_how_to_set_one(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    done = run_cli(["status", ref_of(sandbox, iid)], env={"GITLAB_URL": str(sandbox.url)})
    assert done.code == 3
    line = one_error_line(done)
    assert "no token was sent" in line
    assert "set GITLAB_TOKEN" in line
    assert "check --project" not in line  # the project is right: the token is what is missing


def test_a_wrong_project_with_a_token_still_points_at_the_project(sandbox: Sandbox) -> None:
    done = run_cli(["status", "no/such#1"], env=env_for(sandbox))
    assert done.code == 3
    line = one_error_line(done)
    assert "check --project" in line
    assert "no token was sent" not in line


# --- #17: hints name the option the command took ----------------------------------------------------


def test_an_unreachable_target_url_points_at_target_url(sandbox: Sandbox) -> None:
    iid = create(sandbox)["iid"]
    url = f"http://127.0.0.1:{closed_port()}"
    env = env_for(sandbox, GITLAB_ADMIN_TOKEN=sandbox.tokens["admin"])
    done = run_cli(
        ["enable", ref_of(sandbox, iid), "--env", "staging", "--apply", "--target-url", url], env=env
    )
    assert done.code == 3
    line = one_error_line(done)
    assert line == f"error: cannot reach {url}: connection refused. check --target-url"


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["create", FLAG, "-R", "99999"], "check --project"),
        (["report", "-o", "{dir}/r.md", "--group", "nope"], "check --group"),
        (["sync", "--group", "nope", "--dry-run"], "check --group"),
    ],
)
def test_not_found_hints_name_the_option_not_an_issue_number(
    sandbox: Sandbox, tmp_path: Path, args: list[str], wanted: str
) -> None:
    done = run_cli([a.format(dir=tmp_path) for a in args], env=env_for(sandbox))
    assert done.code == 3, done.output
    line = one_error_line(done)
    assert wanted in line
    assert "issue number" not in line


def test_an_invalid_actor_names_the_enable_option(sandbox: Sandbox) -> None:
    done = run_cli(
        ["enable", "acme/platform/rollouts#1", "--project-actor", "bad path!"], env=env_for(sandbox)
    )
    assert done.code == 2
    line = one_error_line(done)
    assert "--project-actor" in line
    assert "invalid --project value" not in line
    assert sandbox.request_log == []


# --- #4: --sandbox-db that is not a sandbox database --------------------------------------------------


def _foreign_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    db.close()
    return path


@pytest.mark.parametrize("kind", ["markdown file", "folder", "other sqlite database", "under a file"])
def test_sandbox_db_that_is_not_a_sandbox_database_is_exit_2_and_left_alone(
    tmp_path: Path, kind: str
) -> None:
    markdown = tmp_path / "rollout.md"
    markdown.write_text("- [ ] Enable on staging <!-- step:enable-staging -->\n", encoding="utf-8")
    path = {
        "markdown file": markdown,
        "folder": tmp_path,
        "other sqlite database": _foreign_database(tmp_path / "other.sqlite3"),
        "under a file": markdown / "sandbox.sqlite3",
    }[kind]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    done = run_cli(
        ["--sandbox", "--sandbox-db", str(path), "status", "acme/platform/rollouts#1"],
        env={"HOME": str(tmp_path / "home")},
    )
    assert done.code == 2, done.output
    line = one_error_line(done)
    assert "unexpected" not in line
    assert str(path) in line or str(markdown) in line
    assert {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


# --- #19: --sandbox-db implies --sandbox ---------------------------------------------------------------


def test_sandbox_db_alone_runs_against_that_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    # GITLAB_URL names a real GitLab (here the fixture's sandbox): --sandbox-db must not go there.
    done = run_cli(
        ["--sandbox-db", str(db), "create", "dbonly_flag", "--json"],
        env={**env_for(sandbox), "HOME": str(tmp_path)},
    )
    assert done.code == 0, done.output
    assert db.exists()
    assert sandbox.request_log == []
    stored = Sandbox(db_path=db)
    try:
        assert stored.count_issues() == 1
    finally:
        stored.close()


def test_sandbox_db_with_url_is_refused(tmp_path: Path) -> None:
    done = run_cli(
        ["--sandbox-db", str(tmp_path / "s.sqlite3"), "--url", "https://gitlab.example.com", "status", "1"],
        env={"HOME": str(tmp_path)},
    )
    assert done.code == 2
    assert "--url" in one_error_line(done)
