"""Use case `create`: the rollout issue, unless an open one exists for the flag; never two, whatever fails.

Requests: the duplicate lookup (one search) and the POST, 2 in the common case; an existing issue is
reported (1 request). With `--write-definition` the flag's definition YAML then points at the issue.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gl_rollout.core.model import Issue, IssueQuery
from gl_rollout.core.refs import parse_issue_ref
from gl_rollout.core.steps import STEP_MARKER
from gl_rollout.core.urls import same_host
from gl_rollout.errors import GitLabError, RolloutError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.definition import load_definition, write_rollout_issue_url
from gl_rollout.render.issue import RenderedIssue
from gl_rollout.result import ABSENT, FLATTEN, OMIT_NONE, Result
from gl_rollout.workflows.issue_edit import unified_diff
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience, create_issue_once
from gl_rollout.workflows.summary import EditPreview, IssueSummary, issue_url, written_but

# --- create ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateOptions:
    """What `create` adds to the rendered issue, and how it runs."""

    project: str
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    milestone: str | None = None
    due: str | None = None
    confidential: bool = False
    definition: Path | None = None
    write_definition: bool = False
    dry_run: bool = False
    # The definition's rollout_issue_url when the definition was not read from a file (`--from-mr`).
    definition_rollout_url: str | None = None
    patience: Patience = DEFAULT_PATIENCE  # how long to look for an issue whose creation's answer was lost


def check_due_date(value: str | None) -> str | None:
    """`--due` as GitLab takes it: YYYY-MM-DD."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise UsageError(f"--due {value!r} is not a date", "use YYYY-MM-DD, e.g. 2026-12-01") from None


def names_flag(issue: Issue, flag: str) -> bool:
    """The issue is about `flag`: its title shows it in backticks, or a ChatOps command in it sets it."""
    name = re.escape(flag)
    if re.search(rf"`{name}`", issue.title):
        return True
    return bool(re.search(rf"feature (?:set|get|delete)(?: --\S+)* {name}(?![a-z0-9_])", issue.description))


def is_rollout_issue_for(issue: Issue, flag: str, title: str) -> bool:
    """An open rollout issue of this flag: the exact title, or our step markers and the flag named."""
    if issue.title == title:
        return True
    return bool(STEP_MARKER.search(issue.description)) and names_flag(issue, flag)


def find_rollout_issues(api: GitLabAPI, project: str, flag: str, title: str) -> list[Issue]:
    """The open rollout issues of `flag` in `project`, oldest first: one search request (per 100 hits).

    GitLab's `search` is a fuzzy match, so the decision is made here on the exact title and markers.
    """
    query = IssueQuery(project=project, state="opened", search=flag, search_in="title,description")
    found = [issue for issue in api.list_issues(query) if is_rollout_issue_for(issue, flag, title)]
    return sorted(found, key=lambda issue: issue.iid)


def is_about_flag(issue: Issue, flag: str) -> bool:
    """The issue names `flag`: in its title, or in a description that holds our step markers.

    What a definition's `rollout_issue_url` must point at to count as the flag's rollout issue: a URL
    left over from the definition of another flag names another issue.
    """
    word = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(flag)}(?![A-Za-z0-9_])")
    if word.search(issue.title):
        return True
    return bool(STEP_MARKER.search(issue.description)) and bool(word.search(issue.description))


