"""Options several commands share, declared once so they are spelled and explained the same everywhere.

Single options are `Annotated` aliases. A group of options several commands take (the render options
of `render` and `create`; the targets of `enable` and `disable`) is a table of parameters that
`with_option_group` adds to each command, which then receives them built into one object.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-R", help="Project path or ID (default CI_PROJECT_PATH).")
]
LabelOption = Annotated[str, typer.Option("--label", help="Only issues with this label.")]

# name -> (annotation, default): one command-line parameter of an option group.
OptionGroup = Mapping[str, tuple[Any, Any]]

_P = inspect.Parameter


def _resolved(parameter: inspect.Parameter, func: Callable[..., Any]) -> inspect.Parameter:
    """The parameter with its string annotation evaluated, as Typer needs it.

    The group's own parameter is skipped by the caller, so a command may import its type under
    TYPE_CHECKING only.
    """
    if not isinstance(parameter.annotation, str):
        return parameter
    # The same evaluation `inspect.signature(eval_str=True)` does, one parameter at a time.
    annotation = eval(parameter.annotation, getattr(func, "__globals__", {}))  # noqa: S307
    return parameter.replace(annotation=annotation)


def with_option_group(
    group: OptionGroup, build: Callable[[dict[str, Any]], Any], *, into: str, leading: int = 0
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a Typer command the options of `group`; it receives `build(values)` as its parameter `into`.

    The first `leading` parameters of the group (positional arguments, like FLAG) come right after
    `ctx`, the command's own parameters next, the rest of the group last: that is the order of --help.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = [_resolved(p, func) for p in inspect.signature(func).parameters.values() if p.name != into]
        head = [p for p in own if p.name == "ctx"]
        rest = [
            p.replace(kind=_P.KEYWORD_ONLY) if p.kind == _P.POSITIONAL_OR_KEYWORD else p
            for p in own
            if p.name != "ctx"
        ]
        added = [
            _P(name, _P.KEYWORD_ONLY, annotation=annotation, default=default)
            for name, (annotation, default) in group.items()
        ]
        lead = [p.replace(kind=_P.POSITIONAL_OR_KEYWORD) for p in added[:leading]]
        parameters = [*head, *lead, *rest, *added[leading:]]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in group if name in kwargs}
            return func(*args, **{into: build(values)}, **kwargs)

        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate
