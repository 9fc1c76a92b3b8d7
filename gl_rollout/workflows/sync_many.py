"""Use case `sync --project P | --group G`: `sync_issue` over every open rollout issue of a scope.

Issues are listed 100 per page and read and updated by at most 8 threads, the listing included
(`gl_rollout.workflows.pool`). One failing issue is recorded and the others go on; the exit status says the
worst failure (1 unexpected, else 3 GitLab, else 4 conflict). A state file remembers each issue's
`updated_at` and a digest of its description, labels and state (what the list rows carry, so an edit
within the same whole second still shows), so a repeat sync reads again only issues that changed since.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gl_rollout.core.gates import gates_fingerprint
from gl_rollout.core.model import Issue
from gl_rollout.core.scope import Scope
from gl_rollout.core.times import utc_iso
from gl_rollout.errors import ExitCode, RolloutError, UsageError
from gl_rollout.files import check_target, write_atomic
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.pool import MAX_CONCURRENCY, run_bounded
from gl_rollout.workflows.sync import (
    FeaturesSnapshot,
    IssueOutcome,
    IssueStatus,
    SyncOptions,
    issue_fingerprint,
    sync_issue,
)

STATE_VERSION = 1

ProgressCallback = Callable[[int, int, bool], None]  # (finished, listed so far, listing complete)


@dataclass
class SyncState:
    """What the last sync saw of each issue: `updated_at` and a fingerprint after its writes, the stage,
    the gates."""

    key: str
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def key_for(scope: Scope, options: SyncOptions) -> str:
        """What the remembered outcomes depend on; a state written for another key is not used."""
        features = f"{options.features.env}@{options.features.url}" if options.features else "-"
        return json.dumps([scope.project, scope.group, scope.label, options.strict, features])

    @classmethod
    def load(cls, path: Path, key: str) -> SyncState:
        """The state at `path`; an absent or empty file, or one written for another scope or options
        (or by another version), is empty. A file that is not a state file is refused (`check_state_file`)."""
        payload = check_state_file(path)
        if payload is None or payload.get("version") != STATE_VERSION or payload.get("key") != key:
            return cls(key)
        issues = payload.get("issues")
        return cls(key, dict(issues) if isinstance(issues, dict) else {})

    def unchanged(self, issue: Issue, features: FeaturesSnapshot | None) -> dict[str, Any] | None:
        """The remembered entry when neither the issue nor (with a Features API) its flag's gates moved."""
        entry = self.issues.get(issue.reference)
        if not isinstance(entry, dict) or entry.get("updated_at") != issue.updated_at:
            return None
        if entry.get("fingerprint") != issue_fingerprint(issue):
            # edited within the second of the last sync: `updated_at` alone cannot show it
            return None
        if str(entry.get("features") or "").startswith("project:"):
            # A project flag changed in GitLab's UI moves neither the issue nor the flag's `updated_at`
            # (strategies are rows of their own): only reading it again can tell.
            return None
        if features is not None:
            flag = entry.get("flag")
            reading = features.reading(flag if isinstance(flag, str) else None)
            now = gates_fingerprint(reading.feature) if reading is not None else None
            if now != entry.get("features"):
                return None
        return entry

    def save(self, path: Path, outcomes: list[IssueOutcome]) -> None:
        """Remember every issue listed this time (failed ones are left out, so they are read again)."""
        issues: dict[str, dict[str, Any]] = {}
        for outcome in outcomes:
            if outcome.failed:
                continue
            if outcome.status == "unchanged-since-last-sync":
                issues[outcome.reference] = self.issues[outcome.reference]
                continue
            issues[outcome.reference] = {
                "updated_at": outcome.updated_at,
                "fingerprint": outcome.fingerprint,
                "flag": outcome.flag,
                "stage": outcome.stage,
                "done": outcome.done,
                "total": outcome.total,
                "features": outcome.features,
                "rollout": outcome.status != "not-a-rollout",
            }
        payload = {"version": STATE_VERSION, "key": self.key, "synced_at": utc_iso(), "issues": issues}
        write_atomic(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def check_state_file(path: Path) -> dict[str, Any] | None:
    """Refuse a `--state` path gl-rollout could not write, or a file it did not write, before any request:
    a symlink out of its folder, a directory, a missing folder (`files.check_target`), or a file that is
    not a sync state (it would be overwritten). Returns the state's JSON, None for an absent or empty file.
    """
    check_target(path)
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot read the sync state {path} ({exc.strerror})", "check its permissions"
        ) from None
    except UnicodeDecodeError:
        text = "\0"  # not text at all: refused below like any other file that is not a state file
    if not text.strip():
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "version" not in payload or "issues" not in payload:
        raise UsageError(
            f"{path} is not a gl-rollout sync state file",
            "choose another --state path; gl-rollout creates that file itself",
        )
    return payload