def _definition_issue(
    api: GitLabAPI, project: str, url: str | None, matches: Sequence[Issue], flag: str
) -> tuple[Issue | None, str | None]:
    """The definition's `rollout_issue_url` when it names an open issue about `flag` (a GET only if the
    search missed it).

    Returns (issue, remark). A URL on another GitLab cannot be checked with this token: remark only.
    """
    if not url:
        return None, None
    try:
        ref = parse_issue_ref(url).relative_to(api.url)
    except UsageError:
        return None, f"the definition's rollout_issue_url {url} is not an issue URL; ignored"
    if ref.host is not None and not same_host(ref.host, api.url):
        return None, f"the definition's rollout_issue_url is on {ref.host}, not {api.url}; not checked"
    for issue in matches:
        if issue.iid == ref.iid and _in_project(issue, ref.project):
            return issue, None
    try:
        issue = api.get_issue(ref.project, ref.iid)
    except GitLabError as exc:
        if exc.status == 404:
            return None, f"the definition's rollout_issue_url {url} was not found; a new issue is needed"
        raise
    if issue.state != "opened":
        return None, f"the definition's rollout issue {issue.reference} is {issue.state}"
    if not is_about_flag(issue, flag):
        return None, (
            f"note: the definition's rollout_issue_url {url} is not a rollout issue for {flag} "
            f"({issue.title!r} does not name it): ignored"
        )
    return issue, None


def _in_project(issue: Issue, project: str) -> bool:
    """The issue is in `project` (a path or an ID), by its reference, else its web URL in any form
    (`/-/issues/IID`, or `/-/work_items/IID` on newer GitLab)."""
    if project.isdigit():
        return issue.project_id == int(project)
    if issue.reference:
        return issue.reference.rsplit("#", 1)[0].lower() == project.lower()
    path = issue.web_url.rstrip("/").lower()
    return any(path.endswith(f"/{project.lower()}/-/{kind}/{issue.iid}") for kind in ("issues", "work_items"))


@dataclass(frozen=True)
class DefinitionWrite:
    """What `--write-definition` did to the YAML (`changed` None in a dry run that has no URL yet)."""

    path: str
    changed: bool | None
    written: bool


