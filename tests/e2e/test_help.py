"""`--help` reads as it did before commands were built on demand (tests/data/help holds the earlier texts),
but for what had to change: `--dry-run` and `REF`, now declared once, read the same in every command.

The command list of `gl-rollout --help` comes from the command table without importing a command
module; every command's own help comes from its module, built alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import run_cli

HELP = Path(__file__).resolve().parents[1] / "data" / "help"
COMMANDS = ["render", "templates", "status", "check", "create", "announce", "enable", "disable", "demo",
            "sync", "report"]  # fmt: skip
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
