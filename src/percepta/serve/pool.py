"""A bounded pool for inference: a fixed number of worker threads and a fixed number of waiting jobs.

The web server must never queue work it cannot finish: every accepted job holds one of ``workers + queue``
slots from :meth:`InferencePool.submit` until it has finished (or was cancelled before it started), and a
job that finds no free slot is refused at once with :class:`PoolFull`, which the server answers with 503
and a ``Retry-After`` estimated from the recent job times. Threads, not processes: the models are loaded
once and shared, and PyTorch, Pillow and the encoders release the GIL while they work.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every worker is busy and the queue is full; ``retry_after`` is a suggested wait in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy (all workers and queue slots taken); retry in {retry_after} s")
        self.retry_after = retry_after


class DeadlinePassed(Exception):
    """A queued job whose request had already timed out when a worker reached it: it is skipped."""


class InferencePool:
    """``workers`` threads running jobs, at most ``queue`` more jobs waiting; see the module docstring."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError(f"workers must be >= 1 and queue >= 0, not {workers} and {queue}")
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="percepta-worker")
        self._lock = threading.Lock()
        self._taken = 0
        self._mean_seconds = 1.0  # a moving average of job times, for Retry-After
        self.completed = 0

    @property
    def capacity(self) -> int:
        """Jobs the pool holds at most: running plus waiting."""
        return self.workers + self.queue

    @property
    def in_flight(self) -> int:
        """Jobs accepted and not yet finished (running or waiting)."""
        return self._taken

    def retry_after(self) -> int:
        """Seconds after which a refused client may expect a free slot: the time to drain one worker's share."""
        with self._lock:
            return max(1, min(120, math.ceil(self._mean_seconds * max(1, self._taken) / self.workers)))

    def submit(self, fn: Callable[..., T], *args: Any, deadline: float | None = None) -> Future[T]:
        """Run ``fn(*args)`` on a worker, or raise :class:`PoolFull` at once if no slot is free.

        ``deadline`` (``time.monotonic()`` seconds): a job still waiting then is not run (its future raises
        :class:`DeadlinePassed`); cancelling the future before it starts frees its slot as well.
        """
        with self._lock:
            if self._taken >= self.capacity:
                raise PoolFull(max(1, min(120, math.ceil(self._mean_seconds * self._taken / self.workers))))
            self._taken += 1

        def job() -> T:
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlinePassed("the request timed out while waiting for a worker")
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                seconds = time.perf_counter() - start
                with self._lock:
                    self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds
                    self.completed += 1

        try:
            future = self._executor.submit(job)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: Future | None) -> None:
        with self._lock:
            self._taken -= 1

    def shutdown(self) -> None:
        """Stop taking jobs, drop the waiting ones, let the running ones finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)
