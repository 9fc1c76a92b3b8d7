"""Every command's human output, read from the typed outcome its use case returned (never from `--json`'s
dict). `gl_rollout.cli.printer.emit` calls the view with the `Result`; with `--json` none is called.

Types are imported for annotations only, so a view module costs no use-case import at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gl_rollout.cli.printer import HumanRenderer, Printer
from gl_rollout.cli.style import Cell
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.cli.connection import Serving
    from gl_rollout.core.evidence import Evidence
    from gl_rollout.workflows.check import CheckOutcome, FileCheckOutcome
    from gl_rollout.workflows.create import CreateOutcome
    from gl_rollout.workflows.demo import DemoOutcome, DemoStep
    from gl_rollout.workflows.demo_ramp import RampDemoOutcome
    from gl_rollout.workflows.from_mr import FromMrOutcome
    from gl_rollout.workflows.issue_edit import Conflict
    from gl_rollout.workflows.render import RenderOutcome, TemplatesOutcome
    from gl_rollout.workflows.report import ReportOutcome
    from gl_rollout.workflows.status import StatusOutcome
    from gl_rollout.workflows.step_comments import CommentOutcome
    from gl_rollout.workflows.summary import EditPreview
    from gl_rollout.workflows.sync import IssueOutcome, SyncOneOutcome
    from gl_rollout.workflows.sync_many import SyncManyOutcome


# --- render, templates --------------------------------------------------------------------------------------


def rendered(result: Result[RenderOutcome], printer: Printer) -> None:
    """The title, a blank line, the description (only the title when `-o` wrote the description)."""
    outcome = result.value
    assert outcome is not None
    for message in result.messages:
        printer.note(message)
    printer.line(outcome.title)
    if outcome.output is None:
        printer.line()
        printer.human.write(outcome.description)


def templates(result: Result[TemplatesOutcome], printer: Printer) -> None:
    outcome = result.value
    assert outcome is not None
    for template in outcome.templates:
        default = " (default)" if template.default else ""
        printer.line(f"{template.name}{default}: {template.summary}")
        printer.line(f"  {len(template.steps)} steps: {', '.join(template.steps)}")
        printer.line()
    printer.line("Variables for --template PATH (values printed with {{ }} are neutralised):")
    for name, text in outcome.variables.items():
        printer.line(f"  {name}: {text}")


# --- status, check ------------------------------------------------------------------------------------------


def status(result: Result[StatusOutcome], printer: Printer) -> None:
    """The issue (with REF), the steps as a table, the progress line and `next: ID`, the steps `--require`
    found missing, and `--timeline` if asked."""
    from gl_rollout.core.checklist import progress_text

    outcome = result.value
    assert outcome is not None
    issue = outcome.issue
    if issue is not None:
        printer.line(f"{issue.reference}: {issue.title} ({issue.state})")
        printer.line(str(issue.web_url))
        printer.line()
    for message in result.messages:
        printer.note(message)
    checklist = outcome.checklist
    if not checklist.steps:
        printer.line("no checklist items found")
    else:
        rows: list[list[Cell]] = [
            [
                str(position),
                step.id,
                (step.state, step.state),
                "  " * step.depth + step.text,
                step.section or "",
            ]
            for position, step in enumerate(checklist.steps, start=1)
        ]
        printer.table(["#", "ID", "STATE", "TEXT", "SECTION"], rows, wrap=("TEXT", "SECTION"))
        printer.line()
        printer.line(progress_text(checklist.done, checklist.total))
        following = checklist.next
        if following:
            printer.line("next: " + printer.paint(following.id, "strong"))
        else:
            printer.line("next: none (every step is done or skipped)")
    # A failed --require gate is said once, by the error line (exit 6), not here as well.
    if outcome.timeline is not None:
        from gl_rollout.core.evidence import timeline_lines

        printer.line()
        printer.line("Timeline:")
        for line in timeline_lines(outcome.timeline):
            printer.line("  " + line)


def checked_file(result: Result[FileCheckOutcome], printer: Printer) -> None:
    """The new text (or with --dry-run the diff) on stdout and the summary on stderr; with --in-place,
    the summary on stdout."""
    outcome = result.value
    assert outcome is not None
    if outcome.diff is None and outcome.text is None:
        for message in result.messages:
            printer.line(message)
        return
    if outcome.diff is not None:
        printer.diff(outcome.diff)
    elif outcome.text is not None:
        printer.human.write(outcome.text)
    for message in result.messages:
        printer.note(message)


# --- the writing commands -----------------------------------------------------------------------------------


def written(result: Result[CheckOutcome] | Result[CommentOutcome], printer: Printer) -> None:
    """Messages, then (dry run) the description diff and the comment bodies, then any conflict."""
    outcome = result.value
    assert outcome is not None
    _write_lines(result.messages, outcome.preview, outcome.conflict, printer)


def _write_lines(
    messages: list[str], preview: EditPreview, conflict: Conflict | None, printer: Printer
) -> None:
    for message in messages:
        printer.line(message)
    if preview.dry_run:
        if preview.diff:
            printer.line()
            printer.line("Description diff:", "strong")
            printer.diff(preview.diff)
        for body in preview.comments:
            printer.line()
            printer.line("Comment:", "strong")
            for line in body.rstrip("\n").splitlines():
                printer.line("  " + line)
    if conflict is not None:
        for change in conflict.wrote:
            printer.line(f"gl-rollout wrote line {change.line}: {change.after}")
        for other in conflict.other_edits:
            printer.line(f"overwritten edit: {other.author} at {other.created_at}: {other.note}", "warning")


def created(result: Result[CreateOutcome], printer: Printer) -> None:
    """As `written`, then the issue's address unless a message already showed it."""
    outcome = result.value
    assert outcome is not None
    _write_lines(result.messages, outcome.preview, None, printer)
    if outcome.dry_run and outcome.would_create and not outcome.diff:
        return
    url = outcome.issue.web_url
    if url and not any(url in message for message in result.messages):
        printer.line(url)


