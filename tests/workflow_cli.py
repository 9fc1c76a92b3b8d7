"""Helpers for the workflow tests: run the real CLI in-process against a sandbox, count its requests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gl_rollout.sandbox import LoggedRequest, Sandbox
from tests.helpers import CliResult, run_cli

FLAG = "product_analytics_aggregated_metrics"
TITLE = f"[Feature flag] Rollout of `{FLAG}`"


# The sandbox's request timeout as the tool is told it: no fault of the tests holds a write longer, so
# a write whose answer was lost has landed by then, or never will (GitLab's own is 60 s).
SERVER_TIMEOUT = "2"


def env_for(sb: Sandbox, role: str = "developer", **extra: str) -> dict[str, str]:
    """The whole environment of a run: the sandbox's URL and a token of `role` (never on the command line)."""
    assert sb.url is not None
    env = {"GITLAB_URL": sb.url, "HOME": "/nonexistent", "GL_ROLLOUT_SERVER_TIMEOUT": SERVER_TIMEOUT}
    if role == "job":
        env["CI_JOB_TOKEN"] = sb.tokens["job"]
    elif role:
        env["GITLAB_TOKEN"] = sb.tokens[role]
    env.update(extra)
    return env


@dataclass
class Run:
    """One CLI run: its result, its JSON envelope (with --json) and the requests it sent."""

    result: CliResult
    requests: list[LoggedRequest]

    @property
    def code(self) -> int:
        return self.result.code

    @property
    def envelope(self) -> dict[str, Any]:
        return dict(json.loads(self.result.stdout))

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.envelope["data"])

    def methods(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method in {"POST", "PUT", "DELETE"}]


def run(sb: Sandbox, *args: str, role: str = "developer", env: dict[str, str] | None = None) -> Run:
    """`gl-rollout ARGS` against the sandbox; the request log is cleared first so `requests` is this run's."""
    sb.clear_log()
    result = run_cli(list(args), env=env if env is not None else env_for(sb, role))
    return Run(result, sb.request_log)


def create(sb: Sandbox, *extra: str, flag: str = FLAG) -> dict[str, Any]:
    """Create the rollout issue through the CLI; returns `data` of the envelope."""
    done = run(sb, "create", flag, "--project", sb.project_path, "--json", *extra)
    assert done.code == 0, done.result.output
    return done.data


def ref_of(sb: Sandbox, iid: int) -> str:
    return f"{sb.project_path}#{iid}"


def user_notes(sb: Sandbox, iid: int) -> list[dict[str, Any]]:
    return [n for n in sb.notes(None, iid) if not n["system"]]


def description(sb: Sandbox, iid: int) -> str:
    return str(sb.get_issue(None, iid)["description"])


def box(sb: Sandbox, iid: int, step: str) -> str:
    """The bracket of a step's line in the stored description: "[ ]", "[x]" or "[~]"."""
    for line in description(sb, iid).splitlines():
        if f"<!-- step:{step} -->" in line:
            start = line.index("[")
            return line[start : start + 3]
    raise AssertionError(f"no step {step}")
