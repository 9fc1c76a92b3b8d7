"""What a use case did: a `Result` holds its typed outcome, lines for people, and the error if it failed.

Each use case returns a `Result` whose `value` is a dataclass of its own (`StatusOutcome`, `CheckOutcome`,
...). The envelope's `data` is derived from that value here, in `to_data`, and nowhere else; the human
views (`gl_rollout.cli.views`) read the same value. Only the CLI prints (`gl_rollout.cli.printer`).

A field becomes the key of its name. Field metadata shapes the few keys that are not always there:
`OMIT_NONE` leaves a key out while it is None, `FLATTEN` puts a nested value's keys at this level
(in field order), and `ABSENT` marks a key a failure left unwritten. A value that has its own JSON
shape (a step, a verdict, an event of the timeline) says so with a `to_dict()` method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from gl_rollout.errors import ExitCode, RolloutError

V = TypeVar("V")


class _Absent:
    """A key left out of the envelope (the field is not None, it is not there at all)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


# Field metadata: `field(default=None, metadata=OMIT_NONE)`, `field(metadata=FLATTEN)`.
OMIT_NONE: Final = MappingProxyType({"omit_none": True})
FLATTEN: Final = MappingProxyType({"flatten": True})


def to_data(value: object) -> Any:
    """The JSON form of a use case's outcome: the envelope's `data` (see the module docstring)."""
    if isinstance(value, _Absent):
        return None
    to_dict = getattr(value, "to_dict", None)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if callable(to_dict):
            return to_dict()
        data: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            inner = getattr(value, item.name)
            if isinstance(inner, _Absent) or (inner is None and item.metadata.get("omit_none")):
                continue
            if item.metadata.get("flatten"):
                if inner is not None:
                    data.update(to_data(inner))
                continue
            data[item.name] = to_data(inner)
        return data
    if isinstance(value, Mapping):
        return {str(key): to_data(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(inner) for inner in value]
    return value


@dataclass
class Result(Generic[V]):
    """What a use case did: its typed outcome (`value`), lines for people, and the error if it failed."""

    command: str
    value: V | None = None
    ok: bool = True
    messages: list[str] = field(default_factory=list)
    error: RolloutError | None = None
    exit_code: ExitCode = ExitCode.OK
    debug: list[str] = field(default_factory=list)  # shown with --debug only (on stderr), never in `data`

    @property
    def data(self) -> dict[str, Any]:
        """The envelope's `data`: the outcome in its JSON form ({} when there is none)."""
        if self.value is None:
            return {}
        data = to_data(self.value)
        return data if isinstance(data, dict) else {"value": data}

    @classmethod
    def failure(cls, command: str, error: RolloutError, value: V | None = None) -> Result[V]:
        return cls(command=command, value=value, ok=False, error=error, exit_code=error.exit_code)
