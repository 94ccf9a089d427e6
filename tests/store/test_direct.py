"""The store's hot commands sent straight on connections of its own (bot/store/direct.py): one
EVALSHA per script call, a pipeline's replies as redis-py gives them, the reply each thread asked
for, and redis-py's guarantees kept (a Redis that lost its scripts, a lost connection, an error
reply in a pipeline, a forked process)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import pytest
import redis

from bot.store.direct import Direct, Pipe
from bot.store.scripts import DirectScript, Scripts
from tests.store.conftest import CLUSTER

pytestmark = pytest.mark.skipif(CLUSTER, reason="a cluster client keeps redis-py's path")

ECHO = "return {KEYS[1], ARGV[1]}"


def _until(done, seconds: float = 1.0) -> None:
    """Wait (briefly) for another thread to reach a state."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)


class Sends:
    """A client whose connections record what they send."""

    def __init__(self, url: str, protocol: int | None = None):
        self.sent: list[bytes] = []
        self.by: list = []  # the connection of each send
        outer = self
        base = redis.Redis.from_url(url).connection_pool.connection_class

        class Recording(base):
            def send_packed_command(self, command, check_health=True):
                outer.sent.append(b"".join(command) if isinstance(command, list) else command)
                outer.by.append(self)
                return super().send_packed_command(command, check_health)

        # None: redis-py's default, a RESP3 wire with RESP2-shaped replies (the store's client)
        wire = {} if protocol is None else {"protocol": protocol}
        self.client = redis.Redis.from_url(
            url, connection_class=Recording, decode_responses=True, **wire
        )


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
    # threads that called at once shared round trips, on one connection
    assert len(sends.sent) < 1600
    assert len(direct._idle) == 1


SLOW = """local t = redis.call('TIME')
local stop = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
repeat t = redis.call('TIME') until tonumber(t[1]) * 1000000 + tonumber(t[2]) >= stop
return 'slow'"""
FAIL = "return redis.error_reply('BROKEN ' .. ARGV[1])"


def _while_in_flight(direct: Direct, client, calls: dict) -> dict:
    """Run `calls` (name -> function) in threads of their own, each started while a slow script
    of another thread is in flight, and queued behind it before it returns; name -> outcome."""
    slow = client.register_script(SLOW)
    client.script_load(SLOW)
    out: dict = {}

    def call(name, fn):
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - the outcome under test
            out[name] = e

    first = threading.Thread(
        target=call, args=("slow", lambda: direct.evalsha(slow, [], [400_000]))
    )
    first.start()
    _until(lambda: direct._sending)
    others = [threading.Thread(target=call, args=kv) for kv in calls.items()]
    for t in others:
        t.start()
    _until(lambda: len(direct._waiting) == len(calls) or not first.is_alive())
    queued = len(direct._waiting)
    for t in [first, *others]:
        t.join()
    assert queued == len(calls), "the callers were not all queued while the first was in flight"
    return out


def test_callers_queued_behind_a_round_trip_share_the_next_one(sends):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    fail = sends.client.register_script(FAIL)
    for script in (echo, fail):
        script.registered_client.script_load(script.script)
    sends.client.set("str", "v")
    assert direct.evalsha(echo, ["k"], ["warm"]) == ["k", "warm"]  # the connection opened
    calls = {f"echo{n}": (lambda n=n: direct.evalsha(echo, [f"k{n}"], [f"v{n}"])) for n in range(3)}
    calls["broken"] = lambda: direct.evalsha(fail, [], ["here"])
    calls["pipe"] = lambda: Pipe(direct).hgetall("str").lrange("l", 0, -1).execute()
    sends.sent.clear()
    out = _while_in_flight(direct, sends.client, calls)
    assert out["slow"] == "slow"
    assert [out[f"echo{n}"] for n in range(3)] == [[f"k{n}", f"v{n}"] for n in range(3)]
    # an error reply is its caller's alone
    assert isinstance(out["broken"], redis.exceptions.ResponseError)
    assert "BROKEN here" in str(out["broken"])
    assert isinstance(out["pipe"], redis.exceptions.ResponseError)
    assert "WRONGTYPE" in str(out["pipe"])
    # two writes: the slow script's, then every queued caller's commands in one
    work = [x for x in sends.sent if b"EVALSHA" in x or b"HGETALL" in x]
    assert len(work) == 2
    assert work[1].count(b"EVALSHA") == 4 and b"HGETALL" in work[1]
    assert len(direct._idle) == 1
    assert direct.evalsha(echo, ["k"], ["after"]) == ["k", "after"]


