"""How long to wait before trying a request again, and how fast to send requests at all.

Our own policy rather than python-gitlab's: its retries have no jitter and no cap, parse
`Retry-After` with `int()` (an HTTP-date crashes it) and would replay a POST. The adapter in
`gl_rollout.gitlab.transport` decides *whether* a request may be retried; this module decides *when*.
Everything takes an injectable clock, sleep and random source so tests can check the waits
without waiting.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# GitLab's transient statuses: proxies and Cloudflare's 52x family in front of GitLab.com.
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, *range(520, 531)})

# Above this, RateLimit-Reset is a Unix time (GitLab's documented form); below, a delay in seconds.
_UNIX_TIME_THRESHOLD = 1_000_000_000


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered, capped exponential backoff with a bound on attempts and on the total wait.

    Attempt n (0-based) that failed waits `min(cap, base * 2**n)`, jittered into its upper half so
    that 8 threads hitting the same 503 do not come back in lockstep. A server's `Retry-After` (or
    `RateLimit-Reset`) is honoured as a minimum, plus up to 10% jitter. When the next wait would
    take the total past `max_total_wait`, the request gives up instead of sleeping.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 8.0
    max_total_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (0-based) when the server gave no hint."""
        ceiling = min(self.cap, self.base * (2.0**attempt))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def wait_for(self, attempt: int, server_wait: float | None) -> float:
        """Seconds to wait before the next attempt: the server's wait when it named one."""
        if server_wait is None:
            return self.backoff(attempt)
        return server_wait + self.rng.uniform(0, min(1.0, 0.1 * server_wait))


def server_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a 429/503 asks for: `Retry-After` (seconds or HTTP-date), else `RateLimit-Reset`.

    None when neither header is present or parseable; never negative.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after is not None:
        parsed = _parse_retry_after(retry_after.strip(), now)
        if parsed is not None:
            return parsed
    reset = lowered.get("ratelimit-reset")
    if reset is not None:
        try:
            value = float(reset.strip())
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        return max(0.0, value - now if value >= _UNIX_TIME_THRESHOLD else value)
    return None


def _parse_retry_after(value: str, now: float) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is read the same way
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


class RateLimiter:
    """A thread-safe token bucket: at most `per_minute` acquisitions in any 60-second window.

    `burst` tokens may be spent at once; the rest refill at `(per_minute - burst) / 60` per second,
    so that burst plus refill never exceed the per-minute budget GitLab counts. Each caller reserves
    its token under the lock and sleeps outside it, so waiters are served in arrival order and no
    thread holds the lock while sleeping.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        default_burst = max(1, int(per_minute // 20))
        self.burst = max(1, min(burst if burst is not None else default_burst, int(per_minute)))
        self.per_minute = per_minute
        # When per_minute == burst the bucket still refills, slowly, rather than never.
        self.rate = max(per_minute - self.burst, 1.0) / 60.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._stamp = clock()

    def reserve(self) -> float:
        """Take one token and return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
