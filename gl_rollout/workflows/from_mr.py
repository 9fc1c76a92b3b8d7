"""Use case `create --from-mr`: a rollout issue for each feature-flag definition a merge request adds.

Reads the MR, its changes (`/diffs`), and each new definition (the added lines of its diff, or the file
at the MR's head when GitLab collapsed the diff); validates every definition and renders every issue
before the first write. Then, per flag, `create` as `create --definition` runs it (the same template,
options and deduplication), a `relates_to` link to each issue the MR closes, and at the end one MR
comment that shows, per definition, the `rollout_issue_url` line to add. GitLab applies suggestions only
in diff threads positioned on one file's line, so one comment for several files cannot hold applicable
suggestions: the comment carries a `diff` code block per definition instead. Re-running finds the issues,
the links and the comment (by its marker), and writes nothing.

Requests: MR, diffs (one per 100 files), a raw file per collapsed definition, closing issues, then per flag
`create`'s 2 (1 when it exists) and per closing issue a links read (and a POST when missing), and the MR
notes read (and the POST when the comment is missing).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace

from gl_rollout.core.markers import NoteMarker, intent_key
from gl_rollout.core.merge_requests import MergeRequestRef, added_text, new_definitions
from gl_rollout.core.model import Issue
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.definition import TYPES, FlagDefinition, parse_definition, with_rollout_issue_url
from gl_rollout.render.issue import RenderedIssue, RenderOptions, render_issue
from gl_rollout.result import OMIT_NONE, Result
from gl_rollout.workflows.create import CreateOptions, CreateOutcome, create
from gl_rollout.workflows.posting import find_marked_note, post_merge_request_note_once
from gl_rollout.workflows.summary import EditPreview

COMMENT_ACTION = "from-mr"
NEW_ISSUE_URL = "<the new issue URL>"  # in a dry run's comment, for an issue not created yet


@dataclass(frozen=True)
class FlagFromMr:
    """One new definition of the MR and its rollout issue."""

    flag: str
    path: str
    issue: CreateOutcome
    linked: tuple[str, ...] = ()  # the closing issues it was linked to now (or would be, in a dry run)


@dataclass(frozen=True)
class FromMrOutcome:
    """What `create --from-mr` did (or, with `dry_run`, would do)."""

    merge_request: str
    dry_run: bool
    flags: tuple[FlagFromMr, ...] = ()
    skipped: tuple[str, ...] = ()  # definitions of types that need no rollout issue
    closes: tuple[str, ...] = ()
    comment: str | None = field(default=None, metadata=OMIT_NONE)  # "posted", "exists", "would post"
    comments: tuple[str, ...] = ()

    @property
    def preview(self) -> EditPreview:
        """What `--dry-run` shows: each issue's description diff and the comment it would post."""
        diff = "".join(flag.issue.diff for flag in self.flags if flag.issue.diff)
        return EditPreview(self.dry_run, diff, self.comments)


@dataclass(frozen=True)
class _Found:
    path: str
    text: str
    definition: FlagDefinition


def create_from_mr(
    api: GitLabAPI, ref: MergeRequestRef, render: RenderOptions, options: CreateOptions
) -> Result[FromMrOutcome]:
    """Create (or find) the rollout issue of each flag the MR adds, link it, and comment once on the MR."""
    mr = api.get_merge_request(ref.project, ref.iid)
    name = f"!{mr.iid}"
    added = new_definitions(api.list_merge_request_diffs(ref.project, ref.iid))
    if not added:
        outcome = FromMrOutcome(mr.reference, options.dry_run)
        return Result("create", outcome, messages=[f"no new feature flags in {name}"])

    head = mr.sha or mr.source_branch
    found = []
    for diff in added:  # every definition is read and validated before anything is written
        text = added_text(diff.diff) if diff.complete else api.get_raw_file(ref.project, diff.new_path, head)
        found.append(_Found(diff.new_path, text, parse_definition(text, diff.new_path)))
    messages: list[str] = []
    skipped = [item for item in found if not TYPES[item.definition.type].rollout_issue]
    for item in skipped:
        messages.append(f"{item.path}: a {item.definition.type} flag needs no rollout issue; skipped")
    wanted = [item for item in found if item not in skipped]
    if not wanted:
        outcome = FromMrOutcome(mr.reference, options.dry_run, skipped=tuple(item.path for item in skipped))
        return Result("create", outcome, messages=[*messages, f"no new flag in {name} needs a rollout issue"])
    rendered = [(item, _render(render, item)) for item in wanted]
    closes = api.list_merge_request_closing_issues(ref.project, ref.iid)

    flags: list[FlagFromMr] = []
    for item, issue in rendered:
        each = replace(options, definition=None, definition_rollout_url=item.definition.rollout_issue_url)
        result = create(api, issue, each)
        # Without --write-definition `create` fails only by raising, before or instead of its write.
        assert result.ok
        assert result.value is not None
        messages.extend(result.messages)
        linked = _link(api, options, result.value, closes, messages)
        flags.append(FlagFromMr(item.definition.name, item.path, result.value, linked))

    outcome = FromMrOutcome(
        mr.reference, options.dry_run, tuple(flags), tuple(item.path for item in skipped),
        tuple(issue.reference for issue in closes),
    )  # fmt: skip
    return _comment(api, ref, name, wanted, outcome, options, messages)


