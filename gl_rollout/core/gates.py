"""What a flag's gates in the Features API say about a rollout. Pure.

A flag is fully on with a boolean gate set or a 100% percentage gate, partly on with a percentage gate
between 0 and 100, on for named actors with an actors or groups gate, and explicitly off when the
instance lists it with no gate at all. A flag the instance does not list (`feature` None) says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gl_rollout.core.model import Feature, Gate

FeaturesEnv = Literal["production", "staging"]

_PERCENTAGE_GATES = ("percentage_of_time", "percentage_of_actors")


@dataclass(frozen=True)
class FeatureReading:
    """The flag's gates as one instance's Features API showed them, and when.

    `feature` is None when the instance does not list the flag at all.
    """

    env: FeaturesEnv
    feature: Feature | None
    observed_at: str
    url: str = ""

    @property
    def summary(self) -> str:
        """`Features API on production: on for everyone`, as evidence and the timeline show it."""
        return f"Features API on {self.env}: {describe_gates(self.feature)}"


def _percent(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def fully_on(gates: Sequence[Gate]) -> bool:
    """A boolean gate set, or a 100% percentage gate: everyone has the flag."""
    for gate in gates:
        if gate.key == "boolean" and gate.value is True:
            return True
        if gate.key in _PERCENTAGE_GATES and _percent(gate.value) == 100.0:
            return True
    return False


def partial_percentage(gates: Sequence[Gate]) -> float | None:
    """The percentage of a gate between 0 and 100 exclusive, when the flag is not fully on."""
    if fully_on(gates):
        return None
    for gate in gates:
        if gate.key in _PERCENTAGE_GATES:
            pct = _percent(gate.value)
            if pct is not None and 0 < pct < 100:
                return pct
    return None


def actor_gates(gates: Sequence[Gate]) -> bool:
    """Whether the flag is on for named actors (projects, groups, users) or feature groups."""
    return any(gate.key in ("actors", "groups") and gate.value for gate in gates)


def describe_gates(feature: Feature | None) -> str:
    """The gates in a few words: `on for everyone`, `25% of actors`, `actors: 3`, `off (no gates)`."""
    if feature is None:
        return "not set on this instance"
    if not feature.gates:
        return "off (no gates)"
    parts = []
    for gate in feature.gates:
        if gate.key == "boolean":
            parts.append("on for everyone" if gate.value is True else "boolean off")
        elif gate.key in _PERCENTAGE_GATES:
            parts.append(f"{gate.value}% of {gate.key.removeprefix('percentage_of_')}")
        elif isinstance(gate.value, list | tuple | set):
            parts.append(f"{gate.key}: {len(gate.value)}")
        else:
            parts.append(f"{gate.key}: {gate.value}")
    return ", ".join(parts)


def gates_fingerprint(feature: Feature | None) -> str:
    """A stable text of a flag's gates, so a sync state file can tell when they changed."""
    if feature is None:
        return "absent"
    parts = []
    for gate in sorted(feature.gates, key=lambda g: g.key):
        value = (
            sorted(str(v) for v in gate.value) if isinstance(gate.value, list | tuple | set) else gate.value
        )
        parts.append(f"{gate.key}={value}")
    return ";".join(parts) or "off"
