"""`gl-rollout sandbox serve`: a real subprocess, stopped with Ctrl-C (SIGINT), state kept in --db."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import gitlab
import pytest
import requests

from gl_rollout.sandbox import Sandbox
from gl_rollout.sandbox.store import DEMO_TOKENS
from tests.helpers import run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
DEVELOPER = DEMO_TOKENS["developer"]


def start(db: Path, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the server; return it and the banner lines up to "Press Ctrl-C"."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "gl_rollout", "sandbox", "serve", "--port", "0", "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C") or line.startswith("}"):
            break
    return process, lines


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    return process.returncode, err


def test_serve_prints_what_a_newcomer_needs_and_keeps_state(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    process, banner = start(db)
    try:
        url = banner[0].split()[4]
        assert url.startswith("http://127.0.0.1:")
        text = "\n".join(banner)
        assert "acme/platform/rollouts" in text
        assert "glpat-sandbox-developer-token" in text
        assert "glpat-sandbox-admin-token" in text
        assert (
            f"unleash: {url}/api/v4/feature_flags/unleash/42  instance ID glffct-sandbox-instance-42" in text
        )
        gl = gitlab.Gitlab(url, private_token=DEVELOPER)
        gl.projects.get("acme/platform/rollouts", lazy=True).issues.create({"title": "survives a restart"})
    finally:
        code, err = stop(process)
    assert code == 0
    assert "sandbox stopped" in err
    assert db.exists()

    again, banner = start(db)
    try:
        url = banner[0].split()[4]
        gl = gitlab.Gitlab(url, private_token=DEVELOPER)
        titles = [i.title for i in gl.projects.get("acme/platform/rollouts", lazy=True).issues.list()]
        assert titles == ["survives a restart"]
    finally:
        assert stop(again)[0] == 0


def test_serve_json_envelope(tmp_path: Path) -> None:
    process, lines = start(tmp_path / "db.sqlite3", "--json", "--control")
    try:
        envelope = json.loads("\n".join(lines))
        assert (envelope["command"], envelope["ok"]) == ("sandbox serve", True)
        assert envelope["data"]["tokens"]["job"] == "glcbt-sandbox-job-token"
        assert envelope["data"]["control"] is True
        unleash = envelope["data"]["unleash"]
        assert unleash["url"] == envelope["data"]["api_url"] + "/feature_flags/unleash/42"
        features = requests.get(
            unleash["url"] + "/client/features",
            headers={"UNLEASH-INSTANCEID": unleash["instance_id"], "UNLEASH-APPNAME": "production"},
            timeout=10,
        )
        assert features.json() == {"version": 1, "features": []}
        secret = envelope["data"]["control_secret"]
        url = envelope["data"]["url"]
        answer = requests.get(f"{url}/-/sandbox/info", headers={"Sandbox-Secret": secret}, timeout=10)
        assert answer.status_code == 200
    finally:
        assert stop(process)[0] == 0


def test_serve_control_prints_the_secret_it_asks_for(tmp_path: Path) -> None:
    process, banner = start(tmp_path / "db.sqlite3", "--control")
    try:
        url = banner[0].split()[4]
        (line,) = [line for line in banner if "Sandbox-Secret:" in line]
        secret = line.split("Sandbox-Secret:")[1].strip()
        assert len(secret) >= 24
        info = f"{url}/-/sandbox/info"
        assert requests.get(info, headers={"Sandbox-Secret": secret}, timeout=10).status_code == 200
        assert requests.get(info, timeout=10).status_code == 401
        assert requests.get(info, headers={"Sandbox-Secret": secret + "x"}, timeout=10).status_code == 401
    finally:
        assert stop(process)[0] == 0
    plain, banner = start(tmp_path / "db.sqlite3")
    try:
        assert not [line for line in banner if "Sandbox-Secret" in line]
    finally:
        assert stop(plain)[0] == 0


def test_a_locked_sandbox_database_says_it_is_locked(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock: exit 2 saying so, not "not an SQLite database"."""
    db = tmp_path / "sandbox.sqlite3"
    Sandbox(db_path=db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        done = run_cli(["--sandbox-db", str(db), "status", "1"], env={"HOME": str(tmp_path)})
    finally:
        holder.close()
    assert done.code == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"--sandbox-db {db} is locked by another process" in line
    assert "wait for that process" in line
    assert "not an SQLite database" not in line
    after = run_cli(["--sandbox-db", str(db), "status", "1"], env={"HOME": str(tmp_path)})
    assert "locked" not in after.stderr


def test_busy_port_is_a_usage_error(tmp_path: Path) -> None:
    first, banner = start(tmp_path / "a.sqlite3")
    try:
        port = banner[0].split()[4].rsplit(":", 1)[1]
        busy = subprocess.run(
            [
                sys.executable,
                "-m",
                "gl_rollout",
                "sandbox",
                "serve",
                "--port",
                port,
                "--db",
                str(tmp_path / "b.db"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert busy.returncode == 2
        assert "cannot listen on 127.0.0.1:" in busy.stderr
    finally:
        stop(first)
