"""What any user meets first: `--help`, `--version`, global options anywhere, usage errors, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout import __version__
from tests.helpers import run_cli

SEED_FLAG = "product_analytics_aggregated_metrics"
COMMANDS = (
    "render",
    "templates",
    "status",
    "check",
    "create",
    "announce",
    "enable",
    "disable",
    "demo",
    "sync",
    "report",
    "sandbox",
)


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    result = run_cli(["render", SEED_FLAG])
    assert result.code == 0, result.stderr
    path = tmp_path / "seed.md"
    path.write_text(result.stdout.split("\n", 2)[2], encoding="utf-8")
    return path


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = run_cli(["--help"])
    assert result.code == 0
    # The commands are listed in groups (offline, GitLab, sandbox), after the options.
    listed = re.findall(
        r"^\s{2}([a-z][a-z-]+)\s", result.stdout.split("Offline commands", 1)[1], re.MULTILINE
    )
    for command in COMMANDS:
        assert command in listed, f"`{command}` missing from --help"
    text = " ".join(result.stdout.split())
    for code, meaning in [
        (0, "done or nothing to do"),
        (2, "bad usage or input"),
        (3, "GitLab API error"),
        (4, "conflicting edit"),
        (5, "step not found or ambiguous"),
        (6, "required step not done"),
    ]:
        assert f"{code} {meaning}" in text


def test_no_arguments_shows_the_help_as_help() -> None:
    result = run_cli([])
    assert "Traceback" not in result.output
    assert "Usage:" in result.output
    assert re.search(r"^Offline commands \(.*\):$", result.output, re.MULTILINE), "the help keeps its layout"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    result = run_cli([command, "--help"])
    assert result.code == 0, result.stderr
    assert f"gl-rollout {command}" in result.stdout


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.code == 0
    assert result.stdout.strip() == f"gl-rollout {__version__}"


def test_version_of_the_installed_console_script_matches() -> None:
    """`python -m gl_rollout` is the same program as the console script."""
    done = subprocess.run(
        [sys.executable, "-m", "gl_rollout", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"gl-rollout {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "status", "--file", "{seed}"],
        ["status", "--json", "--file", "{seed}"],
        ["status", "--file", "{seed}", "--json"],
        ["status", "--file={seed}", "--json"],
    ],
    ids=["before", "between", "after", "equals-form"],
)
def test_global_options_work_after_the_command(args: list[str], seed: Path) -> None:
    result = run_cli([a.replace("{seed}", str(seed)) for a in args])
    assert result.code == 0, result.stderr
    envelope = json.loads(result.stdout)
    assert envelope["command"] == "status"
    assert envelope["data"]["total"] == 11
    assert envelope["data"]["done"] == 0


def test_global_option_with_a_value_after_the_command(seed: Path, tmp_path: Path) -> None:
    out = tmp_path / "envelope.json"
    result = run_cli(["status", "--file", str(seed), "--json-file", str(out)])
    assert result.code == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["data"]["next"] == "enable-staging"


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option"],
        ["status", "--no-such-option"],
        ["render", SEED_FLAG, "--bogus"],
        ["check", "--file", "x.md", "enable-staging", "--undo-it"],
        ["no-such-command"],
        ["--timeout", "soon", "templates"],
        ["render"],  # a required argument missing (no --definition either)
    ],
)
def test_bad_usage_is_exit_2_with_one_line_and_no_traceback(args: list[str]) -> None:
    result = run_cli(args)
    assert result.code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")


def test_bad_usage_with_json_still_prints_one_envelope() -> None:
    result = run_cli(["status", "--frobnicate", "--json"])
    assert result.code == 2
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == 2
    assert "--frobnicate" in envelope["error"]["message"]


def test_an_unknown_option_is_named_in_the_error() -> None:
    result = run_cli(["status", "--frobnicate"])
    assert result.code == 2
    assert "--frobnicate" in result.stderr


def test_errors_are_one_line_without_debug_and_a_traceback_with_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.md"
    plain = run_cli(["status", "--file", str(missing)])
    assert plain.code == 2
    assert plain.stdout == ""
    assert len(plain.stderr.strip().splitlines()) == 1
    assert "Traceback" not in plain.stderr
    assert str(missing) in plain.stderr
    debug = run_cli(["status", "--file", str(missing), "--debug"])
    assert debug.code == 2
    assert "Traceback" in debug.stderr


def test_json_error_goes_to_stdout_as_one_envelope_and_stderr_stays_short(tmp_path: Path) -> None:
    result = run_cli(["status", "--file", str(tmp_path / "missing.md"), "--json"])
    assert result.code == 2
    envelope = json.loads(result.stdout)
    assert envelope["ok"] is False
    assert envelope["error"]["code"] == 2
    assert "Traceback" not in result.stderr


def test_no_colour_codes_when_not_a_terminal(seed: Path) -> None:
    result = run_cli(["status", "--file", str(seed)])
    assert result.code == 0
    assert "\x1b[" not in result.output


def test_help_starts_without_loading_the_heavy_libraries() -> None:
    """`--help` and offline commands must not import python-gitlab, requests or jinja2 (start-up speed)."""
    code = (
        "import sys\n"
        "from gl_rollout.cli import invoke\n"
        "invoke(['--help'])\n"
        "heavy = ('gitlab', 'requests', 'jinja2', 'ruamel.yaml', 'werkzeug', 'markdown_it')\n"
        "print('LOADED:' + ','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED:"
