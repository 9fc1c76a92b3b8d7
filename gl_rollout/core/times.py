"""Time, in one place: timestamps as GitLab writes them (read at their resolution, written back the
same way, shown to people in UTC), `--eta` values (parsed and said back in UTC), durations (`15m`,
`1h30m`, `1d`: a plan's waits), GitLab's clock (the `Date` header of its answers) and the `Clock` a
decision takes "now" from.

`--eta` accepts ISO 8601 with a zone (`2026-12-01T14:00:00Z`, `2026-12-01T14:00+02:00`), the same with a
space and a zone word (`2026-12-01 14:00 UTC`, `... GMT`, `... +0200`, `... Europe/Berlin`), and
relative times (`in 2h`, `in 30m`, `in 1d`, `in 1h30m`, `in 2 hours`). A time without a zone is refused:
"14:00" means different moments to the people reading the issue, so the tool will not guess.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gl_rollout.errors import UsageError

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
_UNIT_WORDS = {
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
    "d": "d", "day": "d", "days": "d",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
}  # fmt: skip
_RELATIVE_PART = re.compile(r"(\d+)\s*([a-z]+)")
_RELATIVE = re.compile(r"^(?:in\s+|\+)?((?:\d+\s*[a-z]+\s*)+)$")
_ABSOLUTE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T\s]+(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?P<zone>.*)$",
    re.IGNORECASE,
)
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_ZONE_HINT = "add a zone, e.g. '2026-12-01 14:00 UTC' or '2026-12-01T14:00+02:00', or say 'in 2h'"


@dataclass(frozen=True)
class Eta:
    """A parsed ETA: the moment (aware, UTC, whole minutes) and, for relative input, its normal form."""

    when: dt.datetime
    relative: str | None  # e.g. "2h" or "1h30m" when given as "in ..."; None for an absolute time
    given: str

    @property
    def utc_text(self) -> str:
        return format_utc(self.when)

    @property
    def iso(self) -> str:
        return self.when.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_eta(text: str, now: dt.datetime | None = None) -> Eta:
    """Parse an ETA; UsageError (exit 2) for no zone, an unknown form, or a time not in the future."""
    moment_now = (now or utc_now()).astimezone(dt.UTC)
    given = " ".join(text.split())
    lowered = given.lower()
    if not lowered:
        raise UsageError("--eta is empty", _ZONE_HINT)
    relative = _parse_relative(lowered)
    if relative is not None:
        normal, seconds = relative
        try:
            when = _round_minute(moment_now + dt.timedelta(seconds=seconds))
        except OverflowError:
            raise _too_far(given) from None
        return Eta(when=when, relative=normal, given=given)
    try:
        when = _parse_absolute(given)
    except OverflowError:  # a zone offset pushing year 9999 (or year 1) past what a date can hold
        raise _too_far(given) from None
    if when <= moment_now:
        raise UsageError(
            f"the ETA {format_utc(when)} is in the past (now {format_utc(moment_now)})",
            "give a time in the future, or a relative one such as 'in 2h'",
        )
    return Eta(when=when, relative=None, given=given)


def _parse_relative(text: str) -> tuple[str, int] | None:
    """`in 1h30m` -> ("1h30m", 5400); None if the text is not a relative time at all."""
    match = _RELATIVE.match(text)
    if not match:
        return None
    totals: dict[str, int] = {}
    for number, word in _RELATIVE_PART.findall(match.group(1)):
        if len(number) > 12:  # past any date a calendar holds, and past what int() reads by default
            raise _too_far(text)
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            raise UsageError(f"unknown time unit {word!r} in {text!r}", "use m, h, d or w, as in 'in 2h'")
        totals[unit] = totals.get(unit, 0) + int(number)
    seconds = sum(_UNIT_SECONDS[unit] * count for unit, count in totals.items())
    if seconds <= 0:
        raise UsageError(f"{text!r} is not in the future", "give a positive duration, as in 'in 2h'")
    normal = "".join(f"{totals[unit]}{unit}" for unit in ("w", "d", "h", "m") if totals.get(unit))
    return normal, seconds


def _parse_absolute(text: str) -> dt.datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise UsageError(
            f"the ETA {text!r} has a date but no time", "add a time and a zone, e.g. '2026-12-01 14:00 UTC'"
        )
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = dt.datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is not None:
        if parsed.tzinfo is None:
            raise _no_zone(text)
        return _round_minute(parsed.astimezone(dt.UTC), down=True)
    match = _ABSOLUTE.match(text)
    if not match:
        raise UsageError(
            f"cannot read the ETA {text!r}",
            "give a date and time with a zone ('2026-12-01 14:00 UTC', '2026-12-01T14:00+02:00') "
            "or a duration ahead ('in 2h', 'in 30m', 'in 1d')",
        )
    try:
        local = dt.datetime.fromisoformat(f"{match.group('date')}T{_pad_time(match.group('time'))}")
    except ValueError:
        raise UsageError(f"the ETA {text!r} is not a valid date and time", _ZONE_HINT) from None
    zone = _zone(match.group("zone").strip(), text)
    return _round_minute(local.replace(tzinfo=zone).astimezone(dt.UTC), down=True)


def _pad_time(value: str) -> str:
    return value if len(value.split(":", maxsplit=1)[0]) == 2 else "0" + value


def _zone(name: str, text: str) -> dt.tzinfo:
    if not name:
        raise _no_zone(text)
    if name.upper() in ("UTC", "GMT", "Z"):
        return dt.UTC
    offset = _OFFSET.match(name)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta >= dt.timedelta(hours=24):
            raise UsageError(f"the offset {name!r} in {text!r} is out of range", _ZONE_HINT)
        return dt.timezone(-delta if sign == "-" else delta)
    if "/" in name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise UsageError(
        f"unknown time zone {name!r} in {text!r}",
        "use UTC, an offset such as +02:00, or a zone name such as Europe/Berlin "
        "(abbreviations like CET or PST are ambiguous)",
    )


def _too_far(text: str) -> UsageError:
    return UsageError(
        f"the ETA {text!r} is out of range", "give a nearer time, e.g. 'in 2h' or '2027-01-12 14:00 UTC'"
    )


def _no_zone(text: str) -> UsageError:
    return UsageError(f"the ETA {text!r} has no time zone", _ZONE_HINT)


def _round_minute(moment: dt.datetime, *, down: bool = False) -> dt.datetime:
    """Whole minutes: what the comment shows is exactly what the marker records."""
    base = moment.replace(second=0, microsecond=0)
    if not down and moment - base >= dt.timedelta(seconds=30):
        base += dt.timedelta(minutes=1)
    return base


def format_utc(moment: dt.datetime) -> str:
    """`2026-12-01 14:00 UTC`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_delta(delta: dt.timedelta) -> str:
    """How far away a moment is, in words: `in 2 hours`, `in 1 day 3 hours`, `5 minutes ago`."""
    seconds = int(delta.total_seconds())
    future = seconds >= 0
    seconds = abs(seconds)
    if seconds < 60:
        return "in less than a minute" if future else "less than a minute ago"
    minutes_total = (seconds + 30) // 60
    days, rest = divmod(minutes_total, 1440)
    hours, minutes = divmod(rest, 60)
    parts: list[str] = []
    for count, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")):
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    if days:
        parts = parts[:2]  # "1 day 3 hours": minutes are noise at that distance
    words = " ".join(parts)
    return f"in {words}" if future else f"{words} ago"


