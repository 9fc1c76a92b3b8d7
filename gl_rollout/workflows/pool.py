"""Work on every listed item with a fixed number of threads, listing included, so no more than
`concurrency` requests to GitLab are ever in flight (`sync` and `report` over many issues).

The workers list as they go: whichever finds the buffer low fetches the next page itself, so the
listing needs no thread or request slot of its own and no item waits on a hand-over between threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

MAX_CONCURRENCY = 8  # requests in flight at most: kind to GitLab, and enough to hide its latency

T = TypeVar("T")
R = TypeVar("R")


class _Feed(Generic[T]):
    """The listed items, handed to the workers; whichever worker finds fewer than `low_water` left
    fetches the next `page` of them itself (at most one list request)."""

    def __init__(self, items: Iterator[T], *, page: int, low_water: int) -> None:
        self._items = items
        self._page = page
        self._low_water = low_water
        self._buffer: deque[tuple[int, T]] = deque()
        self._cond = threading.Condition()
        self._filling = False
        self._exhausted = False
        self.listed = 0
        self.error: BaseException | None = None

    def take(self, on_listed: Callable[[int], None] | None) -> tuple[int, T] | None:
        """The next item and its position, or None when there are no more (or the listing failed)."""
        while True:
            with self._cond:
                done = self._exhausted or self.error is not None
                if self._buffer and (done or self._filling or len(self._buffer) > self._low_water):
                    return self._buffer.popleft()
                if done:
                    return None
                if self._filling:
                    self._cond.wait()
                    continue
                self._filling = True
            self._fill(on_listed)

    def _fill(self, on_listed: Callable[[int], None] | None) -> None:
        fetched: list[T] = []
        exhausted = False
        error: BaseException | None = None
        try:
            # The iterator holds at most one page: taking `page` items sends at most one request.
            for _ in range(self._page):
                fetched.append(next(self._items))
        except StopIteration:
            exhausted = True
        except BaseException as exc:  # handed to the caller of run_bounded once the workers stop
            error = exc
        with self._cond:
            for item in fetched:
                self._buffer.append((self.listed, item))
                self.listed += 1
            self._exhausted = self._exhausted or exhausted
            self.error = self.error or error
            self._filling = False
            listed = self.listed
            self._cond.notify_all()
        if on_listed is not None and fetched:
            on_listed(listed)


def run_bounded(
    items: Iterator[T],
    work: Callable[[T], R],
    *,
    concurrency: int,
    on_done: Callable[[int, R], None],
    on_listed: Callable[[int], None] | None = None,
    page: int = 100,
) -> int:
    """Run `work` on every item with at most `concurrency` requests in flight, listing included.

    `concurrency` threads each take the next item and work on it, one request at a time; the one
    that finds the buffer low fetches the next page first. Every request is therefore made by one
    of them. `on_done(position, result)` is called under a lock. Returns how many items were
    listed; an error raised by the iterator is re-raised once the items listed before it are done.
    """
    feed: _Feed[T] = _Feed(items, page=page, low_water=2 * concurrency)
    lock = threading.Lock()

    def worker() -> None:
        while (entry := feed.take(on_listed)) is not None:
            index, item = entry
            result = work(item)
            with lock:
                on_done(index, result)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gl-rollout") as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
    for future in futures:
        future.result()
    if feed.error is not None:
        raise feed.error
    return feed.listed