def _remembered(issue: Issue, entry: Mapping[str, Any]) -> IssueOutcome:
    """The outcome the state file remembers for an issue that has not changed since."""

    def text(key: str) -> str | None:
        value = entry.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int:
        value = entry.get(key)
        return value if isinstance(value, int) else 0

    status: IssueStatus = "unchanged-since-last-sync" if entry.get("rollout", True) else "not-a-rollout"
    return replace(
        IssueOutcome.of(issue, status),
        flag=text("flag"),
        stage=text("stage"),
        done=number("done"),
        total=number("total"),
        features=text("features"),
    )


def _failed(issue: Issue, exc: BaseException) -> IssueOutcome:
    if isinstance(exc, RolloutError):
        message, code = exc.one_line(), int(exc.exit_code)
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        message, code = f"unexpected error: {type(exc).__name__}: {first}"[:300], int(ExitCode.UNEXPECTED)
    return replace(IssueOutcome.of(issue, "failed"), error=message, exit_code=code)


def worst_exit_code(codes: list[int]) -> ExitCode:
    """The exit status of a run with failures: 1 (a bug) over 3 (GitLab) over 4 (conflict) over the rest."""
    for code in (ExitCode.UNEXPECTED, ExitCode.GITLAB, ExitCode.CONFLICT):
        if int(code) in codes:
            return code
    nonzero = [c for c in codes if c]
    return ExitCode(max(nonzero)) if nonzero else ExitCode.OK


def sync_many(
    api: GitLabAPI,
    scope: Scope,
    options: SyncOptions,
    *,
    state_path: Path | None = None,
    concurrency: int = MAX_CONCURRENCY,
    progress: ProgressCallback | None = None,
) -> Result[SyncManyOutcome]:
    """`gl-rollout sync --project P | --group G`: every open rollout issue, at most 8 requests at a time."""
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}", f"got {concurrency}")
    options = replace(options, detail=False)
    state = SyncState.load(state_path, SyncState.key_for(scope, options)) if state_path else None
    outcomes: dict[int, IssueOutcome] = {}
    listed_count = 0

    def work(issue: Issue) -> IssueOutcome:
        if state is not None:
            entry = state.unchanged(issue, options.features)
            if entry is not None:
                return _remembered(issue, entry)
        try:
            return sync_issue(api, issue, options)
        except Exception as exc:  # one issue's failure must not stop the others
            return _failed(issue, exc)

    def done(index: int, outcome: IssueOutcome) -> None:
        outcomes[index] = outcome
        if progress is not None:
            progress(len(outcomes), listed_count, False)

    def listed(count: int) -> None:
        nonlocal listed_count
        listed_count = count

    listing_error: RolloutError | None = None
    try:
        total = run_bounded(
            api.list_issues(scope.query()), work, concurrency=concurrency, on_done=done, on_listed=listed
        )
    except RolloutError as exc:
        listing_error = exc
        total = listed_count
    if progress is not None:
        progress(len(outcomes), total, True)

    ordered = [outcomes[i] for i in sorted(outcomes)]
    if state is not None and state_path is not None and listing_error is None and not options.dry_run:
        state.save(state_path, ordered)
    return _many_result(scope, options, ordered, listing_error, state_path)


@dataclass(frozen=True)
class SyncManyOutcome:
    """`sync --project/--group`: how it ran, how many issues were listed and are rollouts, the count of
    each status, and each rollout's outcome in summary."""

    scope: Scope
    dry_run: bool
    strict: bool
    state_file: str | None
    features: FeaturesSnapshot | None
    listed: int
    rollouts: int
    counts: Mapping[str, int]
    issues: tuple[IssueOutcome, ...]


def _many_result(
    scope: Scope,
    options: SyncOptions,
    outcomes: list[IssueOutcome],
    listing_error: RolloutError | None,
    state_path: Path | None,
) -> Result[SyncManyOutcome]:
    rollouts = [o for o in outcomes if o.status != "not-a-rollout"]
    outcome = SyncManyOutcome(
        scope=scope,
        dry_run=options.dry_run,
        strict=options.strict,
        state_file=str(state_path) if state_path else None,
        features=options.features,
        listed=len(outcomes),
        rollouts=len(rollouts),
        counts=dict(Counter(o.status for o in outcomes)),
        issues=tuple(replace(o, detail=False) for o in rollouts),
    )
    if listing_error is not None:
        return Result.failure("sync", listing_error, outcome)
    failed = [o for o in outcomes if o.failed]
    if failed:
        error = RolloutError(
            f"{len(failed)} of {len(rollouts)} rollout issues could not be synced",
            "each failed issue is listed with its error; the others were synced",
        )
        result = Result.failure("sync", error, outcome)
        result.exit_code = worst_exit_code([o.exit_code for o in failed])
        result.debug = [f"{o.reference}: {line}" for o in outcomes for line in o.debug]
        return result
    return Result("sync", outcome, debug=[f"{o.reference}: {line}" for o in outcomes for line in o.debug])
