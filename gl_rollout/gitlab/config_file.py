"""The python-gitlab configuration file: which files, which section, and the section's token.

Read with configparser (python-gitlab itself is never imported here); a `helper: CMD` token runs CMD
without a shell. Everything comes from the injected environment mapping, never `os.environ`.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gl_rollout.core.urls import same_host
from gl_rollout.errors import UsageError

# How GitLab is told the token: PRIVATE-TOKEN, Authorization: Bearer, or JOB-TOKEN.
TokenKind = Literal["private", "oauth", "job"]

SYSTEM_CONFIG_FILE = "/etc/python-gitlab.cfg"
USER_CONFIG_FILE = ".python-gitlab.cfg"
HELPER_TIMEOUT = 120.0  # seconds for a `helper:` command; a keyring may prompt for a passphrase

_SECTION_TOKENS: tuple[tuple[str, TokenKind], ...] = (
    ("private_token", "private"),
    ("oauth_token", "oauth"),
    ("job_token", "job"),
)


@dataclass(frozen=True)
class ConfigSection:
    """One `[name]` of a python-gitlab configuration file, token not yet resolved (it may be a helper)."""

    name: str
    files: tuple[str, ...]
    url: str | None
    token_option: str | None  # "private_token" | "oauth_token" | "job_token"
    token_kind: TokenKind | None
    raw_token: str | None = field(repr=False)
    ssl_verify: bool | str | None

    @property
    def label(self) -> str:
        return f"python-gitlab config [{self.name}]"


def config_files(env: Mapping[str, str]) -> list[Path]:
    """The files python-gitlab would read: `$PYTHON_GITLAB_CFG` alone, else the existing defaults."""
    named = env.get("PYTHON_GITLAB_CFG")
    if named:
        path = Path(expand(named, env))
        if path == Path(os.devnull):
            # The usual way to say "no configuration file": an empty one, as python-gitlab reads it.
            return []
        if not path.is_file():
            reason = "is not a regular file" if path.exists() else "does not exist"
            raise UsageError(
                f"PYTHON_GITLAB_CFG names {named}, which {reason}",
                "point PYTHON_GITLAB_CFG at a python-gitlab configuration file, or unset it",
            )
        return [path]
    candidates = [Path(SYSTEM_CONFIG_FILE)]
    home = env.get("HOME")
    if home:
        candidates.append(Path(home) / USER_CONFIG_FILE)
    return [path for path in candidates if path.is_file()]


def load_config_section(
    env: Mapping[str, str], name: str | None, *, prefer_host: str | None = None
) -> ConfigSection | None:
    """The section to use: `name` (it must exist), else one on `prefer_host`, else `[global] default`."""
    files = config_files(env)
    if not files:
        if name:
            raise UsageError(
                f"--gitlab {name}: no python-gitlab configuration file found",
                "create ~/.python-gitlab.cfg or set PYTHON_GITLAB_CFG",
            )
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read([str(path) for path in files], encoding="utf-8")
    except configparser.Error as exc:
        raise UsageError(
            f"cannot parse the python-gitlab configuration: {describe_error(exc)}",
            "fix the file at that line",
        ) from None
    except UnicodeDecodeError:
        raise UsageError(
            f"cannot parse the python-gitlab configuration {', '.join(map(str, files))}: it is not UTF-8",
            "save the file as UTF-8",
        ) from None
    sections = [s for s in parser.sections() if s != "global"]
    chosen = name
    if chosen is not None and chosen not in sections:
        raise UsageError(
            f"--gitlab {chosen}: no such section in {', '.join(str(p) for p in files)}",
            f"sections: {', '.join(sections) or '(none)'}",
        )
    try:
        if chosen is None and prefer_host is not None:
            chosen = next(
                (s for s in sections if same_host(parser.get(s, "url", fallback=""), prefer_host)),
                None,
            )
        if chosen is None:
            default = parser.get("global", "default", fallback=None)
            if not default or default not in sections:
                return None
            chosen = default
    except configparser.Error as exc:
        raise UsageError(
            f"cannot read the python-gitlab configuration: {describe_error(exc)}", "fix that section"
        ) from None
    try:
        url = parser.get(chosen, "url", fallback=None)
        present = [(opt, kind) for opt, kind in _SECTION_TOKENS if parser.has_option(chosen, opt)]
        if len(present) > 1:
            raise UsageError(
                f"python-gitlab config [{chosen}] sets {' and '.join(o for o, _ in present)}",
                "keep only one of private_token, oauth_token and job_token",
            )
        option, kind = present[0] if present else (None, None)
        raw = parser.get(chosen, option) if option else None
        ssl_verify = _ssl_verify(parser, chosen)
    except configparser.Error as exc:
        raise UsageError(
            f"cannot read python-gitlab config [{chosen}]: {describe_error(exc)}", "fix that section"
        ) from None
    return ConfigSection(
        name=chosen,
        files=tuple(str(p) for p in files),
        url=url.strip() if url else None,
        token_option=option,
        token_kind=kind,
        raw_token=raw.strip() if raw else None,
        ssl_verify=ssl_verify,
    )


def _ssl_verify(parser: configparser.ConfigParser, section: str) -> bool | str | None:
    value: bool | str | None = None
    for where in ("global", section):
        if not parser.has_option(where, "ssl_verify"):
            continue
        try:
            value = parser.getboolean(where, "ssl_verify")
        except ValueError:
            value = parser.get(where, "ssl_verify").strip()
    return value


def section_token(section: ConfigSection, env: Mapping[str, str]) -> str | None:
    """The section's token, running its `helper:` command when it names one."""
    raw = section.raw_token
    if not raw:
        return None
    if not raw.lower().startswith("helper:"):
        return raw
    command = [expand(word, env) for word in shlex.split(raw[len("helper:") :].strip())]
    if not command:
        raise UsageError(f"{section.label}: {section.token_option} has an empty helper command")
    helper = Path(command[0]).name
    try:
        done = subprocess.run(  # the user's own configured helper, never through a shell
            command,
            capture_output=True,
            env=dict(env),
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"{section.label}: the {section.token_option} helper {helper} did not finish "
            f"within {HELPER_TIMEOUT:.0f} s",
            "run the helper yourself to see why",
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{section.label}: cannot run the {section.token_option} helper {command[0]}: "
            f"{exc.strerror or type(exc).__name__}",
            "fix the helper: command in the configuration file",
        ) from None
    # What a helper prints may be the token itself (stderr included), so none of it is shown.
    if done.returncode != 0:
        raise UsageError(
            f"{section.label}: the {section.token_option} helper {helper} failed (exit {done.returncode})",
            "run the helper yourself to see why (gl-rollout never shows its output)",
        )
    token = done.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise UsageError(f"{section.label}: the {section.token_option} helper {helper} printed nothing")
    return token


def describe_error(exc: configparser.Error) -> str:
    """Where a configuration file is malformed and how, without the offending line (it may be a token)."""
    source = getattr(exc, "source", None)
    where = f"{source}, " if source else ""
    lineno = getattr(exc, "lineno", None)
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"{where}line {lineno}: a setting before any [section] header"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(number) for number, _ in exc.errors)
        return f"{where}line {lines}: not a `key = value` line"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"{where}line {lineno}: {exc.option} is set twice in [{exc.section}]"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"{where}line {lineno}: [{exc.section}] appears twice"
    if isinstance(exc, configparser.InterpolationError):
        return f"[{exc.section}] {exc.option}: a % must be written %% in this file"
    return type(exc).__name__


_VARIABLE = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


def expand(word: str, env: Mapping[str, str]) -> str:
    """`~` and `$VAR`/`${VAR}` from the injected environment (unknown variables stay as written)."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    word = _VARIABLE.sub(variable, word)
    if (word == "~" or word.startswith("~/")) and env.get("HOME"):
        word = env["HOME"] + word[1:]
    return word
