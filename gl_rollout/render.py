"""Render the rollout issue from a Jinja template: sandboxed, strict, and safe to paste into GitLab.

Templates run in Jinja's immutable sandbox with undefined variables as errors. Every value a template
prints with `{{ ... }}` is neutralised (`gl_rollout.neutralise`), so text from options, definitions or
`--var` can neither run a quick action, mass-mention, break out of a code span nor hide steps in an HTML
comment; text the template author writes outside `{{ ... }}` is kept as written.

A template names the issue title with a top-level `{% set title %}...{% endset %}` (or
`{% set title = ... %}`); without one, the title is ``[Feature flag] Rollout of `<flag>` ``.
jinja2 is imported only when rendering, so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gl_rollout import chatops
from gl_rollout.errors import UsageError
from gl_rollout.neutralise import finalize, inert_title, resolve_marks, strip_marks

DEFAULT_TEMPLATE = "rollout"
DEFAULT_RAMP: tuple[int, ...] = (1, 10, 25, 50, 75, 100)
FEATURE_FLAG_LABEL = "feature flag"
GROUP_LABEL_PREFIX = "group::"
MAX_TITLE = 255  # GitLab refuses longer issue titles
MAX_DESCRIPTION = 1_048_576  # GitLab's description limit, in characters


@dataclass(frozen=True)
class BuiltinTemplate:
    name: str
    filename: str
    summary: str


BUILTIN_TEMPLATES: dict[str, BuiltinTemplate] = {
    t.name: t
    for t in (
        BuiltinTemplate(
            "rollout",
            "rollout.md.j2",
            "The seed issue's shape: What, Owners, Expectations, Beta groups/projects and 11 roll-out steps.",
        ),
        BuiltinTemplate(
            "rollout-detailed",
            "rollout-detailed.md.j2",
            "Non-production, specific and global production rollout as a percentage ramp, release, rollback.",
        ),
    )
}

# Names a template can use; `--var` may not reuse them.
TEMPLATE_VARIABLES: dict[str, str] = {
    "flag": "the feature flag name (validated, lowercase with underscores)",
    "description": "the definition's description, or none",
    "group": "the group name without the group:: prefix, or none",
    "group_label": "the scoped group label (group::NAME), or none",
    "team": "the team name (defaults to the group name)",
    "slack": "the team's Slack channel, starting with #, or none",
    "owners": "the DRIs / people to reach out to (list)",
    "beta_projects": "projects to enable the flag for first (list)",
    "beta_groups": "groups to enable the flag for first (list)",
    "milestone": "the milestone, or none",
    "feature_issue_url": "the feature issue URL, or none",
    "introduced_by_url": "the merge request that introduced the flag, or none",
    "rollout_issue_url": "the definition's rollout_issue_url, or none",
    "flag_type": "the flag type (gitlab_com_derisk, beta, ops, ...), or none",
    "default_enabled": "the definition's default_enabled, or none",
    "expect": "what we expect to happen, or none",
    "risks": "what might go wrong, or none",
    "monitor": "what to monitor to detect problems, or none",
    "chatops_prefix": "the ChatOps prefix, /chatops run by default",
    "ramp": "the production percentages, 1, 10, 25, 50, 75, 100 by default (list)",
    "cmd": "ready ChatOps commands: staging, non_production, production, beta (list), ramp (list of "
    "{percent, command}), disable_production, disable_staging, disable_non_production, delete",
    "labels": "the labels the issue gets (list)",
    "vars": "every --var key=value (mapping); each key is also a variable of its own",
    "title": "set it at top level to name the issue title",
}


@dataclass(frozen=True)
class RenderOptions:
    """Every option that shapes the rollout issue, as given on the command line; `render` and `create` use it.

    Building one never fails: `render_issue` validates every field and raises UsageError.
    """

    flag: str | None = None
    template: str = DEFAULT_TEMPLATE
    group: str | None = None
    team: str | None = None
    slack: str | None = None
    owners: tuple[str, ...] = ()
    beta_projects: tuple[str, ...] = ()
    beta_groups: tuple[str, ...] = ()
    milestone: str | None = None
    feature_issue_url: str | None = None
    introduced_by_url: str | None = None
    flag_type: str | None = None
    expect: str | None = None
    risks: str | None = None
    monitor: str | None = None
    variables: tuple[str, ...] = ()  # `key=value`, as `--var` takes them
    chatops_prefix: str = chatops.DEFAULT_PREFIX
    ramp: str | tuple[int, ...] = DEFAULT_RAMP  # `1,10,50,100` as `--ramp` takes it, or the numbers
    definition: Path | None = None


@dataclass(frozen=True)
class RenderedIssue:
    """The issue to create: title, description (ends with the label quick actions) and its labels."""

    title: str
    description: str
    labels: tuple[str, ...]
    flag: str = ""
    notes: tuple[str, ...] = field(default=())


# --- validation of option values -----------------------------------------------------------------------

_FLAG_RE = chatops.FLAG_NAME_RE
_GROUP_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.&+()/-]*$")
_SLACK_RE = re.compile(r"^#[a-z0-9][a-z0-9._-]*$")
_OWNER_HANDLE_RE = re.compile(r"^@?[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_URL_RE = re.compile(r"^https?://\S+$")
_VAR_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_flag_name(name: str) -> tuple[str, list[str]]:
    """GitLab's flag-name rule; `-` becomes `_` and upper case is lowered, with a note saying so."""
    raw = name.strip()
    normalised = raw.lower().replace("-", "_")
    notes: list[str] = []
    if not _FLAG_RE.match(normalised):
        raise UsageError(
            f"invalid feature flag name {name!r}",
            "use lowercase letters and digits in runs joined by single underscores, like my_feature_flag",
        )
    if normalised != raw:
        notes.append(f"note: flag name normalised to {normalised!r}")
    return normalised, notes


