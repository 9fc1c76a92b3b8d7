"""Use cases over one GitLab: create the rollout issue, read its checklist, tick steps.

Each function takes a `GitLabAPI` and returns a `Result`; the CLI prints it. Request budgets (asserted
by the tests from the sandbox's request log): `status` 1 request, `check` 4 (1 when nothing changes, 5
when the issue changed while it was read, 3 more per repair of a tick its write undid), `create` 2 in
the common case (the duplicate lookup and the POST). The comment commands live in
`gl_rollout.workflows.announce` and `gl_rollout.workflows.enable`, the shared edit core in
`gl_rollout.workflows.issue_edit`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gl_rollout.core.checklist import Checklist, StepState, parse_checklist, progress_line, select_steps
from gl_rollout.core.evidence import build_timeline
from gl_rollout.core.model import Issue, IssueQuery
from gl_rollout.core.refs import IssueRef, parse_issue_ref
from gl_rollout.core.steps import STEP_MARKER
from gl_rollout.core.urls import same_host
from gl_rollout.errors import ConflictError, GitLabError, RolloutError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.definition import load_definition, write_rollout_issue_url
from gl_rollout.render.issue import RenderedIssue
from gl_rollout.render.option_values import check_url
from gl_rollout.result import Result
from gl_rollout.workflows.gate import gated
from gl_rollout.workflows.issue_edit import (
    DescriptionEdit,
    plan_step_edit,
    read_for_edit,
    require_open,
    unified_diff,
    write_description,
)
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience, create_issue_once

# --- shared pieces ------------------------------------------------------------------------------


def issue_summary(issue: Issue) -> dict[str, Any]:
    """The fields every command reports about the issue it worked on."""
    return {
        "iid": issue.iid,
        "web_url": issue.web_url,
        "reference": issue.reference,
        "title": issue.title,
        "state": issue.state,
    }


def checklist_data(issue: Issue, checklist: Checklist) -> dict[str, Any]:
    """`status --file`'s data plus the issue and GitLab's own count, for a cross-check."""
    data = issue_summary(issue)
    data.update(checklist.to_dict())
    data["progress"] = progress_line(checklist)
    data["task_completion_status"] = {"count": issue.task_count, "completed_count": issue.task_completed}
    return data


def gitlab_count_note(issue: Issue, checklist: Checklist) -> str | None:
    """A remark when GitLab counts the boxes differently (its regex and its rendering can disagree)."""
    if issue.task_count is None or issue.task_completed is None:
        return None
    if (issue.task_count, issue.task_completed) == (checklist.total, checklist.done):
        return None
    return (
        f"GitLab counts {issue.task_completed} of {issue.task_count}: its count and its rendering "
        "disagree on this description, and gl-rollout follows the rendering"
    )


def edit_data(edit: DescriptionEdit, *, dry_run: bool, comments: Sequence[str] = ()) -> dict[str, Any]:
    """`--dry-run` data shared by every command that writes: the diff and the comments."""
    return {"dry_run": dry_run, "diff": edit.diff(), "comments": list(comments)}


def conflict_result(command: str, error: ConflictError, data: dict[str, Any]) -> Result:
    """Exit 4 with what was written and whose edit it overwrote, in `data.conflict`."""
    return Result.failure(command, error, data={**data, "conflict": dict(error.details)})


# --- status ---------------------------------------------------------------------------------------


def status(api: GitLabAPI, ref: IssueRef, require: Sequence[str] = (), *, timeline: bool = False) -> Result:
    """One GET: the steps, the progress line and the next step; `require` gates on steps being done.

    `timeline` adds one GET of the notes: what happened when (`gl_rollout.core.evidence.build_timeline`).
    """
    issue = api.get_issue(ref.project, ref.iid)
    checklist = parse_checklist(issue.description)
    data = checklist_data(issue, checklist)
    messages: list[str] = []
    remark = gitlab_count_note(issue, checklist)
    if remark:
        messages.append(remark)
    if timeline:
        notes = api.list_notes(ref.project, ref.iid, sort="asc", per_page=100)
        data["timeline"] = [event.to_dict() for event in build_timeline(issue, notes, checklist=checklist)]
    result = Result(command="status", data=data, messages=messages)
    return gated(result, checklist, require, issue.reference or str(ref))


# --- check ----------------------------------------------------------------------------------------


def check(
    api: GitLabAPI,
    ref: IssueRef,
    selectors: Sequence[str],
    state: StepState,
    *,
    dry_run: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Set steps to `state`: GET the issue, one-line edits, GET the newest notes (the window's floor),
    a PUT of the description only, GET the notes again to verify (`write_description`, which also sets
    back a tick the write undid). When the notes show an edit after the issue was read, the issue is
    read again and the edit planned on it (`read_for_edit`).

    `data` follows `check --file` (`changed`/`unchanged` step IDs, the counts after the edit, `diff`)
    plus the issue; `state` is the issue's state there, as in `status`, and `target_state` the steps'.
    """
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    edit, data, messages = _plan_check(issue, selectors, state, dry_run=dry_run)
    floor = 0
    if edit.needed and not dry_run:
        notes = api.list_notes(ref.project, ref.iid, sort="desc", per_page=100, max_pages=1)
        fresh, floor = read_for_edit(api, ref.project, issue, notes)
        if fresh.description != issue.description:
            edit, data, messages = _plan_check(fresh, selectors, state, dry_run=dry_run)
    if not edit.needed:
        return Result(command="check", data=data, messages=[*messages, "nothing to do", data["progress"]])
    if dry_run:
        return Result(
            command="check", data=data, messages=[*messages, data["progress"], "dry run: nothing written"]
        )
    try:
        written = write_description(api, ref.project, edit, floor=floor, sleep=sleep)
    except ConflictError as exc:
        return conflict_result("check", exc, {**data, "written": True})
    data["written"] = True
    data["restored"] = list(written.restored)
    data.update(_counts(parse_checklist(written.issue.description)))
    return Result(command="check", data=data, messages=[*messages, *written.warnings, data["progress"]])


