"""The feature-flag definition YAML (`config/feature_flags/<type>/<name>.yml`): read, validate, write back.

Validation follows GitLab's `Feature::Definition`: the name pattern, the file layout (basename = name,
folder = type, checked when the file sits in a `feature_flags/<type>/` folder), a known type, a quoted
milestone and a boolean `default_enabled`. Writing `rollout_issue_url` edits the one line it concerns,
so comments, key order and quoting stay byte for byte (`gl_rollout.render.yaml_edit`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gl_rollout.core.chatops import FLAG_NAME_RE
from gl_rollout.errors import UsageError
from gl_rollout.files import read_text_file, write_atomic
from gl_rollout.render.option_values import check_url
from gl_rollout.render.yaml_edit import load_yaml, scalar_source, set_top_level_scalar

# Feature::Shared::PARAMS order, with `description` second as current definitions have it.
PARAMS: tuple[str, ...] = (
    "name",
    "description",
    "feature_issue_url",
    "introduced_by_url",
    "rollout_issue_url",
    "milestone",
    "log_state_changes",
    "type",
    "group",
    "default_enabled",
    "intended_to_rollout_by",
)


@dataclass(frozen=True)
class FlagType:
    """A definition type and GitLab's rules for it."""

    name: str
    optional: bool
    rollout_issue: bool
    can_be_default_enabled: bool
    deprecated: bool = False


TYPES: dict[str, FlagType] = {
    t.name: t
    for t in (
        FlagType("gitlab_com_derisk", optional=False, rollout_issue=True, can_be_default_enabled=False),
        FlagType("wip", optional=False, rollout_issue=False, can_be_default_enabled=False),
        FlagType("beta", optional=False, rollout_issue=True, can_be_default_enabled=True),
        FlagType("ops", optional=False, rollout_issue=True, can_be_default_enabled=True),
        FlagType("experiment", optional=True, rollout_issue=True, can_be_default_enabled=False),
        FlagType("worker", optional=True, rollout_issue=False, can_be_default_enabled=False),
        FlagType("undefined", optional=True, rollout_issue=False, can_be_default_enabled=False),
        FlagType(
            "development", optional=False, rollout_issue=True, can_be_default_enabled=True, deprecated=True
        ),
    )
}

_STRING_KEYS = ("description", "feature_issue_url", "introduced_by_url", "rollout_issue_url", "group")
# Where a missing rollout_issue_url goes: after the first of these present (PARAMS order).
_ROLLOUT_URL_AFTER = ("introduced_by_url", "feature_issue_url", "description", "name")


@dataclass(frozen=True)
class FlagDefinition:
    """A validated definition. `notes` holds non-fatal remarks (deprecated type, unknown keys)."""

    path: Path
    name: str
    type: str
    default_enabled: bool
    description: str | None = None
    feature_issue_url: str | None = None
    introduced_by_url: str | None = None
    rollout_issue_url: str | None = None
    milestone: str | None = None
    group: str | None = None
    log_state_changes: bool | None = None
    intended_to_rollout_by: str | None = None
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DefinitionWrite:
    """The outcome of `write_rollout_issue_url`: whether the file changed, and its text before and after."""

    path: Path
    changed: bool
    old_url: str | None
    new_url: str
    old_text: str
    new_text: str
    written: bool


def _types_hint() -> str:
    return f"use one of: {', '.join(t for t in TYPES if not TYPES[t].deprecated)}"


def check_flag_type(flag_type: str) -> list[str]:
    """Refuse an unknown type; return a note for the deprecated `development` type."""
    if flag_type not in TYPES:
        raise UsageError(f"unknown feature flag type {flag_type!r}", _types_hint())
    if TYPES[flag_type].deprecated:
        return [
            f"note: flag type {flag_type!r} is deprecated in GitLab; new flags use gitlab_com_derisk or beta"
        ]
    return []


