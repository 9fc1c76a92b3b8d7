"""Commands `sync` (one issue, or every rollout issue of a project or group) and `report`.

The use cases live in `gl_rollout.sync`, `gl_rollout.sync_many` and `gl_rollout.report`; they,
python-gitlab and rich are imported only when a command runs, so `gl-rollout --help` stays fast.
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
from gl_rollout.errors import UsageError
from gl_rollout.output import Printer, Result

if TYPE_CHECKING:
    from gl_rollout.sync_many import ProgressCallback

SYNC_HELP = """Make rollout checklists tell the truth, from evidence.

Evidence: gl-rollout's own comments (announce, enable, disable), GitLab's "marked the checklist item"
notes, and with --features-url the flag's gates on that instance (an admin token in GITLAB_ADMIN_TOKEN
or the variable --target-token-env names): fully on proves enable-production (or enable-staging with
--features-env staging). A step proven done is ticked; a ticked step without evidence is reported as
unverified and left alone, or set back to todo with --strict (so are ticked steps the latest evidence
contradicts). The scoped label rollout::<stage> is set with add_labels/remove_labels only.

With REF: that issue. Without: every open issue of --project (default CI_PROJECT_PATH) or --group
carrying --label, 8 requests at a time at most. Exit 0 when every issue synced; otherwise 3 if any
issue failed with a GitLab error, else 4 if any hit a conflicting edit (1 for an unexpected error).
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
        str | None, typer.Option("--features-url", help="GitLab whose Features API shows the flag's gates.")
    ] = None,
    features_env: Annotated[
        str, typer.Option("--features-env", help="What --features-url is: production or staging.")
    ] = "production",
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
        from gl_rollout.config import ADMIN_TOKEN_ENV, open_client
        from gl_rollout.scope import Scope
        from gl_rollout.sync import SyncOptions, read_features, sync_one
        from gl_rollout.sync_many import sync_many

        if features_env not in ("production", "staging"):
            raise UsageError(f"--features-env must be production or staging, not {features_env!r}")
        if ref is not None and (group is not None or state_file is not None):
            raise UsageError(
                "REF syncs one issue: --group and --state are for syncing many", "drop one of them"
            )
        if group is not None and project is not None:
            raise UsageError("give --project or --group, not both")
        with open_client(
            app_state,
            need_write=not dry_run,
            project=project,
            ref=ref,
            requests_per_minute=float(max_rpm) if max_rpm else None,
        ) as client:
            features = None
            if features_url is not None:
                admin = client.admin_api(features_url, token_env=target_token_env or ADMIN_TOKEN_ENV)
                features = read_features(
                    admin, "production" if features_env == "production" else "staging", admin.url
                )
            options = SyncOptions(dry_run=dry_run, strict=strict, features=features)
            if ref is not None:
                return sync_one(client.api, client.issue.project, client.issue.iid, options)
            scope = Scope(project=None if group else client.project, group=group, label=label or None)
            with progress_bar(app_state.printer(), app_state.env) as progress:
                return sync_many(
                    client.api,
                    scope,
                    options,
                    state_path=state_file,
                    concurrency=concurrency,
                    progress=progress,
                )

    run_command(ctx, "sync", use_case, render_sync)


@contextmanager
def progress_bar(printer: Printer, env: Mapping[str, str]) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr when it is a terminal; nothing in pipes and CI logs.

    Uncoloured when NO_COLOR is set; it disappears once the sync ends (the summary stays).
    """
    isatty = getattr(printer.err, "isatty", None)
    if not (isatty and isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("syncing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=printer.err, no_color=bool(env.get("NO_COLOR")), force_terminal=True),
        transient=True,
    ) as bar:
        task = bar.add_task("sync", total=None)

        def update(finished: int, listed: int, complete: bool) -> None:
            bar.update(task, completed=finished, total=listed if complete else None)

        yield update


def _steps_line(label: str, steps: list[str]) -> str | None:
    return f"{label}: {', '.join(steps)}" if steps else None


def render_sync(result: Result, printer: Printer) -> None:
    """Human output: one issue in detail, or a summary table of many."""
    data = result.data
    if "issues" in data:
        _render_many(data, printer)
        return
    _render_one(data, printer)


def _render_one(data: dict[str, Any], printer: Printer) -> None:
    dry = data.get("dry_run")
    printer.line(f"{data['reference']}  {data['title']}")
    stage, previous = data.get("stage"), data.get("previous_stage")
    moved = f"{previous or '(no label)'} -> {stage}" if previous != stage else str(stage)
    printer.line(f"stage: {moved}")
    if data.get("diff"):
        printer.line(data["diff"].rstrip("\n"))
    verb = "would tick" if dry else "ticked"
    evidence = {s["id"]: s.get("evidence") for s in data.get("steps", [])}
    for step in data.get("ticked", []):
        proof = evidence.get(step) or {}
        who = f" by {proof['by']}" if proof.get("by") else ""
        printer.line(f"{verb} {step}: {proof.get('detail', '')}{who} ({proof.get('at', '')})")
    for line in (
        _steps_line("would set back to todo" if dry else "set back to todo", data.get("unticked", [])),
        _steps_line("unverified (ticked, no evidence)", data.get("unverified", [])),
        _steps_line("contradicted (ticked, evidence says undone)", data.get("contradicted", [])),
    ):
        if line:
            printer.line(line)
    labels = [f"+{x}" for x in data.get("labels_added", [])] + [
        f"-{x}" for x in data.get("labels_removed", [])
    ]
    if labels:
        printer.line(f"{'would set' if dry else 'labels'}: {' '.join(labels)}")
    printer.line(f"{data['done']} of {data['total']} checklist items completed")
    if data.get("status") == "unchanged":
        printer.line("nothing to do: the checklist and the stage label match the evidence")


def _render_many(data: dict[str, Any], printer: Printer) -> None:
    dry = data.get("dry_run")
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
                issue["status"],
            ]
        )
    if rows:
        printer.table(["issue", "flag", "stage", "done", "changes", "status"], rows)
    counts = data.get("counts", {})
    parts = [f"{n} {status}" for status, n in sorted(counts.items()) if status != "not-a-rollout"]
    unverified = sum(1 for i in issues if i.get("unverified"))
    count = data["rollouts"]
    summary = f"{count} rollout issue{'' if count == 1 else 's'}: {', '.join(parts) or 'none'}"
    if unverified:
        summary += f"; {unverified} with unverified steps (see --json)"
    if dry:
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
        from gl_rollout.config import open_client
        from gl_rollout.report import report
        from gl_rollout.report_formats import report_format
        from gl_rollout.scope import Scope

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
