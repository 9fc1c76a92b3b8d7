"""The `--json` contract scripts rely on: one envelope on stdout, its keys frozen, success and failure alike.

    {"version": 1, "command": "...", "ok": true|false, "data": {...},
     "error": null|{"code": N, "message": "..."}}

Changing these keys breaks every pipeline that parses them; this test fails first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gl_rollout.sandbox import Sandbox
from tests.helpers import CliResult, run_cli

ENVELOPE_KEYS = {"version", "command", "ok", "data", "error"}
ERROR_KEYS = {"code", "message"}
STEP_KEYS = {"id", "text", "state", "line", "section", "depth"}
SEED_FLAG = "product_analytics_aggregated_metrics"


def one_document(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON document (and nothing else but trailing whitespace)."""
    decoder = json.JSONDecoder()
    text = stdout.lstrip()
    document, end = decoder.raw_decode(text)
    assert text[end:].strip() == "", f"more than one document on stdout: {text[end:][:80]!r}"
    assert isinstance(document, dict)
    return document


def assert_envelope(result: CliResult, command: str, exit_code: int) -> dict[str, Any]:
    assert result.code == exit_code, result.output
    envelope = one_document(result.stdout)
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["version"] == 1
    assert envelope["command"] == command
    assert isinstance(envelope["data"], dict)
    if exit_code == 0:
        assert envelope["ok"] is True
        assert envelope["error"] is None
    else:
        assert envelope["ok"] is False
        assert set(envelope["error"]) == ERROR_KEYS
        assert envelope["error"]["code"] == exit_code
        message = envelope["error"]["message"]
        assert isinstance(message, str)
        assert message.strip()
        assert "\n" not in message
    assert "Traceback" not in result.stderr
    return envelope


@dataclass(frozen=True)
class Case:
    """A command run with `--json`: arguments (placeholders filled per test), command name, exit code."""

    name: str
    args: list[str]
    command: str
    code: int
    data_keys: frozenset[str] = frozenset()


