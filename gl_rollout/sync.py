"""Use cases `sync` (one issue) and `sync --project|--group` (every open rollout issue): make the
checklist and the `rollout::` stage label tell what the evidence shows.

Per issue: the notes are read (one request per 100 notes), the evidence judged (`gl_rollout.evidence`),
steps proven done are ticked through the shared read-edit-write-verify core (`gl_rollout.issue_edit`,
as `check` does), and the stage label is set with `add_labels`/`remove_labels` only. An issue whose
checklist and label are already right costs no write. Ticked steps without evidence are reported as
`unverified` and left alone; with `strict`, they (and ticked steps the latest evidence contradicts)
are set back to todo.

Many issues: listed 100 per page, read and updated by a pool of at most 8 threads. The listing holds a
slot of the same semaphore while it fetches a page, so no more than `concurrency` requests are ever in
flight. One failing issue is recorded and the others go on; the exit status says the worst failure
(1 unexpected, else 3 GitLab, else 4 conflict). A state file remembers each issue's `updated_at`,
so a repeat sync reads again only issues that changed since.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from gl_rollout.api import Feature, GitLabAPI, Issue, IssueQuery, Note
from gl_rollout.checklist import Checklist, parse_checklist
from gl_rollout.errors import ExitCode, RolloutError, UsageError
from gl_rollout.evidence import (
    FeatureReading,
    FeaturesEnv,
    StepVerdict,
    build_timeline,
    collect_evidence,
    flag_of_issue,
    gates_fingerprint,
    judge_steps,
    label_changes,
    now_iso,
    production_partial,
    rollout_stage,
    stage_from_labels,
)
from gl_rollout.files import write_atomic
from gl_rollout.issue_edit import fresh_if_stale, plan_step_edit, write_description
from gl_rollout.output import Result
from gl_rollout.steps import STEP_IDS

MAX_CONCURRENCY = 8
DEFAULT_LABEL = "feature flag"
STATE_VERSION = 1

IssueStatus = Literal[
    "updated", "would-update", "unchanged", "not-changed-since-last-sync", "not-a-rollout", "failed"
]


@dataclass(frozen=True)
class FeaturesSnapshot:
    """All flags of one instance's Features API, read once per sync (one request)."""

    env: FeaturesEnv
    url: str
    observed_at: str
    by_name: Mapping[str, Feature]

    def reading(self, flag: str | None) -> FeatureReading | None:
        if flag is None:
            return None
        return FeatureReading(self.env, self.by_name.get(flag), self.observed_at, self.url)


def read_features(admin_api: GitLabAPI, env: FeaturesEnv, url: str) -> FeaturesSnapshot:
    """One `GET /features` on the instance the flag's gates are read from."""
    features = admin_api.list_features()
    return FeaturesSnapshot(env, url, now_iso(), {feature.name: feature for feature in features})


@dataclass(frozen=True)
class SyncOptions:
    dry_run: bool = False
    strict: bool = False
    features: FeaturesSnapshot | None = None
    detail: bool = True  # keep each issue's step verdicts and timeline (one issue); many keep a summary


@dataclass(frozen=True)
class IssueOutcome:
    """What sync found and did for one issue; one entry of the JSON envelope."""

    reference: str
    web_url: str
    title: str
    status: IssueStatus
    flag: str | None = None
    stage: str | None = None
    previous_stage: str | None = None
    done: int = 0
    total: int = 0
    ticked: tuple[str, ...] = ()
    unticked: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    contradicted: tuple[str, ...] = ()
    labels_added: tuple[str, ...] = ()
    labels_removed: tuple[str, ...] = ()
    updated_at: str = ""
    features: str | None = None  # gates fingerprint, for the state file
    diff: str | None = None
    warnings: tuple[str, ...] = ()
    steps: tuple[StepVerdict, ...] = ()
    timeline: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    exit_code: int = 0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self, *, detail: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": self.reference,
            "web_url": self.web_url,
            "title": self.title,
            "status": self.status,
            "flag": self.flag,
            "stage": self.stage,
            "previous_stage": self.previous_stage,
            "done": self.done,
            "total": self.total,
            "ticked": list(self.ticked),
            "unticked": list(self.unticked),
            "unverified": list(self.unverified),
            "contradicted": list(self.contradicted),
            "labels_added": list(self.labels_added),
            "labels_removed": list(self.labels_removed),
            "error": self.error,
            "exit_code": self.exit_code,
        }
        if self.diff is not None:
            data["diff"] = self.diff
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if detail:
            data["steps"] = [verdict.to_dict() for verdict in self.steps]
            data["timeline"] = list(self.timeline)
        return data


