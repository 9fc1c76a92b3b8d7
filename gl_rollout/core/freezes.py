"""Deploy freezes: is `now` inside one of a project's freeze periods, and until when. Pure.

A freeze period (GitLab's Freeze Periods API, `GET /projects/:id/freeze_periods`) is two cron
expressions, `freeze_start` and `freeze_end`, read in `cron_timezone` (an IANA name, default UTC). As
GitLab decides it for `CI_DEPLOY_FREEZE`, a period is active when its start last fired more recently
than its end: the freeze runs from the latest `freeze_start` time to the next `freeze_end` time. A
start time is inside the freeze from its first second, an end time outside it.

Cron is evaluated by `cronsim` (pure Python, no dependencies, maintained with healthchecks.io, and
reads expressions the way Debian's cron does: day-of-month and day-of-week OR-ed when both are
restricted, DST gaps and repeats handled in the time zone), so `0 23 * * 5` in `Europe/Berlin` means
23:00 Berlin time on Fridays, summer or winter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from gl_rollout.errors import UsageError

_EPSILON = dt.timedelta(microseconds=1)
_LOOKBACK = dt.timedelta(days=366 * 5)  # cronsim gives up past its own bound; one a year is enough


@dataclass(frozen=True)
class FreezePeriod:
    """One freeze period as GitLab returns it."""

    freeze_start: str
    freeze_end: str
    cron_timezone: str = "UTC"
    id: int | None = None


@dataclass(frozen=True)
class Freeze:
    """An active freeze: the period, when it began (its latest start), when it ends (its next end)."""

    period: FreezePeriod
    started: dt.datetime
    ends: dt.datetime


class FreezePeriodError(UsageError):
    """A freeze period that cannot be evaluated (bad cron, unknown time zone): exit 2."""


def _which(period: FreezePeriod) -> str:
    return f"freeze period {period.id}" if period.id is not None else "a freeze period"


def _zone(period: FreezePeriod) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(period.cron_timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise FreezePeriodError(
            f"{_which(period)} has an unknown time zone {period.cron_timezone!r}",
            "fix its cron_timezone in Settings > CI/CD > Deploy freezes (an IANA name such as Europe/Berlin)",
        ) from None


def _fire(expression: str, period: FreezePeriod, moment: dt.datetime, *, reverse: bool) -> dt.datetime | None:
    """The cron time of `expression` at or before `moment` (reverse), or strictly after it; None if never."""
    from cronsim import CronSim, CronSimError

    local = moment.astimezone(_zone(period))
    try:
        if reverse:
            found = next(CronSim(expression, local + _EPSILON, reverse=True), None)
        else:
            found = next(CronSim(expression, local), None)
    except CronSimError:
        raise FreezePeriodError(
            f"{_which(period)} has an invalid cron expression {expression!r}",
            "fix it in Settings > CI/CD > Deploy freezes (five fields: minute hour day month weekday)",
        ) from None
    except StopIteration:  # pragma: no cover - cronsim ends its iteration this way on old versions
        return None
    if found is None:
        return None
    if reverse and moment - found.astimezone(dt.UTC) > _LOOKBACK:
        return None
    return found.astimezone(dt.UTC)


def freeze_of(period: FreezePeriod, now: dt.datetime) -> Freeze | None:
    """The freeze `period` holds at `now` (aware), or None when it is not active then."""
    if now.tzinfo is None:
        raise ValueError("freeze_of needs an aware instant")
    last_start = _fire(period.freeze_start, period, now, reverse=True)
    if last_start is None:
        return None
    last_end = _fire(period.freeze_end, period, now, reverse=True)
    if last_end is not None and last_end >= last_start:
        return None
    ends = _fire(period.freeze_end, period, now, reverse=False)
    if ends is None:
        return None
    return Freeze(period, last_start, ends)


def active_freezes(periods: Iterable[FreezePeriod], now: dt.datetime) -> list[Freeze]:
    """Every freeze active at `now`, the one that ends last first (it is the one to wait for)."""
    found = [freeze for period in periods if (freeze := freeze_of(period, now)) is not None]
    return sorted(found, key=lambda freeze: freeze.ends, reverse=True)


def frozen_until(periods: Iterable[FreezePeriod], now: dt.datetime) -> dt.datetime | None:
    """When no freeze holds any more, counting freezes that overlap or follow on at once; None if none
    holds at `now`."""
    periods = list(periods)
    moment, until = now, None
    for _ in range(100):  # chained freezes; a period that never ends is bounded by the cron bound
        freezes = active_freezes(periods, moment)
        if not freezes:
            return until
        until = freezes[0].ends
        moment = until
    return until