def normalise_group(group: str) -> tuple[str, str]:
    """`product analytics` or `group::product analytics` -> (name, scoped label `group::NAME`)."""
    name = " ".join(group.split())
    if name.lower().startswith(GROUP_LABEL_PREFIX):
        name = name[len(GROUP_LABEL_PREFIX) :].strip()
    if not name or not _GROUP_RE.match(name) or len(name) > 200:
        raise UsageError(
            f"invalid group {group!r}",
            "give the group's name as in its label, like 'product analytics' or 'group::product analytics'",
        )
    return name, GROUP_LABEL_PREFIX + name


def normalise_slack(channel: str) -> str:
    text = channel.strip().lower()
    if not text.startswith("#"):
        text = "#" + text
    if not _SLACK_RE.match(text) or len(text) > 81:
        raise UsageError(
            f"invalid Slack channel {channel!r}", "give a channel name like #g_product_analytics"
        )
    return text


def normalise_owner(owner: str) -> str:
    """A bare username or group path gets `@` so the owner is mentioned; other text stays as written."""
    text = " ".join(owner.split())
    if _OWNER_HANDLE_RE.match(text) and not text.startswith("@"):
        return "@" + text
    return text


def check_url(url: str, what: str) -> str:
    text = url.strip()
    if not _URL_RE.match(text):
        raise UsageError(f"invalid {what} {url!r}", "give a full https:// URL")
    return text


