"""How commands are built and how their `--help` pages read, in one place for every command.

- The root group lists the commands from the command table (`gl_rollout.cli.commands`), grouped as
  `KINDS` says, each with its one-sentence summary, and builds only the command that runs (`LazyGroup`).
- Every help page ends with the examples of the table; arguments read `REF`, `[REF]`, `FLAG` in the usage
  line as in their own entry (never `{REF}`).
- A mistyped command is answered with the closest names ("did you mean status?").
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

import typer
import typer.core
import typer.main
import typer.models

from gl_rollout.cli.commands import BY_NAME, COMMANDS, KINDS, Example, examples_of, summary_of


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean X?` (or `X or Y`) for the candidates closest to `word`, else nothing."""
    import difflib  # only a mistake needs it

    close = difflib.get_close_matches(word, list(dict.fromkeys(candidates)), n=2, cutoff=0.6)
    # A second name only when it is nearly as close as the first: "--group or --group-actor".
    close = close[:1] + [
        name for name in close[1:] if difflib.SequenceMatcher(None, word, name).ratio() >= 0.75
    ]
    return f"; did you mean {' or '.join(close)}?" if close else ""


def command_path(ctx: Any) -> str:
    """The command's path below the root (`status`, `sandbox serve`; empty for the root)."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names))


def write_examples(formatter: Any, examples: Sequence[Example]) -> None:
    """An `Examples:` section: each example's comment line, then its command line, never re-wrapped
    (a command line must stay as it is typed)."""
    if not examples:
        return
    with formatter.section("Examples"):
        for index, example in enumerate(examples):
            if index:
                formatter.write("\n")
            indent = " " * formatter.current_indent
            formatter.write(f"{indent}# {example.does}\n{indent}{example.line}\n")


def _usage_pieces(command: Any, ctx: Any) -> list[str]:
    """The usage line's pieces, arguments written as their own entry shows them (`REF`, `[REF]`)."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        metavar = getattr(param, "metavar", None)
        if param.param_type_name == "argument" and metavar:
            pieces.append(metavar if metavar.startswith("[") or param.required else f"[{metavar}]")
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class RolloutCommand(typer.core.TyperCommand):
    """A command whose help ends with its examples and whose summary is the table's sentence."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        write_examples(formatter, examples_of(command_path(ctx)))

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.short_help or super().get_short_help_str(limit)


class RolloutGroup(typer.core.TyperGroup):
    """A group of subcommands (`sandbox`): summaries from the table, examples, "did you mean"."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        path = command_path(ctx)
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            summary = summary_of(f"{path} {name}".strip()) or command.get_short_help_str(formatter.width)
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        super().format_epilog(ctx, formatter)
        write_examples(formatter, examples_of(command_path(ctx)))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        _refuse_unknown_command(self, ctx, args, self.list_commands(ctx))
        return super().resolve_command(ctx, args)


def _refuse_unknown_command(group: Any, ctx: Any, args: list[str], names: list[str]) -> None:
    """Fail with the closest command names when `args[0]` names no command."""
    name = args[0] if args else ""
    if not name or name.startswith("-") or ctx.resilient_parsing or group.get_command(ctx, name) is not None:
        return
    ctx.fail(f"no such command '{name}'{did_you_mean(name, names)}")


class LazyGroup(RolloutGroup):
    """The root group: lists commands from the table, grouped; builds the one that runs (and caches it)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [command.name for command in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in BY_NAME:
            self.commands[cmd_name] = build_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `--help`, from the table, by kind: no command module is imported for it."""
        width = max(len(command.name) for command in COMMANDS)  # one column for every group
        for kind, heading in KINDS:
            rows = [
                (command.name.ljust(width), command.summary) for command in COMMANDS if command.kind == kind
            ]
            if rows:
                with formatter.section(heading):
                    formatter.write_dl(rows)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        write_examples(formatter, examples_of(""))
        typer.core.TyperGroup.format_epilog(self, ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """Command names with their summaries, from the table (no command is built), then options."""
        from gl_rollout.cli.completion import CompletionItem

        items = [
            CompletionItem(command.name, help=command.summary)
            for command in COMMANDS
            if command.name.startswith(incomplete)
        ]
        return items + typer.core.TyperCommand.shell_complete(self, ctx, incomplete)


def build_command(name: str) -> Any:
    """The click command of one table entry, built from its module's Typer app, laid out as above."""
    entry = BY_NAME[name]
    module = importlib.import_module(entry.module)
    if entry.group:
        group_app = module.group_app
        for info in group_app.registered_commands:
            info.cls = RolloutCommand
            info.short_help = info.short_help or summary_of(f"{name} {info.name}")
        info = typer.models.TyperInfo(group_app, name=entry.name, cls=RolloutGroup)
        return typer.main.get_group_from_info(
            info, pretty_exceptions_short=True, suggest_commands=False, rich_markup_mode=None
        )
    found = next(info for info in module.app.registered_commands if info.name == name)
    found.cls = RolloutCommand
    found.short_help = entry.summary
    return typer.main.get_command_from_info(found, pretty_exceptions_short=True, rich_markup_mode=None)


__all__ = ["KINDS", "LazyGroup", "RolloutCommand", "RolloutGroup", "build_command", "did_you_mean"]
