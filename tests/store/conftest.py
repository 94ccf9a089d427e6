"""Fixtures for store-layer tests: a runtime on the session's real Redis with a settable clock."""

from __future__ import annotations

import itertools

import pytest
import redis

from bot.config import Settings
from bot.messages import Incoming
from bot.runtime import build_runtime

_ids = itertools.count(1)


@pytest.fixture
def settings(redis_url):
    return Settings(redis_url=redis_url, key_prefix="t", demo=True)


@pytest.fixture
def rt(settings, redis_client, clock):
    runtime = build_runtime(settings, clock=clock, client=redis.Redis.from_url(settings.redis_url))
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
    return chat("boss", "王主任", admin=True)
