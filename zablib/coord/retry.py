"""kazoo's retry helper (``kazoo.retry.KazooRetry``), on the simulated clock.

``client.retry(func, *args)`` calls ``func`` again, after a growing pause, while it fails with an
error that says "try again": the connection was lost (the outcome is unknown, and the call may be
repeated only if repeating it is harmless), an operation timed out, or a recipe forced a retry.
kazoo's recipes lean on it everywhere. This is kazoo 2.11.0's logic with two substitutions that
keep a run reproducible: the pause is the client's simulated ``sleep_func``, and the jitter is
drawn from a seeded generator rather than the global ``random``; a deadline is measured on the
simulated clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from zablib.coord.errors import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    OperationTimeoutError,
    SessionExpiredError,
)


class ForceRetryError(Exception):
    """Raised by a recipe to ask for another try."""


class RetryFailedError(KazooException):
    """The retries were used up (or the deadline passed) without success."""


class InterruptedError(RetryFailedError):  # noqa: A001 - kazoo's name
    """The retry was interrupted by its ``interrupt`` function."""


class KazooRetry:
    """Call a function until it does not fail with a retryable error (kazoo's ``KazooRetry``).

    Parameters
    ----------
    max_tries : int or None
        How many tries at most (-1 or None: no limit).
    delay, backoff, max_jitter, max_delay : float
        The first pause (seconds), its growth factor, its random spread (fraction) and its cap.
    ignore_expire : bool
        Retry after ``SessionExpiredError`` too.
    sleep_func : callable
        ``sleep_func(seconds)``: the simulated sleep of the client's handler.
    deadline : float, optional
        Give up once this many (simulated) seconds have passed since the first try.
    interrupt : callable, optional
        Asked during pauses; True stops the retrying (:class:`InterruptedError`).
    clock : callable
        The simulated time in seconds.
    rng : random.Random
        Where the jitter comes from.
    """

    RETRY_EXCEPTIONS = (ConnectionLoss, OperationTimeoutError, ForceRetryError)
    EXPIRED_EXCEPTIONS = (SessionExpiredError,)

    def __init__(self, max_tries: int | None = 1, delay: float = 0.1, backoff: float = 2,
                 max_jitter: float = 0.4, max_delay: float = 60.0, ignore_expire: bool = True,
                 sleep_func: Callable[[float], None] | None = None,
                 deadline: float | None = None, interrupt: Callable[[], bool] | None = None,
                 clock: Callable[[], float] | None = None, rng: random.Random | None = None):
        if sleep_func is None or clock is None:
            raise ValueError("a simulated KazooRetry needs the client's sleep_func and clock")
        self.max_tries = max_tries
        self.delay = delay
        self.backoff = backoff
        self.max_jitter = max(min(max_jitter, 1.0), 0.0)
        self.max_delay = float(max_delay)
        self.deadline = deadline
        self.sleep_func = sleep_func
        self.interrupt = interrupt
        self.clock = clock
        self.rng = rng if rng is not None else random.Random(0)
        self.retry_exceptions: tuple[type[BaseException], ...] = self.RETRY_EXCEPTIONS
        if ignore_expire:
            self.retry_exceptions += self.EXPIRED_EXCEPTIONS
        self.reset()

    def reset(self) -> None:
        """Start counting afresh."""
        self.attempts = 0
        self.cur_delay = self.delay
        self.cur_stoptime: float | None = None

    def copy(self) -> KazooRetry:
        """A fresh retry with the same settings (each retried call gets its own)."""
        other = KazooRetry(self.max_tries, self.delay, self.backoff, self.max_jitter,
                           self.max_delay, sleep_func=self.sleep_func, deadline=self.deadline,
                           interrupt=self.interrupt, clock=self.clock, rng=self.rng)
        other.retry_exceptions = self.retry_exceptions
        return other

    def __call__(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` until it succeeds or may not be retried."""
        self.reset()
        while True:
            try:
                if self.deadline is not None and self.cur_stoptime is None:
                    self.cur_stoptime = self.clock() + self.deadline
                return func(*args, **kwargs)
            except ConnectionClosedError:
                raise
            except self.retry_exceptions:
                self.attempts += 1
                if self.attempts == self.max_tries:
                    raise RetryFailedError("Too many retry attempts") from None
                jitter = self.rng.uniform(1.0 - self.max_jitter, 1.0 + self.max_jitter)
                sleeptime = self.cur_delay * jitter
                if self.cur_stoptime is not None and self.clock() + sleeptime >= self.cur_stoptime:
                    raise RetryFailedError("Exceeded retry deadline") from None
                if self.interrupt:
                    remain = sleeptime
                    while remain > 0:
                        self.sleep_func(min(0.1, remain))
                        remain -= 0.1
                        if self.interrupt():
                            raise InterruptedError() from None
                else:
                    self.sleep_func(sleeptime)
                self.cur_delay = min(sleeptime * self.backoff, self.max_delay)
