"""Bounds on what a custom template may compute, so a template cannot exhaust memory or run for ever.

Jinja's sandbox stops a template from reaching Python internals but not from asking for
`{{ 9 ** 99999999 }}` or `{{ "a" * 20000000000 }}`: each is one operation in C that no timer can
interrupt. So every operation that can make a big value in one step is checked *before* it runs:
`*`, `**`, `+`, `%` and `~`, the filters and `str` methods that take a width, a count or a joiner, and
`range` (Jinja's own limit, 100,000 items). Nothing a rollout issue can hold needs more: GitLab keeps at
most 1,048,576 characters of description. A time limit covers the rest (loops): checked at every
operation above and every chunk of output, and by a CPU-time alarm in the main thread for loops that do
neither. Limits raise `TemplateLimit`; `gl_rollout.render.templating` reports it as exit 2 with the line.

This module imports jinja2: `gl_rollout.render.templating` imports it only when it renders.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SIZE = 4_194_304  # characters of a string or items of a list: four times GitLab's description limit
MAX_INT_BITS = 16_384  # an integer of about 4,900 digits; Python prints at most 4,300 by default
TIME_LIMIT = 5.0  # CPU seconds for one rendering; the built-in templates take milliseconds
# Wall time allowed where the CPU alarm runs (4 times the CPU limit, at least 20 s): a busy CI runner
# shares its cores, and a rendering that is slow only because others hold the CPU is not a runaway template.
WALL_FACTOR = 4.0
WALL_FLOOR = 20.0

_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_BIG_NUMBER_RE = re.compile(r"\d{8,}")
_NESTED_FIELD_RE = re.compile(r"\{[^{}]*\{")


class TemplateLimit(Exception):
    """A template asked for more than `gl_rollout.render.template_limits` allows."""


def _too_big(what: str) -> TemplateLimit:
    return TemplateLimit(f"{what} would be more than {MAX_SIZE:,} characters or items")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left OPERATOR right` when its result would pass the limits (before it is computed)."""
    both_int = isinstance(left, int) and isinstance(right, int)
    if operator == "**":
        if both_int and right > 0 and right * abs(left).bit_length() > MAX_INT_BITS and abs(left) > 1:
            raise TemplateLimit(f"{left} ** {right} would have more than {MAX_INT_BITS:,} bits")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            size = _size(seq)
            if size is not None and isinstance(count, int) and size * count > MAX_SIZE:
                raise _too_big("repeating a value that many times")
        if both_int and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise TemplateLimit(f"the product would have more than {MAX_INT_BITS:,} bits")
    elif operator == "+":
        left_size, right_size = _size(left), _size(right)
        if left_size is not None and right_size is not None and left_size + right_size > MAX_SIZE:
            raise _too_big("joining these values")
    elif operator == "%" and isinstance(left, str):
        check_format(left, right if isinstance(right, tuple) else (right,))


