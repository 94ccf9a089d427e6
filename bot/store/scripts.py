"""The store's Lua scripts: `lua/<name>.lua`, each with `lua/shared.lua` (the audit entry, the
notice, the callback's claim and end) prepended, read once per process from the package.

A script called on its own (not queued on a pipeline) goes as EVALSHA straight onto a connection
of the store's own (Direct): redis-py's Script.__call__ costs this machine kind about 110 µs of
client CPU per call, against 45 µs for the same EVALSHA on one of its Connections, and every
callback runs two or three scripts. The guarantees are redis-py's own: the client's retry (one
quick retry after a lost connection, bot.store.connection.fail_fast), the connection's health
check and a Sentinel's master lookup (its Connection class), NOSCRIPT answered by loading the
script and calling it again. A Redis Cluster client, or one bound to a single connection, keeps
redis-py's path."""

from __future__ import annotations

import os
from functools import cache
from importlib import resources

import hiredis
import redis
from redis.commands.core import Script

from bot.records import SEEN_TTL_S


@cache
def source(name: str) -> str:
    """The full text of script `name`, shared helpers first."""
    lua = resources.files(__package__).joinpath("lua")
    shared = lua.joinpath("shared.lua").read_text(encoding="utf-8")
    shared = shared.replace("@SEEN_TTL_S@", str(SEEN_TTL_S))
    return shared + lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")


class Direct:
    """Connections of the client's pool kind (its Connection class and options), kept apart from
    redis-py's pool and handed out without its locks and bookkeeping: a stack of idle ones,
    whose pop and append are atomic, so each thread has one to itself while it waits. A forked
    process starts with none of its parent's."""

    def __init__(self, client: redis.Redis):
        self.pool = client.connection_pool
        self._idle: list = []
        self._pid = os.getpid()

    def evalsha(self, script: Script, keys, args):
        """One EVALSHA of `script`, its reply decoded as the client decodes."""
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self.pool.make_connection()
        try:
            _ready(conn)
            try:
                return self._call(conn, script.sha, keys, args)
            except redis.exceptions.NoScriptError:  # Redis lost its scripts (a restart)
                script.registered_client.script_load(script.script)
                return self._call(conn, script.sha, keys, args)
        finally:
            self._idle.append(conn)

    @staticmethod
    def _call(conn, sha: str, keys, args):
        packed = [hiredis.pack_command(("EVALSHA", sha, len(keys), *keys, *args))]

        def once():
            conn.send_packed_command(packed)
            return conn.read_response()

        # as redis-py runs a command: a lost connection is closed, then retried as the client's
        # retry says (a script whose answer was lost may so run twice: each is written for it)
        return conn.retry.call_with_retry(once, lambda _error: conn.disconnect())


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


class DirectScript:
    """A registered script called as `script(keys=…, args=…)`: straight onto the store's own
    connection (Direct), or, queued on a pipeline (`client=`), through redis-py's Script."""

    def __init__(self, script: Script, direct: Direct):
        self.script, self.direct = script, direct

    @property
    def sha(self) -> str:
        return self.script.sha

    def __call__(self, keys=(), args=(), client=None):
        if client is not None:
            return self.script(keys=keys, args=args, client=client)
        return self.direct.evalsha(self.script, keys, args)


class Scripts:
    """The scripts registered on one connection (EVALSHA after the first call), shared by the
    areas of one store."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self._registered: dict[str, Script | DirectScript] = {}
        plain = isinstance(connection, redis.Redis) and connection.connection is None
        self._direct = Direct(connection) if plain else None

    def __call__(self, name: str) -> Script | DirectScript:
        script = self._registered.get(name)
        if script is None:
            script = self.connection.register_script(source(name))
            if self._direct is not None:
                script = DirectScript(script, self._direct)
            self._registered[name] = script
        return script

    def load(self, names: tuple[str, ...]) -> None:
        """Load scripts into Redis's cache now, so that no request pays a NOSCRIPT retry."""
        for name in names:
            self.connection.script_load(source(name))
