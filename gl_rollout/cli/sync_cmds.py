"""Commands `sync` (one issue, or every rollout issue of a project or group) and `report`.

The use cases live in `gl_rollout.workflows.sync_run` (which sync, and the gates read first) and
`gl_rollout.workflows.report`; they, python-gitlab and rich are imported only when a command runs, so
`gl-rollout --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli import views
from gl_rollout.cli.app import run_command, state_of
from gl_rollout.cli.commands import help_of
from gl_rollout.cli.options import (
    ADMIN_TOKEN_ENV,
    DEFAULT_CHATOPS_LOG_PROJECT,
    ChatopsLogProjectOption,
    DryRunOption,
    LabelOption,
    OptionalRefArgument,
    ProjectOption,
    log_project,
)
from gl_rollout.errors import UsageError
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.cli.printer import Printer
    from gl_rollout.workflows.sync_many import ProgressCallback

app = typer.Typer()


def _complete_features_env(incomplete: str) -> list[str]:
    return ["production", "staging"]


@app.command("sync", help=help_of("sync"))
def sync_command(
    ctx: typer.Context,
    ref: OptionalRefArgument = None,
    project: ProjectOption = None,
    group: Annotated[
        str | None, typer.Option("--group", metavar="GROUP", help="Sync every rollout issue of this group.")
    ] = None,
    label: LabelOption = "feature flag",
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="FILE",
            help="JSON file remembering the last sync; unchanged issues are not read again.",
        ),
    ] = None,
    dry_run: DryRunOption = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Set ticked steps without (or against) evidence back to todo.")
    ] = False,
    features_url: Annotated[
        str | None,
        typer.Option(
            "--features-url",
            metavar="URL",
            help="GitLab whose Features API shows the flag's gates; https://, or http:// to localhost only "
            "unless --allow-http.",
        ),
    ] = None,
    features_env: Annotated[
        str | None,
        typer.Option(
            "--features-env",
            metavar="ENV",
            help="What --features-url is: production (the default) or staging.",
            show_default=False,
            autocompletion=_complete_features_env,
        ),
    ] = None,
    target_token_env: Annotated[
        str,
        typer.Option(
            "--target-token-env", metavar="VAR", help="Variable holding the admin token for --features-url."
        ),
    ] = ADMIN_TOKEN_ENV,
    max_rpm: Annotated[
        int,
        typer.Option(
            "--max-requests-per-minute",
            metavar="N",
            help="Client-side pace (GitLab.com allows 2,000); 0 lifts it.",
            min=0,
        ),
    ] = 2000,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", metavar="N", help="Requests in flight at most (1-8).", min=1, max=8),
    ] = 8,
    chatops_log_project: ChatopsLogProjectOption = DEFAULT_CHATOPS_LOG_PROJECT,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.workflows.sync_run import SyncRequest, check_sync_request, run_sync

        request = SyncRequest(
            project=project,
            group=group,
            label=label or None,
            state_file=state_file,
            dry_run=dry_run,
            strict=strict,
            features_url=features_url,
            features_env=features_env,
            concurrency=concurrency,
            chatops_log_project=log_project(chatops_log_project),
        )
        check_sync_request(request, ref_given=ref is not None)
        with open_client(
            app_state,
            need_write=not dry_run,
            project=project,
            ref=ref,
            requests_per_minute=float(max_rpm) if max_rpm else None,
        ) as client:

            def open_admin(url: str) -> Any:
                token_env = target_token_env or ADMIN_TOKEN_ENV
                return client.admin_api(url, token_env=token_env, source="--features-url")

            with progress_bar(app_state.printer(), app_state.env, many=ref is None) as progress:
                return run_sync(
                    client.api,
                    replace(request, ref=client.issue if ref is not None else None),
                    project=client.project_path,
                    open_admin=open_admin,
                    progress=progress,
                )

    run_command(ctx, "sync", use_case, views.synced)


@contextmanager
def progress_bar(
    printer: Printer, env: Mapping[str, str], *, many: bool = True
) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr while many issues sync, when stderr is a terminal; it disappears
    once the sync ends.

    None at all in pipes and CI logs, and none when NO_COLOR is set: a bar is drawn with cursor-control
    sequences, which a terminal asked for plain text should not get either.
    """
    isatty = getattr(printer.err, "isatty", None)
    if not many or env.get("NO_COLOR") or not (isatty and isatty()):
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


@app.command("report", help=help_of("report"))
def report_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write FILE.md, FILE.json or FILE.html instead of Markdown on standard output.",
        ),
    ] = None,
    project: ProjectOption = None,
    group: Annotated[
        str | None, typer.Option("--group", metavar="GROUP", help="Report every rollout issue of this group.")
    ] = None,
    label: LabelOption = "feature flag",
    stale_days: Annotated[
        int,
        typer.Option(
            "--stale-days",
            metavar="N",
            help="A rollout that has not moved for this many days is stale.",
            min=1,
        ),
    ] = 14,
) -> None:
    app_state = state_of(ctx)

    def use_case() -> Result[Any]:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.core.scope import Scope
        from gl_rollout.render.report_formats import report_format
        from gl_rollout.workflows.report import report

        if group is not None and project is not None:
            raise UsageError("give --project or --group, not both")
        if output is not None:
            report_format(output)
        with open_client(app_state, need_write=False, project=project) as client:
            scope = Scope(project=None if group else client.project, group=group, label=label or None)
            # GitLab lets CI_JOB_TOKEN list a project's issues but not read their notes.
            read_notes = client.connection.token_kind != "job"
            return report(
                client.api,
                scope,
                output,
                stale_days=stale_days,
                read_notes=read_notes,
                markdown=not app_state.json,
            )

    run_command(ctx, "report", use_case, views.reported)
