"""Checklist commands `status` and `check`, on a rollout issue (`REF`) or a local Markdown file (`--file`).

`PATH` may be `-` for standard input. The file form of each command lives in a function of its own
(`status_of_file`, `check_file`) that returns a Result; the issue form calls the use cases in
`gl_rollout.workflows.rollout`, and both share the renderers. markdown-it loads only when a command runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli.app import app, run_command
from gl_rollout.cli.options import ProjectOption
from gl_rollout.cli.printer import Printer
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.core.checklist import Step, StepState

_TEXT_WIDTH = 64
_SECTION_WIDTH = 32
_NO_NEWLINE = "\\ No newline at end of file\n"

FileOption = Annotated[
    str | None,
    typer.Option(
        "--file",
        "-f",
        metavar="PATH",
        help="Markdown file holding the issue description ('-' reads standard input).",
        show_default=False,
    ),
]


# --- status ---------------------------------------------------------------------------------------


def status_of_file(path: str, require: Sequence[str] = ()) -> Result:
    """The steps of a Markdown file, GitLab's progress counts and the next step to do; with `require`,
    the pipeline gate (exit 6 when a named step is not done). The file is read once: it may be stdin.
    """
    from gl_rollout.core.checklist import parse_checklist, progress_line
    from gl_rollout.files import read_text_input
    from gl_rollout.workflows.gate import gated

    checklist = parse_checklist(read_text_input(path))
    data = checklist.to_dict()
    data["progress"] = progress_line(checklist)
    return gated(Result(command="status", data=data), checklist, require, path, file=True)


def render_status(result: Result, printer: Printer) -> None:
    """The steps as a table, the progress line and `next: ID` (any `data` with the status keys)."""
    from gl_rollout.core.checklist import progress_text

    for message in result.messages:
        printer.note(message)
    data = result.data
    steps: list[dict[str, Any]] = data["steps"]
    if not steps:
        printer.line("no checklist items found")
        return
    rows = [
        [
            str(position),
            str(step["id"]),
            str(step["state"]),
            _shorten("  " * int(step["depth"]) + str(step["text"]), _TEXT_WIDTH),
            _shorten(step["section"] or "", _SECTION_WIDTH),
        ]
        for position, step in enumerate(steps, start=1)
    ]
    printer.table(["#", "ID", "STATE", "TEXT", "SECTION"], rows)
    printer.line()
    printer.line(progress_text(int(data["done"]), int(data["total"])))
    printer.line(f"next: {data['next']}" if data["next"] else "next: none (every step is done or skipped)")


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def render_issue_status(result: Result, printer: Printer) -> None:
    """`status REF`: the issue, then the steps as for a file, then `--timeline` if asked."""
    data = result.data
    if "reference" in data:
        printer.line(f"{data['reference']}: {data['title']} ({data['state']})")
        printer.line(str(data["web_url"]))
        printer.line()
    render_status(result, printer)
    if data.get("missing"):
        printer.line(f"required but not done: {', '.join(data['missing'])}")
    timeline = data.get("timeline")
    if timeline is not None:
        from gl_rollout.core.evidence import TimelineEvent, timeline_lines

        printer.line()
        printer.line("Timeline:")
        events = [TimelineEvent(**event) for event in timeline]
        for line in timeline_lines(events):
            printer.line("  " + line)


RefArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[REF]",
        help="The rollout issue: a URL, group/project#42, or 42 with --project. Or give --file.",
        show_default=False,
    ),
]


def ref_or_file(ref: str | None, file: str | None, command: str) -> None:
    """Exactly one of REF (GitLab) and --file (a local Markdown file)."""
    if ref is not None and file is not None:
        raise UsageError(f"{command} takes REF or --file, not both", "drop one of them")
    if ref is None and file is None:
        raise UsageError(
            f"{command} needs the issue: REF, or --file PATH for a local description",
            "for example group/project#42, or --file issue.md",
        )


@app.command("status")
def status_command(
    ctx: typer.Context,
    ref: RefArgument = None,
    file: FileOption = None,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require", metavar="STEP", help="Exit 6 unless this step is done (repeatable): a pipeline gate."
        ),
    ] = None,
    timeline: Annotated[
        bool, typer.Option("--timeline", help="With REF: also what happened when (one more request).")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Show the checklist of a rollout issue (REF, one request; CI_JOB_TOKEN is enough) or of a Markdown
    file (--file): each step's ID, state and text, then "N of M checklist items completed" and the next step.

    Counts follow GitLab: a skipped step ([~], inapplicable) is in neither number.
    With --json: {steps: [{id, text, state, line, section, depth}], done, total, skipped, next}; with REF
    also {iid, web_url, reference, title, state, task_completion_status}.
    """
    from gl_rollout.cli.app import state_of

    app_state = state_of(ctx)

    def use_case() -> Result:
        ref_or_file(ref, file, "status")
        if file is not None:
            if timeline:
                raise UsageError("--timeline needs the issue's comments", "give REF instead of --file")
            return status_of_file(file, require or ())
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.rollout import status

        with open_client(app_state, need_write=False, project=project, ref=ref) as client:
            return status(client.api, client.issue, require or (), timeline=timeline)

    run_command(ctx, "status", use_case, render_issue_status)


# --- check ----------------------------------------------------------------------------------------


def target_state(*, undo: bool, skip: bool) -> StepState:
    """The state `check` sets: done, or todo with --undo, or skipped with --skip."""
    if undo and skip:
        raise UsageError("--undo and --skip cannot be used together", "choose one of them")
    if undo:
        return "todo"
    return "skipped" if skip else "done"


