"""What the human output looks like: colour (NO_COLOR, FORCE_COLOR, terminals and pipes; JSON never),
tables on a narrow terminal, the `--debug` HTTP log, and `report` on standard output."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.e2e.test_report import report, seed_three
from tests.e2e.test_sync import cli_env
from tests.helpers import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "checklists"
ISSUE = DATA / "rollout-issue.md"
ESC = "\x1b["
GL_ROLLOUT = str(Path(sys.executable).with_name("gl-rollout"))


# --- colour ---------------------------------------------------------------------------------------------


def test_no_colour_in_a_pipe_and_colour_when_forced() -> None:
    plain = run_cli(["status", "--file", str(ISSUE)])
    assert ESC not in plain.output
    forced = run_cli(["status", "--file", str(ISSUE)], env={"FORCE_COLOR": "1"})
    assert f"{ESC}33mtodo{ESC}0m" in forced.stdout  # the states in colour
    assert f"next: {ESC}1menable-staging{ESC}0m" in forced.stdout
    # Colour changes nothing else: the same text once the escapes are removed.
    assert (
        forced.stdout.replace(f"{ESC}33m", "").replace(f"{ESC}1m", "").replace(f"{ESC}0m", "") == plain.stdout
    )


def test_no_color_wins_over_force_color() -> None:
    done = run_cli(["status", "--file", str(ISSUE)], env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert ESC not in done.output


def test_json_is_never_coloured() -> None:
    done = run_cli(["status", "--file", str(ISSUE), "--json"], env={"FORCE_COLOR": "1"})
    assert ESC not in done.stdout
    assert json.loads(done.stdout)["data"]["next"] == "enable-staging"


def test_errors_and_diffs_in_colour() -> None:
    error = run_cli(["check", "--file", str(ISSUE), "enable-stagng"], env={"FORCE_COLOR": "1"})
    assert error.code == 5
    assert error.stderr.startswith(f"{ESC}1;31merror:{ESC}0m step ")
    diff = run_cli(["check", "--file", str(ISSUE), "1", "-n"], env={"FORCE_COLOR": "1"})
    assert diff.code == 0
    assert f"{ESC}31m-- [ ] Switch it on in staging" in diff.stdout
    assert f"{ESC}32m+- [x] Switch it on in staging" in diff.stdout


def test_colour_on_a_terminal_unless_no_color() -> None:
    """The installed command on a real pseudo-terminal: coloured, and plain again with NO_COLOR."""

    def on_a_terminal(extra: dict[str, str]) -> str:
        main, child = pty.openpty()
        inherited = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "NO_COLOR"}}
        env = {**inherited, "COLUMNS": "120", "TERM": "xterm", **extra}
        with subprocess.Popen(
            [GL_ROLLOUT, "status", "--file", str(ISSUE)], stdout=child, stderr=child, env=env
        ) as process:
            os.close(child)
            chunks = []
            while True:
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal closed with the command
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            process.wait(timeout=60)
        os.close(main)
        return b"".join(chunks).decode("utf-8", "replace")

    assert ESC in on_a_terminal({})
    assert ESC not in on_a_terminal({"NO_COLOR": "1"})


# --- tables on a narrow terminal ----------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["40", "60", "200"])
def test_a_narrow_table_wraps_text_and_never_cuts_an_id(columns: str) -> None:
    done = run_cli(["status", "--file", str(ISSUE)], env={"COLUMNS": columns})
    assert done.code == 0
    table = done.stdout.split("\n\n")[0].splitlines()
    assert all(len(line) <= int(columns) for line in table), table
    assert "…" not in done.stdout
    ids = json.loads(run_cli(["status", "--file", str(ISSUE), "--json"]).stdout)["data"]["steps"]
    words = done.stdout.split()
    for step in ids:
        assert step["id"] in words  # whole, on one line
    # Every word of every step's text is shown (wrapped, not cut).
    for step in ids:
        for word in step["text"].split():
            assert word in words, word


# --- --debug ------------------------------------------------------------------------------------------------


def test_debug_logs_each_request_with_its_status_request_id_and_time(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    token = sandbox.tokens["developer"]
    issue = sandbox.create_issue(
        title="t", description=f"- [ ] A step <!-- step:a-step -->\npasted {token}\n"
    )
    ref = f"{sandbox.project_path}#{issue['iid']}"
    env = {"GITLAB_TOKEN": token}

    done = run_cli(["--debug", "status", ref, "--url", sandbox.url], env=env)
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines  # one request, one line; no body without --debug=body
    path = f"/api/v4/projects/acme%2Fplatform%2Frollouts/issues/{issue['iid']}"
    assert lines[0].startswith(f"debug: GET {sandbox.url}{path} -> 200 OK (")
    assert lines[0].endswith(")")
    assert " ms, request id " in lines[0]
    assert "next: a-step" in done.stdout  # the command's own output is unchanged

    bodies = run_cli(["status", ref, "--url", sandbox.url, "--debug=body"], env=env)
    assert bodies.code == 0
    assert "debug:   response body: {" in bodies.stderr
    assert "pasted [MASKED]" in bodies.stderr  # the token, even inside a body, is masked
    assert token not in bodies.output


def test_debug_logs_a_failed_request_and_keeps_the_traceback(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    token = sandbox.tokens["developer"]
    done = run_cli(["--debug", "status", "no/such#1", "--url", sandbox.url], env={"GITLAB_TOKEN": token})
    assert done.code == 3
    assert f"debug: GET {sandbox.url}/api/v4/projects/no%2Fsuch/issues/1 -> 404" in done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: project no/such not found")
    assert token not in done.output


def test_without_debug_nothing_is_logged(sandbox: Sandbox) -> None:
    assert sandbox.url is not None
    issue = sandbox.create_issue(title="t", description="- [ ] A step <!-- step:a-step -->\n")
    ref = f"{sandbox.project_path}#{issue['iid']}"
    done = run_cli(["status", ref, "--url", sandbox.url], env={"GITLAB_TOKEN": sandbox.tokens["developer"]})
    assert done.code == 0
    assert done.stderr == ""


# --- report on standard output ------------------------------------------------------------------------------


def test_report_writes_markdown_to_stdout_by_default(sandbox: Sandbox, tmp_path: Path) -> None:
    seed_three(sandbox)
    done = report(sandbox, "--group", "acme")
    assert done.code == 0, done.output
    headings = [line for line in done.stdout.splitlines() if line.startswith("## ")]
    assert headings == ["## Planned (1)", "## Staging (1)", "## Production (1)"]
    assert "3 rollouts (1 stale)" in done.stderr  # the counts on stderr: `report > file` holds the report
    assert "3 rollouts (1 stale)" not in done.stdout
    # The same Markdown as -o writes (but for the time it was generated).
    out = tmp_path / "rollouts.md"
    assert report(sandbox, "--group", "acme", "-o", str(out)).code == 0

    def timeless(text: str) -> str:
        return re.sub(r"generated \S+", "generated", text)

    assert timeless(out.read_text(encoding="utf-8")) == timeless(done.stdout)


def test_report_json_holds_the_report_without_the_markdown(sandbox: Sandbox) -> None:
    seed_three(sandbox)
    done = run_cli(["report", "--group", "acme", "--json"], cli_env(sandbox))
    assert done.code == 0, done.output
    data = json.loads(done.stdout)["data"]
    assert data["path"] is None
    assert "markdown" not in data
    assert len(data["issues"]) == 3
