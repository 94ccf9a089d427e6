"""Shared pieces of the intranet-mode tests (bot/stream/, tests/e2e/stream/): the settings of DingTalk Stream mode pointed at the
fake gateway and the stub platform server, a runtime built from settings put in the environment,
and a long-connection client running for real in a thread of its own (its own event loop, as in
`python -m bot.stream`), with short backoffs."""

from __future__ import annotations

import asyncio
import threading

import redis

from bot.runtime import build_runtime
from bot.stream.connection import Backoff, Client, run_client
from tests.e2e.background import use_env

DING_SECRET = "ding-stream-secret"


def dingtalk_stream_env(gateway, stub) -> dict[str, str]:
    """DingTalk in Stream mode: the gateway opens connections, sessionWebhooks are the stub's."""
    return {
        "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
        "DUBAN_DINGTALK_APP_SECRET": DING_SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
        "DUBAN_DINGTALK_API_BASE": stub.url,
        "DUBAN_DINGTALK_OAPI_BASE": stub.url,
        "DUBAN_DINGTALK_MODE": "stream",
        "DUBAN_DINGTALK_STREAM_URL": gateway.open_url,
    }


def feishu_ws_env(gateway, stub) -> dict[str, str]:
    """Feishu over the event WebSocket: the fake gateway hands out connections, the stub platform
    server the tenant token and the reply API."""
    from tests.http.callbacks import FEISHU_APP_ID, FEISHU_APP_SECRET

    return {
        "DUBAN_FEISHU_APP_ID": FEISHU_APP_ID,
        "DUBAN_FEISHU_APP_SECRET": FEISHU_APP_SECRET,
        "DUBAN_FEISHU_API_BASE": stub.url,
        "DUBAN_FEISHU_MODE": "ws",  # no verification token: the WebSocket does not use one
        "DUBAN_FEISHU_WS_URL": gateway.endpoint_url,
    }


def stream_runtime(monkeypatch, redis_url: str, clock, env: dict[str, str]):
    """A runtime on the test Redis with exactly these settings (also in the environment, where
    the jobs that `work()` runs read them)."""
    base = {"DUBAN_REDIS_URL": redis_url, "DUBAN_KEY_PREFIX": "stream"}
    settings = use_env(monkeypatch, base | env)
    client = redis.Redis.from_url(redis_url)
    yield build_runtime(settings, clock=clock, client=client)
    client.close()


class Running:
    """`with Running(client) as r:` runs run_client(client) until the block ends."""

    def __init__(self, client: Client, base: float = 0.05, auth_base: float = 0.2):
        self.client = client
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.backoff = Backoff(base=base, cap=0.5)
        self.auth_backoff = Backoff(base=auth_base, cap=10.0)
        self.result: bool | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.loop.run_until_complete(
                run_client(self.client, self.stop, self.backoff, self.auth_backoff, stable_s=5)
            )
        except BaseException as e:  # the test reports it
            self.error = e
        finally:
            self.loop.close()

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> bool | None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)
        assert not self.thread.is_alive(), "the client did not stop"
        assert self.error is None, self.error
        return self.result
