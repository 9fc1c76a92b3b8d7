"""`gl-rollout demo`: the main job end to end against the embedded sandbox, one use case after another.

It runs the same use cases as the commands it prints (`create`, `status`, `announce`, `enable`, `check`),
through the same python-gitlab adapter and real HTTP, and keeps each one's Result, so the CLI shows
each command's own output under it: what the demo prints is what the commands print. A second
run finds the issue, the comments and the ticks already there and writes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gl_rollout.core.refs import IssueRef
from gl_rollout.core.times import parse_eta
from gl_rollout.render.issue import RenderOptions, render_issue
from gl_rollout.result import Result
from gl_rollout.workflows.announce import announce_eta
from gl_rollout.workflows.enable import FlagOptions, set_flag
from gl_rollout.workflows.posting import DEFAULT_PATIENCE, Patience
from gl_rollout.workflows.rollout import CreateOptions, check, create, status

if TYPE_CHECKING:
    from gl_rollout.cli.connection import Client

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


def run_demo(client: Client, *, patience: Patience = DEFAULT_PATIENCE) -> Result:
    """Create, status, announce, enable on staging (applied to the sandbox), check, status; then the issue."""
    api = client.api
    project = client.project
    steps: list[dict[str, Any]] = []

    def record(command: str, line: str, result: Result) -> bool:
        steps.append(
            {
                "command": command,
                "command_line": line,
                "ok": result.ok,
                "exit_code": int(result.exit_code),
                "messages": list(result.messages),
                "error": result.error.one_line() if result.error is not None else None,
                "data": result.data,
            }
        )
        return result.ok

    def failed(result: Result) -> Result:
        assert result.error is not None
        return Result.failure("demo", result.error, data={"steps": steps})

    created = create(api, render_issue(DEMO_RENDER), CreateOptions(project=project, patience=patience))
    if not record(
        "create", _line("create", DEMO_FLAG, *_render_args(DEMO_RENDER), "--project", project), created
    ):
        return failed(created)
    ref = IssueRef(project, int(created.data["iid"]))
    reference = f"{project}#{ref.iid}"

    plan: list[tuple[str, str, Callable[[], Result]]] = [
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
                admin_api=client.admin_api,
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
    data = {
        "steps": steps,
        "final": {
            "iid": final.iid,
            "reference": final.reference,
            "title": final.title,
            "web_url": final.web_url,
            "labels": list(final.labels),
            "description": final.description,
        },
    }
    wrote = any(
        step["data"].get("created") or step["data"].get("posted") or step["data"].get("written")
        for step in steps
    )
    closing = "the sandbox keeps this state; run the commands above yourself, or `gl-rollout demo` again"
    if not wrote:
        closing = (
            "nothing to do: everything was already done (run with --sandbox-db FILE for a fresh sandbox)"
        )
    return Result(command="demo", data=data, messages=[closing])
