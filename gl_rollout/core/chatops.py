"""ChatOps `feature set` / `feature delete` commands, validated the way ChatOps validates them.

The same validated request also maps onto the Features REST API (`POST /features/:name`), so the
comment that shows a command and the API call that applies it can never disagree.

Percentage kinds: `actors=True` is ChatOps' `--actors` (API `key=percentage_of_actors`);
`time=True` is ChatOps' deprecated `--random`, which ChatOps only accepts together with
`--ignore-random-deprecation-check`, so the command carries both (API `key=percentage_of_time`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from gl_rollout.errors import UsageError

DEFAULT_PREFIX = "/chatops run"

# ChatOps' environment flags, in the order commands print them.
ENVIRONMENTS: tuple[str, ...] = ("dev", "pre", "staging", "staging-ref", "ops", "production")
NON_PRODUCTION: tuple[str, ...] = ("dev", "pre", "staging", "staging-ref")
EVERYWHERE: tuple[str, ...] = ("dev", "pre", "staging", "staging-ref", "production")

FLAG_NAME_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_PATH_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*$")
_USER_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")
_FEATURE_GROUP_RE = re.compile(r"^[a-z0-9_]+$")
_PREFIX_RE = re.compile(r"^/[a-z][a-z0-9_-]*(?: [a-z][a-z0-9_-]*)*$")


@dataclass(frozen=True)
class _ActorKind:
    api_field: str  # the Features API parameter
    pattern: re.Pattern[str]
    example: str


# ChatOps actor option -> how it is checked and sent, in the order commands print them.
_ACTOR_KINDS: dict[str, _ActorKind] = {
    "project": _ActorKind("project", _PATH_RE, "a project path like gitlab-org/gitlab"),
    "group": _ActorKind("group", _PATH_RE, "a group path like gitlab-org"),
    "namespace": _ActorKind("namespace", _PATH_RE, "a namespace path like gitlab-org"),
    "user": _ActorKind("user", _USER_RE, "a username like jdoe"),
    "feature-group": _ActorKind(
        "feature_group", _FEATURE_GROUP_RE, "a feature group name like gitlab_team_members"
    ),
    "repository": _ActorKind("repository", _PATH_RE, "a repository path like gitlab-org/gitlab"),
}

Value = bool | int | str


@dataclass(frozen=True)
class FeatureSet:
    """One validated `feature set` request: flag, value, environments, actor targets, percentage kind."""

    flag: str
    value: bool | int
    environments: tuple[str, ...]
    actors: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, names) in _ACTOR_KINDS order, non-empty only
    percentage_kind: str | None  # "actors", "time" or None

    @property
    def value_text(self) -> str:
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return str(self.value)

    def command(self, prefix: str = DEFAULT_PREFIX) -> str:
        """The ChatOps command line, e.g. `/chatops run feature set my_flag true --staging`."""
        parts = [check_prefix(prefix), "feature", "set", self.flag, self.value_text]
        if self.percentage_kind == "actors":
            parts.append("--actors")
        elif self.percentage_kind == "time":
            parts += ["--random", "--ignore-random-deprecation-check"]
        parts += [f"--{kind}={','.join(names)}" for kind, names in self.actors]
        parts += environment_flags(self.environments)
        return " ".join(parts)

    def api_params(self) -> dict[str, str | int]:
        """The Features API form of the request (`POST /features/:name`)."""
        params: dict[str, str | int] = {
            "value": self.value_text if isinstance(self.value, bool) else self.value
        }
        if self.percentage_kind == "actors":
            params["key"] = "percentage_of_actors"
        elif self.percentage_kind == "time":
            params["key"] = "percentage_of_time"
        for kind, names in self.actors:
            params[_ACTOR_KINDS[kind].api_field] = ",".join(names)
        return params

    @property
    def is_percentage(self) -> bool:
        return not isinstance(self.value, bool) and 0 < self.value < 100


def check_prefix(prefix: str) -> str:
    """A ChatOps prefix such as `/chatops run` or `/chatops gitlab run`; anything else is refused."""
    cleaned = " ".join(prefix.split())
    if not _PREFIX_RE.match(cleaned):
        raise UsageError(
            f"invalid ChatOps prefix {prefix!r}",
            'use a slash command of lowercase words, such as "/chatops run" or "/chatops gitlab run"',
        )
    return cleaned


def check_flag_name(flag: str) -> str:
    """A flag name GitLab accepts: lowercase letters and digits in runs joined by single underscores."""
    if not FLAG_NAME_RE.match(flag):
        raise UsageError(
            f"invalid feature flag name {flag!r}",
            "use lowercase letters and digits joined by single underscores, like my_feature_flag",
        )
    return flag


def parse_value(value: Value) -> bool | int:
    """`true`/`false` or an integer 0-100, as ChatOps accepts; `50%` and `0.5` are refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
        if not re.fullmatch(r"\d{1,3}", text):
            raise UsageError(
                f"invalid feature flag value {value!r}",
                "use true, false or a whole percentage from 0 to 100",
            )
        number = int(text)
    if not 0 <= number <= 100:
        raise UsageError(f"percentage {number} is out of range", "use a whole number from 0 to 100")
    return number