def check_format(template: str, args: tuple[Any, ...] | list[Any] = (), kwargs: Any = None) -> None:
    """A `%` or `{}` format: no width or precision past the limit, no arguments past it."""
    for number in _BIG_NUMBER_RE.findall(template):
        if int(number) > MAX_SIZE:
            raise _too_big(f"a field {number} wide")
    values = list(args) + list((kwargs or {}).values())
    huge = any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_SIZE for v in values)
    if huge and ("*" in template or _NESTED_FIELD_RE.search(template)):  # the width as an argument
        raise _too_big("a field that wide")
    total = len(template) + sum(len(v) for v in values if isinstance(v, str))
    if total > MAX_SIZE:
        raise _too_big("the formatted text")


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a `str` method call whose result would pass the limits; returns the (maybe materialised)
    arguments to call it with."""
    # The sandbox hands out `str.format` wrapped (`__wrapped__` is the bound method).
    owner = getattr(getattr(obj, "__wrapped__", obj), "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return args
    values = list(args) + list(kwargs.values())
    if name in _WIDTH_METHODS:
        if any(isinstance(v, int) and v > MAX_SIZE for v in values):
            raise _too_big(f"{name}() to that width")
    elif name == "expandtabs":
        size = next((v for v in values if isinstance(v, int)), 8)
        if len(owner) + owner.count("\t") * max(size, 0) > MAX_SIZE:
            raise _too_big("expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        check_replace(owner, args[0], args[1])
    elif name == "join" and args:
        items = list(args[0])
        check_join(owner, items)
        return (items, *args[1:])
    elif name in {"format", "format_map"}:
        check_format(owner, args, kwargs)
    return args


def check_replace(text: str, old: str, new: str) -> None:
    count = len(text) + 1 if old == "" else text.count(old)
    if len(text) + count * (len(new) - len(old)) > MAX_SIZE:
        raise _too_big("replace()")


def check_join(joiner: str, items: list[Any]) -> None:
    total = len(joiner) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, str) else 1
        if total > MAX_SIZE:
            raise _too_big("joining these values")


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The filters that can make a big value from a small one, each behind a check of its arguments."""
    from jinja2 import pass_environment, pass_eval_context

    wrapped = dict(filters)

    def guard(name: str, check: Callable[..., Any], passes: str | None = None) -> None:
        """`check(value, *args, **kwargs)` runs first and returns the value to filter (maybe a list made
        from an iterator); `passes` is what Jinja passes the filter first, as its decorator says."""
        original = filters[name]

        def run(first: tuple[Any, ...], value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return original(*first, check(value, *args, **kwargs), *args, **kwargs)

        if passes == "environment":

            @pass_environment
            def with_environment(environment: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
                return run((environment,), value, args, kwargs)

            wrapped[name] = with_environment
        elif passes == "eval_context":

            @pass_eval_context
            def with_eval_context(eval_ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
                return run((eval_ctx,), value, args, kwargs)

            wrapped[name] = with_eval_context
        else:

            def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
                return run((), value, args, kwargs)

            wrapped[name] = plain

    def width(value: Any, width: Any = 80, *_: Any, **__: Any) -> Any:
        if isinstance(width, int) and width > MAX_SIZE:
            raise _too_big("a value that wide")
        return value

    def indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> Any:
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if len(str(value)) + (str(value).count("\n") + 1) * pad > MAX_SIZE:
            raise _too_big("indenting that far")
        return value

    def wordwrap(value: Any, *args: Any, **kwargs: Any) -> Any:
        wrapstring = kwargs.get("wrapstring", args[2] if len(args) > 2 else None)
        if isinstance(wrapstring, str) and len(str(value)) * (len(wrapstring) + 1) > MAX_SIZE:
            raise _too_big("wrapping with that string")
        return value

    def fmt(value: Any, *args: Any, **kwargs: Any) -> Any:
        check_format(str(value), args, kwargs)
        return value

    def join(value: Any, d: Any = "", *_: Any, **__: Any) -> Any:
        items = value if isinstance(value, str | list | tuple) else list(value)
        check_join(str(d), list(items))
        return items

    def replace(value: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> Any:
        check_replace(str(value), str(old), str(new))
        return value

    def count(value: Any, number: Any = 1, *_: Any, **__: Any) -> Any:
        if isinstance(number, int) and number > MAX_SIZE:
            raise _too_big("that many slices or batches")
        return value

    guard("center", width)
    guard("indent", indent)
    guard("wordwrap", wordwrap, "environment")
    guard("format", fmt)
    guard("join", join, "eval_context")
    guard("replace", replace, "eval_context")
    guard("slice", count)
    guard("batch", count)
    return wrapped


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `~` going through `environment.bounded_concat`."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the checks of this module and a deadline."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters = bounded_filters(self.filters)
        self.globals.pop("lipsum", None)  # `lipsum(n=10**9)`: nothing a rollout issue needs
        self.deadline: float | None = None
        self.time_limit = TIME_LIMIT

    def tick(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TemplateLimit(f"the template ran for more than {self.time_limit:g} s")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        args = check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        self.tick()
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_SIZE:
            raise _too_big("joining these values with ~")
        return "".join(texts)


@contextlib.contextmanager
def deadline(env: BoundedEnvironment, seconds: float = TIME_LIMIT) -> Iterator[None]:
    """Limit rendering with `env` to `seconds`: in the main thread, CPU time by a virtual-time alarm
    (SIGVTALRM, so an alarm someone else set is left alone) and `WALL_FACTOR` times as much wall time
    (at least `WALL_FLOOR`) at every checked operation; elsewhere (no alarm there), `seconds` of wall time."""
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    wall = max(seconds * WALL_FACTOR, WALL_FLOOR) if use_signal else seconds
    env.deadline = time.monotonic() + wall
    env.time_limit = wall

    def expired(_signum: int, _frame: Any) -> None:
        raise TemplateLimit(f"the template ran for more than {seconds:g} s")

    previous: Any = None
    if use_signal:
        previous = signal.signal(signal.SIGVTALRM, expired)
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        env.deadline = None
        if use_signal:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
