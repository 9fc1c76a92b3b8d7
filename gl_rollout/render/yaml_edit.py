"""Round-trip YAML for files people maintain by hand: load with one-line errors, and set one
top-level key while keeping every other byte (comments, key order, quoting, line endings).

The key's line is edited in place, or a new line is inserted after a given key; when the layout is
too unusual for that, ruamel.yaml's round trip places the key. Either way the result is loaded again
and accepted only if every other key kept its value. ruamel.yaml loads only when these functions run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from gl_rollout.errors import UsageError

_PLAIN_SAFE = re.compile(r"^[A-Za-z][^\s#'\"`]*$")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def load_yaml(text: str, display: str) -> Any:
    """The round-trip document (mappings keep their line numbers); malformed YAML is a UsageError."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
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


def set_top_level_scalar(
    text: str, key: str, value: str, *, after: Sequence[str], display: str
) -> str | None:
    """`text` with the top-level `key` set to the string `value`; a new key goes after the first of
    `after` present (else last). None when no edit leaves every other key's value as it was."""
    data = load_yaml(text, display)
    new_text = _edit_line(text, data, key, value, after)
    if new_text is not None and _only_key_changed(new_text, data, key, value, display):
        return new_text
    new_text = _round_trip(load_yaml(text, display), key, value, after)
    return new_text if _only_key_changed(new_text, data, key, value, display) else None


def _scalar(value: str, style: str) -> str:
    """`value` as a YAML scalar in the quoting style it replaces ("" plain, when that is safe)."""
    if style == "'" or (
        style == "" and (not _PLAIN_SAFE.match(value) or ": " in value or value.endswith(":"))
    ):
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


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


def scalar_source(text: str, data: Any, key: str) -> str | None:
    """The top-level `key`'s value as written in `text` (`17.10`, not the float 17.1 YAML made of it);
    None when it is not a one-line scalar on the key's line."""
    try:
        line_no, column = (int(n) for n in data.lc.value(key))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    lines = text.splitlines()
    if not 0 <= line_no < len(lines):
        return None
    line = lines[line_no]
    end = _scalar_end(line, column)
    if end is None or end <= column:
        return None
    return line[column:end]


def _strip_eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


def _edit_line(text: str, data: Any, key: str, value: str, after: Sequence[str]) -> str | None:
    """Change or insert the key's line in place; None when the layout is too unusual."""
    lines = text.splitlines(keepends=True)
    eol = "\r\n" if "\r\n" in text else "\n"
    if key in data:
        key_line, key_col = data.lc.key(key)
        body, ending = _strip_eol(lines[key_line])
        colon = body.find(":", key_col + len(key))
        if colon < 0:
            return None
        rest = body[colon + 1 :]
        value_start = colon + 1 + (len(rest) - len(rest.lstrip()))
        style = ""
        if data[key] is None:
            token = re.match(r"(?:null|Null|NULL|~)?", body[value_start:])
            end = value_start + (token.end() if token else 0)
        else:
            end_or_none = _scalar_end(body, value_start)
            if end_or_none is None:
                return None
            end = end_or_none
            style = body[value_start] if body[value_start] in "'\"" else ""
        lead = "" if value_start > colon + 1 else " "
        lines[key_line] = body[:value_start] + lead + _scalar(value, style) + body[end:] + ending
        return "".join(lines)

    anchor = next((k for k in after if k in data), None)
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
    new_line = " " * key_col + f"{key}: " + _scalar(value, "") + eol
    if insert_at > 0 and not lines[insert_at - 1].endswith(("\n", "\r")):
        lines[insert_at - 1] += eol
    lines.insert(insert_at, new_line)
    return "".join(lines)


def _round_trip(data: Any, key: str, value: str, after: Sequence[str]) -> str:
    """Fallback for unusual layouts: let ruamel.yaml's round trip place the key (changes `data`)."""
    if key in data:
        data[key] = value
    else:
        keys = list(data.keys())
        anchor = next((k for k in after if k in data), None)
        position = keys.index(anchor) + 1 if anchor else len(keys)
        data.insert(position, key, value)
    yaml = _yaml()
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _only_key_changed(new_text: str, old_data: Any, key: str, value: str, display: str) -> bool:
    """Whether `new_text` loads with `key` equal to `value` and every other key as in `old_data`."""
    try:
        new_data = load_yaml(new_text, display)
    except UsageError:
        return False
    if not isinstance(new_data, dict) or new_data.get(key) != value:
        return False

    def others(data: Any) -> list[tuple[str, object]]:
        return [(str(k), data[k]) for k in data if str(k) != key]

    return others(old_data) == others(new_data)