def project_of(issue: Issue) -> str:
    """The project path of an issue (from `references.full`), else its numeric project ID."""
    if "#" in issue.reference:
        path = issue.reference.rsplit("#", 1)[0]
        if path:
            return path
    return str(issue.project_id)


def is_rollout(checklist: Checklist) -> bool:
    """A rollout issue has at least one step of the catalogue (by marker or by text)."""
    known = set(STEP_IDS)
    return any(step.id in known for step in checklist.steps)


# --- one issue -------------------------------------------------------------------------------


def sync_issue(api: GitLabAPI, issue: Issue, options: SyncOptions) -> IssueOutcome:
    """Judge one issue's evidence and make its checklist and stage label say so (or, dry, say what)."""
    project = project_of(issue)
    checklist = parse_checklist(issue.description)
    base = IssueOutcome(
        reference=issue.reference,
        web_url=issue.web_url,
        title=issue.title,
        status="not-a-rollout",
        updated_at=issue.updated_at,
        previous_stage=stage_from_labels(issue.labels),
    )
    if not is_rollout(checklist):
        return base

    notes = api.list_notes(project, issue.iid)
    flag, reading, verdicts, tick, untick = _judge(issue, checklist, notes, options)
    if tick or untick:
        # A description edit may have landed after the issue was read: look again before writing.
        fresh = fresh_if_stale(api, project, issue, notes)
        if fresh.description != issue.description:
            # Notes read after the fresh issue, so the write's race check knows that edit is not ours.
            notes = api.list_notes(project, issue.iid)
            checklist = parse_checklist(fresh.description)
            flag, reading, verdicts, tick, untick = _judge(fresh, checklist, notes, options)
        issue = fresh

    diff: str | None = None
    current = issue
    new_checklist = checklist
    warnings: tuple[str, ...] = ()
    if tick or untick:
        current, new_text, diff, warnings = write_step_states(
            api, project, issue, notes, tick=tick, untick=untick, dry_run=options.dry_run
        )
        new_checklist = parse_checklist(new_text)

    partial = production_partial(notes, flag=flag, reading=reading)
    stage = rollout_stage(new_checklist, closed=issue.state == "closed", partial=partial)
    add, remove = label_changes(current.labels, stage)
    if (add or remove) and not options.dry_run:
        current = api.update_issue(project, issue.iid, label_fields(add, remove))

    changed = bool(tick or untick or add or remove)
    status: IssueStatus = "unchanged"
    if changed:
        status = "would-update" if options.dry_run else "updated"
    timeline: tuple[dict[str, Any], ...] = ()
    if options.detail:
        events = build_timeline(issue, notes, flag=flag, reading=reading, checklist=checklist)
        timeline = tuple(event.to_dict() for event in events)
    return replace(
        base,
        status=status,
        flag=flag,
        stage=stage,
        done=new_checklist.done,
        total=new_checklist.total,
        ticked=tuple(tick),
        unticked=tuple(untick),
        unverified=tuple(v.step.id for v in verdicts if v.verdict == "unverified"),
        contradicted=tuple(v.step.id for v in verdicts if v.verdict == "contradicted"),
        labels_added=tuple(add),
        labels_removed=tuple(remove),
        updated_at=current.updated_at,
        features=gates_fingerprint(reading.feature) if reading is not None else None,
        diff=diff,
        warnings=warnings,
        steps=tuple(verdicts) if options.detail else (),
        timeline=timeline,
    )


