"""Fixtures for the web tests: the real app on the session's Redis, a logged-in admin client."""

from __future__ import annotations

import re

import pytest
import redis

from app import create_app
from bot.config import Settings
from bot.runtime import build_runtime

ADMIN_PASSWORD = "pw"
API_TOKEN = "tok"


@pytest.fixture
def web_settings(redis_url):
    return Settings(
        redis_url=redis_url,
        key_prefix="web",
        demo=True,
        admin_password=ADMIN_PASSWORD,
        api_token=API_TOKEN,
        secret_key="test-secret-key",
    )


@pytest.fixture
def web_rt(web_settings, redis_client, clock):
    rt = build_runtime(
        web_settings, clock=clock, client=redis.Redis.from_url(web_settings.redis_url)
    )
    yield rt
    rt.redis.close()


@pytest.fixture
def web_app(web_rt):
    app = create_app(runtime=web_rt)
    app.config["TESTING"] = True
    return app


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
