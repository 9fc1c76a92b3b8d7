"""Hidden markers gl-rollout leaves in what it writes, so it can recognise its own work later.

A comment marker ends every note it posts (step markers, `<!-- step:ID -->`, live in `gl_rollout.core.steps`):
  `<!-- gl-rollout {"v": 1, "action": "enable", "step": "enable-staging", "flag": "x", "key": "..."} -->`.
  `key` identifies the intent (action, flag and values, never the time of posting), so running the same
  command twice finds the first note and posts nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MARKER_VERSION = 1
_NOTE_MARKER = re.compile(r"<!--\s*gl-rollout\s+(\{.*?\})\s*-->", re.DOTALL)


@dataclass(frozen=True)
class NoteMarker:
    """What a gl-rollout comment says it did."""

    action: str  # announce-eta | announce-enabled | enable | disable | sync
    flag: str
    step: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""

    def to_comment(self) -> str:
        payload: dict[str, Any] = {"v": MARKER_VERSION, "action": self.action, "flag": self.flag}
        if self.step:
            payload["step"] = self.step
        if self.values:
            payload["values"] = dict(self.values)
        payload["key"] = self.key or intent_key(self.action, self.flag, self.step, self.values)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        # "--" would end the HTML comment early; JSON never needs it outside strings.
        return "<!-- gl-rollout " + text.replace("--", "-\\u002d") + " -->"


def intent_key(action: str, flag: str, step: str | None, values: Mapping[str, Any]) -> str:
    """A stable short hash of what a note means (not when it was posted)."""
    import hashlib  # here, not at import: `status --file` never hashes

    blob = json.dumps([action, flag, step, dict(values)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def find_note_marker(body: str) -> NoteMarker | None:
    """The marker in a note body, or None if the note is not ours (or the marker is damaged)."""
    match = _NOTE_MARKER.search(body)
    if not match:
        return None
    try:
        payload = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("action"), str):
        return None
    flag = payload.get("flag")
    step = payload.get("step")
    values = payload.get("values") or {}
    key = payload.get("key") or ""
    if not isinstance(flag, str) or not isinstance(values, dict) or not isinstance(key, str):
        return None
    return NoteMarker(
        action=payload["action"],
        flag=flag,
        step=step if isinstance(step, str) else None,
        values=values,
        key=key,
    )


def marker_envs(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The environments an enable/disable marker names (`envs`, or one `env`); none: production."""
    raw = values.get("envs", values.get("env"))
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list | tuple):
        return tuple(str(e) for e in raw)
    return ()


def marker_percentage(values: Mapping[str, Any]) -> float | None:
    """The share an enable/disable marker set: its `percentage`, else its `value` (true 100, false 0, or
    a number, as a number or text); None when it names none."""
    for key in ("percentage", "value"):
        raw = values.get(key)
        if isinstance(raw, bool):
            return 100.0 if raw else 0.0
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            if raw.lower() in ("true", "false"):
                return 100.0 if raw.lower() == "true" else 0.0
            try:
                return float(raw)
            except ValueError:
                continue
    return None
