"""Deploy freezes as GitLab decides them: the latest start more recent than the latest end, cron read in
the period's time zone (doc/user/project/releases/_index.md, "Prevent unintentional releases by setting a
deploy freeze"; doc/api/freeze_periods.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from gl_rollout.core.freezes import FreezePeriod, FreezePeriodError, active_freezes, freeze_of, frozen_until

# GitLab's documented example: from Friday 23:00 to Monday 07:00.
WEEKEND = FreezePeriod("0 23 * * 5", "0 7 * * 1", "UTC", id=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("now", "frozen"),
    [
        ("2026-12-04T22:59:59+00:00", False),  # Friday, a second before the start
        ("2026-12-04T23:00:00+00:00", True),  # the start minute is inside
        ("2026-12-05T12:00:00+00:00", True),  # Saturday
        ("2026-12-07T06:59:59+00:00", True),  # Monday, a second before the end
        ("2026-12-07T07:00:00+00:00", False),  # the end minute is outside
        ("2026-12-09T12:00:00+00:00", False),  # Wednesday
    ],
)
def test_the_weekend_freeze(now: str, frozen: bool) -> None:
    freeze = freeze_of(WEEKEND, at(now))
    assert (freeze is not None) is frozen
    if freeze is not None:
        assert freeze.started == at("2026-12-04T23:00:00+00:00")
        assert freeze.ends == at("2026-12-07T07:00:00+00:00")


def test_cron_is_read_in_the_period_time_zone_summer_and_winter() -> None:
    berlin = FreezePeriod("0 23 * * 5", "0 7 * * 1", "Europe/Berlin")
    # winter: UTC+1, so 23:00 Berlin is 22:00 UTC
    assert freeze_of(berlin, at("2026-12-04T21:59:00+00:00")) is None
    winter = freeze_of(berlin, at("2026-12-04T22:00:00+00:00"))
    assert winter is not None
    assert winter.ends == at("2026-12-07T06:00:00+00:00")
    # summer: UTC+2, so 23:00 Berlin is 21:00 UTC
    assert freeze_of(berlin, at("2026-07-03T20:59:00+00:00")) is None
    summer = freeze_of(berlin, at("2026-07-03T21:00:00+00:00"))
    assert summer is not None
    assert summer.ends == at("2026-07-06T05:00:00+00:00")


def test_a_freeze_across_the_new_year() -> None:
    holidays = FreezePeriod("0 0 20 12 *", "0 0 3 1 *", "America/New_York")
    freeze = freeze_of(holidays, at("2026-12-31T12:00:00+00:00"))
    assert freeze is not None
    assert freeze.started == at("2026-12-20T05:00:00+00:00")
    assert freeze.ends == at("2027-01-03T05:00:00+00:00")
    assert freeze_of(holidays, at("2027-01-03T05:00:00+00:00")) is None


def test_active_freezes_and_when_the_last_chained_one_ends() -> None:
    nightly = FreezePeriod("0 22 * * *", "0 6 * * *", "UTC", id=2)
    late_monday = FreezePeriod("0 6 * * 1", "0 9 * * 1", "UTC", id=3)
    saturday = at("2026-12-05T12:00:00+00:00")
    assert [f.period.id for f in active_freezes([nightly, WEEKEND], saturday)] == [1]
    sunday_night = at("2026-12-06T23:00:00+00:00")
    # both hold; the weekend ends last, so it comes first
    assert [f.period.id for f in active_freezes([nightly, WEEKEND], sunday_night)] == [1, 2]
    # the weekend ends Monday 07:00, when late_monday (06:00 to 09:00) still holds: frozen until 09:00
    assert frozen_until([WEEKEND, late_monday], sunday_night) == at("2026-12-07T09:00:00+00:00")
    assert frozen_until([WEEKEND], at("2026-12-09T12:00:00+00:00")) is None


@pytest.mark.parametrize(
    ("period", "message"),
    [
        (FreezePeriod("every friday", "0 7 * * 1", id=4), "freeze period 4 has an invalid cron expression"),
        (FreezePeriod("0 23 * * 5", "0 7 * * 1", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_a_period_that_cannot_be_read_is_an_error_not_a_guess(period: FreezePeriod, message: str) -> None:
    with pytest.raises(FreezePeriodError, match=message):
        freeze_of(period, at("2026-12-05T12:00:00+00:00"))


def test_now_must_be_an_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        freeze_of(WEEKEND, dt.datetime(2026, 12, 5, 12))
