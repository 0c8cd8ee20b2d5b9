"""The Celery broker and workers, through the Celery app Airflow configures from ``[celery]``.

Message bodies are Celery protocol 2: ``[args, kwargs, embed]`` with ``args[0]`` the workload JSON.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_k8s_hooks.errors import Retryable

# Move up to ARGV[1] messages from the queue lists (KEYS[3..]) into kombu's unacked hash (KEYS[1]) and index
# (KEYS[2]), as kombu's QoS.append stores them: {tag: [payload, exchange, routing_key]}. A message without
# kombu properties goes back where it was and ends the batch (the caller reads it the slow way).
_TAKE_LUA = """
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i = 3, #KEYS do
  while #out < n do
    local item = redis.call('RPOP', KEYS[i])
    if not item then break end
    local ok, m = pcall(cjson.decode, item)
    local p = ok and type(m) == 'table' and m['properties']
    if not (p and p['delivery_tag'] and p['delivery_info']) then
      redis.call('RPUSH', KEYS[i], item)
      return out
    end
    local di = p['delivery_info']
    redis.call('HSET', KEYS[1], p['delivery_tag'],
      '[' .. item .. ',' .. cjson.encode(di['exchange'] or '') .. ',' .. cjson.encode(di['routing_key'] or '') .. ']')
    redis.call('ZADD', KEYS[2], now, p['delivery_tag'])
    table.insert(out, item)
  end
