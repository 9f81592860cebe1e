"""Periodic jobs: the one loop behind the background indexer, the digest scheduler and the
updater of `paperfeed serve`.

A job is a name, an interval and a function. It runs in a daemon thread: first after a
random part of `jitter_s` (so that workers started together do not all knock at once),
then every `interval_s`. An exception is logged and the next round waits longer (doubling
up to `max_backoff_s`), so a broken mail server or a source down for an hour is not
hammered; a round that succeeds brings the interval back. The loop never takes the
process down.

A job that must run once across all workers and machines (the daily update) holds a
JobLease, a row in the database (store/leases.py), while it runs.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable

from paperfeed.errors import PaperfeedError
from paperfeed.store import Store, leases

log = logging.getLogger("paperfeed.jobs")


class PeriodicJob:
    """Calls `run_once(stop)` every `interval_s` in a daemon thread until `close()`.
    `run_once` gets the stop event so that a long round can end early between steps."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        run_once: Callable[[threading.Event], object],
        jitter_s: float = 0.0,
        max_backoff_s: float | None = None,
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.run_once = run_once
        self.jitter_s = jitter_s
        self.max_backoff_s = max_backoff_s if max_backoff_s is not None else 8 * interval_s
        # Errors worth one warning line rather than a traceback (a mail server down).
        self.expected = expected
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"paperfeed-{name}", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout_s: float = 10) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)

    def next_wait(self) -> float:
        """Seconds until the next round: the interval, doubled for each failure in a row."""
        if not self.failures:
            return self.interval_s
        return min(self.interval_s * 2**self.failures, max(self.max_backoff_s, self.interval_s))

    def _loop(self) -> None:
        if self.jitter_s > 0 and self.stop.wait(random.uniform(0, self.jitter_s)):
            return
        while not self.stop.is_set():
            try:
                self.run_once(self.stop)
                self.failures = 0
            except self.expected as exc:
                self.failures += 1
                log.warning("%s: %s (next try in %.0f s)", self.name, exc, self.next_wait())
            except Exception:  # keep serving whatever happens in a job
                self.failures += 1
                log.exception("%s failed (next try in %.0f s)", self.name, self.next_wait())
            self.stop.wait(self.next_wait())


class LeaseBusy(PaperfeedError):
    """Another process holds the job's lease."""

    def __init__(self, info: leases.LeaseInfo | None, name: str) -> None:
        self.info = info
        holder = f" by {info.holder} (lease until {info.expires_at:%H:%M:%S} UTC)" if info else ""
        super().__init__(f"another {name} is running{holder}; not starting a second one")


class LeaseLost(PaperfeedError):
    """Our lease ran out and another process took the job (we stalled past its length)."""


class JobLease:
    """Holds the database lease `name` while a job runs: taken on enter (at once, or
    polling every `poll_s` when `wait`), renewed by a heartbeat thread every third of
    `ttl_s`, released on exit. If this process dies, the lease expires after `ttl_s`
    and the next run takes it. `check()` raises LeaseLost if a renewal found it gone."""

    def __init__(
        self,
        store: Store,
        name: str,
        ttl_s: float,
        wait: bool = False,
        poll_s: float = 1.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.store, self.name, self.ttl_s = store, name, ttl_s
        self.wait, self.poll_s = wait, poll_s
        self.stop = stop or threading.Event()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = threading.Event()
        self._done = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat, name=f"paperfeed-lease-{name}", daemon=True
        )

    def __enter__(self) -> JobLease:
        while True:
            with self.store.write() as conn:
                if leases.try_acquire(conn, self.name, self.holder, self.ttl_s):
                    break
                info = leases.current(conn, self.name)
            if not self.wait or self.stop.wait(self.poll_s):
                raise LeaseBusy(info, self.name)
        self._heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._heartbeat.join(5)
        try:
            with self.store.write() as conn:
                leases.release(conn, self.name, self.holder)
        except Exception:  # the database is gone: the lease expires by itself
            log.exception("releasing the %s lease failed", self.name)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"the {self.name} lease was lost (a stall longer than {self.ttl_s} s)")

    def _beat(self) -> None:
        while not self._done.wait(self.ttl_s / 3):
            try:
                with self.store.write() as conn:
                    if not leases.renew(conn, self.name, self.holder, self.ttl_s):
                        self.lost.set()
                        return
            except Exception:  # the database blinked: the next beat tries again
                log.exception("renewing the %s lease failed", self.name)