def parse_ramp(text: str | Sequence[int]) -> tuple[int, ...]:
    """`1,10,25,50,75,100` -> (1, 10, 25, 50, 75, 100): whole percentages 1-100, strictly rising."""
    if isinstance(text, str):
        pieces = [p.strip().rstrip("%") for p in text.split(",") if p.strip()]
        try:
            values = [int(p) for p in pieces]
        except ValueError:
            raise UsageError(
                f"invalid --ramp {text!r}",
                "give whole percentages separated by commas, like 1,10,25,50,75,100",
            ) from None
    else:
        values = list(text)
    if not values:
        raise UsageError("--ramp is empty", "give whole percentages separated by commas, like 1,10,50,100")
    if any(not 1 <= v <= 100 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise UsageError(
            f"invalid --ramp {','.join(map(str, values))}",
            "percentages must be from 1 to 100 and rise strictly, like 1,10,25,50,75,100",
        )
    return tuple(values)


def parse_var(text: str) -> tuple[str, str]:
    """`key=value` for `--var`; the key must be a template identifier and not a built-in variable."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not _VAR_KEY_RE.match(key):
        raise UsageError(f"invalid --var {text!r}", "write --var key=value with a key like release_post")
    if key in TEMPLATE_VARIABLES:
        raise UsageError(f"--var {key} would hide the built-in variable {key!r}", "use the dedicated option")
    return key, value


# --- templates -----------------------------------------------------------------------------------------


def template_dirs() -> list[Path]:
    """Where built-in templates live: inside the wheel first, then the source checkout's `templates/`."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "_templates", here.parent / "templates") if d.is_dir()]


def builtin_template_path(name: str) -> Path:
    info = BUILTIN_TEMPLATES[name]
    for folder in template_dirs():
        candidate = folder / info.filename
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"built-in template {name!r} is missing from this installation",
        "reinstall gl-rollout (the templates ship inside the wheel)",
    )


@dataclass(frozen=True)
class TemplateRef:
    """A template to render: a built-in by name, or a custom file."""

    name: str
    display: str
    path: Path
    builtin: bool


def resolve_template(spec: str) -> TemplateRef:
    """`rollout`, `rollout-detailed`, or a path to a custom Jinja file."""
    if spec in BUILTIN_TEMPLATES:
        path = builtin_template_path(spec)
        return TemplateRef(spec, f"templates/{path.name}", path, builtin=True)
    path = Path(spec).expanduser()
    if path.is_file():
        return TemplateRef(spec, spec, path, builtin=False)
    if path.is_dir():
        raise UsageError(f"{spec} is a directory", "give a template file")
    if "/" in spec or "\\" in spec or path.suffix:
        raise UsageError(f"{spec}: no such template file", "check the path")
    raise UsageError(
        f"unknown template {spec!r}",
        f"built-in templates: {', '.join(BUILTIN_TEMPLATES)}; or give the path to a Jinja file",
    )


_MAIN = "<main>"


def _read_template(path: Path, display: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{display}: cannot read ({exc.strerror})", "check the path and permissions"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{display} is not UTF-8 (byte {exc.start})", "save the template as UTF-8") from None
    return strip_marks(text)


