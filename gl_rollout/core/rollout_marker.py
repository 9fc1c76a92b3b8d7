"""The rollout's own settings, hidden in its issue's description so later commands need no option. Pure.

`render`/`create` with `--flag-backend project` end the description with one line:
  `<!-- gl-rollout-flag {"v": 1, "backend": "project", "flag": "new-checkout", "environments": [...]} -->`
naming the flag, the project that holds it (absent: the issue's own project), the environments in
order (the last is production, where the ramp runs), the ramp, the stickiness and the beta user list.
An issue without the line is an instance rollout (GitLab's Features API and ChatOps), as before.
GitLab keeps HTML comments in descriptions and never shows them; a person who deletes the line turns
the issue back into an instance rollout, and `enable` then says what it needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gl_rollout.core.project_flag import (
    DEFAULT_ENVIRONMENTS,
    DEFAULT_PROJECT_RAMP,
    STICKINESS,
    check_environment,
    check_project_flag_name,
)
from gl_rollout.errors import UsageError

FlagBackendName = Literal["instance", "project"]
FLAG_BACKENDS: tuple[str, ...] = ("instance", "project")
MARKER_VERSION = 1
_MARKER = re.compile(r"<!--\s*gl-rollout-flag\s+(\{[^\n]*?\})\s*-->")


@dataclass(frozen=True)
class RolloutFlag:
    """Which flag a rollout drives and how: the project flag, its project, environments, ramp, ..."""

    flag: str
    backend: FlagBackendName = "project"
    project: str | None = None  # None: the rollout issue's own project
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    ramp: tuple[int, ...] = DEFAULT_PROJECT_RAMP
    stickiness: str = "default"
    beta_user_list: str | None = None

    @property
    def production(self) -> str:
        """The environment the ramp runs in: the last one."""
        return self.environments[-1]

    def project_for(self, issue_project: str) -> str:
        return self.project or issue_project

    def to_comment(self) -> str:
        payload: dict[str, Any] = {
            "v": MARKER_VERSION,
            "backend": self.backend,
            "flag": self.flag,
            "environments": list(self.environments),
            "ramp": list(self.ramp),
            "stickiness": self.stickiness,
        }
        if self.project:
            payload["project"] = self.project
        if self.beta_user_list:
            payload["beta_user_list"] = self.beta_user_list
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        # "--" would end the HTML comment early; JSON never needs it outside strings.
        return "<!-- gl-rollout-flag " + text.replace("--", "-\\u002d") + " -->"


def find_rollout_flag(description: str) -> RolloutFlag | None:
    """The marker of a project-flag rollout in a description, or None (an instance rollout, or a marker
    a person damaged: then the rollout is read as an instance one)."""
    match = _MARKER.search(description)
    if match is None:
        return None
    try:
        payload = json.loads(match.group(1))
    except ValueError:
        return None
    if not isinstance(payload, Mapping) or payload.get("backend") != "project":
        return None
    try:
        return _from_payload(payload)
    except (UsageError, TypeError, ValueError):
        return None


def _from_payload(payload: Mapping[str, Any]) -> RolloutFlag:
    flag = check_project_flag_name(str(payload["flag"]))
    project = payload.get("project")
    envs = tuple(check_environment(str(env)) for env in payload.get("environments") or DEFAULT_ENVIRONMENTS)
    ramp = tuple(int(p) for p in payload.get("ramp") or DEFAULT_PROJECT_RAMP)
    stickiness = str(payload.get("stickiness") or "default")
    beta = payload.get("beta_user_list")
    if not envs or stickiness not in STICKINESS:
        raise ValueError("incomplete")
    return RolloutFlag(
        flag,
        "project",
        str(project) if project else None,
        envs,
        ramp,
        stickiness,
        str(beta) if beta else None,
    )