# --- timestamps as GitLab writes them ----------------------------------------------------------


_ZONE_WORDS = re.compile(r"\s*(?:UTC|GMT|Z)$", re.IGNORECASE)
_SPACED_OFFSET = re.compile(r"\s+([+-]\d\d:?\d\d)$")
_FRACTION = re.compile(r"[T ]\d\d:\d\d:\d\d[.,](\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Timestamp:
    """A moment as a server wrote it: the text (kept, since it is shown and stored as given), the instant
    read from it (None when unreadable), and how finely it was written (`resolution`: 1 s without
    fractional digits, 1 ms with three, ...). Two timestamps equal at the coarser resolution of the two
    are in an unknown order (`order` says 0)."""

    text: str
    moment: dt.datetime | None
    resolution: dt.timedelta

    @classmethod
    def of(cls, text: str) -> Timestamp:
        """`text` read once (cached: the same notes are read by several rules)."""
        return _timestamp(text)

    @property
    def readable(self) -> bool:
        return self.moment is not None

    def order(self, other: Timestamp) -> int | None:
        """-1, 0 or 1 as this instant is before, not known apart from, or after `other`; None if one is
        unreadable. Compared at the coarser of the two resolutions."""
        if self.moment is None or other.moment is None:
            return None
        step = max(self.resolution, other.resolution)
        x, y = (self.moment - _EPOCH) // step, (other.moment - _EPOCH) // step
        return (x > y) - (x < y)

    def human(self) -> str:
        """As people read it, `2026-03-04 10:00 UTC`; an unreadable one is shown as given."""
        return format_utc(self.moment) if self.moment is not None else self.text

    def utc_date(self) -> str:
        """Its UTC date, `2026-03-04`; an unreadable one is shown as given."""
        return self.moment.astimezone(dt.UTC).date().isoformat() if self.moment is not None else self.text


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@functools.lru_cache(maxsize=4096)
def _timestamp(value: str) -> Timestamp:
    """Takes `2026-11-29T01:02:03.456Z`, `…03.456+00:00`, `…+01:00`, `…+0100`, no or up to nine
    fractional digits, and Ruby's `2026-11-29 01:02:03 UTC`; a time without a zone is UTC."""
    text = value.strip()
    fraction = _FRACTION.search(text)
    digits = min(len(fraction.group(1)), 6) if fraction is not None else 0
    resolution = dt.timedelta(microseconds=10 ** (6 - digits))
    if not text:
        return Timestamp(value, None, resolution)
    text = _ZONE_WORDS.sub("+00:00", text)
    text = _SPACED_OFFSET.sub(r"\1", text)
    fraction = _FRACTION.search(text)
    if fraction is not None and len(fraction.group(1)) > 6:  # nanoseconds: Python reads microseconds
        text = text[: fraction.start(1) + 6] + text[fraction.end(1) :]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return Timestamp(value, None, resolution)
    return Timestamp(
        value, moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC), resolution
    )