OFFLINE = [
    Case(
        "render", ["render", SEED_FLAG], "render", 0, frozenset({"title", "description", "labels", "steps"})
    ),
    Case("render-bad-flag", ["render", "Bad Flag!"], "render", 2),
    Case("render-missing-template", ["render", SEED_FLAG, "--template", "{tmp}/none.j2"], "render", 2),
    Case("templates", ["templates"], "templates", 0),
    Case(
        "status-file",
        ["status", "--file", "{seed}"],
        "status",
        0,
        frozenset({"steps", "done", "total", "skipped", "next"}),
    ),
    Case("status-missing-file", ["status", "--file", "{tmp}/missing.md"], "status", 2),
    Case("status-not-utf8", ["status", "--file", "{latin1}"], "status", 2),
    Case("check-file", ["check", "--file", "{seed}", "enable-staging"], "check", 0),
    Case("check-unknown-step", ["check", "--file", "{seed}", "no-such-step"], "check", 5),
    Case("check-ambiguous-step", ["check", "--file", "{seed}", "staging"], "check", 5),
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    rendered = run_cli(["render", SEED_FLAG])
    assert rendered.code == 0, rendered.stderr
    seed = tmp_path / "seed.md"
    seed.write_text(rendered.stdout.split("\n", 2)[2], encoding="utf-8")
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("- [ ] Étape\n".encode("latin-1"))
    return {"{seed}": str(seed), "{tmp}": str(tmp_path), "{latin1}": str(latin1)}


def fill(args: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for arg in args:
        filled = arg
        for key, value in values.items():
            filled = filled.replace(key, value)
        out.append(filled)
    return out


@pytest.mark.parametrize("case", OFFLINE, ids=[c.name for c in OFFLINE])
def test_offline_commands_print_one_frozen_envelope(case: Case, files: dict[str, str]) -> None:
    result = run_cli([*fill(case.args, files), "--json"])
    envelope = assert_envelope(result, case.command, case.code)
    assert case.data_keys <= set(envelope["data"])
    for step in envelope["data"].get("steps", []):
        if isinstance(step, dict):
            assert set(step) >= STEP_KEYS


def test_json_file_holds_the_same_envelope_as_stdout(files: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    result = run_cli(["status", "--file", files["{seed}"], "--json", "--json-file", str(target)])
    assert one_document(result.stdout) == json.loads(target.read_text(encoding="utf-8"))


def test_without_json_stdout_is_not_json_and_errors_go_to_stderr(files: dict[str, str]) -> None:
    result = run_cli(["check", "--file", files["{seed}"], "no-such-step"])
    assert result.code == 5
    assert result.stdout == ""
    assert "no-such-step" in result.stderr


# --- networked commands, against the sandbox ---------------------------------------------------------


def networked(sandbox: Sandbox) -> tuple[list[str], dict[str, str]]:
    assert sandbox.url is not None
    return ["--url", sandbox.url, "--timeout", "10"], {"GITLAB_TOKEN": sandbox.tokens["developer"]}


def make_issue(sandbox: Sandbox, flag: str = SEED_FLAG) -> str:
    """A rollout issue as `create` would make it, put straight into the sandbox; its reference."""
    rendered = run_cli(["render", flag, "--json"])
    data = json.loads(rendered.stdout)["data"]
    issue = sandbox.create_issue(title=data["title"], description=data["description"], labels=data["labels"])
    return f"{sandbox.project_path}#{issue['iid']}"


NetworkedCase = tuple[str, Callable[[Sandbox], list[str]], str, int, frozenset[str]]

NETWORKED: list[NetworkedCase] = [
    (
        "status",
        lambda sb: ["status", make_issue(sb)],
        "status",
        0,
        frozenset({"steps", "done", "total", "skipped", "next"}),
    ),
    ("status-unknown-issue", lambda sb: ["status", f"{sb.project_path}#999"], "status", 3, frozenset()),
    (
        "status-require-not-done",
        lambda sb: ["status", make_issue(sb), "--require", "enable-staging"],
        "status",
        6,
        frozenset(),
    ),
    ("status-bad-ref", lambda sb: ["status", "not a reference"], "status", 2, frozenset()),
    ("check-unknown-step", lambda sb: ["check", make_issue(sb), "no-such-step"], "check", 5, frozenset()),
    ("check", lambda sb: ["check", make_issue(sb), "enable-staging"], "check", 0, frozenset()),
    (
        "create",
        lambda sb: ["create", "brand_new_flag", "--project", sb.project_path],
        "create",
        0,
        frozenset({"iid", "web_url", "reference", "created"}),
    ),
    (
        "create-unknown-project",
        lambda sb: ["create", "brand_new_flag", "--project", "no/such"],
        "create",
        3,
        frozenset(),
    ),
    (
        "announce-bad-eta",
        lambda sb: ["announce", make_issue(sb), "--eta", "tomorrow-ish"],
        "announce",
        2,
        frozenset(),
    ),
    ("enable-staging", lambda sb: ["enable", make_issue(sb), "--env", "staging"], "enable", 0, frozenset()),
    ("sync", lambda sb: ["sync", make_issue(sb)], "sync", 0, frozenset()),
]


@pytest.mark.parametrize("case", NETWORKED, ids=[c[0] for c in NETWORKED])
def test_networked_commands_print_one_frozen_envelope(sandbox: Sandbox, case: NetworkedCase) -> None:
    _, make_args, command, code, data_keys = case
    common, env = networked(sandbox)
    result = run_cli([*make_args(sandbox), *common, "--json"], env=env)
    envelope = assert_envelope(result, command, code)
    assert data_keys <= set(envelope["data"])


def test_the_token_is_not_in_the_envelope(sandbox: Sandbox) -> None:
    common, env = networked(sandbox)
    result = run_cli(["status", f"{sandbox.project_path}#999", *common, "--json"], env=env)
    assert env["GITLAB_TOKEN"] not in result.output