end
return out
"""


@contextlib.contextmanager
def reachable(what: str = "Celery broker") -> Iterator[None]:
    """Turn broker connection errors into :class:`Retryable`."""
    from kombu.exceptions import OperationalError

    try:
        yield
    except (OperationalError, ConnectionError, TimeoutError, OSError) as e:
        raise Retryable(f"{what} unreachable: {e}") from e


@dataclass(frozen=True)
class Delivered:
    """A message taken from a queue and not yet acked."""

    queue: str
    message: Any  # kombu.Message

    @property
    def task_name(self) -> str | None:
        return (self.message.headers or {}).get("task")

    @property
    def celery_id(self) -> str | None:
        return (self.message.headers or {}).get("id")

    @property
    def body(self) -> Any:
        return self.message.decode()


class Broker:
    """Workers (remote control) and queues (a channel) of one Celery app.

    Example:
        >>> with Broker.from_airflow() as b:  # doctest: +SKIP
        ...     b.depth("default")
        0
    """

    def __init__(self, app: Any, reply_timeout: float = 2.0) -> None:
        self.app = app
        self.reply_timeout = reply_timeout
        self._conn: Any = None
        self._workers: set[str] = set()

    @classmethod
    def from_airflow(cls, reply_timeout: float = 2.0) -> Broker:
        with reachable():
            from airflow.providers.celery.executors.celery_executor_utils import app
        return cls(app, reply_timeout)

    def __enter__(self) -> Broker:
        with reachable():
            self._conn = self.app.connection_for_write()
            self._conn.ensure_connection(max_retries=3)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            # A graceful close gives unacked messages of this channel back to their queue (kombu redis).
            with contextlib.suppress(Exception):
                self._conn.release()
            self._conn = None

    @property
    def channel(self) -> Any:
        if self._conn is None:
            raise RuntimeError("use Broker as a context manager")
        return self._conn.default_channel

    # Workers --------------------------------------------------------------------------------------
    def _inspect(self) -> Any:
        # With a known worker count, replies return as soon as every worker answered.
        return self.app.control.inspect(timeout=self.reply_timeout, limit=len(self._workers) or None)

    def active_queues(self) -> dict[str, list[str]]:
        """Queues each worker consumes: {worker: [queue, ...]} (only workers that answered).

        The first call waits the whole reply timeout (the worker count is unknown); later calls return as
        soon as the workers seen so far answered."""
        with reachable():
            replies = self._inspect().active_queues() or {}
        self._workers |= set(replies)
        return {w: sorted(q["name"] for q in qs) for w, qs in replies.items()}

    def busy(self) -> dict[str, dict[str, int]]:
        """{queue: {worker: n}} of tasks a worker executes (active) or holds prefetched (reserved).

        A known worker that does not answer counts as busy (queue ``?``): what it holds is unknown, and
        its unacked messages must not be mistaken for orphans."""
        out: dict[str, dict[str, int]] = {}
        with reachable():
            insp = self._inspect()
            replies = [insp.active() or {}, insp.reserved() or {}]
        for reply in replies:
            for worker in self._workers - set(reply):
                out.setdefault("? (no reply)", {})[worker] = 1
            for worker, tasks in reply.items():
                for t in tasks:
                    queue = (t.get("delivery_info") or {}).get("routing_key") or "?"
                    out.setdefault(queue, {}).setdefault(worker, 0)
                    out[queue][worker] += 1
        return out

    def cancel_consumer(self, worker: str, queue: str) -> None:
        with reachable():
            self.app.control.cancel_consumer(queue, destination=[worker], reply=True,
                                             timeout=self.reply_timeout)

    def add_consumer(self, worker: str, queue: str) -> None:
        with reachable():
            self.app.control.add_consumer(queue, destination=[worker], reply=True, timeout=self.reply_timeout)

    # Queues ---------------------------------------------------------------------------------------
    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (0 when the queue does not exist)."""
        from amqp.exceptions import NotFound
        from kombu.exceptions import ChannelError

        with reachable():
            try:
                return int(self.channel.queue_declare(queue=queue, passive=True).message_count)
            except (ChannelError, NotFound):
                return 0

    def take(self, queue: str, n: int) -> list[Delivered]:
        """Take up to ``n`` messages without acking them: they stay unacked until :meth:`ack_all` or
        :meth:`requeue`, and a crash leaves them in the broker (Redis: the unacked hash)."""
        if self._redis() is not None:
            return self._take_redis(queue, n)
        out: list[Delivered] = []
        with reachable():
            while len(out) < n and (msg := self.channel.basic_get(queue, no_ack=False)) is not None:
                out.append(Delivered(queue, msg))
        return out

    def ack_all(self, delivered: list[Delivered]) -> None:
        """Ack messages taken by :meth:`take` (call only after their DB change is committed)."""
        client = self._redis()
        with reachable():
            if client is None:
                for d in delivered:
                    d.message.ack()
                return
            pipe = client.pipeline(transaction=False)
            for d in delivered:
                pipe.zrem(self.channel.unacked_index_key, d.message.delivery_tag)
                pipe.hdel(self.channel.unacked_key, d.message.delivery_tag)
            pipe.execute()

    def requeue(self, d: Delivered) -> None:
        """Give a message back to its queue untouched (for messages this tool does not understand)."""
        with reachable():
            if self._redis() is not None:
                self.channel.qos.restore_by_tag(d.message.delivery_tag, leftmost=True)
            else:
                d.message.reject(requeue=True)

    def _take_redis(self, queue: str, n: int) -> list[Delivered]:
        # kombu's basic_get builds a new Redis client per call (~1 ms a message); one script call moves a
        # whole batch from the queue into kombu's own unacked hash/index, atomically per message, in the
        # format kombu's restore reads. Priority sub-queues are drained highest priority first.
        ch = self.channel
        keys = [ch.unacked_key, ch.unacked_index_key, *(ch._q_for_pri(queue, p) for p in ch.priority_steps)]
        with reachable():
            raw = ch.client.eval(_TAKE_LUA, len(keys), *keys, n)
        out = []
        for item in raw:
            payload = json.loads(item)
            out.append(Delivered(queue, ch.Message(payload, channel=ch)))
        return out

    def unacked(self) -> int:
        """Messages delivered to some consumer and not acked yet (Redis keeps them in a hash)."""
        client = self._redis()
        if client is None:
            return 0
        with reachable():
            return int(client.hlen(self.channel.unacked_key))

    def restore_orphans(self) -> int:
        """Put every unacked message back on its queue; returns how many.

        Only call this when no worker is active or holds reserved messages: the unacked entries then
        belong to dead consumers (a killed worker, a killed hook run), which Redis would otherwise keep
        invisible until the visibility timeout (Airflow forces 24 h). AMQP brokers requeue them on
        their own when the connection dies, so there this is a no-op.
        """
        client = self._redis()
        if client is None:
            return 0
        restored = 0
        with reachable():
            for tag in client.hkeys(self.channel.unacked_key):
                self.channel.qos.restore_by_tag(tag.decode() if isinstance(tag, bytes) else tag)
                restored += 1
        return restored

    def _redis(self) -> Any:
        return getattr(self.channel, "client", None) if hasattr(self.channel, "unacked_key") else None
