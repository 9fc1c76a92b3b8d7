"""Shell completion for bash, zsh and fish: commands, options, issue references and step IDs.

The shell script (`--show-completion SHELL`, or installed by `--install-completion SHELL`) runs
`gl-rollout` with `_GL_ROLLOUT_COMPLETE=complete_SHELL` and the words typed so far (click's protocol, as
Typer speaks it: `COMP_WORDS`/`COMP_CWORD` for bash, `_TYPER_COMPLETE_ARGS` for zsh and fish); `main`
hands such a run to `answer` before anything else. Commands come from the command table (no command
module is imported for them), options from the one command being completed. Global options may follow
the command, as when running it.

Issue references and step IDs come from the recent issues (`gl_rollout.cli.recent`), or with `--file`
from that file: completion never connects to GitLab, unless the script was made with
`--complete-online` (or `GL_ROLLOUT_COMPLETE_ONLINE=1` is set), in which case an issue not read before
is read once, with a 3-second timeout, and remembered.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:  # Typer ships its own copy of click from 0.28 on
    from typer._click.shell_completion import CompletionItem, add_completion_class
except ImportError:  # pragma: no cover - an older Typer on click
    from click.shell_completion import CompletionItem, add_completion_class  # type: ignore[assignment]

from gl_rollout.errors import Secrets

if TYPE_CHECKING:
    import typer

    from gl_rollout.cli.recent import RecentIssue, RecentStep
    from gl_rollout.result import Result

__all__ = ["SHELLS", "CompletionItem", "answer", "completion_result", "completion_view", "script"]

PROG = "gl-rollout"
COMPLETE_VAR = "_GL_ROLLOUT_COMPLETE"
ONLINE_VAR = "GL_ROLLOUT_COMPLETE_ONLINE"
SHELLS = ("bash", "zsh", "fish")
ONLINE_TIMEOUT = 3.0  # seconds: a shell waiting on a Tab press should not wait longer


# --- the protocol -------------------------------------------------------------------------------------------


def answer(env: Mapping[str, str], root: Callable[[], Any]) -> int:
    """One completion request from the shell script: print the candidates (or the script), return the exit
    status. `_GL_ROLLOUT_COMPLETE` holds `complete_SHELL` or `source_SHELL` (click's `SHELL_complete` and
    `SHELL_source` are read too). `root` builds the app's root command (the app imports this module, so
    it is handed in)."""
    instruction = env.get(COMPLETE_VAR, "")
    action, _, shell = instruction.partition("_")
    if action in SHELLS:  # click's order: bash_complete
        action, shell = shell, action
    if shell not in SHELLS or action not in {"complete", "source"}:
        sys.stderr.write(f"error: {COMPLETE_VAR}={instruction!r} is not a completion request\n")
        return 2
    if action == "source":
        sys.stdout.write(script(shell, online=env.get(ONLINE_VAR) == "1") + "\n")
        return 0
    _register()
    completer = _COMPLETERS[shell](root(), {}, PROG, COMPLETE_VAR)
    text = completer.complete()
    if text:
        sys.stdout.write(text + "\n")
    return 0


def script(shell: str, *, online: bool = False) -> str:
    """The completion script for `shell`; with `online`, completion may read an issue not seen before."""
    from typer._completion_shared import get_completion_script

    variable = f"{ONLINE_VAR}=1 {COMPLETE_VAR}" if online else COMPLETE_VAR
    return get_completion_script(prog_name=PROG, complete_var=variable, shell=shell)


def _completer_class(base: type) -> type:
    class Completer(base):  # type: ignore[misc]
        """Typer's completer for one shell, reading global options after the command as the CLI does."""

        def get_completions(self, args: list[str], incomplete: str) -> list[Any]:
            from gl_rollout.cli.argv import GLOBAL_OPTIONS, hoist_global_options

            hoisted = hoist_global_options(args)
            items: list[Any] = super().get_completions(hoisted, incomplete)
            if incomplete.startswith("--") and _command_of(hoisted, GLOBAL_OPTIONS) is not None:
                have = {item.value for item in items}
                items += [
                    CompletionItem(name, help="global option")
                    for name in GLOBAL_OPTIONS
                    if name.startswith(incomplete) and name not in have and name != "--debug-body"
                ]
            return items

    return Completer


