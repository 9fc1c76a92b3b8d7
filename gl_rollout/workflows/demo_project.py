"""`gl-rollout demo --flag-backend project`: a project feature flag's rollout end to end against the sandbox.

The same use cases as the commands it prints: `create --flag-backend project --create-flag`, `status`,
`enable --env staging`, `check test-staging`, `announce --eta`, the ramp `enable --percentage 10`, 25, 50
and 100, `status`; then what an application sees: for each environment, GitLab's Unleash API read as
an Unleash client reads it and evaluated for 1,000 sample user ids (`gl_rollout.core.unleash_eval`, no
Unleash SDK needed). A second run finds everything done and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from gl_rollout.core.checklist import parse_checklist
from gl_rollout.core.refs import IssueRef
from gl_rollout.core.times import parse_eta
from gl_rollout.core.unleash_eval import share_on
from gl_rollout.gitlab.api import GitLabAPI
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import Result
from gl_rollout.workflows.announce import announce_eta
from gl_rollout.workflows.check import check
from gl_rollout.workflows.create import CreateOptions
from gl_rollout.workflows.demo import DEMO_ETA, DemoIssue, DemoOutcome, DemoStep, UnleashView, _line
from gl_rollout.workflows.enable import FlagOptions
from gl_rollout.workflows.flag_command import set_flag_of_issue
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.project_flag_create import create_with_flag
from gl_rollout.workflows.project_flags import ProjectFlagOptions
from gl_rollout.workflows.status import status

DEMO_PROJECT_FLAG = "new-checkout"
DEMO_PROJECT_RENDER = RenderOptions(
    flag=DEMO_PROJECT_FLAG,
    flag_backend="project",
    group="fulfillment",
    slack="#g_fulfillment",
    expect="Buyers go through the new one-page checkout.",
    risks="Payments could fail for part of the users; turn the flag off in production to roll back.",
    monitor="The checkout error rate and payment success dashboards.",
)
SAMPLE_USERS = tuple(f"user-{number}" for number in range(1, 1001))

UnleashReader = Callable[[str], Sequence[Mapping[str, Any]]]  # environment -> the features served


def run_project_demo(
    api: GitLabAPI, project: str, unleash: UnleashReader, *, patience: Patience = DEFAULT_PATIENCE
) -> Result[DemoOutcome]:
    """The project-flag rollout, step by step (see the module docstring)."""
    steps: list[DemoStep] = []

    def record(command: str, line: str, result: Result[Any]) -> bool:
        steps.append(
            DemoStep(
                command if result.value is not None else "-",
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

    rendered = render_issue(DEMO_PROJECT_RENDER)
    created = create_with_flag(api, rendered, CreateOptions(project=project, patience=patience))
    line = _line(
        "create", DEMO_PROJECT_FLAG, "--flag-backend", "project", "--create-flag", "--group", "fulfillment",
        "--project", project,
    )  # fmt: skip
    if not record("create", line, created):
        return failed(created)
    assert created.value is not None
    assert created.value.issue.iid is not None
    ref = IssueRef(project, created.value.issue.iid)
    reference = f"{project}#{ref.iid}"

    def enable(*, env: str | None = None, percentage: int | None = None) -> Callable[[], Result[Any]]:
        envs = (env,) if env else ()
        return lambda: set_flag_of_issue(
            api,
            ref,
            FlagOptions(envs=envs, percentage=percentage),
            ProjectFlagOptions(envs=envs, percentage=percentage),
            enable=True,
            patience=patience,
        )

    plan: list[tuple[str, str, Callable[[], Result[Any]]]] = [
        ("status", _line("status", reference), lambda: status(api, ref)),
        ("enable", _line("enable", reference, "--env", "staging"), enable(env="staging")),
        (
            "check",
            _line("check", reference, "test-staging"),
            lambda: check(api, ref, ["test-staging"], "done", dry_run=False),
        ),
        (
            "announce",
            _line("announce", reference, "--eta", DEMO_ETA),
            lambda: announce_eta(api, ref, parse_eta(DEMO_ETA), patience=patience),
        ),
    ]

    def ramp(percentage: int) -> Callable[[], Result[Any]]:
        """A ramp step, unless the rollout went past it (a second run): lowering is not the demo's job."""

        def run() -> Result[Any]:
            issue = api.get_issue(ref.project, ref.iid)
            done = parse_checklist(issue.description).find(f"ramp-{percentage}")
            if done is not None and done.state == "done":
                return Result("enable", None, messages=[f"ramp-{percentage} is done already: skipped"])
            return enable(percentage=percentage)()

        return run

    plan += [("enable", _line("enable", reference, "--percentage", str(p)), ramp(p)) for p in (10, 25, 50)]
    plan += [
        (
            "status",
            _line("status", reference, "--timeline"),
            lambda: status(api, ref, timeline=True),
        ),
        ("enable", _line("enable", reference, "--percentage", "100"), enable(percentage=100)),
        ("status", _line("status", reference), lambda: status(api, ref)),
    ]
    assert rendered.rollout is not None
    views: list[UnleashView] = []

    def look(moment: str, environments: Sequence[str]) -> None:
        for env in environments:
            features = unleash(env)
            served = next((f for f in features if f.get("name") == DEMO_PROJECT_FLAG), None)
            names = tuple(str(s.get("name")) for s in (served or {}).get("strategies") or ())
            on = share_on(features, DEMO_PROJECT_FLAG, SAMPLE_USERS)
            enabled = bool(served and served.get("enabled"))
            views.append(UnleashView(env, DEMO_PROJECT_FLAG, enabled, names, on, len(SAMPLE_USERS), moment))

    for command, text, run in plan:
        if text.endswith("--percentage 100"):
            look("before the last ramp step", [rendered.rollout.production])
        result = run()
        if not record(command, text, result):
            return failed(result)

    look("at the end", rendered.rollout.environments)
    final = api.get_issue(ref.project, ref.iid)
    issue = DemoIssue(
        final.iid, final.reference, final.title, final.web_url, tuple(final.labels), final.description
    )
    wrote = any(
        bool(getattr(step.data, name, False)) for step in steps for name in ("created", "posted", "written")
    )
    closing = "the sandbox keeps this state; run the commands above yourself, or the demo again"
    if not wrote:
        closing = (
            "nothing to do: everything was already done (run with --sandbox-db FILE for a fresh sandbox)"
        )
    outcome = replace(DemoOutcome(tuple(steps), issue), unleash=tuple(views))
    return Result("demo", outcome, messages=[closing])