def utc_iso(moment: dt.datetime | None = None) -> str:
    """`moment` (default: now) the way GitLab writes timestamps, to the second: `2026-03-04T10:00:00Z`."""
    moment = moment if moment is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def http_date(text: str) -> Timestamp:
    """The `Date` header of an HTTP answer (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110's IMF-fixdate, or
    the obsolete forms it lists) as a Timestamp of 1 s resolution; unreadable text gives an unreadable one."""
    from email.utils import parsedate_to_datetime

    value = text.strip()
    try:
        moment: dt.datetime | None = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is not None and moment.tzinfo is None:  # "-0000": a time in UTC, its zone unknown
        moment = moment.replace(tzinfo=dt.UTC)
    return Timestamp(value, moment.astimezone(dt.UTC) if moment else None, dt.timedelta(seconds=1))


def timestamp_at(moment: dt.datetime) -> Timestamp:
    """A Timestamp for an instant the tool computed (a step's earliest time), written as GitLab writes."""
    return Timestamp(utc_iso(moment), moment.astimezone(dt.UTC), dt.timedelta(seconds=1))


# --- durations -------------------------------------------------------------------------------


_DURATION = re.compile(r"^(?:\d+\s*[a-z]+\s*)+$")


def parse_duration(text: str, what: str = "duration") -> dt.timedelta:
    """`15m`, `1h30m`, `1d`, `2 hours`, `1w`, or `0` (no wait) as a timedelta; UsageError otherwise.

    Units are m, h, d and w (and their words); a number alone other than 0 is refused, since `15` could
    mean minutes or hours.
    """
    given = " ".join(text.split()).lower()
    if given in ("0", "none", "no wait"):
        return dt.timedelta(0)
    hint = f"write the {what} with units, like 15m, 1h30m or 1d"
    if not _DURATION.match(given):
        raise UsageError(f"{text.strip()!r} is not a {what}", hint)
    total = 0
    for number, word in _RELATIVE_PART.findall(given):
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            raise UsageError(f"unknown time unit {word!r} in the {what} {text.strip()!r}", hint)
        if len(number) > 6:
            raise UsageError(f"the {what} {text.strip()!r} is out of range", "give at most a few weeks")
        total += _UNIT_SECONDS[unit] * int(number)
    if total > 366 * 86400:
        raise UsageError(f"the {what} {text.strip()!r} is longer than a year", "give at most a few weeks")
    return dt.timedelta(seconds=total)


def format_duration(delta: dt.timedelta) -> str:
    """The short form `parse_duration` reads back: `15m`, `1h30m`, `1d`, `2w`, `0`."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0"
    parts = []
    for unit in ("w", "d", "h", "m"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if seconds:
        parts.append(f"{seconds}s")
    return "".join(parts)


# --- the clock decisions take "now" from ---------------------------------------------------------


class Clock(Protocol):
    """Where "now" comes from. A rollout's waits are measured against GitLab's clock (the `Date` of its
    answers, `gl_rollout.gitlab.clock.ServerClock`), never this machine's; tests use `FixedClock`."""

    def now(self) -> Timestamp: ...


class FixedClock:
    """A clock that says what it is told, and moves only when told (`advance`)."""

    def __init__(self, moment: dt.datetime | str) -> None:
        when = Timestamp.of(moment).moment if isinstance(moment, str) else moment
        if when is None or when.tzinfo is None:
            raise ValueError(f"FixedClock needs an aware instant, not {moment!r}")
        self._moment = when.astimezone(dt.UTC)

    def now(self) -> Timestamp:
        return timestamp_at(self._moment)

    def advance(self, seconds: float) -> None:
        self._moment += dt.timedelta(seconds=seconds)
