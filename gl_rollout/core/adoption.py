"""Which rollout steps an issue of any template version holds, read from its commands and sections. Pure.

`gl-rollout adopt` puts a status block (`gl_rollout.core.status_block`) into an existing rollout issue.
Its steps are the public step IDs the issue shows:

- ChatOps commands anywhere in it (code blocks, code spans, text), outside a rollback section:
  `feature set <flag> true` on staging (alone or among `--dev --pre --staging --staging-ref`) is
  `enable-staging`; on production for named actors (`--project=`, `--group=`, `--user=`, ...)
  `enable-beta`; on production for everyone, or a percentage of actors there (a ramp that ends at 100%),
  `enable-production`; `release check <merge-request> <milestone>` is `remove-flag`; `feature delete`
  on production is `cleanup`. Commands for another flag are passed over; placeholders count.
- Sections: a documentation line in a section before the global rollout (`Before global rollout`,
  `Preparation`) is `docs-updated`; a line about removing the flag in a cleanup section is
  `remove-flag`.
- Task items the issue already has (older templates are checklists), recognised by the step
  catalogue (`gl_rollout.core.steps`), with their boxes as they are.

An issue where nothing is recognised gets the steps of today's process (`DEFAULT_STEPS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gl_rollout.core.chatops_commands import ChatopsCommand, find_commands
from gl_rollout.core.checklist import BRACKETS, Checklist
from gl_rollout.core.status_block import BlockItem, outside_code, split
from gl_rollout.core.steps import STEP_IDS, normalise_text

#: What each step of a status block says, in gl-rollout's words.
STEP_TEXTS: dict[str, str] = {
    "enable-staging": "Enabled on non-production: dev, pre, staging and staging-ref",
    "test-staging": "Tested on staging",
    "docs-updated": "Documentation and the flag's version history up to date",
    "enable-beta": "Enabled on GitLab.com for chosen projects, groups or users",
    "coordinate": "A time to enable on GitLab.com agreed with #production",
    "announce-eta": "The expected time on GitLab.com announced on this issue",
    "enable-production": "Enabled on GitLab.com for everyone",
    "cross-post": "The production change cross-posted to the team's channel",
    "announce-enabled": "Announced on this issue that the flag is enabled",
    "remove-flag": "The flag and its YAML definition removed from the code, and in a release",
    "cleanup": "The flag deleted from every environment",
}

#: The steps of today's process, for an issue that shows none.
DEFAULT_STEPS: tuple[str, ...] = (
    "enable-staging",
    "docs-updated",
    "enable-production",
    "remove-flag",
    "cleanup",
)

_HEADING = re.compile(r"^[ ]{0,3}(#{1,6})[ \t]+(?P<text>.*?)[ \t#]*$")
_BOLD_TITLE = re.compile(r"^[ ]{0,3}\*\*(?P<text>[^*]+)\*\*")
_ROLLBACK = re.compile(r"\broll ?back\b", re.IGNORECASE)
_CLEANUP = re.compile(r"\bclean ?up\b|\brelease the feature\b|\bremov(?:e|al)\b", re.IGNORECASE)
_BEFORE_GLOBAL = re.compile(r"\bbefore global\b|\bpreparation\b", re.IGNORECASE)
_DOCS = re.compile(r"\b(?:docs|documentation)\b", re.IGNORECASE)
_REMOVE_FLAG = re.compile(r"\bremove (?:the )?(?:feature )?flag\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")


@dataclass(frozen=True)
class Recognised:
    """A step the issue holds, where it was seen (1-based line) and why, and its box if it has one."""

    step: str
    line: int
    reason: str
    state: str | None = None  # the state of the issue's own box for the step, when it has one

    def to_dict(self) -> dict[str, object]:
        return {"step": self.step, "line": self.line, "reason": self.reason, "state": self.state}


def sections(lines: Sequence[str]) -> list[str]:
    """For each line, the text of the nearest heading above it (outside code), "" before the first."""
    current = ""
    found = [""] * len(lines)
    headings = dict(outside_code(lines))
    for index in range(len(lines)):
        line = headings.get(index)
        if line is not None and (match := _HEADING.match(line)) is not None:
            current = normalise_text(match.group("text"))
        found[index] = current
    return found


def _for_flag(command: ChatopsCommand, flag: str | None) -> bool:
    named = command.flag
    return named is None or flag is None or named == flag or bool(_PLACEHOLDER.match(named))


def command_step(command: ChatopsCommand) -> str | None:
    """The step a command carries out (see the module docstring), or None."""
    if command.command == "release" and command.subcommand == "check":
        return "remove-flag"
    if not command.is_feature:
        return None
    envs = command.environments
    if command.subcommand == "delete":
        return "cleanup" if "production" in envs else None
    if command.subcommand != "set":
        return None
    meaning = command.value_meaning()
    if meaning == "on" and not command.actor_targets:
        if "staging" in envs:
            return "enable-staging"
        return "enable-production" if "production" in envs else None
    if meaning == "on" and "production" in envs:
        return "enable-beta"
    if meaning == "percentage" and command.percentage_kind == "actors" and envs == ("production",):
        return "enable-production"
    return None


def recognise(description: str, flag: str | None, checklist: Checklist | None = None) -> list[Recognised]:
    """The steps `description` holds, one entry per step (the first place it shows), in the order of
    the public step IDs; the boxes of `checklist` (the issue's own task items) give their states."""
    lines = split(description)
    section_of = sections(lines)
    found: dict[str, Recognised] = {}

    def add(step: str, line: int, reason: str, state: str | None = None) -> None:
        if step not in found:
            found[step] = Recognised(step, line + 1, reason, state)

    for index, command in find_commands(description):
        section = section_of[index] if index < len(section_of) else ""
        if _ROLLBACK.search(section) or not _for_flag(command, flag):
            continue
        step = command_step(command)
        if step is not None:
            add(step, index, f"{command.command} {command.subcommand} in {section or 'the description'}")
    for index, line in outside_code(lines):
        section = section_of[index]
        if _HEADING.match(line) or not line.strip():
            continue
        if _BEFORE_GLOBAL.search(section) and _DOCS.search(line):
            add("docs-updated", index, f"documentation in {section}")
        elif _CLEANUP.search(section) and not _ROLLBACK.search(section) and _REMOVE_FLAG.search(line):
            add("remove-flag", index, f"removing the flag in {section}")
    if checklist is not None:
        for item in checklist.steps:
            if item.id in STEP_IDS:
                known = found.get(item.id)
                if known is None:
                    found[item.id] = Recognised(item.id, item.line, "a task item of the issue", item.state)
                elif known.state is None:
                    found[item.id] = Recognised(known.step, known.line, known.reason, item.state)
    return [found[step] for step in STEP_IDS if step in found]


def block_items(recognised: Sequence[Recognised], states: dict[str, str] | None = None) -> list[BlockItem]:
    """The block's items for the steps recognised (today's process when none), each with its state:
    from `states` (step ID -> todo/done/skipped), else the issue's own box, else todo."""
    steps = [r.step for r in recognised] or list(DEFAULT_STEPS)
    own = {r.step: r.state for r in recognised if r.state is not None}
    wanted = states or {}
    items = []
    for step in steps:
        state = wanted.get(step) or own.get(step) or "todo"
        items.append(BlockItem(step, STEP_TEXTS.get(step, step), BRACKETS.get(state, "[ ]")))
    return items
