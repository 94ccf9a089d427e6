"""The store's scripts called straight on connections of its own (bot/store/scripts.Direct): one
EVALSHA per call, the reply each thread asked for, and redis-py's guarantees kept (a Redis that
lost its scripts, a lost connection, a forked process)."""

from __future__ import annotations

import os
import threading

import pytest
import redis

from bot.store.scripts import Direct, DirectScript, Scripts
from tests.store.conftest import CLUSTER

pytestmark = pytest.mark.skipif(CLUSTER, reason="a cluster client keeps redis-py's path")

ECHO = "return {KEYS[1], ARGV[1]}"


class Sends:
    """A client whose connections record what they send."""

    def __init__(self, url: str):
        self.sent: list[bytes] = []
        self.by: list = []  # the connection of each send
        outer = self
        base = redis.Redis.from_url(url).connection_pool.connection_class

        class Recording(base):
            def send_packed_command(self, command, check_health=True):
                outer.sent.append(b"".join(command) if isinstance(command, list) else command)
                outer.by.append(self)
                return super().send_packed_command(command, check_health)

        self.client = redis.Redis.from_url(url, connection_class=Recording, decode_responses=True)


@pytest.fixture
def sends(redis_url, redis_client):
    s = Sends(redis_url)
    yield s
    s.client.close()


def test_a_script_call_is_one_evalsha_outside_the_pool(sends):
    scripts = Scripts(sends.client)
    hold = scripts("hold_lock")
    assert isinstance(hold, DirectScript)
    scripts.load(("hold_lock",))
    assert hold(keys=["t:{_}:lock:z"], args=["tok", 5000]) == 1  # the connection opens
    sends.sent.clear()
    sends.by.clear()
    assert hold(keys=["t:{_}:lock:a"], args=["tok", 5000]) == 1
    assert hold(keys=["t:{_}:lock:a"], args=["other", 5000]) == 0
    assert len(sends.sent) == 2
    assert all(s.startswith(b"*6\r\n$7\r\nEVALSHA\r\n") for s in sends.sent)
    # one connection made both calls, the store's own: not one redis-py's pool lends
    pool = sends.client.connection_pool
    assert sends.by[0] is sends.by[1]
    assert sends.by[0] not in [*pool._in_use_connections, *pool._available_connections]


def test_replies_never_cross_between_threads(sends):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    errors: list[str] = []

    def run(n: int) -> None:
        for k in range(200):
            got = direct.evalsha(echo, [f"k{n}"], [f"{n}-{k}"])
            if got != [f"k{n}", f"{n}-{k}"]:
                errors.append(f"{n}-{k}: {got}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 < len(direct._idle) <= 8  # threads waiting at once had connections of their own


def test_a_redis_that_lost_its_scripts_loads_and_runs_it(sends):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    assert direct.evalsha(echo, ["k"], ["one"]) == ["k", "one"]
    sends.client.script_flush()
    sends.sent.clear()
    assert direct.evalsha(echo, ["k"], ["two"]) == ["k", "two"]
    assert [s.split(b"\r\n")[2] for s in sends.sent] == [b"EVALSHA", b"SCRIPT", b"EVALSHA"]


def test_a_connection_redis_closed_is_opened_again(sends, redis_client):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    assert direct.evalsha(echo, ["k"], ["one"]) == ["k", "one"]
    mine = [c for c in redis_client.client_list() if "EVALSHA" in c.get("cmd", "").upper()]
    assert mine
    for c in mine:
        redis_client.client_kill_filter(_id=c["id"])
    assert direct.evalsha(echo, ["k"], ["two"]) == ["k", "two"]  # opened again before use


def test_a_forked_process_uses_connections_of_its_own(sends):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    assert direct.evalsha(echo, ["k"], ["parent"]) == ["k", "parent"]
    parent_conn = direct._idle[-1]
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own, the parent's left alone
        ok = direct.evalsha(echo, ["k"], ["child"]) == ["k", "child"]
        ok = ok and parent_conn not in direct._idle
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for k in range(20):
        assert direct.evalsha(echo, ["k"], [f"p{k}"]) == ["k", f"p{k}"]
    assert direct._idle == [parent_conn]


def test_a_pipeline_or_a_cluster_keeps_redis_pys_path(sends):
    hold = Scripts(sends.client)("hold_lock")
    pipe = sends.client.pipeline(transaction=False)
    hold(keys=["t:{_}:lock:b"], args=["tok", 5000], client=pipe)
    assert pipe.execute() == [1]
    single = redis.Redis(
        connection_pool=sends.client.connection_pool, single_connection_client=True
    )
    try:
        assert not isinstance(Scripts(single)("hold_lock"), DirectScript)
    finally:
        single.close()
