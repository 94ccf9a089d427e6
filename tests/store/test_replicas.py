"""DUBAN_REDIS_MIN_REPLICAS: a callback is acknowledged only once a replica holds it (Redis WAIT
on the connection that wrote it); with the replica gone the write is refused as a connection
error (the platform sends it again), and with the setting off nothing waits."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from bot.config import ConfigError, Settings
from bot.embedded import find_redis_server, free_port
from bot.store import RedisStore, ReplicationError
from tests.e2e.runner import wait_until


def _server(tmp, name: str, port: int, *more: str) -> subprocess.Popen:
    d = tmp / name
    d.mkdir()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(d), "--save", ""]
    return subprocess.Popen([find_redis_server(), *args, *more], stdout=subprocess.DEVNULL)


@pytest.fixture
def pair(tmp_path):
    pm, pr = free_port(), free_port()
    master = _server(tmp_path, "m", pm)
    replica = _server(tmp_path, "r", pr, "--replicaof", "127.0.0.1", str(pm))
    client = redis.Redis(port=pm)

    def linked() -> bool:
        try:
            return client.info("replication")["connected_slaves"] == 1
        except redis.ConnectionError:
            return False

    wait_until(linked, 20, "the replica connected")
    yield client, replica
    client.close()
    for p in (master, replica):
        p.kill()
        p.wait(10)


def test_an_accepted_callback_is_on_the_replica_before_the_answer(pair):
    client, _ = pair
    store = RedisStore(client, "rep", replicas=1)
    assert store.inbox.accept("dingtalk", "m1", "{}") is True
    replica_port = int(client.info("replication")["slave0"]["port"])
    replica = redis.Redis(port=replica_port)
    # WAIT returned: the replica holds the claim and the queued callback now, not eventually
    assert replica.exists(store.keys.accepted("dingtalk", "m1")) == 1
    assert replica.xlen(store.keys.inbox) == 1
    replica.close()


def test_without_a_replica_the_write_is_refused_as_a_connection_error(pair):
    client, replica = pair
    replica.kill()
    replica.wait(10)
    wait_until(lambda: client.info("replication")["connected_slaves"] == 0, 20, "replica gone")
    store = RedisStore(client, "rep", replicas=1)
    start = time.monotonic()
    with pytest.raises(ReplicationError) as err:
        store.inbox.accept("dingtalk", "m2", "{}")
    assert isinstance(err.value, redis.ConnectionError)  # the hooks' "Redis is away" path
    assert time.monotonic() - start < 3
    # the setting off: nothing waits, the write is simply done
    assert RedisStore(client, "rep").inbox.accept("dingtalk", "m3", "{}") is True


def test_sentinel_settings_are_checked_and_leave_the_embedded_redis_off():
    s = Settings(redis_sentinels=("10.0.0.5:26379", "10.0.0.6:26379"))
    assert not s.embedded_redis and Settings().embedded_redis
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DUBAN_REDIS_SENTINELS": "10.0.0.5:26379,nohostport"})
    assert "DUBAN_REDIS_SENTINELS: not host:port: 'nohostport'" in str(err.value)