def _environment(ref: TemplateRef) -> tuple[Any, set[str]]:
    """The sandboxed, strict Jinja environment, and the set of template files it loads (for error lines).

    Includes resolve beside the custom template first, then among the built-ins.
    """
    from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
    from jinja2.loaders import split_template_path
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    search = [] if ref.builtin else [ref.path.parent]
    search += template_dirs()
    files: set[str] = set()

    class Loader(BaseLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            if template == _MAIN:
                files.add(ref.display)
                return _read_template(ref.path, ref.display), ref.display, lambda: True
            if template in BUILTIN_TEMPLATES:
                path = builtin_template_path(template)
                display = f"templates/{path.name}"
            else:
                pieces = split_template_path(template)
                for folder in search:
                    candidate = folder.joinpath(*pieces)
                    if candidate.is_file():
                        path = candidate
                        break
                else:
                    raise TemplateNotFound(template)
                display = str(path)
            files.add(display)
            return _read_template(path, display), display, lambda: True

    env = ImmutableSandboxedEnvironment(
        loader=Loader(),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
        auto_reload=False,
    )
    return env, files


def _location(exc: BaseException, default: str, files: set[str]) -> str:
    """`file:line` of the innermost template frame in the (rewritten) traceback."""
    where = default
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in files:
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _template_error(exc: BaseException, ref: TemplateRef, files: set[str]) -> UsageError:
    from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    if isinstance(exc, TemplateSyntaxError):
        where = f"{exc.filename or exc.name or ref.display}:{exc.lineno}"
        message = " ".join(str(exc.message or "invalid syntax").split())
        return UsageError(f"{where}: syntax error: {message}", "fix the template")
    where = _location(exc, ref.display, files)
    message = " ".join(str(exc).split())
    if isinstance(exc, SecurityError):
        return UsageError(
            f"{where}: refused by the template sandbox: {message}",
            "templates may only use the documented variables",
        )
    if isinstance(exc, UndefinedError):
        missing = re.match(r"^'([^']+)' is undefined$", message)
        if missing:
            return UsageError(
                f"{where}: undefined variable {missing.group(1)!r}",
                f"pass --var {missing.group(1)}=VALUE or see `gl-rollout templates` for the variables",
            )
        attribute = re.match(r"^'(.+)' has no attribute '([^']+)'$", message)
        if attribute:
            return UsageError(
                f"{where}: undefined attribute {attribute.group(2)!r} of {attribute.group(1)}",
                "see `gl-rollout templates` for the variables",
            )
        return UsageError(f"{where}: undefined value: {message}", "see `gl-rollout templates`")
    if isinstance(exc, TemplateNotFound):
        return UsageError(f"{where}: template {exc.name!r} not found", "include a file beside the template")
    if isinstance(exc, UsageError):
        return exc
    return UsageError(f"{where}: template error: {type(exc).__name__}: {message}"[:400], "fix the template")


def render_template(ref: TemplateRef, variables: Mapping[str, Any]) -> tuple[str, str | None]:
    """Render a template; returns (description, title or None). Template problems are UsageErrors."""
    from jinja2 import TemplateError

    env, files = _environment(ref)
    try:
        template = env.get_template(_MAIN)
    except TemplateError as exc:
        raise _template_error(exc, ref, files) from None
    context = template.new_context(dict(variables))
    try:
        try:
            body = "".join(template.root_render_func(context))
        except UsageError:
            raise
        except Exception:
            # Jinja maps the Python frames back to template lines only through handle_exception.
            env.handle_exception()
    except UsageError:
        raise
    except Exception as exc:
        raise _template_error(exc, ref, files) from None
    title = context.vars.get("title")
    return resolve_marks(body), (None if title is None else str(title))


def _split_items(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for piece in value.split(","):
            item = piece.strip()
            if item and item not in out:
                out.append(item)
    return tuple(out)


def build_variables(options: RenderOptions) -> tuple[dict[str, Any], list[str]]:
    """The template variables for `options`, merged over the definition; returns (variables, notes)."""
    from gl_rollout.definition import check_flag_type, load_definition

    notes: list[str] = []
    definition = load_definition(options.definition) if options.definition else None
    if definition is not None:
        notes.extend(definition.notes)
    raw_flag = options.flag if options.flag else (definition.name if definition else None)
    if not raw_flag:
        raise UsageError("no feature flag name given", "pass FLAG or --definition FILE")
    flag, flag_notes = validate_flag_name(raw_flag)
    notes.extend(flag_notes)
    if definition is not None and flag != definition.name:
        notes.append(f"note: rendering {flag!r}, although the definition names {definition.name!r}")

    def pick(explicit: str | None, from_definition: str | None) -> str | None:
        value = explicit if explicit not in (None, "") else from_definition
        return value.strip() if isinstance(value, str) and value.strip() else None

    group_text = pick(options.group, definition.group if definition else None)
    group, group_label = normalise_group(group_text) if group_text else (None, None)
    team = pick(options.team, None) or (group[0].upper() + group[1:] if group else None)
    slack = normalise_slack(options.slack) if options.slack and options.slack.strip() else None
    owners = tuple(normalise_owner(o) for o in options.owners if o.strip())
    milestone = pick(options.milestone, definition.milestone if definition else None)
    if milestone is not None and "\n" in milestone:
        raise UsageError("the milestone must be one line", "give a milestone like 17.2")

    feature_issue = pick(options.feature_issue_url, definition.feature_issue_url if definition else None)
    introduced_by = pick(options.introduced_by_url, definition.introduced_by_url if definition else None)
    rollout_issue = definition.rollout_issue_url if definition else None
    feature_issue = check_url(feature_issue, "feature issue URL") if feature_issue else None
    introduced_by = check_url(introduced_by, "introduced-by merge request URL") if introduced_by else None

    flag_type = pick(options.flag_type, definition.type if definition else None)
    if flag_type is not None and options.flag_type:
        notes.extend(check_flag_type(flag_type))

    prefix = chatops.check_prefix(options.chatops_prefix)
    ramp = parse_ramp(options.ramp)
    beta_projects = _split_items(options.beta_projects)
    beta_groups = _split_items(options.beta_groups)

    beta_commands: list[str] = []
    if beta_projects:
        beta_commands.append(chatops.feature_set_command(flag, True, projects=beta_projects, prefix=prefix))
    if beta_groups:
        beta_commands.append(chatops.feature_set_command(flag, True, groups=beta_groups, prefix=prefix))
    commands: dict[str, Any] = {
        "staging": chatops.feature_set_command(flag, True, envs=["staging"], prefix=prefix),
        "non_production": chatops.feature_set_command(flag, True, envs=chatops.NON_PRODUCTION, prefix=prefix),
        "production": chatops.feature_set_command(flag, True, prefix=prefix),
        "beta": tuple(beta_commands),
        "ramp": tuple(
            {"percent": p, "command": chatops.feature_set_command(flag, p, actors=True, prefix=prefix)}
            for p in ramp
            if p < 100
        ),
        "disable_production": chatops.feature_set_command(flag, False, prefix=prefix),
        "disable_staging": chatops.feature_set_command(flag, False, envs=["staging"], prefix=prefix),
        "disable_non_production": chatops.feature_set_command(
            flag, False, envs=chatops.NON_PRODUCTION, prefix=prefix
        ),
        "delete": chatops.feature_delete_command(flag, envs=chatops.EVERYWHERE, prefix=prefix),
    }

    labels = (FEATURE_FLAG_LABEL,) + ((group_label,) if group_label else ())
    free = dict(parse_var(text) for text in options.variables)

    variables: dict[str, Any] = {
        **free,
        "flag": flag,
        "description": definition.description.strip() if definition and definition.description else None,
        "group": group,
        "group_label": group_label,
        "team": team,
        "slack": slack,
        "owners": owners,
        "beta_projects": beta_projects,
        "beta_groups": beta_groups,
        "milestone": milestone,
        "feature_issue_url": feature_issue,
        "introduced_by_url": introduced_by,
        "rollout_issue_url": rollout_issue,
        "flag_type": flag_type,
        "default_enabled": definition.default_enabled if definition else None,
        "expect": options.expect.strip() if options.expect and options.expect.strip() else None,
        "risks": options.risks.strip() if options.risks and options.risks.strip() else None,
        "monitor": options.monitor.strip() if options.monitor and options.monitor.strip() else None,
        "chatops_prefix": prefix,
        "ramp": ramp,
        "cmd": commands,
        "labels": labels,
        "vars": dict(free),
    }
    return variables, notes


def render_issue(options: RenderOptions) -> RenderedIssue:
    """Render the rollout issue: title, description and labels, every inserted value neutralised."""
    variables, notes = build_variables(options)
    ref = resolve_template(options.template)
    description, title = render_template(ref, variables)
    flag = str(variables["flag"])
    title = inert_title(title) if title is not None else f"[Feature flag] Rollout of `{flag}`"
    if not title:
        raise UsageError(f"{ref.display}: the template sets an empty title", "set title to some text")
    if len(title) > MAX_TITLE:
        raise UsageError(f"the title is {len(title)} characters long", f"GitLab allows at most {MAX_TITLE}")
    if len(description) > MAX_DESCRIPTION:
        raise UsageError(
            f"the description is {len(description)} characters long",
            f"GitLab allows at most {MAX_DESCRIPTION}",
        )
    return RenderedIssue(
        title=title,
        description=description,
        labels=tuple(variables["labels"]),
        flag=flag,
        notes=tuple(notes),
    )