def check_file(
    path: str, selectors: Sequence[str], state: StepState, *, in_place: bool, dry_run: bool
) -> Result:
    """Set steps of a Markdown file to `state`: print the new text, rewrite the file, or show the diff.

    Only the bracket of each changed step's line changes. Steps already in that state are left alone;
    when none changes the file is not touched.
    """
    from gl_rollout.core.checklist import parse_checklist, progress_line, select_steps, set_step_state
    from gl_rollout.files import check_target, read_text_input, write_atomic
    from gl_rollout.workflows.issue_edit import change_line

    if in_place and path == "-":
        raise UsageError("--in-place needs a file, not standard input", "drop --in-place to print the result")
    if in_place and not dry_run:
        check_target(Path(path))  # a read-only file or a device is refused whatever the steps say
    text = read_text_input(path)
    checklist = parse_checklist(text)
    selected = select_steps(checklist, selectors)
    new_text = text
    changed: list[Step] = []
    for step in selected:
        edited = set_step_state(new_text, step, state)
        if edited != new_text:
            changed.append(step)
        new_text = edited
    final = parse_checklist(new_text) if changed else checklist
    changed_ids = {step.id for step in changed}
    unchanged = [step for step in selected if step.id not in changed_ids]

    write = in_place and not dry_run and bool(changed)
    if write:
        write_atomic(Path(path), new_text)

    data: dict[str, Any] = {
        "file": path,
        "state": state,
        "changed": [step.id for step in changed],
        "unchanged": [step.id for step in unchanged],
    }
    data.update({key: value for key, value in final.to_dict().items() if key != "steps"})
    data["progress"] = progress_line(final)
    data["dry_run"] = dry_run
    data["written"] = write
    if dry_run:
        data["diff"] = file_diff(text, new_text, "standard input" if path == "-" else path)
    elif not in_place:
        data["text"] = new_text

    messages = [change_line(step.id, step.state, state, step.line) for step in changed]
    messages += [f"{step.id}: already {state}" for step in unchanged]
    if not changed:
        messages.append("nothing to do")
    messages.append(data["progress"])
    if write:
        messages.append(f"wrote {path}")
    elif dry_run and changed:
        messages.append("dry run: nothing written")
    return Result(command="check", data=data, messages=messages)


def file_diff(old: str, new: str, name: str) -> str:
    """A unified diff that `patch` applies to the file: line endings kept, a missing final newline marked."""
    import difflib

    from gl_rollout.core.checklist import split_lines

    lines = []
    for line in difflib.unified_diff(split_lines(old), split_lines(new), fromfile=name, tofile=name):
        lines.append(line if line.endswith(("\n", "\r")) else line + "\n" + _NO_NEWLINE)
    return "".join(lines)


def render_check(result: Result, printer: Printer) -> None:
    """The new text (or with --dry-run the diff) on stdout and the summary on stderr; with --in-place,
    the summary on stdout."""
    data = result.data
    primary = data.get("diff", data.get("text"))
    if primary is None:
        for message in result.messages:
            printer.line(message)
        return
    printer.human.write(primary)
    for message in result.messages:
        printer.note(message)


def render_issue_check(result: Result, printer: Printer) -> None:
    """`check REF`: the changes and the progress; with --dry-run the diff; on a conflict, what was written."""
    from gl_rollout.cli.workflow import render_write

    render_write(result, printer)


@app.command("check")
def check_command(
    ctx: typer.Context,
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[REF] STEP...",
            help="The rollout issue (a URL, group/project#42, or 42 with --project), unless --file is given; "
            "then the steps to set: an ID (enable-staging), a position (1 is the first box), or a piece of "
            "the step's text that matches one step.",
            show_default=False,
        ),
    ],
    *,
    file: FileOption = None,
    undo: Annotated[bool, typer.Option("--undo", help="Set the steps back to todo ([ ]).")] = False,
    skip: Annotated[
        bool, typer.Option("--skip", help="Mark the steps inapplicable ([~]): left out of the counts.")
    ] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", "-i", help="With --file: rewrite the file (atomically).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Print the diff of what would change; write nothing.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """Tick steps: set them done ([x]), or todo with --undo, or skipped with --skip.

    With REF: a fresh read of the issue, a one-line edit per step, a write of the description only, and
    a check of what GitLab stored (at most 3 requests); a concurrent edit by someone else is exit 4.
    With --file: prints the new text, or rewrites the file with --in-place.
    Only the bracket on each step's line changes. A step already in that state is left alone (exit 0).
    """
    from gl_rollout.cli.app import state_of

    app_state = state_of(ctx)
    if file is not None:
        run_command(
            ctx,
            "check",
            lambda: check_file(
                file, args, target_state(undo=undo, skip=skip), in_place=in_place, dry_run=dry_run
            ),
            render_check,
        )
        return

    def use_case() -> Result:
        state = target_state(undo=undo, skip=skip)
        if len(args) < 2:
            raise UsageError(
                "check needs the issue and at least one step",
                "for example: gl-rollout check group/project#42 enable-staging (or --file PATH STEP...)",
            )
        if in_place:
            raise UsageError("--in-place is for --file", "drop --in-place: with REF the issue is written")
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.rollout import check

        with open_client(app_state, need_write=not dry_run, project=project, ref=args[0]) as client:
            return check(client.api, client.issue, args[1:], state, dry_run=dry_run)

    run_command(ctx, "check", use_case, render_issue_check)
