"""GitLab's project feature flags (the Unleash-compatible flags of `/projects/:id/feature_flags`). Pure.

The values GitLab's API returns (`ProjectFlag` with its `Strategy`s, each scoped to environments), what a
flag means per environment (`FlagState`: off, on for everyone, a percentage, user lists, user ids), and
the change a rollout step asks for planned as one `PUT` (`plan_change`), in the layout gl-rollout keeps:

- everyone in an environment: one `default` strategy, whose scopes are the environments fully on;
- a percentage: one `flexibleRollout` strategy per environment, scoped to that environment alone and
  changed in place by its `id` on the next ramp step (never a second one);
- beta users: a `gitlabUserList` strategy per user list;
- off in an environment: that environment's scopes removed (`_destroy`), a strategy left without
  scopes removed with them; the whole flag off: `active` false.

A flag that holds another layout for the environment a step changes (two percentage strategies, a
percentage shared with other environments, `gradualRolloutUserId` or `userWithId` strategies there) is
reported and left alone unless the step adopts it (`--adopt-flag`): then the strategies that do not fit
lose that environment's scope and the step is applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gl_rollout.core.steps import ramp_share
from gl_rollout.errors import UsageError

STICKINESS: tuple[str, ...] = ("default", "userId", "sessionId", "random")
NEW_VERSION_FLAG = "new_version_flag"
ROLLOUT_GROUP_ID = "default"  # the groupId GitLab's UI gives a percentage strategy
DEFAULT_ENVIRONMENTS: tuple[str, ...] = ("staging", "production")
DEFAULT_PROJECT_RAMP: tuple[int, ...] = (10, 25, 50, 100)

# GitLab's rules: a flag name (Operations::FeatureFlag) and an environment scope (FeatureFlags::Scope).
_FLAG_NAME = re.compile(r"[a-z](?:[-_a-z0-9]*[a-z0-9])?")
_ENVIRONMENT_SCOPE = re.compile(r"[a-zA-Z0-9_/${}. *-]+")


# --- GitLab's values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagScope:
    """One environment scope of a strategy: `production`, `review/*` or `*`."""

    id: int | None
    environment_scope: str


@dataclass(frozen=True)
class UserListRef:
    """A feature flag user list: `id` (what a strategy names), `iid` (what URLs name), its user ids."""

    id: int
    iid: int
    name: str
    user_xids: str = ""


@dataclass(frozen=True)
class Strategy:
    """One strategy of a flag: its name, parameters, environment scopes and user list."""

    id: int | None
    name: str
    parameters: Mapping[str, Any]
    scopes: tuple[FlagScope, ...] = ()
    user_list: UserListRef | None = None

    def covers(self, env: str) -> bool:
        return any(scope_matches(scope.environment_scope, env) for scope in self.scopes)

    def scoped_exactly(self, env: str) -> bool:
        return any(scope.environment_scope == env for scope in self.scopes)

    def describe(self) -> str:
        """`flexibleRollout 25% (stickiness default) on production`, as the strategy diff shows it."""
        where = ", ".join(scope.environment_scope for scope in self.scopes) or "no environment"
        what = self.name
        if self.name == "flexibleRollout":
            what += f" {self.parameters.get('rollout')}% (stickiness {self.parameters.get('stickiness')})"
        elif self.name == "gradualRolloutUserId":
            what += f" {self.parameters.get('percentage')}%"
        elif self.name == "gitlabUserList":
            what += f" {self.user_list.name!r}" if self.user_list else " (no list)"
        elif self.name == "userWithId":
            what += f" {self.parameters.get('userIds')}"
        return f"{what} on {where}"


@dataclass(frozen=True)
class ProjectFlag:
    """A project feature flag as GitLab's API returns it."""

    name: str
    active: bool
    strategies: tuple[Strategy, ...] = ()
    description: str | None = None
    version: str = NEW_VERSION_FLAG
    created_at: str = ""
    updated_at: str = ""


def scope_matches(environment_scope: str, env: str) -> bool:
    """GitLab's rule: `*`, the exact name, or a pattern where `*` stands for any text (`review/*`)."""
    if environment_scope in ("*", env):
        return True
    if "*" not in environment_scope:
        return False
    pattern = ".*".join(re.escape(part) for part in environment_scope.split("*"))
    return re.fullmatch(pattern, env, flags=re.DOTALL) is not None


