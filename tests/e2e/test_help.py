"""`--help` pages: pinned texts, and the habits every page keeps.

- Each page reads as `tests/data/help/*.txt` holds it (rewrite them after a deliberate change with
  `python -m tests.e2e.test_help`, then read the diff).
- `--dry-run` and `REF`, declared once, read the same in every command; `-n` goes with every `--dry-run`.
- The top-level help groups the commands (offline, GitLab, sandbox) with one whole sentence each.
- Every page ends with 2 or 3 examples that fit an 80-column terminal and parse as written.
- One metavar style: an upper-case noun (`REF`, `STEP`, `FILE`, `WHEN`, `N`), never `<str>` or `{REF}`.

The command list of `gl-rollout --help` comes from the command table without importing a command
module; every command's own help comes from its module, built alone.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gl_rollout.cli.commands import COMMANDS, KINDS, SUBCOMMANDS, examples_of
from tests.helpers import run_cli

HELP = Path(__file__).resolve().parents[1] / "data" / "help"
NAMES = [command.name for command in COMMANDS if not command.group]
CASES: dict[str, list[str]] = {
    "root": ["--help"],
    "no-arguments": [],
    "sandbox": ["sandbox", "--help"],
    "sandbox-serve": ["sandbox", "serve", "--help"],
    **{command: [command, "--help"] for command in NAMES},
}
PATHS: dict[str, str] = {"root": "", "sandbox": "sandbox", "sandbox-serve": "sandbox serve"} | {
    name: name for name in NAMES
}
DRY_RUN = "  -n, --dry-run Show what would change; write nothing."
REF = "The rollout issue: a URL, group/project#42, or 42 with --project."
METAVAR = re.compile(r"^(\[[A-Z][A-Z_]*\]|[A-Z][A-Z_]*(=[A-Z][A-Z_]*)?)(\.\.\.)?$")


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


def section(text: str, heading: str) -> list[str]:
    """The entries of one section (`Options`, `Arguments`, `Examples`, ...) of a help page."""
    found: list[str] = []
    inside = False
    for entry in entries(text):
        if re.match(r"^\S.*:$", entry):
            inside = entry.startswith(heading)
        elif inside and entry.strip():
            found.append(entry)
    return found


def help_of(name: str) -> str:
    done = run_cli(CASES[name])
    assert done.code == (2 if name == "no-arguments" else 0), done.output
    return done.stdout or done.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_help_reads_as_pinned(name: str) -> None:
    pinned = (HELP / f"{name}.txt").read_text(encoding="utf-8")
    assert entries(help_of(name)) == entries(pinned), "rewrite the pins: python -m tests.e2e.test_help"


def test_dry_run_and_ref_read_the_same_in_every_command() -> None:
    dry_runs, refs, with_dry_run = set(), set(), []
    for command in NAMES:
        page = help_of(command)
        for entry in section(page, "Options"):
            if "--dry-run" in entry:
                dry_runs.add(entry)
                with_dry_run.append(command)
        for entry in section(page, "Arguments"):
            if re.match(r"^  \[?REF\]? (?!STEP)", entry):
                refs.add(re.sub(r"^  \[?REF\]? | \[required\]$", "", entry))
    assert dry_runs == {DRY_RUN}  # `-n` everywhere `--dry-run` is
    assert refs == {REF}
    # The ramp runner's commands (issue 15) write too.
    ramp = {"advance", "pause", "resume", "rollback"}
    assert set(with_dry_run) == {"check", "create", "announce", "enable", "disable", "sync", "adopt"} | ramp


def test_the_top_level_help_groups_the_commands_with_whole_sentences() -> None:
    listed = entries(help_of("root"))
    for kind, heading in KINDS:
        start = listed.index(heading + ":")
        rows = []
        for entry in listed[start + 1 :]:
            if not entry.startswith("  "):
                break
            rows.append(entry)
        names = [row.split()[0] for row in rows]
        assert names == [command.name for command in COMMANDS if command.kind == kind]
        for row, name in zip(rows, names, strict=True):
            summary = next(command.summary for command in COMMANDS if command.name == name)
            assert row == f"  {name} {summary}"  # whole, never cut with "..."
            assert summary.endswith(".")
            assert summary[0].isupper()
    assert {kind for kind, _ in KINDS} == {command.kind for command in COMMANDS}
    offline = [command.name for command in COMMANDS if command.kind == "offline"]
    assert offline == ["render", "templates"]


def test_every_summary_fits_one_line_of_the_command_list() -> None:
    width = max(len(command.name) for command in COMMANDS)
    for command in COMMANDS:
        assert len(f"  {command.name:<{width}}  {command.summary}") <= 78, command.name
    for summary, _ in SUBCOMMANDS.values():
        assert summary.endswith(".")


@pytest.mark.parametrize("name", [name for name in CASES if name != "no-arguments"])
def test_every_help_page_ends_with_two_or_three_examples(name: str) -> None:
    page = help_of(name)
    shown = section(page, "Examples")
    lines = [entry.strip() for entry in shown]
    comments = [line for line in lines if line.startswith("# ")]
    commands = [line for line in lines if line.startswith("gl-rollout")]
    assert 2 <= len(commands) <= 3, page
    assert len(comments) == len(commands)
    for example in examples_of(PATHS[name]):
        assert example.line in page.splitlines()[-12:] or f"  {example.line}" in page  # never re-wrapped
        assert len(example.line) <= 76, "an example must fit an 80-column terminal, indented"


def every_example() -> list[tuple[str, str]]:
    return [(path, example.line) for path in PATHS.values() for example in examples_of(path)]


def _words_left(context: object) -> list[str]:
    """The words a context left for a subcommand (click 8.2 keeps them in `_protected_args`)."""
    protected = getattr(context, "protected_args", None)
    if protected is None:
        protected = getattr(context, "_protected_args", [])
    return [*protected, *getattr(context, "args", [])]


@pytest.mark.parametrize(("path", "line"), every_example())
def test_every_example_parses_as_written(path: str, line: str) -> None:
    """Each example names a real command and real options with values where they take one: the parser
    accepts it (nothing is run)."""
    import typer.main

    from gl_rollout.cli.app import app, hoist_global_options

    words = shlex.split(line.split(" > ", maxsplit=1)[0])
    assert words[0] == "gl-rollout"
    args = hoist_global_options(words[1:])
    if path:
        assert path.split(maxsplit=1)[0] in args
    root = typer.main.get_command(app)
    context = root.make_context("gl-rollout", list(args), resilient_parsing=False)
    names = _words_left(context)
    command = root
    while names and hasattr(command, "get_command") and names[0] in command.list_commands(context):
        command = command.get_command(context, names[0])
        context = command.make_context(names[0], names[1:], parent=context)
        names = _words_left(context)
    assert not names, f"left over: {names}"


@pytest.mark.parametrize("name", [name for name in CASES if name != "no-arguments"])
def test_one_metavar_style_on_every_page(name: str) -> None:
    page = help_of(name)
    usage = page.splitlines()[0]
    assert "{" not in usage, usage
    assert "<" not in usage, usage
    assert not re.search(r"<[a-z ]+>", page), "a metavar in Typer's <type> style"
    for entry in section(page, "Options"):
        names = re.match(r"^  ((?:-\w, )?--[\w-]+)(?: ([^ ]+))?(?:  | |$)", entry)
        assert names is not None, entry
        metavar = names.group(2)
        if metavar and re.match(r"^([a-z(]|[A-Z][a-z])", metavar):
            continue  # the entry's help text starts right after a flag ("Print ...")
        if metavar:
            assert METAVAR.match(metavar), f"{metavar!r} in {entry!r}"
    for entry in section(page, "Arguments"):
        assert re.match(r"^  (\[REF\] STEP\.\.\.|\[?[A-Z]+\]?) ", entry), entry


def test_the_command_list_names_every_command_in_the_table() -> None:
    listed = entries(help_of("root"))
    names = []
    for kind, heading in KINDS:
        start = listed.index(heading + ":")
        names += [entry.split()[0] for entry in listed[start + 1 :] if entry.startswith("  ")][
            : sum(command.kind == kind for command in COMMANDS)
        ]
    assert sorted(names) == sorted(command.name for command in COMMANDS)


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
    out, modules = started("check", "--file", str(description), "--dry-run", "enable-staging")
    assert "enable-staging" in out
    assert "gl_rollout.cli.steps_cmds" in modules
    others = {"gl_rollout.cli.offline", "gl_rollout.cli.workflow", "gl_rollout.cli.sync_cmds",
              "gl_rollout.cli.sandbox_cmd", "gl_rollout.cli.connection"}  # fmt: skip
    assert not others & modules
    assert not {"gitlab", "requests", "jinja2", "rich", "gl_rollout.sandbox"} & modules
    # Completion and the recent-issues cache add nothing to a command's start (difflib and shellingham
    # come with Typer itself).
    assert not {"gl_rollout.cli.completion", "gl_rollout.cli.recent", "gl_rollout.cli.debug_log"} & modules


def test_status_file_builds_no_command_at_all(tmp_path: Path) -> None:
    """`status --file` is answered before the Typer app is built (`gl_rollout.cli.quick`)."""
    description = tmp_path / "issue.md"
    description.write_text("- [ ] Enable on staging <!-- step:enable-staging -->\n", encoding="utf-8")
    out, modules = started("status", "--file", str(description))
    assert "next: enable-staging" in out
    assert not {"typer", "click", "gl_rollout.cli.app", "gl_rollout.cli.steps_cmds"} & modules
    assert not {"gitlab", "requests", "jinja2", "rich", "gl_rollout.sandbox"} & modules


def write_pins() -> None:
    """Rewrite tests/data/help/*.txt from the help pages as the app renders them now."""
    from gl_rollout.cli import HELP_WIDTH

    for name, args in CASES.items():
        env = {**os.environ, "COLUMNS": str(HELP_WIDTH), "NO_COLOR": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "gl_rollout", *args], capture_output=True, text=True, env=env, check=False
        )
        (HELP / f"{name}.txt").write_text(done.stdout or done.stderr, encoding="utf-8")


if __name__ == "__main__":
    write_pins()
