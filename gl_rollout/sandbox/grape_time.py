"""Time parameters as GitLab's Grape API reads them (`created_after`, `updated_before`, ...).

Grape coerces a `DateTime` parameter with Ruby's `DateTime.parse`, which takes far more than ISO 8601:
a space instead of `T`, a zone name (`UTC`, `GMT`, `Z`) or an offset after a space, `/` between the date's
parts, RFC 2822 and HTTP dates (`Thu, 01 Jan 2026 10:00:00 GMT`), month names (`Jan 1 2026 10:00`,
`1 January 2026`), and any case. A time without a zone is UTC (GitLab's `Time.zone`). What none of
these forms reads is 400 `<name> is invalid`, as Grape answers.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

_MONTHS = {
    name: number
    for number, names in enumerate(
        (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")),
        start=1,
    )
    for name in names
}  # fmt: skip
_ZONES = {"utc": "+00:00", "gmt": "+00:00", "z": "+00:00", "ut": "+00:00"}
_WEEKDAY = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+", re.I)
_TIME = r"(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)"
_ZONE = r"(?:\s*(?P<zone>[a-z]{1,4}|[+-]\d{2}(?::?\d{2})?))?"
_NAMED = (
    re.compile(rf"^(?P<month>[a-z]+)\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
               rf"(?:,?\s+{_TIME})?{_ZONE}$", re.I),
    re.compile(rf"^(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<month>[a-z]+)\.?,?\s+(?P<year>\d{{4}})"
               rf"(?:,?\s+{_TIME})?{_ZONE}$", re.I),
)  # fmt: skip
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$")
_SPACED_ZONE = re.compile(r"^(.*\d)\s*(?:([a-z]{1,4})|([+-]\d{2}(?::?\d{2})?))$", re.I)


def parse_grape_time(text: str) -> dt.datetime | None:
    """The instant `text` names (UTC when it names no zone), or None when Grape would refuse it."""
    value = " ".join(text.strip().split())
    if not value:
        return None
    value = _WEEKDAY.sub("", value)
    for attempt in (_iso, _rfc2822, _named):
        moment = attempt(value)
        if moment is not None:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return None


def _iso(value: str) -> dt.datetime | None:
    slashed = _SLASHED.match(value)
    if slashed:
        year, month, day, rest = slashed.groups()
        value = f"{year}-{int(month):02d}-{int(day):02d}{rest}"
    value = re.sub(r"(?<=\d)t(?=\d)", "T", value)
    zone = _SPACED_ZONE.match(value)
    if zone and re.search(r"\d:\d\d", value):
        body, name, offset = zone.groups()
        if name is not None:
            if name.lower() not in _ZONES:
                return None
            value = body + _ZONES[name.lower()]
        else:
            value = body + offset
    elif value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    value = re.sub(r"([+-]\d{2})$", r"\1:00", value) if re.search(r"\d:\d\d", value) else value
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _rfc2822(value: str) -> dt.datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment


def _named(value: str) -> dt.datetime | None:
    for pattern in _NAMED:
        found = pattern.match(value)
        if found is None:
            continue
        month = _MONTHS.get(found.group("month").lower())
        if month is None:
            return None
        clock = (found.group("time") or "00:00").replace(",", ".")
        zone_name = (found.group("zone") or "").lower()
        zone = _ZONES.get(zone_name, zone_name) if zone_name else ""
        if zone and not re.fullmatch(r"[+-]\d{2}(?::?\d{2})?", zone):
            return None
        day = f"{int(found.group('year')):04d}-{month:02d}-{int(found.group('day')):02d}"
        hours, rest = clock.split(":", 1)
        try:
            return dt.datetime.fromisoformat(f"{day}T{int(hours):02d}:{rest}{zone}")
        except ValueError:
            return None
    return None