def is_wildcard(env: str) -> bool:
    return "*" in env


def check_project_flag_name(name: str) -> str:
    """A project feature flag name as GitLab takes it (2-63 characters: lowercase letters, digits, `_`
    and `-`, starting with a letter, not ending with `_` or `-`); UsageError otherwise."""
    text = name.strip()
    if not 2 <= len(text) <= 63 or not _FLAG_NAME.fullmatch(text):
        raise UsageError(
            f"invalid project feature flag name {name!r}",
            "use 2-63 lowercase letters, digits, '_' or '-', starting with a letter, like new-checkout",
        )
    return text


def check_environment(env: str, option: str = "--env") -> str:
    """An environment name or scope as GitLab takes it (`production`, `review/*`); UsageError otherwise."""
    text = env.strip()
    if not text or not _ENVIRONMENT_SCOPE.fullmatch(text) or len(text) > 255:
        raise UsageError(
            f"invalid environment {env!r} for {option}",
            "use letters, digits, '-', '_', '/', '$', '{', '}', '.', '*' and spaces, like production",
        )
    return text


def check_project_path(value: str, option: str = "--flag-project") -> str:
    """A project's full path (`group/project`) or numeric ID; UsageError otherwise."""
    text = value.strip().strip("/")
    parts = text.split("/")
    if not text or not (
        text.isdigit()
        or (
            len(parts) >= 2 and all(re.fullmatch(r"[\w.][\w.\-]*", p) and p not in (".", "..") for p in parts)
        )
    ):
        raise UsageError(
            f"{option} {value!r} is not a project path or ID",
            "use the full path like group/project, or its ID",
        )
    return text


def check_stickiness(value: str) -> str:
    if value not in STICKINESS:
        raise UsageError(f"invalid --stickiness {value!r}", f"use one of {', '.join(STICKINESS)}")
    return value


# --- what a flag means per environment ------------------------------------------------------------------


@dataclass(frozen=True)
class EnvState:
    """What an application in `env` gets from the flag's strategies (the flag's `active` aside).

    `on`: everyone (a `default` strategy, or a 100% one); `percentage`: the share of a percentage
    strategy below 100; `user_lists` and `users`: named users on top of that.
    """

    env: str
    on: bool = False
    percentage: int | None = None
    stickiness: str | None = None
    user_lists: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @property
    def off(self) -> bool:
        return not self.on and not self.percentage and not self.user_lists and not self.users

    def position(self) -> str:
        """`off`, `on`, `25%`, `25% + user list beta`: where the environment stands."""
        parts: list[str] = []
        if self.on:
            parts.append("on")
        elif self.percentage:
            parts.append(f"{self.percentage}%")
        parts += [f"user list {name}" for name in self.user_lists]
        if self.users:
            parts.append(f"{len(self.users)} user id{'s' if len(self.users) != 1 else ''}")
        return " + ".join(parts) or "off"


@dataclass(frozen=True)
class FlagState:
    """A flag's position in each environment of a rollout: the value a ramp runner compares with its plan.

    `exists` is False when the project has no such flag; `active` False turns it off everywhere.
    """

    flag: str
    exists: bool
    active: bool
    envs: tuple[EnvState, ...] = ()
    backend: str = "project"
    updated_at: str = ""
    # The flag read from GitLab: an environment outside `envs` (reached only by a wildcard scope, or not
    # named when the state was built) is worked out from its strategies, as GitLab matches scopes.
    source: ProjectFlag | None = field(default=None, compare=False, repr=False)

    def env(self, name: str) -> EnvState:
        found = next((state for state in self.envs if state.env == name), None)
        if found is not None:
            return found
        return env_state(self.source, name) if self.source is not None else EnvState(name)

    def serving(self, name: str) -> EnvState:
        """What applications in `name` really get: nothing while the flag is inactive or absent."""
        return self.env(name) if self.exists and self.active else EnvState(name)

    def summary(self) -> str:
        """`active; staging on, production 25%`, or `inactive`, or `absent`."""
        if not self.exists:
            return "absent"
        where = ", ".join(f"{state.env} {state.position()}" for state in self.envs)
        return (
            f"{'active' if self.active else 'inactive'}; {where}"
            if where
            else ("active" if self.active else "inactive")
        )


