"""Fault injection, rate limiting and the request log: how tests make the sandbox misbehave on purpose.

Rules match a request by HTTP method (or "*") and a regular expression searched in the path, both
as sent (`/api/v4/projects/acme%2Fweb/issues`) and decoded (`/api/v4/projects/acme/web/issues`).
"""

from __future__ import annotations

import email.utils
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

FAILABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class LoggedRequest:
    """One request the sandbox answered; `status` 0 means the connection was dropped unanswered."""

    method: str
    path: str
    query: str
    status: int
    duration: float


@dataclass
class FaultRule:
    kind: Literal["fail", "delay", "drop"]
    method: str
    pattern: re.Pattern[str]
    remaining: int | None
    status: int = 0
    after_commit: bool = False
    retry_after: int | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return bool(self.pattern.search(path) or self.pattern.search(unquote(path)))


@dataclass(frozen=True)
class PendingEdit:
    """A person's edit armed to land right after the next GET of one issue, or (`before_write`) right
    before the next PUT of it is applied."""

    project: str
    iid: int
    transform: Callable[[str], str]
    before_write: bool = False


@dataclass(frozen=True)
class Decision:
    """What the faults say about one request, taken before it is handled."""

    delay: float = 0.0
    fail: FaultRule | None = None
    drop: FaultRule | None = None


class Faults:
    """Armed faults; thread-safe. `latency` adds seconds to every response."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.pending_edits: list[PendingEdit] = []
        self.latency = 0.0

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        after_commit: bool = False,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` matching requests with `status` (before or after doing the work)."""
        if status not in FAILABLE_STATUSES:
            raise ValueError(f"status must be one of {sorted(FAILABLE_STATUSES)}")
        self._add(
            FaultRule(
                "fail",
                method.upper(),
                re.compile(path_regex),
                count,
                status=status,
                after_commit=after_commit,
                retry_after=retry_after,
            )
        )

    def delay(self, method: str, path_regex: str, seconds: float, count: int | None = None) -> None:
        """Hold matching responses for `seconds` (every match when `count` is None)."""
        self._add(FaultRule("delay", method.upper(), re.compile(path_regex), count, seconds=seconds))

    def drop_next(self, method: str, path_regex: str, count: int = 1, after_commit: bool = False) -> None:
        """Close the connection without any response for the next `count` matching requests."""
        self._add(FaultRule("drop", method.upper(), re.compile(path_regex), count, after_commit=after_commit))

    def edit_between_read_and_write(
        self, project: str | int, iid: int, transform: Callable[[str], str]
    ) -> None:
        """After the next GET of this issue, another user edits its description with `transform`."""
        with self._lock:
            self.pending_edits.append(PendingEdit(str(project), int(iid), transform))

    def edit_before_next_write(self, project: str | int, iid: int, transform: Callable[[str], str]) -> None:
        """When the next PUT of this issue arrives, another user edits its description with `transform`
        first: an edit that lands after every read the writer made, and that its write then replaces."""
        with self._lock:
            self.pending_edits.append(PendingEdit(str(project), int(iid), transform, before_write=True))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.pending_edits.clear()
            self.latency = 0.0

    def armed(self) -> list[dict[str, object]]:
        with self._lock:
            rules: list[dict[str, object]] = [
                {
                    "kind": r.kind,
                    "method": r.method,
                    "path_regex": r.pattern.pattern,
                    "remaining": r.remaining,
                    "status": r.status,
                    "after_commit": r.after_commit,
                    "seconds": r.seconds,
                }
                for r in self._rules
            ]
            edits: list[dict[str, object]] = [
                {"kind": "edit", "project": e.project, "iid": e.iid, "before_write": e.before_write}
                for e in self.pending_edits
            ]
        return rules + edits

    def _add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def decide(self, method: str, path: str) -> Decision:
        """Consume the rules that match this request and say what to do with it."""
        delay = self.latency
        fail: FaultRule | None = None
        drop: FaultRule | None = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.kind == "delay":
                    delay += rule.seconds
                elif rule.kind == "fail" and fail is None and drop is None:
                    fail = rule
                elif rule.kind == "drop" and fail is None and drop is None:
                    drop = rule
                else:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
        return Decision(delay, fail, drop)

    def take_edit(self, matches: Callable[[PendingEdit], bool]) -> PendingEdit | None:
        with self._lock:
            for edit in self.pending_edits:
                if matches(edit):
                    self.pending_edits.remove(edit)
                    return edit
        return None


@dataclass(frozen=True)
class RateLimitHit:
    """One request counted by a `RateLimiter`: whether it may pass, and the headers that say so."""

    allowed: bool
    limit: int
    period: float
    observed: int  # requests in this window, this one included: it goes on counting past the limit
    reset: float  # when the window ends, as Unix time
    now: float

    def headers(self, name: str) -> dict[str, str]:
        """GitLab's `RateLimit-*` set (`lib/gitlab/rack_attack.rb`): the limit per minute, what was
        observed, what remains (`Limit - Observed`, never below 0), and the reset as Unix time."""
        per_minute = math.ceil(self.limit * 60 / self.period)
        return {
            "RateLimit-Name": name,
            "RateLimit-Limit": str(per_minute),
            "RateLimit-Observed": str(self.observed),
            "RateLimit-Remaining": str(max(self.limit - self.observed, 0)),
            "RateLimit-Reset": str(math.ceil(self.reset)),
        }

    def retry_after(self) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(math.ceil(self.reset - self.now), 1)

    def reset_time(self) -> str:
        """The reset as an HTTP date (`RateLimit-ResetTime`)."""
        return email.utils.formatdate(math.ceil(self.reset), usegmt=True)


@dataclass
class RateLimiter:
    """A fixed-window limit per client (token, else address), like GitLab's per-user throttles."""

    limit: int
    period: float = 60.0
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, client: str, now: float | None = None) -> RateLimitHit:
        """Count one request of `client` in its current window."""
        moment = time.time() if now is None else now
        with self._lock:
            start, used = self._windows.get(client, (moment, 0))
            if moment >= start + self.period:
                start, used = moment, 0
            used += 1
            self._windows[client] = (start, used)
        return RateLimitHit(used <= self.limit, self.limit, self.period, used, start + self.period, moment)


@dataclass
class RequestLog:
    entries: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.entries.append(entry)
            self._lock.notify_all()

    def wait_for(self, done: Callable[[list[LoggedRequest]], bool], timeout: float) -> bool:
        """Block until `done(entries)` holds (checked at each new entry) or `timeout` seconds pass; the
        result of `done` at the end. For tests that wait on a request another thread is still serving."""
        with self._lock:
            return self._lock.wait_for(lambda: done(list(self.entries)), timeout)

    def snapshot(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self.entries)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
