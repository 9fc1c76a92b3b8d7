"""`--help` reads as it did before commands were built on demand (tests/data/help holds the earlier texts),
but for what had to change: `--dry-run` and `REF`, now declared once, read the same in every command.

The command list of `gl-rollout --help` comes from the command table without importing a command
module; every command's own help comes from its module, built alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

HELP = Path(__file__).resolve().parents[1] / "data" / "help"
COMMANDS = ["render", "templates", "status", "check", "create", "announce", "enable", "disable", "demo",
            "adopt", "sync", "report"]  # fmt: skip
CASES: dict[str, list[str]] = {
    "root": ["--help"],
    "no-arguments": [],
    "sandbox": ["sandbox", "--help"],
    "sandbox-serve": ["sandbox", "serve", "--help"],
    **{command: [command, "--help"] for command in COMMANDS},
}
DRY_RUN = "  -n, --dry-run Show what would change; write nothing."
REF = "The rollout issue: a URL, group/project#42, or 42 with --project."


def entries(text: str) -> list[str]:
    """The help as entries: an option, argument or command with its wrapped lines joined (shown as
    `  ` and its words), other lines alone."""
    joined: list[str] = []
    for line in text.splitlines():
        if joined and re.match(r"^ {3,}\S", line) and re.match(r"^  \S", joined[-1]):
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return ["  " + " ".join(entry.split()) if entry.startswith("  ") else entry for entry in joined]


def declared_once(entry: str) -> bool:
    return "--dry-run" in entry or is_ref(entry)


def is_ref(entry: str) -> bool:
    """The REF argument's entry (not check's `[REF] STEP...`, which says more)."""
    return re.match(r"^  \[?REF\]? (?!STEP)", entry) is not None


@pytest.mark.parametrize("name", list(CASES))
def test_help_reads_as_before_but_for_the_options_declared_once(name: str) -> None:
    done = run_cli(CASES[name])
    assert done.code == (2 if name in {"no-arguments"} else 0)
    now = done.stdout or done.stderr
    before = (HELP / f"{name}.txt").read_text(encoding="utf-8")
    assert [e for e in entries(now) if not declared_once(e)] == [
        e for e in entries(before) if not declared_once(e)
    ]


def test_dry_run_and_ref_read_the_same_in_every_command() -> None:
    dry_runs, refs = set(), set()
    for command in COMMANDS:
        for entry in entries(run_cli([command, "--help"]).stdout):
            if "--dry-run" in entry:
                dry_runs.add(entry)
            if is_ref(entry):
                refs.add(re.sub(r"^  \[?REF\]? | \[required\]$", "", entry))
    assert dry_runs == {DRY_RUN}
    assert refs == {REF}


def test_the_command_list_names_every_command_in_the_table() -> None:
    listed = entries(run_cli(["--help"]).stdout)
    start = listed.index("Commands:")
    names = [entry.split()[0] for entry in listed[start + 1 :] if entry.startswith("  ")]
    assert names[: len(COMMANDS) + 1] == [*COMMANDS, "sandbox"]


def test_the_stored_root_help_is_what_the_app_renders() -> None:
    from gl_rollout.cli import ROOT_HELP
    from gl_rollout.cli.app import root_help

    stored = Path(ROOT_HELP).read_text(encoding="utf-8")
    assert stored == root_help(), "rewrite it: python -m gl_rollout.cli.app --write-root-help"
    assert stored == (HELP / "root.txt").read_text(encoding="utf-8")


def started(*args: str, columns: int = 100) -> tuple[str, set[str]]:
    """`gl-rollout ARGS` in a fresh interpreter: its stdout, and the modules it imported."""
    script = (
        "import sys\n"
        f"sys.argv = ['gl-rollout', *{list(args)!r}]\n"
        "from gl_rollout.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return done.stdout, set(done.stderr.split())


def test_help_on_a_usual_terminal_imports_no_typer_and_reads_the_same() -> None:
    out, modules = started("--help")
    assert out == (HELP / "root.txt").read_text(encoding="utf-8")
    assert not {"typer", "click", "gl_rollout.cli.app"} & modules


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    description = tmp_path / "issue.md"
    description.write_text("- [ ] Enable on staging <!-- step:enable-staging -->\n", encoding="utf-8")
    out, modules = started("status", "--file", str(description))
    assert "next: enable-staging" in out
    assert "gl_rollout.cli.steps_cmds" in modules
    others = {"gl_rollout.cli.offline", "gl_rollout.cli.workflow", "gl_rollout.cli.sync_cmds",
              "gl_rollout.cli.sandbox_cmd", "gl_rollout.cli.connection"}  # fmt: skip
    assert not others & modules
    assert not {"gitlab", "requests", "jinja2", "rich", "gl_rollout.sandbox"} & modules