def _percent(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def env_state(flag: ProjectFlag, env: str) -> EnvState:
    """What the flag's strategies give applications in `env` (scopes matched as GitLab matches them)."""
    on = False
    percentage: int | None = None
    stickiness: str | None = None
    lists: list[str] = []
    users: list[str] = []
    for strategy in flag.strategies:
        if not strategy.covers(env):
            continue
        if strategy.name == "default":
            on = True
        elif strategy.name in ("flexibleRollout", "gradualRolloutUserId"):
            key = "rollout" if strategy.name == "flexibleRollout" else "percentage"
            share = _percent(strategy.parameters.get(key))
            if share is not None and share >= 100:
                on = True
            elif share:
                percentage = max(percentage or 0, share)
                stickiness = str(strategy.parameters.get("stickiness") or "default")
        elif strategy.name == "gitlabUserList" and strategy.user_list is not None:
            lists.append(strategy.user_list.name)
        elif strategy.name == "userWithId":
            users += [u for u in str(strategy.parameters.get("userIds") or "").split(",") if u]
    if on:
        percentage, stickiness = None, None
    return EnvState(env, on, percentage, stickiness, tuple(lists), tuple(users))


def flag_state(flag: ProjectFlag | None, name: str, environments: Sequence[str]) -> FlagState:
    """The flag's position in each of `environments` (and every environment a scope names exactly)."""
    if flag is None:
        return FlagState(name, exists=False, active=False)
    named = list(dict.fromkeys(environments))
    for strategy in flag.strategies:
        for scope in strategy.scopes:
            if scope.environment_scope not in named and not is_wildcard(scope.environment_scope):
                named.append(scope.environment_scope)
    envs = tuple(env_state(flag, env) for env in named)
    return FlagState(flag.name, True, flag.active, envs, updated_at=flag.updated_at, source=flag)


# --- a change, planned as one PUT ------------------------------------------------------------------------

ChangeKind = Literal["on", "percentage", "user-list", "off", "inactive"]


@dataclass(frozen=True)
class FlagChange:
    """What one rollout step does to the flag: `on` (everyone in `env`), `percentage` (a share of `env`),
    `user-list` (the users of a list in `env`), `off` (nothing in `env`), `inactive` (off everywhere)."""

    kind: ChangeKind
    env: str | None = None
    percentage: int | None = None
    stickiness: str = "default"
    user_list: UserListRef | None = None

    def describe(self) -> str:
        if self.kind == "on":
            return f"on for everyone in {self.env}"
        if self.kind == "percentage":
            return f"on for {self.percentage}% of users in {self.env} (stickiness {self.stickiness})"
        if self.kind == "user-list":
            name = self.user_list.name if self.user_list else "?"
            return f"on for the users of list {name!r} in {self.env}"
        if self.kind == "off":
            return f"off in {self.env}"
        return "inactive (off in every environment)"


@dataclass(frozen=True)
class FlagPlan:
    """The PUT that makes a change so (`fields`, empty when it already is), and the strategy diff."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    diff: tuple[str, ...] = ()
    adopted: tuple[str, ...] = ()  # strategies the change took over (`--adopt-flag`), described

    @property
    def needed(self) -> bool:
        return bool(self.fields)


class LayoutError(UsageError):
    """The flag holds another strategy layout for the environment the step changes (exit 2)."""


class DecreaseError(UsageError):
    """The step would lower the share of users who have the flag (exit 2 unless allowed)."""


def _strategy_body(strategy: Strategy) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": strategy.name,
        "parameters": dict(strategy.parameters),
        "scopes": [{"environment_scope": scope.environment_scope} for scope in strategy.scopes],
    }
    if strategy.user_list is not None:
        body["user_list_id"] = strategy.user_list.id
    return body


def _misfits(flag: ProjectFlag, env: str, keep: Sequence[str]) -> list[Strategy]:
    """Strategies covering `env` that the layout does not allow there (see the module docstring)."""
    found: list[Strategy] = []
    rollouts = [s for s in flag.strategies if s.name == "flexibleRollout" and s.covers(env)]
    for strategy in flag.strategies:
        if not strategy.covers(env):
            continue
        if strategy.name in ("gradualRolloutUserId", "userWithId") and strategy.name not in keep:
            found.append(strategy)
        elif strategy.name == "flexibleRollout" and "flexibleRollout" in keep:
            alone = len(strategy.scopes) == 1 and strategy.scoped_exactly(env)
            if not alone or strategy is not rollouts[0]:
                found.append(strategy)
    return found


def _scope_off(strategy: Strategy, env: str) -> tuple[dict[str, Any], str]:
    """The nested attributes that take `env`'s exact scopes off `strategy` (or remove the strategy when
    no scope would be left), and the diff line."""
    assert strategy.id is not None
    left = [s for s in strategy.scopes if s.environment_scope != env]
    if not left:
        return {"id": strategy.id, "_destroy": True}, f"- {strategy.describe()}"
    gone = [{"id": s.id, "_destroy": True} for s in strategy.scopes if s.environment_scope == env]
    return {"id": strategy.id, "scopes": gone}, f"~ {strategy.describe()}: without {env}"


def plan_change(
    flag: ProjectFlag,
    change: FlagChange,
    *,
    allow_decrease: bool = False,
    adopt: bool = False,
) -> FlagPlan:
    """The PUT body (`active`, `strategies` as nested attributes by id) that makes `change` so on `flag`.

    Raises `LayoutError` for another layout (unless `adopt`), `DecreaseError` for a lower share (unless
    `allow_decrease`), and UsageError when an environment cannot be switched off alone (a `*` scope).
    """
    if change.kind == "inactive":
        if not flag.active:
            return FlagPlan()
        return FlagPlan({"active": False}, ("~ active: true -> false",))
    env = change.env
    assert env is not None
    strategies: list[dict[str, Any]] = []
    diff: list[str] = []
    adopted: list[str] = []
    current = env_state(flag, env)

    if change.kind == "off":
        covering = [s for s in flag.strategies if s.covers(env)]
        wide = [s for s in covering if not s.scoped_exactly(env)]
        if wide:
            raise UsageError(
                f"{flag.name} is on in {env} through the scope "
                f"{wide[0].scopes[0].environment_scope!r} ({wide[0].describe()}), which covers other "
                "environments too",
                "change that strategy in GitLab, or disable the whole flag (disable without --env)",
            )
        for strategy in covering:
            body, line = _scope_off(strategy, env)
            strategies.append(body)
            diff.append(line)
        return FlagPlan({"strategies": strategies} if strategies else {}, tuple(diff))

    keep = {"on": ("default",), "percentage": ("flexibleRollout",), "user-list": ("gitlabUserList",)}
    misfits = _misfits(flag, env, keep[change.kind]) if change.kind == "percentage" else []
    if change.kind in ("on", "percentage"):
        misfits += [
            s for s in flag.strategies
            if s.covers(env) and s.name in ("gradualRolloutUserId", "userWithId") and s not in misfits
        ]  # fmt: skip
    if misfits and not adopt:
        raise LayoutError(
            f"{flag.name} has another strategy layout in {env}: "
            + "; ".join(s.describe() for s in misfits)
            + " (gl-rollout keeps one default strategy for everyone, one flexibleRollout per environment "
            "and gitlabUserList strategies)",
            "change it in GitLab, or pass --adopt-flag to take those strategies off "
            f"{env} and apply the step",
        )
    for strategy in misfits:
        body, line = _scope_off(strategy, env)
        strategies.append(body)
        diff.append(line + " (adopted)")
        adopted.append(strategy.describe())
    untouched = [s for s in flag.strategies if s not in misfits]

    if change.kind == "on":
        if not (current.on and not misfits):
            default = next((s for s in untouched if s.name == "default"), None)
            if default is not None and default.id is not None:
                strategies.append({"id": default.id, "scopes": [{"environment_scope": env}]})
                diff.append(f"~ {default.describe()}: with {env}")
            else:
                new = Strategy(None, "default", {}, (FlagScope(None, env),))
                strategies.append(_strategy_body(new))
                diff.append(f"+ {new.describe()}")
    elif change.kind == "percentage":
        wanted = change.percentage
        assert wanted is not None
        share = 100 if current.on else (current.percentage or 0)
        if wanted < share and not allow_decrease:
            raise DecreaseError(
                f"{flag.name} is on for {share}% of {env} now: {wanted}% would lower it",
                "pass --allow-decrease to lower it on purpose",
            )
        params = {"groupId": ROLLOUT_GROUP_ID, "rollout": str(wanted), "stickiness": change.stickiness}
        rollout = next((s for s in untouched if s.name == "flexibleRollout" and s.covers(env)), None)
        if wanted < 100 and current.on:
            # Lowering from everyone: `env` leaves the default strategy (a 100% rollout is changed below).
            for strategy in untouched:
                if strategy.name == "default" and strategy.covers(env):
                    body, line = _scope_off(strategy, env)
                    strategies.append(body)
                    diff.append(line)
        if rollout is not None and rollout.id is not None:
            old = dict(rollout.parameters)
            if old != params:
                strategies.append({"id": rollout.id, "parameters": params})
                diff.append(
                    f"~ flexibleRollout on {env} (id {rollout.id}): {old.get('rollout')}% -> {wanted}%"
                    + (
                        f", stickiness {old.get('stickiness')} -> {change.stickiness}"
                        if old.get("stickiness") != change.stickiness
                        else ""
                    )
                )
        elif not (current.on and wanted == 100):
            new = Strategy(None, "flexibleRollout", params, (FlagScope(None, env),))
            strategies.append(_strategy_body(new))
            diff.append(f"+ {new.describe()}")
    elif change.kind == "user-list":
        listed = change.user_list
        assert listed is not None
        present = any(
            s.name == "gitlabUserList" and s.user_list is not None and s.user_list.id == listed.id
            and s.covers(env)
            for s in untouched
        )  # fmt: skip
        if not present:
            new = Strategy(None, "gitlabUserList", {}, (FlagScope(None, env),), listed)
            strategies.append(_strategy_body(new))
            diff.append(f"+ {new.describe()}")

    fields: dict[str, Any] = {}
    if strategies:
        fields["strategies"] = strategies
    if not flag.active:
        fields["active"] = True
        diff.append("~ active: false -> true")
    return FlagPlan(fields, tuple(diff), tuple(adopted))


# --- rollout steps and evidence --------------------------------------------------------------------------


def env_slug(env: str) -> str:
    """An environment's name as it appears in a step ID: `enable-<slug>`."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", env.lower()).strip("-._")
    return slug or "env"


