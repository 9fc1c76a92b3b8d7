"""The Typer application, its global options and the one place results become output.

Global options (`--json`, `--sandbox`, `--debug`, ...) may be written before or after the command:
`main` moves them in front before Typer parses, so `gl-rollout status 42 --json` works.

Commands are listed from the command table (`gl_rollout.cli.commands`) and built one at a time: running a
command imports only its module and builds only its Typer command (`LazyGroup`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from gl_rollout import __version__
from gl_rollout.cli.argv import GLOBAL_OPTIONS, hoist_global_options
from gl_rollout.cli.layout import LazyGroup, did_you_mean
from gl_rollout.cli.printer import HumanRenderer, Printer, emit
from gl_rollout.cli.running import AppState, run_use_case
from gl_rollout.errors import ExitCode, UsageError
from gl_rollout.result import Result

EXIT_CODES_HELP = (
    "Exit codes: 0 done or nothing to do; 1 unexpected error; 2 bad usage or input; "
    "3 GitLab API error; 4 conflicting edit; 5 step not found or ambiguous; 6 required step not done."
)


app = typer.Typer(
    name="gl-rollout",
    cls=LazyGroup,
    help="GitLab feature-flag rollouts: generate the rollout issue, read and tick its checklist, "
    "announce and enable, sync from evidence. Global options may also follow the command.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    invoke_without_command=True,  # so that --install-completion and --show-completion need no command
    add_completion=False,  # gl_rollout.cli.completion: from the table, without building every command
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def state_of(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


DEBUG_LEVELS = ("body",)  # --debug=VALUE: what more than tracebacks and the request lines to show


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gl-rollout {__version__}")
        raise typer.Exit(0)


def _complete_shells(incomplete: str) -> list[str]:
    from gl_rollout.cli.completion import SHELLS

    return list(SHELLS)


@app.callback()
def global_options(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON envelope on stdout.")] = False,
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json-file",
            metavar="FILE",
            help="Also write the JSON envelope to this file (atomically, or into a device or FIFO; a "
            "read-only file or unwritable folder is refused before anything runs).",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show tracebacks, and log each HTTP request on stderr (method, URL, status, request ID, "
            "time); --debug=body adds the bodies. Tokens are masked.",
        ),
    ] = False,
    debug_body: Annotated[bool, typer.Option("--debug-body", hidden=True)] = False,
    sandbox: Annotated[
        bool, typer.Option("--sandbox", help="Run against the embedded GitLab sandbox (no account needed).")
    ] = False,
    sandbox_db: Annotated[
        Path | None,
        typer.Option(
            "--sandbox-db",
            metavar="FILE",
            help="SQLite file holding the sandbox's state (implies --sandbox).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="GitLab URL (else GITLAB_URL, GITLAB_HOST, CI_SERVER_URL, the config file, "
            "https://gitlab.com); an issue URL must be on it.",
        ),
    ] = None,
    gitlab_name: Annotated[
        str | None,
        typer.Option("--gitlab", metavar="NAME", help="Section of the python-gitlab config file to use."),
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle", metavar="FILE", help="CA bundle to verify a private GitLab's TLS certificate."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds to wait for each HTTP request.")
    ] = 30.0,
    allow_http: Annotated[
        bool,
        typer.Option(
            "--allow-http",
            help="Accept plain http:// GitLab URLs off this machine (the token then travels unencrypted; "
            "a warning says so). Without it only localhost, 127.0.0.0/8 and ::1 may be http://.",
        ),
    ] = False,
    install_completion: Annotated[
        str | None,
        typer.Option(
            "--install-completion",
            metavar="SHELL",
            help="Install completion of commands, options, issues and step IDs for bash, zsh or fish.",
            autocompletion=_complete_shells,
        ),
    ] = None,
    show_completion: Annotated[
        str | None,
        typer.Option(
            "--show-completion",
            metavar="SHELL",
            help="Print the completion script for bash, zsh or fish, to install it your own way.",
            autocompletion=_complete_shells,
        ),
    ] = None,
    complete_online: Annotated[
        bool,
        typer.Option(
            "--complete-online",
            help="With --install-completion or --show-completion: complete the step IDs of an issue "
            "not used before by reading it from GitLab (else completion never connects).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state = state_of(ctx)
    state.json = json_
    state.json_file = json_file
    state.debug = debug or debug_body
    state.debug_body = debug_body
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
    if install_completion is not None or show_completion is not None:
        from gl_rollout.cli.completion import completion_result, completion_view

        name = "install-completion" if install_completion is not None else "show-completion"
        run_command(
            ctx,
            name,
            lambda: completion_result(install_completion, show_completion, state.env, online=complete_online),
            completion_view,
        )
    elif complete_online:
        raise typer.BadParameter(
            "give it with --install-completion or --show-completion", param_hint="--complete-online"
        )
    if ctx.invoked_subcommand is None:
        ctx.fail("Missing command.")


def run_command(
    ctx: typer.Context,
    command: str,
    use_case: Callable[[], Result[Any]],
    render_human: HumanRenderer | None = None,
) -> None:
    """Run a use case, print its result, and exit with its code (`gl_rollout.cli.running.run_use_case`)."""
    raise typer.Exit(run_use_case(state_of(ctx), command, use_case, render_human))


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
    if type(exc).__name__ == "NoSuchOption":
        message = _no_such_option(exc)
    elif message.startswith("Option '--debug' does not take a value"):
        message += " Write --debug, or --debug=body to see the HTTP bodies too."
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
        Printer(secrets=state.secrets, env=state.env).error(line)
    return int(ExitCode.USAGE)


def _no_such_option(exc: Any) -> str:
    """`no such option --requre; did you mean --require?`: the closest of the command's options and, after
    a command, of the global options too (they may follow the command)."""
    name = str(getattr(exc, "option_name", "") or "")
    ctx = getattr(exc, "ctx", None)
    candidates: list[str] = []
    if ctx is not None:
        for param in ctx.command.get_params(ctx):
            if not getattr(param, "hidden", False):
                candidates += [*param.opts, *param.secondary_opts]
        if ctx.parent is not None:
            candidates += [option for option in GLOBAL_OPTIONS if option != "--debug-body"]
    long_only = [option for option in candidates if option.startswith("--")] if name.startswith("--") else []
    return f"no such option {name}{did_you_mean(name, long_only or candidates)}"


def root_help() -> str:
    """The root help as the app renders it on `HELP_WIDTH` columns (click leaves two of them free): what
    `root_help.txt` holds."""
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
