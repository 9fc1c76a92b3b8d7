"""`announce --eta WHEN` and `announce --enabled`: a comment on the rollout issue, then the step ticked.

At most 5 requests, 6 when the issue changed while it was read (see `gl_rollout.workflows.step_comments`).
Decisions:
- the ETA is about production (GitLab.com), as the `announce-eta` step says; a relative ETA (`in 2h`)
  counts as already announced while the ETA it produced has not passed, so a retried CI job posts
  nothing, and a new announcement is made once that time is over;
- `--enabled` ticks `announce-enabled` only for production (the step announces the GitLab.com
  enablement), and is refused (exit 2) while the issue's `enable-production` step is todo; other
  environments get the comment only. A `disable` comment after the last
  announcement makes the next `--enabled` announce again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gl_rollout.core import chatops
from gl_rollout.core.checklist import StepState, parse_checklist
from gl_rollout.core.evidence import flag_of_issue
from gl_rollout.core.markers import NoteMarker, intent_key
from gl_rollout.core.model import Issue, Note
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.status_block import check_block
from gl_rollout.core.times import Eta, Timestamp, describe_delta, format_utc, utc_now
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.issue_edit import require_open
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.step_comments import (
    CommentOutcome,
    StepAction,
    comment_and_tick,
    existing_steps,
    read_notes,
)

ENV_NAMES = {"production": "production (GitLab.com)", "staging": "staging"}


@dataclass(frozen=True)
class EtaAnnouncement:
    """`announce --eta`: the moment announced (ISO and as shown), and its relative form if given so."""

    eta: str
    eta_utc: str
    relative: str | None
    kind: str = "eta"


@dataclass(frozen=True)
class EnabledAnnouncement:
    """`announce --enabled`: the environment the flag was announced enabled on."""

    env: str
    kind: str = "enabled"


def issue_flag(issue: Issue, notes: list[Note], flag: str | None) -> str:
    """The flag named by `--flag`, else by the issue (title, then our markers); UsageError if neither."""
    if flag:
        return chatops.check_flag_name(flag)
    found = flag_of_issue(issue, notes)
    if found is None:
        raise UsageError(
            f"cannot tell which feature flag {issue.reference} is about",
            "pass --flag NAME (the title names it in backticks in issues gl-rollout creates)",
        )
    return found


def only_the_comment(dry_run: bool) -> str:
    """The remark when the issue has no step for the action: the comment alone."""
    return "only the comment would be posted" if dry_run else "only the comment is posted"


def require_enabled(issue: Issue) -> None:
    """`announce --enabled` (production) only once the issue says the flag is on: its `enable-production`
    step is done (or skipped, or absent, when the issue cannot tell). A premature announcement reaches
    the people the rollout issue informs, and a comment cannot be taken back quietly."""
    step = parse_checklist(issue.description).find("enable-production")
    if step is None or step.state != "todo":
        return
    name = issue.reference or f"#{issue.iid}"
    raise UsageError(
        f"not announced: enable-production of {name} is not done, so the flag is not known to be on",
        f"enable it first (gl-rollout enable {name}), or tick enable-production if it was enabled by hand "
        f"(gl-rollout check {name} enable-production); for another environment, pass --env",
    )


def announce_eta(
    api: GitLabAPI,
    ref: IssueRef,
    eta: Eta,
    *,
    flag: str | None = None,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
    now: dt.datetime | None = None,
) -> Result[CommentOutcome]:
    """Post when the flag will be enabled on production (UTC, and how far away), then tick `announce-eta`."""
    moment = now or utc_now()
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    check_block(issue.description)
    notes = read_notes(api, ref)
    name = issue_flag(issue, notes, flag)
    values: dict[str, str] = {"eta": eta.iso}
    if eta.relative is not None:
        values["relative"] = eta.relative
    # A relative ETA's intent is "in 2h from the first announcement"; an absolute one is the moment.
    key_values = {"relative": eta.relative} if eta.relative is not None else {"eta": eta.iso}
    key = intent_key("announce-eta", name, "announce-eta", key_values)
    marker = NoteMarker("announce-eta", name, "announce-eta", values, key)
    text = (
        f"**Rollout ETA:** `{name}` is expected to be enabled on production (GitLab.com) at "
        f"**{format_utc(eta.when)}**, {describe_delta(eta.when - moment)} from this comment."
    )
    present, absent = existing_steps(issue, ["announce-eta"])
    messages = []
    if absent:
        messages.append(f"{issue.reference} has no announce-eta step: {only_the_comment(dry_run)}")

    def still_valid(existing: NoteMarker, _note: Note) -> bool:
        if eta.relative is None:
            return True
        when = existing.values.get("eta")
        parsed = _parse_iso(when) if isinstance(when, str) else None
        return parsed is not None and parsed > moment

    action = StepAction(
        command="announce",
        marker=marker,
        text=text,
        ticks=(((*present,), "done"),) if present else (),
        scope=lambda m: m.action == "announce-eta",
        still_valid=still_valid,
        details=EtaAnnouncement(eta.iso, format_utc(eta.when), eta.relative),
        messages=tuple(messages),
    )
    return comment_and_tick(api, ref, issue, notes, action, dry_run=dry_run, patience=patience)


def announce_enabled(
    api: GitLabAPI,
    ref: IssueRef,
    env: str = "production",
    *,
    flag: str | None = None,
    dry_run: bool = False,
    patience: Patience = DEFAULT_PATIENCE,
) -> Result[CommentOutcome]:
    """Post that the flag is now enabled on `env`; tick `announce-enabled` for production."""
    environment = chatops.parse_environments([env])
    if len(environment) != 1:
        raise UsageError("--env takes one environment for --enabled", "run the command once per environment")
    target = environment[0]
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    check_block(issue.description)
    if target == "production":
        require_enabled(issue)
    notes = read_notes(api, ref)
    name = issue_flag(issue, notes, flag)
    values = {"env": target}
    marker = NoteMarker(
        "announce-enabled", name, "announce-enabled", values,
        intent_key("announce-enabled", name, "announce-enabled", values),
    )  # fmt: skip
    where = ENV_NAMES.get(target, target)
    text = f"**Enabled:** the `{name}` feature flag is now enabled on {where}."
    messages: list[str] = []
    ticks: tuple[tuple[tuple[str, ...], StepState], ...] = ()
    if target == "production":
        present, _ = existing_steps(issue, ["announce-enabled"])
        if present:
            ticks = ((("announce-enabled",), "done"),)
        else:
            messages.append(f"{issue.reference} has no announce-enabled step: {only_the_comment(dry_run)}")
    else:
        messages.append("announce-enabled is about production: no step ticked for " + target)

    def scope(m: NoteMarker) -> bool:
        if m.action == "announce-enabled":
            return m.values.get("env") == target
        if m.action == "disable":
            envs = m.values.get("envs")
            return isinstance(envs, list) and target in envs
        return False

    action = StepAction(
        command="announce",
        marker=marker,
        text=text,
        ticks=ticks,
        scope=scope,
        details=EnabledAnnouncement(target),
        messages=tuple(messages),
    )
    return comment_and_tick(api, ref, issue, notes, action, dry_run=dry_run, patience=patience)


def _parse_iso(text: str) -> dt.datetime | None:
    return Timestamp.of(text).moment
