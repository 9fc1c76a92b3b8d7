"""`gl-rollout demo` (README's main job) and the installed console script talking to a served sandbox."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import run_cli
from tests.workflow_cli import FLAG, TITLE, env_for


def _script() -> str:
    """The `gl-rollout` console script of the environment running the tests."""
    candidate = Path(sys.executable).parent / "gl-rollout"
    found = str(candidate) if candidate.exists() else shutil.which("gl-rollout")
    if found is None:
        pytest.skip("the gl-rollout console script is not installed (pip install -e .)")
    return found


def _stored(db: Path) -> tuple[int, int, str]:
    """(issues, user comments, description of issue 1) in a sandbox database file."""
    sb = Sandbox(db_path=db)
    try:
        issues = sb.count_issues()
        comments = len([n for n in sb.notes(None, 1) if not n["system"]]) if issues else 0
        text = sb.get_issue(None, 1)["description"] if issues else ""
        return issues, comments, str(text)
    finally:
        sb.close()


def test_demo_runs_the_whole_flow_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite3"
    first = run_cli(["demo", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)})
    assert first.code == 0, first.output
    out = first.stdout
    for command in ("create", "status", "announce", "enable", "check"):
        assert f"$ gl-rollout --sandbox {command} " in out
    assert "created acme/platform/rollouts#1" in out
    assert "0 of 11 checklist items completed" in out
    assert "3 of 11 checklist items completed" in out
    assert TITLE in out
    issues, comments, text = _stored(db)
    assert (issues, comments) == (1, 2)
    for step in ("enable-staging", "test-staging", "announce-eta"):
        assert "- [x] " in next(line for line in text.splitlines() if f"step:{step} " in line)

    second = run_cli(["demo", "--sandbox-db", str(db), "--json"], env={"HOME": str(tmp_path)})
    assert second.code == 0, second.output
    steps = json.loads(second.stdout)["data"]["steps"]
    assert [s["command"] for s in steps] == ["create", "status", "announce", "enable", "check", "status"]
    assert not any(s["data"].get(key) for s in steps for key in ("created", "posted", "written"))
    assert _stored(db)[:2] == (1, 2)


def test_demo_from_a_fresh_home_with_the_console_script(tmp_path: Path) -> None:
    """README's first command: no config, no token, no options; state lands in the user's state folder."""
    env = {
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [_script(), "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 11 checklist items completed" in done.stdout
    databases = list(tmp_path.rglob("sandbox.sqlite3"))
    assert len(databases) == 1
    again = subprocess.run(
        [_script(), "demo"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert again.returncode == 0
    assert "nothing to do: everything was already done" in again.stdout


def test_console_script_against_a_served_sandbox(sandbox: Sandbox) -> None:
    env = {**env_for(sandbox), "PATH": os.environ.get("PATH", "")}

    def gl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_script(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    created = gl("create", FLAG, "--project", sandbox.project_path, "--json")
    assert created.returncode == 0, created.stderr
    data = json.loads(created.stdout)["data"]
    assert data["created"] is True
    ref = data["web_url"]
    announced = gl("announce", ref, "--eta", "in 1d")
    assert announced.returncode == 0, announced.stderr
    enabled = gl("enable", ref, "--env", "staging", "--json")
    assert enabled.returncode == 0, enabled.stderr
    changed = json.loads(enabled.stdout)["data"]["steps_changed"]
    assert [(step["id"], step["state"]) for step in changed] == [("enable-staging", "done")]
    everything = created.stdout + announced.stdout + enabled.stdout + enabled.stderr
    assert sandbox.tokens["developer"] not in everything


def _without_port(text: str) -> str:
    return re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", text)


def _blocks(out: str) -> list[tuple[str, str]]:
    """The demo's output as (command line, its output with the indent removed) pairs."""
    blocks: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("$ "):
            current = []
            blocks.append((line[2:], current))
        elif current is not None and (line.startswith("  ") or line == ""):
            current.append(line.removeprefix("  "))
        else:
            current = None
    return [(command, "\n".join(lines).strip("\n")) for command, lines in blocks]


def test_demo_shows_what_each_command_prints(tmp_path: Path) -> None:
    """Audit #8: each command under `$ ...` is followed by that command's real output, not a summary."""
    db = tmp_path / "sandbox.sqlite3"
    env = {"HOME": str(tmp_path)}
    demo = run_cli(["demo", "--sandbox-db", str(db)], env=env)
    assert demo.code == 0, demo.output
    blocks = _blocks(demo.stdout)
    command, shown = blocks[-1]
    assert command == "gl-rollout --sandbox status 'acme/platform/rollouts#1'"
    # The demo ended with this status: running the command now prints the same, line for line.
    real = run_cli(["--sandbox-db", str(db), *shlex.split(command)[2:]], env=env)
    assert real.code == 0
    assert _without_port(shown) == _without_port(real.stdout.strip("\n"))
    assert "\n#   ID " in shown  # the step table, not an abridged list

    # The create line it prints, run against a fresh sandbox, makes the issue the demo made.
    create_line = blocks[0][0]
    fresh = tmp_path / "fresh.sqlite3"
    made = run_cli(["--sandbox-db", str(fresh), *shlex.split(create_line)[2:]], env=env)
    assert made.code == 0, made.output
    assert _stored(fresh)[2] == _stored(db)[2].replace("- [x] ", "- [ ] ")  # the demo ticked 3 boxes since
