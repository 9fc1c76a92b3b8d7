"""Use case `sync` as the command takes it: one issue (`REF`) or every rollout issue of a scope, with the
flag's gates read first from a Features API when one is named.

The choice between `sync_one` and `sync_many`, the checks that must fail before any request, and the line
that says which environment the gates were read as, live here; the CLI only parses the options and hands
over the connections (`api`, and an opener of the Features API's admin connection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gl_rollout.core.chatops_commands import LOG_PROJECT
from gl_rollout.core.gates import FeaturesEnv
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.scope import Scope
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.sync import FeaturesSnapshot, SyncOneOutcome, SyncOptions, read_features, sync_one
from gl_rollout.workflows.sync_many import ProgressCallback, SyncManyOutcome, check_state_file, sync_many

# Opens the admin connection of the Features API at a URL (the source names it in errors).
AdminOpener = Callable[[str], GitLabAPI]


@dataclass(frozen=True)
class SyncRequest:
    """What `sync` was asked: one issue, or a project or group with a label; and how."""

    ref: IssueRef | None = None
    project: str | None = None  # --project (only without REF)
    group: str | None = None
    label: str | None = "feature flag"
    state_file: Path | None = None
    dry_run: bool = False
    strict: bool = False
    features_url: str | None = None
    features_env: str | None = None  # as given: None means the default, production
    concurrency: int = 8
    chatops_log_project: str | None = LOG_PROJECT  # None: ChatOps' log issues are not read


def check_sync_request(request: SyncRequest, *, ref_given: bool) -> None:
    """Refuse, before any request, what cannot be run: UsageError (exit 2)."""
    features_env = request.features_env
    if features_env not in (None, "production", "staging"):
        raise UsageError(f"--features-env must be production or staging, not {features_env!r}")
    if features_env is not None and request.features_url is None:
        raise UsageError("--features-env says what --features-url is", "give --features-url too")
    if ref_given and (request.group is not None or request.state_file is not None):
        raise UsageError("REF syncs one issue: --group and --state are for syncing many", "drop one of them")
    if request.group is not None and request.project is not None:
        raise UsageError("give --project or --group, not both")
    if request.state_file is not None:
        check_state_file(request.state_file)  # before any request: a bad path must not cost the writes


def features_note(url: str, env: str, *, chosen: str | None) -> str:
    """The line that says which environment the gates were read as; a default is named as one."""
    if chosen is not None:
        return f"gates read from {url} as {env} (--features-env {env})"
    return (
        f"gates read from {url} as {env}: fully on proves enable-{env} "
        "(the default; pass --features-env staging if that instance is staging)"
    )


def run_sync(
    api: GitLabAPI,
    request: SyncRequest,
    *,
    project: str | None,
    open_admin: AdminOpener,
    progress: ProgressCallback | None = None,
) -> Result[SyncOneOutcome] | Result[SyncManyOutcome]:
    """Read the gates when asked, then sync the one issue or every rollout issue of the scope.

    `project` is the project of a scope sync (`--project`, else `CI_PROJECT_PATH`), unused with a group.
    """
    features: FeaturesSnapshot | None = None
    if request.features_url is not None:
        admin = open_admin(request.features_url)
        env: FeaturesEnv = "staging" if request.features_env == "staging" else "production"
        features = read_features(admin, env, admin.url)
    options = SyncOptions(
        dry_run=request.dry_run,
        strict=request.strict,
        features=features,
        chatops_log_project=request.chatops_log_project,
    )
    result: Result[SyncOneOutcome] | Result[SyncManyOutcome]
    if request.ref is not None:
        result = sync_one(api, request.ref.project, request.ref.iid, options)
    else:
        if request.group is None and project is None:
            raise UsageError(
                "no project: pass --project or set CI_PROJECT_PATH", "for example --project group/project"
            )
        scope = Scope(project=None if request.group else project, group=request.group, label=request.label)
        result = sync_many(
            api,
            scope,
            options,
            state_path=request.state_file,
            concurrency=request.concurrency,
            progress=progress,
        )
    if features is not None:
        result.messages.insert(0, features_note(features.url, features.env, chosen=request.features_env))
    return result
