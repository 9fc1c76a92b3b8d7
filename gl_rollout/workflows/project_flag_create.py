"""`create --flag-backend project --create-flag`: the rollout issue and its project feature flag.

Order, so that bad input writes nothing: the flag is read first (one GET). A flag that exists with a
description naming none of the flag's open rollout issues (one more search then) is another's flag:
exit 2 unless `--adopt-flag`. Then the issue is created as `create` does (or found), the flag created
when absent (`version: new_version_flag`, inactive, no strategy, its description pointing at the issue),
and the `create-flag` step ticked with a marker-carrying comment, as `enable` does.

Requests: `create`'s 2, the flag's GET and POST, then the issue, its notes, the comment, the tick and
the check of what GitLab stored: 9. A second run finds the flag, the issue, the comment and the tick:
the flag's GET, two issue searches, the issue and its notes (5), and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.markers import NoteMarker, intent_key
from gl_rollout.core.project_flag import NEW_VERSION_FLAG, ProjectFlag
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.rollout_marker import RolloutFlag
from gl_rollout.errors import RolloutError, UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.issue import RenderedIssue
from gl_rollout.result import Result
from gl_rollout.workflows.create import CreateOptions, CreateOutcome, create, find_rollout_issues
from gl_rollout.workflows.posting import Patience, write_once
from gl_rollout.workflows.step_comments import StepAction, comment_and_tick, read_notes
from gl_rollout.workflows.summary import written_but

MAX_FLAG_DESCRIPTION = 255  # GitLab's limit


@dataclass(frozen=True)
class FlagCreation:
    """What `--create-flag` did: the flag's project and name, whether it existed, was created (or would
    be), adopted, and whether its step was ticked."""

    flag_project: str
    flag: str
    existed: bool
    created: bool
    adopted: bool
    ticked: bool = False
    note_url: str | None = None


def flag_description(issue_url: str) -> str:
    """The description gl-rollout gives a flag it creates: where its rollout issue is."""
    return f"Rollout issue: {issue_url}"[:MAX_FLAG_DESCRIPTION]


def _ours(flag: ProjectFlag, issue_urls: list[str]) -> bool:
    """The flag's description names one of these issues (by path: a GitLab reached at another address,
    such as the sandbox on another port, is the same GitLab)."""
    described = flag.description or ""
    if not described.startswith(flag_description("")):
        return False
    named = urlsplit(described[len(flag_description("")) :].strip()).path.rstrip("/")
    return bool(named) and any(urlsplit(url).path.rstrip("/") == named for url in issue_urls)


def create_with_flag(
    api: GitLabAPI, rendered: RenderedIssue, options: CreateOptions, *, adopt: bool = False
) -> Result[CreateOutcome]:
    """Create the rollout issue and its project feature flag, as the module docstring says."""
    rollout = rendered.rollout
    if rollout is None:
        raise UsageError("--create-flag creates a project feature flag", "add --flag-backend project")
    flag_project = rollout.project_for(options.project)
    existing = api.get_project_flag(flag_project, rollout.flag)
    adopted = False
    if existing is not None:
        issues = find_rollout_issues(api, options.project, rendered.flag, rendered.title)
        if not _ours(existing, [issue.web_url for issue in issues]):
            if not adopt:
                said = f"description {existing.description!r}" if existing.description else "no description"
                raise UsageError(
                    f"{flag_project} already has a feature flag {rollout.flag} ({said}, "
                    f"{'active' if existing.active else 'inactive'}, {len(existing.strategies)} strategies)",
                    "pass --adopt-flag to roll out that flag as it is, or choose another name",
                )
            adopted = True

    created = create(api, rendered, options)
    outcome = created.value
    if not created.ok or outcome is None:
        return created
    messages = list(created.messages)
    if outcome.issue.iid is None or (options.dry_run and existing is None):
        would = "would adopt" if adopted else "would create"
        what = "as it is" if adopted else "(inactive, no strategy)"
        messages.append(f"dry run: {would} feature flag {rollout.flag} in {flag_project} {what}")
        creation = FlagCreation(flag_project, rollout.flag, existing is not None, False, adopted)
        return Result("create", replace(outcome, project_flag=creation), messages=messages)
    url = outcome.issue.web_url or ""
    ref = IssueRef(options.project, outcome.issue.iid)

    made = existing is None
    if made and not options.dry_run:
        try:
            _create_flag(api, flag_project, rollout, url, options.patience)
        except RolloutError as exc:
            what = f"{'created' if outcome.created else 'found'} {outcome.issue.reference} ({url})"
            return Result.failure("create", written_but(what, exc), outcome)
        messages.append(f"created feature flag {rollout.flag} in {flag_project} (inactive, no strategy)")
    elif adopted:
        messages.append(f"adopted feature flag {rollout.flag} of {flag_project} as it is")
    else:
        messages.append(f"feature flag {rollout.flag} exists in {flag_project}: nothing to create")

    issue = api.get_issue(ref.project, ref.iid)
    notes = read_notes(api, ref)
    values = {"backend": "project", "project": flag_project, "adopted": adopted}
    marker = NoteMarker(
        "create-flag",
        rollout.flag,
        "create-flag",
        values,
        intent_key("create-flag", rollout.flag, None, values),
    )
    verb = "Adopted" if adopted else "Created"
    text = (
        f"**{verb}** the project feature flag `{rollout.flag}` in `{flag_project}`"
        + (" as it was" if adopted else ": inactive, with no strategy yet")
        + f". Environments of this rollout: {', '.join(f'`{env}`' for env in rollout.environments)}."
    )
    present = parse_checklist(issue.description).find("create-flag") is not None
    action = StepAction(
        command="create",
        marker=marker,
        text=text,
        ticks=((("create-flag",), "done"),) if present else (),
        scope=lambda m: m.action == "create-flag",
    )
    ticked = comment_and_tick(
        api, ref, issue, notes, action, dry_run=options.dry_run, patience=options.patience
    )
    messages += ticked.messages
    done = ticked.value
    creation = FlagCreation(
        flag_project,
        rollout.flag,
        existed=not made,
        created=made and not options.dry_run,
        adopted=adopted,
        ticked=bool(done and done.written),
        note_url=done.note_url if done else None,
    )
    final = replace(outcome, project_flag=creation)
    if not ticked.ok and ticked.error is not None:
        return Result.failure("create", ticked.error, final)
    return Result("create", final, messages=messages)


def _create_flag(
    api: GitLabAPI, project: str, rollout: RolloutFlag, issue_url: str, patience: Patience
) -> None:
    """POST the flag once: after an answer that was lost, reads say whether it landed, until GitLab's
    request timeout has passed; only then is it sent again (`gl_rollout.workflows.posting.write_once`)."""
    fields = {
        "name": rollout.flag,
        "version": NEW_VERSION_FLAG,
        "active": False,
        "description": flag_description(issue_url),
    }
    write_once(
        lambda: api.create_project_flag(project, fields),
        lambda: api.get_project_flag(project, rollout.flag),
        patience,
    )