def parse_environments(envs: Sequence[str]) -> tuple[str, ...]:
    """Environment names in ChatOps order; none at all means production, as in ChatOps."""
    chosen: set[str] = set()
    for env in envs:
        name = env.strip().lower().lstrip("-")
        if name not in ENVIRONMENTS:
            raise UsageError(f"unknown environment {env!r}", f"use one of: {', '.join(ENVIRONMENTS)}")
        chosen.add(name)
    if not chosen:
        return ("production",)
    return tuple(e for e in ENVIRONMENTS if e in chosen)


def environment_flags(environments: Sequence[str]) -> list[str]:
    """ChatOps flags for the environments; production alone is ChatOps' default and prints no flag."""
    ordered = parse_environments(environments)
    if ordered == ("production",):
        return []
    return [f"--{e}" for e in ordered]


def _actor_list(kind: str, names: str | Sequence[str] | None) -> tuple[str, ...]:
    if names is None:
        return ()
    items = [names] if isinstance(names, str) else list(names)
    result: list[str] = []
    actor = _ACTOR_KINDS[kind]
    for item in items:
        for raw in item.split(","):
            name = raw.strip()
            if kind == "user":
                name = name.removeprefix("@")
            if not name:
                continue
            if not actor.pattern.match(name):
                raise UsageError(
                    f"invalid --{kind} value {raw.strip()!r}",
                    f"give {actor.example}",
                    details={"actor": kind, "value": raw.strip()},
                )
            if name not in result:
                result.append(name)
    return tuple(result)


def renamed_actor_error(error: UsageError, options: Mapping[str, str]) -> UsageError:
    """`error` naming the caller's option (`--project-actor`) where ChatOps' rule named its own
    (`--project`); any other error as it is."""
    kind = error.details.get("actor")
    if not isinstance(kind, str) or kind not in options:
        return error
    return UsageError(
        f"invalid {options[kind]} value {error.details.get('value')!r}", error.hint, details=error.details
    )


class ActorTargets(TypedDict, total=False):
    """Who a `feature set` request is for and what its percentage counts; see `feature_set`."""

    projects: Sequence[str]
    groups: Sequence[str]
    users: Sequence[str]
    feature_group: str | Sequence[str] | None
    namespaces: Sequence[str]
    repositories: Sequence[str]
    actors: bool
    time: bool


class FeatureSetRequest(ActorTargets, total=False):
    """The keywords of `feature_set`: the actor targets and the ChatOps environments."""

    envs: Sequence[str]


