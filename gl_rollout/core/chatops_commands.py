"""ChatOps command lines as people write them in rollout issues, read back into values. Pure.

`gl_rollout.core.chatops` writes commands; this module reads them, in every form GitLab's rollout
templates have used: both prefixes (`/chatops run`, `/chatops gitlab run`), options before or after the
flag (`feature set --project=gitlab-org/gitlab <flag> true`), `--opt=value` or `--opt value`, several
environments at once (`--dev --pre --staging --staging-ref`), placeholders left in (`<percentage>`),
and a trailing `# comment`. Only the shape is read; whether ChatOps would accept the values is
`gl_rollout.core.chatops`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

#: Where ChatOps logs every flag change on GitLab.com (its feature-flag log issues: `core.chatops_log`).
#: Kept here, in a module that imports nothing heavy, so `status --file` does not load the evidence code.
LOG_PROJECT = "gitlab-com/gl-infra/feature-flag-log"

# ChatOps' options that take a value (Slop's `o.string`); the rest are switches.
_STRING_OPTIONS = frozenset({"project", "group", "feature-group", "namespace", "user", "repository", "match"})
ACTOR_OPTIONS: tuple[str, ...] = ("project", "group", "namespace", "user", "feature-group", "repository")
ENVIRONMENT_OPTIONS: tuple[str, ...] = ("dev", "pre", "staging", "staging-ref", "ops", "production")

_PREFIX = re.compile(r"/chatops(?:[ \t]+gitlab)?[ \t]+run(?=[ \t])")
_WORD = re.compile(r"[^\s`]+")


@dataclass(frozen=True)
class ChatopsCommand:
    """One command line: its prefix, command and subcommand, positional arguments and options."""

    prefix: str  # "/chatops run" or "/chatops gitlab run"
    command: str  # feature | auto_deploy | release | ...
    subcommand: str  # set | get | delete | list | status | check | "" when none
    arguments: tuple[str, ...]  # after the subcommand, options taken out
    options: tuple[tuple[str, str | None], ...]  # ("project", "a,b"), ("actors", None), in order
    comment: str = ""  # a trailing `# ...`, without the `#`

    def option(self, name: str) -> str | None:
        """The value of a string option, or None."""
        return next((value for key, value in self.options if key == name and value is not None), None)

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.options)

    @property
    def is_feature(self) -> bool:
        return self.command == "feature"

    @property
    def flag(self) -> str | None:
        """The flag a `feature` command names (a placeholder like `<feature-flag-name>` as written)."""
        if not self.is_feature or not self.arguments:
            return None
        return self.arguments[0].strip("`")

    @property
    def value(self) -> str | None:
        """What `feature set` sets (`true`, `false`, `25`, or a placeholder such as `<percentage>`)."""
        if self.subcommand != "set" or len(self.arguments) < 2:
            return None
        return self.arguments[1]

    @property
    def environments(self) -> tuple[str, ...]:
        """The environments named, in ChatOps' order; none means production, as in ChatOps."""
        named = tuple(env for env in ENVIRONMENT_OPTIONS if self.has(env))
        return named or ("production",)

    @property
    def actor_targets(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(kind, names) for each actor option given, names split on commas."""
        targets = []
        for kind in ACTOR_OPTIONS:
            value = self.option(kind)
            if value is not None:
                targets.append((kind, tuple(name for name in value.split(",") if name)))
        return tuple(targets)

    @property
    def percentage_kind(self) -> str | None:
        """`actors` for `--actors`, `time` for `--random`, else None."""
        if self.has("actors"):
            return "actors"
        return "time" if self.has("random") else None

    def value_meaning(self) -> str | None:
        """What a `feature set` value means: `on`, `off`, `percentage` (a number or a placeholder for
        one), or None when it is no value at all."""
        value = self.value
        if value is None:
            return None
        text = value.lower()
        if text in ("true", "100"):
            return "on"
        if text in ("false", "0"):
            return "off"
        if re.fullmatch(r"\d{1,3}(?:\.\d+)?", text) or (text.startswith("<") and text.endswith(">")):
            return "percentage"
        return None


def parse_command(text: str) -> ChatopsCommand | None:
    """The command that starts `text` (after spaces and an opening backtick), or None."""
    stripped = text.strip().lstrip("`").strip()
    match = _PREFIX.match(stripped)
    if match is None:
        return None
    return _parse_rest(" ".join(match.group(0).split()), stripped[match.end() :])


def find_commands(text: str) -> Iterator[tuple[int, ChatopsCommand]]:
    """(0-based line, command) for every ChatOps command in `text`: in code blocks, in code spans (up
    to the closing backtick) and in plain text."""
    for index, line in enumerate(text.splitlines()):
        if "/chatops" not in line:
            continue
        for match in _PREFIX.finditer(line):
            start = match.end()
            in_span = line[: match.start()].count("`") % 2 == 1
            end = line.find("`", start) if in_span else -1
            rest = line[start:end] if end != -1 else line[start:]
            command = _parse_rest(" ".join(match.group(0).split()), rest)
            if command is not None:
                yield index, command


def _parse_rest(prefix: str, rest: str) -> ChatopsCommand | None:
    comment = ""
    hashed = re.search(r"(?:^|\s)#(?:\s|$)(?P<comment>.*)$", rest)
    if hashed is not None:
        comment = hashed.group("comment").strip()
        rest = rest[: hashed.start()]
    words = _WORD.findall(rest)
    if not words:
        return None
    command = words[0]
    subcommand = ""
    position = 1
    if len(words) > 1 and not words[1].startswith("--"):
        subcommand = words[1]
        position = 2
    arguments: list[str] = []
    options: list[tuple[str, str | None]] = []
    remaining = words[position:]
    index = 0
    while index < len(remaining):
        word = remaining[index]
        index += 1
        if not word.startswith("--") or len(word) == 2:
            arguments.append(word)
            continue
        name, equals, value = word[2:].partition("=")
        if equals:
            options.append((name, value))
        elif name in _STRING_OPTIONS and index < len(remaining) and not remaining[index].startswith("--"):
            options.append((name, remaining[index]))
            index += 1
        else:
            options.append((name, None))
    return ChatopsCommand(prefix, command, subcommand, tuple(arguments), tuple(options), comment)
