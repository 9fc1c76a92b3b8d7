"""The feature-flag definition YAML (`config/feature_flags/<type>/<name>.yml`): read, validate, write back.

Validation follows GitLab's `Feature::Definition`: the name pattern, the file layout (basename = name,
folder = type, checked when the file sits in a `feature_flags/<type>/` folder), a known type, a quoted
milestone and a boolean `default_enabled`. Writing `rollout_issue_url` edits the one line it concerns,
so comments, key order and quoting stay byte for byte; ruamel.yaml then re-reads the result to prove
that nothing else changed.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gl_rollout.errors import UsageError
from gl_rollout.files import write_atomic

FLAG_NAME_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")

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
_URL_RE = re.compile(r"^https?://\S+$")


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


def check_flag_type(flag_type: str) -> list[str]:
    """Refuse an unknown type; return a note for the deprecated `development` type."""
    if flag_type not in TYPES:
        raise UsageError(
            f"unknown feature flag type {flag_type!r}",
            f"use one of: {', '.join(t for t in TYPES if not TYPES[t].deprecated)}",
        )
    if TYPES[flag_type].deprecated:
        return [
            f"note: flag type {flag_type!r} is deprecated in GitLab; new flags use gitlab_com_derisk or beta"
        ]
    return []


def _read(path: Path) -> str:
    if not path.exists():
        raise UsageError(f"{path}: no such file", "check the path to the flag definition")
    if path.is_dir():
        raise UsageError(f"{path} is a directory", "give the definition's .yml file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})", "check the permissions") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 (byte {exc.start})", "save the definition as UTF-8") from None


def _load_yaml(text: str, display: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "malformed YAML").split())
        if exc.problem and exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            problem += f" ({' '.join(str(exc.context).split())} started on line {exc.context_mark.line + 1})"
        raise UsageError(f"{display}{line}: malformed YAML: {problem}", "fix the YAML syntax") from None
    except YAMLError as exc:
        first = " ".join(str(exc).split())[:200]
        raise UsageError(f"{display}: malformed YAML: {first}", "fix the YAML syntax") from None


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


def _parse(text: str, path: Path) -> tuple[Any, FlagDefinition]:
    display = str(path)
    data = _load_yaml(text, display)
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
        raise fail(
            "type",
            f"unknown feature flag type {flag_type!r}",
            f"use one of: {', '.join(t for t in TYPES if not TYPES[t].deprecated)}",
        )
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
        raise fail(
            "milestone",
            f"milestone must be a quoted string, not {_type_name(milestone)}",
            f"write milestone: '{milestone}' so YAML keeps it as text",
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

    definition = FlagDefinition(
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
    return data, definition


def load_definition(path: str | Path) -> FlagDefinition:
    """Read and validate a flag definition; every problem is a one-line UsageError naming file and line."""
    p = Path(path)
    return _parse(_read(p), p)[1]


def parse_definition_text(text: str, path: str | Path) -> FlagDefinition:
    """Validate definition text as if it were read from `path` (the path decides the layout checks)."""
    return _parse(text, Path(path))[1]


# --- writing rollout_issue_url -----------------------------------------------------------------------------

_PLAIN_SAFE = re.compile(r"^[A-Za-z][^\s#'\"`]*$")


def _scalar(url: str, style: str) -> str:
    if style == "'" or (style == "" and (not _PLAIN_SAFE.match(url) or ": " in url or url.endswith(":"))):
        return "'" + url.replace("'", "''") + "'"
    if style == '"':
        return '"' + url.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return url


def _scalar_end(line: str, start: int) -> int | None:
    """End index of a single-line scalar starting at `start`, or None when it continues on later lines."""
    quote = line[start : start + 1]
    if quote == "'":
        i = start + 1
        while i < len(line):
            if line[i] == "'":
                if line[i + 1 : i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return None
    if quote == '"':
        i = start + 1
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                return i + 1
            i += 1
        return None
    if quote in ("|", ">", "[", "{", "&", "*", "!"):
        return None
    match = re.search(r"\s#", line[start:])
    end = start + match.start() if match else len(line)
    return len(line[:end].rstrip())


def _split_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _strip_eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


def _surgical_edit(text: str, data: Any, url: str) -> str | None:
    """Change or insert the rollout_issue_url line in place; None when the layout is too unusual."""
    lines = _split_lines(text)
    eol = "\r\n" if "\r\n" in text else "\n"
    if "rollout_issue_url" in data:
        key_line, key_col = data.lc.key("rollout_issue_url")
        body, ending = _strip_eol(lines[key_line])
        colon = body.find(":", key_col + len("rollout_issue_url"))
        if colon < 0:
            return None
        rest = body[colon + 1 :]
        value_start = colon + 1 + (len(rest) - len(rest.lstrip()))
        old = data["rollout_issue_url"]
        style = ""
        if old is None:
            token = re.match(r"(?:null|Null|NULL|~)?", body[value_start:])
            end = value_start + (token.end() if token else 0)
        else:
            end_or_none = _scalar_end(body, value_start)
            if end_or_none is None:
                return None
            end = end_or_none
            style = body[value_start] if body[value_start] in "'\"" else ""
        new_value = _scalar(url, style)
        lead = "" if value_start > colon + 1 else " "
        lines[key_line] = body[:value_start] + lead + new_value + body[end:] + ending
        return "".join(lines)

    anchor = next(
        (k for k in ("introduced_by_url", "feature_issue_url", "description", "name") if k in data), None
    )
    if anchor is None:
        return None
    key_line, key_col = data.lc.key(anchor)
    insert_at = key_line + 1
    while insert_at < len(lines):
        body, _ = _strip_eol(lines[insert_at])
        indent = len(body) - len(body.lstrip())
        if body.strip() and indent > key_col and not body.lstrip().startswith("#"):
            insert_at += 1
            continue
        break
    new_line = " " * key_col + "rollout_issue_url: " + _scalar(url, "") + eol
    if insert_at > 0 and not lines[insert_at - 1].endswith(("\n", "\r")):
        lines[insert_at - 1] += eol
    lines.insert(insert_at, new_line)
    return "".join(lines)


def _ruamel_edit(data: Any, url: str) -> str:
    """Fallback for unusual layouts: let ruamel.yaml's round trip place the key."""
    import io

    from ruamel.yaml import YAML

    if "rollout_issue_url" in data:
        data["rollout_issue_url"] = url
    else:
        keys = list(data.keys())
        anchor = next(
            (k for k in ("introduced_by_url", "feature_issue_url", "description", "name") if k in data), None
        )
        position = keys.index(anchor) + 1 if anchor else len(keys)
        data.insert(position, "rollout_issue_url", url)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _plain(data: Any) -> list[tuple[str, object]]:
    return [(str(k), data[k]) for k in data]


