"""The Typer application, its global options and the one place results become output.

Global options (`--json`, `--sandbox`, `--debug`, ...) may be written before or after the command:
`main` moves them in front before Typer parses, so `gl-rollout status 42 --json` works.

Commands are listed from the command table (`gl_rollout.cli.commands`) and built one at a time: running a
command imports only its module and builds only its Typer command (`LazyGroup`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
import typer.main
import typer.models

from gl_rollout import __version__
from gl_rollout.cli.commands import BY_NAME, COMMANDS
from gl_rollout.cli.printer import UNSERVED_HINT, HumanRenderer, Printer, emit
from gl_rollout.errors import ExitCode, RolloutError, Secrets, UsageError
from gl_rollout.result import Result

EXIT_CODES_HELP = (
    "Exit codes: 0 done or nothing to do; 1 unexpected error; 2 bad usage or input; "
    "3 GitLab API error; 4 conflicting edit; 5 step not found or ambiguous; 6 required step not done."
)


class LazyGroup(typer.core.TyperGroup):
    """The root group: lists commands from the table, builds the one that runs (and caches it)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [command.name for command in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in BY_NAME:
            self.commands[cmd_name] = build_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `--help`, from the table: no command module is imported for it."""
        limit = formatter.width - 6 - max(len(command.name) for command in COMMANDS)
        rows = [
            (command.name, typer.core.TyperCommand(command.name, help=command.help).get_short_help_str(limit))
            for command in COMMANDS
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def build_command(name: str) -> Any:
    """The click command of one table entry, built from its module's Typer app."""
    entry = BY_NAME[name]
    module = importlib.import_module(entry.module)
    if entry.group:
        info = typer.models.TyperInfo(module.group_app, name=entry.name)
        return typer.main.get_group_from_info(
            info, pretty_exceptions_short=True, suggest_commands=True, rich_markup_mode=None
        )
    found = next(info for info in module.app.registered_commands if info.name == name)
    return typer.main.get_command_from_info(found, pretty_exceptions_short=True, rich_markup_mode=None)


app = typer.Typer(
    name="gl-rollout",
    cls=LazyGroup,
    help="GitLab feature-flag rollouts: generate the rollout issue, read and tick its checklist, "
    "announce and enable, sync from evidence. Global options may also follow the command.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class AppState:
    """Options that apply to every command, and the environment they are read from."""

    json: bool = False
    json_file: Path | None = None
    debug: bool = False
    sandbox: bool = False
    sandbox_db: Path | None = None
    url: str | None = None
    gitlab_name: str | None = None
    ca_bundle: Path | None = None
    timeout: float = 30.0
    allow_http: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets: Secrets = field(default_factory=Secrets)  # every connection's, added by `cli.connection`
    unserved_origin: str | None = None  # a `--sandbox` run's own server, closed with it (`cli.connection`)

    def printer(self) -> Printer:
        return Printer(json_mode=self.json, secrets=self.secrets, unserved_origin=self.unserved_origin)

    def warn(self, text: str) -> None:
        """A one-line warning on stderr, at once (with --json too: stdout keeps the envelope alone)."""
        sys.stderr.write(self.secrets.mask(" ".join(text.split())) + "\n")


def _traceback_text() -> str:
    import traceback  # only with --debug: it costs start-up time

    return traceback.format_exc()


def state_of(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


# Global options, hoisted by `main`: name -> takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {
    "--json": False,
    "--json-file": True,
    "--debug": False,
    "--sandbox": False,
    "--sandbox-db": True,
    "--url": True,
    "--gitlab": True,
    "--ca-bundle": True,
    "--timeout": True,
    "--allow-http": False,
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gl-rollout {__version__}")
        raise typer.Exit(0)


@app.callback()
def global_options(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON envelope on stdout.")] = False,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json-file",
            help="Also write the JSON envelope to this file (atomically, or into a device or FIFO; a "
            "read-only file or unwritable folder is refused before anything runs).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks (tokens are masked).")] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run against the embedded GitLab sandbox (no account needed).")
    ] = False,
    sandbox_db: Annotated[
        Path | None,
        typer.Option("--sandbox-db", help="SQLite file holding the sandbox's state (implies --sandbox)."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="GitLab URL (else GITLAB_URL, GITLAB_HOST, CI_SERVER_URL, the config file, "
            "https://gitlab.com); an issue URL must be on it.",
        ),
    ] = None,
    gitlab_name: Annotated[
        str | None, typer.Option("--gitlab", help="Section of the python-gitlab config file to use.")
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option("--ca-bundle", help="CA bundle to verify a private GitLab's TLS certificate."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each HTTP request.")
    ] = 30.0,
    allow_http: Annotated[
        bool,
        typer.Option(
            "--allow-http",
            help="Accept plain http:// GitLab URLs off this machine (the token then travels unencrypted; "
            "a warning says so). Without it only localhost, 127.0.0.0/8 and ::1 may be http://.",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state = state_of(ctx)
    state.json = json_
    state.json_file = json_file
    state.debug = debug
    # A sandbox state file only means something to the sandbox: naming one asks for it.
    state.sandbox = sandbox or sandbox_db is not None
    state.sandbox_db = sandbox_db
    state.url = url
    state.gitlab_name = gitlab_name
    state.ca_bundle = ca_bundle
    state.allow_http = allow_http
    if not (0 < timeout <= 3600):  # also refuses nan and inf
        raise typer.BadParameter("give a number of seconds above 0 and at most 3600", param_hint="--timeout")
    state.timeout = timeout


def run_command(
    ctx: typer.Context,
    command: str,
    use_case: Callable[[], Result[Any]],
    render_human: HumanRenderer | None = None,
) -> None:
    """Run a use case, print its result, and exit with its code. The only place errors become text."""
    state = state_of(ctx)
    printer = state.printer()
    if state.json_file is not None:  # a bad --json-file is refused before anything is written
        from gl_rollout.files import check_target

        try:
            check_target(state.json_file, streams=True)
        except RolloutError as exc:
            raise typer.Exit(emit(Result.failure(command, exc), printer)) from None
    try:
        result = use_case()
    except RolloutError as exc:
        if state.debug:
            printer.err.write(state.secrets.mask(_traceback_text()))
        result = Result.failure(command, exc)
    except KeyboardInterrupt:
        printer.err.write("interrupted\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: one line, the traceback only with --debug
        if state.debug:
            printer.err.write(state.secrets.mask(_traceback_text()))
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = f"unexpected error: {type(exc).__name__}: {first}"[:300]
        result = Result.failure(command, RolloutError(message, "rerun with --debug and report it"))
    printer = state.printer()  # secrets may have been learnt while running
    if state.debug:
        for line in result.debug:
            printer.note("debug: " + " ".join(line.split()))
    try:
        code = emit(result, printer, render_human, state.json_file)
    except RolloutError as exc:  # --json-file could not be written: say so, after the result itself
        emit(result, printer, render_human, None)
        printer.err.write("error: " + state.secrets.mask(exc.one_line()) + "\n")
        code = int(exc.exit_code)
    if printer.unserved_links:
        printer.err.write(UNSERVED_HINT + "\n")
    raise typer.Exit(code)


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options written after the command in front of it, so they apply anywhere."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        name = token.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            front.append(token)
            if GLOBAL_OPTIONS[name] and "=" not in token and i + 1 < len(argv):
                front.append(argv[i + 1])
                i += 1
        else:
            rest.append(token)
        i += 1
    return front + rest


def invoke(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests and `main` use this)."""
    state = AppState(env=dict(os.environ) if env is None else dict(env))
    args = hoist_global_options(argv)
    undecodable = next((i for i, arg in enumerate(argv) if _has_surrogates(arg)), None)
    if undecodable is not None:
        return _parser_error(_NotUtf8(undecodable + 1, argv[undecodable]), args, state) or 2
    command = typer.main.get_command(app)
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of raising it.
        returned = command.main(args=args, prog_name="gl-rollout", obj=state, standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:  # pragma: no cover - click may still raise it
        return int(exc.code or 0)
    except Exception as exc:
        code = _parser_error(exc, args, state)
        if code is None:
            raise
        return code
    return returned if isinstance(returned, int) else 0


def _has_surrogates(text: str) -> bool:
    """Python hands undecodable argv bytes over as lone surrogates (PEP 383); no valid text has them."""
    return any("\ud800" <= char <= "\udfff" for char in text)


class _NotUtf8(Exception):
    """An argument that is not valid UTF-8, as a parser error (`_parser_error` shapes it)."""

    exit_code = int(ExitCode.USAGE)
    ctx = None

    def __init__(self, position: int, arg: str) -> None:
        super().__init__()
        try:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            shown = arg.encode("ascii", "backslashreplace").decode("ascii")
        self.text = f"argument {position} is not valid UTF-8: {shown[:80]}"

    def format_message(self) -> str:
        return f"{self.text}; write it in UTF-8"


def _parser_error(exc: Exception, args: list[str], state: AppState) -> int | None:
    """Usage errors from the parser: one line on stderr (and the envelope with --json), exit 2."""
    if type(exc).__name__ == "Abort":
        sys.stderr.write("aborted\n")
        return 1
    if type(exc).__name__ == "NoArgsIsHelpError":  # `gl-rollout` alone: the help, laid out as help
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        return int(ExitCode.USAGE)
    format_message = getattr(exc, "format_message", None)
    if not callable(format_message) or getattr(exc, "exit_code", None) is None:
        return None
    message = " ".join(str(format_message()).split())
    if "--token" in message:
        message += " (gl-rollout never takes a token on the command line: set GITLAB_TOKEN)"
    ctx = getattr(exc, "ctx", None)
    command_path = getattr(ctx, "command_path", "gl-rollout") if ctx is not None else "gl-rollout"
    command = command_path.split(" ", 1)[1] if " " in command_path else "gl-rollout"
    line = f"{message} (see: {command_path} --help)"
    if "--json" in args:
        result: Result[Any] = Result.failure(command, UsageError(line))
        emit(result, Printer(json_mode=True, secrets=state.secrets), None, None)
    else:
        sys.stderr.write(f"error: {line}\n")
    return int(ExitCode.USAGE)


def root_help() -> str:
    """The root help as the app renders it on `HELP_WIDTH` columns (click leaves two of them free): what
    `root_help.txt` holds."""
    import contextlib
    import io

    from gl_rollout.cli import HELP_WIDTH

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        typer.main.get_command(app).main(
            args=["--help"], prog_name="gl-rollout", standalone_mode=False, terminal_width=HELP_WIDTH - 2
        )
    return out.getvalue()


if __name__ == "__main__" and sys.argv[1:] == ["--write-root-help"]:
    from gl_rollout.cli import ROOT_HELP

    with open(ROOT_HELP, "w", encoding="utf-8") as target:
        target.write(root_help())
