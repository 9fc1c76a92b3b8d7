"""`adopt`: give an existing rollout issue of any template version gl-rollout's status block.

The block (`gl_rollout.core.status_block`) lists the steps the issue shows (`gl_rollout.core.adoption`:
its ChatOps commands, its sections, its own task items) with their boxes set from what is known: the
issue's own boxes, the boxes of a damaged block being repaired, and the evidence (gl-rollout's
comments and ChatOps' record: `workflows.chatops_record`). It goes after the first heading, or at the
end; nothing else of the description changes.

Requests: GET the issue, GET its notes, one search of ChatOps' log project (when given), one PUT and
one GET of the notes after it (the edit's check, `workflows.issue_edit`): 5. An issue that already has
an intact block: 1 request, nothing written. A damaged block is exit 2 unless `repair` is set; then
the block is rebuilt in place, keeping the boxes its step markers still show and any task item a person
added without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gl_rollout.core.adoption import Recognised, block_items, recognise
from gl_rollout.core.chatops import check_flag_name
from gl_rollout.core.chatops_commands import LOG_PROJECT
from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.evidence import collect_evidence, flag_of_issue, judge_steps
from gl_rollout.core.model import Issue
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.status_block import (
    BlockItem,
    check_block,
    damage,
    insert_block,
    render_block,
    replace_region,
)
from gl_rollout.core.system_notes import newest_id
from gl_rollout.errors import UsageError
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.result import Result
from gl_rollout.workflows.chatops_record import read_chatops_record
from gl_rollout.workflows.issue_edit import DescriptionEdit, require_open, write_description


@dataclass(frozen=True)
class AdoptOutcome:
    """What `adopt` did: `adopted`, `repaired`, `would-adopt`, `would-repair` or `already-adopted`."""

    reference: str
    web_url: str
    flag: str
    status: str
    steps: tuple[Recognised, ...] = ()
    states: tuple[tuple[str, str], ...] = ()  # (step, state) as the block shows them
    diff: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "web_url": self.web_url,
            "flag": self.flag,
            "status": self.status,
            "recognised": [step.to_dict() for step in self.steps],
            "block": [{"step": step, "state": state} for step, state in self.states],
            "diff": self.diff,
        }


def adopt(
    api: GitLabAPI,
    ref: IssueRef,
    *,
    flag: str | None = None,
    repair: bool = False,
    dry_run: bool = False,
    chatops_log_project: str | None = LOG_PROJECT,
) -> Result[AdoptOutcome]:
    """Insert the status block into `ref` (or, with `repair`, rebuild a damaged one); see the module."""
    issue = api.get_issue(ref.project, ref.iid)
    require_open(issue)
    reference = issue.reference or str(ref)
    found_damage = None
    try:
        block = check_block(issue.description)
    except UsageError:
        if not repair:
            raise
        block, found_damage = None, damage(issue.description)
    if block is not None:
        named = flag_of_issue(issue)
        if repair or (flag is not None and named is not None and flag != named):
            hint = "nothing to repair" if repair else f"it follows {named}"
            raise UsageError(f"{reference} already has an intact status block: {hint}")
        outcome = AdoptOutcome(reference, issue.web_url, named or flag or "", "already-adopted")
        return Result(
            "adopt", outcome, messages=[f"{reference} already has gl-rollout's status block: nothing to do"]
        )
    if repair and found_damage is None:
        raise UsageError(f"{reference} has no status block to repair", f"run `gl-rollout adopt {reference}`")

    notes = api.list_notes(ref.project, ref.iid)
    name = _flag(issue, flag, found_damage.flag if found_damage else None, reference)
    own = parse_checklist(issue.description)
    steps = recognise(issue.description, name, own)
    marked = _marked_states(found_damage.items) if found_damage else {}
    items = block_items(steps, marked)
    record = read_chatops_record(api, _with_block(issue, items, name), notes, name, chatops_log_project)
    draft = render_block(items, flag=_flag_in_marker(issue, name))
    checklist = parse_checklist(_with_block(issue, items, name).description)
    evidence = collect_evidence(checklist, notes, flag=name, extra=record.evidence())
    proven = {v.step.id: "done" for v in judge_steps(checklist, evidence) if v.action == "tick"}
    if proven:
        items = block_items(steps, {**{i.step: _state(i.box) for i in items}, **proven})
        draft = render_block(items, flag=_flag_in_marker(issue, name))
    kept = _unmarked_items(found_damage.items) if found_damage else ()
    if kept:
        draft = render_block(items, flag=_flag_in_marker(issue, name), extra=kept)
    if found_damage is not None:
        new_text = replace_region(issue.description, found_damage.start, found_damage.end, draft.split("\n"))
    else:
        new_text = insert_block(issue.description, draft)
    edit = DescriptionEdit(issue=issue, new_text=new_text)
    states = tuple((item.step, _state(item.box)) for item in items)
    warnings = list(record.warnings)
    if found_damage is not None and found_damage.other:
        warnings.append(
            f"dropped {len(found_damage.other)} line(s) of other text from inside the block: "
            "they stay in the issue's description history"
        )
    verb = "repair" if found_damage is not None else "adopt"
    status = f"would-{verb}" if dry_run else ("repaired" if verb == "repair" else "adopted")
    if not dry_run:
        written = write_description(api, ref.project, edit, floor=newest_id(notes))
        warnings += written.warnings
    outcome = AdoptOutcome(
        reference, issue.web_url, name, status, tuple(steps), states, edit.diff(), tuple(warnings)
    )
    result = Result("adopt", outcome, messages=list(warnings))
    result.debug = list(record.debug)
    return result


def _flag(issue: Issue, given: str | None, in_marker: str | None, reference: str) -> str:
    if given is not None:
        check_flag_name(given)
        return given
    name = in_marker or flag_of_issue(issue)
    if name is None:
        raise UsageError(
            f"cannot tell which feature flag {reference} rolls out: its title names none",
            f"pass --flag NAME: `gl-rollout adopt {reference} --flag NAME`",
        )
    return name


def _flag_in_marker(issue: Issue, flag: str) -> str | None:
    """The flag goes into the opening marker when the title does not name it."""
    return None if flag_of_issue(replace(issue, description="")) == flag else flag


def _with_block(issue: Issue, items: list[BlockItem], flag: str) -> Issue:
    """The issue as it reads with only the block as its description (what the evidence is matched to)."""
    return replace(issue, description=render_block(items, flag=flag))


_BOX_STATES = {"[ ]": "todo", "[x]": "done", "[X]": "done", "[~]": "skipped"}
_STEP_MARKER = "<!-- step:"


def _state(box: str) -> str:
    return _BOX_STATES.get(box, "done")


def _marked_states(lines: tuple[str, ...]) -> dict[str, str]:
    """step -> state of the task items of a damaged block that still carry their step marker."""
    states: dict[str, str] = {}
    for line in lines:
        if _STEP_MARKER in line:
            for step in parse_checklist(line.strip()).steps:
                states.setdefault(step.id, step.state)
    return states


def _unmarked_items(lines: tuple[str, ...]) -> tuple[str, ...]:
    """Task items of a damaged block without a step marker: a person's, kept."""
    return tuple(line for line in lines if _STEP_MARKER not in line)
