"""Deadlines and progress lines: every wait in the hooks is bounded and says what it still waits for."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_k8s_hooks import metrics

T = TypeVar("T")


_START = time.monotonic()


def say(step: str, message: str) -> None:
    """Print one progress line with the seconds since start, flushed at once (a Job's log is all an
    operator sees).

    Example:
        >>> say("drain", "3 queued left")  # doctest: +ELLIPSIS
        [drain +...s] 3 queued left
    """
    print(f"[{step} +{time.monotonic() - _START:.1f}s] {message}", flush=True)


def warn(step: str, message: str) -> None:
    """Like :func:`say`, on stderr, for what needs a human."""
    print(f"[{step}] WARNING: {message}", file=sys.stderr, flush=True)


@dataclass
class Deadline:
    """A monotonic deadline.

    Example:
        >>> d = Deadline(5.0)
        >>> d.expired, round(d.left) <= 5
        (False, True)
    """

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    @property
    def left(self) -> float:
        return max(0.0, self.start + self.seconds - self.clock())

    @property
    def expired(self) -> bool:
        return self.left <= 0.0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start


def wait_until(
    step: str,
    what: str,
    check: Callable[[], Mapping[str, int]],
    deadline: Deadline,
    interval: float = 1.0,
    every: float = 5.0,
    metric: str | None = None,
) -> dict[str, int]:
    """Poll ``check`` until it reports nothing left, or the deadline passes.

    ``check`` returns counts of what is still pending keyed by a label (a queue, a worker); zero
    counts are dropped. Progress is printed when it changes and at least every ``every`` seconds. With
    ``metric``, every poll also sets the gauges ``<metric>.<queue>`` and ``seconds_waited`` (see
    :mod:`airflow_k8s_hooks.metrics`; the key's queue is the part before `` (``).

    Returns:
        What was still pending at the end: empty when done, non-empty when the deadline passed.

    Example:
        >>> wait_until("drain", "running tasks", lambda: {}, Deadline(1))
        {}
    """
    last_print = -every
    last: dict[str, int] | None = None
    while True:
        left = {k: v for k, v in check().items() if v}
        if metric:
            metrics.per_label(metric, left)
            metrics.gauge("seconds_waited", round(deadline.elapsed, 1))
        if not left:
            if last:
                say(step, f"{what}: none left after {deadline.elapsed:.1f}s")
            return left
        if left != last or deadline.elapsed - last_print >= every:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(left.items()))
            say(step, f"waiting for {what}: {detail} ({deadline.left:.0f}s left)")
            last_print, last = deadline.elapsed, left
        if deadline.expired:
            return left
        time.sleep(min(interval, max(deadline.left, 0.05)))