def test_a_blocking_read_waits_on_a_connection_of_its_own(sends):
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    sends.client.xgroup_create("empty", "g", id="0", mkstream=True)
    got: list = []

    def read():
        got.append(Pipe(direct).xreadgroup("g", "c", {"empty": ">"}, 10, 1_500).execute())

    reader = threading.Thread(target=read)
    reader.start()
    _until(lambda: any(b"XREADGROUP" in s for s in sends.sent))
    started = time.monotonic()
    assert direct.evalsha(echo, ["k"], ["meanwhile"]) == ["k", "meanwhile"]
    assert time.monotonic() - started < 1.0  # not queued behind the read's 1.5 s
    assert reader.is_alive()
    reader.join()
    assert got == [[[]]] or got == [[None]]


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


def _fill(client) -> str:
    client.delete("h", "l", "s")
    client.hset("h", mapping={"a": "1", "b": "2"})
    client.rpush("l", "x", "y")
    ids = [client.xadd("s", {"msg": f"m{i}"}, id=f"1-{i + 1}") for i in range(3)]
    client.xgroup_create("s", "g", id="0")
    client.xreadgroup("g", "c", {"s": ">"}, 2)  # two pending under c
    client.xdel("s", ids[0])  # pending, deleted: read back with no fields
    return ids[1]


def _queue(pipe, sha: str, pending: str):
    pipe.hgetall("h").hgetall("nothing").hmget("h", ["a", "zz"]).lrange("l", 0, -1)
    pipe.evalsha(sha, 1, "k", "v")
    pipe.xreadgroup("g", "c", {"s": "0"}, 10)  # c's own, the deleted one included
    pipe.xreadgroup("g", "d", {"s": ">"}, 10, None)
    pipe.xreadgroup("g", "d", {"s": ">"}, 10, 1)  # nothing new: waits 1 ms
    pipe.xack("s", "g", pending).xdel("s", pending)


@pytest.mark.parametrize("protocol", [None, 2])
def test_a_pipe_replies_as_redis_pys_pipeline_in_one_send(redis_url, redis_client, protocol):
    s = Sends(redis_url, protocol)
    try:
        pending = _fill(s.client)
        sha = s.client.script_load(ECHO)
        theirs = s.client.pipeline(transaction=False)
        _queue(theirs, sha, pending)
        mine = Pipe(Direct(s.client))
        _queue(mine, sha, pending)
        assert len(mine) == 10
        expected = theirs.execute()
        assert _fill(s.client) == pending  # the same data again for the second
        s.sent.clear()
        got = mine.execute()
        work = [x for x in s.sent if b"HGETALL" in x or b"XDEL" in x]  # after the handshake
        assert len(work) == 1 and b"HGETALL" in work[0] and b"XDEL" in work[0]
        assert got == expected
        assert got[0] == {"a": "1", "b": "2"} and got[2] == ["1", None]
        assert got[5][0][1] == [("1-1", {}), ("1-2", {"msg": "m1"})]  # 1-1 was deleted
        assert got[6][0][1] == [("1-3", {"msg": "m2"})] and not got[7]
        assert Pipe(Direct(s.client)).execute() == []
    finally:
        s.client.close()


def test_an_error_reply_is_raised_after_every_reply_was_read(sends):
    direct = Direct(sends.client)
    sends.client.set("str", "v")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        Pipe(direct).hgetall("str").lrange("l", 0, -1).hgetall("str").execute()
    # the connection was read to the end: the next replies are the next commands'
    sends.client.hset("h2", "f", "1")
    assert Pipe(direct).hgetall("h2").execute() == [{"f": "1"}]
    assert len(direct._idle) == 1


