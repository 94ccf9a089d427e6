"""Connecting to this deployment's Redis: the process entry points (web, workers, scheduler,
stream gateways, backup) get their client here, so that nothing outside bot/store/ speaks Redis."""

from __future__ import annotations

import logging
import threading

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from bot.config import Settings
from bot.embedded import EmbeddedRedis

log = logging.getLogger(__name__)


def redis_url_for(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """The configured Redis, or the embedded one under data_dir (started here if not running)."""
    if settings.redis_url:
        return settings.redis_url, None
    server = EmbeddedRedis(settings.data_dir, unix=True)
    if server.is_running():
        return server.url, None
    server.start()
    return server.url, server


def fail_fast() -> dict:
    """Options of the web's and the jobs' Redis clients (build_runtime): a refused or lost
    connection fails within a fraction of a second, after one quick retry (for a connection
    Redis closed while idle), so a callback with Redis down is answered 503 at once and the
    platform delivers it again. redis-py's default backoff takes about 5 s to give up on a
    refused connection, longer than a platform waits for an answer (DingTalk 3 s, WeCom 5 s)."""
    return {
        "socket_connect_timeout": 0.5,
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.02), 1),
    }


def connect_redis(settings: Settings, **options) -> tuple[redis.Redis, EmbeddedRedis | None]:
    """This deployment's Redis client: the master that DUBAN_REDIS_SENTINELS point at (found
    again through them after a failover), the DUBAN_REDIS_URL, or the embedded server (started
    if it is not running, and returned so that the caller stops what it started)."""
    options.setdefault("health_check_interval", 30)
    if settings.redis_sentinels:
        from redis.connection import parse_url
        from redis.sentinel import Sentinel

        given = parse_url(settings.redis_url) if settings.redis_url else {}
        auth = {k: given[k] for k in ("username", "password", "db") if given.get(k) is not None}
        sentinels = [
            (h, int(p)) for h, _, p in (a.rpartition(":") for a in settings.redis_sentinels)
        ]
        sentinel = Sentinel(sentinels, sentinel_kwargs={"socket_timeout": 1.0})
        options.setdefault("socket_connect_timeout", 2.0)
        client = sentinel.master_for(settings.redis_sentinel_master, **auth, **options)
        return client, None
    if settings.redis_cluster:
        # one node's URL; the client asks it for the others and follows MOVED answers
        options.pop("health_check_interval", None)
        return redis.RedisCluster.from_url(settings.redis_url, **options), None
    url, embedded = redis_url_for(settings)
    return redis.Redis.from_url(url, **options), embedded


def rq_refusal(conn, what: str) -> str:
    """Why `what` (an RQ worker, say) cannot run on this connection, "" when it can: RQ's own
    transactions span its queue, registry and job keys, which a Redis Cluster puts in different
    slots, so RQ cannot run there."""
    if isinstance(conn, redis.RedisCluster):
        return (
            f"{what}不能在 Redis Cluster 上运行（RQ 的任务队列不支持集群）："
            "请为任务队列另配一个单机 Redis，或去掉 DUBAN_REDIS_CLUSTER。"
        )
    return ""


def wait_for_redis(conn: redis.Redis, stop: threading.Event, max_wait_s: float = 1.0) -> bool:
    """Until Redis answers (True) or a stop is asked for (False)."""
    delay = 0.1
    while not stop.is_set():
        try:
            conn.ping()
            return True
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as e:
            log.debug("Redis not available yet: %s", e)
        stop.wait(delay)
        delay = min(delay * 2, max_wait_s)
    return False
