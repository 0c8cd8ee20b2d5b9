"""The hooks' own figures as StatsD metrics, sent through Airflow's stats client with Airflow's ``[metrics]``
config (``statsd_on``, ``statsd_host``, ``statsd_port``, ``statsd_prefix``, allow and block lists): the
exporter that receives Airflow's metrics receives these too, and nothing new is configured.

Names, under ``<statsd_prefix>.executor_switch.``:

- ``tasks_left.<queue>`` (gauge): work a wait still waits for, per queue (0 once a queue is empty);
- ``seconds_waited`` (gauge): seconds the current wait has lasted;
- ``handed_back`` (counter): task instances handed back to the scheduler;
- ``step_seconds.<step>`` (gauge) and ``runs.<step>.<result>`` (counter): how long a step took and how it
  ended (``ok``, ``refused``, ``retryable``, ``timed_out``, ``usage``, ``internal_error``).

Metrics are fire-and-forget: a missing exporter, an unresolvable host or a broken client never fails a
step (one line in the log, then nothing is sent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NAMESPACE = "executor_switch"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_client: Any = None  # Airflow's stats module once initialised; False when unavailable
_shown: dict[str, set[str]] = {}  # per-label gauges sent non-zero, zeroed when their label goes away


def label(name: str) -> str:
    """One name part: dots would split it into more parts, other characters StatsD or Prometheus refuse.

    Example:
        >>> label("gpu.large (running)")
        'gpu_large__running_'
    """
    return _UNSAFE.sub("_", name)[:100] or "_"


def queue_of(key: str) -> str:
    """The queue of a progress key such as ``"default (running)"`` (see ``drain``).

    Example:
        >>> queue_of("default (worker)"), queue_of("pods being deleted")
        ('default', 'pods being deleted')
    """
    return key.rsplit(" (", 1)[0] if key.endswith(")") and " (" in key else key


def _stats() -> Any:
    global _client
    if _client is None:
        try:
            from airflow.configuration import conf
            from airflow.sdk.observability import stats
            from airflow.sdk.observability.metrics import stats_utils

            stats.initialize(factory=stats_utils.get_stats_factory(),
                             export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True))
            _client = stats
        except Exception as e:  # an older/newer Airflow or a broken [metrics] config: the step goes on
            # stdout: the step itself is fine; its errors, if any, stay the one line on stderr
            print(f"[{NAMESPACE}] metrics off ({type(e).__name__}: {e})", flush=True)
            _client = False
    return _client or None


def _send(kind: str, name: str, value: float) -> None:
    client = _stats()
    if client is None:
        return
    try:
        getattr(client, kind)(f"{NAMESPACE}.{name}", value)
    except Exception:  # never fail a step for a metric
        return


def gauge(name: str, value: float) -> None:
    """Set ``<prefix>.executor_switch.<name>``."""
    _send("gauge", name, value)


def incr(name: str, count: int = 1) -> None:
    """Add ``count`` to the counter ``<prefix>.executor_switch.<name>`` (nothing sent for 0)."""
    if count:
        _send("incr", name, count)


def per_label(name: str, counts: Mapping[str, int]) -> None:
    """Gauges ``<name>.<label>`` for ``counts`` (summed per queue), and 0 for labels sent before and gone now,
    so a drained queue reads 0 rather than its last count.

    Example:
        >>> per_label("tasks_left", {"default (running)": 2, "default (queued)": 1})  # doctest: +SKIP
        # sends executor_switch.tasks_left.default:3|g
    """
    totals: dict[str, int] = {}
    for key, n in counts.items():
        totals[label(queue_of(key))] = totals.get(label(queue_of(key)), 0) + n
    shown = _shown.setdefault(name, set())
    for gone in sorted(shown - set(totals)):
        gauge(f"{name}.{gone}", 0)
    for part, n in sorted(totals.items()):
        gauge(f"{name}.{part}", n)
    _shown[name] = {part for part, n in totals.items() if n}


def step_finished(step: str, result: str, seconds: float) -> None:
    """How a step ended and how long it took."""
    gauge(f"step_seconds.{label(step)}", round(seconds, 3))
    incr(f"runs.{label(step)}.{label(result)}")


def reset() -> None:
    """Forget the client and the gauges sent (tests; a new ``[metrics]`` config)."""
    global _client
    _client = None
    _shown.clear()