def from_mr(result: Result[FromMrOutcome], printer: Printer) -> None:
    """`create --from-mr`: what happened per flag, then (dry run) the issues' diffs and the MR comment."""
    outcome = result.value
    assert outcome is not None
    _write_lines(result.messages, outcome.preview, None, printer)


# --- demo ---------------------------------------------------------------------------------------------------


def _demo_views() -> dict[str, HumanRenderer]:
    """The human view of each command the demo runs: the very ones the commands use."""
    return {"create": created, "status": status, "announce": written, "enable": written, "check": written}


def _demo_step(step: DemoStep, views: Mapping[str, HumanRenderer], printer: Printer) -> None:
    """One command the demo ran: the line a user would type, then that command's own output, indented."""
    printer.line(f"$ {step.command_line}")
    shown = io.StringIO()
    # The inner output is written to the user's stream below: it is coloured as that stream is.
    inner_env = {"FORCE_COLOR": "1"} if printer.colour() else {"NO_COLOR": "1"}
    # As wide as the command itself would print, so that what is shown is what running it shows.
    inner_env["COLUMNS"] = str(printer.width())
    inner = Printer(json_mode=False, secrets=printer.secrets, out=shown, err=shown, env=inner_env)
    value = None if isinstance(step.data, Mapping) else step.data
    ran: Result[Any] = Result(step.command, value, ok=step.ok, messages=list(step.messages))
    view = views.get(step.command)
    if view is not None and (ran.ok or ran.value is not None):
        view(ran, inner)
    else:
        for message in ran.messages:
            inner.line(message)
    if step.error:
        inner.line(inner.paint("error:", "error") + f" {step.error}")
    for line in shown.getvalue().rstrip("\n").splitlines():
        printer.line(f"  {line}" if line else "")
    printer.line()


def demo(result: Result[DemoOutcome], printer: Printer) -> None:
    """Each step as the command a user would type, then that command's own output, indented; then the
    final issue."""
    outcome = result.value
    assert outcome is not None
    views = _demo_views()
    for step in outcome.steps:
        _demo_step(step, views, printer)
    final = outcome.final
    if final is not None:
        printer.line(f"{final.reference}: {final.title}")
        printer.line(final.web_url)
        printer.line()
        printer.human.write(final.description.rstrip("\n") + "\n")
    for seen in outcome.unleash or ():
        strategies = ", ".join(seen.strategies) or "no strategy"
        state = "enabled" if seen.enabled else "not enabled"
        printer.line(
            f"Unleash client in {seen.environment}, {seen.moment}: {seen.flag} {state} ({strategies}), "
            f"on for {seen.users_on} of {seen.users} sample users"
        )
    if outcome.unleash:
        printer.line()
    for message in result.messages:
        printer.line(message)


