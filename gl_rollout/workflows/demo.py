"""`gl-rollout demo`: the main job end to end against the embedded sandbox, one use case after another.

It runs the same use cases as the commands it prints (`create`, `status`, `announce`, `enable`, `check`),
through the same python-gitlab adapter and real HTTP, and keeps each one's Result, so the CLI shows
each command's own output under it: what the demo prints is what the commands print. A second
run finds the issue, the comments and the ticks already there and writes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gl_rollout.core.refs import IssueRef
from gl_rollout.core.times import parse_eta
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import OMIT_NONE, Result
from gl_rollout.workflows.announce import announce_eta
from gl_rollout.workflows.check import check
from gl_rollout.workflows.create import CreateOptions, create
from gl_rollout.workflows.enable import FlagOptions, set_flag
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.status import status

DEMO_FLAG = "product_analytics_aggregated_metrics"
DEMO_ETA = "in 2h"

# The project's seed issue, as options (its wording is the seed's, the shape is the `rollout` template's).
DEMO_RENDER = RenderOptions(
    flag=DEMO_FLAG,
    group="product analytics",
    team="Product analytics",
    slack="#g_product_analytics",
    owners=("@gitlab-org/growth/product_analytics/engineers",),
    beta_projects=("gitlab-org/gitlab",),
    beta_groups=("gitlab-com",),
    expect="Obtaining the union of event counts becomes possible when usage ping data is collected.",
    risks="Collecting usage ping may break; computing unions may add load on Redis.",
    monitor="Incoming usage pings, and the Redis dashboard.",
)


def _render_args(options: RenderOptions) -> tuple[str, ...]:
    """`create`'s options for `options`: the command line the demo prints makes the same issue."""
    pairs: list[tuple[str, str | None]] = [
        ("--group", options.group),
        ("--team", options.team),
        ("--slack", options.slack),
        *(("--owner", owner) for owner in options.owners),
        *(("--beta-project", project) for project in options.beta_projects),
        *(("--beta-group", group) for group in options.beta_groups),
        ("--expect", options.expect),
        ("--risks", options.risks),
        ("--monitor", options.monitor),
    ]
    return tuple(word for name, value in pairs if value for word in (name, value))


def _line(*words: str) -> str:
    return " ".join(["gl-rollout", "--sandbox", *(shlex.quote(word) for word in words)])


@dataclass(frozen=True)
class DemoStep:
    """One command the demo ran: the line a user would type, and that command's own outcome."""

    command: str
    command_line: str
    ok: bool
    exit_code: int
    messages: tuple[str, ...]
    error: str | None
    data: object  # the command's outcome, as its own `--json` shows it


@dataclass(frozen=True)
class DemoIssue:
    """The rollout issue at the end of the demo."""

    iid: int
    reference: str
    title: str
    web_url: str
    labels: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class UnleashView:
    """What an application's Unleash client in `environment` sees of the flag: how many of `users`
    sample user ids get it, as the evaluator decides from GitLab's Unleash API."""

    environment: str
    flag: str
    enabled: bool
    strategies: tuple[str, ...]
    users_on: int
    users: int
    moment: str = "at the end"  # after which step it was read


@dataclass(frozen=True)
class DemoOutcome:
    """Each step the demo ran, then the issue as it ends (absent when a step failed); with a project
    flag, what an Unleash client sees in each environment."""

    steps: tuple[DemoStep, ...]
    final: DemoIssue | None = field(default=None, metadata=OMIT_NONE)
    unleash: tuple[UnleashView, ...] | None = field(default=None, metadata=OMIT_NONE)


def run_demo(
    api: GitLabAPI, project: str, admin_api: Callable[[], GitLabAPI], *, patience: Patience = DEFAULT_PATIENCE
) -> Result[DemoOutcome]:
    """Create, status, announce, enable on staging (applied to `admin_api`), check, status; then the issue."""
    steps: list[DemoStep] = []

    def record(command: str, line: str, result: Result[Any]) -> bool:
        steps.append(
            DemoStep(
                command,
                line,
                result.ok,
                int(result.exit_code),
                tuple(result.messages),
                result.error.one_line() if result.error is not None else None,
                result.value if result.value is not None else {},
            )
        )
        return result.ok

    def failed(result: Result[Any]) -> Result[DemoOutcome]:
        assert result.error is not None
        return Result.failure("demo", result.error, DemoOutcome(tuple(steps)))

    created = create(api, render_issue(DEMO_RENDER), CreateOptions(project=project, patience=patience))
    if not record(
        "create", _line("create", DEMO_FLAG, *_render_args(DEMO_RENDER), "--project", project), created
    ):
        return failed(created)
    assert created.value is not None
    assert created.value.issue.iid is not None
    ref = IssueRef(project, created.value.issue.iid)
    reference = f"{project}#{ref.iid}"

    plan: list[tuple[str, str, Callable[[], Result[Any]]]] = [
        ("status", _line("status", reference), lambda: status(api, ref)),
        (
            "announce",
            _line("announce", reference, "--eta", DEMO_ETA),
            lambda: announce_eta(api, ref, parse_eta(DEMO_ETA), patience=patience),
        ),
        (
            "enable",
            _line("enable", reference, "--env", "staging", "--apply"),
            lambda: set_flag(
                api,
                ref,
                FlagOptions(envs=("staging",), apply=True),
                enable=True,
                admin_api=admin_api,
                patience=patience,
            ),
        ),
        (
            "check",
            _line("check", reference, "test-staging"),
            lambda: check(api, ref, ["test-staging"], "done", dry_run=False),
        ),
        ("status", _line("status", reference), lambda: status(api, ref)),
    ]
    for command, line, run in plan:
        result = run()
        if not record(command, line, result):
            return failed(result)

    final = api.get_issue(ref.project, ref.iid)
    issue = DemoIssue(
        final.iid, final.reference, final.title, final.web_url, tuple(final.labels), final.description
    )
    wrote = any(_wrote(step.data) for step in steps)
    closing = "the sandbox keeps this state; run the commands above yourself, or `gl-rollout demo` again"
    if not wrote:
        closing = (
            "nothing to do: everything was already done (run with --sandbox-db FILE for a fresh sandbox)"
        )
    return Result("demo", DemoOutcome(tuple(steps), issue), messages=[closing])


def _wrote(outcome: object) -> bool:
    """Whether a step created the issue, posted a comment or wrote the description."""
    return any(bool(getattr(outcome, name, False)) for name in ("created", "posted", "written"))
