"""Offline commands that need no GitLab: `render` (the rollout issue) and `templates` (the built-in ones).

The render options are declared once, in `RENDER_PARAMETERS`; `with_render_options` adds them to any
command (`render` here, `create` elsewhere), which then receives one `RenderOptions` as `options`.
jinja2 and ruamel.yaml are imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gl_rollout.cli.app import app, run_command
from gl_rollout.cli.options import OptionGroup, with_option_group
from gl_rollout.cli.printer import Printer
from gl_rollout.result import Result

if TYPE_CHECKING:
    from gl_rollout.render.issue import RenderOptions

# The render options every rendering command takes.
RENDER_PARAMETERS: OptionGroup = {
    "flag": (
        Annotated[
            str | None,
            typer.Argument(
                metavar="FLAG",
                help="Feature flag name (lowercase, digits, single underscores; '-' becomes '_'). "
                "Optional with --definition.",
                show_default=False,
            ),
        ],
        None,
    ),
    "template": (
        Annotated[
            str,
            typer.Option(
                "--template", "-t", help="Built-in template name (rollout, rollout-detailed) or a path."
            ),
        ],
        "rollout",
    ),
    "definition": (
        Annotated[
            Path | None,
            typer.Option(
                "--definition",
                help="GitLab flag definition YAML (config/feature_flags/<type>/<name>.yml) to pre-fill from; "
                "explicit options win.",
            ),
        ],
        None,
    ),
    "group": (
        Annotated[
            str | None,
            typer.Option(
                "--group", help="Owning group, e.g. 'product analytics'; adds the ~\"group::NAME\" label."
            ),
        ],
        None,
    ),
    "team": (Annotated[str | None, typer.Option("--team", help="Team name (default: the group).")], None),
    "slack": (
        Annotated[str | None, typer.Option("--slack", help="Team Slack channel, e.g. #g_my_team.")],
        None,
    ),
    "owner": (
        Annotated[
            list[str] | None, typer.Option("--owner", help="DRI / person to reach out to (repeatable).")
        ],
        None,
    ),
    "beta_project": (
        Annotated[
            list[str] | None,
            typer.Option("--beta-project", help="Project path to enable first (repeatable, or comma list)."),
        ],
        None,
    ),
    "beta_group": (
        Annotated[
            list[str] | None,
            typer.Option("--beta-group", help="Group path to enable first (repeatable, or comma list)."),
        ],
        None,
    ),
    "milestone": (Annotated[str | None, typer.Option("--milestone", help="Milestone, e.g. 17.2.")], None),
    "feature_issue": (
        Annotated[str | None, typer.Option("--feature-issue", help="URL of the feature issue.")],
        None,
    ),
    "introduced_by": (
        Annotated[
            str | None, typer.Option("--introduced-by", help="URL of the merge request that added the flag.")
        ],
        None,
    ),
    "flag_type": (
        Annotated[
            str | None,
            typer.Option(
                "--type", help="Flag type: gitlab_com_derisk, wip, beta, ops, experiment, worker, undefined."
            ),
        ],
        None,
    ),
    "expect": (
        Annotated[str | None, typer.Option("--expect", help="What are we expecting to happen?")],
        None,
    ),
    "risks": (
        Annotated[str | None, typer.Option("--risks", help="What might happen if this goes wrong?")],
        None,
    ),
    "monitor": (
        Annotated[str | None, typer.Option("--monitor", help="What can we monitor to detect problems?")],
        None,
    ),
    "var": (
        Annotated[
            list[str] | None,
            typer.Option("--var", help="Extra template variable KEY=VALUE (repeatable)."),
        ],
        None,
    ),
    "chatops_prefix": (
        Annotated[str, typer.Option("--chatops-prefix", help='ChatOps prefix, e.g. "/chatops gitlab run".')],
        "/chatops run",
    ),
    "ramp": (
        Annotated[
            str | None,
            typer.Option(
                "--ramp", help="Production percentages for rollout-detailed (default 1,10,25,50,75,100)."
            ),
        ],
        None,
    ),
}


def build_render_options(values: dict[str, Any]) -> RenderOptions:
    """RenderOptions from the raw option values (never raises: `render_issue` validates).

    An empty --template, --chatops-prefix or --ramp means the default, as if it were not given.
    """
    from gl_rollout.render.issue import RenderOptions

    defaults = RenderOptions()

    def many(name: str) -> tuple[str, ...]:
        return tuple(values.get(name) or ())

    return RenderOptions(
        flag=values.get("flag"),
        template=values.get("template") or defaults.template,
        group=values.get("group"),
        team=values.get("team"),
        slack=values.get("slack"),
        owners=many("owner"),
        beta_projects=many("beta_project"),
        beta_groups=many("beta_group"),
        milestone=values.get("milestone"),
        feature_issue_url=values.get("feature_issue"),
        introduced_by_url=values.get("introduced_by"),
        flag_type=values.get("flag_type"),
        expect=values.get("expect"),
        risks=values.get("risks"),
        monitor=values.get("monitor"),
        variables=many("var"),
        chatops_prefix=values.get("chatops_prefix") or defaults.chatops_prefix,
        ramp=values.get("ramp") or defaults.ramp,
        definition=values.get("definition"),
    )


# Gives a Typer command the render options, received as one `options: RenderOptions`; the FLAG
# argument comes right after `ctx`, the command's own parameters next, the render options last.
with_render_options = with_option_group(RENDER_PARAMETERS, build_render_options, into="options", leading=1)


def render_result(options: RenderOptions, output: Path | None) -> Result:
    """Render the rollout issue; with `output`, also write its description there atomically."""
    from gl_rollout.core.checklist import parse_checklist
    from gl_rollout.render.issue import render_issue

    issue = render_issue(options)
    checklist = parse_checklist(issue.description)
    data: dict[str, Any] = {
        "flag": issue.flag,
        "title": issue.title,
        "description": issue.description,
        "labels": list(issue.labels),
        "steps": [step.to_dict() for step in checklist.steps],
    }
    messages = list(issue.notes)
    if output is not None:
        from gl_rollout.files import write_atomic

        write_atomic(output, issue.description, streams=True)
        data["output"] = str(output)
        messages.append(f"wrote the description to {output}")
    return Result(command="render", data=data, messages=messages)


def _print_rendered(result: Result, printer: Printer) -> None:
    for message in result.messages:
        printer.note(message)
    printer.line(result.data["title"])
    if "output" not in result.data:
        printer.line()
        printer.human.write(result.data["description"])


@app.command("render")
@with_render_options
def render_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the description to FILE (atomically, or into a device or FIFO), not to stdout.",
        ),
    ] = None,
    *,
    options: RenderOptions,
) -> None:
    """Render the rollout issue for FLAG: the title, a blank line, then the description.

    With --json: {title, description, labels, steps}. Nothing is sent to GitLab.
    """
    run_command(ctx, "render", lambda: render_result(options, output), _print_rendered)


def templates_result() -> Result:
    """The built-in templates, their step IDs (rendered with the default options) and the variables."""
    from gl_rollout.core.checklist import parse_checklist
    from gl_rollout.render.issue import TEMPLATE_VARIABLES, RenderOptions, render_issue
    from gl_rollout.render.templating import BUILTIN_TEMPLATES, DEFAULT_TEMPLATE, builtin_template_path

    templates = []
    for name, info in BUILTIN_TEMPLATES.items():
        issue = render_issue(RenderOptions(flag="example_flag", template=name))
        templates.append(
            {
                "name": name,
                "default": name == DEFAULT_TEMPLATE,
                "summary": info.summary,
                "path": str(builtin_template_path(name)),
                "steps": [step.id for step in parse_checklist(issue.description).steps],
            }
        )
    return Result(command="templates", data={"templates": templates, "variables": dict(TEMPLATE_VARIABLES)})


def _print_templates(result: Result, printer: Printer) -> None:
    for template in result.data["templates"]:
        default = " (default)" if template["default"] else ""
        printer.line(f"{template['name']}{default}: {template['summary']}")
        printer.line(f"  {len(template['steps'])} steps: {', '.join(template['steps'])}")
        printer.line()
    printer.line("Variables for --template PATH (values printed with {{ }} are neutralised):")
    for name, text in result.data["variables"].items():
        printer.line(f"  {name}: {text}")


@app.command("templates")
def templates_command(ctx: typer.Context) -> None:
    """List the built-in rollout templates, their step IDs and the template variables."""
    run_command(ctx, "templates", templates_result, _print_templates)