def _verified(new_text: str, old_data: Any, url: str, path: Path) -> bool:
    try:
        new_data = _load_yaml(new_text, str(path))
    except UsageError:
        return False
    if not isinstance(new_data, dict) or new_data.get("rollout_issue_url") != url:
        return False
    expected = [(k, v) for k, v in _plain(old_data) if k != "rollout_issue_url"]
    got = [(k, v) for k, v in _plain(new_data) if k != "rollout_issue_url"]
    return expected == got


def write_rollout_issue_url(path: str | Path, url: str, *, dry_run: bool = False) -> DefinitionWrite:
    """Make the definition's `rollout_issue_url` equal `url`, keeping every other byte; idempotent.

    The key is inserted after `introduced_by_url` (PARAMS order) when absent. With `dry_run` nothing is
    written but the returned texts show the change.
    """
    p = Path(path)
    if not _URL_RE.match(url):
        raise UsageError(f"invalid rollout issue URL {url!r}", "give the issue's https:// URL")
    text = _read(p)
    data, definition = _parse(text, p)
    if definition.rollout_issue_url == url:
        return DefinitionWrite(p, False, url, url, text, text, written=False)
    fresh = _load_yaml(text, str(p))
    new_text = _surgical_edit(text, fresh, url)
    if new_text is None or not _verified(new_text, data, url, p):
        new_text = _ruamel_edit(_load_yaml(text, str(p)), url)
        if not _verified(new_text, data, url, p):
            raise UsageError(
                f"{p}: cannot add rollout_issue_url without changing other content",
                f"add the line rollout_issue_url: {url} by hand",
            )
    if not dry_run:
        write_atomic(p, new_text)
    return DefinitionWrite(p, True, definition.rollout_issue_url, url, text, new_text, written=not dry_run)
