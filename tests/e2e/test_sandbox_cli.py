"""`gl-rollout sandbox serve`: a real subprocess, stopped with Ctrl-C (SIGINT), state kept in --db."""

from __future__ import annotations

import json
import os
import re
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


# ---- links that open (issue 13): `--sandbox` commands use a `sandbox serve` of the same state --------------
LINK = re.compile(r"http://127\.0\.0\.1:\d+/[^\s'\"]*")


def test_demo_links_open_while_serve_runs_on_the_same_state(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    process, banner = start(db)
    try:
        url = banner[0].split()[4]
        assert (db.parent / "sandbox.sqlite3.serving.json").exists()
        demo = run_cli(["demo", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)})
        assert demo.code == 0, demo.output
        links = set(LINK.findall(demo.stdout))
        assert links, demo.stdout
        assert all(link.startswith(url + "/") for link in links)
        for link in sorted(links):
            page = requests.get(link, timeout=10)
            assert page.status_code == 200, link
            assert page.headers["Content-Type"].startswith("text/html"), link
        issue_page = requests.get(f"{url}/acme/platform/rollouts/-/issues/1", timeout=10).text
        assert issue_page.count(" checked>") == 3  # the three boxes the demo ticked
        assert "links: this command's sandbox closed" not in demo.stderr
    finally:
        assert stop(process)[0] == 0
    assert not (db.parent / "sandbox.sqlite3.serving.json").exists()  # Ctrl-C takes its marker away


def test_the_project_flag_demo_reads_the_served_sandboxs_unleash_api(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    process, banner = start(db)
    try:
        url = banner[0].split()[4]
        demo = run_cli(
            ["demo", "--flag-backend", "project", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)}
        )
        assert demo.code == 0, demo.output
        assert (
            "Unleash client in production, at the end: new-checkout enabled (flexibleRollout), "
            "on for 1000 of 1000 sample users" in demo.stdout
        )
        flags_page = requests.get(f"{url}/acme/platform/rollouts/-/feature_flags", timeout=10)
        assert flags_page.status_code == 200
        assert "new-checkout" in flags_page.text  # the served state is the one the demo changed
    finally:
        assert stop(process)[0] == 0


@pytest.mark.parametrize(
    "left",
    [
        {"url": "http://127.0.0.1:9", "pid": 2**22 + 12345},  # a server that died: no such process
        {"url": "http://127.0.0.1:9", "pid": os.getpid()},  # a live process, but nothing on that port
        {"url": "http://example.com:80", "pid": os.getpid()},  # never anything but loopback
    ],
    ids=["dead-process", "closed-port", "not-loopback"],
)
def test_without_serve_links_are_paths_and_the_hint_says_how_to_open_them(
    tmp_path: Path, left: dict[str, object]
) -> None:
    db = tmp_path / "sandbox.sqlite3"
    # a marker that names no running `sandbox serve` of this state counts for nothing
    (tmp_path / "sandbox.sqlite3.serving.json").write_text(json.dumps(left), encoding="utf-8")
    demo = run_cli(["demo", "--sandbox-db", str(db)], env={"HOME": str(tmp_path)})
    assert demo.code == 0, demo.output
    assert "http://127.0.0.1" not in demo.stdout  # nothing that would open nothing
    assert "/acme/platform/rollouts/-/issues/1" in demo.stdout
    assert "run `gl-rollout sandbox serve`" in demo.stderr
    status = run_cli(["--sandbox-db", str(db), "--json", "status", "acme/platform/rollouts#1"], env={})
    assert json.loads(status.stdout)["data"]["web_url"].startswith("http://127.0.0.1:")  # JSON keeps GitLab's


DEFINITION = "name: my_flag\ntype: beta\ndefault_enabled: false\nrollout_issue_url:\n"


def test_write_definition_keeps_sandbox_urls_in_the_sandboxs_folder(tmp_path: Path) -> None:
    db = tmp_path / "state" / "sandbox.sqlite3"
    outside = tmp_path / "repo" / "my_flag.yml"
    outside.parent.mkdir()
    outside.write_text(DEFINITION, encoding="utf-8")
    args = ["--sandbox-db", str(db), "create", "my_flag", "--definition", str(outside), "--write-definition"]
    refused = run_cli(args, env={})
    assert refused.code == 2
    assert "--allow-sandbox-url" in refused.stderr
    assert refused.stderr.count("error:") == 1
    assert outside.read_text(encoding="utf-8") == DEFINITION
    assert not db.exists()  # refused before the sandbox was opened: nothing created

    db.parent.mkdir()
    inside = db.parent / "my_flag.yml"
    inside.write_text(DEFINITION, encoding="utf-8")
    kept = run_cli([*args[:5], str(inside), "--write-definition"], env={})
    assert kept.code == 0, kept.output
    assert "rollout_issue_url: http://127.0.0.1:" in inside.read_text(encoding="utf-8")

    allowed = run_cli([*args, "--allow-sandbox-url"], env={})
    assert allowed.code == 0, allowed.output
    assert "rollout_issue_url: http://127.0.0.1:" in outside.read_text(encoding="utf-8")
