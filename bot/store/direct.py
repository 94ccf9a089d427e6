"""Redis commands of the hot path sent straight onto connections of the store's own, not
through redis-py's client and pool.

On these machines a script called through redis-py's Script costs about 110 µs of client CPU and
a pipeline of two about 140 µs; the same commands on one of its Connections cost 45 µs. Every
callback runs two or three scripts, and the answering consumer's reads are pipelines, so that
difference is a good part of what an answer costs (bench/e2e.py). The guarantees are redis-py's
own, kept here: the client's Connection class and options (its health check, a Sentinel's
master lookup, decoding), a connection the server closed opened again before use (as its pool
lends one), the client's retry after a lost connection (bot.store.connection.fail_fast), and a
pipeline's error replies read to the end and the first one raised. A Redis Cluster client, or
one bound to a single connection, has no Direct (bot/store/scripts.py keeps redis-py's path).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import hiredis
import redis
from redis.commands.core import Script


class _Call:
    """One caller's commands in a shared round trip: its packed bytes, how many replies are its,
    and, once read, its replies (or the error that lost them)."""

    __slots__ = ("packed", "n", "replies", "error", "lead", "gate")

    def __init__(self, packed: bytes, n: int):
        self.packed, self.n = packed, n
        self.replies: list = []
        self.error: BaseException | None = None
        self.lead = False  # woken to send the next round trip, not with replies
        self.gate: Any = None  # a waiting caller's lock, released when it may go on


class Direct:
    """Connections of the client's pool kind, kept apart from redis-py's pool and handed out
    without its locks and bookkeeping.

    Commands of threads that call at once share round trips (automatic pipelining): one thread
    at a time sends what every waiting thread queued in one write and reads every reply, while
    the next callers queue theirs; when it is done it hands the queue to the first of them. Each
    thread waits for its own replies before it sends more, so its commands run in its order, as
    on a connection of its own; a round trip's cost (two system calls on each side, and Redis's
    wake-up) is paid once for the lot. A blocking read (`alone`) goes on a connection to itself.
    A forked process starts with none of its parent's connections or callers."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._idle: list = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._waiting: list[_Call] = []
        self._sending = False
        self._gates = threading.local()

    @staticmethod
    def usable(client) -> bool:
        """Whether `client` can have a Direct: a plain client (not a cluster's), on a pool."""
        return isinstance(client, redis.Redis) and client.connection is None

    def evalsha(self, script: Script, keys, args):
        """One EVALSHA of `script`; a Redis that lost its scripts (a restart) is given it
        and asked again."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self.run([command])[0]
        except redis.exceptions.NoScriptError:
            script.registered_client.script_load(script.script)
            return self.run([command])[0]

    def run(self, commands: list[tuple], alone: bool = False) -> list:
        """The raw replies of `commands`, in one round trip (shared with other threads unless
        `alone`); an error reply is raised (the first), after every reply was read."""
        if self._pid != os.getpid():
            self._idle, self._waiting, self._sending = [], [], False
            self._lock, self._gates, self._pid = threading.Lock(), threading.local(), os.getpid()
        call = _Call(b"".join(hiredis.pack_command(c) for c in commands), len(commands))
        if alone:
            self._round_trip([call], call)
        else:
            self._shared(call)
        if call.error is not None:
            raise call.error
        for r in call.replies:
            if isinstance(r, redis.exceptions.ResponseError):
                raise r
        return call.replies

    def _shared(self, call: _Call) -> None:
        # An exception may strike anywhere (a signal's handler: an RQ job's time limit): the
        # queue must stay consistent and the lead never be lost, or every later caller waits.
        lead = False
        try:
            with self._lock:
                lead = not self._sending
                if not lead:
                    # the thread's own gate, taken now; taking it again waits for its release
                    call.gate = getattr(self._gates, "gate", None)
                    if call.gate is None:
                        call.gate = self._gates.gate = threading.Lock()
                    call.gate.acquire()
                self._waiting.append(call)
                self._sending = True
            if not lead:
                try:
                    call.gate.acquire()
                    call.gate.release()
                    lead = call.lead
                except BaseException:
                    self._gates.gate = threading.Lock()  # the old one may be released later
                    with self._lock:
                        if call in self._waiting:
                            self._waiting.remove(call)
                        lead = call.lead  # given the lead meanwhile: handed on below
                    raise
                if not lead:
                    return
            with self._lock:
                batch, self._waiting = self._waiting, []
            self._round_trip(batch, call)
        finally:
            if lead:
                with self._lock:
                    if call in self._waiting:  # interrupted before it took the queue
                        self._waiting.remove(call)
                    self._hand_on()

    def _hand_on(self) -> None:
        """(Under the lock.) The next round trip to the first caller waiting, if any."""
        if self._waiting:
            self._waiting[0].lead = True
            self._waiting[0].gate.release()
        else:
            self._sending = False

    def _round_trip(self, batch: list[_Call], own: _Call) -> None:
        """Send the batch's commands in one write, read every reply and give each call its
        own; whatever fails (no connection to be had, a connection lost after the client's
        retry) fails them all, and every caller waiting on the batch goes on. An exception of
        the sending thread's own (its job's time limit) is its own: the others get a lost
        connection, which is what it is to them (their commands may or may not have run)."""
        conn = None
        total = sum(c.n for c in batch)

        def once() -> list:
            conn.send_packed_command(packed)
            out = []
            for _ in range(total):
                try:
                    out.append(conn.read_response())
                except redis.exceptions.ResponseError as e:
                    out.append(e)
            return out

        try:
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self.pool.make_connection()
            packed = [b"".join(c.packed for c in batch)]
            _ready(conn)
            # as redis-py runs a command: a lost connection is closed, then retried as the
            # client's retry says (a write whose answer was lost may so run twice: each script
            # is written for it, as for redis-py's own retry)
            replies = conn.retry.call_with_retry(once, lambda _error: conn.disconnect())
        except BaseException as e:
            lost = e
            if not isinstance(e, redis.exceptions.RedisError):
                lost = redis.exceptions.ConnectionError(f"round trip interrupted ({e!r})")
            for c in batch:
                c.error = e if c is own else lost
        else:
            at = 0
            for c in batch:
                c.replies, at = replies[at : at + c.n], at + c.n
        finally:
            if conn is not None:
                self._idle.append(conn)
            for c in batch:
                if c.gate is not None and not c.lead:
                    c.gate.release()
                c.lead = False


def _ready(conn) -> None:
    """What redis-py's pool checks before lending a connection: connected, and nothing to read
    (a socket the server closed reads as EOF): else connected again."""
    conn.connect()
    try:
        if conn.can_read():
            raise redis.exceptions.ConnectionError("Connection has data")
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        conn.disconnect()
        conn.connect()
        if conn.can_read():
            raise redis.exceptions.ConnectionError("Connection not ready") from None


def _pairs(reply) -> dict:
    """A hash as a dict: a map on a RESP3 wire (redis-py's default), flat pairs on RESP2."""
    if isinstance(reply, dict):
        return reply
    it = iter(reply or ())
    return dict(zip(it, it, strict=True))


def _stream(reply) -> list:
    """XREADGROUP's reply as redis-py gives it on the store's client (its default, RESP2-shaped
    replies): [[stream, [(id, fields), …]], …], a deleted entry's fields {} (a map of streams on
    a RESP3 wire, pairs on RESP2; each entry's fields a flat list, nil when deleted)."""
    streams = reply.items() if isinstance(reply, dict) else reply or ()
    return [[name, [(eid, _pairs(f)) for eid, f in rows or ()]] for name, rows in streams]


class Pipe:
    """The few commands the store's hot reads queue, with redis-py's pipeline calls and
    replies (a hash as a dict, a stream read as redis-py parses it), sent by a Direct in one
    round trip. `Area._pipe` gives one, or redis-py's pipeline where there is no Direct."""

    def __init__(self, direct: Direct):
        self.direct = direct
        self._commands: list[tuple] = []
        self._parsers: list[Callable[[Any], Any] | None] = []
        self._blocking = False  # a blocking read: sent on a connection of its own

    def __len__(self) -> int:
        return len(self._commands)

    def _queue(self, parse: Callable[[Any], Any] | None, *command) -> Pipe:
        self._commands.append(command)
        self._parsers.append(parse)
        return self

    def evalsha(self, sha: str, numkeys: int, *keys_and_args) -> Pipe:
        return self._queue(None, "EVALSHA", sha, numkeys, *keys_and_args)

    def hgetall(self, key: str) -> Pipe:
        return self._queue(_pairs, "HGETALL", key)

    def hmget(self, key: str, fields: list) -> Pipe:
        return self._queue(None, "HMGET", key, *fields)

    def lrange(self, key: str, start: int, end: int) -> Pipe:
        return self._queue(None, "LRANGE", key, start, end)

    def xack(self, stream: str, group: str, *ids) -> Pipe:
        return self._queue(None, "XACK", stream, group, *ids)

    def xdel(self, stream: str, *ids) -> Pipe:
        return self._queue(None, "XDEL", stream, *ids)

    def xreadgroup(
        self, group: str, consumer: str, streams: dict, count: int | None = None,
        block: int | None = None,
    ) -> Pipe:  # fmt: skip
        command: list = ["XREADGROUP", "GROUP", group, consumer]
        if count is not None:
            command += ["COUNT", count]
        if block is not None:
            command += ["BLOCK", block]
            self._blocking = True
        command += ["STREAMS", *streams, *streams.values()]
        return self._queue(_stream, *command)

    def execute(self) -> list:
        if not self._commands:
            return []
        replies = self.direct.run(self._commands, alone=self._blocking)
        return [p(r) if p else r for p, r in zip(self._parsers, replies, strict=True)]