def _judge(
    issue: Issue, checklist: Checklist, notes: list[Note], options: SyncOptions
) -> tuple[str | None, FeatureReading | None, list[StepVerdict], list[str], list[str]]:
    """The flag, its Features API reading, each step's verdict, and the steps to tick and untick."""
    flag = flag_of_issue(issue, notes)
    reading = options.features.reading(flag) if options.features else None
    evidence = collect_evidence(checklist, notes, flag=flag, reading=reading)
    verdicts = judge_steps(checklist, evidence)
    tick = [v.step.id for v in verdicts if v.action == "tick"]
    untick = [v.step.id for v in verdicts if v.action == "untick-if-strict"] if options.strict else []
    return flag, reading, verdicts, tick, untick


def label_fields(add: list[str], remove: list[str]) -> dict[str, str]:
    """The PUT body for a stage change: only `add_labels`/`remove_labels`, so no other label is rewritten."""
    fields = {}
    if add:
        fields["add_labels"] = ",".join(add)
    if remove:
        fields["remove_labels"] = ",".join(remove)
    return fields


def write_step_states(
    api: GitLabAPI,
    project: str,
    issue: Issue,
    notes: list[Note],
    *,
    tick: list[str],
    untick: list[str],
    dry_run: bool,
) -> tuple[Issue, str, str | None, tuple[str, ...]]:
    """Tick and untick steps by ID with the shared edit core, as `check` does: one PUT of the
    description and one read of the newest notes to catch an edit that raced ours (ConflictError).

    `notes` were read after `issue`, so they are the baseline the race check compares against.
    Returns the issue as GitLab now has it, the new text, the diff (dry run only) and warnings.
    """
    edit = plan_step_edit(issue, [(tick, "done"), (untick, "todo")])
    if not edit.needed:
        return issue, issue.description, None, ()
    if dry_run:
        return issue, edit.new_text, edit.diff(), ()
    written = write_description(api, project, edit, baseline=notes)
    return written.issue, written.issue.description, None, written.warnings


def sync_one(api: GitLabAPI, project: str, iid: int, options: SyncOptions) -> Result:
    """`gl-rollout sync REF`: one read of the issue, its notes, and the writes the evidence calls for."""
    issue = api.get_issue(project, iid)
    outcome = sync_issue(api, issue, options)
    if outcome.status == "not-a-rollout":
        raise UsageError(
            f"{issue.reference} has no rollout checklist",
            "sync works on issues with rollout steps (see `gl-rollout render`)",
        )
    data = outcome.to_dict(detail=True)
    data["dry_run"] = options.dry_run
    data["strict"] = options.strict
    return Result(command="sync", data=data)


# --- many issues -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which issues `sync` and `report` cover: one project or one group, and a label."""

    project: str | None = None
    group: str | None = None
    label: str | None = DEFAULT_LABEL

    def __post_init__(self) -> None:
        if (self.project is None) == (self.group is None):
            raise UsageError("give exactly one of --project and --group", "for example --group my-group")

    @property
    def name(self) -> str:
        where = f"project {self.project}" if self.project else f"group {self.group}"
        return f"{where}, label {self.label}" if self.label else where

    def query(self) -> IssueQuery:
        return IssueQuery(
            project=self.project,
            group=self.group,
            state="opened",
            labels=(self.label,) if self.label else (),
            per_page=100,
        )