def demo_ramp(result: Result[RampDemoOutcome], printer: Printer) -> None:
    """`demo --ramp`: what happens in plain words (`#` lines), each command as a user would type it with its
    own output under it; then where the report with the step chart is, and how to see the issue page."""
    outcome = result.value
    assert outcome is not None
    views = {**_demo_views(), "report": reported}
    for entry in outcome.entries:
        if entry.step is not None:
            _demo_step(entry.step, views, printer)
        else:
            printer.line(f"# {entry.said}", "dim")
    if outcome.final is not None:
        printer.line(f"{outcome.final.reference}: {outcome.final.title} ({', '.join(outcome.final.labels)})")
    for message in result.messages:
        printer.line(message)
    # the messages say how to serve this demo's own state: the generic hint would name the usual one
    printer.unserved_links = False


# --- sync, report -------------------------------------------------------------------------------------------


def synced(result: Result[SyncOneOutcome] | Result[SyncManyOutcome], printer: Printer) -> None:
    """One issue in detail, or a summary table of many; notes (the gates' source) first."""
    from gl_rollout.workflows.sync_many import SyncManyOutcome

    for message in result.messages:
        printer.line(message)
    outcome = result.value
    if isinstance(outcome, SyncManyOutcome):
        _synced_many(outcome, printer)
    elif outcome is not None:
        _synced_one(outcome.issue, outcome.dry_run, printer)


def _proof(evidence: Evidence | None) -> str:
    """`enabled on staging (true) by alice, 2026-03-04 10:00 UTC`: what proves a step, who, when."""
    from gl_rollout.core.times import Timestamp

    if evidence is None:
        return "no evidence"
    who = f" by {evidence.by}" if evidence.by else ""
    return f"{evidence.detail}{who}, {Timestamp.of(evidence.at).human()}"


def _synced_one(issue: IssueOutcome, dry_run: bool, printer: Printer) -> None:
    from gl_rollout.workflows.issue_edit import change_line

    printer.line(f"{issue.reference}  {issue.title}")
    previous, stage = issue.previous_stage, issue.stage
    moved = f"{previous or '(no label)'} -> {stage}" if previous != stage else str(stage)
    printer.line(f"stage: {moved}")
    if issue.diff:
        printer.diff(issue.diff.rstrip("\n") + "\n")
    verdicts = {verdict.step.id: verdict for verdict in issue.steps}

    def changed(step_id: str, before: str, after: str) -> str:
        verdict = verdicts.get(step_id)
        return change_line(step_id, before, after, verdict.step.line if verdict else 0)

    # The change line every command prints (`ID: todo -> done (line N)`), then why.
    for step_id in issue.ticked:
        verdict = verdicts.get(step_id)
        printer.line(f"{changed(step_id, 'todo', 'done')}: {_proof(verdict.evidence if verdict else None)}")
    for step_id in issue.unticked:
        verdict = verdicts.get(step_id)
        if verdict is not None and verdict.verdict == "contradicted":
            why = f"the latest evidence says undone: {_proof(verdict.evidence)}"
        else:
            why = "ticked without evidence"
        printer.line(f"{changed(step_id, 'done', 'todo')}: {why}")
    for label, ids in (
        ("unverified (ticked, no evidence; --strict sets them back to todo)", issue.unverified),
        ("contradicted (ticked, the latest evidence says undone)", issue.contradicted),
    ):
        left = [step_id for step_id in ids if step_id not in issue.unticked]
        if left:
            printer.line(f"{label}: {', '.join(left)}")
    labels = [f"+{x}" for x in issue.labels_added] + [f"-{x}" for x in issue.labels_removed]
    if labels:
        printer.line(f"labels: {' '.join(labels)}")
    for warning in issue.warnings:
        printer.line(warning, "warning")
    printer.line(f"{issue.done} of {issue.total} checklist items completed")
    if issue.status == "unchanged":
        printer.line("nothing to do: the checklist and the stage label match the evidence")
    elif dry_run:
        printer.line("dry run: nothing written")