def enable_step(env: str, environments: Sequence[str]) -> str:
    """The step that turns the flag on for everyone in `env`: `enable-production` for the last (the
    production environment, where the ramp runs), `enable-<env>` for the others."""
    if environments and env == environments[-1]:
        return "enable-production"
    return f"enable-{env_slug(env)}"


def try_out_step(env: str) -> str:
    """The step that checks the feature in `env`: `test-<env>`."""
    return f"test-{env_slug(env)}"


@dataclass(frozen=True)
class ProjectFlagReading:
    """The project flag as GitLab returned it during this command, for `sync` and `status --timeline`.

    `flag` is None when the project has no such flag (it proves nothing then: never created, or deleted).
    """

    project: str
    name: str
    flag: ProjectFlag | None
    environments: tuple[str, ...]
    observed_at: str

    @property
    def state(self) -> FlagState:
        return flag_state(self.flag, self.name, self.environments)

    @property
    def summary(self) -> str:
        """`project flag new-checkout in g/p: active; staging on, production 25%`."""
        return f"project flag {self.name} in {self.project}: {self.state.summary()}"

    def proofs(self, step_ids: Iterable[str]) -> list[tuple[str, bool]]:
        """(step, done) for the steps of `step_ids` the flag speaks of, as `sync` weighs them:
        `create-flag` done while it exists; `enable-<env>` done when everyone in that environment has
        it, undone when nobody does; on production also `ramp-N` done up to the share it reached and
        undone above it, and `enable-beta` done while a user list has it."""
        if self.flag is None:
            return []
        ids = list(step_ids)
        state = self.state
        found: list[tuple[str, bool]] = [("create-flag", True)]
        production = self.environments[-1] if self.environments else None
        for env in self.environments:
            serving = state.serving(env)
            step = enable_step(env, self.environments)
            if serving.on:
                found.append((step, True))
            elif serving.off or env == production:
                found.append((step, False))
            if env != production:
                continue
            share = 100 if serving.on else (serving.percentage or 0)
            for step_id in ids:
                ramp = ramp_share(step_id)
                if ramp is not None:
                    found.append((step_id, ramp <= share))
            if serving.user_lists:
                found.append(("enable-beta", True))
        return [(step, done) for step, done in found if step in ids]

    def production_partial(self) -> bool:
        """Whether part of production has the flag: a share between 0 and 100 there."""
        if not self.environments:
            return False
        serving = self.state.serving(self.environments[-1])
        return not serving.on and bool(serving.percentage)
