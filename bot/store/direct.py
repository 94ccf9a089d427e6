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
from collections.abc import Callable
from typing import Any

import hiredis
import redis
from redis.commands.core import Script


class Direct:
    """Connections of the client's pool kind, kept apart from redis-py's pool and handed out
    without its locks and bookkeeping: a stack of idle ones, whose pop and append are atomic,
    so each thread has one to itself while it waits. A forked process starts with none of its
    parent's."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._idle: list = []
        self._pid = os.getpid()

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

    def run(self, commands: list[tuple]) -> list:
        """The raw replies of `commands`, sent in one write; an error reply is raised (the
        first), after every reply was read."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self.pool.make_connection()
        packed = [b"".join(hiredis.pack_command(c) for c in commands)]

        def once() -> list:
            conn.send_packed_command(packed)
            out = []
            for _ in commands:
                try:
                    out.append(conn.read_response())
                except redis.exceptions.ResponseError as e:
                    out.append(e)
            return out

        try:
            _ready(conn)
            # as redis-py runs a command: a lost connection is closed, then retried as the
            # client's retry says (a write whose answer was lost may so run twice: each script
            # is written for it, as for redis-py's own retry)
            replies = conn.retry.call_with_retry(once, lambda _error: conn.disconnect())
        finally:
            self._idle.append(conn)
        for r in replies:
            if isinstance(r, redis.exceptions.ResponseError):
                raise r
        return replies


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
        command += ["STREAMS", *streams, *streams.values()]
        return self._queue(_stream, *command)

    def execute(self) -> list:
        if not self._commands:
            return []
        replies = self.direct.run(self._commands)
        return [p(r) if p else r for p, r in zip(self._parsers, replies, strict=True)]