def _synced_many(outcome: SyncManyOutcome, printer: Printer) -> None:
    from gl_rollout.workflows.sync import STATUS_WORDS

    issues = outcome.issues
    rows: list[list[Cell]] = []
    for issue in issues:
        if issue.status not in ("updated", "would-update", "failed"):
            continue
        changes = [f"+{s}" for s in issue.ticked] + [f"-{s}" for s in issue.unticked]
        if issue.labels_added:
            changes.append(f"label {issue.labels_added[0]}")
        rows.append(
            [
                issue.reference,
                issue.flag or "",
                issue.stage or "",
                f"{issue.done}/{issue.total}",
                " ".join(changes) if issue.status != "failed" else (issue.error or "failed"),
                (STATUS_WORDS.get(issue.status, issue.status), "error" if issue.status == "failed" else None),
            ]
        )
    if rows:
        printer.table(["issue", "flag", "stage", "done", "changes", "status"], rows, wrap=("changes",))
    for issue in issues:
        for warning in issue.warnings:
            printer.line(f"{issue.reference}: {warning}", "warning")
    counts = outcome.counts
    parts = [
        f"{counts[status]} {words}"
        for status, words in STATUS_WORDS.items()
        if counts.get(status) and status != "not-a-rollout"
    ]
    unverified = sum(1 for issue in issues if issue.unverified)
    count = outcome.rollouts
    summary = f"{count} rollout issue{'' if count == 1 else 's'}: {', '.join(parts) or 'none'}"
    if unverified:
        summary += f"; {unverified} with unverified steps (see --json)"
    others = counts.get("not-a-rollout", 0)
    if others:
        summary += f"; {others} other listed issue{'' if others == 1 else 's'} without rollout steps"
    if outcome.dry_run:
        summary += " (dry run: nothing written)"
    printer.line(summary)


def reported(result: Result[ReportOutcome], printer: Printer) -> None:
    """With -o, what was written; else the Markdown on stdout and the counts on stderr, so that
    `report > rollouts.md` holds the report alone."""
    outcome = result.value
    to_stdout = outcome is not None and outcome.path is None
    say = printer.note if to_stdout else printer.line
    if outcome is not None and outcome.markdown is not None:
        printer.human.write(outcome.markdown)
    for message in result.messages:
        say(message)
    stages = outcome.report.by_stage() if outcome is not None else []
    if stages:
        say(", ".join(f"{stage}: {len(rows)}" for stage, rows in stages))


# --- sandbox ------------------------------------------------------------------------------------------------


def sandbox_serving(result: Result[Serving], printer: Printer) -> None:
    """`sandbox serve`'s banner: where it serves, what is seeded, the tokens, how to try it."""
    serving = result.value
    assert serving is not None
    tokens = serving.tokens
    lines = [
        f"GitLab sandbox serving at {serving.url}  (REST API: {serving.api_url})",
        f"project: {serving.project_path} (id {serving.project_id}); also {serving.second_project_path}",
        f"groups:  {', '.join(serving.group_paths)}",
        f"state:   {serving.db}",
        "tokens:  admin      " + tokens["admin"],
        "         developer  " + tokens["developer"],
        "         reporter   " + tokens["reporter"] + "  (read_api scope: read-only)",
        "         job        " + tokens["job"] + "  (CI job token: may only read issues)",
        f"unleash: {serving.unleash.url}  instance ID {serving.unleash.instance_id}"
        "  (app name = environment)",
        f"try:     GITLAB_URL={serving.url} GITLAB_TOKEN={tokens['developer']} gl-rollout ...",
    ]
    if serving.control:
        lines.append(f"control: {serving.url}/-/sandbox/ (faults, rate limit, request log)")
        secret = serving.control_secret
        lines.append(f"         each control request needs the header Sandbox-Secret: {secret}")
    lines.append("Press Ctrl-C to stop.")
    for line in lines:
        printer.line(line)