@dataclass
class SyncState:
    """What the last sync saw of each issue: `updated_at` after its writes, the stage, the gates."""

    key: str
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)

    @staticmethod
    def key_for(scope: Scope, options: SyncOptions) -> str:
        features = f"{options.features.env}@{options.features.url}" if options.features else "-"
        return json.dumps([scope.project, scope.group, scope.label, options.strict, features])

    @classmethod
    def load(cls, path: Path, key: str) -> SyncState:
        """The state at `path`; an absent file, or one written for another scope or options, is empty."""
        if not path.exists():
            return cls(key)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read the sync state {path}: {exc}", "delete it; the next sync reads every issue"
            ) from None
        if (
            not isinstance(payload, dict)
            or payload.get("version") != STATE_VERSION
            or payload.get("key") != key
        ):
            return cls(key)
        issues = payload.get("issues")
        return cls(key, dict(issues) if isinstance(issues, dict) else {})

    def unchanged(self, issue: Issue, features: FeaturesSnapshot | None) -> dict[str, Any] | None:
        """The remembered entry when neither the issue nor (with a Features API) its flag's gates moved."""
        entry = self.issues.get(issue.reference)
        if not isinstance(entry, dict) or entry.get("updated_at") != issue.updated_at:
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
            if outcome.status == "not-changed-since-last-sync":
                issues[outcome.reference] = self.issues[outcome.reference]
                continue
            issues[outcome.reference] = {
                "updated_at": outcome.updated_at,
                "flag": outcome.flag,
                "stage": outcome.stage,
                "done": outcome.done,
                "total": outcome.total,
                "features": outcome.features,
                "rollout": outcome.status != "not-a-rollout",
            }
        payload = {"version": STATE_VERSION, "key": self.key, "synced_at": now_iso(), "issues": issues}
        write_atomic(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


ProgressCallback = Callable[[int, int, bool], None]  # (finished, listed so far, listing complete)

T = TypeVar("T")
R = TypeVar("R")


class _Feed(Generic[T]):
    """The listed items, handed to the workers; whichever worker finds fewer than `low_water` left
    fetches the next `page` of them itself (at most one list request), so the listing never needs a
    thread or a request slot of its own and no item waits on a hand-over between threads."""

    def __init__(self, items: Iterator[T], *, page: int, low_water: int) -> None:
        self._items = items
        self._page = page
        self._low_water = low_water
        self._buffer: deque[tuple[int, T]] = deque()
        self._cond = threading.Condition()
        self._filling = False
        self._exhausted = False
        self.listed = 0
        self.error: BaseException | None = None

    def take(self, on_listed: Callable[[int], None] | None) -> tuple[int, T] | None:
        """The next item and its position, or None when there are no more (or the listing failed)."""
        while True:
            with self._cond:
                done = self._exhausted or self.error is not None
                if self._buffer and (done or self._filling or len(self._buffer) > self._low_water):
                    return self._buffer.popleft()
                if done:
                    return None
                if self._filling:
                    self._cond.wait()
                    continue
                self._filling = True
            self._fill(on_listed)

    def _fill(self, on_listed: Callable[[int], None] | None) -> None:
        fetched: list[T] = []
        exhausted = False
        error: BaseException | None = None
        try:
            # The iterator holds at most one page: taking `page` items sends at most one request.
            for _ in range(self._page):
                fetched.append(next(self._items))
        except StopIteration:
            exhausted = True
        except BaseException as exc:  # handed to the caller of run_bounded once the workers stop
            error = exc
        with self._cond:
            for item in fetched:
                self._buffer.append((self.listed, item))
                self.listed += 1
            self._exhausted = self._exhausted or exhausted
            self.error = self.error or error
            self._filling = False
            listed = self.listed
            self._cond.notify_all()
        if on_listed is not None and fetched:
            on_listed(listed)


def run_bounded(
    items: Iterator[T],
    work: Callable[[T], R],
    *,
    concurrency: int,
    on_done: Callable[[int, R], None],
    on_listed: Callable[[int], None] | None = None,
    page: int = 100,
) -> int:
    """Run `work` on every item with at most `concurrency` requests in flight, listing included.

    `concurrency` threads each take the next item and work on it, one request at a time; the one
    that finds the buffer low fetches the next page first. Every request is therefore made by one
    of them. `on_done(position, result)` is called under a lock. Returns how many items were
    listed; an error raised by the iterator is re-raised once the items listed before it are done.
    """
    feed: _Feed[T] = _Feed(items, page=page, low_water=2 * concurrency)
    lock = threading.Lock()

    def worker() -> None:
        while (entry := feed.take(on_listed)) is not None:
            index, item = entry
            result = work(item)
            with lock:
                on_done(index, result)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gl-rollout") as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
    for future in futures:
        future.result()
    if feed.error is not None:
        raise feed.error
    return feed.listed


def worst_exit_code(codes: list[int]) -> ExitCode:
    """The exit status of a run with failures: 1 (a bug) over 3 (GitLab) over 4 (conflict) over the rest."""
    for code in (ExitCode.UNEXPECTED, ExitCode.GITLAB, ExitCode.CONFLICT):
        if int(code) in codes:
            return code
    nonzero = [c for c in codes if c]
    return ExitCode(max(nonzero)) if nonzero else ExitCode.OK


def _failed(issue: Issue, exc: BaseException) -> IssueOutcome:
    if isinstance(exc, RolloutError):
        message, code = exc.one_line(), int(exc.exit_code)
    else:
        first = str(exc).splitlines()[0] if str(exc) else ""
        message, code = f"unexpected error: {type(exc).__name__}: {first}"[:300], int(ExitCode.UNEXPECTED)
    return IssueOutcome(
        reference=issue.reference,
        web_url=issue.web_url,
        title=issue.title,
        status="failed",
        previous_stage=stage_from_labels(issue.labels),
        updated_at=issue.updated_at,
        error=message,
        exit_code=code,
    )


def sync_many(
    api: GitLabAPI,
    scope: Scope,
    options: SyncOptions,
    *,
    state_path: Path | None = None,
    concurrency: int = MAX_CONCURRENCY,
    progress: ProgressCallback | None = None,
) -> Result:
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


def _remembered(issue: Issue, entry: Mapping[str, Any]) -> IssueOutcome:
    def text(key: str) -> str | None:
        value = entry.get(key)
        return value if isinstance(value, str) else None

    def number(key: str) -> int:
        value = entry.get(key)
        return value if isinstance(value, int) else 0

    return IssueOutcome(
        reference=issue.reference,
        web_url=issue.web_url,
        title=issue.title,
        status="not-changed-since-last-sync" if entry.get("rollout", True) else "not-a-rollout",
        flag=text("flag"),
        stage=text("stage"),
        previous_stage=stage_from_labels(issue.labels),
        done=number("done"),
        total=number("total"),
        updated_at=issue.updated_at,
        features=text("features"),
    )


def _many_result(
    scope: Scope,
    options: SyncOptions,
    outcomes: list[IssueOutcome],
    listing_error: RolloutError | None,
    state_path: Path | None,
) -> Result:
    rollouts = [o for o in outcomes if o.status != "not-a-rollout"]
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    failed = [o for o in outcomes if o.failed]
    data: dict[str, Any] = {
        "scope": {"project": scope.project, "group": scope.group, "label": scope.label},
        "dry_run": options.dry_run,
        "strict": options.strict,
        "state_file": str(state_path) if state_path else None,
        "listed": len(outcomes),
        "rollouts": len(rollouts),
        "counts": counts,
        "issues": [o.to_dict(detail=False) for o in outcomes if o.status != "not-a-rollout"],
    }
    if listing_error is not None:
        return Result.failure("sync", listing_error, data=data)
    if failed:
        code = worst_exit_code([o.exit_code for o in failed])
        error = RolloutError(
            f"{len(failed)} of {len(rollouts)} rollout issues could not be synced",
            "each failed issue is listed with its error; the others were synced",
        )
        result = Result.failure("sync", error, data=data)
        result.exit_code = code
        return result
    return Result(command="sync", data=data)
