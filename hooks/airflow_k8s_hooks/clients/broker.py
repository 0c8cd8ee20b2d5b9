"""The Celery broker and workers, through the Celery app Airflow configures from ``[celery]``.

Message bodies are Celery protocol 2: ``[args, kwargs, embed]`` with ``args[0]`` the workload JSON.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_k8s_hooks.errors import Refused, Retryable, masked

# Move up to ARGV[1] messages from the queue lists (KEYS[3..]) into kombu's unacked hash (KEYS[1]) and index
# (KEYS[2]), as kombu's QoS.append stores them: {tag: [payload, exchange, routing_key]}. Oldest first (the
# right end, where kombu's BRPOP reads). An item that is not a kombu message (raw bytes someone pushed) stays
# where it is and is stepped over: it would block the queue otherwise; `unreadable` reports it.
_TAKE_LUA = """
local n = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i = 3, #KEYS do
  local skip = 0
  while #out < n do
    local item = redis.call('LINDEX', KEYS[i], -1 - skip)
    if not item then break end
    local ok, m = pcall(cjson.decode, item)
    local p = ok and type(m) == 'table' and type(m['headers']) == 'table' and m['properties']
    local di = type(p) == 'table' and p['delivery_info']
    if type(di) == 'table' and type(p['delivery_tag']) == 'string' then
      -- Everything nearer the right end is a stepped-over non-kombu item: this removes exactly this one.
      redis.call('LREM', KEYS[i], -1, item)
      redis.call('HSET', KEYS[1], p['delivery_tag'],
        '[' .. item .. ',' .. cjson.encode(di['exchange'] or '') .. ',' .. cjson.encode(di['routing_key'] or '') .. ']')
      redis.call('ZADD', KEYS[2], now, p['delivery_tag'])
      table.insert(out, item)
    else
      skip = skip + 1
    end
  end
end
return out
"""


BROKER_SETTING = ("[celery] broker_url (AIRFLOW__CELERY__BROKER_URL; the chart takes it from the Secret "
                  "celery.brokerSecret, or its own broker Secret with redis.enabled)")
# What brokers answer to a wrong user or password (Redis ACL / requirepass, AMQP), however kombu wraps it.
_AUTH_ERRORS = ("AuthenticationError", "AuthenticationWrongNumberOfArgsError", "AccessRefused")
_AUTH_TEXT = ("WRONGPASS", "NOAUTH", "invalid password", "invalid username-password", "ACCESS_REFUSED",
              "without any password configured")


def _chain(e: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def refused_credentials(e: BaseException) -> bool:
    """Whether the broker answered but rejected the credentials: retrying the same URL cannot help.

    Example:
        >>> refused_credentials(ConnectionError("WRONGPASS invalid username-password pair"))
        True
        >>> refused_credentials(ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."))
        False
    """
    return any(type(x).__name__ in _AUTH_ERRORS or any(t.lower() in str(x).lower() for t in _AUTH_TEXT)
               for x in _chain(e))


@contextlib.contextmanager
def reachable(what: str = "Celery broker") -> Iterator[None]:
    """Turn broker connection errors into :class:`Retryable`, rejected credentials into :class:`Refused`."""
    from kombu.exceptions import OperationalError

    try:
        yield
    except (OperationalError, ConnectionError, TimeoutError, OSError) as e:
        if refused_credentials(e):
            raise Refused(f"{what} rejected the credentials ({e}): fix the user/password in {BROKER_SETTING}; "
                          "retrying with the same Secret cannot help") from e
        raise Retryable(f"{what} unreachable ({e}): check that the broker is up and reachable from this "
                        f"namespace, and that {BROKER_SETTING} points at it") from e


@dataclass(frozen=True)
class Delivered:
    """A message taken from a queue and not yet acked."""

    queue: str
    message: Any  # kombu.Message

    @property
    def headers(self) -> dict[str, Any]:
        h = self.message.headers
        return h if isinstance(h, dict) else {}

    @property
    def task_name(self) -> str | None:
        return self.headers.get("task")

    @property
    def celery_id(self) -> str | None:
        return self.headers.get("id")

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

    @property
    def url(self) -> str:
        """The broker URL, password masked (for messages)."""
        from kombu.utils.url import maybe_sanitize_url

        try:
            return str(maybe_sanitize_url(self.app.connection_for_write().as_uri(include_password=True)))
        except Exception:  # a URL kombu cannot parse (or a failover list): the connect below says why
            return "(its [celery] broker_url)"

    def __enter__(self) -> Broker:
        try:
            with reachable(f"Celery broker {self.url}"):
                self._conn = self.app.connection_for_write()
                self._conn.ensure_connection(max_retries=3)
        except (KeyError, ValueError) as e:  # kombu: unknown transport, a port or DB number that is no number
            raise Refused(f"the Celery broker URL is malformed ({masked(str(e))}): fix {BROKER_SETTING}") from None
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
            try:
                message = ch.Message(payload, channel=ch)
            except Exception as e:  # e.g. a body its body_encoding cannot decode: kept as a foreign message
                message = _Undecodable(payload, f"{type(e).__name__}: {e}")
            out.append(Delivered(queue, message))
        return out

    def unreadable(self, queue: str, limit: int = 20) -> list[str]:
        """Items of ``queue`` that are not kombu messages (``take`` steps over them), as short previews."""
        client = self._redis()
        if client is None:
            return []  # AMQP brokers only hold messages they could route
        ch = self.channel
        out: list[str] = []
        with reachable():
            for key in (ch._q_for_pri(queue, p) for p in ch.priority_steps):
                out += [_preview(i) for i in client.lrange(key, 0, -1) if not _is_kombu(i)]
        return out[:limit] + ([f"... and {len(out) - limit} more"] if len(out) > limit else [])

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


def _is_kombu(item: bytes) -> bool:
    """The Python twin of the take script's test (the same shape kombu's Redis transport stores)."""
    try:
        m = json.loads(item)
    except ValueError:
        return False
    p = m.get("properties") if isinstance(m, dict) and isinstance(m.get("headers"), dict) else None
    return isinstance(p, dict) and isinstance(p.get("delivery_info"), dict) and isinstance(p.get("delivery_tag"), str)


def _preview(item: bytes, size: int = 80) -> str:
    text = repr(item[:size])
    return f"unreadable item {text}{'...' if len(item) > size else ''} ({len(item)} bytes, not a Celery message)"


class _Undecodable:
    """A kombu envelope whose body kombu cannot decode: enough of a message to name, keep and put back."""

    def __init__(self, payload: dict[str, Any], why: str) -> None:
        self.headers = payload.get("headers")
        self.delivery_tag = payload["properties"]["delivery_tag"]
        self.why = why

    def decode(self) -> Any:
        raise ValueError(f"undecodable body: {self.why}")