@dataclass(frozen=True)
class CreateOutcome:
    """The issue created, found, or (dry run) that would be created; what the definition got."""

    issue: IssueSummary = field(metadata=FLATTEN)
    flag: str
    dry_run: bool
    comments: tuple[str, ...] = ()
    created: bool = False
    diff: str = ""
    labels: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    would_create: Mapping[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    recovered: bool | None = field(default=None, metadata=OMIT_NONE)
    # None without --write-definition; ABSENT when a failure after the create left it unwritten.
    definition: DefinitionWrite | object | None = None
    # `--create-flag`: the project feature flag (`gl_rollout.workflows.project_flag_create.FlagCreation`).
    project_flag: object | None = field(default=None, metadata=OMIT_NONE)

    @property
    def preview(self) -> EditPreview:
        """What `--dry-run` shows: the issue's description as a diff, no comment."""
        return EditPreview(self.dry_run, self.diff, self.comments)


def create(api: GitLabAPI, rendered: RenderedIssue, options: CreateOptions) -> Result[CreateOutcome]:
    """Create the rollout issue unless an open one exists; never two, whatever fails."""
    due = check_due_date(options.due)
    definition_url = _definition_url(options.definition) or options.definition_rollout_url
    if options.write_definition and options.definition is not None:
        from gl_rollout.files import check_target

        check_target(Path(options.definition))  # refuse a bad target before anything is created
    flag, title = rendered.flag, rendered.title
    labels = list(dict.fromkeys([*rendered.labels, *options.labels]))
    messages = list(rendered.notes)

    matches = find_rollout_issues(api, options.project, flag, title)
    existing, remark = _definition_issue(api, options.project, definition_url, matches, flag)
    if remark:
        messages.append(remark)
    if existing is None and matches:
        existing = matches[0]
    if len(matches) > 1:
        others = ", ".join(issue.reference for issue in matches if issue is not existing)
        messages.append(f"more open rollout issues name {flag}: {others}")

    if existing is not None:
        messages.insert(0, f"an open rollout issue for {flag} exists: {existing.web_url}")
        definition = _maybe_write_definition(options, existing.web_url, messages)
        if not (definition is not None and definition.changed):
            messages.append("nothing to do")
        outcome = CreateOutcome(IssueSummary.of(existing), flag, options.dry_run, definition=definition)
        return Result("create", outcome, messages=messages)

    _check_plan_approvers(api, rendered.description)
    fields: dict[str, Any] = {"title": title, "description": rendered.description, "labels": labels}
    if due:
        fields["due_date"] = due
    if options.confidential:
        fields["confidential"] = True
    diff = unified_diff("", rendered.description, title)
    if options.dry_run:
        outcome = CreateOutcome(
            IssueSummary(None, None, None, title, None),
            flag,
            options.dry_run,
            diff=diff,
            labels=tuple(labels),
            would_create={**fields, "assignees": list(options.assignees), "milestone": options.milestone},
            definition=_maybe_write_definition(options, None, messages),
        )
        messages.insert(
            0, f"dry run: would create {title!r} in {options.project} with labels {', '.join(labels)}"
        )
        return Result("create", outcome, messages=messages)

    fields.update(_people_and_milestone(api, options))
    landed = create_issue_once(
        api,
        options.project,
        fields,
        lambda: next(iter(find_rollout_issues(api, options.project, flag, title)), None),
        patience=options.patience,
    )
    issue: Issue = landed.value
    url = issue_url(api, issue, options.project)
    created = CreateOutcome(
        replace(IssueSummary.of(issue), web_url=url),
        flag,
        options.dry_run,
        created=True,
        diff=diff,
        labels=tuple(issue.labels),
        recovered=landed.recovered,
    )
    messages.insert(0, f"created {issue.reference}: {url}")
    if landed.recovered:
        messages.insert(1, "GitLab's answer was lost, but the issue had landed: not created twice")
    try:
        definition = _maybe_write_definition(options, issue.web_url, messages)
    except RolloutError as exc:
        failed = replace(created, definition=ABSENT)
        return Result.failure("create", written_but(f"created {issue.reference} ({url})", exc), failed)
    return Result("create", replace(created, definition=definition), messages=messages)


def _definition_url(path: Path | None) -> str | None:
    if path is None:
        return None
    return load_definition(path).rollout_issue_url


def _maybe_write_definition(
    options: CreateOptions, url: str | None, messages: list[str]
) -> DefinitionWrite | None:
    """`--write-definition`: point the YAML's `rollout_issue_url` at the issue (atomic; idempotent)."""
    if not options.write_definition or options.definition is None:
        return None
    if url is None:
        messages.append(f"dry run: would write the new issue's URL into {options.definition}")
        return DefinitionWrite(str(options.definition), None, False)
    outcome = write_rollout_issue_url(options.definition, url, dry_run=options.dry_run)
    if not outcome.changed:
        messages.append(f"{options.definition} already names this issue")
    elif outcome.written:
        messages.append(f"wrote rollout_issue_url into {options.definition}")
    else:
        messages.append(f"dry run: would write rollout_issue_url into {options.definition}")
    return DefinitionWrite(str(options.definition), outcome.changed, outcome.written)


def _people_and_milestone(api: GitLabAPI, options: CreateOptions) -> dict[str, Any]:
    """`--assignee` and `--milestone` need IDs: one lookup per user and one for the milestone."""
    fields: dict[str, Any] = {}
    if options.assignees:
        wanted = [name.removeprefix("@") for name in options.assignees]
        found = api.find_user_ids(wanted)
        missing = [name for name in wanted if name not in found]
        if missing:
            raise UsageError(f"no GitLab user named {', '.join(missing)}", "check the --assignee usernames")
        fields["assignee_ids"] = [found[name] for name in wanted]
    if options.milestone:
        milestone_id = api.find_milestone_id(options.project, options.milestone)
        if milestone_id is None:
            raise UsageError(
                f"no milestone {options.milestone!r} in {options.project} or its groups",
                "milestone titles are exact and case-sensitive",
            )
        fields["milestone_id"] = milestone_id
    return fields


def _check_plan_approvers(api: GitLabAPI, description: str) -> None:
    """The plan's approvers must be GitLab users, checked before anything is created."""
    from gl_rollout.core.plan_text import read_plan
    from gl_rollout.workflows.ramp_guards import check_approvers

    plan = read_plan(description).plan
    if plan is not None:
        check_approvers(api, plan.steps, "check the --approver usernames")
