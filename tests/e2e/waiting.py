"""Polling with a deadline for tests on a real cluster: the one wait every e2e module uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, show: Callable[[], str] | None = None,
             interval: float = 2.0) -> T:
    """Poll `probe` until it returns something truthy and return that.

    Prints progress every 10 s (with `show()` when given) and fails the test at the deadline naming `what`,
    the time waited and the last `show()`: a wait on a cluster says what it is still waiting for.
    """
    started = time.monotonic()
    next_print = started + 10
    while True:
        result = probe()
        if result:
            return result
        elapsed = time.monotonic() - started
        detail = f": {show()}" if show else ""
        if elapsed > timeout:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{detail}", pytrace=False)
        if time.monotonic() >= next_print:
            print(f"  [{elapsed:4.0f} s] waiting for {what}{detail}", flush=True)
            next_print += 10
        time.sleep(interval)
