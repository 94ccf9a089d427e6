"""What every area of the store shares: the connection, the keys and the clock it is built from,
its scripts, and the layouts of an audit entry and a notice as Python writes and reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import redis

from bot.messages import Notice
from bot.records import CLAIM_TTL_S, Finish, Finished
from bot.store.direct import Pipe
from bot.store.keys import Keys
from bot.store.scripts import Scripts

AUDIT_MAXLEN = 1000000  # entries the audit log keeps, about (the Lua helper `audit` says it too)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unavailable(e: BaseException) -> bool:
    """Redis was not reached (down, restarting, a timeout), or it refuses every write because
    it cannot persist them (MISCONF: a full disk under its AOF). Either way the call changed
    nothing (a script fails at its first write), and the work can be tried again later."""
    if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
        return True
    return isinstance(e, redis.ResponseError) and "MISCONF" in str(e)


class ReplicationError(redis.ConnectionError):
    """A write that did not reach DUBAN_REDIS_MIN_REPLICAS replicas in time."""


def _s(v: bytes | str | None) -> str:
    if v is None:
        return ""
    return v.decode() if isinstance(v, bytes) else v


def _field(fields: dict, name: str) -> str:
    """A stream entry's field, whether the client decodes responses or not."""
    return _s(fields.get(name.encode(), fields.get(name)))


def audit_fields(
    at: str,
    actor: str,
    action: str,
    department: str = "",
    indicator: str = "",
    before: str = "",
    after: str = "",
    note: str = "",
) -> dict[str, str]:
    """An audit entry as Python writes it (XADD ... MAXLEN ~ AUDIT_MAXLEN), in the field order
    of the Lua helper `audit` (lua/shared.lua)."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "department": department,
        "indicator": indicator,
        "before": before,
        "after": after,
        "note": note,
    }


def begun_args(r: Any, fin: Finish | None, keys: list) -> tuple[list, list]:
    """`keys` with those of a Finish's first-part claim after them, and that claim's args
    (then_begin, shared.lua); none without one, or on a cluster, where a script may not touch
    keys in other slots (the part is then claimed by push_begin, as any)."""
    b = fin.begin if fin is not None else None
    if b is None or isinstance(r, redis.RedisCluster):
        return keys, []
    return [*keys, *b.keys], b.args()


def finished(res: Any, drain: Callable[[Any], bool] = bool) -> Finished:
    """A finishing script's result, {result, state, wait ms} with a first-part claim."""
    if isinstance(res, list):
        return Finished(drain(res[0]), (_s(res[1]), int(res[2])))
    return Finished(drain(res))


def _notice_args(notices: Iterable[Notice], at: str) -> list[str]:
    """Notices as the Lua helper `add_notices` takes them: 5 arguments each."""
    out: list[str] = []
    for n in notices:
        out += [n.text, n.department, ",".join(n.mentions), n.kind, at]
    return out


def notice_of(fields: dict) -> tuple[Notice, str]:
    """An outbox entry's (notice, created at)."""
    f = {_s(a): _s(b) for a, b in fields.items()}
    mentions = tuple(m for m in f.get("mentions", "").split(",") if m)
    notice = Notice(f.get("text", ""), f.get("department", ""), mentions, f.get("kind", ""))
    return notice, f.get("at", "")


class Area:
    """One area of state: built, like RQ's Queue and registries, from a connection, the keys
    and a clock ('now' for the tests and jobs that control it). Areas of one store share their
    registered scripts (`scripts`); `replicas` (DUBAN_REDIS_MIN_REPLICAS) makes the writes a
    platform is told about wait for replicas (_durable); `claim_ttl_s` is how long a callback's
    message id is claimed before its command commits (bot.records.CLAIM_TTL_S)."""

    def __init__(
        self,
        connection: redis.Redis,
        keys: Keys,
        clock: Callable[[], datetime] = utc_now,
        *,
        scripts: Scripts | None = None,
        replicas: int = 0,
        claim_ttl_s: int = CLAIM_TTL_S,
    ):
        self.r = connection
        self.keys = keys
        self.clock = clock
        self.scripts = scripts or Scripts(connection)
        self.replicas = replicas
        self.claim_ttl_s = claim_ttl_s

    def now_iso(self) -> str:
        return iso(self.clock())

    def _script(self, name: str):
        return self.scripts(name)

    def _pipe(self):
        """A pipeline for the hot reads (bot/store/direct.Pipe's few commands): on the store's
        own connections where it has them, else redis-py's."""
        if self.scripts.direct is not None:
            return Pipe(self.scripts.direct)
        return self.r.pipeline(transaction=False)

    def _seen_of(self, claim: tuple[str, str] | None) -> str:
        """The seen key of a callback's (platform, message id), Keys.none for none."""
        return self.keys.seen(*claim) if claim else self.keys.none

    def _add_audit(self, client, **fields: str) -> None:
        """Append one audit entry (on `client`: the connection or a pipeline)."""
        client.xadd(self.keys.audit, audit_fields(**fields), maxlen=AUDIT_MAXLEN, approximate=True)

    def _ensure_group(self, stream: str, group: str) -> None:
        try:
            self.r.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _durable(self, script, keys: list, args: list, timeout_ms: int = 1000):
        """Run a script whose result a platform is told about. With `replicas` set, the script
        and a WAIT go in one pipeline, on one connection (WAIT counts the writes of its own
        connection), and fewer replicas than asked raise ReplicationError, a ConnectionError:
        the platform gets a 5xx and sends the callback again, and the claim keeps it from
        running twice. Without it, a failover right after an acknowledgement could lose what
        the platform was told had arrived (replication is asynchronous)."""
        if not self.replicas:
            return script(keys=keys, args=args)
        pipe = self.r.pipeline(transaction=False)
        script(keys=keys, args=args, client=pipe)
        pipe.wait(self.replicas, timeout_ms)
        result, acked = pipe.execute()
        if acked < self.replicas:
            raise ReplicationError(f"fewer than {self.replicas} replicas acknowledged a write")
        return result
