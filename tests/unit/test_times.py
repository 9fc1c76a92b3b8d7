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


# --- durations, GitLab's Date header, the clock ----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "seconds", "short"),
    [
        ("15m", 900, "15m"),
        ("1h30m", 5400, "1h30m"),
        ("1d", 86400, "1d"),
        ("90 minutes", 5400, "1h30m"),
        ("2 hours", 7200, "2h"),
        ("1w", 7 * 86400, "1w"),
        ("1d 2h", 93600, "1d2h"),
        ("0", 0, "0"),
    ],
)
def test_durations_read_and_written_back(given: str, seconds: int, short: str) -> None:
    from gl_rollout.core.times import format_duration, parse_duration

    delta = parse_duration(given)
    assert delta == dt.timedelta(seconds=seconds)
    assert format_duration(delta) == short
    assert parse_duration(short) == delta


@pytest.mark.parametrize("given", ["15", "", "soon", "15x", "-5m", "1.5h", "m15", "400d", "9999999m"])
def test_what_is_not_a_duration_is_refused(given: str) -> None:
    from gl_rollout.core.times import parse_duration

    with pytest.raises(UsageError) as caught:
        parse_duration(given, "wait")
    assert caught.value.exit_code == ExitCode.USAGE
    assert "wait" in caught.value.one_line()


@pytest.mark.parametrize(
    "header",
    ["Tue, 01 Dec 2026 10:00:05 GMT", "Tuesday, 01-Dec-26 10:00:05 GMT", "Tue Dec  1 10:00:05 2026"],
)
def test_the_date_header_in_every_form_http_allows(header: str) -> None:
    from gl_rollout.core.times import http_date

    stamp = http_date(header)
    assert stamp.moment == dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.UTC)
    assert stamp.resolution == dt.timedelta(seconds=1)


def test_an_unreadable_date_header_is_unreadable_not_1970() -> None:
    from gl_rollout.core.times import http_date

    assert not http_date("yesterday-ish").readable
    assert not http_date("").readable


def test_a_fixed_clock_moves_only_when_told() -> None:
    from gl_rollout.core.times import FixedClock

    clock = FixedClock("2026-12-01T10:00:00Z")
    assert clock.now().text == "2026-12-01T10:00:00Z"
    assert clock.now() == clock.now()
    clock.advance(15 * 60)
    assert clock.now().moment == dt.datetime(2026, 12, 1, 10, 15, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="aware"):
        FixedClock(dt.datetime(2026, 12, 1, 10, 0))