def _plan_check(
    issue: Issue, selectors: Sequence[str], state: StepState, *, dry_run: bool
) -> tuple[DescriptionEdit, dict[str, Any], list[str]]:
    """The edit `check` makes on `issue`, its data and its messages."""
    edit = plan_step_edit(issue, [(list(selectors), state)])
    selected = select_steps(parse_checklist(issue.description), list(selectors))
    changed_ids = [step.id for step in edit.changed]
    data = issue_summary(issue)
    data.update(edit_data(edit, dry_run=dry_run))
    data["target_state"] = state
    data["changed"] = changed_ids
    data["unchanged"] = [step.id for step in selected if step.id not in changed_ids]
    data.update(_counts(parse_checklist(edit.new_text)))
    data["written"] = False
    data["restored"] = []
    messages = edit.change_lines()
    messages += [f"{step_id}: already {state}" for step_id in data["unchanged"]]
    return edit, data, messages


def _counts(checklist: Checklist) -> dict[str, Any]:
    counts = {key: value for key, value in checklist.to_dict().items() if key != "steps"}
    counts["progress"] = progress_line(checklist)
    return counts


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


def create(api: GitLabAPI, rendered: RenderedIssue, options: CreateOptions) -> Result:
    """Create the rollout issue unless an open one exists; never two, whatever fails."""
    due = check_due_date(options.due)
    definition_url = _definition_url(options.definition)
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
    base: dict[str, Any] = {"flag": flag, "dry_run": options.dry_run, "comments": []}

    if existing is not None:
        data = {**issue_summary(existing), **base, "created": False, "diff": ""}
        messages.insert(0, f"an open rollout issue for {flag} exists: {existing.web_url}")
        data["definition"] = _maybe_write_definition(options, existing.web_url, messages)
        if not (data["definition"] or {}).get("changed"):
            messages.append("nothing to do")
        return Result(command="create", data=data, messages=messages)

    fields: dict[str, Any] = {"title": title, "description": rendered.description, "labels": labels}
    if due:
        fields["due_date"] = due
    if options.confidential:
        fields["confidential"] = True
    diff = unified_diff("", rendered.description, title)
    if options.dry_run:
        data = {
            "iid": None,
            "web_url": None,
            "reference": None,
            "title": title,
            "state": None,
            **base,
            "created": False,
            "diff": diff,
            "labels": labels,
            "would_create": {**fields, "assignees": list(options.assignees), "milestone": options.milestone},
        }
        data["definition"] = _maybe_write_definition(options, None, messages)
        messages.insert(
            0, f"dry run: would create {title!r} in {options.project} with labels {', '.join(labels)}"
        )
        return Result(command="create", data=data, messages=messages)

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
    data = {**issue_summary(issue), **base, "created": True, "diff": diff, "labels": list(issue.labels)}
    data["web_url"] = url
    data["recovered"] = landed.recovered
    messages.insert(0, f"created {issue.reference}: {url}")
    if landed.recovered:
        messages.insert(1, "GitLab's answer was lost, but the issue had landed: not created twice")
    try:
        data["definition"] = _maybe_write_definition(options, issue.web_url, messages)
    except RolloutError as exc:
        return Result.failure("create", written_but(f"created {issue.reference} ({url})", exc), data=data)
    return Result(command="create", data=data, messages=messages)


def issue_url(api: GitLabAPI, issue: Issue, project: str) -> str:
    """The issue's address to show: its `web_url` when that is an http(s) URL on this GitLab, else one
    made from the GitLab URL, the project and the IID (a server may answer a `web_url` that is not)."""
    try:
        url = check_url(issue.web_url, "web_url")
    except UsageError:
        url = ""
    if url and same_host(url, api.url):
        return url
    path = issue.reference.rsplit("#", 1)[0] if "/" in issue.reference else project
    return f"{api.url.rstrip('/')}/{path}/-/issues/{issue.iid}"


def written_but(what: str, error: RolloutError) -> GitLabError:
    """A failure after a write landed: exit 3, saying what exists (never exit 2's "nothing written")."""
    return GitLabError(
        f"{what}, but then: {error.message.rstrip('.')}",
        "it exists: running the command again finds it and writes nothing twice"
        + (f" ({error.hint})" if error.hint else ""),
        details={"after_write": True},
    )


def _definition_url(path: Path | None) -> str | None:
    if path is None:
        return None
    return load_definition(path).rollout_issue_url


def _maybe_write_definition(
    options: CreateOptions, url: str | None, messages: list[str]
) -> dict[str, Any] | None:
    """`--write-definition`: point the YAML's `rollout_issue_url` at the issue (atomic; idempotent)."""
    if not options.write_definition or options.definition is None:
        return None
    if url is None:
        messages.append(f"dry run: would write the new issue's URL into {options.definition}")
        return {"path": str(options.definition), "changed": None, "written": False}
    outcome = write_rollout_issue_url(options.definition, url, dry_run=options.dry_run)
    if not outcome.changed:
        messages.append(f"{options.definition} already names this issue")
    elif outcome.written:
        messages.append(f"wrote rollout_issue_url into {options.definition}")
    else:
        messages.append(f"dry run: would write rollout_issue_url into {options.definition}")
    return {"path": str(options.definition), "changed": outcome.changed, "written": outcome.written}


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