class TimeUp(Exception):
    pass


@contextlib.contextmanager
def _time_up_in(seconds: float):
    """TimeUp raised in the main thread after `seconds`, as RQ raises a job's time limit."""

    def time_up(*_):
        raise TimeUp

    old = signal.signal(signal.SIGALRM, time_up)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_a_caller_interrupted_while_it_waits_leaves_the_others_going(sends):
    """A job's time limit (RQ raises it from SIGALRM in the main thread) may strike a caller
    queued behind another's round trip: it leaves the queue, and nobody waits for it."""
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    slow = sends.client.register_script(SLOW)
    sends.client.script_load(SLOW)
    assert direct.evalsha(echo, ["k"], ["warm"]) == ["k", "warm"]
    first = threading.Thread(target=lambda: direct.evalsha(slow, [], [600_000]))
    first.start()
    _until(lambda: direct._sending)

    with _time_up_in(0.2), pytest.raises(TimeUp):
        direct.evalsha(echo, ["k"], ["interrupted"])  # queued behind the slow one
    assert first.is_alive() and direct._waiting == []
    first.join()
    assert not direct._sending
    assert direct.evalsha(echo, ["k"], ["after"]) == ["k", "after"]


def test_when_no_connection_can_be_had_every_queued_caller_gets_the_error(sends):
    """A connection that cannot be made (Redis down, a Sentinel that names no master) fails
    the round trip's callers and those queued behind it; none is left waiting."""
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    entered = threading.Event()

    def refused():
        entered.set()
        time.sleep(0.3)  # the others queue meanwhile
        raise redis.exceptions.ConnectionError("refused")

    direct.pool = type("Refusing", (), {"make_connection": staticmethod(refused)})()
    out: dict = {}

    def call(n):
        try:
            out[n] = direct.evalsha(echo, ["k"], [str(n)])
        except redis.exceptions.ConnectionError as e:
            out[n] = e

    first = threading.Thread(target=call, args=(0,), daemon=True)  # a hang fails, not stalls
    first.start()
    assert entered.wait(5)
    others = [threading.Thread(target=call, args=(n,), daemon=True) for n in (1, 2, 3)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert not any(t.is_alive() for t in [first, *others]), "a caller was left waiting"
    assert sorted(out) == [0, 1, 2, 3]
    assert all(isinstance(v, redis.exceptions.ConnectionError) for v in out.values())
    assert not direct._sending and direct._waiting == []


def test_a_sender_interrupted_in_its_round_trip_fails_the_others_as_a_lost_connection(sends):
    """The thread sending a batch gets its own interruption; the callers whose commands rode in
    the same write get a lost connection (their commands may or may not have run), and the
    connection, its replies unread, is closed rather than lent again."""
    direct = Direct(sends.client)
    echo = sends.client.register_script(ECHO)
    slow = sends.client.register_script(SLOW)
    sends.client.script_load(SLOW)
    assert direct.evalsha(echo, ["k"], ["warm"]) == ["k", "warm"]
    first = threading.Thread(target=lambda: direct.evalsha(slow, [], [600_000]), daemon=True)
    first.start()
    _until(lambda: direct._sending)
    got: list = []

    def behind():
        time.sleep(0.15)  # queued after the main thread, so its commands ride in its write
        try:
            got.append(direct.evalsha(echo, ["k"], ["behind"]))
        except redis.exceptions.ConnectionError as e:
            got.append(e)

    other = threading.Thread(target=behind, daemon=True)
    other.start()

    # at 0.9 s the main thread is reading its batch
    with _time_up_in(0.9), pytest.raises(TimeUp):
        direct.evalsha(slow, [], [600_000])  # queued first: it sends the next batch
    other.join(5)
    first.join(5)
    assert len(got) == 1 and isinstance(got[0], redis.exceptions.ConnectionError)
    assert "interrupted" in str(got[0])
    assert not direct._sending and direct._waiting == []
    assert direct.evalsha(echo, ["k"], ["after"]) == ["k", "after"]
