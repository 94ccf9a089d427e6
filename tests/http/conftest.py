"""Fixtures for the web tests: the real app on the session's Redis, a logged-in admin client."""

from __future__ import annotations

import re

import pytest
import redis

from app import create_app
from bot.config import Settings
from bot.runtime import build_runtime
from tests.e2e.background import use_env, work  # noqa: F401  (work: the burst worker, shared)

ADMIN_PASSWORD = "pw"
API_TOKEN = "tok"


@pytest.fixture
def web_settings(redis_url, monkeypatch):
    """Demo settings, also put in the environment so jobs run by `work()` read the same ones."""
    return use_env(monkeypatch, demo_env(redis_url))


def demo_env(redis_url: str, **more: str) -> dict[str, str]:
    """The web tests' demo deployment on the session's Redis, with `more` settings added."""
    return {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "web",
        "DUBAN_DEMO": "1",
        "DUBAN_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DUBAN_API_TOKEN": API_TOKEN,
        "DUBAN_SECRET_KEY": "test-secret-key",
        "DUBAN_PUBLIC_URL": "http://duban.test",
        **more,
    }


def runtime_for(settings: Settings, clock):
    rt = build_runtime(settings, clock=clock, client=redis.Redis.from_url(settings.redis_url))
    yield rt
    rt.redis.close()


def testing_app(rt):
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def web_rt(web_settings, redis_client, clock):
    yield from runtime_for(web_settings, clock)


@pytest.fixture
def web_app(web_rt):
    return testing_app(web_rt)


@pytest.fixture
def web_client(web_app):
    return web_app.test_client()


def csrf_of(client, path: str = "/admin/login") -> str:
    """The CSRF token this client's session carries, read from a page's form."""
    html = client.get(path).get_data(as_text=True)
    m = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r'data-csrf="([^"]+)"', html)
    assert m, f"no CSRF token on {path}"
    return m.group(1)


def login(client, password: str = ADMIN_PASSWORD):
    token = csrf_of(client)
    return client.post("/admin/login", data={"password": password, "csrf": token})


@pytest.fixture
def admin_client(web_client):
    resp = login(web_client)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return web_client


# --- platform callbacks (issue 3): real credentials, a stub platform, the app on them ----------


@pytest.fixture
def stub():
    """The stub WeCom/DingTalk/Feishu send endpoints on 127.0.0.1."""
    from tests.stubs.platform_server import PlatformStub

    with PlatformStub() as server:
        yield server


@pytest.fixture
def dingtalk_reply():
    """DingTalk replies in the response body here; test_hooks_dingtalk_queue.py overrides this."""
    return "inline"


@pytest.fixture
def hook_settings(redis_url, stub, monkeypatch, dingtalk_reply):
    """Production-mode settings with every platform enabled, pointed at the stub; also put in
    the environment so jobs run by `work()` read the same ones."""
    from tests.http import callbacks as cb

    env = {
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_KEY_PREFIX": "hooks",
        "DUBAN_DINGTALK_APP_KEY": "ding-app-key",
        "DUBAN_DINGTALK_APP_SECRET": cb.DING_SECRET,
        "DUBAN_DINGTALK_ROBOT_CODE": "ding-robot",
        "DUBAN_DINGTALK_API_BASE": stub.url,
        "DUBAN_DINGTALK_OAPI_BASE": stub.url,
        "DUBAN_DINGTALK_REPLY": dingtalk_reply,
        "DUBAN_WECOM_TOKEN": cb.WECOM_TOKEN,
        "DUBAN_WECOM_AES_KEY": cb.WECOM_AES_KEY,
        "DUBAN_WECOM_APP_TOKEN": cb.APP_TOKEN,
        "DUBAN_WECOM_APP_AES_KEY": cb.APP_AES_KEY,
        "DUBAN_WECOM_CORP_ID": cb.CORP_ID,
        "DUBAN_WECOM_API_BASE": stub.url,
        "DUBAN_FEISHU_APP_ID": cb.FEISHU_APP_ID,
        "DUBAN_FEISHU_APP_SECRET": cb.FEISHU_APP_SECRET,
        "DUBAN_FEISHU_VERIFICATION_TOKEN": cb.FEISHU_TOKEN,
        "DUBAN_FEISHU_ENCRYPT_KEY": cb.FEISHU_ENCRYPT_KEY,
        "DUBAN_FEISHU_API_BASE": stub.url,
    }
    return use_env(monkeypatch, env)


@pytest.fixture
def hook_rt(hook_settings, redis_client, clock):
    yield from runtime_for(hook_settings, clock)


@pytest.fixture
def hook_app(hook_rt):
    return testing_app(hook_rt)


@pytest.fixture
def hook_client(hook_app):
    return hook_app.test_client()
