"""Commands `sync` (one issue, or every rollout issue of a project or group) and `report`.

The use cases live in `gl_rollout.workflows.sync`, `gl_rollout.workflows.sync_many` and
`gl_rollout.workflows.report`; they, python-gitlab and rich are imported only when a command runs, so
`gl-rollout --help` stays fast.
"""

# ruff: noqa: S107  GITLAB_ADMIN_TOKEN is the name of a variable, not a password

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli.app import app, run_command, state_of
from gl_rollout.cli.options import LabelOption, ProjectOption
from gl_rollout.cli.printer import Printer
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.workflows.sync_many import ProgressCallback

SYNC_HELP = """Make rollout checklists tell the truth, from evidence.

Evidence: gl-rollout's own comments (announce, enable, disable), GitLab's "marked the checklist item"
notes, and with --features-url the flag's gates on that instance (an admin token in GITLAB_ADMIN_TOKEN
or the variable --target-token-env names): fully on proves enable-production, or enable-staging with
--features-env staging; the output says which environment the gates were read as. A step proven done
is ticked; a ticked step without evidence is reported as unverified and left alone, or set back to
todo with --strict (so are ticked steps the latest evidence contradicts). The scoped label
rollout::<stage> is set with add_labels/remove_labels only.

With REF: that open issue (a closed one is refused). Without: every open issue of --project (default
CI_PROJECT_PATH) or --group carrying --label, 8 requests at a time at most. Exit 0 when every issue
synced; otherwise 3 if any issue failed with a GitLab error, else 4 if any hit a conflicting edit (1 for
an unexpected error).
"""

REPORT_HELP = """Write a report of every open rollout issue: flag, stage, N of M done, next step, last
activity, days since it moved (stale after --stale-days), link. The format follows the file name:
.md, .json, or .html (one self-contained page for GitLab Pages). Only reads: CI_JOB_TOKEN will do for
a project (without notes, "moved" falls back to the issue's last activity).
"""


@app.command("sync", help=SYNC_HELP)
def sync_command(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="[REF]", help="Issue URL, group/project#42, or 42 with --project.", show_default=False
        ),
    ] = None,
    project: ProjectOption = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Sync every rollout issue of this group.")
    ] = None,
    label: LabelOption = "feature flag",
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state", help="JSON file remembering the last sync; unchanged issues are not read again."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Set ticked steps without (or against) evidence back to todo.")
    ] = False,
    features_url: Annotated[
        str | None,
        typer.Option(
            "--features-url",
            help="GitLab whose Features API shows the flag's gates; https://, or http:// to localhost only "
            "unless --allow-http.",
        ),
    ] = None,
    features_env: Annotated[
        str | None,
        typer.Option(
            "--features-env",
            help="What --features-url is: production (the default) or staging.",
            show_default=False,
        ),
    ] = None,
    target_token_env: Annotated[
        str, typer.Option("--target-token-env", help="Variable holding the admin token for --features-url.")
    ] = "GITLAB_ADMIN_TOKEN",
    max_rpm: Annotated[
        int,
        typer.Option(
            "--max-requests-per-minute", help="Client-side pace (GitLab.com allows 2,000); 0 lifts it.", min=0
        ),
    ] = 2000,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", help="Requests in flight at most (1-8).", min=1, max=8),
    ] = 8,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result:
        from gl_rollout.cli.connection import ADMIN_TOKEN_ENV, open_client
        from gl_rollout.core.scope import Scope
        from gl_rollout.workflows.sync import SyncOptions, read_features, sync_one
        from gl_rollout.workflows.sync_many import check_state_file, sync_many

        if features_env not in (None, "production", "staging"):
            raise UsageError(f"--features-env must be production or staging, not {features_env!r}")
        if features_env is not None and features_url is None:
            raise UsageError("--features-env says what --features-url is", "give --features-url too")
        if ref is not None and (group is not None or state_file is not None):
            raise UsageError(
                "REF syncs one issue: --group and --state are for syncing many", "drop one of them"
            )
        if group is not None and project is not None:
            raise UsageError("give --project or --group, not both")
        if state_file is not None:
            check_state_file(state_file)  # before any request: a bad path must not cost the writes
        with open_client(
            app_state,
            need_write=not dry_run,
            project=project,
            ref=ref,
            requests_per_minute=float(max_rpm) if max_rpm else None,
        ) as client:
            features = None
            if features_url is not None:
                admin = client.admin_api(
                    features_url, token_env=target_token_env or ADMIN_TOKEN_ENV, source="--features-url"
                )
                features = read_features(
                    admin, "staging" if features_env == "staging" else "production", admin.url
                )
            options = SyncOptions(dry_run=dry_run, strict=strict, features=features)
            if ref is not None:
                result = sync_one(client.api, client.issue.project, client.issue.iid, options)
            else:
                scope = Scope(project=None if group else client.project, group=group, label=label or None)
                with progress_bar(app_state.printer(), app_state.env) as progress:
                    result = sync_many(
                        client.api,
                        scope,
                        options,
                        state_path=state_file,
                        concurrency=concurrency,
                        progress=progress,
                    )
            if features is not None:
                result.messages.insert(0, features_note(features.url, features.env, chosen=features_env))
            return result

    run_command(ctx, "sync", use_case, render_sync)


