"""The Jinja side of rendering: where templates are found, the sandboxed strict environment, and
template errors as one-line UsageErrors naming `file:line`.

Templates run in Jinja's immutable sandbox with undefined variables as errors, bounded in what they may
compute and for how long (`gl_rollout.render.template_limits`), and every value a template prints with
`{{ ... }}` goes through `gl_rollout.render.neutralise.finalize`. jinja2 is imported only
when a template is rendered, so importing this module stays cheap for the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gl_rollout.errors import UsageError
from gl_rollout.render.neutralise import finalize, resolve_marks, strip_marks

DEFAULT_TEMPLATE = "rollout"
GITLAB_MAX_DESCRIPTION = 1_048_576  # characters; render.py refuses a longer description


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
        BuiltinTemplate(
            "project-flag",
            "project-flag.md.j2",
            "A project feature flag (--flag-backend project): each environment, a percentage ramp, cleanup.",
        ),
        BuiltinTemplate(
            "gitlab-current",
            "gitlab-current.md.j2",
            "Today's GitLab process: sections of ChatOps commands; gl-rollout's status block as task list.",
        ),
    )
}


@dataclass(frozen=True)
class TemplateRef:
    """A template to render: a built-in by name, or a custom file."""

    name: str
    display: str
    path: Path
    builtin: bool


def template_dirs() -> list[Path]:
    """Where built-in templates live: inside the wheel first, then the source checkout's `templates/`."""
    package = Path(__file__).resolve().parent.parent
    return [d for d in (package / "_templates", package.parent / "templates") if d.is_dir()]


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


def resolve_template(spec: str) -> TemplateRef:
    """`rollout`, `rollout-detailed`, `project-flag`, `gitlab-current`, or a path to a custom Jinja file."""
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

    from gl_rollout.render.template_limits import BoundedEnvironment

    search = [] if ref.builtin else [ref.path.parent]
    search += template_dirs()
    files: set[str] = set()

    class Loader(BaseLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            if template == _MAIN:
                path, display = ref.path, ref.display
            elif template in BUILTIN_TEMPLATES:
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

    env = BoundedEnvironment(
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

    from gl_rollout.render.template_limits import TemplateLimit

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
    if isinstance(exc, TemplateLimit | MemoryError | RecursionError):
        return UsageError(
            f"{where}: refused: {message or type(exc).__name__}",
            "a rollout template needs far less; look for a loop or a repetition that never ends",
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


def render_template(
    ref: TemplateRef, variables: Mapping[str, Any], *, time_limit: float | None = None
) -> tuple[str, str | None]:
    """Render a template; returns (description, title or None). Template problems are UsageErrors.

    The title is a top-level `{% set title %}...{% endset %}` (or `{% set title = ... %}`), if any.
    `time_limit` (seconds) defaults to `gl_rollout.render.template_limits.TIME_LIMIT`.
    """
    from jinja2 import TemplateError

    env, files = _environment(ref)
    try:
        template = env.get_template(_MAIN)
    except TemplateError as exc:
        raise _template_error(exc, ref, files) from None
    from gl_rollout.render.template_limits import MAX_SIZE, TIME_LIMIT, TemplateLimit, deadline

    context = template.new_context(dict(variables))
    try:
        try:
            with deadline(env, time_limit if time_limit is not None else TIME_LIMIT):
                chunks: list[str] = []
                size = 0
                for chunk in template.root_render_func(context):
                    size += len(chunk)
                    if size > MAX_SIZE:
                        raise TemplateLimit(
                            f"the description would be over {MAX_SIZE} characters "
                            f"(GitLab allows at most {GITLAB_MAX_DESCRIPTION})"
                        )
                    chunks.append(chunk)
                    env.tick()
                body = "".join(chunks)
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


def reads_ramp(ref: TemplateRef) -> bool:
    """Whether the template, or one it includes, imports or extends, reads `ramp`, `cmd.ramp` or
    `plan` (the rollout plan is built from the ramp).

    So `--ramp` given to a template without ramp steps (the default `rollout`) is reported rather than
    silently ignored. When it cannot tell (a template name computed while rendering, `cmd` used as a
    whole), the answer is True: no remark rather than a wrong one.
    """
    return _any_tree(ref, lambda tree: _tree_reads_ramp(tree) or _tree_reads(tree, "plan"))


def reads_plan(ref: TemplateRef) -> bool:
    """Whether the template, or one it includes, imports or extends, reads `plan` (True when unsure)."""
    return _any_tree(ref, lambda tree: _tree_reads(tree, "plan"))


def _any_tree(ref: TemplateRef, test: Any) -> bool:
    """Whether `test` holds for the parsed template or any it includes, imports or extends; True when
    one cannot be read or named before rendering."""
    from jinja2 import meta

    env, _ = _environment(ref)
    seen: set[str] = set()
    pending = [_MAIN]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            source = env.loader.get_source(env, name)[0]
            tree = env.parse(source)
        except Exception:  # unreadable now: say nothing rather than guess
            return True
        if test(tree):
            return True
        for child in meta.find_referenced_templates(tree):
            if child is None:
                return True
            pending.append(child)
    return False


def _tree_reads(tree: Any, variable: str) -> bool:
    from jinja2 import nodes

    return any(n.name == variable and n.ctx == "load" for n in tree.find_all(nodes.Name))


def _tree_reads_ramp(tree: Any) -> bool:
    from jinja2 import nodes

    loads = [n for n in tree.find_all(nodes.Name) if n.ctx == "load"]
    if any(n.name == "ramp" for n in loads):
        return True
    keyed = 0
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "cmd"):
            continue
        if isinstance(node, nodes.Getattr):
            key: object = node.attr
        else:
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if key is None or key == "ramp":
            return True
        keyed += 1
    return sum(1 for n in loads if n.name == "cmd") > keyed
