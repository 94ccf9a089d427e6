"""Fixtures for store-layer tests: a runtime on the session's real Redis with a settable clock.

DUBAN_TEST_REDIS_CLUSTER=1 runs them on a Redis Cluster of three masters started here instead
(tests/cluster.py), each test in one of two campaigns that live on different masters."""

from __future__ import annotations

import itertools
import os
import zlib

import pytest
import redis

from bot.config import Settings
from bot.messages import Incoming
from bot.runtime import build_runtime
from tests.cluster import LocalCluster, campaigns_on_different_nodes

_ids = itertools.count(1)
CLUSTER = os.environ.get("DUBAN_TEST_REDIS_CLUSTER") == "1"


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory):
    """Three masters in cluster mode, started once per session when a test asks for them."""
    cluster = LocalCluster.started(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def cluster_campaigns(local_cluster) -> tuple[str, str]:
    client = local_cluster.client()
    try:
        return campaigns_on_different_nodes(client, "t")
    finally:
        client.close()


if CLUSTER:

    @pytest.fixture(scope="session")
    def redis_url(local_cluster):
        return local_cluster.url

    @pytest.fixture
    def redis_client(local_cluster):
        client = local_cluster.client()
        client.flushdb()
        yield client
        client.flushdb()
        client.close()

    @pytest.fixture
    def settings(redis_url, request, cluster_campaigns):
        # half of the tests in each campaign, so both masters serve the store layer
        campaign = cluster_campaigns[zlib.crc32(request.node.nodeid.encode()) % 2]
        return Settings(
            redis_url=redis_url, key_prefix="t", demo=True, redis_cluster=True, campaign=campaign
        )

    def new_client(settings):
        return redis.RedisCluster.from_url(settings.redis_url)

else:

    @pytest.fixture
    def settings(redis_url):
        return Settings(redis_url=redis_url, key_prefix="t", demo=True)

    def new_client(settings):
        """A connection of its own to the session's Redis (or cluster)."""
        return redis.Redis.from_url(settings.redis_url)


@pytest.fixture
def rt(settings, redis_client, clock):
    runtime = build_runtime(settings, clock=clock, client=new_client(settings))
    yield runtime
    runtime.redis.close()


class Chat:
    """Send a line as one user and get the reply text back."""

    def __init__(
        self, rt, user: str, name: str = "", admin: bool = False, platform: str = "console"
    ):
        self.rt, self.user, self.name, self.admin, self.platform = rt, user, name, admin, platform

    def __call__(self, text: str, mentioned: bool = True) -> str:
        msg = Incoming(
            platform=self.platform,
            user_id=self.user,
            text=text,
            mentioned=mentioned,
            message_id=f"m{next(_ids)}",
            user_name=self.name,
            is_admin=self.admin,
        )
        reply = self.rt.dispatcher.handle(msg)
        return "" if reply.silent else reply.text


@pytest.fixture
def chat(rt):
    def make(user: str, name: str = "", admin: bool = False) -> Chat:
        return Chat(rt, user, name, admin)

    return make


@pytest.fixture
def sfj(chat):
    """A 司法局 member, bound."""
    c = chat("u-sfj", "张三")
    assert "已绑定到**司法局**" in c("绑定 司法局")
    return c


@pytest.fixture
def admin(chat):
    """The office (an admin asserted by the channel)."""
    return chat("boss", "王主任", admin=True)
