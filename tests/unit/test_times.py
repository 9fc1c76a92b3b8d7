"""`announce --eta WHEN`: the forms accepted, the forms refused, and how the time is said back."""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.core.times import describe_delta, format_utc, parse_eta
from gl_rollout.errors import ExitCode, UsageError

NOW = dt.datetime(2026, 11, 30, 12, 0, 20, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("given", "utc", "relative"),
    [
        ("in 2h", "2026-11-30 14:00 UTC", "2h"),
        ("in 30m", "2026-11-30 12:30 UTC", "30m"),
        ("in 1d", "2026-12-01 12:00 UTC", "1d"),
        ("in 1h30m", "2026-11-30 13:30 UTC", "1h30m"),
        ("in 2 hours", "2026-11-30 14:00 UTC", "2h"),
        ("IN 90 Minutes", "2026-11-30 13:30 UTC", "90m"),
        ("2026-12-01 14:00 UTC", "2026-12-01 14:00 UTC", None),
        ("2026-12-01 14:00 utc", "2026-12-01 14:00 UTC", None),
        ("2026-12-01T14:00:00Z", "2026-12-01 14:00 UTC", None),
        ("2026-12-01T14:00+02:00", "2026-12-01 12:00 UTC", None),
        ("2026-12-01 14:00 +0200", "2026-12-01 12:00 UTC", None),
        ("2026-12-01 14:00 -05:30", "2026-12-01 19:30 UTC", None),
        ("2026-12-01 9:05 GMT", "2026-12-01 09:05 UTC", None),
        ("2026-12-01 14:00 Europe/Berlin", "2026-12-01 13:00 UTC", None),
    ],
)
def test_accepted_forms_are_said_back_in_utc(given: str, utc: str, relative: str | None) -> None:
    eta = parse_eta(given, NOW)
    assert eta.utc_text == utc
    assert eta.relative == relative
    assert eta.when.tzinfo is not None
    assert eta.when.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("2026-12-01 14:00", "has no time zone"),
        ("2026-12-01T14:00", "has no time zone"),
        ("2026-12-01", "has a date but no time"),
        ("2020-01-01 10:00 UTC", "is in the past"),
        ("2026-11-30 12:00 UTC", "is in the past"),
        ("in 0m", "not in the future"),
        ("in 2 fortnights", "unknown time unit"),
        ("tomorrow", "cannot read"),
        ("2026-12-01 14:00 CET", "unknown time zone"),
        ("2026-13-01 14:00 UTC", "not a valid date"),
        ("", "empty"),
    ],
)
def test_refused_forms_are_usage_errors_with_a_hint(given: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_eta(given, NOW)
    assert says in caught.value.message
    assert caught.value.hint
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_time_without_a_zone_hints_at_utc_or_an_offset() -> None:
    with pytest.raises(UsageError) as caught:
        parse_eta("2026-12-01 14:00", NOW)
    assert "UTC" in caught.value.one_line()
    assert "+02:00" in caught.value.one_line()


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (7200, "in 2 hours"),
        (60, "in 1 minute"),
        (45 * 60, "in 45 minutes"),
        (26 * 3600 + 5 * 60, "in 1 day 2 hours"),
        (3 * 86400, "in 3 days"),
        (20, "in less than a minute"),
        (-3600, "1 hour ago"),
    ],
)
def test_how_far_away(seconds: int, words: str) -> None:
    assert describe_delta(dt.timedelta(seconds=seconds)) == words


def test_format_utc_converts_other_zones() -> None:
    moment = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_utc(moment) == "2026-12-01 12:00 UTC"
