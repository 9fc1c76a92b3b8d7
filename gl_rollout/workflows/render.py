"""Use cases `render` (the rollout issue as text, or into a file) and `templates` (the built-in ones).

Nothing is sent to GitLab. jinja2 and ruamel.yaml load only when a template is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gl_rollout.core.checklist import Step, parse_checklist
from gl_rollout.files import write_atomic
from gl_rollout.render.issue import TEMPLATE_VARIABLES, RenderOptions, render_issue
from gl_rollout.render.templating import BUILTIN_TEMPLATES, DEFAULT_TEMPLATE, builtin_template_path
from gl_rollout.result import OMIT_NONE, Result


@dataclass(frozen=True)
class RenderOutcome:
    """The rendered issue: flag, title, description, labels, its steps; the file written with `-o`."""

    flag: str
    title: str
    description: str
    labels: tuple[str, ...]
    steps: tuple[Step, ...]
    output: str | None = field(default=None, metadata=OMIT_NONE)


def render(options: RenderOptions, output: Path | None) -> Result[RenderOutcome]:
    """Render the rollout issue; with `output`, also write its description there atomically."""
    issue = render_issue(options)
    checklist = parse_checklist(issue.description)
    messages = list(issue.notes)
    if output is not None:
        write_atomic(output, issue.description, streams=True)
        messages.append(f"wrote the description to {output}")
    outcome = RenderOutcome(
        issue.flag,
        issue.title,
        issue.description,
        tuple(issue.labels),
        checklist.steps,
        str(output) if output is not None else None,
    )
    return Result("render", outcome, messages=messages)


@dataclass(frozen=True)
class TemplateInfo:
    """A built-in template: its name, whether it is the default, what it is, where, and its step IDs."""

    name: str
    default: bool
    summary: str
    path: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class TemplatesOutcome:
    """The built-in templates, and the variables a custom template can use (name -> what it holds)."""

    templates: tuple[TemplateInfo, ...]
    variables: Mapping[str, str]


def templates() -> Result[TemplatesOutcome]:
    """The built-in templates, their step IDs (rendered with the default options) and the variables."""
    found = []
    for name, info in BUILTIN_TEMPLATES.items():
        issue = render_issue(RenderOptions(flag="example_flag", template=name))
        steps = tuple(step.id for step in parse_checklist(issue.description).steps)
        found.append(
            TemplateInfo(
                name, name == DEFAULT_TEMPLATE, info.summary, str(builtin_template_path(name)), steps
            )
        )
    return Result("templates", TemplatesOutcome(tuple(found), dict(TEMPLATE_VARIABLES)))