def _render(render: RenderOptions, item: _Found) -> RenderedIssue:
    return render_issue(replace(render, flag=None, definition=None, loaded_definition=item.definition))


def _link(
    api: GitLabAPI, options: CreateOptions, created: CreateOutcome, closes: list[Issue], messages: list[str]
) -> tuple[str, ...]:
    """Relate the rollout issue to each issue the MR closes, unless they are related already."""
    summary = created.issue
    if not closes:
        return ()
    if summary.iid is None:  # a dry run's issue that does not exist yet
        for issue in closes:
            messages.append(f"dry run: would link the new issue for {created.flag} to {issue.reference}")
        return tuple(issue.reference for issue in closes)
    present = {(issue.project_id, issue.iid) for issue in api.list_issue_links(options.project, summary.iid)}
    linked: list[str] = []
    for issue in closes:
        if (issue.project_id, issue.iid) in present or issue.reference == summary.reference:
            continue
        if options.dry_run:
            messages.append(f"dry run: would link {summary.reference} to {issue.reference}")
        else:
            target = issue.reference.rsplit("#", 1)[0] if "/" in issue.reference else str(issue.project_id)
            api.create_issue_link(options.project, summary.iid, target, issue.iid)
            messages.append(f"linked {summary.reference} to {issue.reference}")
        linked.append(issue.reference)
    return tuple(linked)


def _comment(
    api: GitLabAPI,
    ref: MergeRequestRef,
    name: str,
    wanted: list[_Found],
    outcome: FromMrOutcome,
    options: CreateOptions,
    messages: list[str],
) -> Result[FromMrOutcome]:
    """One MR comment with the `rollout_issue_url` line for each definition that does not have it yet."""
    edits: list[tuple[str, str, str]] = []  # path, URL, diff
    issues: dict[str, str] = {}  # path -> the issue's reference: the comment's key (a URL may change host)
    for item, flag in zip(wanted, outcome.flags, strict=True):
        url = flag.issue.issue.web_url or NEW_ISSUE_URL
        if item.definition.rollout_issue_url == url:
            continue
        new_text = with_rollout_issue_url(item.text, item.path, url)
        if new_text is None:
            edit = f"+rollout_issue_url: {url}\n"
        else:
            lines = difflib.unified_diff(
                item.text.splitlines(keepends=True), new_text.splitlines(keepends=True), n=1
            )
            edit = "".join(line for line in lines if not line.startswith(("---", "+++")))
        edits.append((item.path, url, edit))
        issues[item.path] = flag.issue.issue.reference or NEW_ISSUE_URL
    if not edits:
        messages.append(f"every definition in {name} names its rollout issue: no comment needed")
        return Result("create", outcome, messages=messages)
    flags = ",".join(flag.flag for flag in outcome.flags)
    values = {"issues": issues}
    key = intent_key(COMMENT_ACTION, flags, None, values)
    body = (
        _comment_body(edits) + "\n\n" + NoteMarker(COMMENT_ACTION, flags, values=values, key=key).to_comment()
    )
    existing = find_marked_note(api.list_merge_request_notes(ref.project, ref.iid), key)
    if existing is not None:
        messages.append(f"the comment on {name} is there already")
        return Result("create", replace(outcome, comment="exists"), messages=messages)
    if options.dry_run:
        messages.append(f"dry run: would comment on {name}")
        return Result("create", replace(outcome, comment="would post", comments=(body,)), messages=messages)
    post_merge_request_note_once(api, ref.project, ref.iid, body, key, patience=options.patience)
    messages.append(f"commented on {name} with the rollout_issue_url of {len(edits)} definition(s)")
    return Result("create", replace(outcome, comment="posted"), messages=messages)


def _comment_body(edits: list[tuple[str, str, str]]) -> str:
    parts = [
        "Rollout issues for the feature flags this merge request adds. "
        "Add `rollout_issue_url` to each definition:"
    ]
    for path, url, edit in edits:
        parts.append(f"`{path}` ({url}):\n\n```diff\n{edit.rstrip(chr(10))}\n```")
    return "\n\n".join(parts)