def _line(data: Any, key: str) -> int:
    try:
        return int(data.lc.value(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        try:
            return int(data.lc.key(key)[0]) + 1
        except (AttributeError, KeyError, TypeError):
            return 1


def _type_name(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, _dt.date):
        return "a date"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _parse(text: str, path: Path) -> FlagDefinition:
    display = str(path)
    data = load_yaml(text, display)
    if data is None:
        raise UsageError(f"{display} is empty", "a definition needs at least name, type and default_enabled")
    if not isinstance(data, dict):
        raise UsageError(f"{display}:1: a definition must be a YAML mapping, not {_type_name(data)}")

    def fail(key: str, message: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{display}:{_line(data, key)}: {message}", hint)

    notes: list[str] = []
    for key in data:
        if key not in PARAMS:
            notes.append(f"note: {display}:{_line(data, key)}: unknown key {key!r} ignored")

    for required in ("name", "type", "default_enabled"):
        if required not in data:
            raise UsageError(
                f"{display}: missing {required!r}", "GitLab requires name, type and default_enabled"
            )

    name = data["name"]
    if not isinstance(name, str):
        raise fail("name", f"name must be a string, not {_type_name(name)}")
    if not FLAG_NAME_RE.match(name):
        raise fail(
            "name",
            f"invalid feature flag name {name!r}",
            "use lowercase letters and digits joined by single underscores",
        )

    flag_type = data["type"]
    if not isinstance(flag_type, str):
        raise fail("type", f"type must be a string, not {_type_name(flag_type)}")
    if flag_type not in TYPES:
        raise fail("type", f"unknown feature flag type {flag_type!r}", _types_hint())
    if TYPES[flag_type].deprecated:
        notes.extend(check_flag_type(flag_type))

    # GitLab checks the layout feature_flags/<type>/<name>.yml; a copy elsewhere (in /tmp) has no layout.
    if path.parent.parent.name == "feature_flags":
        if path.stem != name:
            raise fail(
                "name", f"name {name!r} does not match the file name {path.name!r}", "rename one of them"
            )
        if path.parent.name != flag_type:
            raise fail(
                "type",
                f"type {flag_type!r} does not match the folder {path.parent.name!r}",
                f"move the file to feature_flags/{flag_type}/ or fix the type",
            )

    default_enabled = data["default_enabled"]
    if not isinstance(default_enabled, bool):
        raise fail(
            "default_enabled",
            f"default_enabled must be true or false, not {_type_name(default_enabled)}",
        )
    if default_enabled and not TYPES[flag_type].can_be_default_enabled:
        raise fail(
            "default_enabled",
            f"default_enabled: true is not allowed for type {flag_type!r}",
            "only beta and ops flags may be enabled by default",
        )

    milestone = data.get("milestone")
    if milestone is not None and not isinstance(milestone, str):
        # The text as written: YAML reads 17.10 as the number 17.1, a different milestone.
        written = scalar_source(text, data, "milestone")
        raise fail(
            "milestone",
            f"milestone must be a quoted string, not {_type_name(milestone)}",
            f"write milestone: '{written}' so YAML keeps it as text"
            if written
            else "write the milestone's title in quotes, e.g. milestone: '17.10'",
        )

    strings: dict[str, str | None] = {}
    for key in _STRING_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, f"{key} must be a string, not {_type_name(value)}")
        strings[key] = str(value) if value is not None else None

    log_state_changes = data.get("log_state_changes")
    if log_state_changes is not None and not isinstance(log_state_changes, bool):
        raise fail(
            "log_state_changes",
            f"log_state_changes must be true or false, not {_type_name(log_state_changes)}",
        )

    rollout_by = data.get("intended_to_rollout_by")
    if rollout_by is not None and not isinstance(rollout_by, str | _dt.date):
        raise fail(
            "intended_to_rollout_by", f"intended_to_rollout_by must be a date, not {_type_name(rollout_by)}"
        )

    return FlagDefinition(
        path=path,
        name=str(name),
        type=str(flag_type),
        default_enabled=default_enabled,
        description=strings["description"],
        feature_issue_url=strings["feature_issue_url"],
        introduced_by_url=strings["introduced_by_url"],
        rollout_issue_url=strings["rollout_issue_url"],
        milestone=str(milestone) if milestone is not None else None,
        group=strings["group"],
        log_state_changes=log_state_changes,
        intended_to_rollout_by=str(rollout_by) if rollout_by is not None else None,
        notes=tuple(notes),
    )


def parse_definition(text: str, path: str | Path) -> FlagDefinition:
    """Validate a definition's text read from elsewhere (a merge request); `path` is where it lives in the
    repository, checked for GitLab's layout and named in every error."""
    return _parse(text, Path(path))


def with_rollout_issue_url(text: str, path: str | Path, url: str) -> str | None:
    """The definition's text with `rollout_issue_url` set to `url` as `write_rollout_issue_url` would
    write it (None when that cannot be done without touching other content)."""
    return set_top_level_scalar(text, "rollout_issue_url", url, after=_ROLLOUT_URL_AFTER, display=str(path))


def load_definition(path: str | Path) -> FlagDefinition:
    """Read and validate a flag definition; every problem is a one-line UsageError naming file and line."""
    p = Path(path)
    return _parse(_read(p), p)


def _read(path: Path) -> str:
    return read_text_file(path, kind="YAML", what="the flag definition")


# --- writing rollout_issue_url -----------------------------------------------------------------------------


def write_rollout_issue_url(path: str | Path, url: str, *, dry_run: bool = False) -> DefinitionWrite:
    """Make the definition's `rollout_issue_url` equal `url`, keeping every other byte; idempotent.

    The key is inserted after `introduced_by_url` (PARAMS order) when absent. With `dry_run` nothing is
    written but the returned texts show the change.
    """
    p = Path(path)
    url = check_url(url, "rollout issue URL")
    text = _read(p)
    definition = _parse(text, p)
    if definition.rollout_issue_url == url:
        return DefinitionWrite(p, False, url, url, text, text, written=False)
    new_text = set_top_level_scalar(text, "rollout_issue_url", url, after=_ROLLOUT_URL_AFTER, display=str(p))
    if new_text is None:
        raise UsageError(
            f"{p}: cannot add rollout_issue_url without changing other content",
            f"add the line rollout_issue_url: {url} by hand",
        )
    if not dry_run:
        write_atomic(p, new_text)
    return DefinitionWrite(p, True, definition.rollout_issue_url, url, text, new_text, written=not dry_run)