def feature_set(
    flag: str,
    value: Value,
    *,
    envs: Sequence[str] = (),
    projects: Sequence[str] = (),
    groups: Sequence[str] = (),
    users: Sequence[str] = (),
    feature_group: str | Sequence[str] | None = None,
    namespaces: Sequence[str] = (),
    repositories: Sequence[str] = (),
    actors: bool = False,
    time: bool = False,
) -> FeatureSet:
    """Validate a `feature set` request as ChatOps does and return it; UsageError says what is wrong."""
    check_flag_name(flag)
    parsed = parse_value(value)
    environments = parse_environments(envs)
    targets = (
        ("project", _actor_list("project", projects)),
        ("group", _actor_list("group", groups)),
        ("namespace", _actor_list("namespace", namespaces)),
        ("user", _actor_list("user", users)),
        ("feature-group", _actor_list("feature-group", feature_group)),
        ("repository", _actor_list("repository", repositories)),
    )
    actor_targets = tuple((kind, names) for kind, names in targets if names)
    if actors and time:
        raise UsageError("--actors and --time cannot be combined", "choose one kind of percentage")
    kind = "actors" if actors else "time" if time else None
    if kind is not None and isinstance(parsed, bool):
        raise UsageError(
            f"--{kind} needs a percentage, not {str(parsed).lower()}",
            "give a whole number from 0 to 100, or drop the option",
        )
    if kind is not None and actor_targets:
        raise UsageError(
            "a percentage cannot be combined with actor targets",
            "set the percentage and the actors in two separate commands",
        )
    if not isinstance(parsed, bool) and 0 < parsed < 100 and kind is None:
        raise UsageError(
            f"a percentage ({parsed}) needs --actors or --time",
            "--actors (percentage of actors) is the recommended choice",
        )
    if not isinstance(parsed, bool) and actor_targets:
        raise UsageError(
            "actor targets take true or false, not a percentage",
            "use true to enable the flag for those actors",
        )
    return FeatureSet(
        flag=flag,
        value=parsed,
        environments=environments,
        actors=actor_targets,
        percentage_kind=kind,
    )


def feature_set_command(
    flag: str, value: Value, *, prefix: str = DEFAULT_PREFIX, **request: Unpack[FeatureSetRequest]
) -> str:
    """The exact ChatOps `feature set` command for a validated request (keywords as `feature_set`)."""
    return feature_set(flag, value, **request).command(prefix)


def feature_api_params(flag: str, value: Value, **targets: Unpack[ActorTargets]) -> dict[str, str | int]:
    """The Features API parameters for the same request `feature_set_command` prints.

    No environments: the API call goes to one instance, the one the caller connects to.
    """
    return feature_set(flag, value, **targets).api_params()


def feature_delete_command(flag: str, *, envs: Sequence[str] = (), prefix: str = DEFAULT_PREFIX) -> str:
    """The ChatOps `feature delete` command; `envs=EVERYWHERE` cleans up every environment."""
    check_flag_name(flag)
    return " ".join([check_prefix(prefix), "feature", "delete", flag, *environment_flags(envs)])


def feature_get_command(flag: str, *, envs: Sequence[str] = (), prefix: str = DEFAULT_PREFIX) -> str:
    """The ChatOps `feature get` command, which shows the flag's gates on each environment named."""
    check_flag_name(flag)
    return " ".join([check_prefix(prefix), "feature", "get", flag, *environment_flags(envs)])


_SHA_RE = re.compile(r"^[0-9a-f]{7,64}$")


def auto_deploy_status_command(sha: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """`/chatops run auto_deploy status <sha>`: where the merge commit `sha` has been deployed."""
    cleaned = sha.strip().lower()
    if not _SHA_RE.match(cleaned):
        raise UsageError(f"invalid commit SHA {sha!r}", "give the merge commit's SHA, 7 to 64 hex digits")
    return " ".join([check_prefix(prefix), "auto_deploy", "status", cleaned])


def release_check_command(merge_request_url: str, milestone: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """`/chatops run release check <merge-request-url> <milestone>`: whether a merge request is in the
    release of that milestone."""
    url, version = merge_request_url.strip(), milestone.strip()
    if not re.fullmatch(r"https://\S+/-/merge_requests/\d+", url):
        raise UsageError(
            f"invalid merge request URL {merge_request_url!r}",
            "give https://host/group/project/-/merge_requests/N",
        )
    if not re.fullmatch(r"\d+\.\d+", version):
        raise UsageError(f"invalid milestone {milestone!r}", "give a milestone like 17.2")
    return " ".join([check_prefix(prefix), "release", "check", url, version])