def features_note(url: str, env: str, *, chosen: str | None) -> str:
    """The line that says which environment the gates were read as; a default is named as one."""
    if chosen is not None:
        return f"gates read from {url} as {env} (--features-env {env})"
    return (
        f"gates read from {url} as {env}: fully on proves enable-{env} "
        "(the default; pass --features-env staging if that instance is staging)"
    )


@contextmanager
def progress_bar(printer: Printer, env: Mapping[str, str]) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr when it is a terminal; it disappears once the sync ends.

    None at all in pipes and CI logs, and none when NO_COLOR is set: a bar is drawn with cursor-control
    sequences, which a terminal asked for plain text should not get either.
    """
    isatty = getattr(printer.err, "isatty", None)
    if env.get("NO_COLOR") or not (isatty and isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("syncing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        # The injected environment, not os.environ, decides TERM and width, as for the rest of the CLI.
        console=Console(file=printer.err, force_terminal=True, _environ=dict(env)),
        transient=True,
    ) as bar:
        task = bar.add_task("sync", total=None)

        def update(finished: int, listed: int, complete: bool) -> None:
            bar.update(task, completed=finished, total=listed if complete else None)

        yield update


def render_sync(result: Result, printer: Printer) -> None:
    """Human output: one issue in detail, or a summary table of many; notes (the gates' source) first."""
    for message in result.messages:
        printer.line(message)
    data = result.data
    if "issues" in data:
        _render_many(data, printer)
        return
    _render_one(data, printer)


def _proof(evidence: Mapping[str, Any] | None) -> str:
    """`enabled on staging (true) by alice, 2026-03-04 10:00 UTC`: what proves a step, who, when."""
    from gl_rollout.core.times import human_time

    if not evidence:
        return "no evidence"
    who = f" by {evidence['by']}" if evidence.get("by") else ""
    return f"{evidence.get('detail', '')}{who}, {human_time(str(evidence.get('at', '')))}"


def _render_one(data: dict[str, Any], printer: Printer) -> None:
    from gl_rollout.workflows.issue_edit import change_line

    printer.line(f"{data['reference']}  {data['title']}")
    stage, previous = data.get("stage"), data.get("previous_stage")
    moved = f"{previous or '(no label)'} -> {stage}" if previous != stage else str(stage)
    printer.line(f"stage: {moved}")
    if data.get("diff"):
        printer.line(data["diff"].rstrip("\n"))
    steps = {s["id"]: s for s in data.get("steps", [])}

    def changed(step_id: str, before: str, after: str) -> str:
        return change_line(step_id, before, after, int(steps.get(step_id, {}).get("line", 0)))

    # The change line every command prints (`ID: todo -> done (line N)`), then why.
    for step_id in data.get("ticked", []):
        proof = _proof(steps.get(step_id, {}).get("evidence"))
        printer.line(f"{changed(step_id, 'todo', 'done')}: {proof}")
    unticked = data.get("unticked", [])
    for step_id in unticked:
        if steps.get(step_id, {}).get("verdict") == "contradicted":
            why = f"the latest evidence says undone: {_proof(steps[step_id].get('evidence'))}"
        else:
            why = "ticked without evidence"
        printer.line(f"{changed(step_id, 'done', 'todo')}: {why}")
    for label, ids in (
        ("unverified (ticked, no evidence; --strict sets them back to todo)", data.get("unverified", [])),
        ("contradicted (ticked, the latest evidence says undone)", data.get("contradicted", [])),
    ):
        left = [step_id for step_id in ids if step_id not in unticked]
        if left:
            printer.line(f"{label}: {', '.join(left)}")
    labels = [f"+{x}" for x in data.get("labels_added", [])] + [
        f"-{x}" for x in data.get("labels_removed", [])
    ]
    if labels:
        printer.line(f"labels: {' '.join(labels)}")
    for warning in data.get("warnings", []):
        printer.line(warning)
    printer.line(f"{data['done']} of {data['total']} checklist items completed")
    if data.get("status") == "unchanged":
        printer.line("nothing to do: the checklist and the stage label match the evidence")
    elif data.get("dry_run"):
        printer.line("dry run: nothing written")


def _render_many(data: dict[str, Any], printer: Printer) -> None:
    from gl_rollout.workflows.sync import STATUS_WORDS

    issues = data["issues"]
    shown = [i for i in issues if i["status"] in ("updated", "would-update", "failed")]
    rows = []
    for issue in shown:
        changes = [f"+{s}" for s in issue["ticked"]] + [f"-{s}" for s in issue["unticked"]]
        if issue["labels_added"]:
            changes.append(f"label {issue['labels_added'][0]}")
        rows.append(
            [
                issue["reference"],
                issue.get("flag") or "",
                issue.get("stage") or "",
                f"{issue['done']}/{issue['total']}",
                " ".join(changes) if issue["status"] != "failed" else (issue.get("error") or "failed"),
                STATUS_WORDS.get(issue["status"], issue["status"]),
            ]
        )
    if rows:
        printer.table(["issue", "flag", "stage", "done", "changes", "status"], rows)
    for issue in issues:
        for warning in issue.get("warnings", []):
            printer.line(f"{issue['reference']}: {warning}")
    counts = data.get("counts", {})
    parts = [
        f"{counts[status]} {words}"
        for status, words in STATUS_WORDS.items()
        if counts.get(status) and status != "not-a-rollout"
    ]
    unverified = sum(1 for i in issues if i.get("unverified"))
    count = data["rollouts"]
    summary = f"{count} rollout issue{'' if count == 1 else 's'}: {', '.join(parts) or 'none'}"
    if unverified:
        summary += f"; {unverified} with unverified steps (see --json)"
    others = counts.get("not-a-rollout", 0)
    if others:
        summary += f"; {others} other listed issue{'' if others == 1 else 's'} without rollout steps"
    if data.get("dry_run"):
        summary += " (dry run: nothing written)"
    printer.line(summary)


@app.command("report", help=REPORT_HELP)
def report_command(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="FILE.md, FILE.json or FILE.html to write.")],
    project: ProjectOption = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Report every rollout issue of this group.")
    ] = None,
    label: LabelOption = "feature flag",
    stale_days: Annotated[
        int,
        typer.Option("--stale-days", help="A rollout that has not moved for this many days is stale.", min=1),
    ] = 14,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.core.scope import Scope
        from gl_rollout.render.report_formats import report_format
        from gl_rollout.workflows.report import report

        if group is not None and project is not None:
            raise UsageError("give --project or --group, not both")
        report_format(output)
        with open_client(app_state, need_write=False, project=project) as client:
            scope = Scope(project=None if group else client.project, group=group, label=label or None)
            # GitLab lets CI_JOB_TOKEN list a project's issues but not read their notes.
            read_notes = client.connection.token_kind != "job"
            return report(client.api, scope, output, stale_days=stale_days, read_notes=read_notes)

    run_command(ctx, "report", use_case, render_report)


def render_report(result: Result, printer: Printer) -> None:
    for message in result.messages:
        printer.line(message)
    stages = result.data.get("stages", {})
    if stages:
        printer.line(", ".join(f"{stage}: {n}" for stage, n in stages.items()))