_COMPLETERS: dict[str, Any] = {}


def _register() -> None:
    from typer._completion_classes import BashComplete, FishComplete, ZshComplete

    for shell, base in (("bash", BashComplete), ("zsh", ZshComplete), ("fish", FishComplete)):
        _COMPLETERS[shell] = _completer_class(base)
        add_completion_class(_COMPLETERS[shell], shell)


def _command_of(args: Sequence[str], global_options: Mapping[str, bool]) -> str | None:
    """The command word of hoisted arguments (global options and their values come first)."""
    from gl_rollout.cli.commands import BY_NAME

    index = 0
    while index < len(args):
        word = args[index]
        if word.startswith("-"):
            takes_value = global_options.get(word.split("=", 1)[0], False) and "=" not in word
            index += 2 if takes_value else 1
            continue
        return word if word in BY_NAME else None
    return None


# --- what the arguments complete to -------------------------------------------------------------------------


def complete_refs(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The recent issues' references, the latest first, each with its title."""
    from gl_rollout.cli.recent import load

    return [(issue.reference, issue.title) for issue in load(os.environ)]


def complete_steps(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The step IDs of the issue or file on the command line, each with its state and text; steps already
    named are left out. `check` takes REF first, so its first word completes to references."""
    params = ctx.params
    file = params.get("file")
    ref = params.get("ref")
    named: list[str] = []
    if "args" in params:  # check: [REF] STEP...
        words = list(params.get("args") or ())
        if file is None:
            if not words:
                return complete_refs(ctx, incomplete)
            ref, words = words[0], words[1:]
        named = words
    named += list(params.get("require") or ())
    steps = _steps_of_file(file) if file is not None else _steps_of_issue(ref, params.get("project"))
    return [(step.id, f"{step.state}: {step.text}") for step in steps if step.id not in named]


def complete_environments(ctx: typer.Context, incomplete: str) -> list[str]:
    from gl_rollout.core.chatops import ENVIRONMENTS

    return list(ENVIRONMENTS)


def complete_templates(ctx: typer.Context, incomplete: str) -> list[str]:
    from gl_rollout.render.templating import BUILTIN_TEMPLATES

    return list(BUILTIN_TEMPLATES)


def _steps_of_file(file: str) -> Sequence[RecentStep]:
    from gl_rollout.cli.recent import RecentStep

    if file == "-":
        return ()
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    from gl_rollout.core.checklist import parse_checklist

    return [RecentStep(s.id, s.state, " ".join(s.text.split())[:80]) for s in parse_checklist(text).steps]


def _steps_of_issue(ref: str | None, project: str | None) -> Sequence[RecentStep]:
    """The steps of `ref` as last read; read now only when online completion is on; else the steps of the
    latest issue read (rollout issues mostly share their IDs)."""
    from gl_rollout.cli.recent import find, load

    env = os.environ
    project = project or env.get("CI_PROJECT_PATH") or None
    issues = load(env)
    found = find(issues, ref, project)
    if found is None and ref and env.get(ONLINE_VAR) == "1":
        found = _read_online(ref, project, env)
    if found is not None:
        return found.steps
    return issues[0].steps if issues else ()


def _read_online(ref: str, project: str | None, env: Mapping[str, str]) -> RecentIssue | None:
    """Read the issue from GitLab (one request, no retry, a short timeout) and remember it; None on any
    failure, silently: a completion prints candidates or nothing."""
    try:
        from gl_rollout.cli.connection import open_client
        from gl_rollout.cli.recent import find, load
        from gl_rollout.gitlab.retry import RetryPolicy

        options = _QuietOptions(env=dict(env))
        with open_client(
            options, need_write=False, project=project, ref=ref, retry=RetryPolicy(max_attempts=1)
        ) as client:
            client.api.get_issue(client.issue.project, client.issue.iid)
        return find(load(env), ref, project)
    except Exception:
        return None


@dataclass
class _QuietOptions:
    """The connection options of an online completion: the environment's GitLab, a short timeout, and
    nothing said (a warning would land in the shell's prompt)."""

    env: Mapping[str, str]
    url: str | None = None
    gitlab_name: str | None = None
    ca_bundle: Path | None = None
    allow_http: bool = False
    sandbox: bool = False
    sandbox_db: Path | None = None
    timeout: float = ONLINE_TIMEOUT
    secrets: Secrets = field(default_factory=Secrets)
    unserved_origin: str | None = None

    def warn(self, text: str) -> None:
        pass


# --- --install-completion and --show-completion ---------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """What `--install-completion` did: the script's file, and the start-up file that loads it."""

    shell: str
    script: str
    loader: str | None  # the start-up file (~/.bashrc, ~/.zshrc) given a line, None when none is needed
    changed: tuple[str, ...]  # the files written this time (none: it was installed already)
    online: bool


@dataclass(frozen=True)
class Shown:
    shell: str
    script: str


def completion_result(
    install: str | None, show: str | None, env: Mapping[str, str], *, online: bool
) -> Result[Installed | Shown]:
    """`--install-completion SHELL` or `--show-completion SHELL`, as a command of its own."""
    from gl_rollout.errors import UsageError
    from gl_rollout.result import Result

    name = "install-completion" if install is not None else "show-completion"
    shell = (install if install is not None else show) or ""
    if install is not None and show is not None:
        raise UsageError("give --install-completion or --show-completion, not both")
    if shell not in SHELLS:
        raise UsageError(f"cannot complete for shell {shell!r}", "give bash, zsh or fish")
    if install is not None:
        return Result(name, install_script(shell, env, online=online))
    return Result(name, Shown(shell, script(shell, online=online)))


def completion_view(result: Any, printer: Any) -> None:
    value = result.value
    if isinstance(value, Shown):
        printer.human.write(value.script + "\n")
        return
    assert isinstance(value, Installed)
    if not value.changed:
        printer.line(f"{value.shell} completion is installed already: {value.script}")
        return
    for path in value.changed:
        printer.line(f"wrote {path}")
    how = {
        "bash": f"open a new shell, or run: source {value.script}",
        "zsh": "open a new shell, or run: exec zsh",
        "fish": "fish loads it in new shells",
    }[value.shell]
    printer.line(f"{value.shell} completion installed; {how}")


_MARK = "# gl-rollout shell completion"


def install_script(shell: str, env: Mapping[str, str], *, online: bool = False) -> Installed:
    """Write the completion script where `shell` finds it and, for bash and zsh, one line to the start-up
    file that loads it (appended once; a start-up file that is a symlink is written through). Running it
    again changes nothing. UsageError when there is no home folder or a file cannot be written."""
    from gl_rollout.errors import UsageError
    from gl_rollout.files import write_atomic

    home_text = env.get("HOME", "").strip()
    if not home_text or not Path(home_text).is_absolute():
        raise UsageError("cannot install completion: HOME is not set", "set HOME, or use --show-completion")
    home = Path(home_text)
    data = _xdg(env, "XDG_DATA_HOME", home / ".local" / "share")
    config = _xdg(env, "XDG_CONFIG_HOME", home / ".config")
    text = script(shell, online=online) + "\n"
    if shell == "bash":
        target = data / "bash-completion" / "completions" / PROG
        loader: Path | None = home / ".bashrc"
        line = f"[ -f {_quoted(target)} ] && . {_quoted(target)}"
    elif shell == "zsh":
        target = Path(env.get("ZDOTDIR") or home) / ".zfunc" / f"_{PROG}"
        loader = Path(env.get("ZDOTDIR") or home) / ".zshrc"
        line = f"fpath+=({_quoted(target.parent)}); autoload -Uz compinit; compinit"
    else:
        target = config / "fish" / "completions" / f"{PROG}.fish"
        loader, line = None, ""
    changed: list[str] = []
    try:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, text)
            changed.append(str(target))
        if loader is not None:
            present = loader.read_text(encoding="utf-8", errors="replace") if loader.exists() else ""
            if line not in present.splitlines():
                with loader.open("a", encoding="utf-8") as startup:
                    startup.write(
                        ("\n" if present and not present.endswith("\n") else "") + f"{_MARK}\n{line}\n"
                    )
                changed.append(str(loader))
    except OSError as exc:
        raise UsageError(
            f"cannot install {shell} completion: {exc.strerror or exc}", "use --show-completion"
        ) from None
    return Installed(shell, str(target), str(loader) if loader else None, tuple(changed), online)


def _xdg(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name, "").strip()
    return Path(value) if value and Path(value).is_absolute() else default


def _quoted(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))
