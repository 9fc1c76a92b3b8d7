"""Backoff, Retry-After parsing and the client-side rate limiter, on a fake clock (no real waiting)."""

from __future__ import annotations

import datetime
import random
import threading

import pytest

from gl_rollout.gitlab.retry import RateLimiter, RetryPolicy, server_wait

NOW = 1_800_000_000.0  # a fixed "now" for header arithmetic


@pytest.mark.parametrize(
    ("headers", "want"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:30 GMT"}, 1_800_000_030.0 - NOW),
        ({"Retry-After": "Fri, 15 Jan 2027 07:00:00 GMT"}, 0.0),  # a date in the past: go now
        ({"RateLimit-Reset": str(int(NOW) + 42)}, 42.0),  # GitLab's Unix time
        ({"RateLimit-Reset": "12"}, 12.0),  # a delay, as some proxies send it
        ({"Retry-After": "soon", "RateLimit-Reset": str(int(NOW) + 5)}, 5.0),
        ({"Retry-After": "3", "RateLimit-Reset": str(int(NOW) + 50)}, 3.0),
        ({"Retry-After": "soon"}, None),
        ({"RateLimit-Reset": "nan"}, None),
        ({}, None),
    ],
)
def test_server_wait(headers: dict[str, str], want: float | None) -> None:
    assert server_wait(headers, NOW) == want


def test_http_date_fixture_is_what_the_table_assumes() -> None:
    # 1_800_000_000 is 2027-01-15 08:00:00 UTC; keeps the table above honest.
    assert datetime.datetime.fromtimestamp(NOW, datetime.UTC).isoformat() == "2027-01-15T08:00:00+00:00"


def test_backoff_is_jittered_capped_and_grows() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, rng=random.Random(1))  # noqa: S311  jitter, not secrets
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        waits = [policy.backoff(attempt) for _ in range(200)]
        assert min(waits) >= ceiling / 2
        assert max(waits) <= ceiling
        assert len(set(waits)) > 100  # jittered, not lockstep


def test_server_wait_is_honoured_as_a_minimum() -> None:
    policy = RetryPolicy(rng=random.Random(2))  # noqa: S311  jitter, not secrets
    waits = [policy.wait_for(0, 30.0) for _ in range(100)]
    assert min(waits) >= 30.0
    assert max(waits) <= 31.0


def test_rate_limiter_bursts_then_paces() -> None:
    clock = [0.0]
    limiter = RateLimiter(60, burst=10, clock=lambda: clock[0])
    assert [limiter.reserve() for _ in range(10)] == [0.0] * 10
    # the 11th waits for one token at (60 - 10) / 60 tokens a second
    assert limiter.reserve() == pytest.approx(60 / 50)


def test_rate_limiter_never_exceeds_its_budget_in_any_minute() -> None:
    """Simulated callers that always go as soon as allowed: count sends in every 60 s window."""
    clock = [0.0]
    limiter = RateLimiter(
        120, burst=6, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
    )
    sent = []
    while clock[0] < 300:
        limiter.acquire()
        sent.append(clock[0])
    for start in sent:
        in_window = [t for t in sent if start <= t < start + 60]
        assert len(in_window) <= 120


def test_rate_limiter_is_thread_safe() -> None:
    """8 threads reserving at one frozen instant get every wait slot exactly once."""
    limiter = RateLimiter(600, burst=4, clock=lambda: 0.0)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = [0.0] * 4 + [k / limiter.rate for k in range(1, 400 - 4 + 1)]
    assert sorted(waits) == pytest.approx(expected)


def test_rate_limiter_rejects_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
