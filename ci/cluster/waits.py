"""Waiting with a deadline and visible progress: every wait in the cluster tooling goes through here."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(RuntimeError):
    """A condition did not hold before its deadline; the message says what was awaited and the last state."""


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    progress_every: float = 10.0,
) -> T:
    """Call `probe` until it returns something other than None/False, or raise WaitTimeout.

    A probe reports "not yet" by returning None/False, or by raising; the last exception is shown in
    the progress lines and in the timeout message so a stuck wait explains itself.

    Example:
        wait_for("apiserver /readyz", lambda: api.ready(), timeout=60)
    """
    started = time.monotonic()
    deadline = started + timeout
    next_progress = started + progress_every
    last_state = "no answer yet"
    attempt_left = True
    while attempt_left:
        # One last probe runs at the deadline itself, so a short timeout still gets a try.
        attempt_left = time.monotonic() < deadline
        try:
            result = probe()
            if result is not None and result is not False:
                return result
        except Exception as error:  # a probe's failure is the "not yet" state we report
            last_state = f"{type(error).__name__}: {error}"
        now = time.monotonic()
        if now >= next_progress:
            print(f"  … waiting for {what}: {now - started:.0f}s of {timeout:.0f}s ({last_state})", flush=True)
            next_progress = now + progress_every
        if attempt_left:
            time.sleep(min(interval, max(deadline - now, 0.0)))
    raise WaitTimeout(f"{what}: not ready after {timeout:.0f}s (last: {last_state})")
